"""The tools a benchmark times, each opened on storage of its own.

A Tool says whether it can run on this machine and opens Sessions; a Session is
the tool bound to a private, temporary store (pinnace and podman) or, for
docker, to a daemon's store (the private dockerd the runner starts for the run,
bench/dockerd.py, or one already running), which the session cleans of the
images the benchmark created. Sessions run untimed helper commands themselves and hand
the runner the argv of the timed one. One pseudo-tool, ``host``, runs no engine at
all: the baseline a case measures the engines' overhead against (bench/volumes.py:
a directory on the scratch disk; bench/network.py: the loopback).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import sandbox

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

# Every image a benchmark creates is named under this repository, so a
# shared store (docker's daemon) can be cleaned of exactly those.
IMAGE_NAMESPACE = "pinnace-bench"
#: Start-up and density cases run every engine without networking, so they measure the engine
#: (bench/network.py measures what a bridge adds, each engine on a network of its own).
NO_NETWORK = ("--network", "none")

# Podman lowers RLIMIT_NPROC to this for conmon and the runtime it starts.
_PODMAN_NPROC_CAP = 32768
# Flags that only say where a session's state lives.
_STORAGE_FLAGS = frozenset({"--root", "--runroot", "--storage-driver"})


class ToolError(Exception):
    """A tool could not do its part in a case: reported against that tool, never fatal."""


class CommandFailed(ToolError):
    """A tool's command exited non-zero; the message ends with its last line of stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "(no message)"
        super().__init__(f"`{_short(argv)}` exited {returncode}: {last}")
        self.returncode = returncode


def _short(argv: Sequence[str]) -> str:
    """argv without the storage flags and with paths cut to their names: readable in a table."""
    out = [Path(argv[0]).name]
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in _STORAGE_FLAGS:
            skip = True
        else:
            out.append(Path(arg).name if arg.startswith("/") else arg)
    return " ".join(out)


@dataclass
class Session:
    """A tool bound to its own state for the length of one benchmark case."""

    name: str
    prefix: tuple[str, ...]
    env: Mapping[str, str]
    workdir: Path
    version: str = ""
    closer: Callable[[Session], None] | None = None
    closed: bool = field(default=False, init=False)

    def argv(self, *args: str) -> list[str]:
        """The full command line of `TOOL args...`, with this session's storage flags."""
        return [*self.prefix, *args]

    def run(self, *args: str) -> str:
        """Run `TOOL args...` untimed and return its stdout; raise CommandFailed if it fails."""
        argv = self.argv(*args)
        proc = subprocess.run(
            argv, env=dict(self.env), stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise CommandFailed(argv, proc.returncode, proc.stderr)
        return proc.stdout

    def close(self) -> None:
        """Drop the session's state (once); its workdir is gone afterwards."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.closer is not None:
                self.closer(self)
        finally:
            sandbox.unmount_under(self.workdir)
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass(frozen=True)
class Tool:
    """A tool the runner can time: pinnace or one of its peers."""

    name: str
    # Why the tool cannot run here, or None when it can.
    probe: Callable[[], str | None]
    # Open a session whose state lives in the given (new, empty) directory.
    open: Callable[[Path], Session]
    # Printed beside the tool's figures (e.g. where its storage lives).
    note: str = ""


def _base_env(workdir: Path) -> dict[str, str]:
    """The caller's environment, with temporary files kept in the session's directory."""
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp)}


def _first_line(argv: list[str], env: Mapping[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(
            argv, env=None if env is None else dict(env), capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    out = proc.stdout.strip()
    return out.splitlines()[0] if proc.returncode == 0 and out else ""


# pinnace ----------------------------------------------------------------------------------------


def pinnace_binary() -> Path | None:
    """The pinnace entry point of the interpreter running us (the venv's), or $PINNACE_BIN."""
    if "PINNACE_BIN" in os.environ:
        return Path(os.environ["PINNACE_BIN"])
    beside = Path(sys.executable).parent / "pinnace"
    if beside.exists():
        return beside
    found = shutil.which("pinnace")
    return Path(found) if found else None


def _pinnace_probe() -> str | None:
    binary = pinnace_binary()
    if binary is None or not os.access(binary, os.X_OK):
        return "not installed (no pinnace beside the venv's python nor on PATH)"
    return None


def _pinnace_opener(name: str) -> Callable[[Path], Session]:
    def open_session(workdir: Path) -> Session:
        binary = pinnace_binary()
        assert binary is not None
        prefix = (str(binary), "--root", str(workdir / "root"), "--runroot", str(workdir / "run"))
        env = _base_env(workdir)
        return Session(name, prefix, env, workdir, version=_first_line([*prefix, "--version"], env))

    return open_session


PINNACE = Tool("pinnace", _pinnace_probe, _pinnace_opener("pinnace"))
#: pinnace again, as the measure of the path a case's pinnace run takes without the engine's share
#: (bench/network.py's tcp-publish: the client to the container's own address, the veth's line rate).
VETH = Tool(
    "veth",
    _pinnace_probe,
    _pinnace_opener("veth"),
    note="a pinnace container reached at its own address on the bridge (no published port, no NAT)",
)


# podman -----------------------------------------------------------------------------------------


def _limit(kind: int, cap: int) -> int:
    hard = resource.getrlimit(kind)[1]
    return cap if hard == resource.RLIM_INFINITY else min(hard, cap)


def render_podman_conf(name: str, **values: object) -> str:
    """bench/podman/NAME with its @KEY@ placeholders replaced by values[KEY]."""
    text = (BENCH_DIR / "podman" / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    return text


def _podman_probe() -> str | None:
    return None if shutil.which("podman") else "not installed (apt-get install podman)"


def _podman_open(workdir: Path) -> Session:
    workdir.mkdir(parents=True, exist_ok=True)
    root, runroot = workdir / "root", workdir / "run"
    containers_conf = render_podman_conf(
        "containers.conf",
        NOFILE=_limit(resource.RLIMIT_NOFILE, 1 << 20),
        NPROC=_limit(resource.RLIMIT_NPROC, _PODMAN_NPROC_CAP),
    )
    (workdir / "containers.conf").write_text(containers_conf, encoding="utf-8")
    storage_conf = render_podman_conf("storage.conf", GRAPHROOT=root, RUNROOT=runroot)
    (workdir / "storage.conf").write_text(storage_conf, encoding="utf-8")
    env = {
        **_base_env(workdir),
        "CONTAINERS_CONF": str(workdir / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(workdir / "storage.conf"),
    }
    prefix = ("podman", "--root", str(root), "--runroot", str(runroot), "--storage-driver", "overlay")
    return Session("podman", prefix, env, workdir, _first_line(["podman", "--version"]), _podman_close)


def _podman_close(session: Session) -> None:
    # Unmounts podman's overlays and empties its store; whatever it leaves, close() unmounts.
    subprocess.run(
        session.argv("system", "reset", "--force"),
        env=dict(session.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )


PODMAN = Tool("podman", _podman_probe, _podman_open)


def _buildah_open(workdir: Path) -> Session:
    """buildah on a store of its own, with podman's containers.conf (runc, the hard rlimits)."""
    podman = _podman_open(workdir)
    prefix = ("buildah", *podman.prefix[1:])
    return Session(
        "buildah", prefix, podman.env, workdir, _first_line(["buildah", "--version"]), _buildah_close
    )


def _buildah_close(session: Session) -> None:
    for args in (("rm", "--all"), ("rmi", "--all", "--force")):
        subprocess.run(
            session.argv(*args),
            env=dict(session.env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )


BUILDAH = Tool(
    "buildah",
    lambda: None if shutil.which("buildah") else "not installed (apt-get install buildah)",
    _buildah_open,
    note="buildah bud with runc, on a containers-storage overlay store of its own",
)


# docker -----------------------------------------------------------------------------------------


def _docker_env(host: str | None) -> dict[str, str]:
    return {**os.environ, **({"DOCKER_HOST": host} if host else {})}


def docker_probe(host: str | None = None) -> str | None:
    """Why docker cannot run against host (default: the ambient DOCKER_HOST), or None."""
    if not shutil.which("docker"):
        return "not installed (apt-get install docker.io)"
    try:
        proc = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=_docker_env(host),
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "daemon not answering"
    if proc.returncode != 0:
        return "no daemon reachable, and no dockerd installed to start one (apt-get install docker.io)"
    return None


def _docker_close(session: Session) -> None:
    ids = []
    for pattern in (f"{IMAGE_NAMESPACE}/*", f"localhost/{IMAGE_NAMESPACE}/*"):
        ids += subprocess.run(
            ["docker", "images", "--quiet", "--filter", f"reference={pattern}"],
            env=dict(session.env),
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
    if ids:
        subprocess.run(
            ["docker", "rmi", "--force", *sorted(set(ids))],
            env=dict(session.env),
            capture_output=True,
            check=False,
        )


#: In a docker session's environment when its daemon also listens on the loopback: HOST:PORT.
DOCKER_TCP_ENV = "PINNACE_BENCH_DOCKER_TCP"


def docker_tool(host: str | None = None, *, unavailable: str | None = None, tcp: str = "") -> Tool:
    """docker against the daemon at host (a private one, bench/dockerd.py), else the ambient one.

    unavailable: why docker cannot run in this run at all; the probe reports it.
    tcp: the daemon's loopback listener (HOST:PORT), if it has one; sessions get it in
    $PINNACE_BENCH_DOCKER_TCP (bench/api.py's wrk cases).
    Either way a session cleans the daemon of the images the benchmark made.
    """

    def probe() -> str | None:
        return unavailable or docker_probe(host)

    def open_session(workdir: Path) -> Session:
        env = {**_base_env(workdir), **_docker_env(host), **({DOCKER_TCP_ENV: tcp} if tcp else {})}
        client = _first_line(["docker", "version", "--format", "{{.Client.Version}}"], env)
        server = _first_line(["docker", "version", "--format", "{{.Server.Version}}"], env)
        version = f"docker {client}, dockerd {server}"
        return Session("docker", ("docker",), env, workdir, version, _docker_close)

    if host:
        note = "a private dockerd started for this run, its store in the run's scratch directory"
    else:
        note = "uses its daemon's own store (no per-run isolation); benchmark images are removed after"
    return Tool("docker", probe, open_session, note=note)


DOCKER = docker_tool()

# OCI runtimes: pinnace-runtime and its peers runc and crun ------------------------------------


def runtime_tool(name: str, binary: str | None = None) -> Tool:
    """An OCI runtime driven through runc's command line, its state on a private tmpfs.

    The state root is a tmpfs, as /run is where engines keep it: on the
    scratch disk every state write would pay for ext4's journal instead.
    """

    def locate() -> str | None:
        if binary is not None:
            return binary
        beside = Path(sys.executable).parent / name
        return str(beside) if beside.exists() else shutil.which(name)

    def probe() -> str | None:
        return None if locate() else f"not installed (apt-get install {name})"

    def open_session(workdir: Path) -> Session:
        found = locate()
        assert found is not None
        state = workdir / "state"
        state.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", str(state)], check=True)
        prefix = (found, "--root", str(state))
        return Session(name, prefix, _base_env(workdir), workdir, _first_line([found, "--version"]))

    return Tool(name, probe, open_session, note="state root on a private tmpfs")


PINNACE_RUNTIME = runtime_tool("pinnace-runtime")
RUNC = runtime_tool("runc")
CRUN = runtime_tool("crun")

# host: no engine at all ---------------------------------------------------------------------------


def _host_open(workdir: Path) -> Session:
    """A session whose argv is the command itself, run directly on the host: a case's baseline.

    Its state is a plain directory on the scratch disk, the filesystem the
    engines' stores are on, so what a case does there is what the engines'
    volumes do minus the engine.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    return Session("host", (), _base_env(workdir), workdir, version="(no engine)")


HOST = Tool(
    "host",
    lambda: None,
    _host_open,
    note="no engine: the same command on the host (a scratch directory; the loopback for network cases)",
)

# skopeo: images between registries and directories, no engine ------------------------------------


def _skopeo_open(workdir: Path) -> Session:
    workdir.mkdir(parents=True, exist_ok=True)
    return Session("skopeo", ("skopeo",), _base_env(workdir), workdir, _first_line(["skopeo", "--version"]))


SKOPEO = Tool(
    "skopeo",
    lambda: None if shutil.which("skopeo") else "not installed (apt-get install skopeo)",
    _skopeo_open,
    note="copies between a registry and a directory: it stores blobs, unpacks nothing",
)

# distribution: CNCF distribution (docker-registry), the registry server's peer ---------------------


def _distribution_open(workdir: Path) -> Session:
    workdir.mkdir(parents=True, exist_ok=True)
    version = _first_line(["docker-registry", "--version"])
    return Session("distribution", (), _base_env(workdir), workdir, version)


DISTRIBUTION = Tool(
    "distribution",
    lambda: None if shutil.which("docker-registry") else "not installed (apt-get install docker-registry)",
    _distribution_open,
    note="CNCF distribution (docker-registry) on 127.0.0.1, filesystem storage, no cache",
)

TOOLS: Mapping[str, Tool] = {
    t.name: t
    for t in (PINNACE, VETH, PODMAN, BUILDAH, DOCKER, SKOPEO, DISTRIBUTION, PINNACE_RUNTIME, RUNC, CRUN, HOST)
}


def docker_socket() -> Path | None:
    """The unix socket docker talks to, so the sandbox can keep it reachable."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return Path(host.removeprefix("unix://")) if host.startswith("unix://") else None
