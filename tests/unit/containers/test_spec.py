"""docker run's flags -> the container Config and its runtime spec, case by case against docker's rules."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pinnace.containers import options as opts
from pinnace.containers import spec as cspec
from pinnace.containers.options import DeviceMapping, RunOptions, Ulimit
from pinnace.errors import FailedPrecondition, InvalidArgument, NotFound
from pinnace.runtime import defaults
from pinnace.runtime.defaults import DEFAULT_PATH_ENV, DOCKER_CAPS
from pinnace.runtime.linux.capabilities import NAMES as CAPABILITY_NAMES
from pinnace.runtime.spec import validate_spec

CID = "0123456789ab" + "c" * 52
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def all_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine holds every capability, whoever runs the tests."""
    monkeypatch.setattr(defaults, "current_capabilities", lambda status="": list(CAPABILITY_NAMES))


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "# a comment\n"
        "\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
        "app:x:1000:1000:App:/home/app:/bin/sh\n"
    )
    (root / "etc" / "group").write_text(
        "root:x:0:\nbin:x:1:root,app\nwheel:x:10:root\napp:x:1000:\ndocker:x:999:app\nvideo:x:44:\n"
    )
    return root


def config(image_config: dict[str, Any] | None = None, **flags: Any) -> dict[str, Any]:
    return cspec.container_config(image_config or {"Cmd": ["sh"]}, RunOptions(**flags), container_id=CID)


def build(rootfs: Path, image_config: dict[str, Any] | None = None, **flags: Any) -> dict[str, Any]:
    options = RunOptions(**flags)
    cfg = cspec.container_config(image_config or {"Cmd": ["sh"]}, options, container_id=CID)
    return cspec.build_spec(cfg, options, container_id=CID, rootfs=str(rootfs))


def error(exc: pytest.ExceptionInfo[BaseException]) -> str:
    return str(exc.value)


# --------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * MiB),
        ("1g", 1024 * MiB),
        ("1.5GiB", 1536 * MiB),
        ("64 MB", 64 * MiB),
        ("1024", 1024),
        ("10b", 10),
        ("2K", 2048),
        ("5 ", 5),
    ],
)
def test_parse_memory(text: str, size: int) -> None:
    assert opts.parse_memory(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5x", "invalid suffix: 'x'"),
        ("5mi", "invalid suffix: 'mi'"),
        ("5kbb", "invalid suffix: 'kbb'"),
        ("5bb", "invalid suffix: 'bb'"),
        ("x", "invalid size: 'x'"),
        ("", "invalid size: ''"),
        ("-5m", "invalid size: '-5m'"),
        ("1.2.3m", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
        (" 5", 'strconv.ParseFloat: parsing " 5": invalid syntax'),
    ],
)
def test_parse_memory_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        opts.parse_memory(text)
    assert error(exc) == message


def test_parse_memory_swap_takes_minus_one_for_unlimited() -> None:
    assert opts.parse_memory_swap("-1") == -1
    assert opts.parse_memory_swap("1g") == 1024 * MiB
    with pytest.raises(InvalidArgument, match="invalid size: '-2'"):
        opts.parse_memory_swap("-2")


@pytest.mark.parametrize(
    ("text", "nanos"),
    [("1.5", 1_500_000_000), ("0.01", 10_000_000), ("3/2", 1_500_000_000), ("2", 2 * 10**9)],
)
def test_parse_cpus(text: str, nanos: int) -> None:
    assert opts.parse_cpus(text) == nanos


def test_parse_cpus_errors_and_the_flag_line() -> None:
    with pytest.raises(InvalidArgument) as exc:
        opts.parse_cpus("x")
    assert error(exc) == "failed to parse x as a rational number"
    assert str(opts.flag_error("--cpus", "x", exc.value)) == (
        'invalid argument "x" for "--cpus" flag: failed to parse x as a rational number'
    )
    with pytest.raises(InvalidArgument, match="^value is too precise$"):
        opts.parse_cpus("0.0000000001")
    with pytest.raises(InvalidArgument, match="rational number"):
        opts.parse_cpus("1/0")


def test_flag_error_for_a_size() -> None:
    with pytest.raises(InvalidArgument) as exc:
        opts.parse_memory("5x")
    assert str(opts.flag_error("-m, --memory", "5x", exc.value)) == (
        'invalid argument "5x" for "-m, --memory" flag: invalid suffix: \'x\''
    )


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("nofile=1024:2048", Ulimit("nofile", 1024, 2048)),
        ("nproc=512", Ulimit("nproc", 512, 512)),
        ("core=-1", Ulimit("core", -1, -1)),
        ("memlock=infinity", Ulimit("memlock", -1, -1)),
        ("stack=8192:-1", Ulimit("stack", 8192, -1)),
    ],
)
def test_parse_ulimit(text: str, limit: Ulimit) -> None:
    assert opts.parse_ulimit(text) == limit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nofile", "invalid ulimit argument: nofile"),
        ("as=1", "invalid ulimit type: as"),
        ("nofile=1:2:3", "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"),
        ("nofile=2048:1024", "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024"),
        (
            "nofile=-1:10",
            "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 10",
        ),
        ("nofile=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ],
)
def test_parse_ulimit_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        opts.parse_ulimit(text)
    assert error(exc) == message


@pytest.mark.parametrize(
    ("text", "mapping"),
    [
        ("/dev/fuse", DeviceMapping("/dev/fuse", "/dev/fuse", "rwm")),
        ("/dev/fuse:/dev/fuse:rwm", DeviceMapping("/dev/fuse", "/dev/fuse", "rwm")),
        ("/dev/sda:/dev/xvdc", DeviceMapping("/dev/sda", "/dev/xvdc", "rwm")),
        ("/dev/sda:rw", DeviceMapping("/dev/sda", "/dev/sda", "rw")),
        ("/dev/sda:/dev/xvdc:r", DeviceMapping("/dev/sda", "/dev/xvdc", "r")),
        ("/dev//snd/", DeviceMapping("/dev/snd", "/dev/snd", "rwm")),
    ],
)
def test_parse_device(text: str, mapping: DeviceMapping) -> None:
    assert opts.parse_device(text) == mapping


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/dev/sda:/dev/xvdc:rwx", "bad mode specified: rwx"),
        ("/dev/sda:/dev/xvdc:rr", "bad mode specified: rr"),
        ("/a:/b:r:w", "bad format for path: /a:/b:r:w"),
        (":/dev/x", "bad format for path: :/dev/x"),
        ("/dev/sda:xvdc", "xvdc is not an absolute path"),
        ("sda", "sda is not an absolute path"),
    ],
)
def test_parse_device_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        opts.parse_device(text)
    assert error(exc) == message


def test_parse_env_file_follows_dockers_rules() -> None:
    text = (
        "\ufeff# comment\n"
        "\n"
        "   INDENTED=yes\n"
        'QUOTED="kept as is"  \n'
        "EMPTY=\n"
        "FROM_CALLER\n"
        "NOT_SET_ANYWHERE\n"
        "EQ=a=b\r\n"
        "\t# indented comment\n"
    )
    assert opts.parse_env_file(text, {"FROM_CALLER": "v"}) == [
        "INDENTED=yes",
        'QUOTED="kept as is"  ',
        "EMPTY=",
        "FROM_CALLER=v",
        "EQ=a=b",
    ]
    # label files: no lookup, a bare key is left out
    assert opts.parse_env_file(b"a=1\nb\n", None) == ["a=1"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"=x\n", "no variable name on line '=x'"),
        (b"A B=1\n", "variable 'A B' contains whitespaces"),
        (b"A\tB\n", "variable 'A\tB' contains whitespaces"),
        (b"A=1\nB=\xff\n", "invalid utf8 bytes at line 2: [66, 61, 255]"),
    ],
)
def test_parse_env_file_errors(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        opts.parse_env_file(data, {})
    assert error(exc) == message
    with pytest.raises(InvalidArgument) as exc:
        opts.parse_env_file(data, {}, name="app.env")
    assert error(exc) == f"invalid env file (app.env): {message}"


def test_parse_env() -> None:
    assert opts.parse_env("A=1", {}) == "A=1"
    assert opts.parse_env("A=", {}) == "A="
    assert opts.parse_env("A", {"A": "x"}) == "A=x"
    assert opts.parse_env("A", {}) == "A"  # stays bare: unsets A in the container
    with pytest.raises(InvalidArgument, match="^invalid environment variable: =x$"):
        opts.parse_env("=x", {})


def test_parse_user_label_sysctl_attach() -> None:
    assert opts.parse_user("1000:1000") == ("1000", "1000")
    assert opts.parse_user("app") == ("app", "")
    assert opts.parse_user("a:b:c") == ("a", "b")
    assert opts.parse_label("a=b=c") == ("a", "b=c")
    assert opts.parse_label("flag") == ("flag", "")
    with pytest.raises(InvalidArgument, match="^invalid label '=v': empty name$"):
        opts.parse_label("=v")
    with pytest.raises(InvalidArgument, match="^label 'a b' contains whitespaces$"):
        opts.parse_label("a b=c")
    assert opts.parse_sysctl("net.ipv4.ip_forward=1") == ("net.ipv4.ip_forward", "1")
    assert opts.parse_sysctl("kernel.shmmax=100") == ("kernel.shmmax", "100")
    assert opts.parse_sysctl("fs.mqueue.msg_max=20") == ("fs.mqueue.msg_max", "20")
    for bad in ("kernel.hostname=x", "net.ipv4.ip_forward", "=1"):
        with pytest.raises(InvalidArgument, match=f"^sysctl '{bad}' is not allowed$"):
            opts.parse_sysctl(bad)
    assert opts.parse_attach("STDIN") == "stdin"
    with pytest.raises(InvalidArgument, match="^valid streams are STDIN, STDOUT and STDERR$"):
        opts.parse_attach("tty")
    assert opts.kv_map(["a=1", "b", "a=2"]) == {"a": "2", "b": ""}


def test_parse_security_opt(tmp_path: Path) -> None:
    assert opts.parse_security_opt("no-new-privileges") == "no-new-privileges"
    assert opts.parse_security_opt("seccomp=unconfined") == "seccomp=unconfined"
    assert opts.parse_security_opt("label:disable") == "label:disable"
    profile = tmp_path / "profile.json"
    profile.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n')
    assert opts.parse_security_opt(f"seccomp={profile}") == (
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}'
    )
    with pytest.raises(InvalidArgument) as exc:
        opts.parse_security_opt(f"seccomp={tmp_path}/missing.json")
    assert error(exc) == (
        f"opening seccomp profile ({tmp_path}/missing.json) failed: "
        f"open {tmp_path}/missing.json: no such file or directory"
    )
    profile.write_text("{nope")
    with pytest.raises(InvalidArgument, match=r"^compacting json for seccomp profile \(.*\) failed: "):
        opts.parse_security_opt(f"seccomp={profile}")
    for bad in ("foo", "seccomp=", "apparmor:"):
        with pytest.raises(InvalidArgument) as exc:
            opts.parse_security_opt(bad)
        assert error(exc) == f'Invalid --security-opt: "{bad}"'


def test_normalize_caps_as_the_cli_sends_them() -> None:
    assert opts.normalize_caps(["net_admin", "CAP_SYS_ADMIN", " chown "], ["Chown", "mknod"]) == (
        ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"],
        ["CAP_MKNOD"],
    )
    assert opts.normalize_caps(["all", "chown"], ["ALL"]) == (["ALL"], [])
    assert opts.normalize_caps([], ["all", "kill"]) == ([], ["ALL"])


def test_host_config_round_trip() -> None:
    options = RunOptions(
        privileged=True,
        cap_add=("net_admin",),
        security_opt=("no-new-privileges", "systempaths=unconfined"),
        memory=512 * MiB,
        nano_cpus=1_500_000_000,
        pids_limit=100,
        ulimits=(Ulimit("nofile", 1024, 2048),),
        devices=(DeviceMapping("/dev/fuse", "/dev/fuse", "rwm"),),
        sysctls={"net.ipv4.ip_forward": "1"},
        init=True,
        group_add=("video",),
    )
    hc = opts.host_config(options)
    assert hc["CapAdd"] == ["CAP_NET_ADMIN"]
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["MaskedPaths"] == [] and hc["ReadonlyPaths"] == []
    assert hc["NanoCpus"] == 1_500_000_000 and hc["Memory"] == 512 * MiB and hc["PidsLimit"] == 100
    assert hc["Ulimits"] == [{"Name": "nofile", "Hard": 2048, "Soft": 1024}]
    assert hc["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}
    ]
    back = opts.from_host_config(json.loads(json.dumps(hc)))
    assert back.security_opt == ("no-new-privileges", "systempaths=unconfined")
    assert back.cap_add == ("CAP_NET_ADMIN",)
    assert (back.memory, back.nano_cpus, back.pids_limit, back.init, back.privileged) == (
        512 * MiB,
        1_500_000_000,
        100,
        True,
        True,
    )
    assert back.ulimits == options.ulimits and back.devices == options.devices
    assert dict(back.sysctls) == {"net.ipv4.ip_forward": "1"} and back.group_add == ("video",)
    assert opts.from_host_config(opts.host_config(RunOptions())) == RunOptions()


# --------------------------------------------------------------------------- the Config merge

SH = ["/bin/sh", "-c"]


# Dockerfile reference, "Understand how CMD and ENTRYPOINT interact": a shell form is stored as
# ["/bin/sh", "-c", "..."], and the process runs Entrypoint + Cmd (sh -c ignores what follows its string).
@pytest.mark.parametrize(
    ("entrypoint", "cmd", "args"),
    [
        (None, ["exec_cmd", "p1_cmd"], ["exec_cmd", "p1_cmd"]),
        (None, [*SH, "exec_cmd p1_cmd"], [*SH, "exec_cmd p1_cmd"]),
        ([*SH, "exec_entry p1_entry"], None, [*SH, "exec_entry p1_entry"]),
        (
            [*SH, "exec_entry p1_entry"],
            ["exec_cmd", "p1_cmd"],
            [*SH, "exec_entry p1_entry", "exec_cmd", "p1_cmd"],
        ),
        (["exec_entry", "p1_entry"], None, ["exec_entry", "p1_entry"]),
        (
            ["exec_entry", "p1_entry"],
            ["exec_cmd", "p1_cmd"],
            ["exec_entry", "p1_entry", "exec_cmd", "p1_cmd"],
        ),
        (
            ["exec_entry", "p1_entry"],
            [*SH, "exec_cmd p1_cmd"],
            ["exec_entry", "p1_entry", *SH, "exec_cmd p1_cmd"],
        ),
    ],
)
def test_cmd_and_entrypoint_table(
    entrypoint: list[str] | None, cmd: list[str] | None, args: list[str]
) -> None:
    cfg = config({"Entrypoint": entrypoint, "Cmd": cmd})
    assert cfg["Entrypoint"] == entrypoint and cfg["Cmd"] == cmd
    assert cspec.command(cfg) == args


def test_no_cmd_and_no_entrypoint_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="^no command specified$"):
        config({"Env": ["A=1"]})
    with pytest.raises(InvalidArgument, match="^no command specified$"):
        cspec.command({"Cmd": None, "Entrypoint": []})


IMAGE = {"Entrypoint": ["/entry"], "Cmd": ["default", "args"]}


def test_run_arguments_replace_the_image_cmd() -> None:
    cfg = config(IMAGE, cmd=("x", "y"))
    assert (cfg["Entrypoint"], cfg["Cmd"]) == (["/entry"], ["x", "y"])


def test_entrypoint_flag_drops_the_image_cmd() -> None:
    cfg = config(IMAGE, entrypoint="/other")
    assert (cfg["Entrypoint"], cfg["Cmd"]) == (["/other"], None)
    cfg = config(IMAGE, entrypoint="/other", cmd=("a",))
    assert cspec.command(cfg) == ["/other", "a"]


def test_empty_entrypoint_flag_clears_both() -> None:
    with pytest.raises(InvalidArgument, match="^no command specified$"):
        config(IMAGE, entrypoint="")
    cfg = config(IMAGE, entrypoint="", cmd=("echo", "hi"))
    assert (cfg["Entrypoint"], cfg["Cmd"]) == (None, ["echo", "hi"])


def test_env_user_first_overrides_by_key() -> None:
    image = {"Cmd": ["sh"], "Env": ["PATH=/img/bin", "A=image", "B=image"]}
    cfg = config(image, env=("A=flag", "C=flag"))
    assert cfg["Env"] == ["A=flag", "C=flag", "PATH=/img/bin", "B=image"]
    assert config(image)["Env"] == image["Env"]
    assert config({"Cmd": ["sh"]})["Env"] is None
    # a bare KEY (an -e whose variable the caller has not set) hides the image's KEY
    assert config(image, env=("B",))["Env"] == ["B", "PATH=/img/bin", "A=image"]


def test_config_fields_fall_back_to_the_image() -> None:
    image = {
        "Cmd": ["sh"],
        "User": "app",
        "WorkingDir": "/srv",
        "Labels": {"a": "image", "b": "image"},
        "StopSignal": "SIGQUIT",
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Retries": 3},
    }
    cfg = config(image, image="web")
    assert (cfg["User"], cfg["WorkingDir"], cfg["StopSignal"], cfg["Image"]) == (
        "app",
        "/srv",
        "SIGQUIT",
        "web",
    )
    assert cfg["ExposedPorts"] == {"80/tcp": {}} and cfg["Volumes"] == {"/data": {}}
    assert cfg["Healthcheck"] == image["Healthcheck"]
    cfg = config(
        image,
        user="1000:1000",
        workdir="/app//sub/",
        labels={"a": "flag"},
        stop_signal="SIGINT",
        stop_timeout=3,
        healthcheck={"Test": [], "Interval": 1_000_000_000},
    )
    assert (cfg["User"], cfg["WorkingDir"], cfg["StopSignal"], cfg["StopTimeout"]) == (
        "1000:1000",
        "/app/sub",
        "SIGINT",
        3,
    )
    assert cfg["Labels"] == {"a": "flag", "b": "image"}
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 1_000_000_000, "Retries": 3}


def test_stop_signal_defaults_to_sigterm_and_is_checked() -> None:
    cfg = config()
    assert "StopSignal" not in cfg and cspec.stop_signal(cfg) == 15
    assert cspec.stop_signal(config(stop_signal="SIGUSR1")) == 10
    with pytest.raises(InvalidArgument, match="^Invalid signal: SIGFOO$"):
        config(stop_signal="SIGFOO")


def test_workdir_must_be_absolute() -> None:
    with pytest.raises(InvalidArgument) as exc:
        config(workdir="app")
    assert error(exc) == "the working directory 'app' is invalid, it needs to be an absolute path"


def test_hostname_stdio_and_labels() -> None:
    cfg = config()
    assert cfg["Hostname"] == CID[:12] and cfg["Domainname"] == "" and cfg["Labels"] == {}
    assert (
        cfg["AttachStdin"],
        cfg["AttachStdout"],
        cfg["AttachStderr"],
        cfg["OpenStdin"],
        cfg["StdinOnce"],
    ) == (
        False,
        True,
        True,
        False,
        False,
    )
    cfg = config(hostname="web", domainname="example.org", interactive=True, tty=True)
    assert (cfg["Hostname"], cfg["Domainname"], cfg["Tty"]) == ("web", "example.org", True)
    assert (cfg["AttachStdin"], cfg["OpenStdin"], cfg["StdinOnce"]) == (True, True, True)
    cfg = config(interactive=True, detach=True)
    assert (cfg["AttachStdin"], cfg["AttachStdout"], cfg["AttachStderr"], cfg["StdinOnce"]) == (
        False,
        False,
        False,
        False,
    )
    cfg = config(attach=("stderr",))
    assert (cfg["AttachStdin"], cfg["AttachStdout"], cfg["AttachStderr"]) == (False, False, True)
    with pytest.raises(InvalidArgument, match="^Conflicting options: -a and -d$"):
        config(attach=("stdout",), detach=True)


# --------------------------------------------------------------------------- the daemon's checks


def verify(**flags: Any) -> tuple[RunOptions, list[str]]:
    return cspec.verify_options(RunOptions(**flags), ncpu=4, cgroup_v2=False, swap_limit=True)


def test_verify_memory() -> None:
    checked, warnings = verify(memory=512 * MiB)
    assert checked.memory_swap == 1024 * MiB and warnings == []
    assert verify(memory=512 * MiB, memory_swap=-1)[0].memory_swap == -1
    cases = [
        ({"memory": 4 * MiB}, "Minimum memory limit allowed is 6MB"),
        (
            {"memory": 512 * MiB, "memory_swap": 256 * MiB},
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            {"memory_swap": 256 * MiB},
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        ({"memory_reservation": MiB}, "Minimum memory reservation allowed is 6MB"),
        (
            {"memory": 64 * MiB, "memory_reservation": 128 * MiB},
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
        ({"shm_size": -1}, "SHM size can not be less than 0"),
        ({"oom_score_adj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
    ]
    for flags, message in cases:
        with pytest.raises(InvalidArgument) as exc:
            verify(**flags)
        assert error(exc) == message


def test_verify_without_swap_accounting_or_on_cgroup_v2() -> None:
    checked, warnings = cspec.verify_options(
        RunOptions(memory=512 * MiB), ncpu=4, cgroup_v2=False, swap_limit=False
    )
    assert checked.memory_swap == -1
    assert warnings == [
        "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
    ]
    checked, warnings = cspec.verify_options(
        RunOptions(memory=512 * MiB, oom_kill_disable=True), ncpu=4, cgroup_v2=True, swap_limit=True
    )
    assert checked.oom_kill_disable is False
    assert warnings == ["Your kernel does not support OomKillDisable. OomKillDisable discarded."]
    _, warnings = verify(oom_kill_disable=True)
    assert warnings == [
        "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources."
    ]


def test_verify_cpus() -> None:
    assert verify(nano_cpus=4_000_000_000)[1] == []
    cases = [
        (
            {"nano_cpus": 4_500_000_000},
            "range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available",
        ),
        (
            {"nano_cpus": 10**9, "cpu_period": 50_000},
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            {"nano_cpus": 10**9, "cpu_quota": 50_000},
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (
            {"cpu_period": 999},
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        ({"cpu_quota": 999}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ({"cpuset_cpus": "0-x"}, "Invalid value 0-x for cpuset cpus: invalid format: 0-x"),
        ({"cpuset_mems": "3-1"}, "Invalid value 3-1 for cpuset mems: invalid format: 3-1"),
    ]
    for flags, message in cases:
        with pytest.raises(InvalidArgument) as exc:
            verify(**flags)
        assert error(exc) == message


def test_verify_security_options() -> None:
    for bad, message in (
        ("nonsense", 'invalid --security-opt 1: "nonsense"'),
        ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
        ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
    ):
        with pytest.raises(InvalidArgument) as exc:
            verify(security_opt=(bad,))
        assert error(exc) == message
    with pytest.raises(InvalidArgument, match='^invalid CapAdd: unknown capability: "CAP_FLY"$'):
        verify(cap_add=("fly",), privileged=True)
    with pytest.raises(InvalidArgument, match='^invalid CapDrop: unknown capability: "CAP_FLY"$'):
        verify(cap_drop=("fly",))
    parsed = cspec.security_options(
        ["label=disable", "apparmor=unconfined", "no-new-privileges:true", "seccomp=unconfined"]
    )
    assert parsed.no_new_privileges and parsed.seccomp == "unconfined"
    assert parsed.ignored == ("label=disable", "apparmor=unconfined")
    assert cspec.security_options(["no-new-privileges", "no-new-privileges=false"]).no_new_privileges is False


def test_verify_fills_in_the_engine_defaults() -> None:
    checked, warnings = verify()
    assert warnings == []
    assert (checked.shm_size, checked.log_driver, checked.runtime) == (64 * MiB, "json-file", "pinnace")
    assert verify(shm_size=MiB)[0].shm_size == MiB
    assert verify(log_driver="none", runtime="pinnace")[0].log_driver == "none"
    for unlimited in (0, -1, -5):
        assert verify(pids_limit=unlimited)[0].pids_limit is None
    assert verify(pids_limit=20)[0].pids_limit == 20


def test_verify_restart_log_runtime_and_health(tmp_path: Path) -> None:
    from pinnace.containers.options import RestartPolicy

    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"auto_remove": True, "restart_policy": RestartPolicy("always")},
            "can't create 'AutoRemove' container with restart policy",
        ),
        (
            {"restart_policy": RestartPolicy("always", 2)},
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
        ({"log_driver": "gelf"}, "logger: no log driver named 'gelf' is registered"),
        ({"log_opts": {"max-file": "0"}}, "max-file cannot be less than 1"),
        ({"runtime": "kata"}, "unknown or invalid runtime name: kata"),
        ({"runtime": str(tmp_path / "missing")}, f"unknown or invalid runtime name: {tmp_path}/missing"),
        ({"healthcheck": {"Interval": 999_999}}, "Interval in Healthcheck cannot be less than 1ms"),
        ({"healthcheck": {"Timeout": -1}}, "Timeout in Healthcheck cannot be less than 1ms"),
        ({"healthcheck": {"StartPeriod": 5}}, "StartPeriod in Healthcheck cannot be less than 1ms"),
        ({"healthcheck": {"StartInterval": 5}}, "StartInterval in Healthcheck cannot be less than 1ms"),
        ({"healthcheck": {"Retries": -1}}, "Retries in Healthcheck cannot be negative"),
    ]
    for flags, message in cases:
        with pytest.raises(InvalidArgument) as exc:
            verify(**flags)
        assert error(exc) == message
    ok = verify(
        auto_remove=True,
        restart_policy=RestartPolicy("no"),
        healthcheck={"Test": ["NONE"], "Interval": 1_000_000},
    )[0]
    assert ok.auto_remove and ok.restart_policy == RestartPolicy("no")


def test_verify_runtime_names_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runc = tmp_path / "runc"
    runc.write_text("#!/bin/sh\n")
    runc.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert verify(runtime="runc")[0].runtime == "runc"  # stored as named, as docker stores it
    assert verify(runtime=str(runc))[0].runtime == str(runc)
    for bad in ("crun", "kata", "./runc", str(tmp_path)):
        with pytest.raises(InvalidArgument) as exc:
            verify(runtime=bad)
        assert error(exc) == f"unknown or invalid runtime name: {bad}"


def test_user_healthcheck_merges_with_the_image_field_by_field() -> None:
    image = {
        "Cmd": ["sh"],
        "Healthcheck": {"Test": ["CMD", "check"], "Interval": 30 * 10**9, "Retries": 3},
    }
    assert config(image)["Healthcheck"] == image["Healthcheck"]
    merged = config(image, healthcheck={"Interval": 10**9})["Healthcheck"]
    assert merged == {"Test": ["CMD", "check"], "Interval": 10**9, "Retries": 3}
    assert config(image, healthcheck={"Test": ["NONE"]})["Healthcheck"]["Test"] == ["NONE"]
    assert "Healthcheck" not in config({"Cmd": ["sh"]})


# --------------------------------------------------------------------------- the runtime spec


def test_plain_run(rootfs: Path) -> None:
    spec = build(rootfs, {"Cmd": ["echo", "hi"]})
    assert validate_spec(spec) is spec
    process = spec["process"]
    assert process["args"] == ["echo", "hi"] and process["cwd"] == "/" and process["terminal"] is False
    assert process["env"] == [DEFAULT_PATH_ENV, f"HOSTNAME={CID[:12]}"]  # PATH default: the image has none
    assert process["user"] == {"uid": 0, "gid": 0, "additionalGids": [0, 1, 10]}
    assert process["capabilities"]["bounding"] == list(DOCKER_CAPS)
    assert spec["hostname"] == CID[:12] and spec["root"] == {"path": str(rootfs), "readonly": False}
    assert "seccomp" in spec["linux"] and "noNewPrivileges" not in process
    assert spec["linux"]["cgroupsPath"] == f"/pinnace/{CID}"
    assert {"memory", "cpu", "pids"}.isdisjoint(spec["linux"]["resources"])
    assert "rlimits" not in process and process["oomScoreAdj"] == 0


def test_env_workdir_tty_in_the_spec(rootfs: Path) -> None:
    spec = build(
        rootfs,
        {"Cmd": ["sh"], "Env": ["PATH=/opt/bin", "A=1"]},
        env=("A=2", "HOSTNAME=mine"),
        workdir="/srv",
        tty=True,
    )
    process = spec["process"]
    assert process["env"] == ["PATH=/opt/bin", "HOSTNAME=mine", "TERM=xterm", "A=2"]
    assert process["cwd"] == "/srv" and process["terminal"] is True


def test_user_by_name_takes_passwd_and_groups(rootfs: Path) -> None:
    spec = build(rootfs, {"Cmd": ["sh"], "User": "app"})
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 1, 999]}
    assert "effective" not in spec["process"]["capabilities"]  # non-root: bounding set only


@pytest.mark.parametrize(
    ("user", "group_add", "expected"),
    [
        ("1000", (), (1000, 1000, [1000, 1, 999])),  # numeric with a passwd entry: its groups
        ("4242", (), (4242, 0, [0])),  # numeric without an entry
        ("4242:4343", (), (4242, 4343, [4343])),
        ("app:video", (), (1000, 44, [44])),  # an explicit group: no supplementary groups
        ("daemon", ("video", "wheel", "5555", "44"), (1, 1, [1, 44, 10, 5555])),
        ("", (), (0, 0, [0, 1, 10])),
    ],
)
def test_resolve_user(
    rootfs: Path, user: str, group_add: tuple[str, ...], expected: tuple[int, int, list[int]]
) -> None:
    assert cspec.resolve_user(user, str(rootfs), group_add) == expected


def test_resolve_user_errors(rootfs: Path) -> None:
    cases = [
        ("nobody", (), NotFound, "unable to find user nobody: no matching entries in passwd file"),
        ("app:staff", (), NotFound, "unable to find group staff: no matching entries in group file"),
        ("app", ("staff",), NotFound, "Unable to find group staff: no matching entries in group file"),
        ("3000000000", (), InvalidArgument, "uids and gids must be in range 0-2147483647"),
    ]
    for user, group_add, kind, message in cases:
        with pytest.raises(kind) as exc:
            cspec.resolve_user(user, str(rootfs), group_add)
        assert error(exc) == message


def test_resolve_user_without_passwd_file(tmp_path: Path) -> None:
    assert cspec.resolve_user("", str(tmp_path), ()) == (0, 0, [0])
    assert cspec.resolve_user("123:456", str(tmp_path), ("789",)) == (123, 456, [456, 789])
    with pytest.raises(NotFound, match="^unable to find user app: no matching entries in passwd file$"):
        cspec.resolve_user("app", str(tmp_path))


def test_passwd_symlinks_resolve_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "real").mkdir()
    (root / "real" / "passwd").write_text("inside:x:7:7::/:/bin/sh\n")
    # relative escape: ../../outside/passwd from /etc is /outside/passwd in the root, which is missing
    (root / "etc" / "passwd").symlink_to("../../outside/passwd")
    with pytest.raises(NotFound, match="unable to find user evil"):
        cspec.resolve_user("evil", str(root))
    # an absolute target is taken from the container's root, not the host's
    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").symlink_to(str(outside / "passwd"))
    with pytest.raises(NotFound, match="unable to find user evil"):
        cspec.resolve_user("evil", str(root))
    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").symlink_to("/../../real/passwd")
    assert cspec.resolve_user("inside", str(root)) == (7, 7, [7])
    # a symlinked directory on the way is resolved in the root too
    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").symlink_to("/link/passwd")
    (root / "link").symlink_to("/real")
    assert cspec.resolve_user("inside", str(root)) == (7, 7, [7])
    # a loop is an unreadable file, not a hang
    (root / "link").unlink()
    (root / "link").symlink_to("/link")
    with pytest.raises(NotFound):
        cspec.resolve_user("inside", str(root))


def test_make_working_dir_stays_in_the_root(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(str(outside))
    cspec.make_working_dir(str(root), "/escape/app/data")
    assert (root / str(outside).lstrip("/") / "app" / "data").is_dir()
    assert not (outside / "app").exists()
    cspec.make_working_dir(str(root), "/srv/app")
    assert (root / "srv" / "app").is_dir()
    cspec.make_working_dir(str(root), "/srv/app")  # exists: nothing to do
    (root / "file").write_text("")
    with pytest.raises(FailedPrecondition, match="^Cannot mkdir: /file/sub is not a directory$"):
        cspec.make_working_dir(str(root), "/file/sub")
    with pytest.raises(FailedPrecondition, match="^Cannot mkdir: /file is not a directory$"):
        cspec.make_working_dir(str(root), "/file")


def caps_of(spec: dict[str, Any]) -> list[str]:
    caps: list[str] = spec["process"]["capabilities"]["bounding"]
    return caps


def test_cap_add_and_drop(rootfs: Path) -> None:
    caps = caps_of(
        build(rootfs, cap_add=("sys_admin", "CAP_NET_ADMIN", "chown"), cap_drop=("net_raw", "Mknod"))
    )
    assert caps == [c for c in DOCKER_CAPS if c not in ("CAP_NET_RAW", "CAP_MKNOD")] + [
        "CAP_NET_ADMIN",
        "CAP_SYS_ADMIN",
    ]
    assert caps_of(build(rootfs, cap_drop=("ALL",), cap_add=("chown", "kill"))) == ["CAP_CHOWN", "CAP_KILL"]
    assert caps_of(build(rootfs, cap_drop=("ALL",))) == []
    assert caps_of(build(rootfs, cap_add=("ALL",), cap_drop=("sys_module",))) == [
        c for c in CAPABILITY_NAMES if c != "CAP_SYS_MODULE"
    ]
    # added and dropped: added (the CLI drops it from the drop list)
    assert "CAP_KILL" in caps_of(build(rootfs, cap_add=("kill",), cap_drop=("kill",)))


def test_cap_errors(rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidArgument, match='^unknown capability: "CAP_FLY"$'):
        build(rootfs, cap_add=("fly",))
    monkeypatch.setattr(defaults, "current_capabilities", lambda status="": list(DOCKER_CAPS))
    with pytest.raises(InvalidArgument) as exc:
        build(rootfs, cap_add=("SYS_ADMIN",))
    assert error(exc) == (
        'capability not supported by your kernel or not available in the current environment: "CAP_SYS_ADMIN"'
    )


def test_privileged(rootfs: Path) -> None:
    spec = build(rootfs, privileged=True, cap_drop=("ALL",), security_opt=("seccomp={not json",))
    assert caps_of(spec) == list(CAPABILITY_NAMES)
    linux = spec["linux"]
    assert "seccomp" not in linux and "maskedPaths" not in linux and "readonlyPaths" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_read_only_and_no_new_privileges(rootfs: Path) -> None:
    spec = build(rootfs, read_only=True, security_opt=("no-new-privileges",))
    assert spec["root"]["readonly"] is True and spec["process"]["noNewPrivileges"] is True
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" in sys_mount["options"]
    assert "noNewPrivileges" not in build(rootfs, security_opt=("no-new-privileges=false",))["process"]


def test_seccomp_choices(rootfs: Path) -> None:
    assert "seccomp" not in build(rootfs, security_opt=("seccomp=unconfined",))["linux"]
    default = build(rootfs, security_opt=("seccomp=builtin",))["linux"]["seccomp"]
    assert default["defaultAction"] == "SCMP_ACT_ERRNO"
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_NOPE", "subArchitectures": []}],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "io"},
            {"name": "ptrace", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
            {"names": ["unshare"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_CHOWN"]}},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        ],
    }
    section = build(rootfs, security_opt=(f"seccomp={json.dumps(profile)}",))["linux"]["seccomp"]
    assert section == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}],
    }
    section = build(rootfs, cap_add=("sys_ptrace",), security_opt=(f"seccomp={json.dumps(profile)}",))
    assert {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW"} in section["linux"]["seccomp"]["syscalls"]
    with pytest.raises(InvalidArgument, match="^Decoding seccomp profile failed: "):
        build(rootfs, security_opt=("seccomp={nope",))


def test_systempaths_unconfined(rootfs: Path) -> None:
    linux = build(rootfs, security_opt=("systempaths=unconfined",))["linux"]
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []


def test_resources(rootfs: Path) -> None:
    resources = build(
        rootfs,
        memory=opts.parse_memory("512m"),
        memory_reservation=opts.parse_memory("256m"),
        nano_cpus=opts.parse_cpus("1.5"),
        cpu_shares=512,
        cpuset_cpus="0-1",
        cpuset_mems="0",
        pids_limit=100,
        oom_kill_disable=True,
    )["linux"]["resources"]
    assert resources["memory"] == {
        "limit": 536870912,
        "reservation": 268435456,
        "swap": 2 * 536870912,
        "disableOOMKiller": True,
    }
    assert resources["cpu"] == {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0-1", "mems": "0"}
    assert resources["pids"] == {"limit": 100}
    resources = build(
        rootfs, memory=512 * MiB, memory_swap=-1, cpu_quota=50000, cpu_period=200000, pids_limit=0
    )["linux"]["resources"]
    assert resources["memory"] == {"limit": 512 * MiB}  # unlimited swap: nothing to set
    assert resources["cpu"] == {"quota": 50000, "period": 200000}
    assert resources["pids"] == {"limit": -1}
    assert (
        build(rootfs, memory=512 * MiB, memory_swap=MiB * 768)["linux"]["resources"]["memory"]["swap"]
        == MiB * 768
    )


def test_ulimits_become_rlimits(rootfs: Path) -> None:
    spec = build(rootfs, ulimits=(opts.parse_ulimit("nofile=1024:2048"), opts.parse_ulimit("core=-1")))
    assert spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024},
        {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1},
    ]


def test_shm_size_sysctls_domainname_oom_score(rootfs: Path) -> None:
    spec = build(
        rootfs,
        shm_size=opts.parse_memory("1g"),
        sysctls={"net.ipv4.ip_forward": "1", "net.ipv4.ping_group_range": "0 0"},
        domainname="example.org",
        oom_score_adj=-500,
    )
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert f"size={1024 * MiB}" in shm["options"] and not any(o == "size=67108864" for o in shm["options"])
    sysctl = spec["linux"]["sysctl"]
    assert sysctl["net.ipv4.ip_forward"] == "1" and sysctl["kernel.domainname"] == "example.org"
    assert sysctl["net.ipv4.ping_group_range"] == "0 0"  # the flag wins over docker's default
    assert spec["process"]["oomScoreAdj"] == -500


def test_devices(rootfs: Path, tmp_path: Path) -> None:
    null = os.stat("/dev/null")
    spec = build(rootfs, devices=(opts.parse_device("/dev/null:/dev/mynull:r"),))
    assert spec["linux"]["devices"] == [
        {
            "path": "/dev/mynull",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": null.st_mode & 0o7777,
            "uid": null.st_uid,
            "gid": null.st_gid,
        }
    ]
    assert spec["linux"]["resources"]["devices"][-1] == {
        "allow": True,
        "type": "c",
        "major": 1,
        "minor": 3,
        "access": "r",
    }
    (tmp_path / "link").symlink_to("/dev/null")
    found, rules = cspec.devices_from_path(DeviceMapping(str(tmp_path / "link"), "/dev/x"), "rw")
    assert [d["path"] for d in found] == ["/dev/x"] and rules[0]["access"] == "rw"
    with pytest.raises(InvalidArgument) as exc:
        build(rootfs, devices=(DeviceMapping("/dev/nope-pinnace", "/dev/nope-pinnace"),))
    assert error(exc) == (
        'error gathering device information while adding custom device "/dev/nope-pinnace": no such file or directory'
    )
    (tmp_path / "plain").write_text("")
    with pytest.raises(InvalidArgument, match='custom device ".*plain": not a device node$'):
        cspec.devices_from_path(DeviceMapping(str(tmp_path / "plain"), "/dev/plain"), "rwm")


def test_init(rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cspec, "init_binary", lambda dirs=None: "/opt/tini-static")
    spec = build(rootfs, {"Entrypoint": ["/entry"], "Cmd": ["a"]}, init=True)
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "/entry", "a"]
    assert spec["mounts"][-1] == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": "/opt/tini-static",
        "options": ["bind", "ro"],
    }
    validate_spec(spec)


def test_init_binary_lookup(tmp_path: Path) -> None:
    bin_dir, libexec = tmp_path / "bin", tmp_path / "libexec"
    bin_dir.mkdir()
    libexec.mkdir()
    with pytest.raises(FailedPrecondition, match="^docker-init binary not found"):
        cspec.init_binary([str(bin_dir), str(libexec)])
    for name in ("tini", "catatonit"):
        (libexec / name).write_text("#!/bin/sh\n")
        (libexec / name).chmod(0o755)
    (bin_dir / "tini-static").write_text("not executable")
    assert cspec.init_binary([str(bin_dir), str(libexec)]) == str(libexec / "catatonit")
    (bin_dir / "docker-init").symlink_to(libexec / "tini")
    assert cspec.init_binary([str(bin_dir), str(libexec)]) == str(libexec / "tini")  # the link's target


def test_spec_from_a_stored_host_config(rootfs: Path) -> None:
    """create stores Config and HostConfig; start rebuilds the same spec from them."""
    options = RunOptions(
        cmd=("sleep", "1"),
        memory=256 * MiB,
        cap_drop=("net_raw",),
        security_opt=("no-new-privileges",),
        ulimits=(Ulimit("nofile", 10, 20),),
    )
    options, _ = cspec.verify_options(options, ncpu=2, cgroup_v2=False, swap_limit=True)
    cfg = cspec.container_config({"Cmd": ["sh"]}, options, container_id=CID)
    direct = cspec.build_spec(cfg, options, container_id=CID, rootfs=str(rootfs))
    stored = json.loads(json.dumps(opts.host_config(options)))
    rebuilt = cspec.build_spec(
        json.loads(json.dumps(cfg)), opts.from_host_config(stored), container_id=CID, rootfs=str(rootfs)
    )
    assert rebuilt == direct
