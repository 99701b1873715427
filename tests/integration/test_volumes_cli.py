"""The volume commands end to end (volume create/ls/inspect/rm/prune, system df/prune, inspect).

Every test runs the real ``pinnace`` entry point on a private store and
removes the volumes it made (the ``vols`` fixture checks none is left).  A
volume "in use" is a row in ``volume_users``, as a container's create writes
it, so these tests need no container; the fixture drops those rows first.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from pinnace.mount.flags import mount_points
from tests.conftest import Pinnace

pytestmark = pytest.mark.root

USER = "c" * 64  # the container a "used" volume is used by
ANON = "com.docker.volume.anonymous"


def names(p: Pinnace, *args: str) -> list[str]:
    return p.run("volume", "ls", "-q", *args).stdout.split()


def use(p: Pinnace, volume: str, container: str = USER) -> None:
    """Make ``container`` a user of ``volume``, the row a container's create writes."""
    with closing(sqlite3.connect(p.root / "pinnace.db")) as conn, conn:
        conn.execute("INSERT INTO volume_users (volume, container) VALUES (?, ?)", (volume, container))


def release(p: Pinnace) -> None:
    with closing(sqlite3.connect(p.root / "pinnace.db")) as conn, conn:
        conn.execute("DELETE FROM volume_users WHERE container = ?", (USER,))


def fill(p: Pinnace, volume: str, size: int) -> None:
    """Write ``size`` bytes into the volume's directory."""
    mountpoint = p.run("volume", "inspect", "-f", "{{.Mountpoint}}", volume).stdout.strip()
    Path(mountpoint, "data").write_bytes(b"x" * size)


@pytest.fixture
def vols(pinnace: Pinnace) -> Iterator[Pinnace]:
    """A store; at the end the fake users go and every volume is removed (none may refuse)."""
    yield pinnace
    if (pinnace.root / "pinnace.db").exists():
        release(pinnace)
    left = names(pinnace)
    if left:
        pinnace.run("volume", "rm", *left)
    assert names(pinnace) == []
    assert not [m for m in mount_points() if m.startswith(str(pinnace.root))]


# --------------------------------------------------------------------------- create


def test_create_named_random_and_idempotent(vols: Pinnace) -> None:
    assert vols.run("volume", "create", "data").stdout == "data\n"
    assert vols.run("volume", "create", "data").stdout == "data\n"  # docker's create is idempotent
    assert vols.run("volume", "create", "--name", "other").stdout == "other\n"
    random = vols.run("volume", "create").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", random)
    # a volume created without a name is anonymous, as the daemon labels it
    labels = json.loads(vols.run("volume", "inspect", "-f", "{{json .Labels}}", random).stdout)
    assert labels == {ANON: ""}
    assert sorted(names(vols)) == sorted(["data", "other", random])
    assert "--name" not in vols.run("volume", "create", "--help").stdout  # hidden, as docker's


def test_create_errors(vols: Pinnace) -> None:
    proc = vols.run("volume", "create", "--name", "a", "b", check=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        "conflicting options: cannot specify a volume-name through both --name and as a positional arg\n"
    )
    proc = vols.run("volume", "create", "a", "b", check=False)
    assert proc.returncode == 125
    assert proc.stderr.startswith('"pinnace volume create" requires at most 1 argument.\n')
    proc = vols.run("volume", "create", "--label", "=x", "y", check=False)
    assert proc.returncode == 125
    assert proc.stderr.startswith(
        'invalid argument "=x" for "--label" flag: invalid label \'=x\': empty name\n'
    )
    proc = vols.run("volume", "create", "-d", "nosuch", "y", check=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error response from daemon: create y: error looking up volume plugin nosuch: "
        'plugin "nosuch" not found\n'
    )
    proc = vols.run("volume", "create", "a/b", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error response from daemon: ")
    assert '"a/b" includes invalid characters for a local volume name' in proc.stderr
    assert names(vols) == []


def test_create_labels_and_options(vols: Pinnace) -> None:
    args = ["--label", "a=1", "--label", "b", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m"]
    assert vols.run("volume", "create", *args, "opts").stdout == "opts\n"
    [doc] = json.loads(vols.run("volume", "inspect", "opts").stdout)
    assert list(doc) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]
    assert doc["Driver"] == "local" and doc["Scope"] == "local" and doc["Name"] == "opts"
    assert doc["Labels"] == {"a": "1", "b": ""}
    assert doc["Options"] == {"device": "tmpfs", "o": "size=1m", "type": "tmpfs"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", doc["CreatedAt"])
    mountpoint = Path(doc["Mountpoint"])
    assert mountpoint == vols.root / "volumes" / "opts" / "_data"
    assert mountpoint.is_dir()
    # the tmpfs is mounted when a container first uses the volume, not at create
    assert str(mountpoint) not in mount_points()


# --------------------------------------------------------------------------- ls


@pytest.fixture
def three(vols: Pinnace) -> Pinnace:
    """v1 (label a=1), v2 (label a=2, b), v10 (in use), made in an order ls must not keep."""
    vols.run("volume", "create", "v10")
    vols.run("volume", "create", "--label", "a=2", "--label", "b", "v2")
    vols.run("volume", "create", "--label", "a=1", "v1")
    use(vols, "v10")
    return vols


def test_ls_table_quiet_and_natural_order(three: Pinnace) -> None:
    assert three.run("volume", "ls").stdout == (
        "DRIVER    VOLUME NAME\nlocal     v1\nlocal     v2\nlocal     v10\n"
    )
    assert three.run("volume", "list").stdout == three.run("volume", "ls").stdout
    assert names(three) == ["v1", "v2", "v10"]
    assert three.run("volume", "ls", "--format", "table", "-q").stdout == "v1\nv2\nv10\n"
    # -q yields to an explicit template, as docker's NewVolumeFormat
    assert three.run("volume", "ls", "-q", "--format", "{{.Name}}:{{.Driver}}").stdout.split() == [
        "v1:local",
        "v2:local",
        "v10:local",
    ]


def test_ls_format_fields(three: Pinnace) -> None:
    fmt = "{{.Name}}|{{.Driver}}|{{.Scope}}|{{.Labels}}|{{.Links}}|{{.Size}}"
    assert three.run("volume", "ls", "--format", fmt).stdout.splitlines() == [
        "v1|local|local|a=1|N/A|N/A",
        "v2|local|local|a=2,b=|N/A|N/A",
        "v10|local|local||N/A|N/A",
    ]
    out = three.run("volume", "ls", "--format", '{{.Name}}={{.Label "a"}}').stdout
    assert out.splitlines() == ["v1=1", "v2=2", "v10="]
    mountpoint = three.run("volume", "ls", "-f", "name=v2", "--format", "{{.Mountpoint}}").stdout
    assert mountpoint == f"{three.root / 'volumes' / 'v2' / '_data'}\n"
    table = three.run("volume", "ls", "--format", "table {{.Name}}\t{{.Scope}}").stdout
    assert table.splitlines()[0] == "VOLUME NAME   SCOPE"
    rows = [json.loads(line) for line in three.run("volume", "ls", "--format", "json").stdout.splitlines()]
    assert [r["Name"] for r in rows] == ["v1", "v2", "v10"]
    assert list(rows[0]) == sorted(rows[0])
    assert rows[1] == {
        "Availability": "N/A",
        "Driver": "local",
        "Group": "N/A",
        "Labels": "a=2,b=",
        "Links": "N/A",
        "Mountpoint": str(three.root / "volumes" / "v2" / "_data"),
        "Name": "v2",
        "Scope": "local",
        "Size": "N/A",
        "Status": "N/A",
    }


def test_ls_filters(three: Pinnace) -> None:
    assert names(three, "-f", "name=v1") == ["v1", "v10"]  # a substring, as docker's
    assert names(three, "-f", "name=v2", "-f", "name=v10") == ["v2", "v10"]
    assert names(three, "-f", "driver=local") == ["v1", "v2", "v10"]
    assert names(three, "-f", "driver=other") == []
    assert names(three, "-f", "label=a") == ["v1", "v2"]
    assert names(three, "-f", "label=a=1") == ["v1"]
    assert names(three, "-f", "label=a", "-f", "label=b") == ["v2"]
    assert names(three, "-f", "dangling=true") == ["v1", "v2"]
    assert names(three, "--filter", "dangling=false") == ["v10"]
    assert names(three, "-f", " Dangling = 1 ") == ["v1", "v2"]  # key and value trimmed, key lowered
    proc = three.run("volume", "ls", "-f", "bogus", check=False)
    assert proc.returncode == 125
    assert proc.stderr.startswith(
        'invalid argument "bogus" for "-f, --filter" flag: bad format of filter (expected name=value)\n'
    )
    proc = three.run("volume", "ls", "-f", "foo=1", check=False)
    assert (proc.returncode, proc.stderr) == (1, "Error response from daemon: invalid filter 'foo'\n")
    proc = three.run("volume", "ls", "-f", "dangling=maybe", check=False)
    assert (proc.returncode, proc.stderr) == (
        1,
        "Error response from daemon: invalid filter 'dangling=maybe'\n",
    )


# --------------------------------------------------------------------------- inspect


def test_inspect_json_template_and_missing(vols: Pinnace) -> None:
    vols.run("volume", "create", "--label", "z=1", "--label", "a=2", "one")
    vols.run("volume", "create", "two")
    out = vols.run("volume", "inspect", "one", "two").stdout
    docs = json.loads(out)
    assert [d["Name"] for d in docs] == ["one", "two"]
    assert out.startswith('[\n    {\n        "CreatedAt": ')  # docker's 4-space indent
    assert list(docs[0]["Labels"]) == ["a", "z"]  # a map: keys sorted, as Go encodes it
    # a missing one: the others printed, the daemon's error after, exit 1
    proc = vols.run("volume", "inspect", "one", "nope", "two", check=False)
    assert proc.returncode == 1
    assert [d["Name"] for d in json.loads(proc.stdout)] == ["one", "two"]
    assert proc.stderr == "Error response from daemon: get nope: no such volume\n"
    proc = vols.run("volume", "inspect", "nope", check=False)
    assert (proc.returncode, proc.stdout) == (1, "[]\n")
    # templates run per volume
    proc = vols.run("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels}}", "one", "two")
    assert proc.stdout == "one local map[a:2 z:1]\ntwo local map[]\n"
    proc = vols.run("volume", "inspect", "--format", "{{.Name}}", "nope", check=False)
    assert (proc.returncode, proc.stdout) == (1, "\n")
    compact = vols.run("volume", "inspect", "-f", "json", "two").stdout
    assert compact.startswith('[{"CreatedAt":') and compact.count("\n") == 1
    proc = vols.run("volume", "inspect", "-f", "{{.Name", "one", check=False)
    assert proc.returncode == 64 and proc.stderr.startswith("template parsing error: ")
    proc = vols.run("volume", "inspect", check=False)
    assert proc.returncode == 125


def test_inspect_any_object_finds_volumes(vols: Pinnace) -> None:
    vols.run("volume", "create", "thing")
    assert vols.run("inspect", "-f", "{{.Name}} {{.Scope}}", "thing").stdout == "thing local\n"
    assert json.loads(vols.run("inspect", "--type", "volume", "thing").stdout)[0]["Driver"] == "local"
    proc = vols.run("inspect", "--type", "volume", "nope", check=False)
    assert (proc.returncode, proc.stderr) == (1, "Error: No such volume: nope\n")
    proc = vols.run("inspect", "nope", check=False)
    assert (proc.returncode, proc.stderr) == (1, "Error: No such object: nope\n")


# --------------------------------------------------------------------------- rm


def test_rm(vols: Pinnace) -> None:
    for name in ("aa", "bb", "cc", "busy"):
        vols.run("volume", "create", name)
    assert vols.run("volume", "rm", "aa", "bb").stdout == "aa\nbb\n"
    assert not (vols.root / "volumes" / "aa").exists()
    proc = vols.run("volume", "remove", "cc", "nope", check=False)
    assert (proc.returncode, proc.stdout) == (1, "cc\n")
    assert proc.stderr == "Error response from daemon: get nope: no such volume\n"
    # -f: a missing volume is no error, and its name is printed as docker's CLI does
    assert vols.run("volume", "rm", "-f", "nope").stdout == "nope\n"
    use(vols, "busy")
    proc = vols.run("volume", "rm", "-f", "busy", check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"Error response from daemon: remove busy: volume is in use - [{USER}]\n"
    assert names(vols) == ["busy"]
    proc = vols.run("volume", "rm", check=False)
    assert proc.returncode == 125


# --------------------------------------------------------------------------- prune


@pytest.fixture
def mixed(vols: Pinnace) -> dict[str, str]:
    """named (unused), anon (no name, 1000 bytes), lanon (labelled anonymous), busy (anonymous, used)."""
    made = {
        "named": vols.run("volume", "create", "--label", "keep=no", "named").stdout.strip(),
        "anon": vols.run("volume", "create").stdout.strip(),
        "lanon": vols.run("volume", "create", "--label", ANON, "--label", "keep=yes", "lanon").stdout.strip(),
        "busy": vols.run("volume", "create", "--label", ANON, "busy").stdout.strip(),
    }
    use(vols, "busy")
    fill(vols, made["anon"], 1000)
    return made


WARNING = "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
ALL_WARNING = "WARNING! This will remove all local volumes not used by at least one container.\n"
PROMPT = "Are you sure you want to continue? [y/N] "


def test_prune_prompt_and_default_anonymous_only(vols: Pinnace, mixed: dict[str, str]) -> None:
    proc = vols.run("volume", "prune", input=b"n\n")
    assert proc.stdout == WARNING + PROMPT + "Total reclaimed space: 0B\n"
    assert len(names(vols)) == 4
    proc = vols.run("volume", "prune", input=b"y\n")
    deleted = sorted([mixed["anon"], "lanon"])
    assert proc.stdout == (
        WARNING
        + PROMPT
        + "Deleted Volumes:\n"
        + "".join(f"{n}\n" for n in deleted)
        + "\nTotal reclaimed space: 1kB\n"
    )
    assert sorted(names(vols)) == ["busy", "named"]
    assert vols.run("volume", "prune", "-f").stdout == "Total reclaimed space: 0B\n"


def test_prune_all_and_filters(vols: Pinnace, mixed: dict[str, str]) -> None:
    proc = vols.run("volume", "prune", "-a", input=b"\n")
    assert proc.stdout == ALL_WARNING + PROMPT + "Total reclaimed space: 0B\n"
    proc = vols.run("volume", "prune", "-a", "-f", "--filter", "label=keep=no")
    assert proc.stdout == "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n"
    proc = vols.run("volume", "prune", "-f", "--filter", "label!=keep")
    assert proc.stdout == f"Deleted Volumes:\n{mixed['anon']}\n\nTotal reclaimed space: 1kB\n"
    proc = vols.run("volume", "prune", "-a", "-f", "--filter", "all=1", check=False)
    assert (proc.returncode, proc.stderr) == (
        1,
        "conflicting options: cannot specify both --all and --filter all=1\n",
    )
    proc = vols.run("volume", "prune", "-f", "--filter", "until=1h", check=False)
    assert (proc.returncode, proc.stderr) == (1, "Error response from daemon: invalid filter 'until'\n")
    # --filter all=true is -a
    proc = vols.run("volume", "prune", "-f", "--filter", "all=true")
    assert proc.stdout == "Deleted Volumes:\nlanon\n\nTotal reclaimed space: 0B\n"
    assert names(vols) == ["busy"]


# --------------------------------------------------------------------------- system df / prune / help


def _df(p: Pinnace) -> str:
    fmt = "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}"
    rows = p.run("system", "df", "--format", fmt).stdout.splitlines()
    return next(r for r in rows if r.startswith("Local Volumes|"))


def test_system_df_volumes(vols: Pinnace) -> None:
    assert _df(vols) == "Local Volumes|0|0|0B|0B"
    assert "Local Volumes   0         0         0B        0B\n" in vols.run("system", "df").stdout
    vols.run("volume", "create", "idle")
    vols.run("volume", "create", "busy")
    fill(vols, "idle", 1000)
    fill(vols, "busy", 500)
    use(vols, "busy")
    assert _df(vols) == "Local Volumes|2|1|1.5kB|1kB (66%)"
    assert vols.run("system", "df", "-v").stdout == (
        "Local Volumes space usage:\n\n"
        "VOLUME NAME   LINKS     SIZE\n"
        "busy          1         500B\n"
        "idle          0         1kB\n"
    )
    out = vols.run("system", "df", "-v", "--format", "{{range .Volumes}}{{.Name}}={{.Links}},{{end}}").stdout
    assert out == "busy=1,idle=0,\n"


def test_system_prune_volumes(vols: Pinnace) -> None:
    anon = vols.run("volume", "create").stdout.strip()
    vols.run("volume", "create", "named")
    fill(vols, anon, 2000)
    proc = vols.run("system", "prune", "--volumes", input=b"n\n")
    assert "  - all anonymous volumes not used by at least one container\n" in proc.stdout
    assert "volumes" not in vols.run("system", "prune", input=b"n\n").stdout
    vols.run("system", "prune", "-f")
    assert sorted(names(vols)) == sorted([anon, "named"])  # without --volumes, volumes stay
    proc = vols.run("system", "prune", "-f", "--volumes")
    assert proc.stdout.startswith(f"Deleted Volumes:\n{anon}\n\n")
    assert proc.stdout.endswith("Total reclaimed space: 2kB\n")
    assert names(vols) == ["named"]
    proc = vols.run("system", "prune", "-f", "--volumes", "--filter", "until=1h", check=False)
    assert (proc.returncode, proc.stderr) == (
        1,
        'ERROR: The "until" filter is not supported with "--volumes"\n',
    )


def test_volume_group_help(vols: Pinnace) -> None:
    out = vols.run("volume").stdout
    for line in ("  create ", "  inspect ", "  ls ", "  prune ", "  rm "):
        assert line in out
    assert "  volume      Manage volumes\n" in vols.run("--help").stdout
    proc = vols.run("volume", "frob", check=False)
    assert proc.returncode == 125
