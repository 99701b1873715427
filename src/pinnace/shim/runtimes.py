"""The OCI runtime a container runs with (``--runtime``): pinnace's library, or any runc-like command.

pinnace's own runtime runs in-process (:mod:`pinnace.runtime.container`):
no runtime binary starts on the path of ``run``.  ``--runtime runc``,
``crun`` or an absolute path drive that program through runc's command line
instead, as docker and podman do: ``create`` (with the container's stdio as
the command's, or ``--console-socket`` for a terminal), ``start``, ``kill``,
``delete``, ``pause``, ``resume``, ``exec``.  Each runtime keeps its state
under its own root (``<runroot>/runtime`` for ours, ``<runroot>/runtimes/NAME``
for a command).

What reads or changes cgroups (``pids``, ``stats``, ``update``) goes through
pinnace's cgroup manager for every runtime: the spec places the container
in ``cgroupsPath`` whichever runtime made it, and reading the files there
costs no process start (podman reads container stats the same way).
"""

from __future__ import annotations

import os

from pinnace.errors import FailedPrecondition, InvalidArgument, NotFound, PinnaceError, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pinnace.runtime.cgroups import Manager

#: The runtime used when none is named: ours, in-process.
DEFAULT = "pinnace"

#: Names docker users pass to ``--runtime`` that we find on PATH.
KNOWN_COMMANDS = ("runc", "crun")


def resolve(name: str) -> str:
    """``--runtime``'s value as stored: "pinnace", or the absolute path of a runc-like program.

    Raises docker's "unknown or invalid runtime name" for anything else.
    """
    if name in ("", DEFAULT):
        return DEFAULT
    if name in KNOWN_COMMANDS:
        import shutil

        found = shutil.which(name)
        if found:
            return found
    elif os.path.isabs(name) and os.path.isfile(name) and os.access(name, os.X_OK):
        return name
    raise InvalidArgument(f"unknown or invalid runtime name: {name}")


class Runtime:
    """One runtime's operations on the containers under its state root."""

    def __init__(self, root: str) -> None:
        self.root = root

    def create(self, container_id: str, bundle: str, *, console: Any = None, pid_file: str = "") -> int:
        """Create the container (its stdio are ours; with ``console``, a connected socket, a pty); its init's pid."""
        raise NotImplementedError

    def start(self, container_id: str) -> None:
        raise NotImplementedError

    def exists(self, container_id: str) -> bool:
        """Whether the runtime has the container (a reboot, or a delete, leaves it none)."""
        raise NotImplementedError

    def kill(self, container_id: str, signum: int, *, all_processes: bool = False) -> None:
        raise NotImplementedError

    def delete(self, container_id: str, *, force: bool = False) -> None:
        raise NotImplementedError

    def pause(self, container_id: str) -> None:
        raise NotImplementedError

    def resume(self, container_id: str) -> None:
        raise NotImplementedError

    def exec_process(
        self, container_id: str, process: dict[str, Any], *, detach: bool = False, console: Any = None
    ) -> tuple[int, int]:
        """Run ``process`` in the container with our stdio (a relayed pty with ``terminal``): (pid, exit code).

        With ``console`` (a connected socket) and a terminal, the pty's master is sent there instead.
        """
        raise NotImplementedError

    # -- cgroups, the same for every runtime
    def cgroup(self, bundle: str, container_id: str) -> Manager:
        """pinnace's cgroup manager for the container of ``bundle``."""
        from pinnace.runtime import container
        from pinnace.runtime.cgroups import manager_for
        from pinnace.runtime.spec import load_spec

        return manager_for(
            container.cgroup_path(load_spec(os.path.join(bundle, "config.json")), container_id)
        )


class Library(Runtime):
    """pinnace's runtime, in this process."""

    def create(self, container_id: str, bundle: str, *, console: Any = None, pid_file: str = "") -> int:
        from pinnace.runtime import container

        return container.create(self.root, container_id, bundle, console=console, pid_file=pid_file).pid

    def start(self, container_id: str) -> None:
        from pinnace.runtime import container

        container.start(self.root, container_id)

    def exists(self, container_id: str) -> bool:
        from pinnace.runtime import state

        return os.path.isdir(state.container_dir(self.root, container_id))

    def kill(self, container_id: str, signum: int, *, all_processes: bool = False) -> None:
        from pinnace.runtime import container

        container.kill(self.root, container_id, signum, all_processes=all_processes)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        from pinnace.runtime import container

        container.delete(self.root, container_id, force=force)

    def pause(self, container_id: str) -> None:
        from pinnace.runtime import container

        container.pause(self.root, container_id)

    def resume(self, container_id: str) -> None:
        from pinnace.runtime import container

        container.resume(self.root, container_id)

    def exec_process(
        self, container_id: str, process: dict[str, Any], *, detach: bool = False, console: Any = None
    ) -> tuple[int, int]:
        from pinnace.runtime import container

        return container.exec_process(self.root, container_id, process, detach=detach, console=console)


class Command(Runtime):
    """A runc-compatible program, through its command line."""

    def __init__(self, path: str, root: str) -> None:
        super().__init__(root)
        self.path = path

    def _argv(self, *args: str) -> list[str]:
        return [self.path, "--root", self.root, *args]

    def _run(self, *args: str) -> None:
        """Run one runtime command; what it wrote to stderr, when it failed, as a pinnace error."""
        import subprocess

        proc = subprocess.run(
            self._argv(*args), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip()
            raise _error(message or f"{os.path.basename(self.path)} {args[0]} exited {proc.returncode}")

    def create(self, container_id: str, bundle: str, *, console: Any = None, pid_file: str = "") -> int:
        import subprocess

        os.makedirs(self.root, 0o700, exist_ok=True)
        pid_file = pid_file or os.path.join(bundle, "init.pid")
        log = os.path.join(bundle, "runtime.log")
        argv = self._argv(
            "--log", log, "--log-format", "json", "create", "--bundle", bundle, "--pid-file", pid_file
        )
        with _console_socket(console) as (console_flags, relay):
            # Our stdio, the container's to be: the runtime hands them to its init.
            proc = subprocess.Popen([*argv, *console_flags, container_id])
            relay(proc)
            if proc.wait() != 0:
                message = _last_error(log)
                raise _error(message or f"{os.path.basename(self.path)} create exited {proc.returncode}")
        with open(pid_file, encoding="ascii") as f:
            return int(f.read().strip())

    def start(self, container_id: str) -> None:
        self._run("start", container_id)

    def exists(self, container_id: str) -> bool:
        import subprocess

        argv = self._argv("state", container_id)
        return subprocess.run(argv, capture_output=True, check=False).returncode == 0

    def kill(self, container_id: str, signum: int, *, all_processes: bool = False) -> None:
        self._run("kill", *(["--all"] if all_processes else []), container_id, str(signum))

    def delete(self, container_id: str, *, force: bool = False) -> None:
        self._run("delete", *(["--force"] if force else []), container_id)

    def pause(self, container_id: str) -> None:
        self._run("pause", container_id)

    def resume(self, container_id: str) -> None:
        self._run("resume", container_id)

    def exec_process(
        self, container_id: str, process: dict[str, Any], *, detach: bool = False, console: Any = None
    ) -> tuple[int, int]:
        import subprocess
        import tempfile

        from pinnace._util import jsonc

        with tempfile.TemporaryDirectory(prefix="pinnace-exec-") as scratch, _console_socket(console) as (
            console_flags,
            relay,
        ):
            spec = os.path.join(scratch, "process.json")
            pid_file = os.path.join(scratch, "pid")
            with open(spec, "w", encoding="utf-8") as f:
                f.write(jsonc.dumps(process))
            flags = ["--detach", "--pid-file", pid_file] if detach else []
            argv = self._argv("exec", *flags, *console_flags, "--process", spec, container_id)
            proc = subprocess.Popen(argv)
            relay(proc)
            code = proc.wait()
            if not detach:
                return 0, code  # the pid is runc's to know: it waited for the process
            if code != 0:
                raise _error(f"{os.path.basename(self.path)} exec exited {code}")
            with open(pid_file, encoding="ascii") as f:
                return int(f.read().strip()), 0


class _console_socket:  # noqa: N801 -- used as a function: ``with _console_socket(console) as ...``
    """For a runtime command given ``console``: its ``--console-socket`` flags, and what passes the pty
    master it sends there on to ``console`` once it runs (no flags, and nothing to do, without one).
    A class rather than a contextlib generator: ``run`` imports this module, and not contextlib."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.socket_dir = ""
        self.listener: Any = None

    def __enter__(self) -> tuple[list[str], Callable[[Any], None]]:
        if self.console is None:
            return [], lambda _proc: None
        import _socket
        import tempfile

        # The runtime dials a path: a short one (sun_path is 108 bytes), ours alone.
        self.socket_dir = tempfile.mkdtemp(prefix="pinnace-console-")
        path = os.path.join(self.socket_dir, "s")
        try:
            self.listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
            self.listener.bind(path)
            self.listener.listen(1)
        except BaseException:
            self.__exit__()
            raise
        listener, console = self.listener, self.console
        return ["--console-socket", path], lambda proc: _relay_console(listener, console, proc)

    def __exit__(self, *exc: object) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.socket_dir:
            import shutil

            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir = ""


def _relay_console(listener: Any, console: Any, proc: Any) -> None:
    """Pass the pty master the runtime sends on ``listener`` on to our ``console`` connection."""
    import select

    from pinnace.runtime.linux import console as consoles

    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    while not poller.poll(100):
        if proc.poll() is not None:
            return  # it failed before it made the terminal: its error tells why
    fd, _ = listener._accept()
    import _socket

    conn = _socket.socket(fileno=fd)
    try:
        master = consoles.recv_fd(conn)
    finally:
        conn.close()
    try:
        consoles.send_fd(console, master, "/dev/ptmx")
    finally:
        os.close(master)


def _last_error(log: str) -> str:
    """The last error a runtime wrote to its JSON ``--log`` (runc: {"level":"error","msg":...})."""
    from pinnace._util import jsonc

    message = ""
    try:
        with open(log, "rb") as f:
            for line in f:
                try:
                    entry = jsonc.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg") or "")
    except OSError:
        return ""
    return message


def _error(message: str) -> PinnaceError:
    """A runtime's message as the pinnace error docker's exit codes hang on (127/126 for exec failures)."""
    if "executable file not found" in message or "no such file or directory" in message:
        return NotFound(message)
    if "permission denied" in message:
        return FailedPrecondition(message)
    return Unavailable(message)


def root_for(name: str, runroot: str) -> str:
    """Where the runtime stored as ``name`` keeps its state under ``runroot``."""
    if name in ("", DEFAULT):
        return os.path.join(runroot, "runtime")
    return os.path.join(runroot, "runtimes", os.path.basename(name))


def runtime_at(name: str, root: str) -> Runtime:
    """The runtime stored as ``name`` (see :func:`resolve`) with its state root."""
    return Library(root) if name in ("", DEFAULT) else Command(name, root)
