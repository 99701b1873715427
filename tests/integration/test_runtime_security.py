"""Attacks on ``pinnace-runtime``: each test tries a known container escape and asserts it fails.

- CVE-2019-5736: a container process overwriting the runtime's binary
  through ``/proc/PID/exe`` (here: the host's Python interpreter).
- CVE-2024-21626: a working directory reached through a file descriptor the
  runtime leaked into the container (``process.cwd`` = ``/proc/self/fd/N``).
- CVE-2021-30465 and kin: a mount destination that is a symlink in the
  rootfs pointing at a host path.
- Bad specs must fail ``create`` cleanly: no state, no cgroup, no process.

Every attack that could damage the host if it succeeded is written so that
it cannot: the binary is opened with O_TRUNC only while it runs (the kernel
refuses to write a running executable whatever else happens), and nothing is
ever written to it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pinnace.runtime.state import start_time
from tests.integration.runtime_fixture import RUNTIME, Runtime

pytestmark = pytest.mark.root


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def set_cwd(cwd: str) -> Any:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["cwd"] = cwd

    return edit


def run_marked(
    rt: Runtime, *args: str, pass_fds: tuple[int, ...] = (), prelude: str = ""
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the runtime with a unique variable in its environment; (the result, that mark).

    Every process of the runtime that has not exec'd the container's own
    program carries the mark, so :func:`marked_processes` finds any that
    outlived the command.  ``prelude`` is Python run before exec'ing the
    runtime (e.g. to move an inherited fd to a given number).
    """
    mark = uuid.uuid4().hex
    code = prelude + "\nimport os, sys\nos.execv(sys.argv[1], sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(RUNTIME), "--root", str(rt.root), *args],
        env={**os.environ, "PINNACE_TEST_MARK": mark},
        pass_fds=pass_fds,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc, mark


def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment holds ``mark``."""
    needle = f"PINNACE_TEST_MARK={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and start_time(int(entry.name)) is not None:
            found.append(int(entry.name))
    return found


def assert_nothing_left(rt: Runtime, container_id: str, mark: str = "") -> None:
    """No state directory, no cgroup in any hierarchy, no process of the runtime's remains."""
    assert not (rt.root / container_id).exists()
    assert [h.name for h in Path("/sys/fs/cgroup").iterdir() if (h / container_id).exists()] == []
    if mark:
        assert marked_processes(mark) == []


# -- CVE-2019-5736: overwriting the runtime's binary -----------------------------------------------


def test_exec_into_a_created_container_cannot_write_the_init_binary(runtime: Runtime) -> None:
    container_id = runtime.new_id()
    runtime("create", "-b", str(runtime.bundle(["true"])), container_id, check=True)
    state = runtime.state(container_id)
    assert state["status"] == "created"
    init = state["pid"]
    # The init is the runtime's interpreter, waiting for `start`: its exe is a read-only bind.
    assert os.statvfs(f"/proc/{init}/exe").f_flag & os.ST_RDONLY
    assert os.path.samefile(f"/proc/{init}/exe", os.path.realpath(sys.executable))
    before = sha256(os.path.realpath(sys.executable))

    attack = runtime("exec", container_id, "sh", "-c", ": > /proc/1/exe")
    assert attack.returncode != 0
    assert "can't create /proc/1/exe: Read-only file system" in attack.stderr
    # The joining process ran from the sealed path too: it cannot target itself either.
    own = runtime("exec", container_id, "sh", "-c", "ls -l /proc/1/exe /proc/$$/exe")
    assert own.returncode == 0, own.stderr
    assert sha256(os.path.realpath(sys.executable)) == before
    runtime("start", container_id, check=True)


def test_a_proc_self_exe_entrypoint_cannot_reach_the_host_binary(runtime: Runtime) -> None:
    """``#!/proc/self/exe`` makes the kernel run whatever the init runs: the host's Python."""
    host_python = os.path.realpath(sys.executable)
    before = sha256(host_python)
    bundle = runtime.bundle(["/evil.sh"])
    evil = bundle / "rootfs" / "evil.sh"
    # Were it run by a working interpreter, this would open its own binary for writing.
    evil.write_text("#!/proc/self/exe\nopen('/proc/self/exe', 'r+b')\n")
    evil.chmod(0o755)
    proc = runtime("run", "-b", str(bundle), runtime.new_id())
    assert proc.returncode != 0
    assert sha256(host_python) == before
    assert os.access(host_python, os.X_OK)


# -- CVE-2024-21626: a leaked fd as the working directory -----------------------------------------------


@pytest.mark.parametrize("fd", range(3, 10))
def test_cwd_through_proc_self_fd_stays_inside(runtime: Runtime, fd: int) -> None:
    container_id = runtime.new_id()
    bundle = runtime.bundle(["sh", "-c", "pwd; ls .."], edit=set_cwd(f"/proc/self/fd/{fd}"))
    proc, mark = run_marked(runtime, "run", "-b", str(bundle), container_id)
    if proc.returncode == 0:  # then the cwd must be inside the container
        cwd, *listing = proc.stdout.splitlines()
        assert cwd.startswith("/") and "unreachable" not in cwd
        assert "pytest-of-root" not in proc.stdout
    else:
        assert f'process.cwd: chdir to cwd ("/proc/self/fd/{fd}") set in config.json failed' in proc.stderr
        assert proc.stderr.count("\n") == 1
    assert_nothing_left(runtime, container_id, mark)


def test_a_host_directory_fd_given_to_the_runtime_never_reaches_the_container(
    runtime: Runtime, tmp_path: Path
) -> None:
    """The runtime inherits an fd of a host directory (the CVE's leak) at fd 7."""
    host_dir = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    to_fd_7 = f"import os; os.dup2({host_dir}, 7); os.close({host_dir})"
    try:
        bundle = runtime.bundle(["ls", "/proc/self/fd"])
        proc, _ = run_marked(
            runtime, "run", "-b", str(bundle), runtime.new_id(), pass_fds=(host_dir,), prelude=to_fd_7
        )
        assert proc.returncode == 0, proc.stderr
        assert sorted(map(int, proc.stdout.split())) == [0, 1, 2, 3]  # 3: ls's own directory fd
        running = runtime.new_id()
        runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"])), running, check=True)
        proc, _ = run_marked(
            runtime, "exec", running, "ls", "/proc/self/fd", pass_fds=(host_dir,), prelude=to_fd_7
        )
        assert sorted(map(int, proc.stdout.split())) == [0, 1, 2, 3], proc.stderr

        container_id = runtime.new_id()
        bundle = runtime.bundle(["sh", "-c", "pwd; ls .."], edit=set_cwd("/proc/self/fd/7"))
        proc, mark = run_marked(
            runtime, "run", "-b", str(bundle), container_id, pass_fds=(host_dir,), prelude=to_fd_7
        )
        assert proc.returncode == 1
        assert 'chdir to cwd ("/proc/self/fd/7") set in config.json failed: no such file' in proc.stderr
        assert proc.stdout == ""
        assert_nothing_left(runtime, container_id, mark)

        # Passed on deliberately (--preserve-fds), the fd is there, but not as a way out.
        container_id = runtime.new_id()
        proc, mark = run_marked(
            runtime,
            "run",
            "--preserve-fds",
            "5",
            "-b",
            str(bundle),
            container_id,
            pass_fds=(host_dir,),
            prelude=to_fd_7,
        )
        assert proc.returncode == 1
        assert "process.cwd: current working directory is outside of container mount namespace root" in (
            proc.stderr
        )
        assert proc.stdout == ""
        assert_nothing_left(runtime, container_id, mark)
    finally:
        os.close(host_dir)


def test_the_container_holds_only_stdio(runtime: Runtime) -> None:
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"])), container_id, check=True)
    init = runtime.state(container_id)["pid"]
    deadline = time.monotonic() + 10
    while Path(f"/proc/{init}/cmdline").read_bytes() != b"sleep\x0060\x00":  # start returns before execve
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert sorted(map(int, os.listdir(f"/proc/{init}/fd"))) == [0, 1, 2]
    proc = runtime("exec", container_id, "ls", "/proc/self/fd")
    assert sorted(map(int, proc.stdout.split())) == [0, 1, 2, 3], proc.stderr  # 3: ls's own
    for fd in range(3, 10):
        escape = runtime("exec", "--cwd", f"/proc/self/fd/{fd}", container_id, "sh", "-c", "pwd; ls ..")
        if escape.returncode == 0:
            assert escape.stdout.startswith("/") and "pytest-of-root" not in escape.stdout
        else:
            assert escape.stderr.startswith("pinnace-runtime: process.cwd: "), escape.stderr


# -- symlinked mount destinations --------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_a_symlinked_mount_destination_lands_inside_the_rootfs(
    runtime: Runtime, tmp_path: Path, style: str
) -> None:
    """rootfs/evil -> a host directory: the mount goes to that path *inside* the rootfs."""
    hosts = {name: tmp_path / name for name in ("host-tmpfs", "host-bind")}
    for host_dir in hosts.values():
        host_dir.mkdir()
        (host_dir / "precious").write_text("host data\n")
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "planted").write_text("from the bind\n")

    def edit(spec: dict[str, Any]) -> None:
        spec["mounts"].append({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"})
        spec["mounts"].append(
            {"destination": "/evil-bind", "type": "bind", "source": str(payload), "options": ["rbind", "ro"]}
        )

    bundle = runtime.bundle(["sh", "-c", "touch /evil/pwned; ls /evil; echo --; ls /evil-bind"], edit=edit)
    rootfs = bundle / "rootfs"
    for link, host_dir in (("evil", hosts["host-tmpfs"]), ("evil-bind", hosts["host-bind"])):
        target = str(host_dir) if style == "absolute" else "../" * 12 + str(host_dir).lstrip("/")
        (rootfs / link).symlink_to(target)
    proc = runtime("run", "-b", str(bundle), runtime.new_id())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["pwned", "--", "planted"]
    # The mounts were made under the rootfs, where the links point when resolved in it.
    for host_dir in hosts.values():
        assert (rootfs / str(host_dir).lstrip("/")).is_dir()
        assert sorted(p.name for p in host_dir.iterdir()) == ["precious"]
        assert (host_dir / "precious").read_text() == "host data\n"
        assert not os.path.ismount(host_dir)
    assert sorted(p.name for p in payload.iterdir()) == ["planted"]


# -- bad specs leave nothing ---------------------------------------------------------------------------------


BAD_SPECS: dict[str, tuple[Any, str]] = {
    "unknown namespace": (
        lambda s: s["linux"]["namespaces"].append({"type": "bogus"}),
        "linux.namespaces[6].type",
    ),
    "relative mount destination": (
        lambda s: s["mounts"].append({"destination": "relative", "type": "tmpfs", "source": "tmpfs"}),
        "mounts[7].destination",
    ),
    "missing rootfs": (lambda s: s["root"].update(path="nope"), "does not exist"),
    # These fail in the container's init, after the fork: its processes must go too.
    "missing bind source": (
        lambda s: s["mounts"].append(
            {"destination": "/x", "type": "bind", "source": "/nonexistent-pinnace", "options": ["rbind"]}
        ),
        "mounts[7]",
    ),
    "cwd under a file": (set_cwd("/bin/busybox/dir"), "process.cwd"),
    "missing executable": (
        lambda s: s["process"].update(args=["/no/such/binary"]),
        'exec: "/no/such/binary": stat /no/such/binary: no such file or directory',
    ),
}


@pytest.mark.parametrize("case", BAD_SPECS)
def test_a_bad_spec_leaves_nothing(runtime: Runtime, case: str) -> None:
    edit, words = BAD_SPECS[case]
    container_id = runtime.new_id()
    bundle = runtime.bundle(["true"], edit=edit)
    proc, mark = run_marked(runtime, "create", "-b", str(bundle), container_id)
    assert proc.returncode == 1
    assert words in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert_nothing_left(runtime, container_id, mark)


def test_a_missing_cwd_is_made_as_runc_makes_it(runtime: Runtime) -> None:
    bundle = runtime.bundle(["pwd"], edit=set_cwd("/nonexistent/dir"))
    proc, _ = run_marked(runtime, "run", "-b", str(bundle), runtime.new_id())
    assert (proc.returncode, proc.stdout) == (0, "/nonexistent/dir\n"), proc.stderr


def test_invalid_json_leaves_nothing(runtime: Runtime, tmp_path: Path) -> None:
    bundle = tmp_path / "broken"
    bundle.mkdir()
    (bundle / "config.json").write_text('{"ociVersion": "1.2.0", "process": ')
    container_id = runtime.new_id()
    proc, mark = run_marked(runtime, "create", "-b", str(bundle), container_id)
    assert proc.returncode == 1
    assert "invalid JSON" in proc.stderr
    assert_nothing_left(runtime, container_id, mark)
