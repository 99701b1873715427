"""The peers (podman, skopeo, umoci), each bound to private state under tmp_path.

podman and skopeo write host paths whatever their flags say: the blob-info
cache in /var/lib/containers/cache, libpod's state in /run/libpod, netavark's
and CNI's locks under /etc, the SHM lock in /dev/shm. So every podman and
skopeo command runs in a private mount namespace of its own (``unshare -m``)
in which /etc, /run and /var are overlays whose upper layers live in the
test's tmp_path, and /dev/shm is a directory there: they read the host as
usual, and what they write stays in tmp_path and persists from one command to
the next. Their mounts (podman's overlays, a container's rootfs) live and die
with that namespace, so none can leak to the host's.

Two overlay mounts of one upper directory do not see each other's writes, so
a test whose processes outlive the command that started them (a detached
container's conmon writes its exit file later) calls :meth:`PeerEnv.hold`:
every later command then enters one held namespace instead of making its own.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Host directories whose writes the sandbox diverts into tmp_path.
DIVERTED = ("/etc", "/run", "/var")

# podman lowers its own hard RLIMIT_NPROC to this, so a container cannot get more.
PODMAN_NPROC_CAP = 32768

# podman refuses a runroot longer than 50 characters (its sockets' paths must fit
# sun_path), which tmp_path is. The sandbox's /run is private and lives in
# tmp_path, so a short path there is as private as tmp_path itself.
PODMAN_RUNROOT = "/run/pinnace-interop-podman"

# Entered as ``sh -c SCRIPT sh SANDBOX CMD...``: lay the overlays, then become CMD.
_SANDBOX_SCRIPT = """
set -e
sandbox=$1
shift
for dir in @DIVERTED@; do
    layer=$sandbox/$(echo "${dir#/}" | tr / _)
    mkdir -p "$layer/upper" "$layer/work"
    mount -t overlay overlay -o "lowerdir=$dir,upperdir=$layer/upper,workdir=$layer/work" "$dir"
done
mkdir -p "$sandbox/shm"
mount --bind "$sandbox/shm" /dev/shm
exec "$@"
""".replace("@DIVERTED@", " ".join(DIVERTED))


def require(tool: str) -> str:
    """The path of a peer's binary; skips the test when the peer is not installed."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")
    return path


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below directory in the test's (the host's) mount namespace."""
    from pinnace.mount.flags import mount_points

    prefix = str(directory.resolve())
    return [p for p in mount_points() if p == prefix or p.startswith(prefix + "/")]


@dataclass
class Peer:
    """One peer's command line, run in the sandbox with a private environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.argv, *args],
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{self.name} {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc


@dataclass
class PeerEnv:
    """The private state shared by the sandboxed peers of one test."""

    base: Path

    def __post_init__(self) -> None:
        base = str(self.base.resolve())
        for directory in DIVERTED:
            if base == directory or base.startswith(directory + "/"):
                raise RuntimeError(f"tmp_path {base} is under {directory}, which the sandbox hides")
        self.sandbox = self.base / "sandbox"
        self.sandbox.mkdir(parents=True)
        home = self.base / "home"
        # c/image reads $HOME/.config/containers/policy.json before /etc's: the peers
        # accept any image whatever the host's policy says.
        (home / ".config" / "containers").mkdir(parents=True)
        (home / ".config" / "containers" / "policy.json").write_text(
            '{"default": [{"type": "insecureAcceptAnything"}]}\n', encoding="utf-8"
        )
        registries = self.base / "registries.conf"
        registries.write_text("", encoding="utf-8")  # no registry, no short-name alias: never pull
        self.env = {"HOME": str(home), "CONTAINERS_REGISTRIES_CONF": str(registries)}
        self.holder: subprocess.Popen[str] | None = None

    def wrap(self, *argv: str) -> list[str]:
        """argv run in a private mount namespace with /etc, /run, /var and /dev/shm diverted."""
        if self.holder is not None:
            return ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", "--", *argv]
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", _SANDBOX_SCRIPT, "sh", str(self.sandbox), *argv,
        ]  # fmt: skip

    def hold(self) -> None:
        """From now on run every command in one sandbox, held open by a sleeping process."""
        holder = subprocess.Popen(
            self.wrap("sh", "-c", "echo ready; exec sleep infinity"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        if holder.stdout.readline() != "ready\n":
            holder.kill()
            raise AssertionError(f"the sandbox did not start (exit status {holder.wait()})")
        self.holder = holder

    def release(self) -> None:
        """End the held sandbox (its mounts go when its last process, the holder or a conmon, exits)."""
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
            if self.holder.stdout is not None:
                self.holder.stdout.close()
            self.holder = None


def _hard_limit(kind: int, cap: int) -> int:
    hard = resource.getrlimit(kind)[1]
    return cap if hard == resource.RLIM_INFINITY else min(hard, cap)


def _podman_conf(base: Path) -> dict[str, str]:
    """containers.conf and storage.conf for this machine, written under base; returns their env."""
    nofile = _hard_limit(resource.RLIMIT_NOFILE, 1 << 20)
    nproc = _hard_limit(resource.RLIMIT_NPROC, PODMAN_NPROC_CAP)
    containers_conf = base / "containers.conf"
    containers_conf.write_text(
        "[containers]\n"
        # podman asks for 1048576 files and processes; raising a hard limit needs
        # CAP_SYS_RESOURCE, which root lacks here ("error setting rlimits").
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        # crun refuses the hybrid cgroup v1 hierarchy; runc copes.
        'runtime = "runc"\n'
        # The runtimes podman passes `--log FILE --log-format=json` (matched by base name).
        'runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "pinnace-runtime"]\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n',
        encoding="utf-8",
    )
    storage_conf = base / "storage.conf"
    storage_conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{base / "storage"}"\nrunroot = "{PODMAN_RUNROOT}"\n',
        encoding="utf-8",
    )
    return {"CONTAINERS_CONF": str(containers_conf), "CONTAINERS_STORAGE_CONF": str(storage_conf)}


@pytest.fixture
def peer_env(tmp_path: Path) -> PeerEnv:
    return PeerEnv(tmp_path / "peers")


@pytest.fixture
def podman(peer_env: PeerEnv) -> Iterator[Peer]:
    """podman with its own store; reset, and checked to leave no mount, at the end."""
    binary = require("podman")
    base = peer_env.base / "podman"
    base.mkdir()
    argv = peer_env.wrap(
        binary,
        "--root", str(base / "storage"),
        "--runroot", PODMAN_RUNROOT,
        "--storage-driver", "overlay",
        "--cgroup-manager", "cgroupfs",
        "--events-backend", "file",
    )  # fmt: skip
    peer = Peer("podman", argv, {**peer_env.env, **_podman_conf(base)})
    had_parent = _libpod_cgroups()
    yield peer
    peer.run("system", "reset", "--force")
    if not had_parent:
        _remove_libpod_cgroups()
    leaked = mounts_under(peer_env.base)
    assert not leaked, f"mounts left under {peer_env.base}: {leaked}"


@pytest.fixture
def buildah(podman: Peer, peer_env: PeerEnv) -> Peer:
    """buildah on podman's store (podman imports its base images; podman's reset cleans both)."""
    binary = require("buildah")
    base = peer_env.base / "podman"
    argv = peer_env.wrap(
        binary, "--root", str(base / "storage"), "--runroot", PODMAN_RUNROOT, "--storage-driver", "overlay"
    )
    return Peer("buildah", argv, dict(podman.env))


def _libpod_cgroups() -> list[Path]:
    """podman's cgroupfs parent (``libpod_parent``) in every hierarchy: the cgroup tree is not sandboxed."""
    return sorted(Path("/sys/fs/cgroup").glob("*/libpod_parent"))


def _remove_libpod_cgroups() -> None:
    """Remove the libpod_parent trees podman made for this test, deepest first, if they are empty."""
    for parent in _libpod_cgroups():
        for directory in sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            parent.rmdir()


@pytest.fixture
def skopeo(peer_env: PeerEnv) -> Peer:
    return Peer("skopeo", peer_env.wrap(require("skopeo")), peer_env.env)


@pytest.fixture
def umoci() -> Peer:
    # umoci writes only the layout and bundle it is given: no sandbox needed.
    return Peer("umoci", [require("umoci")])
