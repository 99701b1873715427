"""Healthchecks with docker's semantics (moby daemon/health.go), run one probe at a time.

Daemonless, nobody holds a timer per container in memory as dockerd does:
the container's monitor runs ``pinnace healthcheck run ID`` every
:func:`schedule` seconds (podman runs the same command from a systemd
timer), and each run is one probe:

- the Config's ``Healthcheck.Test`` (``["CMD", ...]`` exec'd as is,
  ``["CMD-SHELL", cmd]`` through the Config's Shell or ``/bin/sh -c``,
  ``["NONE"]`` or nothing: no healthcheck) runs as an exec in the
  container, as the container's user in its working directory, stdout and
  stderr together captured up to 4096 bytes (``...`` marks the cut);
- past ``Timeout`` (default 30 s) it is killed and the result is exit code
  -1, ``Health check exceeded timeout (30s)``; an exec that cannot start is
  -1 with the error's text;
- the result goes into ``State.Health`` by docker's state machine
  (:func:`apply_result`): success makes it ``healthy`` and resets the
  failing streak; a failure counts unless the container is still
  ``starting`` within ``StartPeriod``, and ``Retries`` (default 3) failures
  in a row make it ``unhealthy``; the last 5 results are kept.  A change of
  status logs docker's ``health_status: <status>`` event.

Probes of one container are serialised by a lock in its run directory, so
two at once (the monitor's and a user's) both land in the log.
"""

from __future__ import annotations

import os
import time

from pinnace._util.record import record
from pinnace.errors import FailedPrecondition, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pinnace.containers.records import ContainerRecord
    from pinnace.containers.service import ContainerService
    from pinnace.shim.runtimes import Runtime

_SECOND = 1_000_000_000

#: docker's defaults (moby daemon/health.go), in nanoseconds as HealthConfig stores durations.
DEFAULT_INTERVAL = 30 * _SECOND
DEFAULT_TIMEOUT = 30 * _SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * _SECOND
DEFAULT_RETRIES = 3

#: The longest probe output kept, and how many results the log keeps.
MAX_OUTPUT = 4096
MAX_LOG_ENTRIES = 5

#: The shell of ``CMD-SHELL`` when the Config names none.
DEFAULT_SHELL = ("/bin/sh", "-c")

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"


# --------------------------------------------------------------------------- configuration


def _healthcheck(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("Healthcheck") or {}


def probe_command(config: Mapping[str, Any]) -> list[str] | None:
    """The argv a probe runs, or None when the Config has no healthcheck (moby getProbe)."""
    test = list(_healthcheck(config).get("Test") or ())
    if not test:
        return None
    kind, args = test[0], [str(a) for a in test[1:]]
    if kind == "CMD":
        return args or None
    if kind == "CMD-SHELL":
        return [*(config.get("Shell") or DEFAULT_SHELL), *args] if args else None
    return None  # "NONE", or a kind docker ignores (with a warning)


def _duration(config: Mapping[str, Any], field: str, default: int) -> int:
    """A HealthConfig duration in nanoseconds; 0 (unset) means docker's default."""
    value = _healthcheck(config).get(field) or 0
    return int(value) if isinstance(value, int) and value > 0 else default


def retries(config: Mapping[str, Any]) -> int:
    value = _healthcheck(config).get("Retries") or 0
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_RETRIES


def initial_health(
    config: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """``State.Health`` of a container that starts: ``starting`` with no failures; None without a healthcheck.

    dockerd keeps the log of a previous run across a restart (initHealthMonitor):
    pass the record's current ``health`` as ``previous`` to do the same.
    """
    if probe_command(config) is None:
        return None
    log = [dict(entry) for entry in (previous or {}).get("Log") or ()]
    return {"Status": STARTING, "FailingStreak": 0, "Log": log}


def schedule(config: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """(interval, start interval, start period) in seconds, or None without a healthcheck.

    dockerd probes every ``Interval`` (default 30 s, also the wait before the
    first probe) and, while the container is ``starting`` within its
    ``StartPeriod``, every ``StartInterval`` (default 5 s) instead; the
    monitor, which runs the probes, applies the rule
    (:func:`pinnace.shim.monitor.probe_interval`).
    """
    if probe_command(config) is None:
        return None
    interval = _duration(config, "Interval", DEFAULT_INTERVAL)
    start_interval = _duration(config, "StartInterval", DEFAULT_START_INTERVAL)
    start_period = _duration(config, "StartPeriod", DEFAULT_START_PERIOD)
    return interval / _SECOND, start_interval / _SECOND, start_period / _SECOND


def next_interval(config: Mapping[str, Any], *, elapsed: float, status: str) -> float:
    """Seconds until the next probe, ``elapsed`` seconds after the container started (moby's getInterval)."""
    from pinnace.shim.monitor import probe_interval

    when = schedule(config)
    assert when is not None
    return probe_interval(*when, elapsed=elapsed, starting=status == STARTING)


# --------------------------------------------------------------------------- the state machine


def apply_result(
    health: Mapping[str, Any] | None,
    result: Mapping[str, Any],
    *,
    config: Mapping[str, Any],
    started_at_ns: int,
    probe_start_ns: int,
) -> dict[str, Any]:
    """``State.Health`` after one probe ``result`` ({"Start", "End", "ExitCode", "Output"}), as dockerd's handleProbeResult.

    ``started_at_ns`` is when the container started and ``probe_start_ns``
    when the probe did: a failure within ``StartPeriod`` of the start, while
    the container is still ``starting``, does not count.
    """
    current = health or {"Status": STARTING, "FailingStreak": 0, "Log": []}
    status = str(current.get("Status") or STARTING)
    streak = int(current.get("FailingStreak") or 0)
    log = [dict(entry) for entry in current.get("Log") or ()]
    log = [*log, dict(result)][-MAX_LOG_ENTRIES:]
    if result["ExitCode"] == 0:
        status, streak = HEALTHY, 0
    else:
        start_period = _duration(config, "StartPeriod", DEFAULT_START_PERIOD)
        if not (status == STARTING and probe_start_ns - started_at_ns < start_period):
            streak += 1
            if streak >= retries(config):
                status = UNHEALTHY
    return {"Status": status, "FailingStreak": streak, "Log": log}


# --------------------------------------------------------------------------- one probe


@record
class CheckResult:
    """What ``healthcheck run`` learned: this probe's result and the container's health after it."""

    container_id: str
    exit_code: int  # the probe's: 0 passed, -1 timed out or could not start
    output: str
    health: Mapping[str, Any]  # State.Health after the probe

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


def run_check(service: ContainerService, ref: str) -> CheckResult:
    """Probe container ``ref`` once and record the result (``podman healthcheck run``).

    Raises FailedPrecondition, in podman's words, when the container has no
    healthcheck or is not running.
    """
    rec = service.get(ref)
    command = probe_command(rec.config)
    if command is None:
        raise FailedPrecondition(f"container {rec.id} has no defined healthcheck")
    if rec.status != "running":
        raise FailedPrecondition(f"container {rec.id} is not running")
    start_ns = time.time_ns()
    exit_code, output = _probe(service, rec, command)
    end_ns = time.time_ns()
    result = {
        "Start": _timestamp(start_ns),
        "End": _timestamp(end_ns),
        "ExitCode": exit_code,
        "Output": output,
    }
    return CheckResult(rec.id, exit_code, output, _record(service, rec, result, start_ns))


def _record(
    service: ContainerService, rec: ContainerRecord, result: dict[str, Any], start_ns: int
) -> Mapping[str, Any]:
    """Fold the result into the record's health under the container's health lock; log a status change."""
    from pinnace._util.lock import FileLock
    from pinnace.containers.views import _unix_ns
    from pinnace.events import append_event

    run_dir = service.run_dir(rec.id)
    os.makedirs(run_dir, 0o700, exist_ok=True)
    with FileLock(os.path.join(run_dir, "health.lock")):
        current = service.records.get(rec.id)
        if current.status != "running" or current.started_at != rec.started_at:
            # It stopped or restarted meanwhile: this probe says nothing about the new run.
            return current.health or {}
        before = str((current.health or {}).get("Status") or STARTING)
        health = apply_result(
            current.health,
            result,
            config=current.config,
            started_at_ns=_unix_ns(current.started_at),
            probe_start_ns=start_ns,
        )
        service.records.update_state(rec.id, health=health)
    if health["Status"] != before:
        attributes = {**rec.labels, "image": rec.image_name, "name": rec.name}
        append_event(service.db, "container", f"health_status: {health['Status']}", rec.id, attributes)
    return health


def _probe(service: ContainerService, rec: ContainerRecord, command: Sequence[str]) -> tuple[int, str]:
    """Run the probe as an exec (moby cmdProbe): (its exit code, or -1; its output, capped)."""
    from pinnace.containers import exec as execs

    timeout = _duration(rec.config, "Timeout", DEFAULT_TIMEOUT)
    options = execs.ExecConfig(cmd=tuple(command))
    try:
        rec, exec_id, process = execs.prepare(service, rec.id, options)
    except execs.ExecStartError as e:
        return -1, str(e)
    try:
        pid, code, output, timed_out = _run_captured(service, rec, exec_id, process, command, timeout)
    except execs.ExecStartError as e:
        return -1, str(e)
    execs.died(service, rec, exec_id, code)
    if timed_out:
        shown = go_duration(timeout)
        return -1, f"Health check exceeded timeout ({shown})" + (f": {output}" if output else "")
    return code, output


def _run_captured(
    service: ContainerService,
    rec: ContainerRecord,
    exec_id: str,
    process: dict[str, Any],
    command: Sequence[str],
    timeout_ns: int,
) -> tuple[int, int, str, bool]:
    """Start the process with stdout and stderr into one pipe, wait at most ``timeout_ns``.

    (pid, exit code, output, timed out).  The exec is started by a forked
    helper of ours whose stdio are the pipe and /dev/null (the runtime's
    exec inherits its caller's stdio), so this process's own fds are left
    alone; the helper reports the pid (or the error) on a status pipe, then
    waits for the process and exits with its code.
    """
    from pinnace._util import jsonc
    from pinnace.containers import exec as execs

    execs.warm_up()
    execs.log_start(service, rec, exec_id, command)
    out_r, out_w = os.pipe()
    status_r, status_w = os.pipe()
    try:
        helper = os.fork()
        if helper == 0:  # pragma: no cover - the child never returns
            _helper(service.runtime(rec), rec.id, process, out_w, status_w, (out_r, status_r))
    finally:
        os.close(out_w)
        os.close(status_w)
    try:
        report = jsonc.loads(_read_all(status_r) or b'{"kind": "Unavailable", "message": "exec helper died"}')
    finally:
        os.close(status_r)
    if "pid" not in report:
        os.close(out_r)
        _reap(helper)
        raise execs.translate(_error(report), rec, rec.id)
    pid = int(report["pid"])
    output, timed_out = _collect(out_r, helper, timeout_ns)
    if timed_out:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    return pid, _reap(helper), output, timed_out


def _helper(
    runtime: Runtime, container_id: str, process: dict[str, Any], out: int, status: int, close: Sequence[int]
) -> None:
    """In the forked helper: stdio onto the pipe, start the exec, report, wait, exit with its code."""
    code = 255
    try:
        from pinnace._util import jsonc
        from pinnace.runtime import container

        for fd in close:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        container.set_subreaper()
        try:
            pid, _ = runtime.exec_process(container_id, process, detach=True)
        except PinnaceError as e:
            os.write(
                status, jsonc.dumps({"kind": type(e).__name__, "message": str(e)}, compact=True).encode()
            )
            code = 0
            return
        os.write(status, jsonc.dumps({"pid": pid}, compact=True).encode())
        os.close(status)
        code = container.wait_for(pid)
    except BaseException:
        code = 255
    finally:
        os._exit(code & 0xFF)


def _error(report: Mapping[str, Any]) -> PinnaceError:
    from pinnace import errors

    kind = getattr(errors, str(report.get("kind")), None)
    if not (isinstance(kind, type) and issubclass(kind, PinnaceError)):
        kind = errors.Unavailable
    return kind(str(report.get("message") or ""))


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _collect(out: int, helper: int, timeout_ns: int) -> tuple[str, bool]:
    """The probe's output (capped, docker's "..." when cut) once it ends; whether the timeout hit first.

    Waits for the helper (which exits with the process) and for the end of
    the output; once the process is gone, only what is already in the pipe
    is read, so a daemon the probe left behind holding it does not stall us.
    """
    import select

    deadline = time.monotonic_ns() + timeout_ns
    kept = bytearray()
    truncated = False
    pidfd = os.pidfd_open(helper)
    poller = select.poll()
    poller.register(out, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    exited, reading = False, True
    try:
        while reading or not exited:
            wait_ms = 0
            if not exited:
                remaining = deadline - time.monotonic_ns()
                if remaining <= 0:
                    return _text(kept, truncated), True
                wait_ms = -(-remaining // 1_000_000)
            events = poller.poll(wait_ms)
            if not events and exited:
                break  # what is left in the pipe is read; whoever still holds it may keep it
            for fd, _ in events:
                if fd == pidfd:
                    exited = True
                    poller.unregister(pidfd)
                    continue
                data = os.read(out, 65536)
                if not data:
                    reading = False
                    poller.unregister(out)
                    continue
                room = max(0, MAX_OUTPUT - len(kept))
                kept += data[:room]
                truncated = truncated or len(data) > room
        return _text(kept, truncated), False
    finally:
        os.close(pidfd)
        os.close(out)


def _text(data: bytes | bytearray, truncated: bool) -> str:
    return bytes(data).decode("utf-8", "replace") + ("..." if truncated else "")


def _reap(pid: int) -> int:
    from pinnace.runtime.signals import exit_code

    try:
        return exit_code(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return 255


# --------------------------------------------------------------------------- formats


def _timestamp(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, as the record's other times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // _SECOND)) + f".{ns % _SECOND:09d}Z"


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``: ``30s``, ``1.5s``, ``500ms``, ``1m30s``, ``2h0m0s``."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 1000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_fraction(u, 3)}µs"
    if u < _SECOND:
        return f"{sign}{_fraction(u, 6)}ms"
    minutes = u // (60 * _SECOND)
    text = f"{_fraction(u % (60 * _SECOND), 9)}s"
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes >= 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _fraction(value: int, digits: int) -> str:
    """``value / 10**digits`` with the fraction's trailing zeros dropped (Go's fmtFrac + fmtInt)."""
    whole, frac = divmod(value, 10**digits)
    text = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{text}" if text else str(whole)
