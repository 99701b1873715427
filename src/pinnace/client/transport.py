"""Where the service is and how to reach it: ``unix://``, ``tcp://`` (with TLS), ``ssh://``.

Every transport hands back a connected stream socket, so the HTTP layer above never needs to know
which it got: for ``ssh://`` that is one end of a socketpair whose other end is the stdin and the
stdout of ``ssh ... -- HOST pinnace system dial-stdio`` (what docker's connhelper runs), so a
half-close of ours reaches the remote service as one, as docker's CloseWrite does.
"""

from __future__ import annotations

import os
import socket

from pinnace.errors import InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Any

#: Where ``pinnace system service`` listens by default (DESIGN.md: --runroot's pinnace.sock).
DEFAULT_SOCKET = "/run/pinnace/pinnace.sock"
DEFAULT_HOST = f"unix://{DEFAULT_SOCKET}"


class TLSOptions:
    """docker's client TLS: ``--tls``/``--tlsverify`` and the CA, certificate and key files."""

    def __init__(
        self,
        *,
        enabled: bool = False,
        verify: bool = False,
        ca: str = "",
        cert: str = "",
        key: str = "",
    ) -> None:
        self.enabled = enabled or verify
        self.verify = verify
        self.ca = ca
        self.cert = cert
        self.key = key

    @classmethod
    def from_env(
        cls,
        environ: dict[str, str] | os._Environ[str],
        *,
        tls: bool = False,
        verify: bool | None = None,
        ca: str = "",
        cert: str = "",
        key: str = "",
    ) -> TLSOptions:
        """docker's rules: ``DOCKER_TLS_VERIFY`` (any non-empty value) turns verification on;
        ``DOCKER_CERT_PATH`` (default ``~/.docker``) holds ca.pem, cert.pem and key.pem, used for the
        files no flag names."""
        if verify is None:
            verify = bool(environ.get("DOCKER_TLS_VERIFY"))
        cert_path = environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")

        def default(given: str, name: str) -> str:
            if given:
                return given
            path = os.path.join(cert_path, name)
            return path if (tls or verify) and os.path.exists(path) else ""

        return cls(
            enabled=tls,
            verify=verify,
            ca=default(ca, "ca.pem"),
            cert=default(cert, "cert.pem"),
            key=default(key, "key.pem"),
        )

    def context(self, server_name: str) -> Any:
        import ssl

        ctx = ssl.create_default_context(cafile=self.ca or None)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key or None)
        del server_name
        return ctx


class Endpoint:
    """A parsed host URL: ``scheme`` is unix, tcp or ssh."""

    def __init__(self, url: str, tls: TLSOptions | None = None) -> None:
        self.url = url
        self.tls = tls or TLSOptions()
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise InvalidArgument(f"unable to parse docker host `{url}`")
        self.scheme = scheme.lower()
        self.path = ""
        self.host = ""
        self.port = 0
        self.user = ""
        if self.scheme == "unix":
            self.path = rest or DEFAULT_SOCKET
        elif self.scheme in ("tcp", "http", "https"):
            if self.scheme == "https":
                self.tls.enabled = True
            self.scheme = "tcp"
            hostport = rest.split("/", 1)[0]
            self.host, self.port = _split_port(hostport, 2376 if self.tls.enabled else 2375)
            if not self.host:
                raise InvalidArgument(f"invalid bind address ({url}): host is empty")
        elif self.scheme == "ssh":
            where = rest.split("/", 1)
            if len(where) > 1 and where[1]:
                raise InvalidArgument(f"extra path after the host: {url!r}")
            user, at, hostport = where[0].rpartition("@")
            self.user = user if at else ""
            self.host, self.port = _split_port(hostport, 0)
            if not self.host:
                raise InvalidArgument(f"no host specified in {url!r}")
        else:
            raise InvalidArgument(f"unsupported host scheme {scheme!r} in {url!r}: unix, tcp or ssh expected")

    def ssh_command(self) -> list[str]:
        """docker's connhelper: ``ssh [-l USER] [-p PORT] -- HOST pinnace system dial-stdio``."""
        command = ["ssh", "-T"]
        if self.user:
            command += ["-l", self.user]
        if self.port:
            command += ["-p", str(self.port)]
        return [*command, "--", self.host, "pinnace", "system", "dial-stdio"]

    def dial(self) -> socket.socket:
        """A new connection to the service (a new ssh process for ``ssh://``)."""
        try:
            if self.scheme == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(self.path)
                except BaseException:
                    sock.close()
                    raise
                return sock
            if self.scheme == "tcp":
                sock = socket.create_connection((self.host, self.port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.tls.enabled:
                    from pinnace.client.tls import TLSConnection

                    try:
                        return TLSConnection(sock, self.tls.context(self.host), self.host)  # type: ignore[return-value]
                    except BaseException:
                        sock.close()
                        raise
                return sock
            return self._ssh()
        except OSError as e:
            import ssl

            if isinstance(e, ssl.SSLError):
                raise Unavailable(f"error during connect: {self.url}: {e.strerror or e}") from None
            raise Unavailable(
                f"Cannot connect to the pinnace service at {self.url}. Is the pinnace service running?"
                f" ({e.strerror or e})"
            ) from None

    def _ssh(self) -> socket.socket:
        import subprocess

        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                self.ssh_command(),
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError:
            ours.close()
            raise Unavailable("ssh:// needs the ssh command, which is not installed") from None
        finally:
            theirs.close()
        _SSH_PROCESSES.append(proc)
        return ours


#: The ssh processes this process started: reaped (and their stderr read) by :func:`ssh_errors`/:func:`reap`.
_SSH_PROCESSES: list[subprocess.Popen[bytes]] = []


def ssh_errors() -> str:
    """What the ssh processes that have ended said on stderr (why a connection over ssh failed)."""
    out = []
    for proc in _SSH_PROCESSES:
        if proc.poll() is not None and proc.stderr is not None:
            text = proc.stderr.read().decode(errors="replace").strip()
            if text:
                out.append(text)
    return "; ".join(out)


def reap() -> None:
    """End the ssh processes still running (their connections are closed by now)."""
    import subprocess

    for proc in _SSH_PROCESSES:
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    _SSH_PROCESSES.clear()


def _split_port(hostport: str, default: int) -> tuple[str, int]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port = hostport.rpartition(":")
        if not sep:
            host, port = hostport, ""
    if not port:
        return host, default
    try:
        return host, int(port)
    except ValueError:
        raise InvalidArgument(f"invalid port {port!r} in {hostport!r}") from None
