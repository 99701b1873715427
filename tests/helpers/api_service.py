"""``pinnace system service`` on a unix socket of the test's own: started, waited for, stopped by pid."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import PINNACE, Pinnace
from tests.helpers.pinnace_registry import stop


def serving(store: Pinnace, where: Path) -> Iterator[str]:
    """Serve ``store``'s engine on ``where``/pinnace.sock; yield ``unix://...``; stop it at the end."""
    for _, url in service_process(store, where):
        yield url


def service_process(store: Pinnace, where: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """:func:`serving`, yielding the service's process too (for tests that stop or freeze it)."""
    sock = where / "pinnace.sock"
    where.mkdir(parents=True, exist_ok=True)
    log = where / "service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(PINNACE), "--root", str(store.root), "--runroot", str(store.runroot), "system", "service",
             "-H", f"unix://{sock}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the API service did not start: {log.read_text(errors='replace')[-500:]}"
                    ) from None
                time.sleep(0.05)
        yield proc, f"unix://{sock}"
    finally:
        stop(proc)
