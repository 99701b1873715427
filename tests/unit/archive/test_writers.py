"""WriterPool: bounded queueing, per-key waits, the first error raised on the caller's thread."""

from __future__ import annotations

import threading
import time

import pytest

from pinnace.archive.writers import WriterPool


def test_jobs_run_and_flush_waits_for_all() -> None:
    pool = WriterPool(3)
    done: list[int] = []
    lock = threading.Lock()

    def job(i: int) -> None:
        time.sleep(0.001)
        with lock:
            done.append(i)

    for i in range(50):
        pool.submit(i % 5, i, f"job{i}", 0, lambda i=i: job(i))
    pool.flush()
    assert sorted(done) == list(range(50)) and not pool.pending
    assert pool.close() is None


def test_one_group_runs_in_submission_order() -> None:
    """Jobs of one group go to one worker while they follow each other: a later one for a key replaces an earlier."""
    pool = WriterPool(4)
    order: list[int] = []
    for i in range(100):
        pool.submit("dir", "same", f"job{i}", 0, lambda i=i: order.append(i))
    pool.flush()
    pool.close()
    assert order == list(range(100))


def test_wait_for_a_key() -> None:
    pool = WriterPool(2)
    release = threading.Event()
    made: list[str] = []
    pool.submit("g1", "slow", "slow", 0, lambda: (release.wait(), made.append("slow")))
    pool.submit("g2", "fast", "fast", 0, lambda: made.append("fast"))
    pool.wait_for("fast")
    assert made == ["fast"] and "slow" in pool.pending
    threading.Timer(0.05, release.set).start()
    pool.wait_for("slow")
    assert made == ["fast", "slow"]
    pool.wait_for("never submitted")
    pool.close()


def test_queued_bytes_are_bounded() -> None:
    pool = WriterPool(1, max_bytes=100)
    release = threading.Event()
    pool.submit("g", "a", "a", 60, release.wait)  # running, holding 60 bytes
    pool.submit("g", "b", "b", 30, lambda: None)  # 90
    submitted = threading.Event()

    def third() -> None:
        pool.submit("g", "c", "c", 30, lambda: None)  # 120 > 100: waits for room
        submitted.set()

    caller = threading.Thread(target=third)
    caller.start()
    assert not submitted.wait(0.2)
    release.set()
    assert submitted.wait(5)
    caller.join()
    pool.flush()
    pool.close()


def test_queued_jobs_are_bounded() -> None:
    pool = WriterPool(1, max_jobs=4)
    release = threading.Event()
    pool.submit("g", 0, "0", 0, release.wait)
    for i in range(1, 4):
        pool.submit("g", i, str(i), 0, lambda: None)
    threading.Timer(0.1, release.set).start()
    started = time.monotonic()
    pool.submit("g", 4, "4", 0, lambda: None)  # waits until the queue has drained to half
    assert time.monotonic() - started >= 0.05
    pool.flush()
    pool.close()


def test_first_error_stops_the_pool_and_is_raised_with_its_name() -> None:
    pool = WriterPool(1)
    release = threading.Event()
    ran: list[int] = []

    def fail() -> None:
        release.wait()
        raise OSError(5, "Input/output error")

    pool.submit("g", "bad", "bad entry", 0, fail)
    for i in range(5):
        pool.submit("g", i, str(i), 0, lambda i=i: ran.append(i))
    release.set()
    with pytest.raises(OSError, match="Input/output error"):
        pool.flush()
    assert pool.failed == "bad entry" and ran == []  # later jobs dropped
    with pytest.raises(OSError):
        pool.submit("g", "late", "late", 0, lambda: None)
    assert isinstance(pool.close(), OSError)


@pytest.mark.parametrize("finish", [False, True])
def test_close_drops_queued_jobs_or_finishes_them(finish: bool) -> None:
    pool = WriterPool(1)
    release = threading.Event()
    ran: list[int] = []
    pool.submit("g", "first", "first", 0, release.wait)
    for i in range(5):
        pool.submit("g", i, str(i), 0, lambda i=i: ran.append(i))
    threading.Timer(0.05, release.set).start()
    assert pool.close(finish=finish) is None
    assert ran == (list(range(5)) if finish else [])
    assert not pool.pending
    assert not [t for t in threading.enumerate() if t.name.startswith("pinnace-writer")]
