"""linux.resources checking, the device-rule emulator and the BPF program assembler (no root needed)."""

from __future__ import annotations

import struct

import pytest

from pinnace.errors import InvalidArgument, NotImplementedYet
from pinnace.runtime.cgroups import devices, ebpf
from pinnace.runtime.cgroups.devices import ANY, MKNOD, READ, WRITE, DeviceRules, Rule
from pinnace.runtime.cgroups.resources import (
    BlockIO,
    HugepageLimit,
    Throttle,
    WeightDevice,
    io_weight_from_blkio,
    parse,
)
from pinnace.runtime.defaults import DEVICE_RULES

RW = READ | WRITE
RWM = READ | WRITE | MKNOD


def test_parse_memory_cpu_and_pids() -> None:
    r = parse(
        {
            "memory": {"limit": 1 << 26, "swappiness": 10, "disableOOMKiller": True},
            "cpu": {"shares": 512, "burst": 1000, "idle": 1, "realtimeRuntime": -1, "realtimePeriod": 1000},
            "pids": {"limit": -1},
        }
    )
    assert (r.memory_limit, r.memory_swappiness, r.memory_disable_oom_killer) == (1 << 26, 10, True)
    assert (r.cpu_shares, r.cpu_burst, r.cpu_idle, r.cpu_realtime_runtime) == (512, 1000, 1, -1)
    assert r.pids_limit == -1
    assert parse({"memory": {"swappiness": -1}}).memory_swappiness is None  # Docker's "unset"


@pytest.mark.parametrize(
    ("resources", "kind", "message"),
    [
        (
            {"memory": {"swappiness": 101}},
            InvalidArgument,
            r"memory\.swappiness: invalid memory swappiness value: 101 \(valid range is 0-100\)",
        ),
        ({"memory": {"disableOOMKiller": 1}}, InvalidArgument, r"disableOOMKiller: must be true or false"),
        ({"cpu": {"idle": 2}}, InvalidArgument, r"cpu\.idle: invalid value 2"),
        ({"cpu": {"burst": -1}}, InvalidArgument, r"cpu\.burst: invalid value -1"),
        (
            {"blockIO": {"weight": 5}},
            InvalidArgument,
            r"blockIO\.weight: invalid value 5 \(must be between 10 and 1000\)",
        ),
        (
            {"blockIO": {"weightDevice": [{"major": 8, "weight": 100}]}},
            InvalidArgument,
            r"weightDevice\[0\]\.minor: is required",
        ),
        (
            {"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}},
            InvalidArgument,
            r"throttleReadBpsDevice\[0\]\.rate: is required",
        ),
        ({"blockIO": {"bogus": 1}}, InvalidArgument, r"blockIO\.bogus: unknown field"),
        (
            {"hugepageLimits": [{"pageSize": "2M", "limit": 1}]},
            InvalidArgument,
            r"hugepageLimits\[0\]\.pageSize: invalid hugepage size '2M'",
        ),
        (
            {"hugepageLimits": [{"pageSize": "2MB"}]},
            InvalidArgument,
            r"hugepageLimits\[0\]\.limit: is required",
        ),
        (
            {"devices": [{"allow": True}]},
            InvalidArgument,
            r"devices\[0\]\.access: device access at 0 field cannot be empty",
        ),
        (
            {"devices": [{"allow": True, "access": "rwx"}]},
            InvalidArgument,
            r"devices\[0\]\.access: invalid device access 'rwx'",
        ),
        (
            {"devices": [{"allow": True, "type": "p", "access": "r"}]},
            InvalidArgument,
            r"devices\[0\]\.type: invalid cgroup device type 'p'",
        ),
        ({"devices": [{"access": "r"}]}, InvalidArgument, r"devices\[0\]\.allow: is required"),
        ({"devices": {"allow": True}}, InvalidArgument, r"devices: must be an array"),
        ({"memory": {"kernel": 1}}, NotImplementedYet, r"memory\.kernel: not supported"),
        ({"network": {"classID": 1}}, NotImplementedYet, r"linux\.resources\.network: not supported"),
    ],
)
def test_parse_refuses(resources: dict[str, object], kind: type[Exception], message: str) -> None:
    with pytest.raises(kind, match=message):
        parse(resources)


def test_parse_block_io_and_hugepages() -> None:
    r = parse(
        {
            "blockIO": {
                "weight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
        }
    )
    assert r.block_io == BlockIO(
        weight=300,
        weight_device=(WeightDevice(8, 0, 500, None),),
        throttle_write_iops=(Throttle(8, 0, 100),),
    )
    assert r.hugepage_limits == (HugepageLimit("2MB", 4 << 20),)
    assert parse({"blockIO": {"weight": 0}}).block_io is None  # runc's "unset"
    assert io_weight_from_blkio(10) == 1 and io_weight_from_blkio(1000) == 10000


def test_empty_device_list_leaves_the_cgroup_alone() -> None:
    assert parse({"devices": []}).devices is None


def test_emulate_docker_defaults() -> None:
    """Docker's rules: deny by default, fuse denied (a no-op), the standard devices allowed, merged by key."""
    rules = parse({"devices": [dict(rule) for rule in DEVICE_RULES]}).devices
    assert rules is not None and not rules.default_allow
    table = {(k, ma, mi): bits for k, ma, mi, bits in rules.exceptions}
    assert table[("c", ANY, ANY)] == MKNOD and table[("b", ANY, ANY)] == MKNOD
    assert table[("c", 1, 3)] == RWM and table[("c", 136, ANY)] == RWM
    assert ("c", 10, 229) not in table
    assert len(rules.exceptions) == len(set(table))


def test_emulate_resets_and_removals() -> None:
    allow_all = Rule(True, "a", ANY, ANY, RWM)
    assert devices.emulate([]) == DeviceRules(False)  # runc starts from "deny everything"
    assert devices.emulate([allow_all]) == DeviceRules(True)
    state = devices.emulate([allow_all, Rule(False, "c", 1, 3, WRITE), Rule(False, "c", 1, 3, READ)])
    assert state == DeviceRules(True, (("c", 1, 3, RW),))
    # Allowing back part of a deny exception removes just that part.
    state = devices.emulate([allow_all, Rule(False, "c", 1, 3, RW), Rule(True, "c", 1, 3, WRITE)])
    assert state == DeviceRules(True, (("c", 1, 3, READ),))
    # A later "a" rule wipes every exception.
    assert devices.emulate([Rule(True, "c", 1, 3, RWM), Rule(False, "a", ANY, ANY, RWM)]) == DeviceRules(
        False
    )


def test_emulate_refuses_punching_holes_in_wildcards() -> None:
    with pytest.raises(
        InvalidArgument,
        match=r"devices\[1\]: rule c 1:3 r .*cannot punch hole in existing wildcard rule c \*:\* r",
    ):
        devices.emulate([Rule(True, "c", ANY, ANY, RWM), Rule(False, "c", 1, 3, READ)])


def test_from_list_reads_both_modes() -> None:
    assert devices.from_list("a *:* rwm") == DeviceRules(True)
    assert devices.from_list("c 1:3 rwm\nc *:* m\nb 8:0 r") == DeviceRules(
        False, (("c", ANY, ANY, MKNOD), ("c", 1, 3, RWM), ("b", 8, 0, READ))
    )
    with pytest.raises(InvalidArgument, match="devices.list: unexpected line"):
        devices.from_list("x 1:3 rwm")


def test_transition_is_minimal() -> None:
    target = DeviceRules(False, (("c", 1, 3, RWM), ("c", 1, 5, RWM)))
    # From the kernel's default (allow everything, deny exceptions unknown): a reset, then the allows.
    assert devices.transition(DeviceRules(True), target) == [
        (False, "a *:* rwm"),
        (True, "c 1:3 rwm"),
        (True, "c 1:5 rwm"),
    ]
    # Same default: only differences, so a running container never loses /dev/null meanwhile.
    current = DeviceRules(False, (("c", 1, 3, RWM), ("c", 1, 7, RWM), ("c", 1, 5, READ)))
    assert devices.transition(current, target) == [(False, "c 1:7 rwm"), (True, "c 1:5 wm")]
    assert devices.transition(target, target) == []
    # An allow-default target always starts with its reset: devices.list cannot show deny exceptions.
    assert devices.transition(DeviceRules(True), DeviceRules(True, (("b", 8, ANY, WRITE),))) == [
        (True, "a *:* rwm"),
        (False, "b 8:* w"),
    ]


def _decode(program: bytes) -> list[tuple[int, int, int, int, int]]:
    out = []
    for i in range(0, len(program), 8):
        code, regs, off, imm = struct.unpack_from("<BBhi", program, i)
        out.append((code, regs & 0xF, regs >> 4, off, imm))
    return out


def test_assemble_layout() -> None:
    """Prelude of 6 loads, a block per exception whose jumps land on the next block, then the default."""
    rules = DeviceRules(False, (("c", ANY, ANY, MKNOD), ("c", 1, 3, RWM)))
    insns = _decode(ebpf.assemble(rules))
    assert len(insns) == 6 + 6 + 5 + 2
    assert insns[-2:] == [(0xB4, 0, 0, 0, 0), (0x95, 0, 0, 0, 0)]  # r0 = 0 (deny); exit
    first = insns[6:12]
    assert first[0] == (0x56, 2, 0, 5, 2)  # if type != char: skip the 6-instruction block
    assert first[3][0] == 0x56 and first[3][3] == 2  # access check jumps to the block's end
    assert first[-2:] == [(0xB4, 0, 0, 0, 1), (0x95, 0, 0, 0, 0)]  # allow
    second = insns[12:17]
    assert [i[4] for i in second[:3]] == [2, 1, 3]  # type, major, minor; rwm needs no access check
    # Device numbers above 2**31 still fit: JMP32 compares the low 32 bits.
    big = _decode(ebpf.assemble(DeviceRules(True, (("b", 0xFFFFFFF0, ANY, RWM),))))
    assert big[7][4] == struct.unpack("<i", struct.pack("<I", 0xFFFFFFF0))[0]
