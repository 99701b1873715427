"""``pinnace logs`` end to end: --tail, --since, --until, -t, --details, -f, log drivers, docker's errors.

Real containers through the real ``pinnace`` entry point (the ``engine``
fixture: a private store with busybox).  Times for --since/--until are taken
from the container's own ``logs -t`` output, so the windows fall between
lines the container printed 0.1 s apart.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from pinnace._util.gotime import parse_layout
from tests.conftest import PINNACE, Pinnace

pytestmark = pytest.mark.root

FIVE_LINES = "for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done"


def finished(engine: Pinnace, name: str, *args: str, script: str = FIVE_LINES) -> str:
    """Run ``script`` in a detached container called ``name`` and wait for it; its ID."""
    cid = engine.run("run", "-d", "--name", name, *args, "busybox", "sh", "-c", script).stdout.strip()
    assert engine.run("wait", name).stdout == "0\n"
    return cid


def stamped(engine: Pinnace, name: str) -> list[tuple[str, str]]:
    """(time, line) pairs of ``logs -t``."""
    out = engine.run("logs", "-t", name).stdout
    return [tuple(line.split(" ", 1)) for line in out.splitlines()]  # type: ignore[misc]


def lines(engine: Pinnace, *args: str) -> list[str]:
    return engine.run("logs", *args).stdout.splitlines()


def test_timestamps_are_dockers_fixed_rfc3339nano(engine: Pinnace) -> None:
    finished(engine, "ts")
    pairs = stamped(engine, "ts")
    assert [line for _, line in pairs] == [f"line {i}" for i in range(1, 6)]
    for when, _ in pairs:
        assert len(when) == 30 and when[10] == "T" and when.endswith("Z") and when[19] == "."
    times = [parse_layout("2006-01-02T15:04:05.999999999Z07:00", when) for when, _ in pairs]
    assert times == sorted(times) and times[-1] - times[0] >= 300_000_000


def test_tail(engine: Pinnace) -> None:
    finished(engine, "tailed")
    assert lines(engine, "--tail", "2", "tailed") == ["line 4", "line 5"]
    assert lines(engine, "-n", "1", "tailed") == ["line 5"]
    assert lines(engine, "--tail", "0", "tailed") == []
    assert lines(engine, "--tail", "all", "tailed") == [f"line {i}" for i in range(1, 6)]
    assert lines(engine, "--tail", "99", "tailed") == [f"line {i}" for i in range(1, 6)]
    # dockerd reads a tail that is not a number, or a negative one, as all
    assert lines(engine, "--tail", "many", "tailed") == [f"line {i}" for i in range(1, 6)]
    assert lines(engine, "--tail", "-3", "tailed") == [f"line {i}" for i in range(1, 6)]
    # tail first, then since (as docker counts): the last 3, of which those since line 4
    t4 = stamped(engine, "tailed")[3][0]
    assert lines(engine, "--tail", "3", "--since", t4, "tailed") == ["line 4", "line 5"]


def test_since_and_until_in_every_form(engine: Pinnace) -> None:
    finished(engine, "window")
    pairs = stamped(engine, "window")
    t2, t3, t4 = pairs[1][0], pairs[2][0], pairs[3][0]
    assert lines(engine, "--since", t3, "window") == ["line 3", "line 4", "line 5"]
    assert lines(engine, "--until", t3, "window") == ["line 1", "line 2", "line 3"]
    assert lines(engine, "--since", t2, "--until", t4, "window") == ["line 2", "line 3", "line 4"]
    # the same instant as a unix timestamp with nanoseconds, and in another zone
    ns = parse_layout("2006-01-02T15:04:05.999999999Z07:00", t3)
    assert lines(engine, "--since", f"{ns // 10**9}.{ns % 10**9:09d}", "window") == [
        "line 3",
        "line 4",
        "line 5",
    ]
    hour, rest = int(t3[11:13]), t3[13:-1]
    east = f"{t3[:11]}{(hour + 1) % 24:02d}{rest}+01:00" if hour < 23 else t3
    assert lines(engine, "--since", east, "window") == ["line 3", "line 4", "line 5"]
    # relative: all of it happened in the last hour, none of it in the future
    assert lines(engine, "--since", "1h", "window") == [f"line {i}" for i in range(1, 6)]
    assert lines(engine, "--since", "1h30m", "--until", "-1h", "window") == [f"line {i}" for i in range(1, 6)]
    assert lines(engine, "--since", "-1h", "window") == []
    assert lines(engine, "--until", "1h", "window") == []
    # whole seconds and dates
    assert lines(engine, "--since", "2000-01-01", "window") == [f"line {i}" for i in range(1, 6)]
    assert lines(engine, "--until", "2000-01-01T00:00:00Z", "window") == []
    assert lines(engine, "--since", "2999-01-01T00:00:00Z", "window") == []


def test_bad_values_get_dockers_errors(engine: Pinnace) -> None:
    finished(engine, "errs", script="echo hi")
    for flag, value, message in [
        ("--since", "x", 'invalid value for "since": failed to parse value as time or duration: "x"\n'),
        (
            "--since",
            "2013-13-01",
            'invalid value for "since": parsing time "2013-13-01": month out of range\n',
        ),
        (
            "--until",
            "yesterday",
            'invalid value for "until": failed to parse value as time or duration: "yesterday"\n',
        ),
    ]:
        bad = engine.run("logs", flag, value, "errs", check=False)
        assert (bad.returncode, bad.stdout, bad.stderr) == (1, "", message)
    # the container is looked up first, as the docker CLI inspects it first
    missing = engine.run("logs", "--since", "x", "nosuch", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: No such container: nosuch\n",
    )
    usage = engine.run("logs", check=False)
    assert usage.returncode == 125 and "requires exactly 1 argument" in usage.stderr


def test_streams_stay_apart_and_details_prefix_the_attributes(engine: Pinnace) -> None:
    finished(engine, "both", script="echo out; echo err >&2")
    proc = engine.run("logs", "both")
    assert (proc.stdout, proc.stderr) == ("out\n", "err\n")
    # no --log-opt labels/env: the attributes are empty and docker still prints the space
    proc = engine.run("logs", "--details", "-t", "both")
    assert proc.stdout.split(" ", 1)[1] == " out\n" and proc.stderr.split(" ", 1)[1] == " err\n"


def test_details_show_the_labels_and_env_picked_by_log_opts(engine: Pinnace) -> None:
    finished(
        engine,
        "detailed",
        "--label",
        "app=shop front",
        "-e",
        "MODE=a&b",
        "--log-opt",
        "labels=app",
        "--log-opt",
        "env=MODE",
        script="echo hi",
    )
    assert lines(engine, "--details", "detailed") == ["MODE=a%26b,app=shop+front hi"]


def test_follow_until_the_container_exits(engine: Pinnace) -> None:
    engine.run("run", "-d", "--name", "follow", "busybox", "sh", "-c", "echo ready; sleep 1; " + FIVE_LINES)
    follower = subprocess.Popen(
        [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), "logs", "-f", "follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert (follower.returncode, err) == (0, "")
    assert out.splitlines() == ["ready"] + [f"line {i}" for i in range(1, 6)]
    # a stopped container: -f prints what there is and returns at once
    start = time.monotonic()
    assert lines(engine, "-f", "--tail", "1", "follow") == ["line 5"]
    assert time.monotonic() - start < 10


def test_the_none_driver_keeps_nothing_to_read(engine: Pinnace) -> None:
    engine.run("run", "-d", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi")
    engine.run("wait", "quiet")
    proc = engine.run("logs", "quiet", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1,
        "",
        "Error response from daemon: configured logging driver does not support reading\n",
    )
    assert engine.run("inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "quiet").stdout == "none\n"


def test_a_none_driver_container_runs_and_leaves_no_log(engine: Pinnace) -> None:
    cid = finished(engine, "silent", "--log-driver", "none", script="echo hi")
    assert not list((Path(engine.root) / "containers" / cid).glob("*-json.log*"))
    assert engine.run("run", "--rm", "--log-driver", "none", "busybox", "echo", "hi").stdout == "hi\n"


def test_a_bad_log_driver_or_option_is_refused_at_create(engine: Pinnace) -> None:
    for args, said in [
        (["--log-driver", "syslog2"], "logger: no log driver named 'syslog2' is registered"),
        (["--log-opt", "max-file=x"], 'strconv.Atoi: parsing "x": invalid syntax'),
        (["--log-driver", "local", "--log-opt", "nope=1"], "unknown log opt 'nope' for log driver local"),
    ]:
        bad = engine.run("create", *args, "busybox", "true", check=False)
        assert bad.returncode != 0 and said in bad.stderr, (args, bad.stderr)
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_the_local_driver_end_to_end(engine: Pinnace) -> None:
    cid = finished(
        engine,
        "compact",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        script="i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done",
    )
    directory = Path(engine.root) / "containers" / cid / "local-logs"
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["container.log", "container.log.1.gz", "container.log.2.gz"]
    assert not (Path(engine.root) / "containers" / cid / f"{cid}-json.log").exists()
    got = lines(engine, "compact")
    assert got == [f"line {i}" for i in range(int(got[0].split()[1]), 100)]
    assert lines(engine, "--tail", "2", "compact") == ["line 98", "line 99"]
    t = stamped(engine, "compact")[-3][0]
    assert lines(engine, "--since", t, "compact")[-2:] == ["line 98", "line 99"]
    assert engine.run("inspect", "-f", "{{.LogPath}}", "compact").stdout == "\n"
