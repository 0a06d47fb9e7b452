"""Options and rate points -> checked values: the one place where they are checked against what a codec, dataset
or metric class declares, both when a suite is read and when a codec is built.

Option names and types come from the class's constructor signature (its annotations: ``int``, ``float``, ``str``,
``bool``, ``Path``, ``Sequence[...]``, ``X | None``, ``Literal[...]``); allowed values from the class attribute
``option_choices`` ({name: a tuple of values, or a ``range`` of integers}); rate points from ``point_range``
((low, high), inclusive, or ``None`` when any finite point goes), ``point_unit`` (what they are, for messages) and
``integer_points``. A value that does not fit raises :class:`OptionError` naming where it came from, the value and
what is allowed.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, Union

from bench.errors import BenchError

# Constructor parameters the engine passes itself; a suite does not set them.
ENGINE_PARAMETERS = ("self", "device", "root", "limit")


class OptionError(BenchError):
    """An option or rate point of a suite that does not fit what its class declares."""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin in (list, tuple, Sequence, typing.get_origin(Sequence[int])):
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        return f"a list of {_type_name(args[0]) if args else 'values'}"
    if annotation is type(None):
        return "none"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
            Path: "a path"}.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _fits(value: Any, annotation: Any) -> bool:
    """Whether a TOML/CLI value fits an annotation (ints count as floats; bools are never numbers)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(annotation))
    if origin is Literal:
        return value in typing.get_args(annotation)
    if origin in (list, tuple, Sequence, typing.get_origin(Sequence[int])):
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(_fits(item, args[0]) for item in value) if args else \
            isinstance(value, (list, tuple))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if annotation in (str, Path):
        return isinstance(value, str)
    return isinstance(value, annotation) if isinstance(annotation, type) else True


def _hints(factory: Callable) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except (NameError, TypeError):  # annotations that cannot be resolved are not checked
        return {}


def parameters(factory: Callable) -> dict[str, inspect.Parameter]:
    """The options a suite may set: constructor parameters except those the engine passes."""
    found = inspect.signature(factory).parameters
    return {name: p for name, p in found.items()
            if name not in ENGINE_PARAMETERS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def check_options(factory: Callable, options: Mapping[str, Any], where: str, require: bool = False) -> None:
    """Checks option names, types, ranges and choices against ``factory`` (see the module docstring).

    Args:
        require: also fail when an option without a default is missing (a suite may leave a checkpoint to
            ``--checkpoint``; the plan requires it).

    Raises:
        OptionError: an unknown option, a value of the wrong type, out of range, or not among the choices, or a
            required option that is missing.
    """
    known = parameters(factory)
    hints = _hints(factory)
    unknown = sorted(set(options) - set(known) - set(ENGINE_PARAMETERS))
    if unknown:
        raise OptionError(f"{where}: unknown option {', '.join(unknown)} (options: {', '.join(known) or 'none'})")
    missing = [name for name, p in known.items() if p.default is p.empty and name not in options]
    if require and missing:
        raise OptionError(f"{where}: option {', '.join(missing)} is required (e.g. options = {{ {missing[0]} = ... }})")
    choices = getattr(factory, "option_choices", {})
    for name, value in options.items():
        if name not in known:
            continue
        annotation = hints.get(name, known[name].annotation)
        if not _fits(value, annotation):
            raise OptionError(f"{where}: option {name} = {value!r} must be {_type_name(annotation)}")
        if name in choices and value is not None:
            check_choice(where, name, value, choices[name])


def check_choice(where: str, name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """Returns ``value`` if it is one of ``allowed`` (a tuple, or a range of integers), else raises one clear line."""
    integers = isinstance(allowed, range)
    if isinstance(value, bool) or (integers and not isinstance(value, int)) or value not in allowed:
        shown = (f"a whole number {allowed[0]}..{allowed[-1]}" if integers
                 else "one of " + ", ".join(repr(choice) for choice in allowed))
        raise OptionError(f"{where}: option {name} = {value!r} must be {shown}")
    return value


def check_points(factory: Any, points: Sequence[Any], where: str) -> tuple[float, ...]:
    """Checks a suite's rate points: a non-empty list of distinct finite numbers in the codec's declared range.

    Raises:
        OptionError: an empty list, a non-number, NaN/inf, a duplicate, or a point outside the codec's range.
    """
    if not isinstance(points, (list, tuple)) or not points:
        raise OptionError(f"{where}: points must be a non-empty list of numbers, got {points!r}")
    checked = []
    for point in points:
        if isinstance(point, bool) or not isinstance(point, (int, float)) or not math.isfinite(point):
            raise OptionError(f"{where}: rate point {point!r} is not a finite number")
        checked.append(float(point))
    repeated = sorted({p for p in checked if checked.count(p) > 1})
    if repeated:
        raise OptionError(f"{where}: rate point {', '.join(f'{p:g}' for p in repeated)} is listed twice")
    if getattr(factory, "integer_points", False):
        fractional = [p for p in checked if p != int(p)]
        if fractional:
            raise OptionError(f"{where}: rate points of {factory.name} are whole numbers, got {fractional[0]:g}")
    point_range = getattr(factory, "point_range", None)
    if point_range is not None:
        low, high = point_range
        outside = [p for p in checked if not low <= p <= high]
        if outside:
            unit = getattr(factory, "point_unit", "")
            raise OptionError(f"{where}: rate point {outside[0]:g} is outside {factory.name}'s range {low:g}..{high:g}"
                              + (f" ({unit})" if unit else ""))
    return tuple(checked)
