"""Volumes, bind mounts and tmpfs in real containers, as docker behaves.

Every test runs the real CLI on a private store (the ``engine`` fixture,
which checks at the end that no mount or cgroup is left).  Each test
removes the volumes it made; host directories live under ``tmp_path``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.mount.flags import mount_points
from tests.conftest import Pinnace, make_rootfs_tar
from tests.helpers.lifecycle import simulate_reboot, until

pytestmark = pytest.mark.root

BB = "busybox"


def _volumes(engine: Pinnace) -> list[str]:
    return engine.run("volume", "ls", "-q").stdout.split()


@pytest.fixture
def vol(engine: Pinnace) -> Iterator[Pinnace]:
    """The engine; at the end every container, then every volume, is removed (none may refuse)."""
    yield engine
    ids = engine.run("ps", "-a", "-q", "--no-trunc").stdout.split()
    if ids:
        engine.run("rm", "-f", *ids)
    names = _volumes(engine)
    if names:
        engine.run("volume", "rm", *names)


@pytest.fixture
def seeded(vol: Pinnace, tmp_path: Path) -> Pinnace:
    """An image ``seeded`` whose /srv/app holds files, owned 1234:4321 mode 0750, and declared a VOLUME."""
    tar = make_rootfs_tar(tmp_path / "seeded.tar")
    with tarfile.open(tar, "a") as t:
        for name, kind, mode in (("srv", tarfile.DIRTYPE, 0o755), ("srv/app", tarfile.DIRTYPE, 0o750)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, mode
            if name == "srv/app":
                info.uid, info.gid = 1234, 4321
            t.addfile(info)
        data = b"seed\n"
        info = tarfile.TarInfo("srv/app/conf")
        info.size, info.mode, info.uid = len(data), 0o600, 1234
        t.addfile(info, io.BytesIO(data))
    vol.run("import", "--change", 'CMD ["sh"]', "--change", "VOLUME /srv/app", str(tar), "seeded")
    return vol


def test_named_volume_outlives_its_containers(vol: Pinnace) -> None:
    vol.run("run", "--rm", "-v", "data:/data", BB, "sh", "-c", "echo hello > /data/f")
    assert vol.run("run", "--rm", "-v", "data:/data", BB, "cat", "/data/f").stdout == "hello\n"
    assert _volumes(vol) == ["data"]
    mountpoint = vol.run("volume", "inspect", "-f", "{{.Mountpoint}}", "data").stdout.strip()
    assert Path(mountpoint, "f").read_text() == "hello\n"
    assert mountpoint == str(vol.root / "volumes" / "data" / "_data")


def test_image_content_is_copied_into_a_new_volume(seeded: Pinnace) -> None:
    # The image's VOLUME gets an anonymous volume, filled from the image, owner and mode kept.
    cid = seeded.run("run", "-d", "seeded", "sh", "-c", "sleep 60").stdout.strip()
    mounts = seeded.run("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}", cid)
    kind, name, destination = mounts.stdout.split()
    assert (kind, destination) == ("volume", "/srv/app") and len(name) == 64
    source = seeded.root / "volumes" / name / "_data"
    assert (source / "conf").read_text() == "seed\n"
    st = os.stat(source)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 4321, 0o750)
    assert os.stat(source / "conf").st_uid == 1234
    assert seeded.run("exec", cid, "cat", "/srv/app/conf").stdout == "seed\n"
    # A named volume is filled the same way, once: what a container changes stays.
    seeded.run("run", "--rm", "-v", "app:/srv/app", "seeded", "sh", "-c", "echo changed > /srv/app/conf")
    assert (
        seeded.run("run", "--rm", "-v", "app:/srv/app", "seeded", "cat", "/srv/app/conf").stdout
        == "changed\n"
    )
    # nocopy: a new volume stays empty.
    out = seeded.run("run", "--rm", "-v", "bare:/srv/app:nocopy", "seeded", "ls", "-A", "/srv/app").stdout
    assert out == ""


def test_read_only_volume_and_bind(vol: Pinnace, tmp_path: Path) -> None:
    host = tmp_path / "ro"
    host.mkdir()
    for flag in (
        ["-v", "data:/m:ro"],
        ["-v", f"{host}:/m:ro"],
        ["--mount", "type=volume,src=data,dst=/m,ro"],
    ):
        proc = vol.run("run", "--rm", *flag, BB, "sh", "-c", "echo x > /m/f", check=False)
        assert proc.returncode == 1 or proc.returncode == 2
        assert "Read-only file system" in proc.stderr
    assert list(host.iterdir()) == []


def test_binds_of_missing_paths_and_of_files(vol: Pinnace, tmp_path: Path) -> None:
    missing = tmp_path / "made" / "here"
    vol.run("run", "--rm", "-v", f"{missing}:/m", BB, "sh", "-c", "echo in > /m/f")
    assert (missing / "f").read_text() == "in\n"  # -v made the host directory
    proc = vol.run("run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/m", BB, "true", check=False)
    assert proc.returncode == 125
    assert (
        f'invalid mount config for type "bind": bind source path does not exist: {tmp_path}/nope'
        in proc.stderr
    )
    assert vol.run("ps", "-a", "-q").stdout == ""
    host_file = tmp_path / "settings"
    host_file.write_text("from the host\n")
    out = vol.run("run", "--rm", "-v", f"{host_file}:/etc/settings:ro", BB, "cat", "/etc/settings").stdout
    assert out == "from the host\n"


def test_relative_bind_is_made_absolute(vol: Pinnace, tmp_path: Path) -> None:
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "f").write_text("rel\n")
    proc = subprocess.run(
        [*_cli(vol), "run", "--rm", "-v", "./rel:/m", BB, "cat", "/m/f"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout) == (0, "rel\n"), proc.stderr


def _cli(engine: Pinnace) -> list[str]:
    from tests.conftest import PINNACE

    return [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot)]


def test_tmpfs_mounts(vol: Pinnace) -> None:
    out = vol.run("run", "--rm", "--tmpfs", "/t:size=1m", BB, "sh", "-c", "grep ' /t ' /proc/mounts").stdout
    fields = out.split()
    assert fields[2] == "tmpfs"
    assert {"nosuid", "nodev", "noexec", "size=1024k"} <= set(fields[3].split(","))
    out = vol.run(
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=2m,tmpfs-mode=0700",
        BB,
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts; stat -c %a /t",
    ).stdout.split("\n")
    assert "size=2048k" in out[0] and "mode=700" in out[0]
    assert out[1] == "700"


def test_volume_in_use_is_never_removed(vol: Pinnace) -> None:
    cid = vol.run("create", "-v", "keep:/data", BB, "true").stdout.strip()
    proc = vol.run("volume", "rm", "keep", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error response from daemon: remove keep: volume is in use - [{cid}]"
    proc = vol.run("volume", "rm", "-f", "keep", check=False)
    assert proc.returncode == 1 and "volume is in use" in proc.stderr
    assert vol.run("volume", "prune", "-a", "-f").stdout.startswith("Total reclaimed space")
    assert _volumes(vol) == ["keep"]
    assert vol.run("ps", "-a", "-q", "--filter", "volume=keep", "--no-trunc").stdout.split() == [cid]
    assert vol.run("ps", "-a", "-q", "--filter", "volume=/data", "--no-trunc").stdout.split() == [cid]
    vol.run("rm", cid)
    assert _volumes(vol) == ["keep"]  # a named volume outlives rm -v too
    vol.run("volume", "rm", "keep")
    assert _volumes(vol) == []


def test_anonymous_volume_lifecycle(vol: Pinnace) -> None:
    vol.run("run", "--name", "anon", "-v", "/scratch", BB, "true")
    (name,) = _volumes(vol)
    vol.run("rm", "anon")
    assert _volumes(vol) == [name]  # rm without -v keeps it
    vol.run("volume", "prune", "-f")
    assert _volumes(vol) == []  # prune removes unused anonymous volumes
    vol.run("run", "--name", "anon", "-v", "/scratch", BB, "true")
    vol.run("rm", "-v", "anon")
    assert _volumes(vol) == []
    vol.run("run", "--rm", "-v", "/scratch", "-v", "named:/named", BB, "true")
    assert _volumes(vol) == ["named"]  # --rm removes the anonymous one only
    vol.run("run", "-d", "--rm", "-v", "/scratch", BB, "true")
    until(lambda: vol.run("ps", "-a", "-q").stdout == "")
    until(lambda: _volumes(vol) == ["named"])


def test_volumes_from(vol: Pinnace, tmp_path: Path) -> None:
    host = tmp_path / "shared"
    host.mkdir()
    vol.run(
        "create", "--name", "source", "-v", "data:/data", "-v", f"{host}:/host", "-v", "/anon", BB, "true"
    )
    vol.run(
        "run",
        "--rm",
        "--volumes-from",
        "source",
        BB,
        "sh",
        "-c",
        "echo a > /data/f; echo b > /host/f; echo c > /anon/f",
    )
    out = vol.run(
        "run",
        "--rm",
        "--volumes-from",
        "source:ro",
        BB,
        "sh",
        "-c",
        "cat /data/f /host/f /anon/f; echo > /data/x",
        check=False,
    )
    assert out.stdout == "a\nb\nc\n"
    assert "Read-only file system" in out.stderr
    # rw cannot make a read-only mount of the source container writable (moby: RW && ReadWrite(mode)).
    vol.run("create", "--name", "locked", "-v", "data:/data:ro", BB, "true")
    out = vol.run("run", "--rm", "--volumes-from", "locked:rw", BB, "sh", "-c", "echo > /data/y", check=False)
    assert out.returncode == 1 and "Read-only file system" in out.stderr
    proc = vol.run("run", "--rm", "--volumes-from", "nosuch", BB, "true", check=False)
    assert proc.returncode == 125 and "No such container: nosuch" in proc.stderr


def test_duplicate_mount_points_are_refused(vol: Pinnace, tmp_path: Path) -> None:
    proc = vol.run("run", "--rm", "-v", "a1:/m", "-v", f"{tmp_path}:/m", BB, "true", check=False)
    assert proc.returncode == 125
    assert "Duplicate mount point: /m" in proc.stderr
    assert _volumes(vol) == [] and vol.run("ps", "-a", "-q").stdout == ""


def test_inspect_mounts_as_docker(vol: Pinnace, tmp_path: Path) -> None:
    cid = vol.run(
        "create", "-v", "data:/data:ro", "-v", f"{tmp_path}:/host", "--tmpfs", "/t", BB, "true"
    ).stdout.strip()

    info = json.loads(vol.run("inspect", cid).stdout)[0]
    assert info["HostConfig"]["Binds"] == ["data:/data:ro", f"{tmp_path}:/host"]
    assert info["HostConfig"]["Tmpfs"] == {"/t": ""}
    mounts = sorted(info["Mounts"], key=lambda m: m["Destination"])
    assert mounts == [
        {
            "Type": "volume",
            "Name": "data",
            "Source": str(vol.root / "volumes" / "data" / "_data"),
            "Destination": "/data",
            "Driver": "local",
            "Mode": "ro",
            "RW": False,
            "Propagation": "",
        },
        {
            "Type": "bind",
            "Source": str(tmp_path),
            "Destination": "/host",
            "Mode": "",
            "RW": True,
            "Propagation": "rprivate",
        },
    ]


def test_propagation_of_host_mounts_into_an_rshared_bind(vol: Pinnace, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        cid = vol.run("run", "-d", "-v", f"{shared}:/mnt:rshared", BB, "sh", "-c", "sleep 60").stdout.strip()
        (shared / "sub").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(shared / "sub")], check=True)
        (shared / "sub" / "late").write_text("propagated\n")
        assert vol.run("exec", cid, "cat", "/mnt/sub/late").stdout == "propagated\n"
        vol.run("rm", "-f", cid)
        # A private bind sees no new host mount; a shared propagation needs a shared source.
        proc = vol.run("run", "--rm", "-v", f"{tmp_path}/plain:/mnt:rshared", BB, "true", check=False)
        assert proc.returncode == 125 and "is not a shared mount" in proc.stderr
    finally:
        subprocess.run(["umount", "-R", str(shared)], check=False)


def test_bind_destination_through_a_symlink_stays_in_the_root(vol: Pinnace, tmp_path: Path) -> None:
    # The image's /escape points at a host directory's absolute path: the bind must land inside the root.
    target = tmp_path / "host-target"
    target.mkdir()
    tar = make_rootfs_tar(tmp_path / "evil.tar")
    with tarfile.open(tar, "a") as t:
        info = tarfile.TarInfo("escape")
        info.type, info.linkname = tarfile.SYMTYPE, str(target)
        t.addfile(info)
    vol.run("import", "--change", 'CMD ["sh"]', str(tar), "evil")
    source = tmp_path / "src"
    source.mkdir()
    (source / "marker").write_text("bound\n")
    cid = vol.run("run", "-d", "-v", f"{source}:/escape", "evil", "sh", "-c", "sleep 60").stdout.strip()
    assert vol.run("exec", cid, "cat", f"{target}/marker").stdout == "bound\n"
    assert str(target) not in mount_points()
    assert list(target.iterdir()) == []
    vol.run("rm", "-f", cid)


def test_data_survives_a_monitor_crash_and_a_reboot(vol: Pinnace, tmp_path: Path) -> None:
    cid = vol.run("run", "-d", "-v", "durable:/d", BB, "sh", "-c", "echo 1 > /d/f; sleep 60").stdout.strip()
    until(lambda: vol.run("exec", cid, "cat", "/d/f", check=False).stdout == "1\n")
    monitor = int(vol.run("inspect", "-f", "{{.State.Pid}}", cid).stdout)
    with open(f"/proc/{monitor}/stat") as f:
        monitor = int(f.read().rpartition(")")[2].split()[1])
    os.kill(monitor, signal.SIGKILL)
    simulate_reboot(vol, tmp_path)
    assert vol.run("run", "--rm", "-v", "durable:/d", BB, "cat", "/d/f").stdout == "1\n"
    vol.run("start", cid)
    assert vol.run("exec", cid, "cat", "/d/f").stdout == "1\n"


def test_volume_with_tmpfs_options(vol: Pinnace) -> None:
    vol.run("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "ram")
    vol.run("run", "--rm", "-v", "ram:/r", BB, "sh", "-c", "echo x > /r/f")
    path = vol.root / "volumes" / "ram" / "_data"
    assert str(path) in mount_points()
    assert (path / "f").read_text() == "x\n"
    vol.run("volume", "rm", "ram")
    assert str(path) not in mount_points()
    assert not path.exists()


def test_what_a_crash_in_a_removal_leaves_is_swept_or_remade(vol: Pinnace) -> None:
    # A removal killed after moving the data to the trash, before forgetting the record:
    # the record stays, and the next use makes an empty volume again.
    vol.run("volume", "create", "half")
    volumes = vol.root / "volumes"
    (volumes / "half").rename(volumes / "gone")
    assert vol.run("run", "--rm", "-v", "half:/h", BB, "ls", "-A", "/h").stdout == ""
    # A removal killed before emptying the trash: the next removal empties it.
    (volumes / ".trash" / "stale-1" / "_data").mkdir(parents=True)
    (volumes / ".trash" / "stale-1" / "_data" / "f").write_text("old\n")
    vol.run("volume", "rm", "half")
    assert list((volumes / ".trash").iterdir()) == []
    vol.run("volume", "create", "half")
    assert list((volumes / "half" / "_data").iterdir()) == []  # never the old data under the same name
    shutil.rmtree(volumes / "gone")


def test_volume_bound_to_a_host_directory(vol: Pinnace, tmp_path: Path) -> None:
    host = tmp_path / "device"
    host.mkdir()
    (host / "before").write_text("on the host\n")
    vol.run("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host}", "bound")
    out = vol.run("run", "--rm", "-v", "bound:/b", BB, "sh", "-c", "cat /b/before; echo in > /b/after").stdout
    assert out == "on the host\n"
    assert (host / "after").read_text() == "in\n"
    vol.run("volume", "rm", "bound")
    assert (host / "after").exists()  # removing the volume unmounts it, never deletes the device's files
    assert str(vol.root / "volumes" / "bound" / "_data") not in mount_points()
