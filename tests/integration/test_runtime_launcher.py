"""The native launcher's warmer and standby, and the init's parentage, as a caller of the runtime sees them.

``pinnace-runtime`` is a small C launcher (src/pinnace/runtime/launcher.c)
that forks a *warmer* and starts stage 1 ahead (the *standby*) before it
executes the Python runtime; stage 1 forks the container's init with
CLONE_PARENT, so the init is the child of whoever called create.  What a
caller such as conmon or containerd's shim (a subreaper) must see: the init
as its only new child, and no warmer or standby, alive or zombie, left
behind; and the container with the caller's CPU affinity, whichever CPU the
launcher had the standby start on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace.runtime import container
from pinnace.runtime.linux import sync
from tests.integration.runtime_fixture import AS_FD_3, RUNTIME, Runtime

pytestmark = pytest.mark.root

#: A subreaper runs the launcher's create and prints its own children afterwards ("pid state comm").
_SUBREAPER_CALLER = """
import ctypes, os, subprocess, sys
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
null = subprocess.DEVNULL  # the init keeps the runtime's stdio: not our pipes
rc = subprocess.run(sys.argv[1:], stdin=null, stdout=null, stderr=null).returncode
children = []
for name in os.listdir("/proc"):
    if name.isdigit():
        try:
            stat = open(f"/proc/{name}/stat").read()
        except OSError:
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == os.getpid():
            children.append([int(name), fields[0], comm])
print(rc, children)
"""


def test_create_leaves_its_caller_the_init_and_nothing_else(runtime: Runtime) -> None:
    """A subreaper that runs create inherits the init, and no warmer (the runtime reaped it)."""
    container_id = runtime.new_id()
    bundle = runtime.bundle(["true"])
    out = subprocess.run(
        [sys.executable, "-c", _SUBREAPER_CALLER, str(RUNTIME), "--root", str(runtime.root), "create"]
        + ["--bundle", str(bundle), container_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rc, _, listed = out.stdout.strip().partition(" ")
    assert rc == "0"
    init = runtime.state(container_id)["pid"]
    # The init waits for `start`, blocked opening the fifo (S); a warmer would be a second child.
    children = json.loads(listed.replace("'", '"'))
    assert [(pid, state) for pid, state, _ in children] == [(init, "S")], children
    runtime("delete", "--force", container_id, check=True)


def test_the_launchers_pipe_stays_out_of_the_preserved_fds(runtime: Runtime) -> None:
    """``--preserve-fds N`` keeps fds 3 to N+2 open in the init, gaps included: the launcher's own pipe
    must not land there, or a created container would hold it (and create wait out the warmer)."""
    container_id = runtime.new_id()
    read_end, write_end = os.pipe()
    ours = os.readlink(f"/proc/self/fd/{write_end}")
    try:
        subprocess.run(
            [sys.executable, "-c", AS_FD_3, str(write_end), str(RUNTIME), "--root", str(runtime.root)]
            + ["create", "--preserve-fds", "5", "-b", str(runtime.bundle(["true"])), container_id],
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=60,
        )
        init = runtime.state(container_id)["pid"]
        fds = {int(fd): os.readlink(f"/proc/{init}/fd/{fd}") for fd in os.listdir(f"/proc/{init}/fd")}
        assert fds[3] == ours
        assert [target for target in fds.values() if target.startswith("pipe:")] == [ours], fds
    finally:
        os.close(read_end)
        os.close(write_end)
    runtime("delete", "--force", container_id, check=True)


def test_the_init_is_the_child_of_the_process_that_creates_it(tmp_path: Path) -> None:
    """In-process create: the init is our child (CLONE_PARENT), to wait for without a subreaper."""
    from pinnace.runtime.linux import sealed
    from tests.helpers.bundle import make_bundle

    root = str(tmp_path / "state")
    bundle = make_bundle(tmp_path / "bundle", ["busybox", "sh", "-c", "exit 7"])
    container_id = f"pinnace-test-{os.getpid()}-parent"
    try:
        state = container.create(root, container_id, str(bundle))
        assert os.waitpid(state.pid, os.WNOHANG) == (0, 0)  # ours, and still waiting for start
        status = Path(f"/proc/{state.pid}/status").read_text()
        assert f"\nPPid:\t{os.getpid()}\n" in status
        list(container.start(root, container_id))
        assert container.wait_for(state.pid) == 7
    finally:
        list(container.delete(root, container_id, force=True))
        sealed.unseal(root)
    assert not Path(f"/sys/fs/cgroup/pids/{container_id}").exists()


def _subreaper_call(*argv: str) -> tuple[str, list[list[object]]]:
    """Run ``argv`` from a subreaper; (its exit status, the subreaper's children afterwards)."""
    out = subprocess.run(
        [sys.executable, "-c", _SUBREAPER_CALLER, *argv], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    rc, _, listed = out.stdout.strip().partition(" ")
    return rc, json.loads(listed.replace("'", '"'))


@pytest.mark.parametrize(
    "verb", [["exec", "pinnace-test-missing", "true"], ["create", "--bundle", "/nonexistent", "pinnace-test-x"]]
)
def test_a_failed_command_leaves_no_standby(runtime: Runtime, verb: list[str]) -> None:
    """A command that fails before it hands stage 1 a job kills and reaps the standby."""
    rc, children = _subreaper_call(str(RUNTIME), "--root", str(runtime.root), *verb)
    assert rc == "1"
    assert children == []


def _allowed_cpus(text: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Cpus_allowed_list"))


def test_the_container_keeps_the_callers_cpu_affinity(runtime: Runtime) -> None:
    """The launcher moves the standby to another CPU to start it sooner; the container still gets the
    caller's mask: all CPUs from an unrestricted caller, CPU 0 alone from ``taskset -c 0``."""
    ours = _allowed_cpus(Path("/proc/self/status").read_text())
    bundle = runtime.bundle(["cat", "/proc/self/status"])
    for prefix, expected in (([], ours), (["taskset", "-c", "0"], "0")):
        out = subprocess.run(
            [*prefix, str(RUNTIME), "--root", str(runtime.root), "run", "-b", str(bundle), runtime.new_id()],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert _allowed_cpus(out.stdout) == expected


def test_in_process_create_keeps_our_cpu_affinity(tmp_path: Path) -> None:
    """The library moves stage 1 to another CPU too (``_start_elsewhere``), and widens it back."""
    from pinnace.runtime.linux import sealed
    from tests.helpers.bundle import make_bundle

    root = str(tmp_path / "state")
    bundle = make_bundle(tmp_path / "bundle", ["true"])
    container_id = f"pinnace-test-{os.getpid()}-affinity"
    try:
        state = container.create(root, container_id, str(bundle))
        assert os.sched_getaffinity(state.pid) == os.sched_getaffinity(0)
    finally:
        list(container.delete(root, container_id, force=True))
        sealed.unseal(root)


def _standby(fd: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.prefix) / "libexec" / "pinnace-runtime-init"), str(fd)], pass_fds=(fd,)
    )


def test_a_standby_leaves_quietly_when_no_job_comes() -> None:
    ours, theirs = sync.socketpair()
    proc = _standby(theirs.fileno())
    theirs.close()
    ours.close()
    assert proc.wait(timeout=30) == 0


def test_a_standby_refuses_anything_but_a_handover() -> None:
    """A message other than the Handover (or one without its memfd) is answered with a Failure."""
    ours, theirs = sync.socketpair()
    proc = _standby(theirs.fileno())
    theirs.close()
    try:
        ours.send(sync.Handover(console=False))  # no descriptors with it
        with pytest.raises(Exception, match="stage 1: expected a handover"):
            ours.expect(sync.Go, "start-up")
        assert proc.wait(timeout=30) == 1
    finally:
        ours.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
