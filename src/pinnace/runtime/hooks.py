"""OCI hooks (runtime-spec config.md "POSIX-platform Hooks"): check them, run them.

A hook is a host program the runtime runs at one point of the container's
lifecycle, with the container's state JSON on its stdin.  Engines use them
to plug in what the runtime does not do itself: dockerd's libnetwork-setkey
(prestart), the NVIDIA and CDI hooks (createRuntime / createContainer),
ldconfig refreshes (startContainer), notifications (poststart) and cleanup
(poststop).

Phases, in the order the runtime reaches them (runc's order):

``prestart`` (deprecated), ``createRuntime``
    in the runtime process, once the container's namespaces and rootfs
    mounts exist and before pivot_root; runc runs prestart right before
    createRuntime, so the caller runs :func:`run_hooks` for ``prestart`` and
    then for ``createRuntime``.
``createContainer``
    in the container init, in the container's namespaces, before pivot_root.
``startContainer``
    in the container init at ``start``, just before the user's process is
    exec'd (its path resolves inside the container).
``poststart``, ``poststop``
    in the runtime process after ``start`` / during ``delete``.  The spec
    says their failures are logged and the lifecycle goes on, so the caller
    uses :func:`run_hooks_warn` and reports the lines it returns.

A hook failure in the other phases stops the operation: :func:`run_hooks`
raises FailedPrecondition with one line in runc's words (``error running
createRuntime hook #0: exit status 3, stdout: ..., stderr: ...``).

Each hook runs as runc's ``Command.Run`` runs it (libcontainer/configs):
``path`` is exec'd directly (no shell) with ``args`` as its argv (``[path]``
when absent) and exactly ``env`` as its environment; the state goes to its
stdin; stdout and stderr are captured for the error message.  Two choices
differ from runc on purpose:

* A hook without ``env`` gets an empty environment, not the runtime's: the
  runtime's environment (an engine's, a CI job's) is nothing a hook should
  depend on, and the spec gives ``env`` environ's semantics.
* The hook runs in its own process group and a timeout kills the whole
  group: a shell-script hook's children (``sleep``, a stuck ``curl``) die
  with it instead of living on, holding its output pipes.

The runtime's fds are closed in the hook (close_fds), so a hook never holds
the init's sync socket, the exec fifo or a console master.

Costs: ``subprocess`` and ``json`` are imported when a hook actually runs;
most containers have none, and this module is on the path of every
``create``.
"""

from __future__ import annotations

from pinnace.errors import FailedPrecondition, InvalidArgument, PinnaceError
from pinnace.runtime.features import HOOKS
from pinnace.runtime.spec import _bad, _list, _obj, _str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Captured output kept in an error line, per stream: the line is for a
#: person and a log, and a chatty hook must not turn it into megabytes.
_OUTPUT_LIMIT = 1024

#: How long to wait for a killed hook's pipes to close before giving up on
#: its output (a grandchild that left the process group may hold them).
_DRAIN_SECONDS = 1.0


def validate_hooks(spec: dict[str, Any]) -> None:
    """Check ``spec["hooks"]`` (called at ``create``), or raise InvalidArgument naming the field.

    Every phase name must be one of the six the spec defines, each hook an
    object with an absolute ``path``, ``args`` and ``env`` arrays of
    strings, and ``timeout``, if given, a positive integer.  Whether the
    path exists is left to the moment the hook runs: a poststop hook may be
    installed after ``create``, and a startContainer path resolves inside the
    container.
    """
    hooks = spec.get("hooks")
    if hooks is None:
        return
    for phase, entries in _obj(hooks, "hooks").items():
        if phase not in HOOKS:
            raise _bad(f"hooks.{phase}", f"unknown hook (known: {', '.join(HOOKS)})")
        if entries is None:
            continue
        for i, hook in enumerate(_list(entries, f"hooks.{phase}")):
            _check_hook(hook, f"hooks.{phase}[{i}]")


def _check_hook(hook: object, field: str) -> dict[str, Any]:
    """Return ``hook`` if it is well formed (see :func:`validate_hooks`), else raise InvalidArgument."""
    hook = _obj(hook, field)
    if not _str(hook.get("path"), f"{field}.path").startswith("/"):
        raise _bad(f"{field}.path", "must be an absolute path")
    for key in ("args", "env"):
        values = hook.get(key)
        if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
            raise _bad(f"{field}.{key}", "must be an array of strings")
    timeout = hook.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
        raise _bad(f"{field}.timeout", "must be a positive integer")
    return hook


def _hooks_of(spec: dict[str, Any], phase: str) -> list[Any]:
    if phase not in HOOKS:
        raise InvalidArgument(f"hooks.{phase}: unknown hook (known: {', '.join(HOOKS)})")
    hooks = spec.get("hooks") or {}
    entries = _obj(hooks, "hooks").get(phase) or []
    return _list(entries, f"hooks.{phase}")


def run_hooks(spec: dict[str, Any], phase: str, state: dict[str, Any]) -> None:
    """Run the ``phase`` hooks of ``spec`` in order; the first failure raises FailedPrecondition.

    ``state`` is the OCI state (ociVersion, id, status, pid, bundle,
    annotations) as the hooks must see it on stdin; the caller sets the
    status the spec prescribes for the phase (``creating`` for
    createRuntime/createContainer, ``created`` for startContainer, and so on).
    """
    entries = _hooks_of(spec, phase)
    if not entries:
        return
    payload = _payload(state)
    for i, hook in enumerate(entries):
        error = _run(_check_hook(hook, f"hooks.{phase}[{i}]"), payload)
        if error is not None:
            raise FailedPrecondition(f"error running {phase} hook #{i}: {error}")


def run_hooks_warn(spec: dict[str, Any], phase: str, state: dict[str, Any]) -> list[str]:
    """Run every ``phase`` hook even when some fail; return one warning line per failure.

    For poststart and poststop, where the spec says a failing hook is
    logged and the lifecycle continues.  A malformed hook is a warning too:
    at ``delete`` nothing may stop the cleanup.
    """
    try:
        entries = _hooks_of(spec, phase)
    except PinnaceError as e:
        return [str(e)]
    if not entries:
        return []
    payload = _payload(state)
    warnings = []
    for i, hook in enumerate(entries):
        try:
            error = _run(_check_hook(hook, f"hooks.{phase}[{i}]"), payload)
        except InvalidArgument as e:
            error = str(e)
        if error is not None:
            warnings.append(f"error running {phase} hook #{i}: {error}")
    return warnings


def _payload(state: dict[str, Any]) -> bytes:
    from pinnace._util import jsonc

    return jsonc.dumps(state, compact=True).encode()


def _run(hook: dict[str, Any], payload: bytes) -> str | None:
    """Run one checked hook with ``payload`` on its stdin; None on success, else what went wrong."""
    import os
    import signal
    import subprocess

    path: str = hook["path"]
    argv: list[str] = hook.get("args") or [path]
    env = {}
    for entry in hook.get("env") or []:
        key, sep, value = entry.partition("=")
        if sep:  # an entry without "=" names no variable; execve would pass it on, a dict cannot
            env[key] = value
    timeout: int | None = hook.get("timeout")
    try:
        proc = subprocess.Popen(
            argv,
            executable=path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            process_group=0,
        )
    except OSError as e:
        # Go's wording, as runc reports it: "fork/exec /x: no such file or directory".
        return f"fork/exec {path}: {(e.strerror or str(e)).lower()}"
    except ValueError as e:  # a NUL byte in path, args or env
        return f"fork/exec {path}: {e}"
    try:
        out, err = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.communicate(timeout=_DRAIN_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return f"timeout after {timeout}s"
    if proc.returncode == 0:
        return None
    if proc.returncode < 0:
        status = f"signal: {signal.strsignal(-proc.returncode) or -proc.returncode}".lower()
    else:
        status = f"exit status {proc.returncode}"
    return f"{status}, stdout: {_one_line(out)}, stderr: {_one_line(err)}"


def _one_line(data: bytes) -> str:
    """Captured output as part of a one-line message: trimmed, newlines escaped, bounded."""
    text = data.decode(errors="replace").strip()
    if len(text) > _OUTPUT_LIMIT:
        text = text[:_OUTPUT_LIMIT] + "..."
    return text.replace("\r", "\\r").replace("\n", "\\n")
