"""The runtime-spec config: validation (one test per rule), the default spec, the features document."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pinnace.errors import InvalidArgument, NotFound
from pinnace.runtime.features import capabilities, features
from pinnace.runtime.linux.capabilities import NAMES as CAPABILITY_NAMES
from pinnace.runtime.spec import default_spec, load_spec, validate_spec


def write(tmp_path: Path, spec: Any) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(spec))
    return path


def invalid(spec: Any, field: str) -> str:
    """The message validate_spec raises for ``spec``; it must name ``field`` first."""
    with pytest.raises(InvalidArgument) as info:
        validate_spec(spec)
    message = str(info.value)
    assert message.startswith(f"{field}: "), message
    assert "\n" not in message
    return message


def test_default_spec_round_trips_through_load_spec(tmp_path: Path) -> None:
    for rootless in (False, True):
        spec = default_spec(rootless=rootless)
        assert load_spec(write(tmp_path, spec)) == spec


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="JSON specification file .*config.json not found"):
        load_spec(tmp_path / "config.json")


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"ociVersion": ')
    with pytest.raises(InvalidArgument, match="invalid JSON"):
        load_spec(path)


def test_not_an_object() -> None:
    invalid([], "config.json")


def test_oci_version_missing() -> None:
    spec = default_spec()
    del spec["ociVersion"]
    assert invalid(spec, "ociVersion") == "ociVersion: missing"


def test_oci_version_unsupported_major() -> None:
    spec = default_spec()
    spec["ociVersion"] = "2.0.0"
    assert "unsupported version" in invalid(spec, "ociVersion")
    spec["ociVersion"] = "banana"
    invalid(spec, "ociVersion")


def test_oci_version_any_1x_is_accepted() -> None:
    for version in ("1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0"):
        spec = default_spec()
        spec["ociVersion"] = version
        assert validate_spec(spec) is spec


def test_process_args_empty() -> None:
    spec = default_spec()
    spec["process"]["args"] = []
    assert invalid(spec, "process.args") == "process.args: must not be empty"
    del spec["process"]["args"]
    invalid(spec, "process.args")


def test_process_is_optional() -> None:
    spec = default_spec()
    del spec["process"]
    validate_spec(spec)


def test_process_cwd_relative() -> None:
    spec = default_spec()
    spec["process"]["cwd"] = "tmp"
    invalid(spec, "process.cwd")


def test_root_path_missing() -> None:
    spec = default_spec()
    del spec["root"]["path"]
    assert invalid(spec, "root.path") == "root.path: missing"
    del spec["root"]
    invalid(spec, "root")


def test_mount_destination_not_absolute() -> None:
    spec = default_spec()
    spec["mounts"][2]["destination"] = "dev/pts"
    assert (
        invalid(spec, "mounts[2].destination") == 'mounts[2].destination: "dev/pts" is not an absolute path'
    )


def test_namespace_type_unknown() -> None:
    spec = default_spec()
    spec["linux"]["namespaces"].append({"type": "bogus"})
    assert 'unknown namespace type "bogus"' in invalid(spec, "linux.namespaces[6].type")


def test_namespace_type_duplicated() -> None:
    spec = default_spec()
    spec["linux"]["namespaces"].append({"type": "pid"})
    assert '"pid"' in invalid(spec, "linux.namespaces[6].type")


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"containerID": 0, "hostID": 1000}, "linux.uidMappings[0].size"),
        ({"containerID": 0, "hostID": 1000, "size": 0}, "linux.uidMappings[0].size"),
        ({"containerID": -1, "hostID": 1000, "size": 1}, "linux.uidMappings[0].containerID"),
        ({"containerID": 0, "hostID": "1000", "size": 1}, "linux.uidMappings[0].hostID"),
        ({"containerID": 0, "hostID": True, "size": 1}, "linux.uidMappings[0].hostID"),
        ({"containerID": 0, "hostID": 2**32, "size": 1}, "linux.uidMappings[0].hostID"),
    ],
)
def test_id_mapping_malformed(mapping: dict[str, Any], field: str) -> None:
    spec = default_spec(rootless=True)
    spec["linux"]["uidMappings"] = [mapping]
    invalid(spec, field)


def test_gid_mappings_checked_too() -> None:
    spec = default_spec(rootless=True)
    spec["linux"]["gidMappings"] = ["0:1000:1"]
    invalid(spec, "linux.gidMappings[0]")


def test_id_mappings_need_a_user_namespace() -> None:
    spec = default_spec()
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    invalid(spec, "linux.uidMappings")


def test_default_spec_shape() -> None:
    spec = default_spec()
    assert spec["ociVersion"] == "1.2.0"
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert spec["hostname"] == "pinnace"
    process = spec["process"]
    assert process["terminal"] is True and process["args"] == ["sh"] and process["cwd"] == "/"
    assert process["noNewPrivileges"] is True
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert set(process["capabilities"]) == {"bounding", "effective", "permitted"}
    assert process["capabilities"]["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    kinds = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert kinds == ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ]
    assert {"/proc/kcore", "/proc/keys", "/sys/firmware"} <= set(spec["linux"]["maskedPaths"])
    assert "/proc/sys" in spec["linux"]["readonlyPaths"]
    assert "uidMappings" not in spec["linux"]


def test_default_spec_is_a_fresh_dict_each_call() -> None:
    first = default_spec()
    first["process"]["args"].append("-c")
    assert default_spec()["process"]["args"] == ["sh"]


def test_rootless_default_spec() -> None:
    spec = default_spec(rootless=True)
    linux = spec["linux"]
    kinds = [ns["type"] for ns in linux["namespaces"]]
    assert "user" in kinds and "network" not in kinds
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in linux
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert sys_mount["source"] == "/sys" and "rbind" in sys_mount["options"]
    devpts = next(m for m in spec["mounts"] if m["destination"] == "/dev/pts")
    assert not [o for o in devpts["options"] if o.startswith(("uid=", "gid="))]


def test_features_document() -> None:
    doc = features()
    assert doc["ociVersionMin"] == "1.0.0"
    assert doc["ociVersionMax"] == "1.2.0"
    assert doc["hooks"][0] == "prestart" and doc["hooks"][-1] == "poststop"
    linux = doc["linux"]
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    assert {"pid", "mount", "network", "user", "uts", "ipc"} <= set(linux["namespaces"])
    assert linux["cgroup"]["systemd"] is False
    assert linux["seccomp"]["enabled"] is True  # python3-seccomp is installed by setup.sh
    assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"]
    assert "SCMP_ARCH_X86_64" in linux["seccomp"]["archs"]
    assert "SCMP_CMP_MASKED_EQ" in linux["seccomp"]["operators"]
    assert json.loads(json.dumps(doc)) == doc


def test_capabilities_follow_cap_last_cap(tmp_path: Path) -> None:
    last = tmp_path / "cap_last_cap"
    last.write_text("21\n")
    assert capabilities(str(last))[-1] == "CAP_SYS_ADMIN"
    last.write_text("99\n")
    assert capabilities(str(last)) == list(CAPABILITY_NAMES)
    host = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    assert len(capabilities()) == min(host + 1, len(CAPABILITY_NAMES))
