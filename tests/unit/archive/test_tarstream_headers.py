"""The direct ustar header parser gives exactly what tarfile gives."""

from __future__ import annotations

import tarfile

import pytest

from pinnace.archive.tarstream import _plain_header


def _info(name: str, kind: bytes, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


CASES = [
    _info(
        "etc/passwd",
        tarfile.REGTYPE,
        size=1234,
        mode=0o644,
        uid=0,
        gid=0,
        mtime=1_700_000_000,
        uname="root",
        gname="root",
    ),
    _info("usr/bin", tarfile.DIRTYPE, mode=0o755, uid=1000, gid=1000, mtime=1),
    _info("bin/sh", tarfile.SYMTYPE, linkname="busybox", mode=0o777),
    _info("bin/ls", tarfile.LNKTYPE, linkname="bin/busybox"),
    _info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
    _info("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
    _info("run/fifo", tarfile.FIFOTYPE, mode=0o600),
    _info("a/" * 60 + "deep-name-in-the-prefix-field", tarfile.REGTYPE, size=1),
    _info("setuid", tarfile.REGTYPE, mode=0o4755, size=0),
    _info("utf8-é", tarfile.REGTYPE, size=3),
]
FIELDS = (
    "name",
    "type",
    "size",
    "mode",
    "uid",
    "gid",
    "mtime",
    "linkname",
    "uname",
    "gname",
    "devmajor",
    "devminor",
    "offset",
    "offset_data",
)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name[:20])
def test_same_as_tarfile(case: tarfile.TarInfo, fmt: int) -> None:
    buf = case.tobuf(fmt, "utf-8", "surrogateescape")
    if len(buf) != tarfile.BLOCKSIZE:
        pytest.skip("needs an extended header: tarfile's path")
    ours = _plain_header(buf, 512)
    theirs = tarfile.TarInfo.frombuf(buf, "utf-8", "surrogateescape")
    theirs.offset, theirs.offset_data = 0, 512
    assert ours is not None
    assert {f: getattr(ours, f) for f in FIELDS} == {f: getattr(theirs, f) for f in FIELDS}


def test_unusual_headers_go_to_tarfile() -> None:
    pax = _info("x" * 200, tarfile.REGTYPE, size=1).tobuf(tarfile.PAX_FORMAT)
    assert _plain_header(pax[:512], 512) is None  # the 'x' extended header
    good = bytearray(_info("f", tarfile.REGTYPE, size=1).tobuf(tarfile.USTAR_FORMAT))
    good[0] ^= 1  # checksum no longer matches
    assert _plain_header(bytes(good), 512) is None
    assert _plain_header(b"\0" * 512, 512) is None
    big = _info("huge", tarfile.REGTYPE, size=1 << 40).tobuf(tarfile.GNU_FORMAT)  # base-256 size
    assert _plain_header(big, 512) is None
