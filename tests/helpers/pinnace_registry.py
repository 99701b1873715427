"""``pinnace registry serve`` on 127.0.0.1 for the registry server's tests: started, waited for, stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import PINNACE, Pinnace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serving(root: Path, *flags: str) -> Iterator[str]:
    """Run a registry on ``root``; yield its ``host:port``; stop it (SIGTERM, then SIGKILL) at the end."""
    host = f"127.0.0.1:{free_port()}"
    root.mkdir(parents=True, exist_ok=True)
    log = root.parent / f"{root.name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(PINNACE), "registry", "serve", "--addr", host, "--root", str(root), *flags],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        scheme = "https" if "--tls-cert" in flags else "http"
        import ssl

        unverified = ssl._create_unverified_context() if scheme == "https" else None
        while True:
            try:
                with urllib.request.urlopen(f"{scheme}://{host}/v2/", timeout=2, context=unverified):
                    break
            except urllib.error.HTTPError:
                break  # it answers (401 when it wants credentials)
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"pinnace registry did not start: {log.read_text(errors='replace')[-500:]}"
                    ) from None
                time.sleep(0.05)
        yield host
    finally:
        stop(proc)


def as_user(store: Pinnace, config: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``pinnace`` on ``store`` with a docker config directory of its own (where ``login`` keeps
    credentials), so that no test reads or writes the host's ``~/.docker``."""

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PINNACE), "--root", str(store.root), "--runroot", str(store.runroot), *args],
            input=stdin, capture_output=True, text=True, timeout=60, env={**os.environ, "DOCKER_CONFIG": str(config)},
        )  # fmt: skip

    return cli


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server this test started, by its pid: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
