"""How ``pinnace system service`` listens, driven by the real docker CLI and SDK: TCP with TLS and client
certificates (and the clients it refuses), loopback TCP, the refusal of unauthenticated TCP elsewhere,
systemd socket activation (``fd://``, names, ``Type=notify``), the unix socket's mode and group, the
docker.sock compatibility path (never a live socket that is not ours), and the systemd example units."""

from __future__ import annotations

import contextlib
import datetime
import grp
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.helpers.pinnace_registry import stop

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed"),
]

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "systemd"


# -- running the service ------------------------------------------------------------------------------
@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    urls: list[str]  # what it said it listens on, in order
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def service_argv(store: Pinnace, *args: str) -> list[str]:
    return [
        str(PINNACE),
        "--root",
        str(store.root),
        "--runroot",
        str(store.runroot),
        "system",
        "service",
        *args,
    ]


@contextlib.contextmanager
def serving(
    store: Pinnace,
    *args: str,
    sockets: int = 1,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> Iterator[Service]:
    """Start the service with ``args``; wait until it said it listens on ``sockets`` sockets; stop it by
    pid at the end."""
    log = Path(tempfile.mkstemp(prefix="service-", suffix=".log", dir=store.root.parent)[1])
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*prefix, *service_argv(store, *args)], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, pass_fds=pass_fds,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            urls = re.findall(
                r"pinnace API listening on (\S+(?: \(\S+\))?)\n", log.read_text(errors="replace")
            )
            if len(urls) >= sockets:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"the API service did not start: {log.read_text(errors='replace')[-800:]}"
                )
            time.sleep(0.05)
        yield Service(proc, urls, log)
    finally:
        stop(proc)


def refused(store: Pinnace, *args: str) -> subprocess.CompletedProcess[str]:
    """The service started with ``args``, expected to refuse at once."""
    proc = subprocess.run(service_argv(store, *args), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 125, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: "), proc.stderr  # one line
    return proc


def docker(*args: str, check: bool = True, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = "/nonexistent-pinnace-docker-config"
    proc = subprocess.run([*prefix, "docker", *args], capture_output=True, text=True, timeout=60, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def server_api_version(host: str, *tls: str, prefix: Sequence[str] = ()) -> str:
    return docker(
        *tls, "-H", host, "version", "--format", "{{.Server.APIVersion}}", prefix=prefix
    ).stdout.strip()


# -- certificates ---------------------------------------------------------------------------------------
@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path  # a client certificate from another CA
    rogue_key: Path

    def client(self) -> list[str]:
        return ["--tlsverify", "--tlscacert", str(self.ca), "--tlscert", str(self.client_cert),
                "--tlskey", str(self.client_key)]  # fmt: skip

    def server(self, mode: str = "--tlsverify") -> list[str]:
        return [mode, "--tlscacert", str(self.ca), "--tlscert", str(self.server_cert),
                "--tlskey", str(self.server_key)]  # fmt: skip


def _issue(
    where: Path, name: str, subject: str, issuer: tuple[object, object] | None, *, kind: str
) -> tuple[Path, Path, object, object]:
    """A P-256 key and its certificate (``kind``: ca, server or client), signed by ``issuer`` (cert, key)
    or by itself; written as PEM files ``name``-cert.pem and ``name``-key.pem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name_ = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer if issuer is not None else (None, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name_)
        .issuer_name(issuer_cert.subject if isinstance(issuer_cert, x509.Certificate) else name_)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if kind == "ca":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )  # fmt: skip
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if kind == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if kind == "server":
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    cert = builder.sign(issuer_key, hashes.SHA256())
    cert_path, key_path = where / f"{name}-cert.pem", where / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path, cert, key


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    where = tmp_path / "certs"
    where.mkdir()
    ca, _, ca_cert, ca_key = _issue(where, "ca", "pinnace test CA", None, kind="ca")
    server_cert, server_key, _, _ = _issue(where, "server", "127.0.0.1", (ca_cert, ca_key), kind="server")
    client_cert, client_key, _, _ = _issue(where, "client", "client", (ca_cert, ca_key), kind="client")
    _, _, rogue_ca, rogue_ca_key = _issue(where, "rogue-ca", "another CA", None, kind="ca")
    rogue_cert, rogue_key, _, _ = _issue(where, "rogue", "client", (rogue_ca, rogue_ca_key), kind="client")
    return Certs(ca, server_cert, server_key, client_cert, client_key, rogue_cert, rogue_key)


def tcp_port(url: str) -> int:
    return int(url.rpartition(":")[2])


# -- TCP and TLS ---------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tlsverify_serves_clients_with_certificates_of_the_ca_only(
    engine: Pinnace, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(engine, "-H", "tcp://127.0.0.1:0", *certs.server()) as service:
        url = service.urls[0]
        assert url.startswith("tcp://127.0.0.1:")
        port = tcp_port(url)
        host = f"tcp://127.0.0.1:{port}"
        assert server_api_version(host, *certs.client()) == "1.45"
        # A whole `docker run` over TLS: create, the hijacked attach, start, wait, remove.
        ran = docker(
            *certs.client(), "-H", host, "run", "--rm", "--network", "none", "busybox", "echo", "over tls"
        )
        assert ran.stdout == "over tls\n"

        no_cert = docker("--tlsverify", "--tlscacert", str(certs.ca), "-H", host, "version", check=False)
        assert no_cert.returncode != 0 and "certificate required" in no_cert.stderr, no_cert.stderr
        rogue = docker("--tlsverify", "--tlscacert", str(certs.ca), "--tlscert", str(certs.rogue_cert),
                       "--tlskey", str(certs.rogue_key), "-H", host, "version", check=False)  # fmt: skip
        assert rogue.returncode != 0 and re.search(
            r"unknown certificate authority|bad certificate", rogue.stderr
        )
        plain = docker("-H", host, "version", check=False)  # HTTP to an HTTPS port
        assert plain.returncode != 0 and "Server:" not in plain.stdout

        # The docker SDK for Python with its TLSConfig (requests would prefer these to the session's CA).
        import docker as sdk

        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

        tls = sdk.tls.TLSConfig(
            client_cert=(str(certs.client_cert), str(certs.client_key)), ca_cert=str(certs.ca), verify=True
        )
        client = sdk.DockerClient(base_url=f"https://127.0.0.1:{port}", tls=tls, version="auto")
        try:
            assert client.version()["ApiVersion"] == "1.45"
            assert [i.tags for i in client.images.list()] == [["busybox:latest"]]
        finally:
            client.close()

        # TLS 1.2 and 1.3 only.
        assert _handshake(port, certs, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        assert _handshake(port, certs, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        with pytest.raises(ssl.SSLError):
            _handshake(port, certs, ssl.TLSVersion.TLSv1_1)


def _handshake(port: int, certs: Certs, version: ssl.TLSVersion) -> str | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT@SECLEVEL=0")  # let the client offer it: the server must refuse
    context.minimum_version = version
    context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version()


def test_tls_without_verify_encrypts_but_does_not_ask_for_certificates(
    pinnace: Pinnace, certs: Certs
) -> None:
    with serving(pinnace, "-H", "tcp://127.0.0.1:0", *certs.server("--tls")) as service:
        host = service.urls[0]
        # The client checks the server's certificate; it has none of its own to show.
        assert server_api_version(host, "--tlsverify", "--tlscacert", str(certs.ca)) == "1.45"
        assert server_api_version(host, *certs.client()) == "1.45"


def test_plain_tcp_on_loopback(pinnace: Pinnace, tmp_path: Path) -> None:
    with serving(
        pinnace, "-H", "tcp://127.0.0.1:0", "-H", f"unix://{tmp_path}/api.sock", sockets=2
    ) as service:
        tcp, unix = service.urls
        assert tcp.startswith("tcp://127.0.0.1:") and unix == f"unix://{tmp_path}/api.sock"
        assert server_api_version(tcp) == "1.45"
        assert server_api_version(unix) == "1.45"
        info = json.loads(docker("-H", tcp, "info", "--format", "{{json .}}").stdout)
        assert info["OSType"] == "linux"


def test_tcp_beyond_loopback_needs_tlsverify_or_insecure_tcp(pinnace: Pinnace, certs: Certs) -> None:
    for host in ("tcp://0.0.0.0:0", "0.0.0.0:0", "tcp://[::]:0"):
        error = refused(pinnace, "-H", host).stderr
        assert "refusing to serve the API on" in error and "without --tlsverify" in error, error
        assert "--insecure-tcp" in error
    refused(pinnace, "-H", "tcp://0.0.0.0:0", *certs.server("--tls"))  # encrypted, but open to anyone

    # Allowed with client certificates, or when forced; in a network namespace of its own, so that
    # nothing here is reachable from the network while the test runs.
    unshare = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    for args, client in (
        (["--insecure-tcp"], []),
        (certs.server(), certs.client()),
    ):
        with serving(pinnace, "-H", "tcp://0.0.0.0:2375", *args, prefix=unshare) as service:
            assert service.urls == ["tcp://0.0.0.0:2375"]
            netns = ["nsenter", f"--net=/proc/{service.proc.pid}/ns/net", "--"]
            assert server_api_version("tcp://127.0.0.1:2375", *client, prefix=netns) == "1.45"


def test_refusals_are_one_line(pinnace: Pinnace, tmp_path: Path, certs: Certs) -> None:
    missing = refused(pinnace, "-H", "tcp://127.0.0.1:0", "--tlsverify", "--tlscacert", str(certs.ca),
                      "--tlscert", str(tmp_path / "nope.pem"), "--tlskey", str(certs.server_key))  # fmt: skip
    assert "could not load X509 key pair" in missing.stderr and "no such file or directory" in missing.stderr
    bad_ca = refused(pinnace, "-H", "tcp://127.0.0.1:0", "--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"),
                     "--tlscert", str(certs.server_cert), "--tlskey", str(certs.server_key))  # fmt: skip
    assert "could not read CA certificate" in bad_ca.stderr
    assert "invalid bind address format: bogus://x" in refused(pinnace, "-H", "bogus://x").stderr
    assert "should not contain a path element" in refused(pinnace, "-H", "tcp://127.0.0.1:2375/x").stderr
    assert "no sockets found via socket activation" in refused(pinnace, "-H", "fd://").stderr
    no_group = refused(pinnace, "-H", f"unix://{tmp_path}/g.sock", "--group", "no-such-group-here")
    assert "group no-such-group-here not found" in no_group.stderr
    assert not (tmp_path / "g.sock").exists()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        in_use = refused(pinnace, "-H", f"unix://{tmp_path}/a.sock", "-H", f"tcp://127.0.0.1:{port}")
        assert f"cannot listen on tcp://127.0.0.1:{port}: address already in use" in in_use.stderr
    assert not (tmp_path / "a.sock").exists()  # what it had bound before the refusal is gone


# -- systemd socket activation -------------------------------------------------------------------------
#: As systemd execs a service: the sockets moved to fd 3, 4, ...; LISTEN_PID is the pid that execs pinnace.
ACTIVATE = (
    "import fcntl, os, sys\n"
    "given = [int(fd) for fd in sys.argv[1].split(',') if fd]\n"
    "fds = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in given]\n"
    "for fd in given: os.close(fd)\n"
    "for i, fd in enumerate(fds): os.dup2(fd, 3 + i)\n"
    "for fd in fds: os.close(fd)\n"
    "os.environ['LISTEN_FDS'] = str(len(fds))\n"
    "os.environ['LISTEN_PID'] = str(os.getpid())\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def activate(*socks: socket.socket) -> list[str]:
    return [sys.executable, "-c", ACTIVATE, ",".join(str(s.fileno()) for s in socks)]


def unix_listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.listen()
    return sock


def test_socket_activation_serves_the_passed_socket_and_notifies_systemd(
    pinnace: Pinnace, tmp_path: Path
) -> None:
    path = tmp_path / "activated.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    with contextlib.closing(notify), unix_listener(path) as sock:
        env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")}
        with serving(
            pinnace, "-H", "fd://", prefix=activate(sock), env=env, pass_fds=[sock.fileno()]
        ) as service:
            sock.close()  # the service's copy is the one that answers
            assert service.urls == [f"fd://3 (unix://{path})"]
            assert notify.recv(100) == b"READY=1"
            assert server_api_version(f"unix://{path}") == "1.45"
            os.kill(service.proc.pid, signal.SIGTERM)
            assert notify.recv(100) == b"STOPPING=1"
            assert service.proc.wait(20) == 0
        assert stat.S_ISSOCK(path.lstat().st_mode)  # systemd's socket: not ours to remove


def test_socket_activation_by_name_and_number(pinnace: Pinnace, tmp_path: Path) -> None:
    api, unused = tmp_path / "api.sock", tmp_path / "unused.sock"
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    port = tcp.getsockname()[1]
    socks = [unix_listener(unused), tcp, unix_listener(api)]
    env = {**os.environ, "LISTEN_FDNAMES": "spare:web:api"}
    try:
        with serving(pinnace, "-H", "fd://api", "-H", "fd://4", sockets=2, prefix=activate(*socks), env=env,
                     pass_fds=[s.fileno() for s in socks]) as service:  # fmt: skip
            for s in socks:
                s.close()
            assert service.urls == [f"fd://5 (unix://{api})", f"fd://4 (tcp://127.0.0.1:{port})"]
            assert server_api_version(f"unix://{api}") == "1.45"
            assert server_api_version(f"tcp://127.0.0.1:{port}") == "1.45"
            with socket.socket(socket.AF_UNIX) as probe, pytest.raises(ConnectionRefusedError):
                probe.connect(str(unused))  # passed, not asked for: closed
    finally:
        for s in socks:
            s.close()
    with socket.socket() as wide:  # an activated TCP socket beyond loopback follows the same rule
        wide.bind(("0.0.0.0", 0))
        wide.listen()
        proc = subprocess.run([*activate(wide), *service_argv(pinnace, "-H", "fd://")], capture_output=True,
                              text=True, timeout=30, pass_fds=[wide.fileno()])  # fmt: skip
    assert proc.returncode == 125 and "without --tlsverify" in proc.stderr, proc.stderr
    missing = subprocess.run([*activate(), *service_argv(pinnace, "-H", "fd://web")], capture_output=True,
                             text=True, timeout=30)  # fmt: skip
    assert missing.returncode == 125 and "no sockets found via socket activation" in missing.stderr


# -- unix sockets: mode, group, docker.sock ------------------------------------------------------------
@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other users may enter (tmp_path's parents are root's only)."""
    where = Path(tempfile.mkdtemp(prefix="pinnace-listen-"))
    where.chmod(0o755)
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def as_user(uid: int, gid: int, groups: Sequence[int]) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}",
            f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups", "--"]  # fmt: skip


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_socket_is_root_only_unless_a_group_is_given(pinnace: Pinnace, shared_dir: Path) -> None:
    group = grp.getgrnam("daemon").gr_gid
    nobody = 65534
    private, grouped = shared_dir / "private.sock", shared_dir / "sub" / "grouped.sock"
    with serving(pinnace, "-H", f"unix://{private}"):
        st = private.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
        assert server_api_version(f"unix://{private}") == "1.45"
        denied = docker(
            "-H", f"unix://{private}", "version", check=False, prefix=as_user(nobody, nobody, [group])
        )
        assert denied.returncode != 0 and "permission denied" in denied.stderr
    assert not private.exists()
    with serving(pinnace, "-H", f"unix://{grouped}", "-G", "daemon"):
        st = grouped.stat()
        assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_uid == 0 and st.st_gid == group
        assert stat.S_IMODE(grouped.parent.stat().st_mode) == 0o755  # the directory it made
        member = as_user(nobody, nobody, [group])
        assert server_api_version(f"unix://{grouped}", prefix=member) == "1.45"
        outsider = docker(
            "-H", f"unix://{grouped}", "version", check=False, prefix=as_user(nobody, nobody, [])
        )
        assert outsider.returncode != 0 and "permission denied" in outsider.stderr
    assert not grouped.exists()


def test_docker_socket_never_replaces_a_live_socket_that_is_not_ours(
    pinnace: Pinnace, tmp_path: Path
) -> None:
    main, compat = tmp_path / "pinnace.sock", tmp_path / "docker.sock"
    with unix_listener(compat) as theirs:
        before = compat.lstat().st_ino
        error = refused(pinnace, "-H", f"unix://{main}", "--docker-socket", str(compat)).stderr
        assert f"cannot listen on unix://{compat}: another service is listening on it" in error
        assert compat.lstat().st_ino == before and not main.exists()
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(compat))  # theirs still answers
        theirs.close()
    regular = tmp_path / "file"
    regular.write_text("x")
    assert "exists and is not a socket" in refused(pinnace, "--docker-socket", str(regular)).stderr
    assert regular.read_text() == "x"

    # A socket nobody listens on (a service that died) is taken over; both paths answer.
    with serving(pinnace, "-H", f"unix://{main}", "--docker-socket", str(compat), sockets=2) as service:
        assert service.urls == [f"unix://{main}", f"unix://{compat}"]
        assert server_api_version(f"unix://{compat}") == "1.45"
        assert server_api_version(f"unix://{main}") == "1.45"
        assert stat.S_IMODE(compat.stat().st_mode) == 0o600
        # And a second service on the same paths is refused, without touching the first one's.
        assert "another service is listening on it" in refused(pinnace, "-H", f"unix://{main}").stderr
        assert server_api_version(f"unix://{main}") == "1.45"
        # Someone else's socket put at our path meanwhile is left alone at exit; ours is removed.
        compat.unlink()
        successor = unix_listener(compat)
    with contextlib.closing(successor):
        assert stat.S_ISSOCK(compat.lstat().st_mode) and not main.exists()


# -- the systemd example ---------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    for name in ("pinnace.service", "pinnace.socket"):
        text = (CONTRIB / name).read_text().replace("/usr/local/bin/pinnace", str(PINNACE))
        (tmp_path / name).write_text(text)
    service = (tmp_path / "pinnace.service").read_text()
    assert f"ExecStart={PINNACE} system service -H fd://" in service and "Type=notify" in service
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "pinnace.socket"), str(tmp_path / "pinnace.service")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    complaints = [line for line in proc.stderr.splitlines() if "pinnace" in line]
    assert proc.returncode == 0 and not complaints, proc.stderr
