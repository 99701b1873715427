"""podman drives ``pinnace-runtime`` as it drives runc, and gets the same results.

Every test runs once with ``podman --runtime runc`` and once with
``podman --runtime <the venv's pinnace-runtime>``, and asserts the same
outcomes on both: what the container printed, exit codes and podman's error
messages, the terminal a ``-t`` process sees, what ``stop``/``pause``/``top``
/``rm -f`` do.  runc is the reference: a test that fails only for
pinnace-runtime is a runtime bug.  podman runs in the interop sandbox
(conftest.py), held open for the whole test since a detached container's
conmon outlives the command that started it.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import make_rootfs_tar
from tests.interop.conftest import Peer, PeerEnv, require

pytestmark = [pytest.mark.root, pytest.mark.interop]

PINNACE_RUNTIME = Path(sys.prefix) / "bin" / "pinnace-runtime"
IMAGE = "localhost/pinnace-runtime-bb:1"
# Applets beyond make_rootfs_tar's (sh, echo, ls, cat, true) that the tests run.
APPLETS = ("id", "pwd", "sleep", "tty")
# A container that exits 42 on SIGTERM (pid 1 ignores signals it has no handler for).
TRAPS_TERM = "trap 'echo got TERM; exit 42' TERM; echo started; sleep 1000 & wait"


@pytest.fixture
def peer_env(peer_env: PeerEnv) -> Iterator[PeerEnv]:
    """The interop sandbox, held: conmon writes exit files after `run -d` has returned."""
    peer_env.hold()
    yield peer_env
    peer_env.release()


@dataclass
class Podman:
    """``podman --runtime RUNTIME ...`` in the sandbox, and the runtime's own view of it."""

    peer: Peer
    env: PeerEnv
    runtime: str

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.peer.run("--runtime", self.runtime, *args, check=check)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``podman run --network none ARGS``: a container needs no network here."""
        return self("run", "--network", "none", *args, check=check)

    def inspect(self, container: str, template: str) -> str:
        return self("inspect", "--format", template, container).stdout.strip()

    def input(self, data: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A podman command reading ``data`` on its stdin."""
        return subprocess.run(
            [*self.peer.argv, "--runtime", self.runtime, *args],
            env={**os.environ, **self.peer.env},
            input=data,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def terminal(self, *args: str, timeout: float = 60) -> tuple[int, str]:
        """A podman command whose stdio is a pty of ours, as in a shell: (exit status, output)."""
        master, slave = os.openpty()
        try:
            proc = subprocess.Popen(
                [*self.peer.argv, "--runtime", self.runtime, *args],
                env={**os.environ, **self.peer.env},
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
            )
        finally:
            os.close(slave)
        out = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while True:
                ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    proc.kill()
                    raise AssertionError(f"podman {' '.join(args)} still runs after {timeout} s: {out!r}")
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the last holder of the pty's other end is gone
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            os.close(master)
        return proc.wait(timeout), out.decode(errors="replace")

    def runtime_cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The runtime's own command line, run in podman's sandbox (where its state lives)."""
        binary = self.runtime if self.runtime.startswith("/") else require(self.runtime)
        return subprocess.run(
            self.env.wrap(binary, *args), capture_output=True, text=True, timeout=30, check=False
        )

    def runtime_list(self) -> list[str]:
        """The containers the runtime itself still knows (``runc list -q``)."""
        listed = self.runtime_cmd("list", "-q")
        assert listed.returncode == 0, listed.stderr
        return listed.stdout.split()


def busybox_tar(dest: Path) -> Path:
    """make_rootfs_tar's busybox with the applets these tests also run."""
    make_rootfs_tar(dest)
    with tarfile.open(dest, "a") as tar:
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    return dest


@pytest.fixture(params=["runc", "pinnace-runtime"])
def podman_rt(request: pytest.FixtureRequest, podman: Peer, peer_env: PeerEnv, tmp_path: Path) -> Podman:
    """podman with one of the two runtimes, and the busybox image imported."""
    if request.param == "runc":
        require("runc")
        runtime = "runc"
    else:
        if not PINNACE_RUNTIME.exists():
            pytest.skip(f"{PINNACE_RUNTIME} is missing (run setup.sh)")
        runtime = str(PINNACE_RUNTIME)
    podman.run("import", "--change", 'CMD ["sh"]', str(busybox_tar(tmp_path / "busybox.tar")), IMAGE)
    return Podman(podman, peer_env, runtime)


def test_run_output_and_exit_codes(podman_rt: Podman) -> None:
    pm = podman_rt
    hi = pm.run("--rm", IMAGE, "echo", "hi")
    assert (hi.returncode, hi.stdout, hi.stderr) == (0, "hi\n", "")
    assert pm.run("--rm", IMAGE, "sh", "-c", "exit 3", check=False).returncode == 3

    missing = pm.run("--rm", IMAGE, "nosuchcmd", check=False)
    assert missing.returncode == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in missing.stderr
    assert missing.stderr.rstrip().endswith("OCI runtime attempted to invoke a command that was not found")
    denied = pm.run("--rm", IMAGE, "/etc/passwd", check=False)
    assert denied.returncode == 126
    assert 'exec: "/etc/passwd": permission denied: OCI permission denied' in denied.stderr

    echoed = pm.input("through stdin\n", "run", "--network", "none", "--rm", "-i", IMAGE, "cat")
    assert (echoed.returncode, echoed.stdout) == (0, "through stdin\n")
    flags = ["-e", "FOO=bar", "-u", "1000", "-w", "/tmp"]
    env = pm.run("--rm", *flags, IMAGE, "sh", "-c", 'echo "$FOO"; id -u; id -g; pwd')
    assert env.stdout == "bar\n1000\n0\n/tmp\n"
    assert pm.runtime_list() == []  # every --rm container deleted from the runtime too


def test_run_mount_and_user_namespace_options(podman_rt: Podman) -> None:
    """podman's --read-only and --tmpfs (tmpfs mounts with runc's "tmpcopyup"), --uidmap."""
    pm = podman_rt
    script = "echo x > /x 2>/dev/null || echo read-only; echo y > /tmp/y && cat /tmp/y"
    assert pm.run("--rm", "--read-only", IMAGE, "sh", "-c", script).stdout == "read-only\ny\n"
    show = "cat /etc/passwd; grep ' /etc ' /proc/mounts"
    copied = pm.run("--rm", "--tmpfs", "/etc:rw,mode=755", IMAGE, "sh", "-c", show)
    passwd, mount = copied.stdout.splitlines()
    assert passwd == "root:x:0:0:root:/root:/bin/sh"  # the image's file, copied up into the tmpfs
    assert mount.startswith("tmpfs /etc tmpfs rw,")
    mapped = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"]
    userns = pm.run("--rm", *mapped, IMAGE, "sh", "-c", "cat /proc/self/uid_map; id -u")
    assert userns.stdout.split() == ["0", "100000", "65536", "0"]


def test_run_with_a_terminal(podman_rt: Podman) -> None:
    status, out = podman_rt.terminal(
        "run", "--network", "none", "--rm", "-it", IMAGE, "sh", "-c", "tty; exit 4"
    )
    assert status == 4
    assert "/dev/pts/0" in out.replace("\x00", "").splitlines()


def test_detached_container(podman_rt: Podman) -> None:
    """exec (plain, with flags, with a terminal), top, ps, pause/unpause, inspect, stop on one container."""
    pm = podman_rt
    ctr = pm.run("-d", IMAGE, "sh", "-c", TRAPS_TERM).stdout.strip()
    assert pm.inspect(ctr, "{{.OCIRuntime}} {{.State.Status}}") == f"{pm.runtime} running"

    assert pm("exec", ctr, "cat", "/etc/hostname").stdout.strip() == ctr[:12]
    flags = ["-e", "FOO=bar", "-u", "1000", "-w", "/tmp"]
    env = pm("exec", *flags, ctr, "sh", "-c", 'echo "$FOO"; id -u; pwd')
    assert env.stdout == "bar\n1000\n/tmp\n"
    assert pm("exec", ctr, "sh", "-c", "exit 5", check=False).returncode == 5
    missing = pm("exec", ctr, "nosuchcmd", check=False)
    assert missing.returncode == 127
    assert "OCI runtime attempted to invoke a command that was not found" in missing.stderr
    status, out = pm.terminal("exec", "-it", ctr, "tty")
    assert status == 0
    assert "/dev/pts/0" in out.replace("\x00", "").splitlines()

    top = pm("top", ctr, "pid", "args").stdout.splitlines()
    assert top[0].split() == ["PID", "COMMAND"]
    assert top[1].rstrip().split(None, 1) == ["1", f"sh -c {TRAPS_TERM}"]
    assert ["sleep", "1000"] in [line.split()[1:] for line in top[1:]]
    ps = ["ps", "-a", "--filter", f"id={ctr}", "--format", "{{.Status}}"]
    assert pm(*ps).stdout.startswith("Up ")

    pm("pause", ctr)
    assert pm.inspect(ctr, "{{.State.Status}}") == "paused"
    assert pm(*ps).stdout.strip() == "Paused"
    pm("unpause", ctr)
    assert pm.inspect(ctr, "{{.State.Status}}") == "running"
    pm("update", "--memory", "100m", ctr)  # `update --resources FILE` of the runtime
    v1_or_v2 = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
    limit = pm("exec", ctr, "sh", "-c", v1_or_v2)
    assert limit.stdout == f"{100 << 20}\n"

    started = time.monotonic()
    pm("stop", ctr)  # SIGTERM, which the trap turns into exit 42 at once
    assert time.monotonic() - started < 5, "the container ignored SIGTERM: podman had to kill it"
    assert pm.inspect(ctr, "{{.State.Status}} {{.State.ExitCode}}") == "exited 42"
    assert pm("logs", ctr).stdout == "started\ngot TERM\n"
    pm("rm", ctr)
    assert pm.runtime_list() == []


def test_stop_kill_restart_and_remove(podman_rt: Podman) -> None:
    """SIGKILL after the stop timeout, a start of the stopped container (a new create), rm -f."""
    pm = podman_rt
    ctr = pm.run("-d", IMAGE, "sleep", "1000").stdout.strip()  # pid 1: SIGTERM does nothing
    pm("stop", "-t", "1", ctr)
    assert pm.inspect(ctr, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"

    pm("start", ctr)
    assert pm.inspect(ctr, "{{.State.Status}}") == "running"
    assert pm("exec", ctr, "cat", "/etc/hostname").stdout.strip() == ctr[:12]
    pm("rm", "-f", "-t", "0", ctr)
    assert pm("ps", "-aq").stdout == ""
    assert pm.runtime_list() == []


def test_runtime_state_of_podman_container(podman_rt: Podman) -> None:
    """The runtime's ``state`` of podman's container: runc's fields, the status podman shows."""
    pm = podman_rt
    ctr = pm.run("-d", IMAGE, "sleep", "1000").stdout.strip()

    def state() -> dict[str, object]:
        proc = pm.runtime_cmd("state", ctr)
        assert proc.returncode == 0, proc.stderr
        doc: dict[str, object] = json.loads(proc.stdout)
        return doc

    doc = state()
    assert set(doc) == {
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
        "annotations",
    }
    assert (doc["id"], doc["status"], doc["pid"]) == (ctr, "running", int(pm.inspect(ctr, "{{.State.Pid}}")))
    pm("pause", ctr)
    assert state()["status"] == "paused"
    pm("rm", "-f", "-t", "0", ctr)  # a paused container: thawed, killed and deleted
    gone = pm.runtime_cmd("state", ctr)
    assert gone.returncode == 1
    assert "container does not exist" in gone.stderr
    assert pm.runtime_cmd("delete", "--force", ctr).returncode == 0  # as runc: nothing to delete, no error
