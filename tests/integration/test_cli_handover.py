"""``run`` and ``exec`` handed to the warm zygote (pinnace.cli.client) behave as when run in the CLI.

The first command on a store starts the zygote; the ones after are served
by a process it forks, with our stdio, working directory, environment and
umask.  Each test runs the same thing both ways (``PINNACE_NO_ZYGOTE``) and
compares what a user sees.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace

pytestmark = pytest.mark.root


def pinnace(
    engine: Pinnace, *args: str, cwd: Path, direct: bool, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GREETING": "hello from the client"}
    if direct:
        env["PINNACE_NO_ZYGOTE"] = "1"
    return subprocess.run(
        [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), *args],
        cwd=cwd, env=env, capture_output=True, timeout=60, check=False, **kw,  # type: ignore[call-overload]
    )  # fmt: skip


def test_run_sees_our_cwd_env_stdio_and_umask(engine: Pinnace, tmp_path: Path) -> None:
    engine.run("run", "--rm", "busybox", "true")  # starts the zygote
    (tmp_path / "vars.env").write_text("FROM_FILE=relative path\n")
    results = []
    for direct in (False, True):
        cid = f"cid-{direct}"
        proc = pinnace(
            engine, "run", "--rm", "-i", "--cidfile", cid, "--env-file", "vars.env", "-e", "GREETING",
            "busybox", "sh", "-c", 'cat; echo "$GREETING / $FROM_FILE"; echo oops >&2; exit 5',
            cwd=tmp_path, direct=direct, input=b"from stdin\n",
        )  # fmt: skip
        mode = (tmp_path / cid).stat().st_mode & 0o777
        results.append((proc.returncode, proc.stdout, proc.stderr, mode, len((tmp_path / cid).read_text())))
    assert results[0] == results[1]
    assert results[0][:3] == (5, b"from stdin\nhello from the client / relative path\n", b"oops\n")


def test_exec_exit_code_and_errors(engine: Pinnace, tmp_path: Path) -> None:
    engine.run("run", "-d", "--name", "box", "busybox", "sh", "-c", "sleep 600")
    for direct in (False, True):
        proc = pinnace(
            engine, "exec", "box", "sh", "-c", "echo $((6*7)); exit 3", cwd=tmp_path, direct=direct
        )
        assert (proc.returncode, proc.stdout) == (3, b"42\n")
        missing = pinnace(engine, "exec", "box", "nosuch", cwd=tmp_path, direct=direct)
        assert missing.returncode == 127
    bad = pinnace(engine, "run", "--memory", "5x", "busybox", cwd=tmp_path, direct=False)
    assert bad.returncode == 125
    assert b"invalid argument" in bad.stderr


def test_signals_reach_the_container_through_the_handover(engine: Pinnace) -> None:
    engine.run("run", "--rm", "busybox", "true")  # starts the zygote: the next run is handed over
    script = 'trap "echo got TERM; exit 9" TERM; echo ready; while :; do sleep 0.1; done'
    proc = subprocess.Popen(
        [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot)]
        + ["run", "--rm", "busybox", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert (out, proc.returncode) == (b"got TERM\n", 9)
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_a_terminal_run_through_the_handover(engine: Pinnace) -> None:
    from tests.integration.test_container_attach import Terminal

    engine.run("run", "--rm", "busybox", "true")  # starts the zygote: the next run is handed over
    term = Terminal(engine, "run", "--rm", "-it", "busybox", "sh", rows=25, cols=90)
    term.read_until(b"# ")
    term.type(b"tty; stty size; exit 7\r")
    out = term.read_until(b"25 90")
    assert b"/dev/pts/0" in out
    assert term.wait() == 7


def _waiting_run(engine: Pinnace, then: str = "true") -> subprocess.Popen[bytes]:
    """A foreground ``run --rm -i`` that has printed "ready" and waits for a line on its stdin, then runs ``then``."""
    proc = subprocess.Popen(
        [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot)]
        + ["run", "--rm", "-i", "busybox", "sh", "-c", f"echo ready; read line; {then}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def _children(pid: int) -> set[int]:
    return {int(e) for e in os.listdir("/proc") if e.isdigit() and _alive(int(e)) and _ppid(int(e)) == pid}


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_runs_come_from_the_worker_zygote_monitors_from_the_lean_one(engine: Pinnace) -> None:
    from pinnace.shim.zygote import PID_FILE, SPARE_NAME, WORKER_PID_FILE, WORKER_SOCKET_NAME

    engine.run("run", "--rm", "busybox", "true")  # starts the zygote, which forks its worker zygote
    zygote = int((engine.runroot / PID_FILE).read_text())
    assert _wait_for(lambda: (engine.runroot / WORKER_SOCKET_NAME).exists())  # listening: loaded
    worker = int((engine.runroot / WORKER_PID_FILE).read_text())
    assert _ppid(worker) == zygote
    assert Path(f"/proc/{worker}/comm").read_text() == "pinnace-worker\n"

    proc = _waiting_run(engine)
    assert proc.stdout is not None and proc.stdin is not None
    spares = {pid for pid in _children(worker) | _children(zygote) if _comm(pid) == SPARE_NAME}
    served = _children(worker) - spares  # the process running this `run` for the client
    monitors = _children(zygote) - {worker} - spares
    assert len(served) == 1 and len(monitors) == 1 and len(spares) == 2  # each zygote's, for the next request
    assert Path(f"/proc/{monitors.pop()}/comm").read_text() != "pinnace-worker\n"
    proc.stdin.write(b"bye\n")
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0

    os.kill(worker, signal.SIGKILL)  # a worker that dies is forked again
    pid_file = engine.runroot / WORKER_PID_FILE
    assert _wait_for(lambda: pid_file.exists() and pid_file.read_text() not in ("", str(worker)))
    again = int(pid_file.read_text())
    assert _ppid(again) == zygote
    assert engine.run("run", "--rm", "busybox", "sh", "-c", "echo served").stdout == "served\n"

    os.kill(zygote, signal.SIGKILL)  # and it never outlives its zygote
    assert _wait_for(lambda: not _alive(again), timeout=5)


def test_the_native_front_hands_over_without_an_interpreter(engine: Pinnace) -> None:
    """`pinnace` is src/pinnace/cli/front.c: while a handed-over run lasts, the client process is that binary."""
    engine.run("run", "--rm", "busybox", "true")  # starts the zygote: the next run is handed over
    proc = _waiting_run(engine)
    assert proc.stdout is not None and proc.stdin is not None
    assert os.readlink(f"/proc/{proc.pid}/exe") == os.path.realpath(PINNACE)
    assert Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[0] == str(PINNACE).encode()
    proc.stdin.write(b"bye\n")
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0


def test_odd_arguments_and_variables_come_through_either_way(engine: Pinnace, tmp_path: Path) -> None:
    """Quotes, backslashes, control characters and non-ASCII text in the command line and the
    environment, with a relative --runroot, reach the container unchanged; bytes that are not
    UTF-8 arrive as U+FFFD, as docker's CLI sends them (the native front leaves those to Python)."""
    engine.run("run", "-d", "--name", "box", "busybox", "sh", "-c", "sleep 600")
    odd = 'say "hi"\\ there\n\ttabbed \x01\x1f caf\u00e9 \u2713 \U0001f600'
    runroot = os.path.relpath(engine.runroot, tmp_path)
    script = b'printf "%s|" "$ODD" "$0"'
    outputs = []
    for direct in (False, True):
        env = {**os.environ, "ODD": odd}
        if direct:
            env["PINNACE_NO_ZYGOTE"] = "1"
        front = [os.fsencode(PINNACE), b"--root", os.fsencode(engine.root), b"--runroot", runroot.encode()]
        for variable, argument in ((b"ODD", odd.encode()), (b"ODD=\xff\xfe", b"\xfd")):
            argv = [*front, b"exec", b"-e", variable, b"box", b"sh", b"-c", script, argument]
            proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False)
            assert proc.returncode == 0, proc.stderr
            outputs.append(proc.stdout)
    expected = [odd.encode() + b"|" + odd.encode() + b"|", "\ufffd\ufffd|\ufffd|".encode()]
    assert outputs == expected * 2


def _served_by_the_worker(engine: Pinnace) -> None:
    """Start the zygote, wait for its worker zygote, and have it serve a run (its next spare prepares the store)."""
    from pinnace.shim.zygote import WORKER_SOCKET_NAME

    engine.run("run", "--rm", "busybox", "true")
    assert _wait_for(lambda: (engine.runroot / WORKER_SOCKET_NAME).exists())
    engine.run("run", "--rm", "busybox", "true")


def _spare(engine: Pinnace) -> int:
    """The worker zygote's spare process, once there is one."""
    from pinnace.shim.zygote import SPARE_NAME, WORKER_PID_FILE

    found: list[int] = []

    def look() -> bool:
        try:
            worker = int((engine.runroot / WORKER_PID_FILE).read_text())
        except (OSError, ValueError):
            return False
        found[:] = [pid for pid in _children(worker) if _comm(pid) == SPARE_NAME]
        return len(found) == 1

    assert _wait_for(look)
    return found[0]


def _open_files(pid: int) -> set[str]:
    names = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            names.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return names


def test_the_spare_has_the_store_open_and_never_serves_a_replaced_one(
    engine: Pinnace, tmp_path: Path
) -> None:
    """The spare opens the previous request's store ahead; a store removed and made again since is opened anew."""
    _served_by_the_worker(engine)
    database = str(engine.root / "pinnace.db")
    assert _wait_for(lambda: database in _open_files(_spare(engine)))
    assert engine.run("run", "--rm", "busybox", "echo", "prepared").stdout == "prepared\n"

    # The store goes and an empty one takes its place: the spare's open database is not it.
    assert _wait_for(lambda: database in _open_files(_spare(engine)))
    moved = tmp_path / "moved-store"
    engine.root.rename(moved)
    try:
        engine.root.mkdir()
        (engine.root / "daemon.json").write_text((moved / "daemon.json").read_text())
        engine.run("images")  # a new, empty store
        proc = engine.run("run", "--rm", "busybox", "true", check=False)
        assert proc.returncode == 125
        assert "No such image" in proc.stderr or "Unable to find image" in proc.stderr
    finally:
        shutil.rmtree(engine.root)
        moved.rename(engine.root)
    assert engine.run("run", "--rm", "busybox", "echo", "back").stdout == "back\n"


def test_a_request_for_another_store_is_served_from_it(engine: Pinnace, tmp_path: Path) -> None:
    """A spare prepared for one store serves a request naming another from that other one."""
    other = Pinnace(tmp_path / "other-root", engine.runroot)  # the same zygote, another store
    _served_by_the_worker(engine)
    assert _wait_for(lambda: str(engine.root / "pinnace.db") in _open_files(_spare(engine)))
    proc = other.run("run", "--rm", "busybox", "true", check=False)
    assert proc.returncode == 125 and "busybox" in proc.stderr
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_containers_and_runs_from_spares_outlive_the_zygotes(engine: Pinnace) -> None:
    """A spare dies with its zygote until it takes a request; then it lives on, as a forked child would."""
    from tests.helpers.zygote import stop_zygote

    _served_by_the_worker(engine)
    engine.run("run", "-d", "--name", "lasting", "busybox", "sh", "-c", "sleep 600")  # a spare monitor
    proc = _waiting_run(engine, 'echo "got $line"')  # served by the worker's spare
    assert proc.stdout is not None and proc.stdin is not None
    stop_zygote(engine.runroot)
    proc.stdin.write(b"bye\n")
    proc.stdin.close()
    assert (proc.stdout.read(), proc.wait(timeout=10)) == (b"got bye\n", 0)
    assert engine.run("exec", "lasting", "echo", "alive").stdout == "alive\n"
    engine.run("rm", "-f", "lasting")
