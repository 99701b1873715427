"""Where ``pinnace system service`` listens: dockerd's ``-H`` forms, TLS, systemd socket activation.

Whoever reaches the Engine API is root on the host, so every way in is closed unless asked for:

- ``unix://PATH`` sockets are created mode 0600 (the umask is narrowed around ``bind``, so there is no
  moment when anyone else may connect), or 0660 with ``--group`` as dockerd's ``-G``.  A path that holds
  a *live* socket is never taken over -- it may be a running dockerd's ``/var/run/docker.sock`` -- and
  only a socket we created (same device and inode) is removed at exit.
- ``tcp://ADDR:PORT`` without ``--tlsverify`` (client certificates signed by ``--tlscacert``) only on
  loopback addresses, unless ``--insecure-tcp`` says the user means it: dockerd since v27 refuses the same.
  ``--tls`` alone encrypts without authenticating anyone, so it does not count.  TLS is 1.2 or newer.
- ``fd://``, ``fd://*``, ``fd://N`` or ``fd://NAME`` takes the sockets systemd passed (``LISTEN_FDS``,
  ``LISTEN_PID``, ``LISTEN_FDNAMES`` as ``sd_listen_fds_with_names`` reads them); activated TCP sockets
  get TLS and the loopback rule like ours.  Unused passed sockets are closed, as dockerd does.

Everything is bound before the service starts serving, so a refusal is one line and exit 125.
"""

from __future__ import annotations

import asyncio  # only the service imports this module, and it runs on asyncio (and aiohttp) anyway
import os
from dataclasses import dataclass, field

from pinnace.errors import Conflict, InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    import ssl
    from collections.abc import Callable, MutableMapping

#: Where the service listens when no ``-H`` is given (DESIGN.md's runroot layout).
DEFAULT_UNIX_PATH = "/run/pinnace/pinnace.sock"
DEFAULT_HOST = f"unix://{DEFAULT_UNIX_PATH}"
#: Docker's conventional ports: plain HTTP, HTTPS.
PLAIN_PORT = 2375
TLS_PORT = 2376
#: systemd passes activated sockets from this descriptor on (SD_LISTEN_FDS_START).
_FIRST_FD = 3


@dataclass(frozen=True)
class TLSOptions:
    """dockerd's ``--tlscert``/``--tlskey``/``--tlscacert``; ``verify`` is ``--tlsverify``."""

    cert: str
    key: str
    ca: str
    verify: bool


@dataclass(frozen=True)
class ListenOptions:
    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    tls: TLSOptions | None = None
    insecure_tcp: bool = False
    group: str | None = None  # unix sockets 0660 with this group (name or number)
    docker_socket: str | None = None  # an extra unix socket for tools that only know docker's path


@dataclass
class Listener:
    """A listening socket, what to tell the user about it, and its TLS context (TCP with --tls only)."""

    sock: socket.socket
    url: str
    ssl: ssl.SSLContext | None = None


def parse_host(value: str, *, tls: bool = False) -> tuple[str, str]:
    """``(scheme, where)`` of a ``-H`` value, read as dockerd reads it: no scheme means TCP,
    ``unix://`` alone the default socket, ``tcp://`` without host or port 127.0.0.1 and 2375
    (2376 with TLS), ``fd://`` anything after it."""
    host = value.strip()
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = "tcp", host
    if scheme == "unix":
        return "unix", rest or DEFAULT_UNIX_PATH
    if scheme == "fd":
        return "fd", rest
    if scheme == "tcp":
        address, port = _split_tcp(value, rest, tls)
        shown = f"[{address}]" if ":" in address else address
        return "tcp", f"{shown}:{port}"
    raise InvalidArgument(f"invalid bind address format: {value}")


def _split_tcp(value: str, rest: str, tls: bool) -> tuple[str, int]:
    if "/" in rest:
        raise InvalidArgument(f"invalid bind address ({value}): should not contain a path element")
    if rest.startswith("["):
        address, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise InvalidArgument(f"invalid bind address format: {value}")
        port_text = tail[1:]
    else:
        address, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    address = address or "127.0.0.1"
    if not port_text:
        return address, TLS_PORT if tls else PLAIN_PORT
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise InvalidArgument(f"invalid bind address ({value}): invalid port {port_text!r}")
    return address, port


def ssl_context(options: TLSOptions) -> ssl.SSLContext:
    """The server side of dockerd's TLS: its certificate and key; with ``verify``, client certificates
    are required and must be signed by ``ca`` (and that CA only, not the system's); TLS 1.2 or newer."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")  # TLS 1.2: forward-secret AEAD (1.3's are fixed)
    try:
        context.load_cert_chain(options.cert, options.key)
    except (OSError, ssl.SSLError) as e:
        raise InvalidArgument(
            f'could not load X509 key pair (cert: "{options.cert}", key: "{options.key}"): {_why(e)}'
        ) from None
    if options.verify:
        try:
            context.load_verify_locations(cafile=options.ca)
        except (OSError, ssl.SSLError) as e:
            raise InvalidArgument(f'could not read CA certificate "{options.ca}": {_why(e)}') from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _why(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(getattr(error, "reason", None) or error)


def resolve_group(name: str) -> int:
    """The gid of ``--group``: a group name, or a number as dockerd also accepts."""
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    if name.isdigit():
        return int(name)
    raise InvalidArgument(f"group {name} not found: cannot give it the API socket")


@dataclass
class Listeners:
    """Opens every socket of ``options`` (:meth:`open`) and, at the end, closes them and removes the
    unix sockets we created (:meth:`close`): only those, and only while they are still ours."""

    options: ListenOptions
    environ: MutableMapping[str, str] = field(default_factory=lambda: os.environ)
    opened: list[Listener] = field(default_factory=list)
    ours: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (dev, ino)
    _activated: list[tuple[int, str, socket.socket]] | None = None
    _used_fds: set[int] = field(default_factory=set)

    def open(self) -> list[Listener]:
        options = self.options
        context = ssl_context(options.tls) if options.tls is not None else None
        gid = resolve_group(options.group) if options.group is not None else None
        hosts = list(options.hosts)
        if options.docker_socket:
            hosts.append(f"unix://{options.docker_socket}")
        try:
            for host in hosts:
                scheme, where = parse_host(host, tls=context is not None)
                try:
                    if scheme == "unix":
                        self.opened.append(self._unix(where, gid))
                    elif scheme == "tcp":
                        self.opened.append(self._tcp(host, where, context))
                    else:
                        self.opened.extend(self._fd(host, where, context))
                except OSError as e:  # in use, no permission: one line that names the socket
                    shown = f"unix://{where}" if scheme == "unix" else host
                    raise Unavailable(f"cannot listen on {shown}: {_why(e)}") from None
        except BaseException:
            self.close()
            raise
        finally:
            for fd, _, sock in self._activated or ():
                if fd not in self._used_fds:
                    sock.close()  # passed to us but not asked for: dockerd closes them too
        return self.opened

    def close(self) -> None:
        """Close what is still open (the server normally closed them) and remove our own sockets."""
        for listener in self.opened:
            listener.sock.close()
        self.unlink_ours()

    def unlink_ours(self) -> None:
        """Remove our own unix sockets: as soon as the service stops, before it waits for open
        connections, so a successor started meanwhile never has its socket (maybe on a reused
        inode) removed by us."""
        for path, identity in self.ours.items():
            try:
                st = os.lstat(path)
                if (st.st_dev, st.st_ino) == identity:  # not a successor's socket at the same path
                    os.unlink(path)
            except FileNotFoundError:
                pass
        self.ours.clear()

    # -- unix ------------------------------------------------------------------------------------------
    def _unix(self, path: str, gid: int | None) -> Listener:
        import socket

        path = os.path.abspath(path)
        _clear_stale(path)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o755, exist_ok=True)
            os.chmod(parent, 0o755)  # not narrowed by the umask: others may need to reach a group socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            umask = os.umask(0o177)  # born 0600: no moment when others may connect
            try:
                sock.bind(path)
            finally:
                os.umask(umask)
            st = os.lstat(path)
            self.ours[path] = (st.st_dev, st.st_ino)
            if gid is not None:
                os.chown(path, -1, gid)
                os.chmod(path, 0o660)
            sock.listen(512)
        except BaseException:
            sock.close()
            raise
        return Listener(sock, f"unix://{path}")

    # -- tcp -------------------------------------------------------------------------------------------
    def _tcp(self, host: str, where: str, context: ssl.SSLContext | None) -> Listener:
        import socket

        address, _, port = where.rpartition(":")
        address = address.strip("[]")
        try:
            infos = socket.getaddrinfo(
                address, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
            )
        except socket.gaierror as e:
            raise InvalidArgument(f"cannot listen on {host}: {e.strerror}") from None
        family, kind, proto, _, sockaddr = infos[0]
        self._check_exposure(host, str(sockaddr[0]))
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(512)
        except BaseException:
            sock.close()
            raise
        return Listener(sock, _tcp_url(sock), context)

    def _check_exposure(self, host: str, address: str) -> None:
        """TCP reachable from elsewhere needs client certificates, or the user's explicit word."""
        import ipaddress

        if self.options.insecure_tcp or (self.options.tls is not None and self.options.tls.verify):
            return
        if ipaddress.ip_address(address.partition("%")[0]).is_loopback:
            return
        raise InvalidArgument(
            f"refusing to serve the API on {host} without --tlsverify: anyone who can reach it would be root"
            " on this host (use --tlsverify with client certificates, a loopback address, or --insecure-tcp)"
        )

    # -- systemd socket activation ---------------------------------------------------------------------
    def _fd(self, host: str, which: str, context: ssl.SSLContext | None) -> list[Listener]:
        import socket

        if self._activated is None:
            self._activated = activated_sockets(self.environ)
        passed = self._activated
        if not passed:
            raise InvalidArgument(
                f"no sockets found via socket activation for {host}: make sure the service was started by systemd"
            )
        if which in ("", "*"):
            chosen = passed
        elif which.isdigit():
            chosen = [p for p in passed if p[0] == int(which)]
            if not chosen:
                raise InvalidArgument(
                    f"{host}: fd {which} was not passed by systemd (LISTEN_FDS={len(passed)})"
                )
        else:
            chosen = [p for p in passed if p[1] == which]
            if not chosen:
                names = ", ".join(sorted({p[1] for p in passed}))
                raise InvalidArgument(f"{host}: systemd passed no socket named {which!r} (names: {names})")
        out = []
        for fd, _, sock in chosen:
            if fd in self._used_fds:
                continue  # chosen by an earlier fd:// too (fd:// and fd://api): served once
            if sock.type != socket.SOCK_STREAM:
                raise InvalidArgument(f"{host}: fd {fd} is not a stream socket")
            if sock.family == socket.AF_UNIX:
                listener = Listener(sock, f"fd://{fd} (unix://{sock.getsockname()})")
            elif sock.family in (socket.AF_INET, socket.AF_INET6):
                self._check_exposure(f"fd://{fd} ({_tcp_url(sock)})", str(sock.getsockname()[0]))
                listener = Listener(sock, f"fd://{fd} ({_tcp_url(sock)})", context)
            else:
                raise InvalidArgument(f"{host}: fd {fd} is neither a unix nor a TCP socket")
            self._used_fds.add(fd)
            out.append(listener)
        return out


def activated_sockets(environ: MutableMapping[str, str]) -> list[tuple[int, str, socket.socket]]:
    """``(fd, name, socket)`` of what systemd passed to this process, as ``sd_listen_fds_with_names(1)``:
    only when ``LISTEN_PID`` is ours; the variables are then removed so that no child (a container's
    monitor) takes them for its own, and the descriptors are made close-on-exec."""
    import socket

    pid = environ.pop("LISTEN_PID", "")
    count = environ.pop("LISTEN_FDS", "")
    names = environ.pop("LISTEN_FDNAMES", "")
    if not pid.isdigit() or int(pid) != os.getpid() or not count.isdigit():
        return []
    labels = names.split(":") if names else []
    out = []
    for i in range(int(count)):
        fd = _FIRST_FD + i
        os.set_inheritable(fd, False)
        name = labels[i] if i < len(labels) and labels[i] else "unknown"  # systemd's name when unnamed
        out.append((fd, name, socket.socket(fileno=fd)))
    return out


def _tcp_url(sock: socket.socket) -> str:
    address, port = sock.getsockname()[:2]
    return f"tcp://[{address}]:{port}" if ":" in address else f"tcp://{address}:{port}"


def _clear_stale(path: str) -> None:
    """Make room at ``path``: remove a socket nobody listens on (left by a service that died); refuse a
    live one -- another service's, dockerd's -- and anything that is not a socket."""
    import socket
    import stat

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise InvalidArgument(f"cannot listen on unix://{path}: it exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            pass  # stale
        except OSError as e:
            raise Conflict(
                f"cannot listen on unix://{path}: cannot tell whether it is in use: {_why(e)}"
            ) from None
        else:
            raise Conflict(
                f"cannot listen on unix://{path}: another service is listening on it (stop it, or choose another path)"
            )
    os.unlink(path)


def notify(where: str, state: str) -> None:
    """``sd_notify(state)`` to systemd's ``NOTIFY_SOCKET`` ``where`` (``Type=notify``); nothing when empty."""
    import socket

    if not where:
        return
    address = "\0" + where[1:] if where.startswith("@") else where
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError:
            pass


# -- TLS -------------------------------------------------------------------------------------------------
#: A client that has not finished its TLS handshake by then is dropped.
HANDSHAKE_TIMEOUT = 30.0


async def serve_tls(
    sock: socket.socket, context: ssl.SSLContext, factory: Callable[[], asyncio.BaseProtocol]
) -> asyncio.Server:
    """Serve ``factory``'s protocol (aiohttp's server) over TLS on the listening ``sock``.

    Not asyncio's ``ssl=``: its TLS transport cannot half-close.  A docker client ends its half of a
    hijacked attach with TLS close_notify (Go's ``CloseWrite``) and then reads the container's output;
    asyncio answers close_notify by closing the whole connection (``eof_received`` returning true "has no
    effect when using ssl").  So TLS ends here, on memory BIOs, and the plaintext reaches aiohttp over a
    socketpair, where close_notify becomes ``shutdown(SHUT_WR)`` -- as a unix-socket client's would.
    """
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _TLSConnection(context, factory), sock=sock)


class _TLSConnection(asyncio.Protocol):
    """One TLS client: records decrypted into the socketpair's end, what comes back encrypted to it."""

    def __init__(self, context: ssl.SSLContext, factory: Callable[[], asyncio.BaseProtocol]) -> None:
        self.context = context
        self.factory = factory
        self.raw: asyncio.Transport | None = None
        self.plain: asyncio.Transport | None = None  # our end of the socketpair, once connected
        self.pending: list[bytes] = []  # plaintext for aiohttp before the pair is connected
        self.pending_eof = False
        self.handshaken = False
        self.done = False

    # the client's side (asyncio.Protocol)
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        import ssl

        assert isinstance(transport, asyncio.Transport)
        self.raw = transport
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = self.context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(HANDSHAKE_TIMEOUT, self._handshake_timeout)

    def data_received(self, data: bytes) -> None:
        self.incoming.write(data)
        self._decrypt()

    def eof_received(self) -> bool:
        self.incoming.write_eof()
        self._decrypt()
        return True  # still write to the client: the answer may be on its way

    def pause_writing(self) -> None:
        if self.plain is not None:
            self.plain.pause_reading()

    def resume_writing(self) -> None:
        if self.plain is not None and not self.plain.is_closing():
            self.plain.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.done = True
        self.timer.cancel()
        if self.plain is not None:
            self.plain.close()

    # TLS
    def _decrypt(self) -> None:
        import ssl

        try:
            if not self.handshaken:
                self.tls.do_handshake()
                self.handshaken = True
                self.timer.cancel()
                self._connect_pair()
            while True:
                chunk = self.tls.read(256 << 10)
                if not chunk:
                    raise ssl.SSLZeroReturnError
                self._to_plain(chunk)
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # close_notify, or a plain FIN: done writing
            if self.handshaken:
                self._to_plain(b"", eof=True)
            else:
                self._close()
        except (ssl.SSLError, OSError):  # a failed handshake (its alert is flushed below), a bad record
            self._flush()
            self._close()
            return
        self._flush()

    def encrypt(self, data: bytes) -> None:
        import ssl

        try:
            self.tls.write(data)
        except ssl.SSLError:
            self._close()
            return
        self._flush()

    def finish(self) -> None:
        """aiohttp is done with the connection: close_notify, then close once it is written."""
        import ssl

        if self.raw is None or self.raw.is_closing():
            return
        try:
            self.tls.unwrap()
        except ssl.SSLError:
            pass
        self._flush()
        self.raw.close()

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data and self.raw is not None and not self.raw.is_closing():
            self.raw.write(data)

    def _close(self) -> None:
        if self.raw is not None:
            self.raw.close()

    def _handshake_timeout(self) -> None:
        if not self.handshaken and self.raw is not None:
            self.raw.abort()

    # the plaintext side
    def _to_plain(self, data: bytes, *, eof: bool = False) -> None:
        if self.plain is None:
            if data:
                self.pending.append(data)
            self.pending_eof = self.pending_eof or eof
            return
        if self.plain.is_closing():
            return
        if data:
            self.plain.write(data)
        if eof and self.plain.can_write_eof():
            self.plain.write_eof()

    def _connect_pair(self) -> None:
        asyncio.get_running_loop().create_task(self._pair())

    async def _pair(self) -> None:
        import socket

        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        try:
            await loop.connect_accepted_socket(self.factory, theirs)
            transport, _ = await loop.connect_accepted_socket(lambda: _Plain(self), ours)
        except OSError:
            ours.close()
            theirs.close()
            self._close()
            return
        assert isinstance(transport, asyncio.Transport)
        if self.done:
            transport.close()
            return
        self.plain = transport
        for data in self.pending:
            transport.write(data)
        self.pending.clear()
        if self.pending_eof:
            transport.write_eof()


class _Plain(asyncio.Protocol):
    """Our end of the socketpair: what aiohttp answers goes out encrypted; its end ends the TLS session."""

    def __init__(self, connection: _TLSConnection) -> None:
        self.connection = connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.connection.encrypt(data)

    def eof_received(self) -> bool:
        self.connection.finish()
        return False

    def pause_writing(self) -> None:
        if self.connection.raw is not None:
            self.connection.raw.pause_reading()

    def resume_writing(self) -> None:
        raw = self.connection.raw
        if raw is not None and not raw.is_closing():
            raw.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.finish()
