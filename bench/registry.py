"""One registry class for every kind of plugin (codecs, metrics, datasets, task networks).

Entries are lazy ``"module:attr"`` strings so that listing names (``bench ls``, ``--help``) imports nothing heavy;
the object is imported on first :meth:`Registry.get`, and checked then: it must be of the registry's base class and
carry the name it is registered under (a codec's ``name``, a metric's ``spec.key``), so a name is written once in
the table and once on the class, and the two cannot drift apart.

Plugins from other packages register through entry points: a distribution that declares

.. code-block:: toml

    [project.entry-points."mpa_bench.codecs"]
    my-codec = "my_package.codec:MyCodec"

adds ``my-codec`` to :data:`bench.codecs.codecs` without touching this repository (groups ``mpa_bench.codecs``,
``mpa_bench.metrics``, ``mpa_bench.datasets``). Entry points are read when a name is first looked up; one that
reuses a built-in name is ignored with a warning (the built-in wins).
"""

from __future__ import annotations

import difflib
import importlib
import logging
from importlib.metadata import entry_points
from typing import Any, Generic, Iterator, TypeVar

from bench.errors import BenchError

T = TypeVar("T")

log = logging.getLogger(__name__)


class UnknownName(BenchError):
    """A name that is not registered; the message suggests close matches."""


class PluginError(BenchError):
    """A registered object that is not what its registry holds (wrong base class or name), or fails to import."""


def import_target(target: str) -> Any:
    """Imports ``"package.module:attr"`` (``attr`` may be dotted)."""
    module_name, attr = target.split(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Maps names to lazily imported objects.

    Args:
        kind: what the registry holds ("codec", "metric", ...), used in messages.
        base: ``"module:attr"`` of the base class every entry must derive from (classes) or be an instance of
            (other objects); imported on first :meth:`get` only.
        name_attribute: dotted attribute of an entry that must equal its registered name (``name``, ``spec.key``).
        entry_point_group: the entry-point group other packages register plugins under.
    """

    def __init__(self, kind: str, base: str | None = None, name_attribute: str | None = None,
                 entry_point_group: str | None = None):
        self.kind = kind
        self.base = base
        self.name_attribute = name_attribute
        self.entry_point_group = entry_point_group
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._plugins_read = entry_point_group is None

    def add(self, name: str, target: str) -> None:
        """Registers ``name`` for the object at ``"package.module:attr"``."""
        if name in self._targets:
            raise ValueError(f"{self.kind} {name!r} is already registered (as {self._targets[name]})")
        if ":" not in target:
            raise ValueError(f"{self.kind} target {target!r} must look like 'package.module:attr'")
        self._targets[name] = target

    def get(self, name: str) -> T:
        """Returns the object registered as ``name``, importing and checking it on first use.

        Raises:
            UnknownName: ``name`` is not registered (with close matches).
            PluginError: the entry does not import, is not of the base class, or carries another name.
        """
        targets = self._all_targets()
        if name not in targets:
            close = difflib.get_close_matches(name, targets, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(self.names())}"
            raise UnknownName(f"unknown {self.kind} {name!r}{hint}")
        if name not in self._loaded:
            try:
                obj = import_target(targets[name])
            except (ImportError, AttributeError) as error:
                raise PluginError(f"{self.kind} {name!r} ({targets[name]}) cannot be imported: {error}") from error
            self._check(name, obj)
            self._loaded[name] = obj
        return self._loaded[name]

    def target(self, name: str) -> str:
        """Returns the ``"module:attr"`` string of ``name`` without importing it."""
        targets = self._all_targets()
        if name not in targets:
            self.get(name)  # raises UnknownName with suggestions
        return targets[name]

    def names(self) -> list[str]:
        return sorted(self._all_targets())

    def __contains__(self, name: object) -> bool:
        return name in self._all_targets()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _check(self, name: str, obj: Any) -> None:
        where = f"{self.kind} {name!r} ({self._all_targets()[name]})"
        if self.base is not None:
            base = import_target(self.base)
            ok = issubclass(obj, base) if isinstance(obj, type) else isinstance(obj, base)
            if not ok:
                raise PluginError(f"{where} is not a {base.__module__}.{base.__qualname__}")
        if self.name_attribute is not None:
            declared: Any = obj
            for part in self.name_attribute.split("."):
                declared = getattr(declared, part, None)
            if declared != name:
                raise PluginError(f"{where} declares {self.name_attribute} = {declared!r}, not {name!r}")

    def _all_targets(self) -> dict[str, str]:
        if not self._plugins_read:
            self._plugins_read = True
            for entry in entry_points(group=self.entry_point_group):
                if entry.name in self._targets:
                    log.warning("ignoring %s plugin %r (%s): the name is already registered", self.kind, entry.name,
                                entry.value)
                elif ":" not in entry.value:
                    log.warning("ignoring %s plugin %r: entry point %r does not name 'module:attr'", self.kind,
                                entry.name, entry.value)
                else:
                    self._targets[entry.name] = entry.value
        return self._targets
