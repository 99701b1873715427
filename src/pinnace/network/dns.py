"""The embedded DNS server of user-defined networks: docker's 127.0.0.11 inside each container.

One server process per runroot (``<runroot>/dns.sock``, started on first
use) answers for every container on a user-defined network.  The sockets
it serves on are made by whoever starts the container, *inside* the
container's network namespace (a thread joins the namespace, binds UDP
and TCP ``127.0.0.11:53``, and leaves), then handed to the server over
its control socket with SCM_RIGHTS: one process listens in many
namespaces, as dockerd's resolver does, with no rule to redirect port 53.
A socket keeps its namespace alive, so a container's sockets are handed
back (closed) when its network is taken down (:func:`unregister`).

Names of the container's networks (container names, network aliases,
short IDs) are answered from pinnace.db through the ``answer`` function
the server is given; anything else is forwarded, as it came, to the
upstream resolvers (daemon.json's ``dns``, else the host's
/etc/resolv.conf: the server runs in the host's namespace, so a resolver
on the host's loopback works).  dnspython parses the messages.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time

from pinnace.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

SOCKET_NAME = "dns.sock"
LOCK_NAME = "dns.lock"
PID_NAME = "dns.pid"  # for whoever must stop it (tests: by pid)
#: The server's process name (``comm``): a pid in PID_NAME is the server only if it has this name.
PROCESS_NAME = "pinnace-dns"
#: Where containers on user-defined networks find their resolver (docker's).
ADDRESS = "127.0.0.11"
#: TTL of the answers about containers (docker's).
TTL = 600
#: How long a forwarded query waits for its upstream (s).
FORWARD_TIMEOUT = 5.0
#: The server exits after this long with no container to serve (s).
IDLE_EXIT = 30.0
_CLONE_NEWNET = 0x40000000


# --------------------------------------------------------------------------- the starting side


def listen_in(netns: str) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets bound to 127.0.0.11:53 inside the network namespace at ``netns``."""
    from pinnace.mount.flags import libc

    made: list[socket.socket] = []
    failure: list[BaseException] = []

    def inside() -> None:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc().setns(fd, _CLONE_NEWNET) != 0:
                import ctypes

                raise OSError(ctypes.get_errno(), f"setns {netns}")
        finally:
            os.close(fd)
        try:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            made.append(udp)
            udp.bind((ADDRESS, 53))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            made.append(tcp)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((ADDRESS, 53))
            tcp.listen(64)
        except BaseException as e:
            failure.append(e)

    thread = threading.Thread(target=inside, name="dns-listen")  # setns acts on this thread only
    thread.start()
    thread.join()
    if failure or len(made) != 2:
        for s in made:
            s.close()
        raise Unavailable(f"embedded DNS in {netns}: {failure[0] if failure else 'no socket'}")
    return made[0], made[1]


def register(runroot: str, container_id: str, netns: str, start: Callable[[], None]) -> None:
    """Have the runroot's DNS server answer in the container's namespace (``start`` starts a server if none)."""
    udp, tcp = listen_in(netns)
    try:
        _send(runroot, {"op": "add", "id": container_id}, [udp.fileno(), tcp.fileno()], start)
    finally:
        udp.close()
        tcp.close()


def unregister(runroot: str, container_id: str) -> None:
    """The server closes the container's sockets (its namespace can go); no server: nothing to do."""
    if not os.path.exists(os.path.join(runroot, SOCKET_NAME)):
        return
    try:
        _send(runroot, {"op": "remove", "id": container_id}, [], None)
    except (OSError, Unavailable):
        pass  # no server listens: no socket of it is held


def _send(runroot: str, message: dict[str, Any], fds: list[int], start: Callable[[], None] | None) -> None:
    import array

    from pinnace._util import jsonc
    from pinnace.shim import protocol

    try:
        conn = protocol.connect(runroot, SOCKET_NAME)
    except OSError:
        if start is None:
            raise
        start()
        conn = protocol.connect(runroot, SOCKET_NAME)
    try:  # a bare _socket.socket: no context manager
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
        conn.sendmsg([jsonc.dumps(message, compact=True).encode() + b"\n"], ancillary)
        conn.settimeout(5)
        if conn.recv(16) != b"ok\n":
            raise Unavailable("the DNS server refused the request")
    finally:
        conn.close()


def start_server(runroot: str, root: str, entry: str) -> None:
    """Start a detached server (``entry`` is ``module:function`` running :func:`serve`) and wait until it listens."""
    import sys

    from pinnace._util.daemon import start_detached

    message = start_detached(sys.executable, entry, lambda ready: [root, runroot, str(ready)], quiet=True)
    if message not in ("ready", "running"):
        raise Unavailable(f"the DNS server did not start: {message or 'it exited'}")


# --------------------------------------------------------------------------- the server


def serve(
    runroot: str,
    ready_fd: int,
    answer: Callable[[str, str], Sequence[str]],
    upstreams: Sequence[str],
) -> NoReturn:
    """The server's life: listen, say ready on ``ready_fd``, answer until idle or its runroot is gone.

    ``answer(container_id, name)`` gives the addresses ``name`` has for
    that container (its networks' containers: IPv4, and IPv6 on IPv6
    networks), empty to forward; an A or AAAA question is answered with
    those of its kind.
    """
    import fcntl

    from pinnace.shim import protocol
    from pinnace.shim.monitor import set_name

    set_name(PROCESS_NAME)

    os.makedirs(runroot, 0o700, exist_ok=True)
    lock = os.open(os.path.join(runroot, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.write(ready_fd, b"running")  # another server has the runroot
        os._exit(0)
    try:
        os.unlink(os.path.join(runroot, SOCKET_NAME))
    except FileNotFoundError:
        pass
    listener = socket.socket(fileno=protocol.listen(runroot, SOCKET_NAME).detach())
    with open(os.path.join(runroot, PID_NAME), "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    os.write(ready_fd, b"ready")
    os.close(ready_fd)
    _Server(runroot, listener, answer, list(upstreams)).run()
    os._exit(0)


class _Server:
    def __init__(
        self,
        runroot: str,
        listener: socket.socket,
        answer: Callable[[str, str], Sequence[str]],
        upstreams: list[str],
    ) -> None:
        self.runroot = runroot
        self.listener = listener
        self.answer = answer
        self.upstreams = upstreams
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, ("control", ""))
        self.sockets: dict[str, list[socket.socket]] = {}
        self.pending: dict[socket.socket, tuple[socket.socket, Any, float]] = {}
        self.idle_since = time.monotonic()

    def run(self) -> None:
        path = os.path.join(self.runroot, SOCKET_NAME)
        while True:
            for key, _ in self.selector.select(timeout=1.0):
                kind, owner = key.data
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    if kind == "control":
                        self._control()
                    elif kind == "udp":
                        self._udp(sock, owner)
                    elif kind == "tcp":
                        conn, _ = sock.accept()
                        threading.Thread(target=self._tcp, args=(conn, owner), daemon=True).start()
                    elif kind == "upstream":
                        self._relay(sock)
                except OSError:
                    continue
            now = time.monotonic()
            for up, (_, _, deadline) in list(self.pending.items()):
                if deadline < now:
                    self._drop(up)
            if self.sockets or self.pending:
                self.idle_since = now
            elif now - self.idle_since > IDLE_EXIT or not os.path.exists(path):
                return

    # -- control
    def _control(self) -> None:
        import array

        from pinnace._util import jsonc

        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(5)
            fds = array.array("i")
            data, ancillary, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(2 * fds.itemsize))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            try:
                message = jsonc.loads(data.decode().strip())
                container_id = str(message["id"])
            except (ValueError, KeyError, UnicodeDecodeError):
                for fd in fds:
                    os.close(fd)
                return
            if message.get("op") == "add" and len(fds) == 2:
                self._close(container_id)
                udp = socket.socket(fileno=fds[0])
                tcp = socket.socket(fileno=fds[1])
                udp.setblocking(False)
                tcp.setblocking(False)
                self.selector.register(udp, selectors.EVENT_READ, ("udp", container_id))
                self.selector.register(tcp, selectors.EVENT_READ, ("tcp", container_id))
                self.sockets[container_id] = [udp, tcp]
            else:
                for fd in fds:
                    os.close(fd)
                self._close(container_id)
            conn.sendall(b"ok\n")

    def _close(self, container_id: str) -> None:
        for sock in self.sockets.pop(container_id, []):
            self.selector.unregister(sock)
            sock.close()

    # -- queries
    def _udp(self, sock: socket.socket, owner: str) -> None:
        data, client = sock.recvfrom(4096)
        reply = self._local(owner, data)
        if reply is not None:
            sock.sendto(reply, client)
            return
        self._forward(data, sock, client)

    def _tcp(self, conn: socket.socket, owner: str) -> None:
        """One TCP client (its own thread): length-prefixed queries, answered locally or through UDP upstream."""
        with conn:
            conn.settimeout(FORWARD_TIMEOUT)
            try:
                while head := _read_exactly(conn, 2):
                    data = _read_exactly(conn, int.from_bytes(head, "big"))
                    if not data:
                        return
                    reply = self._local(owner, data) or self._ask_upstream(data) or _failure(data)
                    if reply is None:
                        return
                    conn.sendall(len(reply).to_bytes(2, "big") + reply)
            except OSError:
                return

    def _local(self, owner: str, data: bytes) -> bytes | None:
        """The answer about a container of the owner's networks, or None to forward."""
        import dns.flags
        import dns.message
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        try:
            query = dns.message.from_wire(data)
        except Exception:
            return None
        if len(query.question) != 1:
            return None
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN or question.rdtype not in (
            dns.rdatatype.A,
            dns.rdatatype.AAAA,
        ):
            return None
        name = question.name.to_text(omit_final_dot=True).lower()
        try:
            addresses = list(self.answer(owner, name))
        except Exception:
            return None
        if not addresses:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        # A name we know with no address of the kind asked: an empty answer (NODATA), not a forward.
        wanted = [a for a in addresses if (":" in a) == (question.rdtype == dns.rdatatype.AAAA)]
        if wanted:
            response.answer.append(
                dns.rrset.from_text_list(question.name, TTL, dns.rdataclass.IN, question.rdtype, wanted)
            )
        wire: bytes = response.to_wire()
        return wire

    def _forward(self, data: bytes, client_sock: socket.socket, client: Any) -> None:
        if not self.upstreams:
            failure = _failure(data)
            if failure is not None:
                client_sock.sendto(failure, client)
            return
        up = socket.socket(socket.AF_INET6 if ":" in self.upstreams[0] else socket.AF_INET, socket.SOCK_DGRAM)
        up.setblocking(False)
        up.connect((self.upstreams[0], 53))
        up.send(data)
        self.selector.register(up, selectors.EVENT_READ, ("upstream", ""))
        self.pending[up] = (client_sock, client, time.monotonic() + FORWARD_TIMEOUT)

    def _relay(self, up: socket.socket) -> None:
        client_sock, client, _ = self.pending[up]
        try:
            reply = up.recv(65535)
            client_sock.sendto(reply, client)
        finally:
            self._drop(up)

    def _drop(self, up: socket.socket) -> None:
        self.pending.pop(up, None)
        self.selector.unregister(up)
        up.close()

    def _ask_upstream(self, data: bytes) -> bytes | None:
        """A blocking forward (for TCP clients, in their thread), trying each upstream in turn."""
        for server in self.upstreams:
            family = socket.AF_INET6 if ":" in server else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as up:
                up.settimeout(FORWARD_TIMEOUT)
                try:
                    up.connect((server, 53))
                    up.send(data)
                    return up.recv(65535)
                except OSError:
                    continue
        return None


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def _failure(data: bytes) -> bytes | None:
    """SERVFAIL for a query nobody upstream answered (None when the query cannot be parsed)."""
    import dns.message
    import dns.rcode

    try:
        response = dns.message.make_response(dns.message.from_wire(data))
    except Exception:
        return None
    response.set_rcode(dns.rcode.SERVFAIL)
    wire: bytes = response.to_wire()
    return wire


def upstreams(configured: Sequence[str], resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """Where names we do not know go: daemon.json's ``dns``, else the host's name servers."""
    if configured:
        return list(configured)
    try:
        with open(resolv_conf, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]
