"""OCI hooks: what a hook process receives (argv, env, stdin, fds), how failures read, timeouts, checks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from pinnace.errors import FailedPrecondition, InvalidArgument
from pinnace.runtime.hooks import run_hooks, run_hooks_warn, validate_hooks

STATE: dict[str, Any] = {
    "ociVersion": "1.2.0",
    "id": "c1",
    "status": "creating",
    "pid": 4242,
    "bundle": "/tmp/bundle",
    "annotations": {"org.example.key": "value"},
}


def script(tmp_path: Path, name: str, body: str) -> str:
    """An executable ``#!/bin/sh`` hook at tmp_path/name; ``$OUT`` in ``body`` is tmp_path."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\nOUT='{tmp_path}'\n{body}\n")
    path.chmod(0o755)
    return str(path)


def spec_with(phase: str, *hooks: dict[str, Any]) -> dict[str, Any]:
    return {"ociVersion": "1.2.0", "hooks": {phase: list(hooks)}}


def failure(spec: dict[str, Any], phase: str) -> str:
    with pytest.raises(FailedPrecondition) as info:
        run_hooks(spec, phase, STATE)
    message = str(info.value)
    assert "\n" not in message
    return message


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_hook_gets_the_state_on_stdin_its_args_and_exactly_its_env(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        "hook.sh",
        '/bin/cat > "$OUT/stdin"\n'
        'for a in "$@"; do printf "%s\\n" "$a"; done > "$OUT/args"\n'
        '/bin/cat /proc/$$/environ > "$OUT/environ"',
    )
    hook = {
        "path": path,
        "args": ["hook", "one", "two words", "--flag"],
        "env": ["FOO=bar", "EMPTY=", "X=a=b"],
    }
    os.environ["PINNACE_TEST_LEAK"] = "1"
    try:
        run_hooks(spec_with("createRuntime", hook), "createRuntime", STATE)
    finally:
        del os.environ["PINNACE_TEST_LEAK"]
    assert json.loads((tmp_path / "stdin").read_text()) == STATE
    # A shebang script loses argv[0] to the interpreter; the rest arrive as given.
    assert (tmp_path / "args").read_text().splitlines() == ["one", "two words", "--flag"]
    assert (tmp_path / "environ").read_bytes().split(b"\0")[:-1] == [b"FOO=bar", b"EMPTY=", b"X=a=b"]


def test_args_is_the_whole_argv_including_argv0(tmp_path: Path) -> None:
    code = f"/bin/cat /proc/$$/cmdline > '{tmp_path}/cmdline'"
    hook = {"path": "/bin/sh", "args": ["custom-name", "-c", code]}
    run_hooks(spec_with("poststart", hook), "poststart", STATE)
    assert (tmp_path / "cmdline").read_bytes().split(b"\0")[:-1] == [b"custom-name", b"-c", code.encode()]


def test_without_args_argv_is_the_path_and_without_env_the_env_is_empty(tmp_path: Path) -> None:
    path = script(tmp_path, "bare.sh", '/bin/cat /proc/$$/environ > "$OUT/environ"; echo "$#" > "$OUT/argc"')
    run_hooks(spec_with("createContainer", {"path": path}), "createContainer", STATE)
    assert (tmp_path / "environ").read_bytes() == b""
    assert (tmp_path / "argc").read_text() == "0\n"


def test_hooks_run_in_order(tmp_path: Path) -> None:
    hooks = [{"path": script(tmp_path, f"h{i}.sh", f'echo {i} >> "$OUT/order"')} for i in range(3)]
    run_hooks(spec_with("startContainer", *hooks), "startContainer", STATE)
    assert (tmp_path / "order").read_text() == "0\n1\n2\n"


def test_the_hook_inherits_none_of_the_runtimes_fds(tmp_path: Path) -> None:
    secret = tmp_path / "runtime-only"
    secret.write_text("x")
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)  # so only close_fds keeps it out of the hook
    try:
        path = script(tmp_path, "fds.sh", '/bin/ls -l /proc/$$/fd/ > "$OUT/fds"')
        run_hooks(spec_with("createRuntime", {"path": path}), "createRuntime", STATE)
    finally:
        os.close(fd)
    fds = (tmp_path / "fds").read_text()
    assert str(secret) not in fds
    assert str(tmp_path / "fds") in fds  # the listing does show the targets


def test_no_hooks_is_a_no_op() -> None:
    run_hooks({"ociVersion": "1.2.0"}, "createRuntime", STATE)
    run_hooks({"ociVersion": "1.2.0", "hooks": {"poststop": []}}, "createRuntime", STATE)
    assert run_hooks_warn({"ociVersion": "1.2.0"}, "poststop", STATE) == []


def test_unknown_phase_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match=r"^hooks\.preStart: unknown hook"):
        run_hooks({"ociVersion": "1.2.0"}, "preStart", STATE)


def test_non_zero_exit_fails_with_status_and_output(tmp_path: Path) -> None:
    ok = script(tmp_path, "ok.sh", "exit 0")
    bad = script(tmp_path, "bad.sh", "echo hello; echo first >&2; echo second >&2; exit 3")
    message = failure(spec_with("createRuntime", {"path": ok}, {"path": bad}), "createRuntime")
    assert (
        message == "error running createRuntime hook #1: exit status 3, stdout: hello, stderr: first\\nsecond"
    )


def test_a_failing_hook_stops_the_ones_after_it(tmp_path: Path) -> None:
    bad = script(tmp_path, "bad.sh", "exit 1")
    later = script(tmp_path, "later.sh", ': > "$OUT/ran"')
    failure(spec_with("prestart", {"path": bad}, {"path": later}), "prestart")
    assert not (tmp_path / "ran").exists()


def test_killed_by_a_signal(tmp_path: Path) -> None:
    path = script(tmp_path, "term.sh", "kill -TERM $$")
    message = failure(spec_with("createContainer", {"path": path}), "createContainer")
    assert message.startswith("error running createContainer hook #0: signal: terminated, stdout: ")


def test_cannot_exec(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    message = failure(spec_with("createRuntime", {"path": missing}), "createRuntime")
    assert message == f"error running createRuntime hook #0: fork/exec {missing}: no such file or directory"
    not_executable = tmp_path / "plain"
    not_executable.write_text("#!/bin/sh\n")
    message = failure(spec_with("createRuntime", {"path": str(not_executable)}), "createRuntime")
    assert message.endswith(f"fork/exec {not_executable}: permission denied")


def test_timeout_kills_the_hook_and_its_children(tmp_path: Path) -> None:
    ok = script(tmp_path, "ok.sh", "exit 0")
    slow = script(tmp_path, "slow.sh", '/bin/sleep 5 & echo $! > "$OUT/pid"; wait')
    spec = spec_with("createRuntime", {"path": ok, "timeout": 1}, {"path": slow, "timeout": 1})
    start = time.monotonic()
    message = failure(spec, "createRuntime")
    elapsed = time.monotonic() - start
    assert message == "error running createRuntime hook #1: timeout after 1s"
    assert 0.9 <= elapsed < 3
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 2
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid), "the hook's sleep outlived the timeout"


def test_warn_mode_reports_failures_and_runs_every_hook(tmp_path: Path) -> None:
    bad = script(tmp_path, "bad.sh", "echo nope >&2; exit 1")
    missing = str(tmp_path / "missing")
    later = script(tmp_path, "later.sh", '/bin/cat > "$OUT/stdin"')
    spec = spec_with("poststop", {"path": bad}, {"path": missing}, {"path": "relative"}, {"path": later})
    warnings = run_hooks_warn(spec, "poststop", STATE)
    assert warnings == [
        "error running poststop hook #0: exit status 1, stdout: , stderr: nope",
        f"error running poststop hook #1: fork/exec {missing}: no such file or directory",
        "error running poststop hook #2: hooks.poststop[2].path: must be an absolute path",
    ]
    assert json.loads((tmp_path / "stdin").read_text()) == STATE


# -- validate_hooks ------------------------------------------------------------


def invalid(hooks: Any) -> str:
    with pytest.raises(InvalidArgument) as info:
        validate_hooks({"ociVersion": "1.2.0", "hooks": hooks})
    message = str(info.value)
    assert "\n" not in message
    return message


def test_validate_accepts_every_phase_and_field() -> None:
    hook = {"path": "/usr/bin/hook", "args": ["hook", "-x"], "env": ["A=1"], "timeout": 5}
    phases = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
    validate_hooks({"hooks": {phase: [hook, {"path": "/bin/true"}] for phase in phases}})
    validate_hooks({})
    validate_hooks({"hooks": {}})
    validate_hooks({"hooks": {"poststop": None}})


def test_validate_names_the_field() -> None:
    assert invalid({"createRuntime": [{"path": "hook"}]}) == (
        "hooks.createRuntime[0].path: must be an absolute path"
    )
    assert invalid({"poststop": [{"path": "/a"}, {"args": []}]}) == "hooks.poststop[1].path: missing"
    assert invalid({"poststop": [{"path": 7}]}) == "hooks.poststop[0].path: must be a string"
    assert invalid({"preStart": []}).startswith(
        "hooks.preStart: unknown hook (known: prestart, createRuntime"
    )
    assert invalid({"poststart": {"path": "/a"}}) == "hooks.poststart: must be a JSON array"
    assert invalid({"poststart": ["/a"]}) == "hooks.poststart[0]: must be a JSON object"
    assert invalid([]) == "hooks: must be a JSON object"
    assert (
        invalid({"prestart": [{"path": "/a", "args": "x"}]})
        == "hooks.prestart[0].args: must be an array of strings"
    )
    assert invalid({"prestart": [{"path": "/a", "env": ["A=1", 2]}]}) == (
        "hooks.prestart[0].env: must be an array of strings"
    )


@pytest.mark.parametrize("timeout", [0, -1, 1.5, "5", True])
def test_validate_timeout_is_a_positive_integer(timeout: object) -> None:
    message = invalid({"poststop": [{"path": "/a"}, {"path": "/b", "timeout": timeout}]})
    assert message == "hooks.poststop[1].timeout: must be a positive integer"


def test_unusable_argv_or_env_is_a_hook_failure_not_a_crash(tmp_path: Path) -> None:
    ok = script(tmp_path, "ok.sh", "exit 0")
    for hook in ({"path": ok, "args": ["ok", "a\0b"]}, {"path": ok, "env": ["A=b\0c"]}):
        message = failure(spec_with("createRuntime", hook), "createRuntime")
        assert message.startswith(f"error running createRuntime hook #0: fork/exec {ok}: ")
