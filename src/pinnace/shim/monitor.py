"""The monitor of one container: runs it, holds its output, logs it, records how it ended.

Daemonless means no long-lived engine owns a container's stdio, so each
container gets this small process (conmon's role in podman, the shim's in
containerd).  :func:`spawn` starts it detached from the caller (setsid and a
double fork, so a ``run -d`` container outlives the CLI) from the sealed
interpreter (:mod:`pinnace.runtime.linux.sealed`), which lets it create the
container with the runtime library in-process, without a runtime CLI start.
The monitor then:

1. gives the container pipes as stdout/stderr (and /dev/null as stdin),
2. creates and starts it, reporting the init's pid (or the error) to the
   caller on a pipe, so ``spawn`` returns only once the container runs,
3. copies the pipes into the json-file log (:mod:`pinnace.logs.jsonfile`)
   until the container exits and its output ends,
4. writes the exit file (exit code, OOM kill, finish time) atomically, the
   record the engine reads back, and deletes the runtime's container.

Attach, a TTY, stdin, the restart policy and healthchecks are the next
steps of issue 4.  Keep the imports minimal: this process lives as long as
its container.
"""

from __future__ import annotations

import os

from pinnace._util import jsonc
from pinnace._util.record import record
from pinnace.errors import PinnaceError, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

#: How long output may still arrive after the container's init exited (a
#: process it left behind may hold the pipes; docker waits for the copiers).
DRAIN_TIMEOUT = 2.0


@record
class MonitorConfig:
    """What a monitor needs; it crosses the exec as JSON."""

    container_id: str
    bundle: str
    runtime_root: str
    log_path: str
    exit_file: str
    max_size: int | None = None
    max_file: int = 1
    #: The container's root filesystem mount, unmounted once it ended ("" for none).
    rootfs_mount: str = ""


@record
class Started:
    """What :func:`spawn` returns: the monitor's pid and the container init's."""

    monitor_pid: int
    pid: int


def spawn(config: MonitorConfig) -> Started:
    """Start a detached monitor for ``config`` and wait until its container runs.

    Raises the pinnace error the monitor met creating or starting the
    container (in which case nothing of it remains).
    """
    from pinnace.runtime.linux import sealed

    python = sealed.interpreter(config.runtime_root)
    fields = {name: getattr(config, name) for name in MonitorConfig.__annotations__}
    ready_r, ready_w = os.pipe()
    import sys

    code = f"import sys; sys.path[:0] = {sys.path!r}; from pinnace.shim.monitor import main; main()"
    child = os.fork()
    if child == 0:
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            os.set_inheritable(ready_w, True)
            argv = [python, "-IS", "-c", code, jsonc.dumps(fields, compact=True), str(ready_w)]
            os.execve(python, argv, os.environ)
        finally:
            os._exit(127)
    os.close(ready_w)
    os.waitpid(child, 0)
    chunks = []
    while chunk := os.read(ready_r, 65536):
        chunks.append(chunk)
    os.close(ready_r)
    try:
        report: dict[str, Any] = jsonc.loads(b"".join(chunks))
    except ValueError:
        raise Unavailable(f"container monitor for {config.container_id} exited before it reported") from None
    if "error" in report:
        from pinnace import errors

        kind = getattr(errors, str(report.get("kind")), Unavailable)
        raise (kind if isinstance(kind, type) and issubclass(kind, PinnaceError) else Unavailable)(
            report["error"]
        )
    return Started(monitor_pid=int(report["monitor_pid"]), pid=int(report["pid"]))


def main() -> NoReturn:
    """Entry point of the exec'd monitor: ``-c ... CONFIG_JSON READY_FD``."""
    import sys

    fields: dict[str, Any] = jsonc.loads(sys.argv[1])
    ready = int(sys.argv[2])
    os.set_inheritable(ready, False)
    os._exit(run(MonitorConfig(**fields), ready))


def _report(fd: int, message: dict[str, object]) -> None:
    try:
        os.write(fd, jsonc.dumps(message, compact=True).encode())
    finally:
        os.close(fd)


def run(config: MonitorConfig, ready: int) -> int:
    """The monitor's life; returns its own exit status (0 once the exit file is written)."""
    from pinnace.logs.jsonfile import JsonFileWriter
    from pinnace.runtime import container

    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        container.set_subreaper()
        writer = JsonFileWriter(config.log_path, max_size=config.max_size, max_file=config.max_file)
        # The container inherits the runtime's stdio: make it the pipes, then drop our
        # copies of the write ends, so end-of-file means the container's are closed.
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        try:
            state = container.create(config.runtime_root, config.container_id, config.bundle)
            container.start(config.runtime_root, config.container_id)
        finally:
            os.dup2(null, 1)
            os.dup2(null, 2)
    except BaseException as e:
        from pinnace.runtime.linux.sync import describe

        kind = type(e).__name__ if isinstance(e, PinnaceError) else "Unavailable"
        _report(ready, {"error": describe(e), "kind": kind})
        _delete_quietly(config)
        return 1
    _report(ready, {"monitor_pid": os.getpid(), "pid": state.pid})
    writer.close()
    # Become a lean process for the container's lifetime: the same pid (so still
    # the init's reaper, which execve keeps), with only the log writer loaded.
    # What create and start imported would cost ~2 MiB more per container.
    import sys

    fields = {name: getattr(config, name) for name in MonitorConfig.__annotations__}
    for fd in (out_r, err_r):
        os.set_inheritable(fd, True)
    code = f"import sys; sys.path[:0] = {sys.path!r}; from pinnace.shim.monitor import watch; watch()"
    argv = [
        sys.executable,
        "-IS",
        "-c",
        code,
        jsonc.dumps(fields, compact=True),
        str(state.pid),
        str(out_r),
        str(err_r),
    ]
    os.execv(sys.executable, argv)


def watch() -> NoReturn:
    """The lean half of the monitor (after the exec in :func:`run`): copy output, then finish."""
    import sys

    from pinnace.logs.jsonfile import JsonFileWriter

    config = MonitorConfig(**jsonc.loads(sys.argv[1]))
    pid, out_r, err_r = (int(arg) for arg in sys.argv[2:5])
    for fd in (out_r, err_r):
        os.set_inheritable(fd, False)
    writer = JsonFileWriter(config.log_path, max_size=config.max_size, max_file=config.max_file)
    status = _pump(writer, pid, {out_r: "stdout", err_r: "stderr"})
    writer.close()
    _finish(config, status)
    os._exit(0)


def _pump(writer: Any, pid: int, streams: dict[int, str]) -> int:
    """Copy the pipes into the log until the init exited and its output ended; the init's wait status."""
    import select
    import time

    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    for fd in (*streams, pidfd):
        poller.register(fd, select.POLLIN)
    status: int | None = None
    deadline = 0.0
    while streams or status is None:
        timeout = None if status is None else max(0.0, deadline - time.monotonic()) * 1000
        events = poller.poll(timeout)
        if status is not None and not events:
            break  # something the container left behind still holds its output: stop waiting
        for fd, _ in events:
            if fd == pidfd:
                poller.unregister(pidfd)
                os.close(pidfd)
                status = _reap(pid)
                deadline = time.monotonic() + DRAIN_TIMEOUT
                continue
            data = os.read(fd, 65536)
            if data:
                writer.write(streams[fd], data)
            else:
                writer.flush(streams.pop(fd))
                poller.unregister(fd)
                os.close(fd)
    for fd in streams:
        os.close(fd)
    assert status is not None
    from pinnace.runtime.signals import exit_code

    return exit_code(status)


def _reap(pid: int) -> int:
    """Wait for the init (our child through the subreaper), reaping other orphans on the way."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255 << 8
        if got == pid:
            return status


def _finish(config: MonitorConfig, exit_code: int) -> None:
    """Record how the container ended, then remove the runtime's container (mounts die with it)."""
    import time

    from pinnace._util.fs import atomic_write
    from pinnace.runtime import container

    oom = False
    try:
        oom = (
            container.stats(config.runtime_root, config.container_id).get("memory", {}).get("oom_kill", 0) > 0
        )
    except PinnaceError:
        pass
    ns = time.time_ns()
    finished = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"
    record_ = {"ExitCode": exit_code, "OOMKilled": oom, "FinishedAt": finished}
    _delete_quietly(config)
    if config.rootfs_mount:
        from pathlib import Path

        from pinnace.mount.ops import unmount_all

        try:
            unmount_all(Path(config.rootfs_mount))
        except PinnaceError:
            pass
    # Last: whoever reads the exit file may remove the container's directories at once.
    atomic_write(config.exit_file, jsonc.dumps(record_, compact=True).encode())


def _delete_quietly(config: MonitorConfig) -> None:
    from pinnace.runtime import container

    try:
        container.delete(config.runtime_root, config.container_id, force=True)
    except PinnaceError:
        pass
