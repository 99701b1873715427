"""``run``/``create`` command lines -> RunOptions, and the lines docker's CLI prints for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.cli import container_flags as cf
from pinnace.cli.flags import UsageError
from pinnace.containers.options import DeviceMapping, RestartPolicy, RunOptions, Ulimit
from pinnace.errors import InvalidArgument

MiB = 1024 * 1024
SECOND = 1_000_000_000


def parse(*argv: str, command: str = "run") -> RunOptions:
    return cf.run_options(cf.create_flags(command, "summary").parse(list(argv), min_args=1))


def refused(*argv: str, command: str = "run") -> str:
    """What main prints for the UsageError: the message, then the help pointer."""
    with pytest.raises(UsageError) as exc:
        parse(*argv, command=command)
    see = f"\nSee 'pinnace {exc.value.command} --help'." if exc.value.command else ""
    return exc.value.message + see


def test_no_flags_are_dockers_defaults() -> None:
    options = parse("busybox")
    assert options == RunOptions(image="busybox")
    assert options.restart_policy == RestartPolicy("no", 0) and options.init is None


def test_every_flag_lands_in_its_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "h")
    env_file = tmp_path / "env"
    env_file.write_text("A=file\nFROM_HOST\n# comment\nB=2\n")
    label_file = tmp_path / "labels"
    label_file.write_text("team=core\nbare\nx=1\n")
    options = parse(
        "-d", "-i", "-t", "--rm=false", "--name", "ignored",
        "--env-file", str(env_file), "-e", "A=flag", "-e", "FROM_HOST",
        "--label-file", str(label_file), "-l", "x=2", "--label", "solo",
        "-w", "/work", "-u", "app:staff", "--group-add", "video", "--group-add", "44",
        "--entrypoint", "/bin/sh", "-h", "web", "--domainname", "example.org",
        "--init", "--restart", "on-failure:3", "--stop-signal", "SIGINT", "--stop-timeout", "0x10",
        "--read-only", "--privileged", "--cap-add", "net_admin", "--cap-drop", "mknod",
        "--security-opt", "no-new-privileges", "--runtime", "runc",
        "-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m",
        "--cpus", "1.5", "-c", "512", "--cpu-period", "0", "--cpu-quota", "0",
        "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--pids-limit", "-1",
        "--ulimit", "nproc=10", "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=20",
        "--shm-size", "1g", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "net.ipv4.ip_forward=0",
        "--device", "/dev/fuse", "--device", "/dev/null:/dev/mynull:r",
        "--oom-kill-disable", "--oom-score-adj", "-500",
        "--log-driver", "local", "--log-opt", "max-size=1m", "--log-opt", "max-file=2",
        "--health-cmd", "true", "--health-interval", "1m30s", "--health-timeout", "5s",
        "--health-retries", "4", "--health-start-period", "1s", "--health-start-interval", "500ms",
        "--detach-keys", "ctrl-x,x", "--network", "none", "--cidfile", str(tmp_path / "cid"),
        "busybox", "echo", "hi",
    )  # fmt: skip
    assert (options.image, options.cmd, options.entrypoint) == ("busybox", ("echo", "hi"), "/bin/sh")
    assert options.env == ("A=file", "FROM_HOST=h", "B=2", "A=flag", "FROM_HOST=h")
    assert dict(options.labels) == {"team": "core", "x": "2", "solo": ""}
    assert (options.workdir, options.user, options.group_add) == ("/work", "app:staff", ("video", "44"))
    assert (options.hostname, options.domainname) == ("web", "example.org")
    assert (options.detach, options.interactive, options.tty, options.auto_remove) == (
        True,
        True,
        True,
        False,
    )
    assert (options.init, options.restart_policy, options.stop_signal, options.stop_timeout) == (
        True,
        RestartPolicy("on-failure", 3),
        "SIGINT",
        16,
    )
    assert (options.read_only, options.privileged, options.cap_add, options.cap_drop) == (
        True,
        True,
        ("net_admin",),
        ("mknod",),
    )
    assert (options.security_opt, options.runtime) == (("no-new-privileges",), "runc")
    assert (options.memory, options.memory_swap, options.memory_reservation) == (64 * MiB, -1, 32 * MiB)
    assert (options.nano_cpus, options.cpu_shares, options.cpu_period, options.cpu_quota) == (
        1_500_000_000,
        512,
        0,
        0,
    )
    assert (options.cpuset_cpus, options.cpuset_mems, options.pids_limit) == ("0-1", "0", -1)
    assert options.ulimits == (Ulimit("nofile", 1024, 2048), Ulimit("nproc", 20, 20))
    assert (options.shm_size, dict(options.sysctls)) == (1024 * MiB, {"net.ipv4.ip_forward": "0"})
    assert options.devices == (
        DeviceMapping("/dev/fuse", "/dev/fuse", "rwm"),
        DeviceMapping("/dev/null", "/dev/mynull", "r"),
    )
    assert (options.oom_kill_disable, options.oom_score_adj) == (True, -500)
    assert (options.log_driver, dict(options.log_opts)) == ("local", {"max-size": "1m", "max-file": "2"})
    assert options.healthcheck == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 90 * SECOND,
        "Timeout": 5 * SECOND,
        "StartPeriod": SECOND,
        "StartInterval": SECOND // 2,
        "Retries": 4,
    }
    assert (options.detach_keys, options.network_mode, options.cidfile) == (
        "ctrl-x,x",
        "none",
        str(tmp_path / "cid"),
    )


def test_stdio_flags_and_an_empty_entrypoint() -> None:
    options = parse("-a", "STDIN", "-a", "stdout", "--no-healthcheck", "--entrypoint", "", "busybox")
    assert options.attach == ("stdin", "stdout") and options.entrypoint == ""
    assert options.healthcheck == {"Test": ["NONE"]}
    assert parse("--rm", "--restart", "no", "busybox").auto_remove


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["-m", "5x"], """invalid argument "5x" for "-m, --memory" flag: invalid suffix: 'x'"""),
        (["--memory-swap", "-2"], """invalid argument "-2" for "--memory-swap" flag: invalid size: '-2'"""),
        (["--shm-size", "big"], """invalid argument "big" for "--shm-size" flag: invalid size: 'big'"""),
        (
            ["--cpus", "x"],
            """invalid argument "x" for "--cpus" flag: failed to parse x as a rational number""",
        ),
        (
            ["-c", "1.5"],
            """invalid argument "1.5" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "1.5": invalid syntax""",
        ),
        (
            ["--pids-limit", "lots"],
            """invalid argument "lots" for "--pids-limit" flag: strconv.ParseInt: parsing "lots": invalid syntax""",
        ),
        (
            ["--oom-score-adj", ""],
            """invalid argument "" for "--oom-score-adj" flag: strconv.ParseInt: parsing "": invalid syntax""",
        ),
        (
            ["--stop-timeout", "10s"],
            """invalid argument "10s" for "--stop-timeout" flag: strconv.ParseInt: parsing "10s": invalid syntax""",
        ),
        (
            ["--health-interval", "5"],
            """invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5\"""",
        ),
        (
            ["--health-retries", "x"],
            """invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": invalid syntax""",
        ),
        (
            ["--ulimit", "nofile"],
            """invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile""",
        ),
        (["--ulimit", "fly=1"], """invalid argument "fly=1" for "--ulimit" flag: invalid ulimit type: fly"""),
        (
            ["--sysctl", "kernel.hostname=x"],
            """invalid argument "kernel.hostname=x" for "--sysctl" flag: sysctl 'kernel.hostname=x' is not allowed""",
        ),
        (["-e", "=x"], """invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x"""),
        (["-l", "=v"], """invalid argument "=v" for "-l, --label" flag: invalid label '=v': empty name"""),
        (
            ["-a", "tty"],
            """invalid argument "tty" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR""",
        ),
    ],
)
def test_bad_flag_values_get_pflags_line(argv: list[str], line: str) -> None:
    assert refused(*argv, "busybox") == f"{line}\nSee 'pinnace run --help'."


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--rm", "--restart", "always"], "Conflicting options: --restart and --rm"),
        (["--rm", "--restart", "on-failure:2"], "Conflicting options: --restart and --rm"),
        (["-d", "-a", "stdout"], "Conflicting options: -a and -d"),
        (["--restart", ":1"], "invalid restart policy format: no policy provided before colon"),
        (
            ["--restart", "on-failure:x"],
            "invalid restart policy format: maximum retry count must be an integer",
        ),
        (["--log-driver", "none", "--log-opt", "max-size=1m"], "invalid logging opts for driver none"),
        (["--no-healthcheck", "--health-retries", "1"], "--no-healthcheck conflicts with --health-* options"),
        (["--health-timeout", "-1s"], "--health-timeout cannot be negative"),
        (["--health-retries", "-1"], "--health-retries cannot be negative"),
        (["--device", "/dev/null:dev"], "dev is not an absolute path"),
        (["--device", "a:b:c:d"], "bad format for path: a:b:c:d"),
        (["--device", "/dev/null:/x:rx"], "bad mode specified: rx"),
        (["--security-opt", "seccomp"], 'Invalid --security-opt: "seccomp"'),
        (
            ["--pull", "sometimes"],
            """invalid pull option: 'sometimes': must be one of "always", "missing" or "never\"""",
        ),
        (["--detach-keys", "ctrl-1"], "Invalid detach keys (ctrl-1) provided"),
        (["--env-file", "/nonexistent/env"], "open /nonexistent/env: no such file or directory"),
        (["--label-file", "/nonexistent/l"], "open /nonexistent/l: no such file or directory"),
        (
            ["--cidfile", "/nonexistent/cid"],
            "failed to create the container ID file: open /nonexistent/cid: no such file or directory",
        ),
    ],
)
def test_refused_values_get_docker_clis_report(argv: list[str], error: str) -> None:
    assert refused(*argv, "busybox") == f"pinnace: {error}.\nSee 'pinnace run --help'."


def test_create_names_itself_and_has_no_run_only_flags(tmp_path: Path) -> None:
    assert refused("--rm", "--restart", "always", "busybox", command="create") == (
        "pinnace: Conflicting options: --restart and --rm.\nSee 'pinnace create --help'."
    )
    assert refused("-m", "1q", "busybox", command="create").endswith("See 'pinnace create --help'.")
    for run_only in ("-d", "--detach-keys=ctrl-a"):
        with pytest.raises(UsageError, match="^unknown (shorthand )?flag"):
            parse(run_only, "busybox", command="create")
    env = tmp_path / "env"
    env.write_text("bad key=1\n")
    assert refused("--env-file", str(env), "busybox", command="create") == (
        f"pinnace: invalid env file ({env}): variable 'bad key' contains whitespaces.\n"
        "See 'pinnace create --help'."
    )


def test_cidfile_is_refused_when_it_exists_and_written_once(tmp_path: Path) -> None:
    cid = tmp_path / "cid"
    parse("--cidfile", str(cid), "busybox")  # checked, not created
    assert not cid.exists()
    cf.write_cidfile(str(cid), "abc123")
    assert cid.read_bytes() == b"abc123"
    assert refused("--cidfile", str(cid), "busybox") == (
        "pinnace: container ID file found, make sure the other container isn't running or delete "
        f"{cid}.\nSee 'pinnace run --help'."
    )
    with pytest.raises(InvalidArgument, match="^container ID file found"):
        cf.write_cidfile(str(cid), "other")
    assert cid.read_bytes() == b"abc123"
    cf.write_cidfile("", "ignored")  # no --cidfile: nothing to do
