"""The exec's process as dockerd builds it, and docker's words for what goes wrong (no containers run here)."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from pinnace.containers import exec as execs
from pinnace.containers.records import ContainerRecord
from pinnace.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from pinnace.runtime.defaults import DEFAULT_PATH_ENV

CONTAINER_PROCESS: dict[str, Any] = {
    "terminal": True,
    "consoleSize": {"height": 24, "width": 80},
    "user": {"uid": 0, "gid": 0, "additionalGids": [0, 10]},
    "args": ["sleep", "100"],
    "env": [DEFAULT_PATH_ENV, "HOSTNAME=h", "TERM=xterm", "A=1"],
    "cwd": "/srv",
    "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 100, "soft": 50}],
    "noNewPrivileges": True,
    "oomScoreAdj": 300,
}


def record(
    config: dict[str, Any] | None = None, host_config: dict[str, Any] | None = None
) -> ContainerRecord:
    return ContainerRecord(
        id="ab" * 32,
        name="web",
        image_id="sha256:" + "cd" * 32,
        image_name="busybox",
        snapshot_key="k",
        created="2024-05-01T10:00:00.000000000Z",
        config=MappingProxyType(config or {"Hostname": "h", "Env": ["A=1", "B=2"], "WorkingDir": "/srv"}),
        host_config=MappingProxyType(host_config or {}),
        status="running",
    )


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
    )
    (tmp_path / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nstaff:x:50:app\n")
    return tmp_path


def test_env_is_docker_base_then_container_env_then_exec_env() -> None:
    config = {"Hostname": "h", "Env": ["PATH=/custom", "A=1", "B=2"]}
    assert execs.exec_env(config, ["B=3", "C=4", "A"], tty=False) == [
        "PATH=/custom",
        "HOSTNAME=h",
        "B=3",
        "C=4",
    ]
    assert execs.exec_env({"Hostname": "h"}, [], tty=True) == [DEFAULT_PATH_ENV, "HOSTNAME=h", "TERM=xterm"]


def test_process_keeps_the_containers_and_changes_what_exec_asks(rootfs: Path) -> None:
    options = execs.ExecConfig(cmd=("sh", "-c", "true"), env=("B=3",))
    process = execs.build_process(record(), CONTAINER_PROCESS, options, rootfs=str(rootfs))
    assert process["args"] == ["sh", "-c", "true"]
    assert process["env"] == [DEFAULT_PATH_ENV, "HOSTNAME=h", "A=1", "B=3"]  # no TERM without -t
    assert process["terminal"] is False
    assert "consoleSize" not in process
    assert process["cwd"] == "/srv"  # the Config's WorkingDir
    for kept in ("user", "capabilities", "rlimits", "noNewPrivileges", "oomScoreAdj"):
        assert process[kept] == CONTAINER_PROCESS[kept]
    assert CONTAINER_PROCESS["args"] == ["sleep", "100"]  # not changed in place


def test_workdir_user_and_tty(rootfs: Path) -> None:
    options = execs.ExecConfig(cmd=("id",), user="app", workdir="/tmp", tty=True)
    process = execs.build_process(
        record(host_config={"GroupAdd": ["root"]}), CONTAINER_PROCESS, options, rootfs=str(rootfs)
    )
    assert process["cwd"] == "/tmp"
    assert process["terminal"] is True
    assert "TERM=xterm" in process["env"]
    assert process["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50, 0]}


def test_default_cwd_is_root_and_detached_keeps_its_terminal(rootfs: Path) -> None:
    options = execs.ExecConfig(cmd=("true",), tty=True, detach=True)  # exec -dt: docker gives a terminal
    process = execs.build_process(record({"Hostname": "h"}), CONTAINER_PROCESS, options, rootfs=str(rootfs))
    assert process["cwd"] == "/"
    assert process["terminal"] is True


def test_the_containers_user_is_resolved_again(rootfs: Path) -> None:
    process = execs.build_process(
        record({"Hostname": "h", "User": "app:staff"}),
        CONTAINER_PROCESS,
        execs.ExecConfig(cmd=("id",)),
        rootfs=str(rootfs),
    )
    assert process["user"] == {"uid": 1000, "gid": 50, "additionalGids": [50]}


def test_unknown_user_is_dockers_126(rootfs: Path) -> None:
    with pytest.raises(execs.ExecStartError) as info:
        execs.build_process(
            record(), CONTAINER_PROCESS, execs.ExecConfig(cmd=("id",), user="nobody"), rootfs=str(rootfs)
        )
    assert str(info.value) == "unable to find user nobody: no matching entries in passwd file"
    assert info.value.exit_code == 126


def test_privileged_gets_every_capability(rootfs: Path) -> None:
    from pinnace.runtime.defaults import current_capabilities

    options = execs.ExecConfig(cmd=("true",), privileged=True)
    caps = execs.build_process(record(), CONTAINER_PROCESS, options, rootfs=str(rootfs))["capabilities"]
    everything = current_capabilities()
    assert caps == {"bounding": everything, "effective": everything, "permitted": everything}


@pytest.mark.parametrize(
    ("message", "code", "shown"),
    [
        (
            'exec: "nosuch": executable file not found in $PATH',
            127,
            'exec: "nosuch": executable file not found in $PATH: unknown',
        ),
        (
            'exec: "/x": stat /x: no such file or directory',
            127,
            'exec: "/x": stat /x: no such file or directory: unknown',
        ),
        ('exec: "/etc/passwd": permission denied', 126, 'exec: "/etc/passwd": permission denied: unknown'),
        ('exec: "/etc": is a directory', 126, 'exec: "/etc": is a directory: unknown: permission denied'),
        ("process.cwd: chdir failed", 126, "process.cwd: chdir failed: unknown"),
    ],
)
def test_start_errors_in_dockers_words(message: str, code: int, shown: str) -> None:
    error = execs.start_error(message)
    assert error.exit_code == code
    assert str(error) == "OCI runtime exec failed: exec failed: unable to start container process: " + shown


def test_runtime_errors_about_the_container_read_as_dockers() -> None:
    rec = record()
    paused = execs.translate(
        FailedPrecondition("cannot exec in a paused container (use resume first)"), rec, "web"
    )
    assert isinstance(paused, Conflict)
    assert str(paused) == "Container web is paused, unpause the container before exec"
    gone = execs.translate(NotFound(f"container does not exist: {rec.id}"), rec, "web")
    assert str(gone) == f"Container {rec.id} is not running"
    stopped = execs.translate(FailedPrecondition("cannot exec in a stopped container"), rec, "web")
    assert str(stopped) == f"Container {rec.id} is not running"
    assert isinstance(
        execs.translate(InvalidArgument("process.args: empty"), rec, "web"), execs.ExecStartError
    )


def test_event_actions_are_dockers() -> None:
    assert execs._action("exec_create", ["sh", "-c", "echo hi"]) == "exec_create: sh -c echo hi"
    assert execs._action("exec_start", ["true"]) == "exec_start: true "
