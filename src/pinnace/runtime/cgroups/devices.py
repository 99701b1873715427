"""Device cgroup rules: the kernel's v1 allowlist semantics, emulated as runc does.

An OCI ``linux.resources.devices`` list is a sequence of edits to an
allowlist (v1's ``devices.allow``/``devices.deny`` writes), applied in
order.  Replaying them here first gives the state they lead to, a
:class:`DeviceRules`: a default (allow or deny everything) plus exceptions
of the opposite action.  Both drivers work from that state:

* v1 writes only the difference between the cgroup's current state (read
  back from ``devices.list``) and the target (:func:`transition`), so an
  ``update`` of a running container does not deny every device for a moment
  the way "reset with ``a``, then re-add each rule" would;
* v2 has no allowlist files; :mod:`.ebpf` compiles the state into a
  ``BPF_PROG_TYPE_CGROUP_DEVICE`` program, so both versions enforce the same
  thing for the same spec.

Like runc, the list starts from "deny everything", and a rule that would
punch a hole in a wildcard exception is refused: v1 silently ignores such a
removal, which would leave the container with access its spec denies.
"""

from __future__ import annotations

import os

from pinnace._util.record import record
from pinnace.errors import InvalidArgument, Unavailable
from pinnace.runtime.cgroups import read_file, write_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TypeAlias

    #: An exception: (type "b"/"c", major, minor, access bits).
    Entry: TypeAlias = tuple[str, int, int, int]

#: Access bits, numbered as the kernel's BPF_DEVCG_ACC_* so the BPF program can use them as is.
MKNOD = 1
READ = 2
WRITE = 4
ALL = MKNOD | READ | WRITE
#: OCI ``access`` letters -> bits.
ACCESS_BITS = {"m": MKNOD, "r": READ, "w": WRITE}
#: major or minor matching every number (v1 spells it ``*``).
ANY = -1


def device_rule(allow: bool, kind: str, major: int | None, minor: int | None, access: str) -> dict[str, Any]:
    """One ``linux.resources.devices`` entry (a major or minor of None is left out: any)."""
    rule: dict[str, Any] = {"allow": allow, "type": kind}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    rule["access"] = access
    return rule


#: runc's libcontainer/specconv ``AllowedDevices``: what every container may
#: use whatever its spec says (the runtime appends them to the spec's rules).
RUNC_ALLOWED_DEVICES: tuple[dict[str, Any], ...] = (
    device_rule(True, "c", None, None, "m"),  # mknod of any char device
    device_rule(True, "b", None, None, "m"),  # mknod of any block device
    device_rule(True, "c", 1, 3, "rwm"),  # /dev/null
    device_rule(True, "c", 1, 8, "rwm"),  # /dev/random
    device_rule(True, "c", 1, 7, "rwm"),  # /dev/full
    device_rule(True, "c", 5, 0, "rwm"),  # /dev/tty
    device_rule(True, "c", 1, 5, "rwm"),  # /dev/zero
    device_rule(True, "c", 1, 9, "rwm"),  # /dev/urandom
    device_rule(True, "c", 136, None, "rwm"),  # /dev/pts/*
    device_rule(True, "c", 5, 2, "rwm"),  # /dev/ptmx
    device_rule(True, "c", 10, 200, "rwm"),  # /dev/net/tun
)


@record
class Rule:
    """One checked OCI ``linux.resources.devices`` entry."""

    allow: bool
    type: str  # "a" (every device), "b" or "c"
    major: int  # ANY or a number
    minor: int
    access: int  # MKNOD | READ | WRITE bits


@record
class DeviceRules:
    """The allowlist state a rule list leads to: a default and exceptions of the opposite action."""

    default_allow: bool
    exceptions: tuple[Entry, ...] = ()  # sorted by (major, minor, type), one per device key


def access_string(bits: int) -> str:
    """Access bits in the ``rwm`` spelling of devices.list."""
    return "".join(letter for letter, bit in (("r", READ), ("w", WRITE), ("m", MKNOD)) if bits & bit)


def rule_line(kind: str, major: int, minor: int, access: int) -> str:
    """v1's ``c 1:3 rwm`` syntax."""
    ma = "*" if major == ANY else str(major)
    mi = "*" if minor == ANY else str(minor)
    return f"{kind} {ma}:{mi} {access_string(access)}"


class _Table:
    """The mutable state replayed by :func:`emulate` and :func:`from_list`."""

    def __init__(self) -> None:
        self.default_allow = False
        self.table: dict[tuple[str, int, int], int] = {}

    def apply(self, rule: Rule, where: str) -> None:
        if rule.type == "a":  # the kernel reads only the "a": a reset of the whole list
            self.default_allow = rule.allow
            self.table = {}
            return
        key = (rule.type, rule.major, rule.minor)
        if rule.allow != self.default_allow:
            self.table[key] = self.table.get(key, 0) | rule.access
            return
        for wild in ((rule.type, ANY, rule.minor), (rule.type, rule.major, ANY), (rule.type, ANY, ANY)):
            held = self.table.get(wild, 0) & rule.access
            if wild != key and held:
                raise InvalidArgument(
                    f"{where}: rule {rule_line(*key, rule.access)} is not supported by devices cgroupv1"
                    f" (cannot punch hole in existing wildcard rule {rule_line(*wild, held)})"
                )
        left = self.table.pop(key, 0) & ~rule.access
        if left:
            self.table[key] = left

    def freeze(self) -> DeviceRules:
        order = sorted(self.table, key=lambda k: (k[1], k[2], k[0]))
        return DeviceRules(self.default_allow, tuple((*k, self.table[k]) for k in order))


def emulate(rules: Iterable[Rule], where: str = "linux.resources.devices") -> DeviceRules:
    """The state ``rules`` lead to from "deny everything"; InvalidArgument naming ``where[i]`` if one cannot apply."""
    state = _Table()
    for i, rule in enumerate(rules):
        state.apply(rule, f"{where}[{i}]")
    return state.freeze()


def from_list(text: str) -> DeviceRules:
    """A v1 cgroup's state from its ``devices.list``.

    The file lists what is allowed: a deny-default cgroup shows its
    exceptions, an allow-default one only ``a *:* rwm`` (its deny exceptions
    are invisible, which :func:`transition` accounts for).
    """
    state = _Table()
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        numbers, _, access = rest.partition(" ")
        ma, _, mi = numbers.partition(":")
        bits = 0
        for letter in access:
            bits |= ACCESS_BITS.get(letter, 0)
        if kind not in ("a", "b", "c") or not bits:
            raise InvalidArgument(f"devices.list: unexpected line {line!r}")
        try:
            major = ANY if ma == "*" else int(ma)
            minor = ANY if mi == "*" else int(mi)
        except ValueError:
            raise InvalidArgument(f"devices.list: unexpected line {line!r}") from None
        state.apply(Rule(True, kind, major, minor, bits), "devices.list")
    return state.freeze()


def transition(current: DeviceRules, target: DeviceRules) -> list[tuple[bool, str]]:
    """The v1 writes (allow?, line) that take a cgroup from ``current`` to ``target``.

    A reset (``a``) comes first only when the default changes, or when the
    cgroup allows by default and so may hold deny exceptions devices.list
    does not show; then only the exceptions that differ are written.
    """
    writes: list[tuple[bool, str]] = []
    old = {(k, ma, mi): bits for k, ma, mi, bits in current.exceptions}
    if current.default_allow or current.default_allow != target.default_allow:
        writes.append((target.default_allow, "a *:* rwm"))
        old = {}
    new = {(k, ma, mi): bits for k, ma, mi, bits in target.exceptions}
    for key, bits in old.items():
        dropped = bits & ~new.get(key, 0)
        if dropped:
            writes.append((target.default_allow, rule_line(*key, dropped)))
    for key, bits in new.items():
        gained = bits & ~old.get(key, 0)
        if gained:
            writes.append((not target.default_allow, rule_line(*key, gained)))
    return writes


def apply_v1(directory: str, target: DeviceRules) -> None:
    """Bring the v1 devices cgroup ``directory`` to ``target`` with the fewest writes, then check it.

    The check is runc's: the kernel may refuse nothing yet still end
    elsewhere (a parent that lacks an allowed device), and a container must
    not start with more device access than its spec gives it.
    """
    listing = os.path.join(directory, "devices.list")
    for allow, line in transition(from_list(read_file(listing)), target):
        write_file(
            os.path.join(directory, "devices.allow" if allow else "devices.deny"), line, f"devices {line}"
        )
    after = from_list(read_file(listing))
    if after.default_allow != target.default_allow or (not target.default_allow and after != target):
        raise Unavailable(f"devices: {listing} does not match the rules written to it")
