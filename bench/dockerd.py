"""A private dockerd for the length of one benchmark run, where no docker daemon answers.

Without a daemon docker could not take part, and the targets fell back on medians
measured on another machine, which say little about this one: import and load
are dominated by creating files, whose speed differs from disk to disk. So when
docker's CLI finds no daemon and `dockerd` is installed, the runner starts one of
its own: data, exec state, socket and containerd all in the run's scratch
directory, on the same filesystem as pinnace's and podman's stores, with no
networking to set up (no bridge, no iptables). It runs inside the runner's
private mount namespace (bench/sandbox.py), so what dockerd writes of its own
accord (/etc/docker/key.json, /run/docker) lands in the sandbox's overlays, and
its mounts never reach the host.

It is stopped by its pid: SIGTERM, a grace period, then SIGKILL of that pid
only; the containerd it started is waited for (and killed by pid if it
outlives its parent), then whatever is still mounted under its directory is
unmounted and the directory removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import sandbox, tools

# Long enough for a first start on a slow disk (dockerd checks overlay support, starts containerd).
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


class DockerdError(Exception):
    """The private dockerd did not start; the message ends with the last line of its log."""


@dataclass(frozen=True)
class _Pid:
    """A process we started, named by pid and start time so that a reused pid is never signalled."""

    pid: int
    start: str

    @classmethod
    def of(cls, pid: int) -> _Pid | None:
        start = _start_time(pid)
        return None if start is None else cls(pid, start)

    def alive(self) -> bool:
        return _start_time(self.pid) == self.start

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    # A zombie has exited: it no longer counts as running (its parent reaps it).
    return None if fields is None or fields[0] == "Z" else fields[19]


def _descendants(pid: int) -> list[_Pid]:
    """Every living process below pid (containerd and whatever it runs)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[_Pid] = []
    todo = list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        todo.extend(parents.get(child, []))
        p = _Pid.of(child)
        if p is not None:
            found.append(p)
    return found


def _containerd_by_pidfile(directory: Path) -> _Pid | None:
    """The containerd dockerd started, from its pidfile, if that pid is still a containerd."""
    try:
        pid = int((directory / "exec" / "containerd" / "containerd.pid").read_text().strip())
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except (OSError, ValueError):
        return None
    return _Pid.of(pid) if os.path.basename(argv0) == b"containerd" else None


def _die_with_parent() -> None:
    # If the runner itself is killed, dockerd gets SIGTERM rather than living on.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _ping(sock: Path) -> bool:
    """Whether the daemon behind sock answers GET /_ping with OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


@dataclass
class PrivateDockerd:
    """A dockerd this run started, with all its state under directory."""

    directory: Path
    process: subprocess.Popen[bytes]
    # Its second listener, HOST:PORT on the loopback: for wrk, which speaks TCP only (bench/api.py).
    tcp: str = ""

    @property
    def socket(self) -> Path:
        return self.directory / "docker.sock"

    @property
    def host(self) -> str:
        """The DOCKER_HOST that reaches it."""
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.directory / "dockerd.log"


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(directory: Path, timeout: float = START_TIMEOUT) -> PrivateDockerd:
    """Start dockerd with every path of its own under directory (new), and wait until it answers.

    Besides its unix socket it listens on a free port of 127.0.0.1 (plain HTTP, loopback only, as
    pinnace's API service allows), because wrk cannot reach a unix socket: bench/api.py times request
    rates there. ``--tls=false`` states the intent: without it dockerd warns, and later releases
    delay their start-up for an unauthenticated TCP listener.
    """
    directory.mkdir(parents=True)
    tcp = f"127.0.0.1:{_free_loopback_port()}"
    # An empty configuration, so that a host's /etc/docker/daemon.json changes nothing here.
    config = directory / "daemon.json"
    config.write_text(json.dumps({}), encoding="utf-8")
    (directory / "tmp").mkdir()
    argv = [
        "dockerd",
        f"--config-file={config}",
        f"--data-root={directory / 'data'}",
        f"--exec-root={directory / 'exec'}",
        f"--pidfile={directory / 'dockerd.pid'}",
        f"--host=unix://{directory / 'docker.sock'}",
        f"--host=tcp://{tcp}",
        "--tls=false",
        "--iptables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--bridge=none",
        "--storage-driver=overlay2",
        "--containerd-namespace=pinnace-bench",
        "--containerd-plugins-namespace=pinnace-bench-p",
    ]
    env = {**os.environ, "TMPDIR": str(directory / "tmp")}
    env.pop("DOCKER_HOST", None)
    with open(directory / "dockerd.log", "wb") as log:
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Out of the terminal's process group: a ^C reaches the runner, which stops us in order.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    daemon = PrivateDockerd(directory, process, tcp)
    deadline = time.monotonic() + timeout
    while not _ping(daemon.socket):
        if process.poll() is not None:
            stop(daemon)
            raise DockerdError(f"dockerd exited {process.returncode}: {_last_line(daemon.log)}")
        if time.monotonic() > deadline:
            stop(daemon)
            raise DockerdError(f"dockerd did not answer within {timeout:.0f} s: {_last_line(daemon.log)}")
        time.sleep(0.1)
    return daemon


def stop(daemon: PrivateDockerd, timeout: float = STOP_TIMEOUT) -> None:
    """Stop dockerd and the containerd it started, unmount what they left, remove the directory."""
    process = daemon.process
    children = _descendants(process.pid)
    orphan = _containerd_by_pidfile(daemon.directory)
    if orphan is not None and orphan not in children:
        children.append(orphan)  # left by a dockerd that already died
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # dockerd stops its containerd on the way out; one it left (e.g. after SIGKILL) is ours to stop.
    for sig, grace in ((None, timeout), (signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if sig is not None:
            for child in children:
                child.signal(sig)
        deadline = time.monotonic() + grace
        while any(c.alive() for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not any(c.alive() for c in children):
            break
    sandbox.unmount_under(daemon.directory)
    shutil.rmtree(daemon.directory, ignore_errors=True)


@contextlib.contextmanager
def docker_for_run(directory: Path, log: Callable[[str], None]) -> Iterator[tools.Tool]:
    """The docker Tool for this run: the reachable daemon, else a private one started here.

    When neither works, the Tool's probe says why, and docker is skipped.
    """
    ambient = tools.docker_tool()
    if ambient.probe() is None or not shutil.which("docker") or not shutil.which("dockerd"):
        yield ambient
        return
    log("docker: no daemon reachable; starting a private dockerd for this run")
    try:
        daemon = start(directory)
    except (DockerdError, OSError) as e:
        why = f"no daemon reachable, and a private dockerd did not start: {e}"
        yield tools.docker_tool(unavailable=why)
        return
    try:
        yield tools.docker_tool(daemon.host, tcp=daemon.tcp)
    finally:
        log("docker: stopping the private dockerd")
        stop(daemon)
