"""plan() and enter() of pinnace.runtime.linux.namespaces, against a RecordingSys (no root)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pinnace.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from pinnace.runtime.linux import namespaces
from pinnace.runtime.linux.namespaces import Plan, enter, plan
from pinnace.runtime.linux.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    RecordingSys,
    clone_flag_names,
    error,
)


def test_plan_creates_entries_without_path() -> None:
    p = plan([{"type": t} for t in ("pid", "network", "mount", "ipc", "uts", "cgroup")])
    assert (
        p.create_flags
        == CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
    )
    assert p.join == ()


def test_plan_joins_entries_with_path_user_first() -> None:
    p = plan(
        [
            {"type": "uts", "path": "/proc/1/ns/uts"},
            {"type": "mount"},
            {"type": "user", "path": "/proc/1/ns/user"},
            {"type": "ipc", "path": "/proc/1/ns/ipc"},
        ]
    )
    assert p.create_flags == CLONE_NEWNS
    assert p.join == (("user", "/proc/1/ns/user"), ("uts", "/proc/1/ns/uts"), ("ipc", "/proc/1/ns/ipc"))


def test_plan_empty() -> None:
    assert plan([]) == Plan(0, ())


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"type": "bogus"}], 'linux.namespaces[0].type: unknown namespace type "bogus"'),
        (
            [{"type": "uts"}, {"type": "uts", "path": "/x"}],
            'linux.namespaces[1].type: namespace type "uts" is given twice',
        ),
        ([{"type": "uts", "path": 3}], "linux.namespaces[0].path: must be a string"),
        ([{}], "linux.namespaces[0].type: missing"),
    ],
)
def test_plan_rejects(entries: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        plan(entries)
    assert str(info.value) == message


def test_plan_time_needs_kernel_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespaces, "time_namespace_supported", lambda: False)
    with pytest.raises(FailedPrecondition, match='namespace type "time" is not supported by this kernel'):
        plan([{"type": "time"}])
    monkeypatch.setattr(namespaces, "time_namespace_supported", lambda: True)
    assert plan([{"type": "time"}]).create_flags == 0x80


def test_enter_joins_then_unshares(tmp_path: Path) -> None:
    user, uts = tmp_path / "user", tmp_path / "uts"
    user.touch()
    uts.touch()
    sys = RecordingSys()
    enter(
        plan(
            [
                {"type": "uts", "path": str(uts)},
                {"type": "user", "path": str(user)},
                {"type": "pid"},
                {"type": "mount"},
            ]
        ),
        sys,
    )
    assert sys.calls == [
        ("setns", str(user), CLONE_NEWUSER),
        ("setns", str(uts), CLONE_NEWUTS),
        ("unshare", CLONE_NEWPID | CLONE_NEWNS),
    ]


def test_enter_creates_user_namespace_alone_first() -> None:
    sys = RecordingSys()
    seen: list[int] = []
    enter(
        plan([{"type": "mount"}, {"type": "user"}, {"type": "uts"}]),
        sys,
        on_user_namespace=lambda: seen.append(len(sys.calls)),
    )
    assert sys.calls == [("unshare", CLONE_NEWUSER), ("unshare", CLONE_NEWNS | CLONE_NEWUTS)]
    assert seen == [1]  # the maps hook ran between the two unshares


def test_enter_nothing_makes_no_call() -> None:
    sys = RecordingSys()
    enter(plan([]), sys)
    assert sys.calls == []


def test_enter_opens_every_path_before_joining(tmp_path: Path) -> None:
    """A missing second path fails before the first setns: nothing was joined."""
    first = tmp_path / "first"
    first.touch()
    sys = RecordingSys()
    with pytest.raises(NotFound, match=f"join uts namespace {tmp_path}/missing: no such file or directory"):
        enter(
            plan([{"type": "ipc", "path": str(first)}, {"type": "uts", "path": str(tmp_path / "missing")}]),
            sys,
        )
    assert sys.calls == []


def test_enter_names_the_path_when_setns_fails(tmp_path: Path) -> None:
    path = tmp_path / "ns"
    path.touch()
    sys = RecordingSys(fail={"setns": error("setns(3, CLONE_NEWUTS)", errno.EINVAL)})
    with pytest.raises(InvalidArgument) as info:
        enter(plan([{"type": "uts", "path": str(path)}, {"type": "mount"}]), sys)
    assert str(info.value) == f"join uts namespace {path}: setns(3, CLONE_NEWUTS): invalid argument"
    assert sys.calls == [("setns", str(path), CLONE_NEWUTS)]  # no unshare after a failed join


@pytest.mark.parametrize(
    ("err", "kind", "text"),
    [
        (errno.EPERM, FailedPrecondition, "operation not permitted"),
        (errno.EACCES, FailedPrecondition, "permission denied"),
        (errno.EINVAL, InvalidArgument, "invalid argument"),
        (errno.ENOSPC, Unavailable, "no space left on device"),
    ],
)
def test_error_kinds(err: int, kind: type[Exception], text: str) -> None:
    exc = error("unshare(CLONE_NEWUSER)", err)
    assert isinstance(exc, kind)
    assert str(exc) == f"unshare(CLONE_NEWUSER): {text}"


def test_clone_flag_names() -> None:
    assert clone_flag_names(CLONE_NEWUSER | CLONE_NEWUTS) == "CLONE_NEWUSER|CLONE_NEWUTS"
    assert clone_flag_names(0) == "0x0"
