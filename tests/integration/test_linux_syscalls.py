"""LinuxSys and namespaces.enter against the real kernel.

Each case runs in a fresh interpreter (``sys.executable -c``), never a fork
of the test process: pytest may have threads, and unshare/setns change the
calling process for good.  A child that must stay alive while the test
looks at it prints one JSON line, then blocks reading stdin; closing stdin
ends it, and a finally kills it by pid if it is still there.  Its mounts die
with its mount namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pinnace.errors import InvalidArgument, Unavailable
from pinnace.runtime.linux.namespaces import enter, plan
from pinnace.runtime.linux.syscalls import CLONE_NEWUTS, LinuxSys

pytestmark = pytest.mark.root

PRELUDE = """
import json, os, sys
from pinnace.runtime.linux.syscalls import *
from pinnace.runtime.linux.namespaces import enter, plan
linux = LinuxSys()
"""


HOLD = """
print(json.dumps(result), flush=True)
sys.stdin.read()
"""


@contextmanager
def child(
    script: str, *args: str, hold: bool = False
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """Start ``script``; yield it and the JSON line it prints first; always stop it.

    With ``hold``, the script sets ``result`` and the child stays alive
    (printing it, then reading stdin) until the block ends.
    """
    code = PRELUDE + textwrap.dedent(script) + (HOLD if hold else "")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"child printed nothing; stderr: {err}")
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def run(script: str, *args: str) -> dict[str, Any]:
    with child(script, *args) as (_, result):
        return result


def test_unshare_uts_and_sethostname() -> None:
    before = os.uname().nodename
    result = run(
        """
        linux.unshare(CLONE_NEWUTS)
        linux.sethostname("pinnace-test")
        linux.setdomainname("pinnace.example")
        print(json.dumps({"nodename": os.uname().nodename,
                          "domain": open("/proc/sys/kernel/domainname").read().strip()}))
        """
    )
    assert result == {"nodename": "pinnace-test", "domain": "pinnace.example"}
    assert os.uname().nodename == before


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def test_mount_namespace_hides_its_mounts(tmp_path: Path) -> None:
    target = tmp_path / "mnt"
    target.mkdir()
    script = """
        import pinnace.mount.ops as ops
        linux.unshare(CLONE_NEWNS)
        linux.mount("", "/", "", ops.MS_REC | ops.MS_PRIVATE, "")
        linux.mount("tmpfs", sys.argv[1], "tmpfs", 0, "size=1m")
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        result = {"mounted": sys.argv[1] in points}
        """
    with child(script, str(target), hold=True) as (_, result):
        assert result == {"mounted": True}
        assert str(target) not in _mount_points()
    assert str(target) not in _mount_points()


def test_setns_joins_another_process_uts() -> None:
    holder = """
        linux.unshare(CLONE_NEWUTS)
        linux.sethostname("pinnace-joined")
        result = {"pid": os.getpid()}
        """
    with child(holder, hold=True) as (_, held):
        joined = run(
            """
            enter(plan([{"type": "uts", "path": sys.argv[1]}]), linux)
            print(json.dumps({"nodename": os.uname().nodename}))
            """,
            f"/proc/{held['pid']}/ns/uts",
        )
    assert joined == {"nodename": "pinnace-joined"}
    assert os.uname().nodename != "pinnace-joined"


def test_setns_into_a_file_that_is_no_namespace(tmp_path: Path) -> None:
    """Fails before changing anything, so it is safe in the test process itself."""
    path = tmp_path / "not-a-namespace"
    path.write_text("")
    with pytest.raises(InvalidArgument) as info:
        enter(plan([{"type": "uts", "path": str(path)}]), LinuxSys())
    message = str(info.value)
    assert message.startswith(f"join uts namespace {path}: setns(")
    assert message.endswith(", CLONE_NEWUTS): invalid argument")


def test_setns_with_a_bad_fd_is_unavailable() -> None:
    with pytest.raises(Unavailable, match=r"^setns\(-1, CLONE_NEWUTS\): bad file descriptor$"):
        LinuxSys().setns(-1, CLONE_NEWUTS)


def test_pivot_root_error_names_its_arguments(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(
        Unavailable, match=rf"^pivot_root\({missing}, {missing}\): no such file or directory$"
    ):
        LinuxSys().pivot_root(str(missing), str(missing))
