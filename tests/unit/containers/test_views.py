"""Container views against records made in memory: inspect's shape, ps rows and STATUS, ps --filter."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Iterator
from types import MappingProxyType
from typing import Any

import pytest

from pinnace._util.record import replace
from pinnace.containers import views
from pinnace.containers.records import ZERO_TIME, ContainerRecord
from pinnace.errors import InvalidArgument, NotFound

IMAGE_ID = "sha256:" + "ab" * 32
#: 2024-05-01T10:00:00Z, the "now" of every test.
NOW = 1714557600.0


def iso(offset: float) -> str:
    """RFC 3339 (nanoseconds) for NOW + offset seconds."""
    dt = datetime.datetime.fromtimestamp(NOW + offset, datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def rec(n: int = 1, **fields: Any) -> ContainerRecord:
    base = ContainerRecord(
        id=f"{n:x}" * 64 if n < 16 else f"{n:064x}",
        name=f"c{n}",
        image_id=IMAGE_ID,
        image_name="busybox",
        snapshot_key=f"snap-{n}",
        created=iso(-3600 + n),
        config=MappingProxyType(
            {"Hostname": "h", "Cmd": ["sleep", "100"], "Image": "busybox", "Labels": {}, "OnBuild": None}
        ),
    )
    return replace(base, **fields) if fields else base


RUNNING: dict[str, Any] = {"status": "running", "pid": 42, "started_at": iso(-120)}
PAUSED: dict[str, Any] = {"status": "paused", "pid": 42, "started_at": iso(-120)}
EXITED: dict[str, Any] = {
    "status": "exited",
    "exit_code": 137,
    "started_at": iso(-9000),
    "finished_at": iso(-7200),
}


@pytest.fixture
def utc() -> Iterator[None]:
    """Local time is UTC while the test runs (CreatedAt prints local time, as Go's time.String)."""
    import os

    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


# --------------------------------------------------------------------------- inspect

TOP_KEYS = [
    "Id",
    "Created",
    "Path",
    "Args",
    "State",
    "Image",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "LogPath",
    "Name",
    "RestartCount",
    "Driver",
    "Platform",
    "MountLabel",
    "ProcessLabel",
    "AppArmorProfile",
    "ExecIDs",
    "HostConfig",
    "GraphDriver",
    "Mounts",
    "Config",
    "NetworkSettings",
]
STATE_KEYS = [
    "Status",
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "Pid",
    "ExitCode",
    "Error",
    "StartedAt",
    "FinishedAt",
]


def test_inspect_created_container_shape() -> None:
    r = rec(config={"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Image": "busybox", "Labels": {}})
    got = views.inspect(r)
    assert list(got) == TOP_KEYS
    assert got["Id"] == r.id and got["Created"] == r.created
    assert (got["Path"], got["Args"]) == ("/bin/sh", ["-c", "echo hi"])
    assert got["Image"] == IMAGE_ID
    assert got["Name"] == "/c1"
    assert (got["Driver"], got["Platform"], got["ExecIDs"], got["Mounts"]) == ("overlay2", "linux", None, [])
    assert got["ResolvConfPath"] == got["LogPath"] == ""
    assert got["GraphDriver"] == {"Data": None, "Name": "overlay2"}
    assert list(got["State"]) == STATE_KEYS  # no Health without a healthcheck
    assert got["State"] == {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
    }
    net = got["NetworkSettings"]
    assert list(net)[:4] == ["Bridge", "SandboxID", "SandboxKey", "Ports"]
    assert (net["Ports"], net["Networks"], net["IPAddress"], net["SecondaryIPAddresses"]) == (
        {},
        {},
        "",
        None,
    )


def test_inspect_config_is_complete_and_in_docker_order() -> None:
    config = {
        "Cmd": ["sh"],
        "Image": "busybox",
        "Hostname": "abc",
        "Labels": {"a": "1"},
        "StopSignal": "SIGINT",
        "Healthcheck": {"Test": ["CMD", "true"]},
        "Custom": 1,
    }
    got = views.inspect(rec(config=config))["Config"]
    assert list(got) == [
        "Hostname",
        "Domainname",
        "User",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "Env",
        "Cmd",
        "Healthcheck",
        "Image",
        "Volumes",
        "WorkingDir",
        "Entrypoint",
        "OnBuild",
        "Labels",
        "StopSignal",
        "Custom",  # unknown keys are kept, last
    ]
    assert got["Hostname"] == "abc" and got["Env"] is None and got["Labels"] == {"a": "1"}
    # omitempty fields appear once set; StopTimeout is a pointer: 0 shows
    with_more = views.inspect(rec(config={**config, "ExposedPorts": {"80/tcp": {}}, "StopTimeout": 0}))
    assert with_more["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert with_more["Config"]["StopTimeout"] == 0


def test_inspect_host_config_fills_docker_defaults_around_stored_values() -> None:
    stored = MappingProxyType({"Memory": 1 << 20, "CapAdd": ["CAP_NET_ADMIN"], "Init": None, "Sysctls": None})
    got = views.inspect(rec(host_config=stored, runtime="runc"))["HostConfig"]
    keys = list(got)
    assert keys[:4] == ["Binds", "ContainerIDFile", "LogConfig", "NetworkMode"]
    assert keys[-2:] == ["MaskedPaths", "ReadonlyPaths"]
    assert keys.index("Runtime") < keys.index("Isolation") < keys.index("CpuShares") < keys.index("Ulimits")
    assert (
        "Init" not in got and "Sysctls" not in got and "Annotations" not in got and "KernelMemory" not in got
    )
    assert got["Memory"] == 1 << 20 and got["CapAdd"] == ["CAP_NET_ADMIN"]
    assert got["Runtime"] == "runc"  # from the record
    assert got["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert got["ShmSize"] == 64 * 1024 * 1024 and got["PidsLimit"] is None
    got["LogConfig"]["Config"]["x"] = "y"  # a fresh copy: the defaults stay intact
    assert views.inspect(rec())["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert views.inspect(rec(host_config={"Init": True}))["HostConfig"]["Init"] is True


def test_inspect_running_with_health_paths_and_sizes() -> None:
    health = {"Status": "healthy", "FailingStreak": 0, "Log": [{"Start": "s", "End": "e", "ExitCode": 0}]}
    r = rec(**RUNNING, health=MappingProxyType(health), restart_count=2)
    got = views.inspect(
        r,
        graph_driver={"UpperDir": "/u", "MergedDir": "/m"},
        files={"LogPath": "/l/x-json.log", "HostsPath": "/l/hosts"},
        size_rw=10,
        size_root_fs=20,
    )
    state = got["State"]
    assert list(state) == [*STATE_KEYS, "Health"]
    assert (state["Status"], state["Running"], state["Paused"], state["Pid"]) == ("running", True, False, 42)
    assert state["StartedAt"] == RUNNING["started_at"] and state["FinishedAt"] == ZERO_TIME
    assert state["Health"] == health
    assert got["RestartCount"] == 2
    assert got["GraphDriver"] == {"Data": {"UpperDir": "/u", "MergedDir": "/m"}, "Name": "overlay2"}
    assert (got["LogPath"], got["HostsPath"], got["ResolvConfPath"]) == ("/l/x-json.log", "/l/hosts", "")
    keys = list(got)
    assert keys[keys.index("GraphDriver") + 1 : keys.index("Mounts")] == ["SizeRw", "SizeRootFs"]
    assert (got["SizeRw"], got["SizeRootFs"]) == (10, 20)


def test_inspect_paused_exited_restarting_and_dead_flags() -> None:
    paused = views.inspect(rec(**PAUSED))["State"]
    assert (paused["Status"], paused["Running"], paused["Paused"]) == ("paused", True, True)
    exited = views.inspect(rec(**EXITED, oom_killed=True, error="boom"))["State"]
    assert (exited["Status"], exited["Running"], exited["ExitCode"]) == ("exited", False, 137)
    assert (exited["OOMKilled"], exited["Error"], exited["FinishedAt"]) == (
        True,
        "boom",
        EXITED["finished_at"],
    )
    restarting = views.inspect(rec(status="restarting"))["State"]
    assert (restarting["Running"], restarting["Restarting"]) == (True, True)
    assert views.inspect(rec(status="dead"))["State"]["Dead"] is True


def test_inspect_image_ref_overrides_the_image_shown() -> None:
    assert views.inspect(rec(), image_ref="sha256:" + "cd" * 32)["Image"] == "sha256:" + "cd" * 32


# --------------------------------------------------------------------------- STATUS


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "Created"),
        (RUNNING, "Up 2 minutes"),
        ({**RUNNING, "started_at": iso(-0.5)}, "Up Less than a second"),
        ({**RUNNING, "started_at": iso(-1)}, "Up 1 second"),
        ({**RUNNING, "started_at": iso(-61)}, "Up About a minute"),
        ({**RUNNING, "started_at": iso(-3600)}, "Up About an hour"),
        ({**RUNNING, "started_at": iso(-3 * 86400)}, "Up 3 days"),
        ({**RUNNING, "started_at": iso(-20 * 86400)}, "Up 2 weeks"),
        ({**RUNNING, "health": {"Status": "healthy"}, "started_at": iso(-3)}, "Up 3 seconds (healthy)"),
        ({**RUNNING, "health": {"Status": "unhealthy"}}, "Up 2 minutes (unhealthy)"),
        ({**RUNNING, "health": {"Status": "starting"}}, "Up 2 minutes (health: starting)"),
        (PAUSED, "Up 2 minutes (Paused)"),
        ({"status": "restarting", "exit_code": 1, "finished_at": iso(-5)}, "Restarting (1) 5 seconds ago"),
        (EXITED, "Exited (137) 2 hours ago"),
        ({**EXITED, "exit_code": 0, "finished_at": iso(-50 * 3600)}, "Exited (0) 2 days ago"),
        ({"status": "exited", "started_at": iso(-10)}, ""),  # started, no finish time: docker's ""
        ({"status": "exited", "exit_code": 127}, "Created"),  # never started
        ({"status": "removing"}, "Removal In Progress"),
        ({"status": "dead"}, "Dead"),
    ],
)
def test_status_text(fields: dict[str, Any], expected: str) -> None:
    assert views.status_text(rec(**fields), NOW) == expected


def test_times_parse_offsets_and_nanoseconds() -> None:
    base = views._unix_ns("2024-05-01T10:00:00Z")
    assert base == int(NOW) * 10**9
    assert views._unix_ns("2024-05-01T12:00:00.5+02:00") == base + 500_000_000
    assert views._unix_ns("2024-05-01T09:00:00.000000001-01:00") == base + 1
    assert views._unix_ns("1969-12-31T23:59:59Z") == -(10**9)
    assert views._unix_ns("garbage") == 0


# --------------------------------------------------------------------------- ps rows


def test_ps_row_fields(utc: None) -> None:
    r = rec(**RUNNING, labels=MappingProxyType({"b": "2", "a": "1"}), created="2024-05-01T09:58:00.9Z")
    row = views.ps_row(r, now=NOW)
    assert row == {
        "ID": r.id[:12],
        "Image": "busybox",
        "Command": '"sleep 100"',
        "CreatedAt": "2024-05-01 09:58:00 +0000 UTC",
        "RunningFor": "2 minutes ago",
        "Ports": "",
        "State": "running",
        "Status": "Up 2 minutes",
        "Size": "0B",
        "Names": "c1",
        "Labels": "a=1,b=2",
        "Mounts": "",
        "Networks": "",
        "LocalVolumes": "0",
    }
    assert views.ps_row(r, now=NOW, no_trunc=True)["ID"] == r.id


def test_ps_row_created_at_is_local_time() -> None:
    import os

    old = os.environ.get("TZ")
    os.environ["TZ"] = "CET-1CEST,M3.5.0,M10.5.0/3"
    time.tzset()
    try:
        row = views.ps_row(rec(created="2024-01-02T03:04:05Z"), now=NOW)
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
    assert row["CreatedAt"] == "2024-01-02 04:04:05 +0100 CET"


def test_ps_row_command_is_quoted_and_cut_at_20_columns() -> None:
    long = rec(config={"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["while true; do sleep 1; done"]})
    assert views.command_text(long) == "/bin/sh -c 'while true; do sleep 1; done'"
    assert views.ps_row(long, now=NOW)["Command"] == '"/bin/sh -c \'while t…"'
    assert views.ps_row(long, now=NOW, no_trunc=True)["Command"] == (
        "\"/bin/sh -c 'while true; do sleep 1; done'\""
    )
    exactly = rec(config={"Cmd": ["x" * 20]})
    assert views.ps_row(exactly, now=NOW)["Command"] == '"' + "x" * 20 + '"'
    tabbed = rec(config={"Cmd": ["echo", "a\tb"]})
    assert views.ps_row(tabbed, now=NOW)["Command"] == '"echo a\\tb"'  # Go's strconv.Quote
    assert views.ps_row(rec(config={}), now=NOW)["Command"] == '""'


def test_ellipsis_counts_wide_characters_as_two_columns() -> None:
    assert views._ellipsis("日本語のテキストです", 20) == "日本語のテキストです"  # exactly 20 columns
    assert views._ellipsis("日本語のテキストですよ", 20) == "日本語のテキストで…"
    assert views._ellipsis("é" * 25, 20) == "é" * 19 + "…"


@pytest.mark.parametrize(
    ("image", "no_trunc", "expected"),
    [
        ("busybox", False, "busybox"),
        ("docker.io/library/busybox:1.36", False, "busybox:1.36"),
        ("busybox:1.36@sha256:" + "1" * 64, False, "busybox:1.36"),
        ("busybox@sha256:" + "1" * 64, False, "busybox"),
        ("busybox@sha256:" + "1" * 64, True, "busybox@sha256:" + "1" * 64),
        (IMAGE_ID, False, "ab" * 6),
        (IMAGE_ID, True, IMAGE_ID),
        ("abababababab", False, "abababababab"),
        ("Not A Ref", False, "Not A Ref"),
        ("", False, "<no image>"),
    ],
)
def test_ps_row_image(image: str, no_trunc: bool, expected: str) -> None:
    assert views.ps_row(rec(image_name=image), now=NOW, no_trunc=no_trunc)["Image"] == expected


def test_ps_row_image_override_and_size() -> None:
    row = views.ps_row(rec(), now=NOW, image=IMAGE_ID, size_rw=1234, size_root_fs=4_260_000)
    assert row["Image"] == "ab" * 6
    assert row["Size"] == "1.23kB (virtual 4.26MB)"


def test_ps_order_is_newest_first_to_the_nanosecond_and_stable() -> None:
    a = rec(1, created="2024-05-01T10:00:00.1Z")
    b = rec(2, created="2024-05-01T10:00:00.15Z")  # later, though it sorts lower as text
    c = rec(3, created="2024-05-01T10:00:00.1Z")
    assert [r.name for r in views.ps_order([a, b, c])] == ["c2", "c1", "c3"]


def test_parse_filters() -> None:
    got = views.parse_filters([" Status = running", "status=exited", "status=running", "", "label=a=b"])
    assert got == {"status": ["running", "exited"], "label": ["a=b"]}
    with pytest.raises(InvalidArgument, match=r"^bad format of filter \(expected name=value\)$"):
        views.parse_filters(["status"])


def listed(records: Iterable[ContainerRecord], *flags: str, **kwargs: Any) -> list[str]:
    return [r.name for r in views.ps_list(records, views.parse_filters(flags), **kwargs)]


@pytest.fixture
def fleet() -> list[ContainerRecord]:
    """c1 oldest .. c5 newest: created, running (web), paused, exited 137, exited 0."""
    return [
        rec(1),
        rec(2, **RUNNING, name="web", labels={"tier": "front", "env": "prod"}, image_name="nginx:1.25"),
        rec(3, **PAUSED, labels={"tier": "back"}, health={"Status": "healthy"}),
        rec(4, **EXITED),
        rec(5, **{**EXITED, "exit_code": 0}),
    ]


def test_ps_list_defaults_to_running_containers(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet) == ["c3", "web"]  # running includes paused, as docker's Running flag
    assert listed(fleet, show_all=True) == ["c5", "c4", "c3", "web", "c1"]
    assert listed(fleet, limit=2) == ["c5", "c4"]  # -n implies -a
    assert listed(fleet, "status=exited") == ["c5", "c4"]  # a status filter implies -a


def test_filter_status(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "status=created", "status=paused") == ["c3", "c1"]
    with pytest.raises(InvalidArgument, match=r"^Invalid filter 'status=up'$"):
        listed(fleet, "status=up")


def test_filter_unknown_key(fleet: list[ContainerRecord]) -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'colour'$"):
        listed(fleet, "colour=red")


def test_filter_id(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "id=44", show_all=True) == ["c4"]
    assert listed(fleet, "id=" + "5" * 64, "id=2", show_all=True) == ["c5", "web"]
    ambiguous = [rec(1, id="ab" + "0" * 62), rec(2, id="ab" + "1" * 62)]
    assert listed(ambiguous, "id=ab", show_all=True) == []  # a prefix must name one container
    assert listed(ambiguous, "id=ab0", show_all=True) == ["c1"]
    assert listed(fleet, "id=", show_all=True) == []


def test_filter_name_is_a_regular_expression(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "name=c", show_all=True) == ["c5", "c4", "c3", "c1"]  # substring
    assert listed(fleet, "name=^/web$", show_all=True) == ["web"]  # with docker's leading slash
    assert listed(fleet, "name=^web", show_all=True) == ["web"]  # and without
    assert listed(fleet, "name=[", "name=c4", show_all=True) == ["c4"]  # a bad expression is skipped
    assert listed(fleet, "name=c4", "name=web", show_all=True) == ["c4", "web"]  # values OR


def test_filter_label(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "label=tier", show_all=True) == ["c3", "web"]
    assert listed(fleet, "label=tier=back", show_all=True) == ["c3"]
    assert listed(fleet, "label=tier", "label=env=prod", show_all=True) == ["web"]  # values AND
    assert listed(fleet, "label=tier=", show_all=True) == []


def test_filter_exited(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "exited=137", show_all=True) == ["c4"]
    assert listed(fleet, "exited=0", show_all=True) == ["c5"]  # not c1 (never started) nor running ones
    assert listed(fleet, "exited=0", "exited=137", show_all=True) == ["c5", "c4"]
    with pytest.raises(InvalidArgument, match=r'^strconv.Atoi: parsing "x": invalid syntax$'):
        listed(fleet, "exited=x")


def test_filter_health(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "health=healthy", show_all=True) == ["c3"]
    assert listed(fleet, "health=none", show_all=True) == ["c5", "c4", "web", "c1"]
    with pytest.raises(InvalidArgument, match=r"^Unrecognised filter value for health: ok$"):
        listed(fleet, "health=ok")


def test_filter_before_and_since(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "before=c3", show_all=True) == ["web", "c1"]
    assert listed(fleet, "since=web", show_all=True) == ["c5", "c4", "c3"]
    assert listed(fleet, "since=/c1", "before=c4", show_all=True) == ["c3", "web"]
    assert listed(fleet, "before=" + fleet[2].id, show_all=True) == ["web", "c1"]
    with pytest.raises(NotFound, match=r"^No such container: nope$"):
        listed(fleet, "before=nope")
    with pytest.raises(NotFound, match=r"^No such container: 33$"):  # a prefix is not enough here
        listed(fleet, "since=33")


def test_filter_ancestor_with_a_resolver(fleet: list[ContainerRecord]) -> None:
    child = "sha256:" + "cd" * 32
    fleet = [*fleet, rec(6, image_id=child)]
    known = {"busybox": [IMAGE_ID, child]}

    def resolve(ref: str) -> list[str]:
        if ref not in known:
            raise NotFound(f"No such image: {ref}")
        return known[ref]

    assert listed(fleet, "ancestor=busybox", show_all=True, resolve_image=resolve) == [
        "c6",
        "c5",
        "c4",
        "c3",
        "web",
        "c1",
    ]
    assert listed(fleet, "ancestor=nope", show_all=True, resolve_image=resolve) == []


def test_filter_ancestor_without_a_resolver(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "ancestor=nginx:1.25", show_all=True) == ["web"]
    assert listed(fleet, "ancestor=docker.io/library/busybox:latest", show_all=True) == [
        "c5",
        "c4",
        "c3",
        "c1",
    ]
    assert listed(fleet, "ancestor=" + IMAGE_ID, show_all=True) == ["c5", "c4", "c3", "web", "c1"]
    assert len(listed(fleet, "ancestor=abab", show_all=True)) == 5  # an ID prefix
    assert listed(fleet, "ancestor=nginx", show_all=True) == []  # nginx:latest is another image


def test_filters_for_what_pinnace_containers_do_not_have_yet(fleet: list[ContainerRecord]) -> None:
    assert listed(fleet, "is-task=false", show_all=True) == ["c5", "c4", "c3", "web", "c1"]
    assert listed(fleet, "is-task=true", show_all=True) == []
    with pytest.raises(InvalidArgument, match=r"^Invalid filter 'is-task=\[maybe\]'$"):
        listed(fleet, "is-task=maybe")
    assert listed(fleet, "isolation=default", show_all=True) == ["c5", "c4", "c3", "web", "c1"]
    assert listed(fleet, "volume=/data", show_all=True) == []
    assert listed(fleet, "network=bridge", show_all=True) == []
    assert listed(fleet, "publish=80", "expose=8000-8080/udp", show_all=True) == []
    with pytest.raises(InvalidArgument, match=r"^filter for 'publish' should not contain ':': 80:80$"):
        listed(fleet, "publish=80:80")
    with pytest.raises(
        InvalidArgument,
        match=r'^error while looking up for expose 8x: strconv.ParseUint: parsing "8x": invalid syntax$',
    ):
        listed(fleet, "expose=8x")
    with pytest.raises(
        InvalidArgument, match=r"^error while looking up for expose 9-8: invalid range specified"
    ):
        listed(fleet, "expose=9-8")


def test_matches_is_the_filter_of_one_record(fleet: list[ContainerRecord]) -> None:
    web, c3 = fleet[1], fleet[2]
    assert views.matches(web, {"name": ["web"]}, all_records=fleet)
    assert not views.matches(c3, {"name": ["web"]}, all_records=fleet)
    assert views.matches(fleet[0], {}, all_records=fleet)  # no running-only default here
    assert views.matches(web, {"before": ["c3"]}, all_records=fleet)
    assert not views.matches(c3, {"before": ["c3"]}, all_records=fleet)
    assert not views.matches(rec(9), {"since": ["c1"]}, all_records=fleet)  # not among all_records
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'x'$"):
        views.matches(web, {"x": ["1"]}, all_records=fleet)
