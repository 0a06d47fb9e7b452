"""One registry class for every kind of plugin (codecs, metrics, datasets, tasks).

Entries are lazy ``"module:attr"`` strings so that listing names (``bench ls``, ``--help``) imports nothing
heavy; the object is imported on first :meth:`Registry.get`.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Generic, Iterator, TypeVar

from bench.errors import BenchError

T = TypeVar("T")


class UnknownName(BenchError):
    """A name that is not registered; the message suggests close matches."""


class Registry(Generic[T]):
    """Maps names to lazily imported objects.

    Args:
        kind: what the registry holds ("codec", "metric", ...), used in messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, T] = {}

    def add(self, name: str, target: str) -> None:
        """Registers ``name`` for the object at ``"package.module:attr"``."""
        if name in self._targets:
            raise ValueError(f"{self.kind} {name!r} is already registered (as {self._targets[name]})")
        if ":" not in target:
            raise ValueError(f"{self.kind} target {target!r} must look like 'package.module:attr'")
        self._targets[name] = target

    def get(self, name: str) -> T:
        """Returns the object registered as ``name``, importing it on first use."""
        if name not in self._targets:
            close = difflib.get_close_matches(name, self._targets, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(self.names())}"
            raise UnknownName(f"unknown {self.kind} {name!r}{hint}")
        if name not in self._loaded:
            module_name, attr = self._targets[name].split(":")
            self._loaded[name] = getattr(importlib.import_module(module_name), attr)
        return self._loaded[name]

    def target(self, name: str) -> str:
        """Returns the ``"module:attr"`` string of ``name`` without importing it."""
        if name not in self._targets:
            self.get(name)  # raises UnknownName with suggestions
        return self._targets[name]

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
