"""docker stats' figures from two cgroup samples, and the table strings (docker/cli stats_helpers, formatter_stats)."""

from __future__ import annotations

from pinnace.containers import stats
from pinnace.containers.stats import Entry, Sample

ID = "0123456789ab" + "cd" * 26


def sample(cpu_ns: int, system_ns: int, **kw: int) -> Sample:
    fields = dict(
        online_cpus=2,
        memory=50 * 1024 * 1024,
        memory_limit=200 * 1024 * 1024,
        block_read=0,
        block_write=0,
        pids=3,
    )
    fields.update(kw)
    return Sample(cpu_ns=cpu_ns, system_ns=system_ns, **fields)


def test_cpu_percent_is_the_share_of_host_time_times_the_cpus() -> None:
    # The container used 0.5 s of CPU while the 2-CPU host spent 2 s in total: one CPU half busy = 50 %.
    e = stats.entry(sample(1_000_000_000, 10_000_000_000), sample(1_500_000_000, 12_000_000_000))
    assert e.cpu_percent == 50.0
    assert stats.entry(None, sample(5, 5)).cpu_percent == 0.0
    assert stats.entry(sample(5, 5), sample(5, 5)).cpu_percent == 0.0


def test_memory_percent_and_row_strings() -> None:
    e = stats.entry(sample(0, 0), sample(0, 1, block_read=1_234_567, block_write=0))
    assert e.memory_percent == 25.0
    row = stats.row("web", ID, "web", e)
    assert row == {
        "Container": "web",
        "Name": "web",
        "ID": ID[:12],
        "CPUPerc": "0.00%",
        "MemUsage": "50MiB / 200MiB",
        "MemPerc": "25.00%",
        "NetIO": "0B / 0B",
        "BlockIO": "1.23MB / 0B",
        "PIDs": "3",
    }
    assert stats.row("web", ID, "web", e, trunc=False)["ID"] == ID


def test_a_stopped_container_shows_zeros_and_an_unreadable_one_dashes() -> None:
    zero = stats.row(ID[:12], ID, "", Entry())
    assert (zero["Name"], zero["CPUPerc"], zero["MemUsage"], zero["PIDs"]) == ("--", "0.00%", "0B / 0B", "0")
    invalid = stats.row(ID[:12], ID, "x", None)
    assert (invalid["CPUPerc"], invalid["MemUsage"], invalid["PIDs"]) == ("--", "-- / --", "--")


def test_host_readings() -> None:
    assert stats.system_cpu_ns() > 0
    assert stats.host_memory() > 1 << 20
