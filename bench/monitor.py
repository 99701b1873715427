"""The per-container monitor (`pinnace.shim.monitor`): its memory and start latency.

    python -m bench.monitor [N]

Starts N (default 20) detached `sleep` containers through `spawn`, reports
the median PSS of their monitors and the median `spawn` latency (monitor
start + container create + start), then kills the containers and checks
that every monitor recorded the exit.  Issue 4 holds these against docker's
containerd-shim (2.8 MiB PSS) and podman's conmon (0.4 MiB).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.runtimes import bundle


def _pss(pid: int) -> int:
    """PSS of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss for {pid}")


def measure(count: int = 20) -> tuple[float, float]:
    """(median monitor PSS in MiB, median spawn latency in ms) over ``count`` running containers."""
    from pinnace.runtime.linux import sealed
    from pinnace.shim.monitor import MonitorConfig, spawn

    tmp = Path(tempfile.mkdtemp(prefix="pinnace-bench-monitor-"))
    root = tmp / "runtime"
    path = bundle(tmp / "bundle", ["sleep", "600"])
    started = []
    latencies = []
    try:
        for i in range(count):
            config = MonitorConfig(
                container_id=f"bench-monitor-{os.getpid()}-{i}",
                bundle=str(path),
                runtime_root=str(root),
                log_path=str(tmp / f"{i}-json.log"),
                exit_file=str(tmp / f"{i}.exit"),
            )
            t0 = time.perf_counter()
            started.append(spawn(config))
            latencies.append(time.perf_counter() - t0)
        time.sleep(1)  # let every monitor settle in its lean loop
        pss = statistics.median(_pss(s.monitor_pid) for s in started) / 1024
        return pss, statistics.median(latencies) * 1000
    finally:
        for s in started:
            os.kill(s.pid, 9)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            (tmp / f"{i}.exit").exists() for i in range(len(started))
        ):
            time.sleep(0.05)
        sealed.unseal(str(root))
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 20
    pss, latency = measure(count)
    print(f"monitor PSS with {count} running containers: median {pss:.2f} MiB; spawn median {latency:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
