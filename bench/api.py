"""Benchmarks of the Docker Engine API: ``pinnace system service`` against dockerd, in one run.

Both engines are driven by the same clients: the docker CLI on PATH and wrk. pinnace's side is
``pinnace system service`` on the session's store (started by the case, stopped by its pid when the
case ends, with anything of the store still running); docker's is the run's private dockerd
(bench/dockerd.py), which also listens on a free port of 127.0.0.1 for wrk. Each store gets the
bench's busybox image by its own CLI, untimed (``import``, as bench/containers.py).

``api-run``
    ``docker run --rm --network none IMAGE true`` with DOCKER_HOST at pinnace's service (a unix
    socket in the session's directory) or at dockerd's socket: create, attach, start, wait for the
    removal, all over the API. ``--network none`` for both, as ``run-rm``: bench/network.py
    measures what a bridge adds. After each run, untimed, no container of the image may be left.
``api-ping``
    ``wrk -t2 -c16 -d10s`` (3 s with ``--quick``) of ``GET /_ping`` on each engine's loopback TCP
    listener; a sample is µs per request (10^6 / Requests/sec), so lower is better as for every case.
``api-ps``
    the same for ``GET /containers/json?all=1`` (``docker ps -a``) over 10 containers created, not
    started, beforehand through the API by ``docker create``; ``all=1`` so that every answer lists
    the 10 (without it a store of created containers answers ``[]``). They are removed by each
    engine's own CLI when the case ends.

Targets (the issue's): the run through pinnace's API at most a third of dockerd's time (dockerd
20.10's median measured elsewhere: 334 ms); each request rate at least dockerd's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence

from bench import data
from bench.cases import Context, Step, Target, case
from bench.density import on_close, stop_store_processes
from bench.network import run_wrk, wall_time
from bench.tools import DOCKER_TCP_ENV, IMAGE_NAMESPACE, NO_NETWORK, CommandFailed, Session, ToolError

IMAGE = f"localhost/{IMAGE_NAMESPACE}/busybox:1"
TOOLS = ("pinnace", "docker")
#: Containers api-ps lists (created, never started).
CREATED = 10
CREATED_PREFIX = "pinnace-bench-api"
SECONDS = 10
QUICK_SECONDS = 3
WRK_THREADS = 2
WRK_CONNECTIONS = 16
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
AS_FAST = Target("at least dockerd's request rate", 1.0, ("docker",))
_NOTE = (
    "pinnace: the docker CLI / wrk against `pinnace system service` on the case's store; "
    "docker: the same clients against the run's dockerd"
)


# -- pinnace's API service ---------------------------------------------------------------------------


def answers(host: str, timeout: float = 2.0) -> bool:
    """Whether the API at host (unix://PATH or tcp://HOST:PORT) answers GET /_ping with 200."""
    try:
        if host.startswith("unix://"):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        else:
            name, _, port = host.removeprefix("tcp://").rpartition(":")
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (name, int(port))
        with conn:
            conn.settimeout(timeout)
            conn.connect(address)
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: api\r\n\r\n")
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
    except (OSError, ValueError):
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def free_port() -> int:
    """A port of 127.0.0.1 free now (the kernel's pick: outside the ranges other cases draw from)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """``pinnace system service -H HOST...`` on the session's store; stopped by its pid, never by name."""

    def __init__(self, s: Session, hosts: Sequence[str]) -> None:
        self.hosts = list(hosts)
        self.log = s.workdir / "service.log"
        argv = s.argv("system", "service", *(a for h in hosts for a in ("-H", h)))
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                env=dict(s.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not all(answers(h) for h in self.hosts):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                raise ToolError(f"pinnace system service did not answer on {', '.join(hosts)}: {tail[0]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (it drains its requests), SIGKILL of the same pid after STOP_TIMEOUT; reaped either way."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def serve(s: Session, host: str) -> None:
    """Start pinnace's service on host; when the session closes stop it, then whatever still runs for
    the store (pinnace's zygote lingers by design, as bench/density.py says)."""
    service = Service(s, [host])

    def stop() -> None:
        try:
            service.stop()
        finally:
            stop_store_processes(str(s.workdir))

    on_close(s, stop)


def docker_cli_env(s: Session, host: str) -> dict[str, str]:
    """The environment in which the docker CLI reaches the session's engine at host."""
    return {**s.env, "DOCKER_HOST": host}


def import_image(ctx: Context, s: Session) -> None:
    tar = ctx.once("busybox", lambda: data.busybox_rootfs_tar(ctx.cache))
    s.run("import", "--change", 'CMD ["sh"]', str(tar), IMAGE)


def note(ctx: Context) -> None:
    ctx.once("api-note", lambda: ctx.notes.append(_NOTE))


def docker(env: dict[str, str], *args: str) -> str:
    """Run the docker CLI untimed; its stdout, CommandFailed if it fails."""
    argv = ["docker", *args]
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr)
    return proc.stdout


def api_endpoint(s: Session) -> tuple[str, dict[str, str]]:
    """For wrk: http://HOST:PORT of the session's engine on the loopback, and the docker CLI's env there."""
    if s.name == "pinnace":
        address = f"127.0.0.1:{free_port()}"
        serve(s, f"tcp://{address}")
        return f"http://{address}", docker_cli_env(s, f"tcp://{address}")
    if s.name == "docker":
        address = s.env.get(DOCKER_TCP_ENV, "")
        if not address:
            raise ToolError(
                "the docker daemon in use has no loopback TCP listener for wrk (only the runner's private dockerd has one)"
            )
        return f"http://{address}", dict(s.env)
    raise ToolError(f"{s.name}: not an API engine")


# -- cases -------------------------------------------------------------------------------------------


@case(
    "api-run",
    "docker run --rm --network none busybox true, the same docker CLI at pinnace's API or dockerd",
    TOOLS,
    Target("at most a third of dockerd's time", 1 / 3, ("docker",), reference={"docker": 0.334}),
)
def api_run(ctx: Context, s: Session) -> Step:
    note(ctx)
    import_image(ctx, s)
    if s.name == "pinnace":
        sock = s.workdir / "api.sock"
        serve(s, f"unix://{sock}")
        env = docker_cli_env(s, f"unix://{sock}")
    elif s.name == "docker":
        env = dict(s.env)
    else:
        raise ToolError(f"{s.name}: not an API engine")
    argv = ["docker", "run", "--rm", *NO_NETWORK, IMAGE, "true"]
    docker(env, *argv[1:])  # once untimed: anything either engine does on a first run stays out

    def check_removed() -> None:
        """--rm means gone when the CLI returns: a container of the image left is this run's failure."""
        left = docker(env, "ps", "-aq", "--filter", f"ancestor={IMAGE}").split()
        if left:
            docker(env, "rm", "-f", *left)
            raise ToolError(f"{s.name}: run --rm left {len(left)} container(s) behind")

    check_removed()
    return Step(argv, measure=lambda: wall_time(argv, env), cleanup=check_removed)


def _wrk_step(ctx: Context, url: str) -> Step:
    duration = QUICK_SECONDS if ctx.quick else SECONDS
    argv = [
        "wrk",
        "-t",
        str(WRK_THREADS),
        "-c",
        str(WRK_CONNECTIONS),
        "-d",
        f"{duration}s",
        "--timeout",
        "5s",
        url,
    ]
    env = dict(os.environ)
    return Step(argv, measure=lambda: 1e6 / run_wrk(argv, env, duration))


@case(
    "api-ping",
    "GET /_ping, wrk -t2 -c16 on a loopback TCP port; us per request (req/s = 10^6 / it)",
    TOOLS,
    AS_FAST,
    unit="us/req",
)
def api_ping(ctx: Context, s: Session) -> Step:
    note(ctx)
    url, _ = api_endpoint(s)
    return _wrk_step(ctx, f"{url}/_ping")


@case(
    "api-ps",
    "GET /containers/json?all=1 over 10 created containers, wrk -t2 -c16; us per request",
    TOOLS,
    AS_FAST,
    unit="us/req",
)
def api_ps(ctx: Context, s: Session) -> Step:
    note(ctx)
    import_image(ctx, s)
    url, env = api_endpoint(s)
    names = [f"{CREATED_PREFIX}-{i}" for i in range(1, CREATED + 1)]
    # Removed by the engine's own CLI (pinnace's on its store directly): it works whatever became of
    # the service. Registered after the service, so it runs before the service stops.
    on_close(s, lambda: _remove(s, names))
    for name in names:
        docker(env, "create", "--name", name, *NO_NETWORK, IMAGE, "true")
    listed = docker(env, "ps", "-a", "--filter", f"name={CREATED_PREFIX}-", "--format", "{{.Names}}").split()
    if sorted(listed) != sorted(names):
        raise ToolError(f"{s.name}: {len(listed)} of the {CREATED} created containers listed")
    return _wrk_step(ctx, f"{url}/containers/json?all=1")


def _remove(s: Session, names: Sequence[str]) -> None:
    present = set(s.run("ps", "-a", "--format", "{{.Names}}").split())
    mine = [n for n in names if n in present]
    if mine:
        s.run("rm", "-f", *mine)
