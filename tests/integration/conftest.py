"""Fixtures for the integration tests (root): the runtime bundle fixture and the container engine fixture."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.container_fixture import engine
from tests.integration.runtime_fixture import runtime

__all__ = ["engine", "runtime"]


def _nft_table() -> dict[str, list[object]] | None:
    """The ``ip pinnace`` table's sets and maps with their elements, or None when there is no table."""
    if shutil.which("nft") is None:
        return None
    proc = subprocess.run(
        ["nft", "-j", "list", "table", "ip", "pinnace"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None
    out: dict[str, list[object]] = {}
    for item in json.loads(proc.stdout).get("nftables", []):
        for kind in ("set", "map"):
            if kind in item:
                out[item[kind]["name"]] = list(item[kind].get("elem") or [])
    return out


def _our_interfaces() -> set[str]:
    """The host's interfaces named as the tests name theirs: bridges ``pnt`` + 6 hex digits, and the
    veths ``pnv*`` on them or on no bridge (a benchmark running beside the suite names its bridges
    with other letters)."""
    import re

    names = os.listdir("/sys/class/net")
    bridges = {n for n in names if re.fullmatch(r"pnt[0-9a-f]{6}", n)}
    veths = set()
    for name in names:
        if name.startswith("pnv"):
            try:
                master = os.path.basename(os.readlink(f"/sys/class/net/{name}/master"))
            except OSError:
                master = ""
            if not master or master in bridges:
                veths.add(name)
    return bridges | veths


@pytest.fixture(scope="session", autouse=True)
def no_firewall_left() -> Iterator[None]:
    """The suite leaves no pinnace firewall or interface behind: a table it made goes at the end, if
    nothing is left in it; no veth or bridge of the tests' naming that was not there before remains."""
    existed = _nft_table() is not None
    interfaces = _our_interfaces()
    yield
    assert _our_interfaces() - interfaces == set(), "interfaces left by the tests"
    table = _nft_table()
    if table is None or existed:
        return
    assert not any(table.values()), f"nftables elements left by the tests: {table}"
    subprocess.run(["nft", "delete", "table", "ip", "pinnace"], check=False)
