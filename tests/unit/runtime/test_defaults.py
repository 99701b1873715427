"""Docker's defaults: the constants against moby's, and the config docker_spec writes."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pinnace.errors import InvalidArgument
from pinnace.runtime.defaults import (
    DEFAULT_PATH_ENV,
    DEFAULT_SYSCTLS,
    DEVICE_RULES,
    DOCKER_CAPS,
    MASKED_PATHS,
    READONLY_PATHS,
    current_capabilities,
    docker_spec,
    host_devices,
    masked_paths,
    merge_env,
)
from pinnace.runtime.linux.capabilities import NAMES as CAPABILITY_NAMES
from pinnace.runtime.spec import validate_spec

HAVE_SECCOMP_DEFAULT = importlib.util.find_spec("pinnace.runtime.seccomp_default") is not None
needs_seccomp_default = pytest.mark.skipif(
    not HAVE_SECCOMP_DEFAULT, reason="pinnace.runtime.seccomp_default not written yet"
)


def mount(spec: dict[str, Any], destination: str) -> dict[str, Any]:
    (found,) = [m for m in spec["mounts"] if m["destination"] == destination]
    return found


def test_docker_caps_are_mobys_fourteen() -> None:
    assert len(DOCKER_CAPS) == 14
    assert set(DOCKER_CAPS) == {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    }
    assert set(DOCKER_CAPS) <= set(CAPABILITY_NAMES)


def test_masked_and_readonly_paths_are_mobys() -> None:
    assert set(MASKED_PATHS) == {
        "/proc/acpi",
        "/proc/asound",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/sys/devices/virtual/powercap",
        "/sys/firmware",
    }
    assert READONLY_PATHS == ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def test_masked_paths_add_the_hosts_thermal_throttle_dirs(tmp_path: Path) -> None:
    (tmp_path / "possible").write_text("0-1,3\n")
    for cpu in (1, 3, 4):  # cpu4 is not "possible": not looked at
        (tmp_path / f"cpu{cpu}" / "thermal_throttle").mkdir(parents=True)
    assert masked_paths(str(tmp_path)) == [
        *MASKED_PATHS,
        f"{tmp_path}/cpu1/thermal_throttle",
        f"{tmp_path}/cpu3/thermal_throttle",
    ]
    assert masked_paths(str(tmp_path / "absent")) == list(MASKED_PATHS)


def test_default_spec_is_valid_json_and_what_dockerd_writes() -> None:
    spec = docker_spec(args=["sh", "-c", "true"], seccomp=None)
    assert validate_spec(json.loads(json.dumps(spec))) == spec
    assert spec["ociVersion"] == "1.2.0"
    process = spec["process"]
    assert process["args"] == ["sh", "-c", "true"]
    assert process["cwd"] == "/"
    assert process["user"] == {"uid": 0, "gid": 0}
    assert process["env"] == [DEFAULT_PATH_ENV]
    assert process["terminal"] is False
    assert process["capabilities"] == {
        "bounding": list(DOCKER_CAPS),
        "effective": list(DOCKER_CAPS),
        "permitted": list(DOCKER_CAPS),
    }
    assert process["oomScoreAdj"] == 0
    assert not process.get("noNewPrivileges", False)
    assert "rlimits" not in process
    assert spec["root"] == {"path": "rootfs", "readonly": False}
    assert "hostname" not in spec

    linux = spec["linux"]
    assert [ns["type"] for ns in linux["namespaces"]] == ["mount", "network", "uts", "pid", "ipc", "cgroup"]
    assert "uidMappings" not in linux
    assert set(MASKED_PATHS) <= set(linux["maskedPaths"])
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    assert "seccomp" not in linux
    assert "devices" not in linux


def test_default_mounts() -> None:
    spec = docker_spec(args=["true"], seccomp=None)
    assert [(m["destination"], m["type"]) for m in spec["mounts"]] == [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/sys", "sysfs"),
        ("/sys/fs/cgroup", "cgroup"),
        ("/dev/mqueue", "mqueue"),
        ("/dev/shm", "tmpfs"),
    ]
    assert "size=67108864" in mount(spec, "/dev/shm")["options"]
    assert "ro" in mount(spec, "/sys")["options"]
    assert "ro" in mount(spec, "/sys/fs/cgroup")["options"]
    assert "newinstance" in mount(spec, "/dev/pts")["options"]
    assert "ro" not in mount(spec, "/proc")["options"]


def test_device_rules_deny_all_then_allow_the_standard_devices() -> None:
    rules = docker_spec(args=["true"], seccomp=None)["linux"]["resources"]["devices"]
    assert rules == [dict(r) for r in DEVICE_RULES]
    assert rules[0] == {"allow": False, "access": "rwm"}

    def allowed(kind: str, major: int | None, minor: int | None, access: str = "rwm") -> bool:
        return any(
            r["allow"]
            and r.get("type") == kind
            and r.get("major") == major
            and r.get("minor") == minor
            and r["access"] == access
            for r in rules
        )

    for major, minor in (
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (136, None),
        (10, 200),
    ):
        assert allowed("c", major, minor), (major, minor)
    assert allowed("c", None, None, "m") and allowed("b", None, None, "m")
    assert not any(r["allow"] and r.get("type") == "b" and "r" in r["access"] for r in rules)


def test_network_sysctls_when_the_host_has_them() -> None:
    sysctl = docker_spec(args=["true"], seccomp=None)["linux"].get("sysctl", {})
    for name, value in DEFAULT_SYSCTLS:
        if os.path.exists("/proc/sys/" + name.replace(".", "/")):
            assert sysctl[name] == value
        else:
            assert name not in sysctl


def test_user_env_cwd_hostname_terminal_land_where_expected() -> None:
    user = {"uid": 1000, "gid": 1000, "additionalGids": [1000, 27]}
    spec = docker_spec(
        args=["/app/run"],
        rootfs="/var/lib/pinnace/x/rootfs",
        env=["PATH=/app/bin", "LANG=C.UTF-8", "TERM"],
        cwd="/app",
        user=user,
        hostname="c0ffee",
        terminal=True,
        seccomp=None,
    )
    process = spec["process"]
    assert process["user"] == user
    assert process["cwd"] == "/app"
    assert process["terminal"] is True
    # The image's PATH replaces Docker's in place; a bare name unsets (here TERM).
    assert process["env"] == ["PATH=/app/bin", "HOSTNAME=c0ffee", "LANG=C.UTF-8"]
    assert spec["hostname"] == "c0ffee"
    assert spec["root"]["path"] == "/var/lib/pinnace/x/rootfs"
    # As moby's SetCapabilities: a non-root user holds the caps in the bounding set only.
    assert process["capabilities"] == {"bounding": list(DOCKER_CAPS)}
    validate_spec(spec)


def test_terminal_adds_term_and_no_new_privileges_on_request() -> None:
    spec = docker_spec(args=["sh"], terminal=True, no_new_privileges=True, seccomp=None)
    assert spec["process"]["env"] == [DEFAULT_PATH_ENV, "TERM=xterm"]
    assert spec["process"]["noNewPrivileges"] is True


def test_merge_env() -> None:
    assert merge_env(["A=1", "B=2"], ["B=3", "C=4", "A", "D", "C=5"]) == ["B=3", "C=5"]
    assert merge_env([DEFAULT_PATH_ENV], []) == [DEFAULT_PATH_ENV]


def test_read_only_root() -> None:
    spec = docker_spec(args=["true"], read_only=True, seccomp=None)
    assert spec["root"]["readonly"] is True
    for destination in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"):
        assert "ro" not in mount(spec, destination)["options"], destination
    assert mount(spec, "/sys")["options"].count("ro") == 1


def test_custom_caps_are_checked_and_kept_in_order() -> None:
    spec = docker_spec(args=["true"], caps=["CAP_KILL", "CAP_SYS_ADMIN", "CAP_KILL"], seccomp=None)
    assert spec["process"]["capabilities"]["bounding"] == ["CAP_KILL", "CAP_SYS_ADMIN"]
    assert docker_spec(args=["true"], caps=[], seccomp=None)["process"]["capabilities"]["effective"] == []
    with pytest.raises(InvalidArgument, match='^process.capabilities: unknown capability "CAP_FLY"$'):
        docker_spec(args=["true"], caps=["CAP_FLY"], seccomp=None)


def test_privileged_is_what_docker_run_privileged_does() -> None:
    spec = docker_spec(args=["sh"], privileged=True, read_only=True)  # seccomp="default" is dropped too
    validate_spec(spec)
    linux = spec["linux"]
    assert spec["process"]["capabilities"]["bounding"] == current_capabilities()
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux
    assert "seccomp" not in linux
    assert "ro" not in mount(spec, "/sys")["options"]
    assert "ro" not in mount(spec, "/sys/fs/cgroup")["options"]
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    if os.path.exists("/dev/null"):
        null = [d for d in linux["devices"] if d["path"] == "/dev/null"]
        assert null == [
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 0, "gid": 0}
        ]


def test_current_capabilities_reads_cap_eff(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapPrm:\tffffffffff\nCapEff:\t0000010000000021\n")
    assert current_capabilities(str(status)) == ["CAP_CHOWN", "CAP_KILL", "CAP_CHECKPOINT_RESTORE"]
    assert current_capabilities(str(tmp_path / "absent")) == list(CAPABILITY_NAMES)


def test_host_devices_lists_only_device_nodes(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "link").symlink_to("/dev/null")
    (tmp_path / "pts").mkdir()
    assert host_devices(str(tmp_path)) == []
    devices = host_devices()
    assert all(d["type"] in ("c", "b") and d["major"] > 0 for d in devices)
    assert not any(
        d["path"].startswith(("/dev/pts/", "/dev/shm/")) or d["path"] == "/dev/console" for d in devices
    )


def test_seccomp_choices() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW"}
    assert docker_spec(args=["true"], seccomp=profile)["linux"]["seccomp"] == profile
    assert "seccomp" not in docker_spec(args=["true"], seccomp="unconfined")["linux"]
    with pytest.raises(InvalidArgument, match='^linux.seccomp: unknown profile "strict"'):
        docker_spec(args=["true"], seccomp="strict")


@needs_seccomp_default
def test_default_seccomp_is_dockers_profile_for_the_caps() -> None:
    from pinnace.runtime.seccomp_default import docker_default

    spec = docker_spec(args=["true"])
    assert spec["linux"]["seccomp"] == docker_default(DOCKER_CAPS)
    admin = docker_spec(args=["true"], caps=[*DOCKER_CAPS, "CAP_SYS_ADMIN"])
    assert admin["linux"]["seccomp"] == docker_default([*DOCKER_CAPS, "CAP_SYS_ADMIN"])


def test_each_call_is_a_fresh_config() -> None:
    first = docker_spec(args=["true"], seccomp=None)
    first["mounts"][0]["options"].append("ro")
    first["linux"]["resources"]["devices"][0]["allow"] = True
    first["linux"]["maskedPaths"].clear()
    assert docker_spec(args=["true"], seccomp=None) != first
    assert docker_spec(args=["true"], seccomp=None) == docker_spec(args=["true"], seccomp=None)
