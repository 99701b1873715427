"""The ``pinnace`` entry point: hands ``run`` and ``exec`` to the warm zygote, runs the rest itself.

A ``pinnace run`` is latency users feel, and most of a fresh Python
process's share of it is importing the engine (~20 ms here, and ~150 ms
more for netlink's pyroute2 when the container gets a network).  The store's
worker zygote (:mod:`pinnace.shim.zygote`) has all of that loaded already,
so when it runs, this module -- which imports little beyond ``os`` and
``_socket`` -- sends it the command line, the working directory, the
environment, the umask and our stdin/stdout/stderr (SCM_RIGHTS), and a
process forked from the zygote runs the command on those descriptors
exactly as :func:`pinnace.cli.main.run` would here.  We pass on the signals
we receive (the sig-proxy, ctrl-c, SIGWINCH) and exit with its exit code.

The ``pinnace`` command itself is the native twin of this front half
(``front.c`` here, built by setup.sh): it does the same hand-over without
starting an interpreter, and executes this module's entry point for anything
else, which then decides again as described here.

Without a zygote (the first command on a runroot; it starts one), with a
stale one (pinnace was upgraded: it says so and goes away), or with
``PINNACE_NO_ZYGOTE`` set, the command runs in this process as before.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The commands worth handing over: the rest are not on a latency path.
HANDED_OVER = frozenset(("run", "exec", "container run", "container exec"))

#: What the worker zygote loads for :func:`serve_request` (what ``run`` and ``exec`` import), so they start warm.
PRELOAD = (
    "pinnace.cli.main",
    "pinnace.cli.flags",
    "pinnace.cli.containers",
    "pinnace.cli.container_flags",
    "pinnace.cli.attach",
    "pinnace.cli.exec",
    "pinnace.cli.images",
    "pinnace.engine",
    "pinnace.events",
    "pinnace.containers.service",
    "pinnace.containers.spec",
    "pinnace.containers.options",
    "pinnace.containers.records",
    "pinnace.containers.layer",
    "pinnace.containers.names",
    "pinnace.containers.exec",
    "pinnace.containers.health",
    "pinnace.containers.views",
    "pinnace.containers.hostfiles",
    "pinnace.containers.networking",
    "pinnace.network.plumbing",
    "pinnace.network.service",
    "pinnace.network.records",
    "pinnace.network.ipam",
    "pinnace.network.nat",
    "pinnace.network.ports",
    "pinnace.network.dns",
    "pinnace.network.config",
    "pinnace.content",
    "pinnace.archive.oserrors",
    "pinnace.runtime.seccomp_default",
    "pinnace.images.records",
    "pinnace.images.views",
    "pinnace.images.stores",
    "pinnace.meta.db",
    "pinnace.meta.operations",
    "pinnace.snapshots.overlay",
    "pinnace.oci.reference",
    "pinnace.oci.config",
    "pinnace.logs.options",
    "signal",
    "io",
)

#: What the worker zygote loads only once a request on its runroot needed it (pinnace.shim.zygote):
#: netlink's pyroute2 (~110 ms and ~20 MiB) and nftables, for containers on a bridge.  A store whose
#: containers have no network never has its worker zygote pay their memory; one that has pays their
#: import once, in the first such request.
PRELOAD_ONCE_USED = {"netlink": ("pyroute2", "nftables")}

#: Global flags that take a value (pinnace.cli.main's), to find the command word.
_VALUED = frozenset(("--root", "--runroot", "--log-level", "-l"))

#: What we pass on to the command's process (the rest keep their default action here).
_FORWARDED = (1, 2, 3, 10, 12, 13, 15, 28)  # HUP INT QUIT USR1 USR2 PIPE TERM WINCH


def _command(argv: list[str]) -> tuple[str, str]:
    """(the command words, the --runroot) of a command line; ("", "") when it is not plain."""
    runroot = ""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, sep, value = argv[i].partition("=")
        if name not in _VALUED:
            return "", ""  # --help, --version, an unknown flag: the full CLI answers
        if not sep:
            i += 1
            if i >= len(argv):
                return "", ""
            value = argv[i]
        if name == "--runroot":
            runroot = value
        i += 1
    words = argv[i : i + 2]
    if len(words) >= 2 and " ".join(words) in HANDED_OVER:
        return " ".join(words), runroot
    return (words[0], runroot) if words and words[0] in HANDED_OVER else ("", "")


def _runroot(flag: str) -> str:
    from pinnace import DEFAULT_RUNROOT

    return os.path.abspath(flag or os.environ.get("PINNACE_RUNROOT") or DEFAULT_RUNROOT)


def _hand_over(argv: list[str], runroot: str) -> int | None:
    """Run the command in a process the zygote forks; its exit code, or None when there is no zygote."""
    import _socket
    import sys

    from pinnace._util import jsonc
    from pinnace.shim import protocol
    from pinnace.shim.zygote import SOCKET_NAME, WORKER_SOCKET_NAME

    sock = None
    for name in (WORKER_SOCKET_NAME, SOCKET_NAME):  # the worker zygote has us loaded; the zygote, not yet
        try:
            sock = protocol.connect(runroot, name)
            break
        except OSError:
            continue
    if sock is None:
        return None
    umask = os.umask(0)
    os.umask(umask)
    request = {
        "cli": argv,
        "program": os.path.abspath(sys.argv[0]),  # what later commands (a monitor's rm of --rm) run
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "umask": umask,
    }
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))  # C ints (no array import: 2 ms)
    try:
        line = jsonc.dumps(request, compact=True).encode() + b"\n"
    except UnicodeEncodeError:  # bytes that are not UTF-8 (an argument, a variable): they stay here
        sock.close()
        return None
    try:
        sock.sendmsg([line], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    except OSError:
        sock.close()
        return None
    return _serve(sock)


def _serve(sock: Any) -> int | None:
    """Pass our signals on until the command's process reports its exit code."""
    import _signal  # type: ignore[import-not-found]  # signal without its enum

    from pinnace._util import jsonc

    def forward(signum: int, _frame: object) -> None:
        try:
            sock.sendall(f"{signum}\n".encode())
        except OSError:
            pass

    for signum in _FORWARDED:
        _signal.signal(signum, forward)
    buffer = b""
    while b"\n" not in buffer:
        try:
            data = sock.recv(4096)
        except InterruptedError:
            continue
        if not data:
            break
        buffer += data
    line = buffer.partition(b"\n")[0]
    try:
        reply = jsonc.loads(line)
    except ValueError:
        return 125  # it died without a word (killed): as docker's CLI when the daemon goes away
    if reply.get("stale"):
        return None
    return int(reply["exit"])


def main() -> None:
    import sys

    argv = sys.argv[1:]
    command, runroot = _command(argv)
    remote = os.environ.get("PINNACE_HOST") or os.environ.get("DOCKER_HOST")  # runs here, talks to a service
    if command and not os.environ.get("PINNACE_NO_ZYGOTE") and not remote:
        code = _hand_over(argv, _runroot(runroot))
        if code is not None:
            os._exit(code)
        from pinnace.shim.zygote import watch_imports

        # Run here (no zygote yet: this run starts it): what we import once, the worker zygote should too.
        watch_imports(_runroot(runroot), PRELOAD_ONCE_USED)
    from pinnace.cli.main import main as full

    full()


def prepare(previous: dict[str, Any] | None) -> None:
    """In a spare process of the worker zygote: open the store the previous request used.

    The next request, most likely on the same store, then finds its database
    open (:func:`pinnace.cli.main.prepare_engine`; a request for another
    store opens its own as before).
    """
    if previous is None:
        return
    from pinnace.cli.main import prepare_engine

    prepare_engine([str(a) for a in previous["cli"]], dict(previous["env"]), str(previous["cwd"]))


def serve_request(request: dict[str, Any], fds: list[int], conn: Any) -> int:
    """In the process the zygote forked for ``request``: become the requester's CLI and run its command."""
    import _thread
    import io
    import sys

    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(str(request["cwd"]))
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update(request["env"])
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    argv = [str(a) for a in request["cli"]]
    sys.argv = [str(request.get("program") or "pinnace"), *argv]
    _thread.start_new_thread(_signals_from, (conn,))
    from pinnace.cli.main import run

    try:
        code = run(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    return code


def _signals_from(conn: Any) -> None:
    """Raise here the signals the requester received (each a line with its number)."""
    buffer = b""
    while True:
        try:
            data = conn.recv(4096)
        except OSError:
            return
        if not data:
            return
        buffer += data
        while b"\n" in buffer:
            line, _, buffer = buffer.partition(b"\n")
            try:
                os.kill(os.getpid(), int(line))
            except (ValueError, OSError):
                pass
