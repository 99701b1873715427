"""apply_layer: each entry kind lands with its metadata; hashing and tee see every byte."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from tests.unit.archive.archive_tarbuild import entry, make_tar

from pinnace.archive import apply_layer
from pinnace.errors import InvalidArgument

DIR, SYM, LNK, FIFO = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE
NS = 1_000_000_000


def apply(data: bytes, dest: Path) -> None:
    apply_layer(io.BytesIO(data), dest)


def test_regular_file(tmp_path: Path) -> None:
    apply(make_tar(entry("f", data=b"hello", mode=0o2640, mtime=1234)), tmp_path)
    st = os.lstat(tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"hello"
    assert stat.S_IMODE(st.st_mode) == 0o2640 and stat.S_ISREG(st.st_mode)
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert st.st_mtime_ns == 1234 * NS


def test_big_file_spans_many_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 << 20) + b"end"
    apply(make_tar(entry("big", data=data)), tmp_path)
    assert (tmp_path / "big").read_bytes() == data


def test_directory_times_are_set_after_their_contents(tmp_path: Path) -> None:
    apply(
        make_tar(entry("d/", DIR, mode=0o700, mtime=100), entry("d/f", data=b"x"), entry("d/e/", DIR)),
        tmp_path,
    )
    st = os.lstat(tmp_path / "d")
    assert st.st_mtime_ns == 100 * NS and stat.S_IMODE(st.st_mode) == 0o700


def test_pax_subsecond_mtime(tmp_path: Path) -> None:
    info, data = entry("f", data=b"x")
    info.pax_headers = {"mtime": "1600000000.123456789"}
    apply(make_tar((info, data)), tmp_path)
    assert os.lstat(tmp_path / "f").st_mtime_ns == 1600000000_123456789


def test_root_entry_sets_root_metadata(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    apply(make_tar(entry("./", DIR, mode=0o751, mtime=42), entry("f")), dest)
    st = os.lstat(dest)
    assert stat.S_IMODE(st.st_mode) == 0o751 and st.st_mtime_ns == 42 * NS


def test_entries_before_their_parents(tmp_path: Path) -> None:
    apply(make_tar(entry("a/b/c", data=b"x"), entry("a/", DIR, mode=0o700)), tmp_path)
    assert (tmp_path / "a" / "b" / "c").read_bytes() == b"x"
    assert stat.S_IMODE(os.lstat(tmp_path / "a").st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(tmp_path / "a" / "b").st_mode) == 0o755


def test_later_entries_replace_earlier_ones(tmp_path: Path) -> None:
    apply(
        make_tar(
            entry("f", data=b"first"),
            entry("f", data=b"second"),
            entry("d/", DIR),
            entry("d/x", data=b"x"),
            entry("d", data=b"now a file"),
            entry("e", data=b"a file"),
            entry("e/", DIR),
            entry("m/", DIR, mode=0o700),
            entry("m/keep", data=b"k"),
            entry("m/", DIR, mode=0o750),
        ),
        tmp_path,
    )
    assert (tmp_path / "f").read_bytes() == b"second"
    assert (tmp_path / "d").read_bytes() == b"now a file"
    assert (tmp_path / "e").is_dir()
    assert (tmp_path / "m" / "keep").read_bytes() == b"k"  # a dir over a dir merges
    assert stat.S_IMODE(os.lstat(tmp_path / "m").st_mode) == 0o750


def test_symlink(tmp_path: Path) -> None:
    apply(make_tar(entry("l", SYM, linkname="../../nowhere", mtime=77)), tmp_path)
    st = os.lstat(tmp_path / "l")
    assert stat.S_ISLNK(st.st_mode) and os.readlink(tmp_path / "l") == "../../nowhere"
    assert st.st_mtime_ns == 77 * NS


def test_hardlink(tmp_path: Path) -> None:
    apply(
        make_tar(entry("a/f", data=b"x", mode=0o600), entry("b/h", LNK, linkname="a/f", mode=0o600)), tmp_path
    )
    a, b = os.lstat(tmp_path / "a" / "f"), os.lstat(tmp_path / "b" / "h")
    assert a.st_ino == b.st_ino and a.st_nlink == 2


def test_hardlink_to_symlink_links_the_symlink(tmp_path: Path) -> None:
    apply(make_tar(entry("s", SYM, linkname="target"), entry("h", LNK, linkname="s")), tmp_path)
    assert os.lstat(tmp_path / "s").st_ino == os.lstat(tmp_path / "h").st_ino
    assert os.readlink(tmp_path / "h") == "target"


def test_fifo(tmp_path: Path) -> None:
    apply(make_tar(entry("p", FIFO, mode=0o640)), tmp_path)
    st = os.lstat(tmp_path / "p")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_long_names(tmp_path: Path, fmt: int) -> None:
    name = "/".join(["d" * 60] * 4) + "/" + "f" * 150
    target = "t" * 200
    apply(
        make_tar(
            entry(name, data=b"x"),
            entry("l", SYM, linkname=target),
            entry("h", LNK, linkname=name),
            format=fmt,
        ),
        tmp_path,
    )
    assert (tmp_path / name).read_bytes() == b"x"
    assert os.readlink(tmp_path / "l") == target
    assert os.lstat(tmp_path / "h").st_ino == os.lstat(tmp_path / name).st_ino


def test_non_utf8_name(tmp_path: Path) -> None:
    name = b"caf\xe9".decode("utf-8", "surrogateescape")
    apply(make_tar(entry(name, data=b"x"), format=tarfile.GNU_FORMAT), tmp_path)
    assert os.listdir(os.fsencode(tmp_path)) == [b"caf\xe9"]


def test_user_xattrs(tmp_path: Path) -> None:
    value = b"\x00\x01\xffbinary"
    info, data = entry("f", data=b"x")
    info.pax_headers = {"SCHILY.xattr.user.test": value.decode("utf-8", "surrogateescape")}
    dinfo, _ = entry("d/", DIR)
    dinfo.pax_headers = {"SCHILY.xattr.user.dir": "v"}
    try:
        os.setxattr(tmp_path, "user.probe", b"1")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    apply(make_tar((info, data), (dinfo, b"")), tmp_path)
    assert os.getxattr(tmp_path / "f", "user.test") == value
    assert os.getxattr(tmp_path / "d", "user.dir") == b"v"


def test_unknown_entry_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match='unhandled tar header type .* entry "v"'):
        apply(make_tar(entry("v", b"V")), tmp_path)


# -- the stream: diff ID, size, tee, padding, corruption -----------------------


def test_diff_id_covers_every_uncompressed_byte_and_tee_every_raw_byte(tmp_path: Path) -> None:
    raw_tar = make_tar(entry("f", data=os.urandom(100_000)), entry("d/", DIR)) + bytes(
        10240
    )  # padding after EOF
    for layer in (raw_tar, gzip.compress(raw_tar), zstandard.compress(raw_tar)):
        dest = tmp_path / str(len(layer))
        dest.mkdir()
        seen: list[bytes] = []
        result = apply_layer(io.BytesIO(layer), dest, tee=seen.append)
        assert result.diff_id == "sha256:" + hashlib.sha256(raw_tar).hexdigest()
        assert result.size == len(raw_tar)
        assert b"".join(seen) == layer
        assert all(isinstance(chunk, bytes) for chunk in seen)


def test_empty_stream_is_an_empty_layer(tmp_path: Path) -> None:
    result = apply_layer(io.BytesIO(b""), tmp_path)
    assert result.diff_id == "sha256:" + hashlib.sha256(b"").hexdigest() and result.size == 0
    assert os.listdir(tmp_path) == []


def test_archive_without_end_blocks_is_accepted(tmp_path: Path) -> None:
    data = make_tar(entry("f", data=b"x"))
    apply(data[: 512 * 2], tmp_path)  # header + one data block, no zero blocks
    assert (tmp_path / "f").read_bytes() == b"x"


@pytest.mark.parametrize("cut", [100, 512 + 300, 512 * 3 + 10])
def test_truncated_tar(tmp_path: Path, cut: int) -> None:
    data = make_tar(entry("f", data=os.urandom(2000)), entry("g", data=b"y"))
    with pytest.raises(InvalidArgument, match="layer: unexpected EOF"):
        apply(data[:cut], tmp_path)


def test_truncated_compressed_layer(tmp_path: Path) -> None:
    data = gzip.compress(make_tar(entry("f", data=os.urandom(20000))))
    with pytest.raises(InvalidArgument, match="unexpected EOF"):
        apply(data[:-20], tmp_path)


def test_bad_checksum(tmp_path: Path) -> None:
    data = bytearray(make_tar(entry("f", data=b"x")))
    data[0] ^= 1
    with pytest.raises(InvalidArgument, match="invalid tar header"):
        apply(bytes(data), tmp_path)


def test_not_a_tar(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="layer"):
        apply(os.urandom(4096), tmp_path)


# -- GNU sparse files, made by GNU tar -----------------------------------------


def data_regions(path: Path) -> list[tuple[int, int]]:
    regions, fd = [], os.open(path, os.O_RDONLY)
    try:
        end, pos = os.fstat(fd).st_size, 0
        while pos < end:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            pos = os.lseek(fd, start, os.SEEK_HOLE)
            regions.append((start, pos))
    finally:
        os.close(fd)
    return regions


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")
@pytest.mark.parametrize(
    "args",
    [
        ["--format=gnu"],
        ["--format=posix", "--sparse-version=0.0"],
        ["--format=posix", "--sparse-version=0.1"],
        ["--format=posix", "--sparse-version=1.0"],
    ],
)
def test_sparse_files(tmp_path: Path, args: list[str]) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    size, chunk = 16 << 20, os.urandom(1 << 16)
    with open(src / "sparse", "wb") as f:
        f.truncate(size)
        f.seek(1 << 20)
        f.write(chunk)
        f.seek(10 << 20)
        f.write(chunk)
    if len(data_regions(src / "sparse")) != 2:
        pytest.skip("filesystem without holes")
    archive = subprocess.run(
        ["tar", "-c", "--sparse", *args, "-C", str(src), "sparse"], capture_output=True, check=True
    ).stdout
    assert len(archive) < 1 << 20
    apply(archive, dest)
    assert os.lstat(dest / "sparse").st_size == size
    assert data_regions(dest / "sparse") == data_regions(src / "sparse")
    assert (dest / "sparse").read_bytes() == (src / "sparse").read_bytes()


@pytest.mark.parametrize(
    "compress", [lambda d: d, gzip.compress, zstandard.compress], ids=["none", "gzip", "zstd"]
)
def test_unbuffered_pipe_with_short_reads(tmp_path: Path, compress) -> None:
    import threading

    content = os.urandom(3 << 20)
    raw_tar = make_tar(entry("d/", DIR), entry("d/f", data=content), entry("g", data=b"x" * 700))
    layer = compress(raw_tar)
    r, w = os.pipe()

    def feed() -> None:
        with open(w, "wb", buffering=0) as out:
            for i in range(0, len(layer), 3000):
                out.write(layer[i : i + 3000])

    thread = threading.Thread(target=feed)
    thread.start()
    try:
        with open(r, "rb", buffering=0) as stream:
            seen: list[bytes] = []
            result = apply_layer(stream, tmp_path, tee=seen.append)
    finally:
        thread.join()
    assert b"".join(seen) == layer
    assert result.diff_id == "sha256:" + hashlib.sha256(raw_tar).hexdigest()
    assert (tmp_path / "d" / "f").read_bytes() == content
    assert (tmp_path / "g").read_bytes() == b"x" * 700
