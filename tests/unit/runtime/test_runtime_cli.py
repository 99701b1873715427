"""``pinnace-runtime``: runc's global flags, ``spec``, ``features``, and honest failure for the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace.runtime.cli import UsageError, parse_flags, run
from pinnace.runtime.spec import load_spec

SRC = Path(__file__).resolve().parents[3] / "src"


def runtime(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinnace.runtime.cli", *argv], capture_output=True, text=True, cwd=cwd
    )


def test_spec_writes_a_config_load_spec_accepts(tmp_path: Path) -> None:
    proc = runtime("spec", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    text = (tmp_path / "config.json").read_text()
    assert text.startswith('{\n\t"ociVersion": "1.2.0"')  # tab-indented, as runc writes it
    spec = load_spec(tmp_path / "config.json")
    assert spec["root"]["path"] == "rootfs"
    assert "user" not in [ns["type"] for ns in spec["linux"]["namespaces"]]


def test_spec_bundle_and_rootless(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert run(["spec", "--rootless", "-b", str(tmp_path / "a")]) == 0
    assert run(["--root", str(tmp_path / "state"), "spec", f"--bundle={tmp_path / 'b'}", "-rootless"]) == 0
    for name in ("a", "b"):
        spec = load_spec(tmp_path / name / "config.json")
        assert "user" in [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert not (tmp_path / "state").exists()  # spec needs no state directory


def test_spec_refuses_an_existing_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("mine")
    proc = runtime("spec", cwd=tmp_path)
    assert proc.returncode == 1
    assert "File config.json exists. Remove it first" in proc.stderr
    assert (tmp_path / "config.json").read_text() == "mine"


def test_spec_into_a_missing_bundle_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["spec", "-b", str(tmp_path / "nope")]) == 1
    assert "No such file or directory" in capsys.readouterr().err


def test_spec_takes_no_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["spec", "-b", str(tmp_path), "extra"]) == 1
    assert '"spec" requires exactly 0 argument(s)' in capsys.readouterr().err
    assert not (tmp_path / "config.json").exists()


def test_errors_go_to_the_log_file_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.json").write_text("{}")
    log = tmp_path / "runtime.log"
    assert run(["--log", str(log), "--log-format=json", "spec", "-b", str(tmp_path)]) == 1
    record = json.loads(log.read_text())
    assert record["level"] == "error"
    assert record["msg"] == "File config.json exists. Remove it first"
    assert "File config.json exists" in capsys.readouterr().err
    assert run(["--log", str(log), "spec", "-b", str(tmp_path)]) == 1
    assert 'level=error msg="File config.json exists. Remove it first"' in log.read_text().splitlines()[1]


def test_features_prints_indented_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["features"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('{\n    "ociVersionMin": "1.0.0",')
    doc = json.loads(out)
    assert doc["ociVersionMax"] == "1.2.0"
    assert "CAP_SYS_ADMIN" in doc["linux"]["capabilities"]


def test_version() -> None:
    for flag in ("--version", "-v"):
        proc = runtime(flag)
        assert proc.returncode == 0
        assert proc.stdout.splitlines() == ["pinnace-runtime version 0.1.0", "spec: 1.2.0"]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    assert "GLOBAL OPTIONS:" in capsys.readouterr().out
    assert run(["spec", "-h"]) == 0
    assert "--rootless" in capsys.readouterr().out
    assert run(["help", "features"]) == 0
    assert "features - show the enabled features" in capsys.readouterr().out


def test_unknown_verb_fails_loudly() -> None:
    proc = runtime("--root", "/nonexistent", "frob", "ctr")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == "pinnace-runtime: No help topic for 'frob'\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["start"], '"start" requires exactly 1 argument(s)'),
        (["state", "a", "b"], '"state" requires exactly 1 argument(s)'),
        (["kill", "a", "KILL", "x"], '"kill" requires a maximum of 2 argument(s)'),
        (["exec"], '"exec" requires a minimum of 1 argument(s)'),
        (["list", "x"], '"list" requires exactly 0 argument(s)'),
    ],
)
def test_argument_counts(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--root", str(tmp_path), *argv]) == 1
    assert message in capsys.readouterr().err


def test_verbs_on_a_missing_container(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for verb in ("state", "start", "kill", "delete", "pause", "resume", "ps"):
        assert run(["--root", str(tmp_path), verb, "nosuch"]) == 1
        assert "container does not exist: nosuch" in capsys.readouterr().err
    assert run(["--root", str(tmp_path), "delete", "--force", "nosuch"]) == 0
    assert run(["--root", str(tmp_path), "state", "../x"]) == 1
    assert "invalid id format: ../x" in capsys.readouterr().err
    assert run(["--root", str(tmp_path), "list"]) == 0
    assert capsys.readouterr().out.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


def test_verb_help_lists_runc_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["create", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in (
        "--bundle value, -b value",
        "--console-socket",
        "--pid-file",
        "--no-pivot",
        "--preserve-fds",
    ):
        assert flag in out
    assert run(["help"]) == 0
    listed = capsys.readouterr().out
    for verb in (
        "create",
        "start",
        "state",
        "kill",
        "delete",
        "run",
        "exec",
        "list",
        "pause",
        "resume",
        "ps",
        "events",
        "update",
        "spec",
        "features",
    ):
        assert f"\n   {verb} " in listed


def test_systemd_cgroup_is_refused() -> None:
    proc = runtime("--systemd-cgroup", "features")
    assert proc.returncode == 1
    assert "systemd cgroup driver is not supported" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus", "spec"], "flag provided but not defined: -bogus"),
        (["spec", "--bogus"], "flag provided but not defined: -bogus"),
        (["--root"], "flag needs an argument: -root"),
        (["--log-format", "xml", "features"], "invalid log-format: xml"),
        (["--debug=maybe", "features"], 'invalid boolean value "maybe" for -debug'),
    ],
)
def test_bad_flags(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 1
    assert message in capsys.readouterr().err


def test_go_flag_syntax() -> None:
    flags = {"root": True, "debug": False}
    assert parse_flags(["-root", "/r", "--debug", "create", "--debug"], flags) == (
        {"root": "/r", "debug": True},
        ["create", "--debug"],
    )
    assert parse_flags(["--root=/r", "--debug=false", "--", "-x"], flags) == (
        {"root": "/r", "debug": False},
        ["-x"],
    )
    with pytest.raises(UsageError):
        parse_flags(["--nope"], flags)


def test_version_imports_stay_light() -> None:
    """The runtime starts per container: --version must not pull json or typing."""
    code = (
        f"import sys; sys.path[:0] = [{str(SRC)!r}]\n"
        "from pinnace.runtime.cli import run\n"
        "import io; out, sys.stdout = sys.stdout, io.StringIO(); run(['--version']); sys.stdout = out\n"
        "print(sorted(m for m in ('json', 'typing', 're', 'dataclasses', 'pathlib') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_debug_logs_each_command(tmp_path: Path) -> None:
    log = tmp_path / "debug.log"
    proc = runtime(
        "--root", str(tmp_path), "--debug", "--log", str(log), "--log-format", "json", "list", "-q"
    )
    assert proc.returncode == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["level"] for r in records] == ["debug", "debug"]
    assert records[0]["msg"] == "list -q"
    assert records[1]["msg"].startswith("list exited 0 after ")
    quiet = runtime("--root", str(tmp_path), "--debug", "list", "-q")
    assert "level=debug" in quiet.stderr


def test_exec_in_a_missing_container_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--root", str(tmp_path), "exec", "nope", "true"]) == 1
    assert "pinnace-runtime: container does not exist: nope" in capsys.readouterr().err
