"""What a benchmark case is, and the registry the case modules fill.

A case names the tools it compares (pinnace first) and sets each tool up,
untimed, returning a Step: the argv to time plus optional untimed work before
and after every timed run. Case modules (bench/images.py, ...) register with
the @case decorator; the runner imports every module of the bench package to
find them. This lives apart from the runner because `python -m bench.runner`
runs the runner as __main__, a second copy that a registry must not live in.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

from bench.tools import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One tool's part in a case: the timed command and its untimed neighbours."""

    argv: Sequence[str]
    # Run before / after every timed run (warm-up included), never timed.
    prepare: Callable[[], object] | None = None
    cleanup: Callable[[], object] | None = None
    # Takes the sample itself, in the case's unit (e.g. memory), instead of timing argv.
    measure: Callable[[], float] | None = None


@dataclass(frozen=True)
class Target:
    """The figure pinnace should reach: median(pinnace) <= max_ratio * fastest peer's median."""

    text: str
    max_ratio: float
    peers: tuple[str, ...]
    # Medians measured on another machine, standing in for peers that cannot run here.
    reference: Mapping[str, float] = field(default_factory=dict)

    def medians_to_beat(
        self, measured: Mapping[str, float], ran: Collection[str], quick: bool
    ) -> dict[str, tuple[float, bool]]:
        """Each target peer's median pinnace is held against, and whether it was measured here.

        measured: this run's medians; ran: the tools that ran here (ok or failed).
        A peer measured here counts with its own median, never its reference. The
        reference stands in only for a peer that could not run here at all; not for
        one that ran and failed (that failure is this run's result, to be looked
        at), and not in a --quick run (references are for full-size data).
        """
        against = {p: (measured[p], True) for p in self.peers if p in measured}
        if not quick:
            for peer, ref in self.reference.items():
                if peer in self.peers and peer not in ran:
                    against[peer] = (ref, False)
        return against


@dataclass
class Context:
    """What a case's setup gets: scratch space, the data cache, shared fixtures."""

    workdir: Path
    cache: Path
    quick: bool
    sessions: Mapping[str, Session]
    notes: list[str] = field(default_factory=list)
    _fixtures: dict[str, object] = field(default_factory=dict)

    def once(self, key: str, make: Callable[[], T]) -> T:
        """make(), run once per case however many tools ask for key (e.g. a shared archive)."""
        if key not in self._fixtures:
            self._fixtures[key] = make()
        return cast(T, self._fixtures[key])


@dataclass(frozen=True)
class Case:
    name: str
    summary: str
    tools: tuple[str, ...]
    setup: Callable[[Context, Session], Step]
    target: Target | None = None
    # What a sample is in: "s" (wall time) unless the case's steps measure something else.
    unit: str = "s"


CASES: dict[str, Case] = {}


def case(
    name: str, summary: str, tools: tuple[str, ...], target: Target | None = None, unit: str = "s"
) -> Callable[[Callable[[Context, Session], Step]], Callable[[Context, Session], Step]]:
    """Register the decorated setup function as the benchmark case `name`."""

    def register(setup: Callable[[Context, Session], Step]) -> Callable[[Context, Session], Step]:
        if name in CASES:
            raise ValueError(f"benchmark case {name!r} is registered twice")
        CASES[name] = Case(name, summary, tools, setup, target, unit)
        return setup

    return register


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p90(samples: Sequence[float]) -> float:
    """The 90th percentile by nearest rank: a sample that was really measured."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
