"""The pure helpers of the volume commands: docker's ls order, filter flags, formatter rows, df row."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from pinnace.cli.flags import UsageError
from pinnace.cli.format import render
from pinnace.cli.volumes import (
    LS_HEADERS,
    LS_TABLE,
    VolumeRow,
    df_row,
    natural_key,
    parse_filters,
    prune_output,
    volume_row,
)
from pinnace.volumes.records import VolumeRecord


def rec(name: str, **labels: str) -> VolumeRecord:
    return VolumeRecord(name=name, created="2024-01-02T03:04:05Z", labels=MappingProxyType(labels))


def test_natural_order_as_sortorder() -> None:
    names = ["v10", "v2", "v1", "b", "a10b", "a9z", "v01", "v001", "1", "_x", "A", "a", "v", "10", "01"]
    assert sorted(names, key=natural_key) == [
        "1",
        "01",
        "10",
        "A",
        "_x",
        "a",
        "a9z",
        "a10b",
        "b",
        "v",
        "v1",
        "v01",
        "v001",
        "v2",
        "v10",
    ]
    # digits sort before any other character at the same place
    assert natural_key("a1") < natural_key("a-")
    assert natural_key("ab") < natural_key("abc")


def test_parse_filters() -> None:
    got = parse_filters([" Name = x ", "name=x", "label=a=b", "dangling=", ""], "-f, --filter", "volume ls")
    assert got == {"name": ["x"], "label": ["a=b"], "dangling": [""]}
    with pytest.raises(UsageError) as err:
        parse_filters(["oops"], "--filter", "volume prune")
    assert err.value.message == (
        'invalid argument "oops" for "--filter" flag: bad format of filter (expected name=value)'
    )
    assert err.value.command == "volume prune"


def test_rows_as_docker_formatter() -> None:
    row = volume_row(rec("v", b="2", a="1"), "/m/v/_data")
    assert row["Labels"] == "a=1,b=2" and row["Links"] == "N/A" and row["Size"] == "N/A"
    assert row["Scope"] == "local" and row["Driver"] == "local" and row["Mountpoint"] == "/m/v/_data"
    used = volume_row(rec("v"), "/m", (1500, 2))
    assert (used["Links"], used["Size"]) == ("2", "1.5kB")
    assert render([row], None, default_table=LS_TABLE, headers=LS_HEADERS) == (
        "DRIVER    VOLUME NAME\nlocal     v\n"
    )
    obj = VolumeRow(row, {"a": "1"})
    assert render([obj], '{{.Name}} {{.Label "a"}}/{{.Label "zz"}}', default_table="", headers={}) == "v 1/\n"
    assert json.loads(render([obj], "json", default_table="", headers={})) == row


def test_df_row_and_prune_output() -> None:
    assert df_row([]) == {
        "Type": "Local Volumes",
        "TotalCount": "0",
        "Active": "0",
        "Size": "0B",
        "Reclaimable": "0B",
    }
    usage = [(rec("a"), 1000, 0), (rec("b"), 500, 2), (rec("c"), 0, 0)]
    assert df_row(usage) == {
        "Type": "Local Volumes",
        "TotalCount": "3",
        "Active": "1",
        "Size": "1.5kB",
        "Reclaimable": "1kB (66%)",
    }
    assert prune_output([]) == ""
    assert prune_output(["x", "y"]) == "Deleted Volumes:\nx\ny\n\n"
