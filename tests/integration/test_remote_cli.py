"""The remote CLI: ``pinnace -H URL``, ``PINNACE_HOST``/``DOCKER_HOST`` and contexts, against ``pinnace
system service`` on a socket of the test's own.  Each command's output is compared with what the
local (daemonless) CLI prints for the same store; the remote CLI is given no store at all (a root it
cannot open), and ``system dial-stdio`` and ``ssh://`` (through a fake ``ssh`` that runs the remote
command here, as docker's own tests do) carry the same HTTP."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.helpers.api_service import serving
from tests.integration.test_api_listen import Certs, certs, tcp_port
from tests.integration.test_api_listen import serving as serving_tcp

__all__ = ["certs"]  # a fixture of test_api_listen's, used here

pytestmark = pytest.mark.root


@pytest.fixture
def service(engine: Pinnace, tmp_path: Path) -> Iterator[str]:
    yield from serving(engine, tmp_path / "api")
    assert not Path("/nonexistent-pinnace-root").exists()  # no remote command opened a local store
    assert not Path("/nonexistent-pinnace-runroot").exists()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PINNACE_HOST", "DOCKER_HOST", "PINNACE_CONTEXT")}
    # No store for the remote CLI: a root and runroot it could not even create.
    env["PINNACE_ROOT"] = "/nonexistent-pinnace-root/remote-must-not-open"
    env["PINNACE_RUNROOT"] = "/nonexistent-pinnace-runroot/remote-must-not-open"
    env["PINNACE_CONFIG"] = str(tmp_path / "config")
    env.update(extra)
    return env


def remote(
    host: str | None, tmp_path: Path, *args: str, input: str | None = None, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    argv = [str(PINNACE), *(["-H", host] if host else []), *args]
    proc = subprocess.run(
        argv, input=input, capture_output=True, text=True, timeout=60, env=_env(tmp_path, **env),
        stdin=None if input is not None else subprocess.DEVNULL,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"pinnace {' '.join(argv[1:])} exited {proc.returncode}: {proc.stderr}")
    return proc


def test_listing_and_inspecting_print_what_the_local_cli_prints(
    engine: Pinnace, service: str, tmp_path: Path
) -> None:
    assert not Path("/nonexistent-pinnace-root").exists()
    engine.run("create", "--name", "made-here", "--network", "none", "--label", "k=v", "busybox", "echo", "hi there")
    engine.run("run", "--name", "ran-here", "--network", "none", "busybox", "echo", "out")
    for args in (
        ("ps", "-a", "--format", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.State}}\t{{.Ports}}\t{{.Names}}"),
        ("ps", "-a", "--no-trunc", "--format", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}\t{{.Mounts}}"),
        ("ps", "-a", "-q"),
        ("ps", "-a", "--format", "{{.Names}}|{{.Image}}|{{.State}}|{{.Labels}}|{{.Command}}"),
        ("ps", "-a", "--filter", "label=k=v", "--format", "{{.Names}}"),
        ("ps",),
        ("images", "--format", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}"),
        ("images", "-q"),
        ("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"),
        ("inspect", "made-here"),
        ("container", "inspect", "--format", "{{.State.Status}} {{.Name}} {{.Config.Cmd}}", "ran-here"),
        ("image", "inspect", "busybox"),
        ("inspect", "--format", "{{.RepoTags}}", "busybox"),
        ("history", "-q", "busybox"),
        ("history", "--no-trunc", "--format", "{{.ID}} {{.CreatedBy}} {{.Size}}", "busybox"),
        ("logs", "ran-here"),
        ("logs", "--tail", "1", "ran-here"),
    ):
        local = engine.run(*args)
        far = remote(service, tmp_path, *args)
        assert far.stdout == local.stdout, args
    # the default table: times move on between the two runs, so only its shape is compared
    local_table, far_table = engine.run("ps", "-a").stdout.splitlines(), remote(service, tmp_path, "ps", "-a").stdout.splitlines()
    # (column widths follow the widest cell: "Less than a second ago" may become "2 seconds ago")
    assert far_table[0].split() == local_table[0].split()
    assert [r[:12] for r in far_table] == [r[:12] for r in local_table]
    missing = remote(service, tmp_path, "inspect", "nothing-here", check=False)
    assert missing.returncode == 1 and "No such object: nothing-here" in missing.stderr
    assert not Path("/nonexistent-pinnace-root").exists()


def test_run_create_start_stop_kill_rm_restart(engine: Pinnace, service: str, tmp_path: Path) -> None:
    out = remote(service, tmp_path, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; exit 3", check=False)
    assert (out.returncode, out.stdout, out.stderr) == (3, "to-out\n", "to-err\n")
    assert engine.run("ps", "-a", "-q").stdout == ""  # --rm: gone
    piped = remote(service, tmp_path, "run", "-i", "--rm", "--network", "none", "busybox", "cat", input="through stdin\n")
    assert piped.stdout == "through stdin\n"
    cid = remote(service, tmp_path, "run", "-d", "--name", "bg", "--network", "none", "busybox", "busybox", "sleep", "30").stdout.strip()
    assert len(cid) == 64
    assert engine.run("ps", "--format", "{{.Names}} {{.State}}").stdout == "bg running\n"
    assert remote(service, tmp_path, "ps", "--format", "{{.Names}} {{.State}}").stdout == "bg running\n"
    assert remote(service, tmp_path, "stop", "-t", "1", "bg").stdout == "bg\n"
    assert engine.run("inspect", "--format", "{{.State.Status}}", "bg").stdout == "exited\n"
    assert remote(service, tmp_path, "start", "bg").stdout == "bg\n"
    assert remote(service, tmp_path, "restart", "-t", "1", "bg").stdout == "bg\n"
    assert remote(service, tmp_path, "kill", "bg").stdout == "bg\n"
    assert engine.run("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "bg").stdout == "exited 137\n"
    assert remote(service, tmp_path, "rm", "bg").stdout == "bg\n"
    created = remote(service, tmp_path, "create", "--name", "later", "--network", "none", "busybox", "echo", "made remotely").stdout.strip()
    assert engine.run("inspect", "--format", "{{.Id}} {{.State.Status}}", "later").stdout == f"{created} created\n"
    assert remote(service, tmp_path, "start", "-a", "later").stdout == "made remotely\n"
    gone = remote(service, tmp_path, "rm", "nothing-here", check=False)
    assert gone.returncode == 1 and "No such container: nothing-here" in gone.stderr
    refused = remote(service, tmp_path, "run", "--network", "none", "no-such-image-here", check=False)
    assert refused.returncode == 125


def test_logs_follow_and_tail(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("run", "-d", "--name", "talker", "--network", "none", "busybox", "sh", "-c", "echo one; echo two; busybox sleep 1; echo three")
    follow = remote(service, tmp_path, "logs", "-f", "talker")
    assert follow.stdout == "one\ntwo\nthree\n"
    assert remote(service, tmp_path, "logs", "--tail", "2", "talker").stdout == "two\nthree\n"
    stamped = remote(service, tmp_path, "logs", "-t", "talker").stdout
    assert stamped == engine.run("logs", "-t", "talker").stdout


def test_volumes_and_networks(engine: Pinnace, service: str, tmp_path: Path) -> None:
    assert remote(service, tmp_path, "volume", "create", "--label", "a=b", "vol1").stdout == "vol1\n"
    for args in (("volume", "ls"), ("volume", "inspect", "vol1"), ("volume", "ls", "--format", "{{.Name}} {{.Labels}}")):
        assert remote(service, tmp_path, *args).stdout == engine.run(*args).stdout, args
    assert remote(service, tmp_path, "volume", "rm", "vol1").stdout == "vol1\n"
    assert engine.run("volume", "ls", "-q").stdout == ""
    net = remote(service, tmp_path, "network", "create", "--internal", "--subnet", "10.213.7.0/24", "rnet").stdout.strip()
    assert len(net) == 64
    for args in (("network", "ls"), ("network", "inspect", "rnet"), ("network", "ls", "--no-trunc", "-q")):
        assert remote(service, tmp_path, *args).stdout == engine.run(*args).stdout, args
    assert remote(service, tmp_path, "network", "rm", "rnet").stdout == "rnet\n"


def test_version_info_and_what_is_not_supported(engine: Pinnace, service: str, tmp_path: Path) -> None:
    version = remote(service, tmp_path, "version").stdout
    assert "Server:" in version and "API version:      1.45" in version
    doc = json.loads(remote(service, tmp_path, "version", "--format", "{{json .Server}}").stdout)
    assert doc["ApiVersion"] == "1.45"
    assert remote(service, tmp_path, "info", "--format", "{{.Images}} {{.OSType}}").stdout == "1 linux\n"
    same = "{{.Containers}} {{.Images}} {{.Driver}} {{.DockerRootDir}} {{.Name}}"
    assert remote(service, tmp_path, "info", "--format", same).stdout == engine.run("info", "--format", same).stdout
    assert "Mode:              daemonless" in engine.run("version").stdout
    assert "Images: 1" in remote(service, tmp_path, "info").stdout


def test_the_environment_picks_the_host(engine: Pinnace, service: str, tmp_path: Path) -> None:
    expected = engine.run("images", "-q").stdout
    assert remote(None, tmp_path, "images", "-q", PINNACE_HOST=service).stdout == expected
    assert remote(None, tmp_path, "images", "-q", DOCKER_HOST=service).stdout == expected
    # PINNACE_HOST comes first
    assert remote(None, tmp_path, "images", "-q", PINNACE_HOST=service, DOCKER_HOST="unix:///nonexistent.sock").stdout == expected
    down = remote(None, tmp_path, "images", check=False, PINNACE_HOST="unix:///nonexistent.sock")
    assert down.returncode == 1 and "Cannot connect to the pinnace service at unix:///nonexistent.sock" in down.stderr
    both = remote(service, tmp_path, "--context", "x", "ps", check=False)
    assert both.returncode == 125 and "either specify --host or --context" in both.stderr


def test_contexts(engine: Pinnace, service: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    made = remote(None, tmp_path, "context", "create", "box", "--docker", f"host={service}", "--description", "the test's")
    assert made.stdout == "box\n" and made.stderr == 'Successfully created context "box"\n'
    digest = __import__("hashlib").sha256(b"box").hexdigest()
    meta = json.loads((config / "contexts" / "meta" / digest / "meta.json").read_text())
    assert meta["Name"] == "box" and meta["Endpoints"]["docker"]["Host"] == service
    listed = remote(None, tmp_path, "context", "ls", "--format", "{{.Name}}|{{.Current}}|{{.DockerEndpoint}}|{{.Description}}").stdout
    assert listed == f"default|true||Local store (daemonless)\nbox|false|{service}|the test's\n"
    # through --context, then as the current context
    assert remote(None, tmp_path, "--context", "box", "images", "-q").stdout == engine.run("images", "-q").stdout
    assert remote(None, tmp_path, "context", "use", "box").stdout == "box\n"
    assert json.loads((config / "config.json").read_text())["currentContext"] == "box"
    assert remote(None, tmp_path, "context", "ls").stdout.splitlines()[2].startswith("box *")
    assert remote(None, tmp_path, "ps", "-a", "-q").stdout == ""
    assert remote(None, tmp_path, "images", "-q").stdout == engine.run("images", "-q").stdout
    inspected = json.loads(remote(None, tmp_path, "context", "inspect").stdout)
    assert inspected[0]["Name"] == "box" and inspected[0]["Endpoints"]["docker"]["Host"] == service
    refused = remote(None, tmp_path, "context", "rm", "box", check=False)
    assert refused.returncode == 1 and "in use" in refused.stderr
    assert remote(None, tmp_path, "context", "use", "default").stdout == "default\n"
    assert remote(None, tmp_path, "context", "rm", "box").stdout == "box\n"
    assert remote(None, tmp_path, "context", "ls", "-q").stdout == "default\n"
    unknown = remote(None, tmp_path, "context", "use", "nope", check=False)
    assert unknown.returncode == 1 and "nope" in unknown.stderr


def test_dial_stdio_carries_http(service: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(PINNACE), "system", "dial-stdio", "-H", service],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path),
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"GET /_ping HTTP/1.1\r\nHost: pinnace\r\nConnection: close\r\n\r\n")
        proc.stdin.flush()
        answer = proc.stdout.read()  # to the service's end of the connection (Connection: close)
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b"OK"


def test_ssh_through_dial_stdio(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """ssh:// runs ``ssh -l USER -p PORT -- HOST pinnace system dial-stdio``: a fake ssh runs it here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ssh.log"
    (bin_dir / "ssh").write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'while [ "$1" != "--" ]; do shift; done\n'
        "shift 2\n"  # "--" and the host
        '[ "$1" = pinnace ] && shift\n'
        f'exec {PINNACE} "$@" -H {service}\n'
    )
    (bin_dir / "ssh").chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"
    expected = engine.run("ps", "-a").stdout
    assert remote("ssh://someone@far.example:2222", tmp_path, "ps", "-a", PATH=path).stdout == expected
    assert log.read_text().splitlines()[0] == "-T -l someone -p 2222 -- far.example pinnace system dial-stdio"
    out = remote("ssh://someone@far.example:2222", tmp_path, "run", "--rm", "--network", "none", "busybox", "echo", "over ssh", PATH=path)
    assert out.stdout == "over ssh\n"
    # stdin's end travels as a half-close: socketpair -> ssh's stdin -> dial-stdio -> the service
    piped = remote("ssh://far.example", tmp_path, "run", "-i", "--rm", "--network", "none", "busybox", "cat", input="to cat\n", PATH=path)
    assert piped.stdout == "to cat\n"
    assert log.read_text().splitlines()[-1] == "-T -- far.example pinnace system dial-stdio"


def test_attach_to_a_running_container_and_a_terminal(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("run", "-d", "--name", "late", "--network", "none", "busybox", "sh", "-c", "busybox sleep 1; echo late; exit 4")
    attached = remote(service, tmp_path, "attach", "late", check=False)
    assert (attached.returncode, attached.stdout) == (4, "late\n")
    assert engine.run("inspect", "--format", "{{.State.Status}}", "late").stdout == "exited\n"
    # -t: a terminal on our side (a pty), raw bytes from the container's
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: become the remote CLI on the pty
        os.execve(str(PINNACE), [str(PINNACE), "-H", service, "run", "-t", "--rm", "--network", "none", "busybox", "sh", "-c", "[ -t 1 ] && echo on-a-tty"], _env(tmp_path))
    out = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0 and b"on-a-tty\r" in out, out  # the container's pty ends lines with \r\n


def test_exec(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("run", "-d", "--name", "sleeper", "--network", "none", "busybox", "busybox", "sleep", "30")
    ran = remote(service, tmp_path, "exec", "sleeper", "sh", "-c", "echo out; echo err >&2; exit 5", check=False)
    assert (ran.returncode, ran.stdout, ran.stderr) == (5, "out\n", "err\n")
    piped = remote(service, tmp_path, "exec", "-i", "sleeper", "cat", input="into exec\n")
    assert piped.stdout == "into exec\n"
    local = engine.run("exec", "-e", "A=b", "-w", "/tmp", "sleeper", "sh", "-c", "echo $A; pwd")
    assert remote(service, tmp_path, "exec", "-e", "A=b", "-w", "/tmp", "sleeper", "sh", "-c", "echo $A; pwd").stdout == local.stdout
    assert remote(service, tmp_path, "exec", "-d", "sleeper", "sh", "-c", "echo detached > /tmp/mark").stdout == ""
    for _ in range(100):
        if engine.run("exec", "sleeper", "cat", "/tmp/mark", check=False).stdout == "detached\n":
            break
        __import__("time").sleep(0.05)
    assert engine.run("exec", "sleeper", "cat", "/tmp/mark").stdout == "detached\n"
    missing = remote(service, tmp_path, "exec", "nothing-here", "true", check=False)
    assert missing.returncode == 1 and "No such container: nothing-here" in missing.stderr


def test_tcp_with_tls(engine: Pinnace, certs: Certs, tmp_path: Path) -> None:
    with serving_tcp(engine, "-H", "tcp://127.0.0.1:0", *certs.server()) as running:
        host = f"tcp://127.0.0.1:{tcp_port(running.urls[0])}"
        flags = ["--tlsverify", "--tlscacert", str(certs.ca), "--tlscert", str(certs.client_cert), "--tlskey", str(certs.client_key)]
        ran = remote(None, tmp_path, *flags, "-H", host, "run", "--rm", "--network", "none", "busybox", "echo", "over tls")
        assert ran.stdout == "over tls\n"
        # the end of stdin reaches the container over TLS (a close_notify), while its output still comes
        text = "".join(f"line {i}\n" for i in range(20000))
        piped = remote(None, tmp_path, *flags, "-H", host, "run", "-i", "--rm", "--network", "none", "busybox", "cat", input=text)  # fmt: skip
        assert piped.stdout == text
        assert remote(None, tmp_path, *flags, "-H", host, "images", "-q").stdout == engine.run("images", "-q").stdout
        # docker's environment: DOCKER_CERT_PATH with ca.pem, cert.pem, key.pem, and DOCKER_TLS_VERIFY
        cert_path = tmp_path / "docker-certs"
        cert_path.mkdir()
        for src, name in ((certs.ca, "ca.pem"), (certs.client_cert, "cert.pem"), (certs.client_key, "key.pem")):
            (cert_path / name).write_bytes(Path(src).read_bytes())
        env = {"DOCKER_HOST": host, "DOCKER_CERT_PATH": str(cert_path), "DOCKER_TLS_VERIFY": "1"}
        assert remote(None, tmp_path, "ps", "-a", "-q", **env).stdout == ""
        # without a client certificate the service refuses the handshake
        no_cert = remote(None, tmp_path, "--tlsverify", "--tlscacert", str(certs.ca), "-H", host, "ps", check=False)
        assert no_cert.returncode == 1 and no_cert.stderr.startswith("Error: error during connect: "), no_cert.stderr
        # a context with TLS material
        remote(None, tmp_path, "context", "create", "secure", "--docker", f"host={host},ca={certs.ca},cert={certs.client_cert},key={certs.client_key}")
        assert remote(None, tmp_path, "--context", "secure", "images", "-q").stdout == engine.run("images", "-q").stdout


def test_pull_tag_rmi_and_run_pulling(engine: Pinnace, service: str, tmp_path: Path) -> None:
    import contextlib

    from tests.helpers.pinnace_registry import serving as registry

    with contextlib.contextmanager(registry)(tmp_path / "registry") as host:
        engine.run("tag", "busybox", f"{host}/lib/busybox:1")
        engine.run("push", f"{host}/lib/busybox:1")
        engine.run("rmi", f"{host}/lib/busybox:1")
        local = engine.run("pull", f"{host}/lib/busybox:1")
        engine.run("rmi", f"{host}/lib/busybox:1")
        pulled = remote(service, tmp_path, "pull", f"{host}/lib/busybox:1")
        # the same lines, but for the status: the service always says "Downloaded newer image"
        assert [line for line in pulled.stdout.splitlines() if not line.startswith("Status: ")] == [
            line for line in local.stdout.splitlines() if not line.startswith("Status: ")
        ]
        assert pulled.stdout.endswith(f" for {host}/lib/busybox:1\n{host}/lib/busybox:1\n")
        missing = remote(service, tmp_path, "pull", f"{host}/lib/nothing:1", check=False)
        assert missing.returncode == 1 and missing.stderr.startswith(
            f"Error response from daemon: repository {host}/lib/nothing not found: name unknown"
        ), missing.stderr
        # pull -a: the service pulls every tag in one request; the lines are the local CLI's
        engine.run("tag", "busybox", f"{host}/lib/busybox:2")
        engine.run("push", f"{host}/lib/busybox:2")
        engine.run("rmi", f"{host}/lib/busybox:1", f"{host}/lib/busybox:2")
        local_all = engine.run("pull", "-a", f"{host}/lib/busybox")
        engine.run("rmi", f"{host}/lib/busybox:1", f"{host}/lib/busybox:2")
        far_all = remote(service, tmp_path, "pull", "-a", f"{host}/lib/busybox")
        assert [line for line in far_all.stdout.splitlines() if not line.startswith("Status: ")] == [
            line for line in local_all.stdout.splitlines() if not line.startswith("Status: ")
        ]
        assert far_all.stdout.startswith("1: Pulling from lib/busybox\n") and "2: Pulling from lib/busybox\n" in far_all.stdout
        tags = engine.run("images", "--format", "{{.Tag}}", f"{host}/lib/busybox").stdout.split()
        assert sorted(tags) == ["1", "2"]
        nothing = remote(service, tmp_path, "pull", "-a", f"{host}/lib/nothing", check=False)
        assert nothing.returncode == 1 and nothing.stderr.startswith("Error response from daemon: "), nothing.stderr
        engine.run("rmi", f"{host}/lib/busybox:2")
        untagged = remote(service, tmp_path, "rmi", f"{host}/lib/busybox:1")
        assert untagged.stdout == f"Untagged: {host}/lib/busybox:1\n"
        ran = remote(service, tmp_path, "run", "--rm", "--network", "none", f"{host}/lib/busybox:1", "echo", "pulled first")
        assert ran.stdout == "pulled first\n"
        assert ran.stderr.startswith(f"Unable to find image '{host}/lib/busybox:1' locally\n")
    assert remote(service, tmp_path, "tag", "busybox", "renamed:2").returncode == 0
    assert engine.run("images", "--format", "{{.Repository}}:{{.Tag}}", "renamed").stdout == "renamed:2\n"


SSHD = Path("/usr/sbin/sshd")


@pytest.mark.skipif(not SSHD.exists(), reason="openssh-server (sshd) is not installed")
def test_ssh_to_a_real_sshd(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """A real sshd on 127.0.0.1 (keys and config of the test's own) runs ``pinnace system dial-stdio``."""
    from tests.helpers.pinnace_registry import free_port, stop

    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(keys / name)], check=True)
    (keys / "authorized_keys").write_text((keys / "user.pub").read_text())
    port = free_port()
    (keys / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\nPidFile {keys / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n"
        f"PasswordAuthentication no\nSetEnv PINNACE_HOST={service} PATH={PINNACE.parent}:/usr/bin:/bin\n"
    )
    (keys / "ssh_config").write_text(
        f"Host *\n  IdentityFile {keys / 'user'}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n  BatchMode yes\n"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {keys / "ssh_config"} "$@"\n')
    (bin_dir / "ssh").chmod(0o755)
    sshd = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(keys / "sshd_config")], stderr=subprocess.DEVNULL)
    try:
        path = f"{bin_dir}:{os.environ['PATH']}"
        url = f"ssh://root@127.0.0.1:{port}"
        for _ in range(100):  # until sshd listens
            probe = remote(url, tmp_path, "version", "--format", "{{.Server.ApiVersion}}", check=False, PATH=path)
            if probe.returncode == 0:
                break
            __import__("time").sleep(0.1)
        assert probe.stdout == "1.45\n", probe.stderr
        assert remote(url, tmp_path, "images", "-q", PATH=path).stdout == engine.run("images", "-q").stdout
        ran = remote(url, tmp_path, "run", "-i", "--rm", "--network", "none", "busybox", "cat", input="over sshd\n", PATH=path)
        assert ran.stdout == "over sshd\n"
    finally:
        stop(sshd)  # type: ignore[arg-type]


def test_wait_pause_rename_top_port(engine: Pinnace, service: str, tmp_path: Path) -> None:
    remote(service, tmp_path, "run", "-d", "--name", "worker", "--network", "none", "busybox", "busybox", "sleep", "30")
    assert remote(service, tmp_path, "pause", "worker").stdout == "worker\n"
    assert engine.run("ps", "--format", "{{.State}}").stdout == "paused\n"
    assert remote(service, tmp_path, "unpause", "worker").stdout == "worker\n"
    assert remote(service, tmp_path, "rename", "worker", "renamed").returncode == 0
    assert engine.run("ps", "--format", "{{.Names}}").stdout == "renamed\n"
    top = remote(service, tmp_path, "top", "renamed").stdout
    assert "sleep 30" in top
    assert _steady(top) == _steady(engine.run("top", "renamed").stdout)
    assert remote(service, tmp_path, "port", "renamed").stdout == engine.run("port", "renamed").stdout
    remote(service, tmp_path, "kill", "renamed")
    assert remote(service, tmp_path, "wait", "renamed").stdout == "137\n"


@pytest.mark.parametrize(
    "args",
    [
        ("save", "--format", "oci", "busybox"),
    ],
)
def test_what_is_not_supported_yet_says_so_in_one_line(
    engine: Pinnace, service: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    engine.run("create", "--name", "c1", "--network", "none", "busybox", "true")
    proc = remote(service, tmp_path, *args, check=False)
    assert proc.returncode == 125 and proc.stderr.endswith(": not supported against a remote engine yet\n"), proc.stderr
    assert proc.stderr.startswith("pinnace ") and proc.stderr.count("\n") == 1


def test_plain_tcp_on_loopback(engine: Pinnace, tmp_path: Path) -> None:
    with serving_tcp(engine, "-H", "tcp://127.0.0.1:0") as running:
        host = f"tcp://127.0.0.1:{tcp_port(running.urls[0])}"
        assert remote(None, tmp_path, "images", "-q", DOCKER_HOST=host).stdout == engine.run("images", "-q").stdout
        ran = remote(host, tmp_path, "run", "-i", "--rm", "--network", "none", "busybox", "cat", input="over tcp\n")
        assert ran.stdout == "over tcp\n"


def test_the_create_body_carries_every_flag_the_service_reads() -> None:
    """``run``'s flags -> RunOptions -> the create body -> what the service reads back: the same options."""
    from pinnace._util.record import replace
    from pinnace.api.create import run_options as read_body
    from pinnace.cli.container_flags import create_flags, run_options
    from pinnace.client.containers import create_body

    argv = [
        "--name", "x", "-e", "A=1", "--label", "k=v", "-w", "/w", "-u", "1:2", "--entrypoint", "/bin/sh",
        "-h", "host", "--domainname", "dom", "--stop-signal", "SIGUSR1", "--stop-timeout", "7", "-t", "-i",
        "-v", "/anon", "-v", "/src:/dst:ro", "--tmpfs", "/run:size=1m", "--dns", "1.1.1.1", "--dns-search", "x.org",
        "--dns-option", "ndots:2", "--add-host", "a:10.0.0.1", "-p", "127.0.0.1:8080:80", "--expose", "90",
        "--group-add", "audio", "--init", "--read-only", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN",
        "--security-opt", "no-new-privileges", "-m", "64m", "--memory-swap", "128m", "--cpus", "1.5",
        "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "--ulimit", "nofile=10:20",
        "--shm-size", "32m", "--sysctl", "net.ipv4.ip_forward=1", "--oom-score-adj", "5",
        "--restart", "on-failure:3", "--log-driver", "json-file", "--log-opt", "max-size=1m",
        "--network", "none", "--health-cmd", "true", "--health-interval", "5s",
        "busybox", "echo", "hi",
    ]  # fmt: skip
    options = run_options(create_flags("run", "").parse(argv))
    back = read_body(create_body(options))
    # docker's client sends the entrypoint as a list and the capabilities as CAP_ names, as we do
    expected = replace(
        options, detach=False, cidfile="", detach_keys="", entrypoint=("/bin/sh",), cap_add=("CAP_NET_ADMIN",),
        cap_drop=("CAP_CHOWN",),
    )  # fmt: skip
    fields = type(options).__record_fields__  # type: ignore[attr-defined]
    assert {f: getattr(back, f) for f in fields} == {f: getattr(expected, f) for f in fields}


def _steady(top: str) -> list[list[str]]:
    """``top``'s rows without the C column (recent CPU use), which may differ between two calls."""
    rows = [line.split() for line in top.splitlines()]
    column = rows[0].index("C")
    return [row[:column] + row[column + 1 :] for row in rows]
