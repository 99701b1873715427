"""Cgroup managers: one 7-method interface, a v1 and a v2 driver (youki's split).

The runtime asks :func:`manager_for` for the manager of a container's OCI
``cgroupsPath``; the host's layout, read from ``/proc/self/mountinfo`` at run
time, picks the driver.  A cgroup2 mount at ``/sys/fs/cgroup`` means the
unified layout (:mod:`.v2`); v1 controllers mean :mod:`.v1`, which on a hybrid
host also mirrors the path in the cgroup2 mount so the process is tracked
there too, as runc does.  Control files are written with bare
``os.open``/``os.write``: the kernel reports a bad value as the write's errno,
which buffered file objects would defer to ``close``.
"""

from __future__ import annotations

import errno
import os
import posixpath

from pinnace.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotImplementedYet,
    PinnaceError,
    Unavailable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up; the runtime starts once per container
    from typing import Protocol

    from pinnace.runtime.cgroups.resources import HugepageLimit
else:
    Protocol = object  # at run time Manager is a plain class documenting the interface

#: Where the kernel documents a unified-only host's single hierarchy.
CGROUP_ROOT = "/sys/fs/cgroup"
#: v1 super options that are mount flags, not controllers.
_NOT_CONTROLLERS = frozenset({"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "none"})


class Manager(Protocol):
    """What the runtime needs from a container's cgroup, whatever the driver."""

    def apply(self, pid: int) -> None:
        """Create the cgroup in every hierarchy and move ``pid`` into it."""

    def set(self, resources: dict[str, object]) -> None:
        """Apply an OCI ``linux.resources`` subset (see :mod:`.resources`)."""

    def freeze(self, frozen: bool) -> None:
        """Freeze (pause) or thaw (resume) every process in the cgroup; returns once done."""

    def frozen(self) -> bool:
        """Whether the cgroup is frozen (a paused container); False when it does not exist."""

    def stats(self) -> dict[str, dict[str, int]]:
        """``{"memory": {"usage", "limit", "oom_kill", ...}, "pids": {"current", "limit"}, "cpu": {"usage_ns"}}``.

        ``memory.oom_kill`` counts the processes the kernel's OOM killer took
        in this cgroup, so a caller seeing its init die by SIGKILL can tell
        an OOM kill from a plain kill.
        """

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer took in the cgroup (0 when it cannot tell).

        One file read, where :meth:`stats` reads a dozen: a monitor asks it
        on the path of every container's exit.
        """

    def pids(self) -> list[int]:
        """Every process in the cgroup and its descendants."""

    def destroy(self) -> None:
        """Remove the cgroup directories, deepest first; Conflict while processes remain."""


def manager_for(path: str) -> Manager:
    """The manager of OCI ``cgroupsPath`` ``path`` under each hierarchy root of this host."""
    rel = normalize(path)
    v1_mounts, v2_mount = hierarchies()
    if v2_mount == CGROUP_ROOT:
        from pinnace.runtime.cgroups.v2 import V2Manager

        return V2Manager(v2_mount, rel)
    if v1_mounts:
        from pinnace.runtime.cgroups.v1 import V1Manager

        return V1Manager(v1_mounts, rel, unified=v2_mount)
    if v2_mount is not None:
        from pinnace.runtime.cgroups.v2 import V2Manager

        return V2Manager(v2_mount, rel)
    raise Unavailable("no cgroup hierarchy is mounted on this host")


def normalize(path: str) -> str:
    """``cgroupsPath`` as a path relative to a hierarchy root; refuses escapes and systemd's form."""
    if ":" in path:
        raise NotImplementedYet(f"cgroupsPath {path!r}: systemd cgroup driver is not supported")
    rel = posixpath.normpath("/" + path).lstrip("/")
    if not path or not rel or rel == ".":
        raise InvalidArgument(f"cgroupsPath {path!r}: must name a cgroup below the hierarchy root")
    if ".." in path.split("/"):
        raise InvalidArgument(f"cgroupsPath {path!r}: must not contain '..'")
    return rel


def hierarchies() -> tuple[dict[str, str], str | None]:
    """(v1 controller -> mount point, cgroup2 mount point or None), first mount of each wins.

    A v1 hierarchy with several controllers (``cpu,cpuacct``) maps each to the
    same mount point; named hierarchies appear as ``name=systemd``.
    """
    from pinnace.mount.flags import mountinfo

    v1: dict[str, str] = {}
    v2: str | None = None
    for m in mountinfo():
        if m.fstype == "cgroup2" and v2 is None:
            v2 = m.point
        elif m.fstype == "cgroup":
            for opt in m.super_options.split(","):
                if opt not in _NOT_CONTROLLERS and not opt.startswith("release_agent="):
                    v1.setdefault(opt, m.point)
    return v1, v2


def translate(exc: OSError, path: str, setting: str | None = None) -> PinnaceError:
    """The pinnace kind for ``exc`` raised on cgroup file ``path`` (while writing ``setting``)."""
    what = f"{setting}: " if setting else ""
    detail = f"{what}{path}: {exc.strerror or exc}"
    if exc.errno in (errno.EINVAL, errno.ERANGE, errno.EOVERFLOW):
        return InvalidArgument(f"invalid value for {detail}" if setting else detail)
    if exc.errno == errno.EBUSY:
        return Conflict(detail)
    if exc.errno == errno.ESRCH:
        return NotFound(f"no such process: {detail}")
    if exc.errno == errno.ENODEV:
        return InvalidArgument(f"no such device: {detail}")
    if exc.errno == errno.ENOENT:
        return FailedPrecondition(
            f"{detail} (not supported by this kernel, or the controller is not enabled)"
        )
    return Unavailable(detail)


def write_file(path: str, value: str, setting: str | None = None) -> None:
    """Write ``value`` to control file ``path`` in one write(2)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise translate(e, path, setting) from e


def read_file(path: str) -> str:
    """Content of control file ``path``, stripped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.read(fd, 1 << 16).decode().strip()
        finally:
            os.close(fd)
    except OSError as e:
        raise translate(e, path) from e


def read_int(path: str) -> int:
    """Integer content of ``path``; ``max`` (v2's unlimited) reads as -1."""
    text = read_file(path)
    return -1 if text == "max" else int(text)


def procs_under(directory: str) -> list[int]:
    """Pids in ``cgroup.procs`` of ``directory`` and of every cgroup below it."""
    found: list[int] = []
    for top, _dirs, _files in os.walk(directory):
        try:
            text = read_file(os.path.join(top, "cgroup.procs"))
        except FailedPrecondition:
            continue  # removed while walking
        found.extend(int(p) for p in text.split())
    return found


def make_dirs(root: str, rel: str) -> list[str]:
    """Create ``root/rel`` level by level; the directories created, outermost first."""
    made: list[str] = []
    current = root
    for part in rel.split("/"):
        current = os.path.join(current, part)
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            continue
        except OSError as e:
            raise translate(e, current) from e
        made.append(current)
    return made


def remove_tree(directory: str) -> None:
    """rmdir ``directory`` and its child cgroups, deepest first; gone already is fine."""
    if not os.path.isdir(directory):
        return
    for top, _dirs, _files in os.walk(directory, topdown=False):
        try:
            os.rmdir(top)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise translate(e, top) from e


def remove_all(dirs: list[str]) -> None:
    """Remove the cgroups ``dirs`` (one container's, one per hierarchy) with their child cgroups.

    Either all go or, when one still holds a process, Conflict before any of
    the busy ones is touched.  Most often each is empty and childless, and a
    plain rmdir, which the kernel refuses (EBUSY) for a cgroup with a process
    or a child, removes it without a walk; from the first refusal on, each
    remaining tree is checked for processes, then removed deepest first.
    """
    for i, d in enumerate(dirs):
        try:
            os.rmdir(d)
        except FileNotFoundError:
            continue
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise translate(e, d) from e
            rest = dirs[i:]
            for r in rest:
                if os.path.isdir(r):
                    refuse_if_busy(r, procs_under(r))
            for r in rest:
                remove_tree(r)
            return


def refuse_if_busy(path: str, pids: list[int]) -> None:
    """Conflict naming ``path`` when ``pids`` is not empty (destroy would leave them behind)."""
    if pids:
        shown = " ".join(str(p) for p in pids[:5])
        raise Conflict(f"cannot remove cgroup {path}: {len(pids)} process(es) still in it ({shown})")


def set_hugetlb(directory: str, limits: tuple[HugepageLimit, ...], suffix: str) -> None:
    """Write each limit to ``hugetlb.<size><suffix>`` in ``directory`` and to its reservation twin.

    runtime-spec 1.2 has the limits apply to reservations too where the
    kernel accounts them (``hugetlb.<size>.rsvd.*``, Linux 5.7), so a
    process cannot reserve pages at mmap time that it may not fault in
    later.  A page size the host lacks is refused by name.
    """
    for i, item in enumerate(limits):
        setting = f"hugepageLimits[{i}]"
        prefix = os.path.join(directory, f"hugetlb.{item.page_size}")
        if not os.path.exists(prefix + suffix):
            try:
                names = {n.split(".")[1] for n in os.listdir(directory) if n.startswith("hugetlb.")}
            except OSError as e:
                raise translate(e, directory, setting) from e
            if not names:
                raise FailedPrecondition(
                    f"{setting}: the hugetlb controller is not available to cgroup {directory}"
                )
            raise InvalidArgument(
                f"{setting}.pageSize: invalid hugepage size {item.page_size!r}"
                f" (this host has {', '.join(sorted(names, key=_page_bytes))})"
            )
        write_file(prefix + suffix, str(item.limit), setting)
        if os.path.exists(prefix + ".rsvd" + suffix):
            write_file(prefix + ".rsvd" + suffix, str(item.limit), setting)


def _page_bytes(size: str) -> int:
    """``2MB`` -> 2097152, to list page sizes smallest first."""
    return int(size[:-2]) << {"KB": 10, "MB": 20, "GB": 30}.get(size[-2:], 0)


class WarmUp:
    """Keep the kernel's cgroup migration lock warm on a thread until the container's cgroups exist.

    Moving a process between cgroups takes a global per-cpu rwsem for
    writing, and the first writer after a quiet spell waits for an RCU grace
    period (about 10 ms here) before it gets it; writers that follow within
    the next grace period do not wait.  A container start moves a process
    into a dozen hierarchies, so this moves *this* process into the cgroup it
    is already in (a no-op migration that still takes the lock) on a thread,
    and repeats it every few milliseconds (cheap once warm) until
    :meth:`stop` -- called once the real migrations are done, or at the
    latest after ``limit`` seconds -- so the real ones find the lock warm
    however long the caller's other work takes.  It is only an
    optimisation: errors are ignored.  Not for many processes at once (fifty
    parallel ``run -d``): they would only contend for the lock.
    """

    def __init__(self, interval: float = 0.003, limit: float = 0.5) -> None:
        import _thread
        import time

        self._interval = interval
        self._deadline = time.monotonic() + limit
        self._stopped = False
        # Opened here, so that the thread's first step is the write: it runs
        # only once it gets the GIL, and the caller is busy importing.
        try:
            path = _own_procs_file()
            self._fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC) if path else -1
        except OSError:
            self._fd = -1
        if self._fd >= 0:
            _thread.start_new_thread(self._run, (str(os.getpid()).encode(),))

    def _run(self, pid: bytes) -> None:
        import time

        try:
            while not self._stopped and time.monotonic() < self._deadline:
                os.write(self._fd, pid)
                time.sleep(self._interval)
        except OSError:
            pass
        finally:
            os.close(self._fd)

    def stop(self) -> None:
        """End the warming (the lock stays warm for a grace period after the last write).

        It does not wait for the thread, which sees the flag after its
        current sleep (a few milliseconds that are nobody's critical path).
        """
        self._stopped = True


class LaunchedWarmUp:
    """The warm-up ``pinnace-runtime``'s native launcher started before the interpreter.

    The launcher (``runtime/launcher.c``) forks a *warmer* doing what
    :class:`WarmUp` does, from before the interpreter starts, so the grace
    period passes meanwhile; it runs until the pipe ``fd`` is closed.  The
    warmer is this process's child: :meth:`stop` closes the pipe and
    :meth:`reap` waits for it, so no zombie of ours is left to the caller.
    """

    #: The environment variable the launcher passes "FD,PID" in.
    ENV = "PINNACE_RUNTIME_WARMER"

    def __init__(self, fd: int, pid: int) -> None:
        self._fd = fd
        self.pid = pid

    @classmethod
    def adopt(cls) -> LaunchedWarmUp | None:
        """The launcher's warm-up, taken out of the environment; None when there is none.

        The variable is checked before the fd is trusted: a pipe, and a pid
        that is our child (a stale value from elsewhere must not make us
        close a descriptor we were given).
        """
        value = os.environ.pop(cls.ENV, "")
        fd_text, _, pid_text = value.partition(",")
        if not (fd_text.isdigit() and pid_text.isdigit()):
            return None
        fd, pid = int(fd_text), int(pid_text)
        import stat

        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode) or os.waitpid(pid, os.WNOHANG)[0] not in (0, pid):
                return None
        except (OSError, ChildProcessError):
            return None
        os.set_inheritable(fd, False)  # nothing we start (stage 1, hooks) may keep the warmer alive
        return cls(fd, pid)

    def stop(self) -> None:
        """End the warming: the warmer sees end-of-file and exits."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def reap(self) -> None:
        """Stop, and wait for the warmer (a run's wait may have reaped it already)."""
        self.stop()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


_warming: WarmUp | LaunchedWarmUp | None = None
_launched: LaunchedWarmUp | None = None


def warm_up() -> WarmUp | LaunchedWarmUp:
    """Start warming the cgroup migration lock (see :class:`WarmUp`), once per process.

    The first call adopts the launcher's warm-up when there is one.
    """
    global _warming, _launched
    if _warming is None:
        if _launched is None and LaunchedWarmUp.ENV in os.environ:
            _warming = _launched = LaunchedWarmUp.adopt()
        if _warming is None:
            _warming = WarmUp()
    return _warming


def cool_down() -> None:
    """Stop this process's warming (its container's cgroups exist now); the next :func:`warm_up` starts again."""
    global _warming
    if _warming is not None:
        _warming.stop()
        _warming = None


def reap_warmer() -> None:
    """Before the runtime exits: stop the launcher's warmer and wait for it (a no-op without one).

    A command that never warmed up (it failed first, or moves no process)
    adopts it here, only to reap it.
    """
    global _launched
    if _launched is None and LaunchedWarmUp.ENV in os.environ:
        _launched = LaunchedWarmUp.adopt()
    if _launched is not None:
        _launched.reap()


def _own_procs_file() -> str:
    """``cgroup.procs`` of this process's own cgroup in one hierarchy, at the usual mount points."""
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "pids":
            return f"{CGROUP_ROOT}/pids{path}/cgroup.procs"
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            for base in (f"{CGROUP_ROOT}/unified", CGROUP_ROOT):
                if os.path.exists(f"{base}{path}/cgroup.procs"):
                    return f"{base}{path}/cgroup.procs"
    return ""
