"""Worker threads that create files while the tar is still being read.

Why threads: creating an inode (``openat(O_CREAT)``, ``symlinkat``) can cost
hundreds of µs of kernel time, far more than parsing the entry (on this
project's ext4, right after a tree of similar size was deleted: the inode
allocator skips recently freed inodes one buffer lookup at a time).  Those
syscalls release the GIL, so threads run them in parallel with each other
and with the reading thread's decompressing and hashing.

Why each worker owns directories: creating in a directory takes that
directory's inode lock, so two threads filling one directory wait for each
other (and spin while they wait).  A job names its *group* (the directory it
creates in); consecutive jobs of one group go to the same worker, a new group
to the worker with the least queued.

The pool knows nothing of tar entries: it runs callables, each keyed by the
path it creates.  Ordering stays the reading thread's business: before it
touches a path it calls :meth:`WriterPool.wait_for`, before anything that
could conflict with any pending job (removing a tree, closing directory fds,
the final directory times) :meth:`WriterPool.flush`.  Queued work is bounded
in bytes and in jobs, so a huge layer is never buffered whole.

The first error a job raises stops the pool (later jobs are dropped) and is
raised again on the reading thread by the next call, with the name of the
job that failed in :attr:`WriterPool.failed`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

#: Bytes of file data held by queued and running jobs, at most (unless one job is bigger).
MAX_BYTES = 64 << 20
#: Jobs queued or running, at most: read-ahead enough to span many directories.
MAX_JOBS = 256


@dataclass(slots=True, eq=False)
class _Job:
    key: Hashable
    name: str
    size: int
    run: Callable[[], object]


class WriterPool:
    """``workers`` threads running submitted jobs; all methods are for one caller thread."""

    def __init__(self, workers: int, *, max_bytes: int = MAX_BYTES, max_jobs: int = MAX_JOBS) -> None:
        self._max_bytes = max_bytes
        self._max_jobs = max_jobs
        self._lock = threading.Lock()
        self._queues: list[deque[_Job]] = [deque() for _ in range(workers)]
        self._wake = [threading.Condition(self._lock) for _ in range(workers)]  # per worker: work or close
        self._done = threading.Condition(self._lock)  # a job finished, and the caller waits
        self._caller_waits = False
        self._bytes = 0  # data held by jobs queued or running
        self._unfinished = 0  # jobs queued or running
        self._closing = False
        self._error: BaseException | None = None
        self._group: Hashable = None  # of the last job submitted
        self._worker = 0  # the worker it went to
        #: The job name whose error stopped the pool, once one has.
        self.failed = ""
        #: Keys of the jobs not yet finished (the newest job per key).  Only the
        #: caller adds to it, so a key it does not find is certainly not pending.
        self.pending: dict[Hashable, _Job] = {}
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"pinnace-writer-{i}", daemon=True)
            for i in range(workers)
        ]
        try:
            for thread in self._threads:
                thread.start()
        except RuntimeError:  # can't start new thread (RLIMIT_NPROC, memory)
            self._threads = [thread for thread in self._threads if thread.ident is not None]
            self.close()
            raise

    # -- the caller's side -----------------------------------------------

    def submit(self, group: Hashable, key: Hashable, name: str, size: int, run: Callable[[], object]) -> None:
        """Queue ``run``, which creates ``key`` in ``group`` holding ``size`` bytes; block while the pool is full."""
        job = _Job(key, name, size, run)
        with self._lock:
            if self._unfinished >= self._max_jobs or self._bytes + size > self._max_bytes:
                # Wait for room for a good many: one wake-up per job would cost more than the job.
                low_jobs, low_bytes = self._max_jobs // 2, max(0, self._max_bytes // 2 - size)
                self._wait(lambda: self._unfinished <= low_jobs and self._bytes <= low_bytes)
            self._raise_failure()
            if group != self._group:
                self._group = group
                self._worker = min(range(len(self._queues)), key=lambda i: len(self._queues[i]))
            self._queues[self._worker].append(job)
            self._bytes += size
            self._unfinished += 1
            self.pending[key] = job
            self._wake[self._worker].notify()

    def wait_for(self, key: Hashable) -> None:
        """Return once no job creating ``key`` is queued or running."""
        if key in self.pending:
            with self._lock:
                self._wait(lambda: key not in self.pending)

    def flush(self) -> None:
        """Return once every job submitted so far has finished."""
        with self._lock:
            self._wait(lambda: not self._unfinished)

    def close(self, *, finish: bool = False) -> BaseException | None:
        """End the threads; the error that stopped the pool, if any.

        Queued jobs are dropped, or with ``finish`` run first (until one
        fails).  Afterwards no job runs any more: whatever the jobs used
        (directory fds) may be closed.
        """
        with self._lock:
            self._closing = True
            for queue, wake in zip(self._queues, self._wake, strict=True):
                if not finish:
                    for job in queue:
                        self._finished(job)
                    queue.clear()
                wake.notify()
        for thread in self._threads:
            thread.join()
        return self._error

    def _wait(self, ready: Callable[[], bool]) -> None:
        """Wait (the lock held) until ``ready()``; raise a job's error instead if there is one."""
        self._caller_waits = True
        try:
            while not ready():
                self._raise_failure()
                self._done.wait()
        finally:
            self._caller_waits = False
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    # -- the workers' side -----------------------------------------------

    def _work(self, index: int) -> None:
        queue, wake = self._queues[index], self._wake[index]
        while True:
            with self._lock:
                while not queue and not self._closing:
                    wake.wait()
                if not queue:
                    return
                job = queue.popleft()
                failed = self._error is not None
            error: BaseException | None = None
            if not failed:
                try:
                    job.run()
                except BaseException as exc:  # handed to the caller's thread
                    error = exc
            with self._lock:
                if error is not None and self._error is None:
                    self._error, self.failed = error, job.name
                self._finished(job)
                if self._caller_waits:
                    self._done.notify()

    def _finished(self, job: _Job) -> None:
        """Account for ``job`` leaving the pool (the lock held)."""
        self._bytes -= job.size
        self._unfinished -= 1
        if self.pending.get(job.key) is job:
            del self.pending[job.key]
