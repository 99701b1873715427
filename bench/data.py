"""Deterministic benchmark inputs: root filesystem tarballs, generated once and cached.

The big rootfs stands in for a real distribution image: a few thousand files
of seeded random contents (half compressible text, half incompressible
"binaries"), nested directories, symlinks, hardlinks, a few large files, and
the host's static busybox with its applet links. The same seed and size give
the same bytes on every run (for one busybox), so figures from different
runs measure the same work.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import random
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Bump when the generator changes, so stale cached tarballs are not reused.
GENERATOR_VERSION = 1
BUSYBOX = Path("/bin/busybox")
MTIME = 1_700_000_000  # fixed, for reproducible tarballs
MIB = 1 << 20

_DIRS = (
    ("bin", 0o755),
    ("sbin", 0o755),
    ("etc", 0o755),
    ("root", 0o700),
    ("tmp", 0o1777),
    ("home", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("run", 0o755),
    ("var/log", 0o755),
    ("var/lib", 0o755),
)
_PACKAGE_ROOTS = ("usr/lib", "usr/share", "usr/libexec", "etc", "opt", "var/lib")
_SUBDIRS = ("lib", "share", "doc", "conf", "data", "x")
_SUFFIXES = (".so", ".conf", ".txt", ".py", "")


@dataclass(frozen=True)
class _Entry:
    path: str
    kind: bytes  # a tarfile type
    mode: int
    data: bytes = b""
    link: str = ""


def _cached(path: Path, write: Callable[[Path], None]) -> Path:
    """path, written by write(tmp) and renamed into place unless already there."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_tar(path: Path, entries: Iterator[_Entry]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.path)
            info.type, info.mode, info.mtime = e.kind, e.mode, MTIME
            info.uname = info.gname = "root"
            info.linkname = e.link
            info.size = len(e.data) if e.kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(e.data) if e.kind == tarfile.REGTYPE else None)


def _busybox() -> tuple[bytes, list[str]]:
    if not BUSYBOX.is_file():
        raise FileNotFoundError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    return BUSYBOX.read_bytes(), sorted(a for a in applets.stdout.split() if a != "busybox")


def _text_pool(rng: random.Random, size: int) -> bytes:
    """Word salad over a seeded vocabulary: compresses like real text and config files."""
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(3000)]
    words = rng.choices(vocab, k=size // 5)
    lines = (" ".join(words[i : i + 12]) for i in range(0, len(words), 12))
    return ("\n".join(lines) + "\n").encode()[:size].ljust(size, b"\n")


def _big_entries(size_mb: int, seed: int) -> Iterator[_Entry]:
    rng = random.Random(seed)
    budget = size_mb * MIB
    busybox, applets = _busybox()
    pool = _text_pool(rng, 4 * MIB)
    doubled = pool + pool
    seen: set[str] = set()

    def text(n: int) -> bytes:
        if n > len(pool):
            return (pool * (n // len(pool) + 1))[:n]
        start = rng.randrange(len(pool))
        return doubled[start : start + n]

    def mkdirs(path: str, mode: int = 0o755) -> Iterator[_Entry]:
        """Entries for path and its ancestors not yet in the tarball, parents first."""
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in seen:
                seen.add(d)
                yield _Entry(d, tarfile.DIRTYPE, mode if d == path else 0o755)

    for d, mode in _DIRS:
        yield from mkdirs(d, mode)
    yield _Entry("bin/busybox", tarfile.REGTYPE, 0o755, busybox)
    for applet in applets:
        yield _Entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
    budget -= len(busybox)

    # A few large files (a locale archive, a toolchain's libraries): about 40 % of the bytes.
    yield from mkdirs("usr/lib")
    large = max(1, size_mb // 25)
    n = int(budget * 0.4 / large)
    for i in range(large):
        if i == 0:
            yield _Entry("usr/lib/locale-archive", tarfile.REGTYPE, 0o644, text(n))
        else:
            yield _Entry(f"usr/lib/libbig{i}.so.1", tarfile.REGTYPE, 0o644, rng.randbytes(n))
            yield _Entry(f"usr/lib/libbig{i}.so", tarfile.SYMTYPE, 0o777, link=f"libbig{i}.so.1")
        budget -= n

    # Packages of many small files, long-tailed sizes (median 4 KiB, mean ~11 KiB),
    # half text and half incompressible; some symlinks, a rare hardlink.
    pkg = 0
    while budget > 0:
        pkg += 1
        dirs = [f"{rng.choice(_PACKAGE_ROOTS)}/pkg{pkg:03d}"]
        for _ in range(rng.randint(0, 4)):
            dirs.append(f"{rng.choice(dirs)}/{rng.choice(_SUBDIRS)}{pkg}")
        for d in dirs:
            yield from mkdirs(d)
        for i in range(rng.randint(5, 40)):
            n = max(0, min(int(rng.lognormvariate(math.log(4096), 1.4)), MIB, budget))
            path = f"{rng.choice(dirs)}/f{i}{rng.choice(_SUFFIXES)}"
            if rng.random() < 0.5:
                yield _Entry(path, tarfile.REGTYPE, 0o755, rng.randbytes(n))
            else:
                yield _Entry(path, tarfile.REGTYPE, 0o644, text(n))
            budget -= n
            if rng.random() < 0.05:
                yield _Entry(f"{path}.link", tarfile.SYMTYPE, 0o777, link=path.rsplit("/", 1)[1])
            if rng.random() < 0.002:
                yield _Entry(f"{path}.hard", tarfile.LNKTYPE, 0o644, link=path)
    yield _Entry("etc/hostname", tarfile.REGTYPE, 0o644, b"pinnace-bench\n")


def rootfs_tar(cache: Path, size_mb: int = 100, seed: int = 1) -> Path:
    """The big rootfs tarball (about size_mb MiB of file contents), cached in cache."""
    digest = hashlib.sha256(BUSYBOX.read_bytes()).hexdigest()[:12] if BUSYBOX.is_file() else "none"
    path = cache / f"rootfs-v{GENERATOR_VERSION}-{size_mb}mb-s{seed}-bb{digest}.tar"
    return _cached(path, lambda tmp: _write_tar(tmp, _big_entries(size_mb, seed)))


def small_rootfs_tar(cache: Path, index: int) -> Path:
    """A tiny rootfs tarball, distinct for every index (so images get distinct IDs)."""
    rng = random.Random(f"small-{index}")

    def entries() -> Iterator[_Entry]:
        for d in ("etc", "usr", "usr/share", "usr/share/bench"):
            yield _Entry(d, tarfile.DIRTYPE, 0o755)
        yield _Entry("etc/bench-id", tarfile.REGTYPE, 0o644, f"{index}\n".encode())
        yield _Entry("usr/share/bench/blob", tarfile.REGTYPE, 0o644, rng.randbytes(4096))

    path = cache / f"small-v{GENERATOR_VERSION}-{index:03d}.tar"
    return _cached(path, lambda tmp: _write_tar(tmp, entries()))


def busybox_rootfs_tar(cache: Path) -> Path:
    """busybox with its applet links and an /etc/passwd: the image containers run in the benches."""

    def entries() -> Iterator[_Entry]:
        busybox, applets = _busybox()
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
            yield _Entry(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755)
        yield _Entry("bin/busybox", tarfile.REGTYPE, 0o755, busybox)
        for applet in applets:
            yield _Entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        yield _Entry("etc/passwd", tarfile.REGTYPE, 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        yield _Entry("etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\n")

    digest = hashlib.sha256(BUSYBOX.read_bytes()).hexdigest()[:12] if BUSYBOX.is_file() else "none"
    return _cached(
        cache / f"busybox-v{GENERATOR_VERSION}-bb{digest}.tar", lambda tmp: _write_tar(tmp, entries())
    )
