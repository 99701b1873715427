"""``pinnace exec``: docker's exec, run in this process (no daemon, no monitor in between).

The exec'd process inherits this command's stdio, arranged as docker's
attach would have it: stdin only with ``-i`` (else /dev/null); with
``-t`` the runtime makes a pty in the container and relays our stdio
through it; detached, nothing of ours (all /dev/null) and nothing printed.

What docker prints, where it prints it, and its exit codes:

- the container cannot take an exec (no such container, not running,
  paused): ``Error response from daemon: ...`` on stderr, exit 1;
- the process could not start: the daemon's message on *stdout* followed
  by ``\\r\\n`` (dockerd writes it into the attached stream), exit 127
  when the command is not found, else 126; detached, the API error
  instead (stderr, exit 1);
- otherwise the process's exit code (128+N when killed by signal N).
"""

from __future__ import annotations

import os

from pinnace._util.golang import json_text
from pinnace.cli.flags import Flags
from pinnace.errors import InvalidArgument, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.cli.flags import Values
    from pinnace.cli.main import Context
    from pinnace.containers.exec import ExecConfig


def exec_(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "exec", "Execute a command in a running container", "[OPTIONS] CONTAINER COMMAND [ARG...]",
        interspersed=False,
    )  # fmt: skip
    p.add_bool("detach", "d", help="Detached mode: run command in the background")
    p.add_string("detach-keys", help="Override the key sequence for detaching a container")
    p.add_list("env", "e", help="Set environment variables")
    p.add_list("env-file", help="Read in a file of environment variables")
    p.add_bool("interactive", "i", help="Keep STDIN open even if not attached")
    p.add_bool("privileged", help="Give extended privileges to the command")
    p.add_bool("tty", "t", help="Allocate a pseudo-TTY")
    p.add_string("user", "u", help='Username or UID (format: "<name|uid>[:<group|gid>]")')
    p.add_string("workdir", "w", help="Working directory inside the container")
    ns = p.parse(argv, min_args=2)
    if ctx.remote:
        return _remote(ctx, ns)
    from pinnace.containers import exec as execs

    execs.warm_up()  # first, so that it overlaps everything below
    try:
        options = _options(ns)
    except InvalidArgument as e:  # docker's CLI prints its own errors bare
        ctx.stderr.write(f"{e}\n")
        return 1

    service = ctx.engine.containers
    ref = ns.args[0]
    detach = options.detach
    try:
        service.get(ref)  # docker's CLI inspects first: "No such container" before anything else
        if not detach and options.tty and ns.flag("interactive") and not os.isatty(0):
            ctx.stderr.write("the input device is not a TTY\n")
            return 1
        keys = ns.value("detach_keys")
        if keys:
            _check_detach_keys(keys)
        ctx.stdout.flush()
        ctx.stderr.flush()
        with _Stdio(stdin=ns.flag("interactive") and not detach, tty=options.tty, detach=detach):
            result = execs.run(service, ref, options)
    except execs.ExecStartError as e:
        if detach:
            ctx.stderr.write(f"Error response from daemon: {e}\n")
            return 1
        ctx.stdout.write(f"{e}\r\n")
        return e.exit_code
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e}\n")
        return 1
    return result.exit_code


def _remote(ctx: Context, ns: Values) -> int:
    """``exec`` against a remote engine: the exec runs on the service's side, its stdio relayed over the
    hijacked ``/exec/{id}/start`` by the attach relay (:mod:`pinnace.client.attach`)."""
    from pinnace.cli.attach import relay
    from pinnace.shim import protocol

    try:
        options = _options(ns)
    except InvalidArgument as e:
        ctx.stderr.write(f"{e}\n")
        return 1
    interactive = ns.flag("interactive")
    if not options.detach and options.tty and interactive and not os.isatty(0):
        ctx.stderr.write("the input device is not a TTY\n")
        return 1
    keys = ns.value("detach_keys") or ""
    try:
        if keys:
            _check_detach_keys(keys)
        ctx.engine.containers.get(ns.args[0])  # "No such container" before anything else, as docker's CLI
        _, run_dir = ctx.engine.containers.exec_session(
            ns.args[0], options, stdin=interactive, detach_keys=keys
        )
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e}\n")
        return 1
    if run_dir is None:
        return 0
    ctx.stdout.flush()
    ctx.stderr.flush()
    from pinnace.cli.attach import DEFAULT_DETACH_KEYS, Detached

    try:
        code = relay(
            protocol.connect(run_dir), stdin=interactive, tty=options.tty, detach_keys=keys or DEFAULT_DETACH_KEYS
        )
    except Detached:
        return 0
    return 126 if code is None else code


def _options(ns: Values) -> ExecConfig:
    """The flags as an ExecConfig, with docker's CLI checks and env lookups."""
    from pinnace.containers.exec import ExecConfig

    env: list[str] = []
    if ns.values("env_file") or ns.values("env"):
        env = _env(ns)
    return ExecConfig(
        cmd=tuple(json_text(a) for a in ns.args[1:]),  # as docker's CLI sends them
        env=tuple(env),
        user=ns.value("user") or "",
        workdir=ns.value("workdir") or "",
        tty=ns.flag("tty"),
        privileged=ns.flag("privileged"),
        detach=ns.flag("detach"),
    )


def _env(ns: Values) -> list[str]:
    """``--env-file`` entries then ``-e``, as docker's CLI reads them (a bare KEY takes our value of it)."""
    from pinnace.containers import options as o

    env: list[str] = []
    for path in ns.values("env_file"):
        try:
            with open(path, "rb") as f:
                env.extend(o.parse_env_file(f.read(), name=path))
        except FileNotFoundError:
            raise InvalidArgument(f"open {path}: no such file or directory") from None
    env.extend(o.parse_env(e) for e in ns.values("env"))
    return env


def _check_detach_keys(keys: str) -> None:
    """dockerd's check of ``--detach-keys`` at exec create (a pty relayed by the runtime has none to watch)."""
    from pinnace.cli.attach import parse_detach_keys

    try:
        parse_detach_keys(keys)
    except InvalidArgument:
        raise InvalidArgument(f"Invalid escape keys ({keys}) provided") from None


def _exposed(fd: int) -> bool:
    """Whether our ``fd`` must not be handed to the container as it is.

    A pipe or /dev/null may be (what containerd hands runc); a terminal, a
    file or a socket may not: root in the container could chown and chmod
    a host file through it (CAP_CHOWN, CAP_FOWNER), or keep a terminal to
    read what is typed after we are gone.  Those get a pipe of ours.
    """
    import stat

    try:
        st = os.fstat(fd)
    except OSError:
        return False  # closed: nothing to hand over
    if stat.S_ISFIFO(st.st_mode):
        return False
    return not (stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3))


class _Stdio:
    """Our fds 0-2 as the exec'd process must inherit them, for the length of the block.

    - stdin: ours with ``-i``; with ``-t`` alone the read end of a pipe
      nobody writes to (the pty gets no input and no end-of-file, as with
      docker); otherwise /dev/null;
    - stdout, stderr: ours; detached, /dev/null (the process must hold no
      pipe of our caller open);
    - with ``-t`` the runtime relays the pty to our fds itself;
    - an fd of ours that is not a pipe (:func:`_exposed`) is replaced by a
      pipe that a thread relays (:class:`_Relay`), as docker's streams are.
    """

    def __init__(self, *, stdin: bool, tty: bool, detach: bool) -> None:
        self.saved: list[tuple[int, int]] = []
        self.closing: list[int] = []
        self.relay: _Relay | None = None
        self.stdin, self.tty, self.detach = stdin, tty, detach

    def _replace(self, target: int, fd: int) -> int:
        saved = os.dup(target)
        self.saved.append((target, saved))
        os.dup2(fd, target)
        return saved

    def __enter__(self) -> None:
        try:
            if self.detach:
                self._null(0, 1, 2)
            elif self.tty:
                if not self.stdin:
                    read_end, write_end = os.pipe()
                    self.closing.append(write_end)  # held open until the process is done
                    self._replace(0, read_end)
                    os.close(read_end)
            else:
                self._pipes()
        except BaseException:
            self.__exit__()
            raise

    def _null(self, *targets: int) -> None:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            for target in targets:
                self._replace(target, null)
        finally:
            os.close(null)

    def _pipes(self) -> None:
        inputs: list[tuple[int, int]] = []
        outputs: list[tuple[int, int]] = []
        if not self.stdin:
            self._null(0)
        elif _exposed(0):
            read_end, write_end = os.pipe()
            inputs.append((self._replace(0, read_end), write_end))
            os.close(read_end)
        for target in (1, 2):
            if _exposed(target):
                read_end, write_end = os.pipe()
                outputs.append((read_end, self._replace(target, write_end)))
                os.close(write_end)
        if inputs or outputs:
            self.relay = _Relay(inputs, outputs)

    def __exit__(self, *_: object) -> None:
        for target, saved in reversed(self.saved):
            os.dup2(saved, target)  # the process's ends of our pipes close here
        if self.relay is not None:
            self.relay.finish()
            self.relay = None
        for _target, kept in self.saved:
            os.close(kept)
        self.saved.clear()
        for fd in self.closing:
            os.close(fd)
        self.closing.clear()


class _Relay:
    """A thread that copies our stdin into the process's pipe and its pipes to our stdout/stderr.

    ``inputs`` and ``outputs`` are (source, destination) fd pairs; the
    relay owns (and closes) the pipe ends among them: the destinations of
    inputs and the sources of outputs.  At the end of an input its pipe is
    closed, so the process reads end-of-file.  :meth:`finish`, once the
    process is gone, copies what is left in the output pipes and stops.
    """

    def __init__(self, inputs: list[tuple[int, int]], outputs: list[tuple[int, int]]) -> None:
        import threading

        self.route = dict(inputs + outputs)
        self.inputs = {source for source, _ in inputs}
        self.outputs = {source for source, _ in outputs}
        self.wake_r, self.wake_w = os.pipe()
        self.owned = {self.wake_r, self.wake_w, *(dest for _, dest in inputs), *self.outputs}
        self.thread = threading.Thread(target=self._run, name="exec-relay", daemon=True)
        self.thread.start()

    def finish(self) -> None:
        os.write(self.wake_w, b"x")
        self.thread.join()
        for fd in self.owned:
            os.close(fd)
        self.owned.clear()

    def _run(self) -> None:
        import select

        poller = select.poll()
        for source in (*self.route, self.wake_r):
            poller.register(source, select.POLLIN)
        live = set(self.route)
        ending = False
        while not ending or live & self.outputs:
            events = poller.poll(0 if ending else -1)
            if ending and not events:
                return  # what the process wrote is copied; whoever still holds its pipes may keep them
            for fd, _ in events:
                if fd == self.wake_r:
                    ending = True
                    for source in (self.wake_r, *(live & self.inputs)):
                        poller.unregister(source)
                    live -= self.inputs
                    continue
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if data:
                    self._write(self.route[fd], data)
                    continue
                poller.unregister(fd)
                live.discard(fd)
                if fd in self.inputs:  # the end of our stdin: the process reads end-of-file
                    os.close(self.route[fd])
                    self.owned.discard(self.route[fd])

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            pass  # the reader went away (EPIPE): drop the rest, as docker's copier does
