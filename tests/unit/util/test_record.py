"""@record: frozen value semantics without dataclasses' start-up cost."""

from __future__ import annotations

import pytest

from pinnace._util.record import fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


def test_construction_defaults_and_equality() -> None:
    assert Point(1) == Point(x=1, y=0, tags=())
    assert Point(1, 2) != Point(1, 3)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=())"
    assert fields(Point(1)) == ("x", "y", "tags")
    assert Point(1) != (1, 0, ())


def test_frozen_and_replace() -> None:
    p = Point(1)
    with pytest.raises(AttributeError, match="frozen"):
        p.x = 2  # type: ignore[misc]
    q = replace(p, y=5)
    assert (p.y, q.y, q.x) == (0, 5, 1)
    with pytest.raises(TypeError):
        replace(p, z=1)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="missing argument 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, (), 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, x=2)  # type: ignore[misc]
