"""``@record``: frozen, typed records that cost nothing to define.

Why not dataclasses: ``@dataclass`` generates its methods with ``exec`` (about
1 ms per class on the machines we measure on), and ``import dataclasses`` or
``typing.NamedTuple`` pull in ``inspect``/``typing``/``re`` (~7 ms).  Every
pinnace command pays its imports at start-up, and ``pinnace images`` is
benchmarked against podman's Go binary.  ``@record`` builds the same frozen
value semantics (keyword or positional construction, defaults, ``==``,
``hash``, ``repr``, :func:`replace`) from plain closures, and type checkers see
it as a dataclass through PEP 681's ``dataclass_transform``.

Defaults must be immutable (use ``()`` or a MappingProxyType, never ``[]``/``{}``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")
else:

    def dataclass_transform(**_: object) -> object:
        return lambda f: f


@dataclass_transform(frozen_default=True)
def record(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a frozen record of the fields it annotates, in order."""
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
    for n in defaults:
        delattr(cls, n)  # instances carry every field; no class attribute may shadow one
    qualname = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{qualname}() takes {len(names)} arguments, {len(args)} given")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{qualname}() got an unexpected or repeated argument {key!r}")
            values[key] = value
        for n in names:
            if n not in values:
                if n not in defaults:
                    raise TypeError(f"{qualname}() missing argument {n!r}")
                values[n] = defaults[n]
        self.__dict__.update(values)

    def __setattr__(self: Any, key: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {key!r} of a frozen {qualname}")

    def __delattr__(self: Any, key: str) -> None:
        raise AttributeError(f"cannot delete field {key!r} of a frozen {qualname}")

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(self.__dict__ == other.__dict__)

    def __hash__(self: Any) -> int:
        return hash(tuple(self.__dict__[n] for n in names))

    def __repr__(self: Any) -> str:
        return f"{qualname}(" + ", ".join(f"{n}={self.__dict__[n]!r}" for n in names) + ")"

    for name, method in (
        ("__init__", __init__),
        ("__setattr__", __setattr__),
        ("__delattr__", __delattr__),
        ("__eq__", __eq__),
        ("__hash__", __hash__),
        ("__repr__", __repr__),
    ):
        method.__qualname__ = f"{qualname}.{name}"
        setattr(cls, name, method)
    cls.__record_fields__ = names  # type: ignore[attr-defined]
    return cls


def replace(obj: _T, **changes: Any) -> _T:
    """A copy of the record ``obj`` with some fields changed (dataclasses.replace)."""
    values = dict(obj.__dict__)
    for key in changes:
        if key not in values:
            raise TypeError(f"{type(obj).__qualname__} has no field {key!r}")
    values.update(changes)
    return type(obj)(**values)


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a record, in order."""
    names: tuple[str, ...] = type(obj).__record_fields__  # type: ignore[attr-defined]
    return names
