"""pinnace.runtime.linux.capabilities: the table, parsing, and reading sets (no root, nothing changed).

Setting capabilities changes the process for good, so that is tested in
tests/integration/test_process.py, in child interpreters.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pinnace.errors import InvalidArgument
from pinnace.runtime import features
from pinnace.runtime.linux import capabilities
from pinnace.runtime.linux.capabilities import NAMES, NUMBERS, names, parse


def test_table_numbers_match_linux_capability_h() -> None:
    assert NUMBERS["CAP_CHOWN"] == 0
    assert NUMBERS["CAP_SETPCAP"] == 8
    assert NUMBERS["CAP_NET_BIND_SERVICE"] == 10
    assert NUMBERS["CAP_SYS_ADMIN"] == 21
    assert NUMBERS["CAP_SYS_RESOURCE"] == 24
    assert NUMBERS["CAP_AUDIT_WRITE"] == 29
    assert NUMBERS["CAP_AUDIT_READ"] == 37
    assert NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40
    assert len(NAMES) == len(NUMBERS) == 41
    assert all(NAMES[n] == name for name, n in NUMBERS.items())


def test_features_lists_the_kernels_capabilities_from_the_same_table() -> None:
    assert features.capabilities() == list(NAMES[: capabilities.last_cap() + 1])


def test_last_cap_is_the_kernels() -> None:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert capabilities.last_cap() == int(f.read())


def test_last_cap_probe_without_proc_agrees() -> None:
    """The PR_CAPBSET_READ probe (used where /proc is missing) finds the same number."""
    code = (
        "import builtins\n"
        "from pinnace.runtime.linux import capabilities as c\n"
        "real = builtins.open\n"
        "def no_proc(path, *a, **k):\n"
        "    if str(path).startswith('/proc/sys'):\n"
        "        raise FileNotFoundError(path)\n"
        "    return real(path, *a, **k)\n"
        "builtins.open = no_proc\n"
        "print(c.last_cap())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == capabilities.last_cap()


def test_parse_builds_the_mask() -> None:
    mask = parse(
        ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_KILL"], "process.capabilities.bounding"
    )
    assert mask == (1 << 0) | (1 << 5) | (1 << 10)
    assert names(mask) == ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def test_parse_empty_and_missing() -> None:
    assert parse([], "process.capabilities.ambient") == 0
    assert parse(None, "process.capabilities.ambient") == 0


def test_parse_every_name_round_trips() -> None:
    everything = parse(list(NAMES), "f")
    assert names(everything) == list(NAMES[: capabilities.last_cap() + 1])


def test_parse_unknown_name_names_the_field() -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse(["CAP_CHOWN", "CAP_FOO"], "process.capabilities.bounding")
    assert str(exc.value) == 'process.capabilities.bounding: unknown capability "CAP_FOO"'


def test_parse_is_case_sensitive_like_runc() -> None:
    with pytest.raises(InvalidArgument, match='unknown capability "cap_chown"'):
        parse(["cap_chown"], "process.capabilities.effective")


def test_parse_rejects_wrong_types() -> None:
    with pytest.raises(InvalidArgument, match=r"^process\.capabilities\.effective: must be a JSON array$"):
        parse("CAP_CHOWN", "process.capabilities.effective")
    with pytest.raises(InvalidArgument, match=r"^process\.capabilities\.effective\[1\]: must be a string$"):
        parse(["CAP_CHOWN", 5], "process.capabilities.effective")


def test_parse_skips_names_the_kernel_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a kernel older than 5.9 (cap_last_cap 37), CAP_PERFMON..CAP_CHECKPOINT_RESTORE are skipped."""
    monkeypatch.setattr(capabilities, "_last", 37)
    mask = parse(["CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"], "f")
    assert names(mask) == ["CAP_AUDIT_READ"]


def test_current_parses_a_status_file(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        "Name:\tsh\nUid:\t0\t0\t0\t0\n"
        "CapInh:\t0000000000000000\n"
        "CapPrm:\t00000000a80425fb\n"
        "CapEff:\t00000000a80425fb\n"
        "CapBnd:\t000001ffffffffff\n"
        "CapAmb:\t0000000000000400\n"
        "NoNewPrivs:\t1\n"
    )
    assert capabilities.current(str(status)) == {
        "inheritable": 0,
        "permitted": 0xA80425FB,
        "effective": 0xA80425FB,
        "bounding": (1 << 41) - 1,
        "ambient": 1 << 10,
    }


def test_reads_agree_with_proc() -> None:
    """capget() and the PR_CAPBSET_READ bounding set say what /proc/self/status says."""
    proc = capabilities.current()
    assert set(proc) == set(capabilities.SETS)
    assert capabilities.capget() == (proc["effective"], proc["permitted"], proc["inheritable"])
    assert capabilities.bounding() == proc["bounding"]


def test_import_is_cheap() -> None:
    """Importing the two modules loads neither ctypes nor typing (the init starts once per container)."""
    code = (
        "import sys\n"
        "import pinnace.runtime.linux.capabilities, pinnace.runtime.linux.process\n"
        "heavy = ('ctypes', 'typing', 're', 'dataclasses', 'resource')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
