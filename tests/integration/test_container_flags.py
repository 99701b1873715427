"""``run``/``create`` flags end to end: stored as ``docker inspect`` shows them, and in effect in the container.

Each test runs real containers through the real ``pinnace`` entry point on
the busybox store of the ``engine`` fixture, and checks what the flag does
where it can be seen: inside the container (/proc/self/limits, /proc/sys,
df, id), in the container's cgroup on the host while it runs, in
``inspect``, and for bad values docker's line and exit code 125 with nothing
created.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Pinnace

pytestmark = pytest.mark.root

CGROUP = Path("/sys/fs/cgroup")
V2 = (CGROUP / "cgroup.controllers").exists()
MiB = 1024 * 1024
SECOND = 1_000_000_000


def inspect(engine: Pinnace, ref: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(engine.run("inspect", ref).stdout)
    return found[0]


def sh(engine: Pinnace, *flags: str, script: str) -> str:
    """Run ``sh -c script`` in a throwaway container with ``flags``; its stdout."""
    return engine.run("run", "--rm", *flags, "busybox", "sh", "-c", script).stdout


def cgroup_file(container_id: str, v1: str, v2: str) -> str:
    """A file of the container's cgroup on the host: ``controller/file`` on cgroup v1, ``file`` on v2."""
    if V2:
        return (CGROUP / "pinnace" / container_id / v2).read_text().strip()
    controller, name = v1.split("/")
    return (CGROUP / controller / "pinnace" / container_id / name).read_text().strip()


def nothing_created(engine: Pinnace) -> bool:
    return engine.run("ps", "-a", "-q").stdout == ""


# --------------------------------------------------------------------------- in the container


def test_ulimit_shm_size_and_oom_score_adj(engine: Pinnace) -> None:
    out = sh(
        engine,
        "--ulimit", "nofile=1024:2048", "--ulimit", "core=-1", "--shm-size", "32m", "--oom-score-adj", "500",
        script="ulimit -Sn; ulimit -Hn; busybox grep -E '^Max (open files|core file size)' /proc/self/limits; "
        "busybox df -k /dev/shm | busybox tail -n 1; cat /proc/self/oom_score_adj",
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[:2] == ["1024", "2048"]
    assert lines[2].split()[-3:] == ["unlimited", "unlimited", "bytes"]
    assert lines[3].split()[-3:] == ["1024", "2048", "files"]
    assert lines[4].split()[1] == str(32 * 1024)  # 1K-blocks of /dev/shm
    assert lines[5] == "500"
    # docker's default /dev/shm is 64 MiB
    assert sh(engine, script="busybox df -k /dev/shm | busybox tail -n 1").split()[1] == str(64 * 1024)


def test_sysctls_of_the_containers_namespaces(engine: Pinnace) -> None:
    out = sh(
        engine,
        "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=123456", "--sysctl", "fs.mqueue.msg_max=20",
        script="cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max",
    )  # fmt: skip
    assert out.split() == ["1", "123456", "20"]
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read().strip() != "123456"  # the host's own is untouched


def test_device_mapping_and_permissions(engine: Pinnace) -> None:
    out = sh(
        engine, "--device", "/dev/null:/dev/mynull",
        script="echo hi > /dev/mynull && echo written; busybox stat -c '%F %t,%T' /dev/mynull",
    )  # fmt: skip
    assert out.splitlines() == ["written", "character special file 1,3"]
    # /dev/loop-control is not among docker's default devices: its cgroup rule is the flag's mode alone.
    # Writing to it is always refused by the driver (EINVAL); with mode r the device cgroup refuses the open.
    script = "echo x > /dev/ctl"
    for mode, error in (
        ("r", "can't create /dev/ctl: Operation not permitted"),
        ("rw", "write error: Invalid argument"),
    ):
        proc = engine.run(
            "run",
            "--rm",
            "--device",
            f"/dev/loop-control:/dev/ctl:{mode}",
            "busybox",
            "sh",
            "-c",
            script,
            check=False,
        )
        assert proc.returncode == 1 and error in proc.stderr
    missing = engine.run("run", "--rm", "--device", "/dev/nonexistent", "busybox", "true", check=False)
    assert missing.returncode != 0
    assert (
        'error gathering device information while adding custom device "/dev/nonexistent": no such file or directory'
        in missing.stderr
    )


def test_user_group_add_workdir_and_env(engine: Pinnace, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("# settings\nFROM_FILE=file value\nOVERRIDE=file\n")
    out = sh(
        engine,
        "-u", "1000:1000", "--group-add", "1234", "--group-add", "root", "-w", "/work",
        "--env-file", str(env_file), "-e", "OVERRIDE=flag",
        script='busybox id -u; busybox id -G; pwd; echo "$FROM_FILE|$OVERRIDE"',
    )  # fmt: skip
    uid, gids, cwd, env = out.splitlines()
    assert uid == "1000"
    assert sorted(gids.split(), key=int) == ["0", "1000", "1234"]
    assert (cwd, env) == ("/work", "file value|flag")


def test_hostname_domainname_entrypoint_and_init(engine: Pinnace) -> None:
    out = engine.run(
        "run", "--rm", "-h", "web", "--domainname", "example.org", "--init", "--entrypoint", "sh",
        "busybox", "-c", "busybox hostname; cat /proc/sys/kernel/domainname; cat /proc/1/cmdline | busybox tr '\\0' ' '",
    ).stdout  # fmt: skip
    hostname, domain, init = out.splitlines()
    assert (hostname, domain) == ("web", "example.org")
    assert init.startswith("/sbin/docker-init -- sh -c ")


def test_read_only_caps_privileged_and_security_opt(engine: Pinnace) -> None:
    assert (
        "Read-only file system"
        in engine.run("run", "--rm", "--read-only", "busybox", "sh", "-c", "echo x > /x", check=False).stderr
    )
    assert sh(engine, "--read-only", script="echo ok > /dev/shm/x && cat /dev/shm/x") == "ok\n"
    caps = sh(
        engine, "--cap-drop", "ALL", "--cap-add", "chown", script="busybox grep CapEff /proc/self/status"
    )
    assert caps.split()[1] == "0000000000000001"  # CAP_CHOWN alone
    assert (
        sh(
            engine, "--security-opt", "no-new-privileges", script="busybox grep NoNewPrivs /proc/self/status"
        ).split()[1]
        == "1"
    )
    privileged = sh(
        engine,
        "--privileged",
        script="busybox grep CapEff /proc/self/status; busybox ls /dev | busybox wc -l",
    )
    effective, devices = privileged.split()[1:]
    default = sh(
        engine, script="busybox grep CapEff /proc/self/status; busybox ls /dev | busybox wc -l"
    ).split()[1:]
    assert int(effective, 16) > int(default[0], 16) and int(devices) > int(default[1])


# --------------------------------------------------------------------------- in the cgroup, on the host


def test_resource_limits_in_the_cgroup_while_it_runs(engine: Pinnace) -> None:
    container_id = engine.run(
        "run", "-d", "-m", "64m", "--memory-reservation", "32m", "--memory-swap", "128m",
        "--cpu-shares", "512", "--cpus", "0.5", "--cpuset-cpus", "0", "--pids-limit", "50",
        "busybox", "busybox", "sleep", "60",
    ).stdout.strip()  # fmt: skip
    if V2:
        assert cgroup_file(container_id, "", "memory.max") == str(64 * MiB)
        assert cgroup_file(container_id, "", "memory.low") == str(32 * MiB)
        assert cgroup_file(container_id, "", "memory.swap.max") == str(64 * MiB)
        assert cgroup_file(container_id, "", "cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)
        assert cgroup_file(container_id, "", "cpu.max") == "50000 100000"
    else:
        assert cgroup_file(container_id, "memory/memory.limit_in_bytes", "") == str(64 * MiB)
        assert cgroup_file(container_id, "memory/memory.soft_limit_in_bytes", "") == str(32 * MiB)
        assert cgroup_file(container_id, "memory/memory.memsw.limit_in_bytes", "") == str(128 * MiB)
        assert cgroup_file(container_id, "cpu/cpu.shares", "") == "512"
        assert cgroup_file(container_id, "cpu/cpu.cfs_quota_us", "") == "50000"
        assert cgroup_file(container_id, "cpu/cpu.cfs_period_us", "") == "100000"
    assert cgroup_file(container_id, "pids/pids.max", "pids.max") == "50"
    assert cgroup_file(container_id, "cpuset/cpuset.cpus", "cpuset.cpus") == "0"
    host = inspect(engine, container_id)["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"], host["MemorySwap"]) == (64 * MiB, 32 * MiB, 128 * MiB)
    assert (host["CpuShares"], host["NanoCpus"], host["CpusetCpus"], host["PidsLimit"]) == (
        512,
        500_000_000,
        "0",
        50,
    )
    engine.run("rm", "-f", container_id)


def test_pids_limit_stops_forks_and_cpu_period_quota(engine: Pinnace) -> None:
    script = "for i in 1 2 3 4 5 6 7 8; do busybox sleep 1 & done; echo all started"
    limited = engine.run("run", "--rm", "--pids-limit", "5", "busybox", "sh", "-c", script, check=False)
    assert "can't fork: Resource temporarily unavailable" in limited.stderr
    assert "all started" not in limited.stdout
    assert sh(engine, "--pids-limit", "-1", script=script) == "all started\n"
    container_id = engine.run(
        "run", "-d", "--cpu-period", "50000", "--cpu-quota", "25000", "--memory-swap", "-1", "-m", "32m",
        "busybox", "busybox", "sleep", "60",
    ).stdout.strip()  # fmt: skip
    if V2:
        assert cgroup_file(container_id, "", "cpu.max") == "25000 50000"
    else:
        assert cgroup_file(container_id, "cpu/cpu.cfs_quota_us", "") == "25000"
        assert cgroup_file(container_id, "cpu/cpu.cfs_period_us", "") == "50000"
    assert inspect(engine, container_id)["HostConfig"]["MemorySwap"] == -1
    engine.run("rm", "-f", container_id)


@pytest.mark.skipif(V2, reason="cgroup v2 has no OOM-killer switch: docker drops the flag with a warning")
def test_oom_kill_disable_on_cgroup_v1(engine: Pinnace) -> None:
    container_id = engine.run(
        "run", "-d", "-m", "32m", "--oom-kill-disable", "busybox", "busybox", "sleep", "60"
    ).stdout.strip()
    control = cgroup_file(container_id, "memory/memory.oom_control", "")
    assert "oom_kill_disable 1" in control
    assert inspect(engine, container_id)["HostConfig"]["OomKillDisable"] is True
    engine.run("rm", "-f", container_id)


# --------------------------------------------------------------------------- stored as docker stores it


def test_labels_health_restart_log_and_stop_settings_in_inspect(engine: Pinnace, tmp_path: Path) -> None:
    label_file = tmp_path / "labels"
    label_file.write_text("team=core\n# comment\nbare\nx=from-file\n")
    container_id = engine.run(
        "create", "--label-file", str(label_file), "-l", "x=flag", "--label", "solo",
        "--health-cmd", "test -e /tmp/ok", "--health-interval", "2s", "--health-timeout", "500ms",
        "--health-retries", "4", "--health-start-period", "1m", "--health-start-interval", "100ms",
        "--restart", "on-failure:3", "--log-driver", "json-file", "--log-opt", "max-size=1m",
        "--log-opt", "max-file=2", "--stop-signal", "SIGINT", "--stop-timeout", "7",
        "--init", "--runtime", "pinnace", "busybox", "true",
    ).stdout.strip()  # fmt: skip
    found = inspect(engine, container_id)
    config, host = found["Config"], found["HostConfig"]
    assert config["Labels"] == {"team": "core", "x": "flag", "solo": ""}
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -e /tmp/ok"],
        "Interval": 2 * SECOND,
        "Timeout": SECOND // 2,
        "StartPeriod": 60 * SECOND,
        "StartInterval": SECOND // 10,
        "Retries": 4,
    }
    assert (config["StopSignal"], config["StopTimeout"]) == ("SIGINT", 7)
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    assert (host["Init"], host["Runtime"], host["AutoRemove"], host["ShmSize"]) == (
        True,
        "pinnace",
        False,
        64 * MiB,
    )
    assert (
        engine.run("ps", "-a", "--filter", "label=team=core", "-q", "--no-trunc").stdout.strip()
        == container_id
    )


def test_defaults_as_docker_create_stores_them(engine: Pinnace) -> None:
    found = inspect(engine, engine.run("create", "busybox", "true").stdout.strip())
    host, config = found["HostConfig"], found["Config"]
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert (host["AutoRemove"], host["ContainerIDFile"], host["PidsLimit"], host["Runtime"]) == (
        False,
        "",
        None,
        "pinnace",
    )
    assert "Init" not in host and "Healthcheck" not in config and "StopTimeout" not in config
    assert (config["AttachStdin"], config["AttachStdout"], config["AttachStderr"]) == (False, True, True)
    assert (config["Tty"], config["OpenStdin"], config["StdinOnce"]) == (False, False, False)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], (False, True, True, False, False, False)),
        (["-i"], (True, True, True, False, True, True)),
        (["-t"], (False, True, True, True, False, False)),
        (["-i", "-t"], (True, True, True, True, True, True)),
        (["-a", "stderr"], (False, False, True, False, False, False)),
        (["-a", "STDIN", "-a", "stdout"], (True, True, False, False, False, False)),
        (["-i", "-a", "stdout"], (True, True, False, False, True, True)),
    ],
)
def test_stdio_flags_in_config(engine: Pinnace, flags: list[str], expected: tuple[bool, ...]) -> None:
    """AttachStdin, AttachStdout, AttachStderr, Tty, OpenStdin, StdinOnce as docker's CLI sets them."""
    config = inspect(engine, engine.run("create", *flags, "busybox", "true").stdout.strip())["Config"]
    keys = ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce")
    assert tuple(config[k] for k in keys) == expected


def test_detached_run_attaches_nothing(engine: Pinnace) -> None:
    container_id = engine.run("run", "-d", "-i", "busybox", "true").stdout.strip()
    config = inspect(engine, container_id)["Config"]
    keys = ("AttachStdin", "AttachStdout", "AttachStderr", "OpenStdin", "StdinOnce")
    assert tuple(config[k] for k in keys) == (False, False, False, True, False)


def test_image_healthcheck_merged_field_by_field(engine: Pinnace, rootfs_tar: Path) -> None:
    engine.run(
        "import", "--change", 'CMD ["sh"]', "--change", 'HEALTHCHECK --interval=30s --retries=5 CMD ["true"]',
        str(rootfs_tar), "checked:latest",
    )  # fmt: skip
    inherited = inspect(engine, engine.run("create", "checked").stdout.strip())["Config"]["Healthcheck"]
    assert inherited == {"Test": ["CMD", "true"], "Interval": 30 * SECOND, "Retries": 5}
    merged = inspect(engine, engine.run("create", "--health-interval", "5s", "checked").stdout.strip())
    assert merged["Config"]["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5 * SECOND, "Retries": 5}
    disabled = inspect(engine, engine.run("create", "--no-healthcheck", "checked").stdout.strip())
    assert disabled["Config"]["Healthcheck"]["Test"] == ["NONE"]


def test_rm_and_restart_policy_stored(engine: Pinnace) -> None:
    container_id = engine.run("create", "--rm", "busybox", "true").stdout.strip()
    assert inspect(engine, container_id)["HostConfig"]["AutoRemove"] is True
    container_id = engine.run("create", "--restart", "unless-stopped", "busybox", "true").stdout.strip()
    assert inspect(engine, container_id)["HostConfig"]["RestartPolicy"] == {
        "Name": "unless-stopped",
        "MaximumRetryCount": 0,
    }


def test_cidfile_gets_the_id_and_is_never_overwritten(engine: Pinnace, tmp_path: Path) -> None:
    cid = tmp_path / "cid"
    container_id = engine.run("create", "--cidfile", str(cid), "busybox", "true").stdout.strip()
    assert cid.read_text() == container_id
    assert inspect(engine, container_id)["HostConfig"]["ContainerIDFile"] == str(cid)
    again = engine.run("run", "--cidfile", str(cid), "busybox", "true", check=False)
    assert again.returncode == 125
    assert again.stderr.startswith(
        f"pinnace: container ID file found, make sure the other container isn't running or delete {cid}."
    )
    assert cid.read_text() == container_id
    assert engine.run("ps", "-a", "-q", "--no-trunc").stdout.split() == [container_id]


def test_network_none(engine: Pinnace) -> None:
    out = sh(engine, "--network", "none", script="busybox ls /sys/class/net")
    assert out.split() == ["lo"]
    container_id = engine.run("create", "--network", "none", "busybox", "true").stdout.strip()
    assert inspect(engine, container_id)["HostConfig"]["NetworkMode"] == "none"


def _netns(where: str) -> str:
    return where.split("->")[-1].strip()


def test_network_host_and_container_modes(engine: Pinnace) -> None:
    out = sh(engine, "--network", "host", script="ls -l /proc/self/ns/net; ls /sys/class/net")
    assert _netns(out.splitlines()[0]) == os.readlink("/proc/self/ns/net")
    assert set(out.split("\n", 1)[1].split()) == set(os.listdir("/sys/class/net"))
    engine.run("run", "-d", "--name", "holder", "busybox", "sh", "-c", "sleep 60")
    theirs = engine.run("exec", "holder", "ls", "-l", "/proc/self/ns/net").stdout
    ours = sh(engine, "--network", "container:holder", script="ls -l /proc/self/ns/net")
    assert _netns(ours) == _netns(theirs) != os.readlink("/proc/self/ns/net")
    holder = engine.run("inspect", "-f", "{{.Id}}", "holder").stdout.strip()
    cid = engine.run("create", "--network", "container:holder", "busybox", "true").stdout.strip()
    assert inspect(engine, cid)["HostConfig"]["NetworkMode"] == f"container:{holder}"
    engine.run("stop", "-t", "0", "holder")
    proc = engine.run("start", "-a", cid, check=False)
    assert proc.returncode != 0 and "cannot join network of a non running container" in proc.stderr


# --------------------------------------------------------------------------- pull policy


def test_pull_policies_with_local_images_only(engine: Pinnace) -> None:
    # Nothing listens on 127.0.0.1:9: a pull there fails at once, and nothing leaves the machine.
    assert engine.run("run", "--rm", "--pull", "never", "busybox", "true").returncode == 0
    assert engine.run("run", "--rm", "--pull", "missing", "busybox", "true").returncode == 0
    never = engine.run("create", "--pull", "never", "nosuch", check=False)
    assert never.returncode != 0 and "No such image: nosuch:latest" in never.stderr
    missing = engine.run("run", "--rm", "127.0.0.1:9/nosuch", check=False)
    assert missing.returncode == 125
    assert "Unable to find image '127.0.0.1:9/nosuch:latest' locally\n" in missing.stderr
    assert "connection refused" in missing.stderr.lower()
    quiet = engine.run("run", "--rm", "-q", "127.0.0.1:9/nosuch", check=False)
    assert quiet.returncode == 125 and "Unable to find image" not in quiet.stderr
    engine.run("tag", "busybox", "127.0.0.1:9/busybox")
    always = engine.run("run", "--rm", "--pull", "always", "127.0.0.1:9/busybox", "true", check=False)
    assert always.returncode == 125 and "connection refused" in always.stderr.lower()
    assert nothing_created(engine)


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["-m", "5x"], """invalid argument "5x" for "-m, --memory" flag: invalid suffix: 'x'"""),
        (["--cpus", "two"], """invalid argument "two" for "--cpus" flag: failed to parse two as a rational number"""),
        (["--ulimit", "nofile=2:1"], """invalid argument "nofile=2:1" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 2 > 1"""),
        (["--sysctl", "kernel.hostname=x"], """invalid argument "kernel.hostname=x" for "--sysctl" flag: sysctl 'kernel.hostname=x' is not allowed"""),
        (["--health-interval", "5"], """invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5\""""),
        (["--pids-limit", "many"], """invalid argument "many" for "--pids-limit" flag: strconv.ParseInt: parsing "many": invalid syntax"""),
        (["-a", "tty"], """invalid argument "tty" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR"""),
        (["--rm", "--restart", "always"], "pinnace: Conflicting options: --restart and --rm."),
        (["--restart", "on-failure:x"], "pinnace: invalid restart policy format: maximum retry count must be an integer."),
        (["--no-healthcheck", "--health-cmd", "true"], "pinnace: --no-healthcheck conflicts with --health-* options."),
        (["--log-driver", "none", "--log-opt", "max-size=1m"], "pinnace: invalid logging opts for driver none."),
        (["--device", "/dev/null:relative"], "pinnace: relative is not an absolute path."),
        (["--pull", "sometimes"], """pinnace: invalid pull option: 'sometimes': must be one of "always", "missing" or "never"."""),
        (["--detach-keys", "ctrl-1"], "pinnace: Invalid detach keys (ctrl-1) provided."),
        (["-d", "-a", "stdout"], "pinnace: Conflicting options: -a and -d."),
    ],
)  # fmt: skip
def test_bad_values_refused_before_anything_exists(engine: Pinnace, flags: list[str], line: str) -> None:
    proc = engine.run("run", *flags, "busybox", "true", check=False)
    assert (proc.returncode, proc.stdout) == (125, "")
    assert proc.stderr == f"{line}\nSee 'pinnace run --help'.\n"
    assert nothing_created(engine)


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (["--restart", "sometimes"], "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
        (["--restart", "always:3"], "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        (["--log-driver", "syslog"], "logger: no log driver named 'syslog' is registered"),
        (["--log-opt", "max-file=0"], "max-file cannot be less than 1"),
        (["--log-opt", "color=red"], "unknown log opt 'color' for json-file log driver"),
        (["--log-driver", "local", "--log-opt", "max-file=1"], "compression cannot be enabled when max file count is 1"),
        (["--runtime", "kata"], "unknown or invalid runtime name: kata"),
        (["--health-interval", "100us"], "Interval in Healthcheck cannot be less than 1ms"),
        (["--oom-score-adj", "1001"], "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        (["-m", "1m"], "Minimum memory limit allowed is 6MB"),
        (["--stop-signal", "SIGFOO"], "Invalid signal: SIGFOO"),
    ],
)  # fmt: skip
def test_values_the_engine_refuses(engine: Pinnace, flags: list[str], error: str) -> None:
    """dockerd's checks at create: docker run prints them as the daemon's error and exits 125."""
    proc = engine.run("run", *flags, "busybox", "true", check=False)
    assert proc.returncode == 125
    assert error in proc.stderr
    created = engine.run("create", *flags, "busybox", "true", check=False)
    assert created.returncode != 0 and error in created.stderr
    assert nothing_created(engine)


def test_pids_limit_of_one_runs_the_init_and_refuses_a_fork(engine: Pinnace) -> None:
    """docker (runc) runs a container with --pids-limit 1; only a fork inside it fails."""
    assert engine.run("run", "--rm", "--pids-limit", "1", "busybox", "echo", "alone").stdout == "alone\n"
    proc = engine.run(
        "run", "--rm", "--pids-limit", "1", "busybox", "sh", "-c", "echo a; (echo b); echo c", check=False
    )
    assert proc.stdout == "a\n"
    assert "can't fork" in proc.stderr
    assert proc.returncode != 0
