"""Log drivers by name: the writer factory the monitor uses, paths, the none driver, options and attributes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace.errors import InvalidArgument, NotImplementedYet
from pinnace.logs import drivers
from pinnace.logs.common import format_record
from pinnace.logs.jsonfile import JsonFileWriter
from pinnace.logs.local import LocalWriter
from pinnace.logs.options import log_attrs, parse_local_opts, render_tag

SRC = Path(__file__).resolve().parents[3] / "src"
CID = "c0ffee" + "0" * 58
T0 = 1704164645123456789


def config(kind: str, **opts: str) -> dict[str, object]:
    return {"Type": kind, "Config": opts}


def test_paths_are_dockers(tmp_path: Path) -> None:
    d = str(tmp_path)
    assert drivers.log_path(config("json-file"), d, CID) == f"{d}/{CID}-json.log"
    assert drivers.log_path({}, d, CID) == f"{d}/{CID}-json.log"  # docker's default driver
    assert drivers.log_path(None, d, CID) == f"{d}/{CID}-json.log"
    assert drivers.log_path(config("local"), d, CID) == f"{d}/local-logs/container.log"
    assert drivers.log_path(config("none"), d, CID) == ""
    # inspect shows json-file's path only: docker keeps the local format's file private
    assert drivers.inspect_log_path(config("local"), d, CID) == ""
    assert drivers.inspect_log_path(config("json-file"), d, CID) == f"{d}/{CID}-json.log"


def test_open_writer_picks_the_format_and_its_rotation(tmp_path: Path) -> None:
    d = str(tmp_path)
    w = drivers.open_writer(config("json-file"), d, CID, attrs={"tag": "t"})
    assert isinstance(w, JsonFileWriter) and (w.max_size, w.max_file, w.compress) == (
        10 * 1024 * 1024,
        3,
        False,
    )
    w.write("stdout", b"one\n", T0)
    w.close()
    w = drivers.open_writer(config("local", **{"max-file": "2", "max-size": "1k"}), d, CID)
    assert isinstance(w, LocalWriter) and (w.max_size, w.max_file, w.compress) == (1000, 2, True)
    w.write("stderr", b"two\n", T0)
    w.close()
    assert oct(os.stat(tmp_path / "local-logs").st_mode & 0o777) == "0o700"
    json_recs = list(drivers.read_logs(config("json-file"), d, CID))
    assert [(r.data, r.attrs) for r in json_recs] == [(b"one\n", (("tag", "t"),))]
    assert [(r.stream, r.data) for r in drivers.read_logs(config("local"), d, CID)] == [("stderr", b"two\n")]


def test_none_keeps_nothing_and_cannot_be_read(tmp_path: Path) -> None:
    w = drivers.open_writer(config("none"), str(tmp_path), CID)
    w.write("stdout", b"dropped\n")
    w.flush()
    w.close()
    assert os.listdir(tmp_path) == []
    with pytest.raises(NotImplementedYet, match="^configured logging driver does not support reading$"):
        drivers.read_logs(config("none"), str(tmp_path), CID)


@pytest.mark.parametrize(
    ("log_config", "message"),
    [
        (config("syslog"), "logger: no log driver named 'syslog' is registered"),
        (config("json-file", nope="1"), "unknown log opt 'nope' for json-file log driver"),
        (config("local", nope="1"), "unknown log opt 'nope' for log driver local"),
        (config("local", mode="fast"), "logger: logging mode not supported: fast"),
        (
            config("json-file", **{"max-buffer-size": "4m"}),
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
        (config("local", **{"max-file": "1"}), "compression cannot be enabled when max file count is 1"),
        (
            config("json-file", tag="{{.Nope}}"),
            'template: log-tag:1:2: executing "log-tag" at <.Nope>: '
            "can't evaluate field Nope in type *logger.Info",
        ),
    ],
)
def test_validate_refuses_what_docker_refuses(log_config: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        drivers.validate(log_config)
    assert str(err.value) == message


def test_validate_accepts_the_daemons_own_options() -> None:
    drivers.validate(config("json-file", mode="non-blocking", **{"max-buffer-size": "4m"}))
    drivers.validate(config("local", labels="a", env="B", tag="{{.Name}}"))
    drivers.validate(config("none"))
    drivers.validate(None)


@pytest.mark.parametrize(
    ("opts", "parsed"),
    [
        ({}, (20 * 1024 * 1024, 5, True)),
        ({"max-size": "10m", "max-file": "3"}, (10_000_000, 3, True)),
        ({"compress": "false", "max-file": "1"}, (20 * 1024 * 1024, 1, False)),
        ({"compress": "false", "max-file": "0"}, (20 * 1024 * 1024, 1, False)),  # truncated in place, as 1
        ({"max-size": "0"}, (None, 5, True)),
    ],
)
def test_local_opts_as_docker(opts: dict[str, str], parsed: tuple[int | None, int, bool]) -> None:
    assert parse_local_opts(opts) == parsed


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"max-size": "lots"}, "invalid value for max-size: lots: invalid size: 'lots'"),
        ({"max-file": "x"}, 'invalid value for max-file: x: strconv.Atoi: parsing "x": invalid syntax'),
        (
            {"compress": "yes"},
            'invalid boolean value for compress: strconv.ParseBool: parsing "yes": invalid syntax',
        ),
        ({"max-file": "-1", "compress": "false"}, "max-file must not be negative"),
    ],
)
def test_local_opt_errors(opts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_local_opts(opts)
    assert str(err.value) == message


def test_attrs_from_labels_env_and_tag() -> None:
    attrs = log_attrs(
        {
            "labels": "app,missing",
            "labels-regex": "^com\\.",
            "env": "FOO",
            "env-regex": "^X_",
            "tag": "{{.Name}}/{{.ID}}",
        },
        container_id=CID,
        name="/web",
        image_name="busybox",
        labels={"app": "shop", "com.example.tier": "front", "other": "no"},
        env=["FOO=bar=baz", "X_A=1", "Y=2", "BROKEN"],
    )
    assert attrs == {
        "app": "shop",
        "com.example.tier": "front",
        "FOO": "bar=baz",
        "X_A": "1",
        "tag": f"web/{CID[:12]}",
    }
    assert log_attrs({}, container_id=CID) == {}


def test_tag_templates() -> None:
    info = {"Name": "web", "ImageName": "busybox:latest", "ID": "abc"}
    assert render_tag("{{.ImageName}}|{{ .Name }}|{{.ID}}", info) == "busybox:latest|web|abc"
    assert render_tag("plain", info) == "plain"
    with pytest.raises(InvalidArgument, match="only"):
        render_tag("{{json .}}", info)


def test_details_print_the_attrs_docker_adds(tmp_path: Path) -> None:
    d = str(tmp_path)
    attrs = log_attrs(
        {"labels": "app", "env": "MODE"}, container_id=CID, labels={"app": "a b"}, env=["MODE=x&y"]
    )
    for kind in ("json-file", "local"):
        w = drivers.open_writer(config(kind, labels="app", env="MODE"), d, CID, attrs=attrs)
        w.write("stdout", b"hi\n", T0)
        w.close()
        (rec,) = drivers.read_logs(config(kind), d, CID)
        assert format_record(rec, details=True) == b"MODE=x%26y,app=a+b hi\n", kind


def test_the_writers_import_little(tmp_path: Path) -> None:
    """The monitor opens its writer through the factory: no json, re, zlib, datetime, pathlib or the reader."""
    code = (
        f"import sys; sys.path[:0] = [{str(SRC)!r}]\n"
        "from pinnace.logs.drivers import open_writer\n"
        "for kind in ('json-file', 'local', 'none'):\n"
        "    opts = {'max-size': '1k', 'compress': 'false'} if kind != 'none' else {}\n"
        "    w = open_writer({'Type': kind, 'Config': opts},\n"
        f"                    sys.argv[1], {CID!r}, attrs={{'tag': 'x'}})\n"
        "    for i in range(50): w.write('stdout', b'hello \\xff <world>\\n')\n"
        "    w.close()\n"
        "heavy = {'json', 're', 'zlib', 'datetime', 'pathlib', 'typing', 'dataclasses', 'threading',\n"
        "         'collections', 'pinnace.logs.reader', 'pinnace._util.gotime'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
