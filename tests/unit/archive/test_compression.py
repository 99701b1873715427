from __future__ import annotations

import gzip
import io
import os
import threading
from collections.abc import Iterator

import pytest
import zstandard

from pinnace.archive import open_decompressed
from pinnace.archive.zstd import FrameWalker
from pinnace.errors import InvalidArgument

PAYLOAD = os.urandom(300_000) + bytes(700_000) + b"tail"


def read_all(data: bytes) -> tuple[bytes, str]:
    reader, kind = open_decompressed(io.BytesIO(data))
    return reader.read(), kind


@pytest.fixture
def pipe_of() -> Iterator[object]:
    """A non-seekable file object (a pipe) fed ``data`` by a thread."""
    threads: list[threading.Thread] = []

    def make(data: bytes) -> io.BufferedReader:
        r, w = os.pipe()

        def feed() -> None:
            with open(w, "wb") as out:
                for i in range(0, len(data), 7000):  # small writes: short reads on the other side
                    out.write(data[i : i + 7000])
                    out.flush()

        thread = threading.Thread(target=feed)
        thread.start()
        threads.append(thread)
        return open(r, "rb")

    yield make
    for thread in threads:
        thread.join()


def test_plain_passes_through() -> None:
    assert read_all(PAYLOAD) == (PAYLOAD, "none")


def test_empty_and_tiny_streams() -> None:
    assert read_all(b"") == (b"", "none")
    assert read_all(b"\x1f") == (b"\x1f", "none")


def test_gzip() -> None:
    assert read_all(gzip.compress(PAYLOAD)) == (PAYLOAD, "gzip")


def test_gzip_multi_member_and_zero_padding() -> None:
    data = gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:]) + bytes(512)
    assert read_all(data) == (PAYLOAD, "gzip")


def test_zstd_multi_frame_with_skippable_frames() -> None:
    skippable = b"\x50\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"12345"
    cctx = zstandard.ZstdCompressor(write_checksum=True)
    data = skippable + cctx.compress(PAYLOAD[:5000]) + skippable + cctx.compress(PAYLOAD[5000:]) + skippable
    assert read_all(data) == (PAYLOAD, "zstd")


def test_zstd_streamed_frame_without_content_size() -> None:
    out = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(out, closefd=False) as writer:
        writer.write(PAYLOAD)
    assert read_all(out.getvalue()) == (PAYLOAD, "zstd")


@pytest.mark.parametrize("kind", ["none", "gzip", "zstd"])
def test_pipe_input(pipe_of, kind: str) -> None:
    data = {"none": PAYLOAD, "gzip": gzip.compress(PAYLOAD), "zstd": zstandard.compress(PAYLOAD)}[kind]
    with pipe_of(data) as stream:
        reader, found = open_decompressed(stream)
        assert (reader.read(), found) == (PAYLOAD, kind)


def test_reads_are_bounded_against_bombs() -> None:
    bomb = gzip.compress(bytes(50 << 20))
    reader, _ = open_decompressed(io.BytesIO(bomb))
    assert len(reader.read(4096)) == 4096
    bomb = zstandard.compress(bytes(50 << 20))
    reader, _ = open_decompressed(io.BytesIO(bomb))
    assert len(reader.read(4096)) == 4096


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(gzip.compress(PAYLOAD)[:-9], id="gzip-truncated"),
        pytest.param(gzip.compress(PAYLOAD)[:5000], id="gzip-cut-early"),
        pytest.param(zstandard.compress(PAYLOAD)[:-3], id="zstd-truncated"),
        pytest.param(zstandard.compress(PAYLOAD)[:5000], id="zstd-cut-early"),
    ],
)
def test_truncated_is_unexpected_eof(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="unexpected EOF"):
        read_all(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(gzip.compress(PAYLOAD) + b"garbage", id="gzip-trailing-garbage"),
        pytest.param(b"\x1f\x8b\x08\x00" + os.urandom(64), id="gzip-corrupt"),
        pytest.param(zstandard.compress(PAYLOAD) + b"garbage", id="zstd-trailing-garbage"),
    ],
)
def test_corrupt_is_invalid_argument(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="layer: (gzip|zstd)"):
        read_all(data)


def test_frame_walker_tracks_boundaries_byte_by_byte() -> None:
    data = zstandard.ZstdCompressor(write_checksum=True).compress(PAYLOAD)
    walker = FrameWalker()
    for i in range(len(data)):
        assert not walker.complete or i == 0
        walker.feed(data[i : i + 1])
    assert walker.complete
