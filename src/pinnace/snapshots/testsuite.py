"""A conformance suite every pinnace snapshotter passes (containerd's snapshots/testsuite, in Python).

Each check is a function ``check(sn, root, work)``: ``sn`` is a fresh
snapshotter storing under ``root``; ``work`` is a scratch directory for mount
points and expected trees.  Checks mount through :func:`pinnace.mount.mounted`
and compare what the mounted tree shows with a plain directory that had the
same changes applied (containerd's ``CheckDirectoryEqualWithApplier``).
Failures raise AssertionError, so any test runner reports them; a test file
runs :data:`CHECKS` (and :data:`OVERLAY_CHECKS` for overlay-format
snapshotters) through :func:`run_check`, one test per check.

The checks assume what every pinnace snapshotter promises beyond the
Protocol: a ``cleanup()`` method, and one ``root/<numeric id>/`` directory
per snapshot (so a check can plant orphans the way a crash would).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from pinnace.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PinnaceError
from pinnace.mount import mounted, unmount_all, writable_dir
from pinnace.snapshots import Info, Kind, Snapshotter

TYPE_CHECKING = False
if TYPE_CHECKING:

    class SuiteSnapshotter(Snapshotter, Protocol):
        """A snapshotter as the suite drives it: the Protocol plus crash-garbage cleanup."""

        def cleanup(self) -> int: ...

else:
    SuiteSnapshotter = Snapshotter  # Snapshotter is a Protocol for type checkers only (start-up)


#: Builds a snapshotter storing under the given root; returns it and a function releasing it.
Factory = Callable[[Path], tuple[SuiteSnapshotter, Callable[[], None]]]
Check = Callable[[SuiteSnapshotter, Path, Path], None]
#: A change to a directory tree (containerd's fstest.Applier).
Applier = Callable[[Path], None]

LABELS = {"containerd.io/gc.root": "testsuite"}


def run_check(check: Check, factory: Factory, tmp: Path) -> None:
    """Run one check on a fresh snapshotter in ``tmp``; unmount and release everything after."""
    root, work = tmp / "root", tmp / "work"
    root.mkdir(parents=True)
    work.mkdir(parents=True)
    sn, release = factory(root)
    try:
        check(sn, root, work)
    finally:
        try:
            unmount_all(work)
        finally:
            sn.close()
            release()


# -- assertions ---------------------------------------------------------------


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def expect_equal(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        raise AssertionError(f"{what}: got {actual!r}, expected {expected!r}")


@contextlib.contextmanager
def expect_raises(kind: type[PinnaceError], what: str, contains: str = "") -> Iterator[None]:
    try:
        yield
    except kind as exc:
        if contains and contains not in str(exc):
            raise AssertionError(
                f"{what}: {kind.__name__} {str(exc)!r} does not mention {contains!r}"
            ) from exc
        return
    raise AssertionError(f"{what}: expected {kind.__name__}, nothing was raised")


def expect_info(info: Info, key: str, kind: Kind, parent: str = "") -> None:
    expect_equal((info.key, info.kind, info.parent), (key, kind, parent), f"stat {key}")


# -- appliers -----------------------------------------------------------------


def _at(root: Path, name: str) -> Path:
    return root / name.lstrip("/")


def create_file(name: str, data: bytes, mode: int = 0o644) -> Applier:
    def apply(root: Path) -> None:
        path = _at(root, name)
        path.write_bytes(data)
        os.chmod(path, mode)

    return apply


def create_dir(name: str, mode: int = 0o755) -> Applier:
    def apply(root: Path) -> None:
        path = _at(root, name)
        path.mkdir()
        os.chmod(path, mode)

    return apply


def remove_all(name: str) -> Applier:
    def apply(root: Path) -> None:
        import shutil

        path = _at(root, name)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    return apply


def rename(old: str, new: str) -> Applier:
    return lambda root: os.rename(_at(root, old), _at(root, new))


def chown(name: str, uid: int, gid: int) -> Applier:
    return lambda root: os.lchown(_at(root, name), uid, gid)


def link(old: str, new: str) -> Applier:
    return lambda root: os.link(_at(root, old), _at(root, new))


def symlink(target: str, name: str) -> Applier:
    return lambda root: os.symlink(target, _at(root, name))


def apply_all(*appliers: Applier) -> Applier:
    def apply(root: Path) -> None:
        for a in appliers:
            a(root)

    return apply


# -- trees --------------------------------------------------------------------


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """What a tree shows, path by path: type, mode, owner and content (root itself excluded)."""
    import stat

    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            meta = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[rel] = (*meta, f.read())
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = (*meta, os.readlink(path))
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out[rel] = (*meta, st.st_rdev)
            else:
                out[rel] = meta
    return out


def expect_same_tree(actual: Path, expected: Path, what: str) -> None:
    got, want = tree(actual), tree(expected)
    if got != want:
        diffs = [
            f"  {p}: got {got.get(p)!r}, expected {want.get(p)!r}"
            for p in sorted(set(got) | set(want))
            if got.get(p) != want.get(p)
        ]
        raise AssertionError(f"{what}: trees differ\n" + "\n".join(diffs[:20]))


def flat_tree(work: Path, *appliers: Applier) -> Path:
    """A plain directory with ``appliers`` applied: what a stack of those layers must show."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="expected-", dir=work))
    apply_all(*appliers)(path)
    return path


def check_snapshots(sn: Snapshotter, work: Path, *appliers: Applier) -> str:
    """containerd's checkSnapshots: one layer per applier, each checked mounted; returns the top.

    Every active snapshot must show its parents' changes before its own are
    applied and all of them after; a view of the top shows the same.
    """
    parent = ""
    for i, applier in enumerate(appliers):
        key = f"preparing-{i}"
        with mounted(sn.prepare(key, parent, LABELS), work) as where:
            expect_same_tree(where, flat_tree(work, *appliers[:i]), f"layer {i} before its changes")
            applier(where)
            expect_same_tree(where, flat_tree(work, *appliers[: i + 1]), f"layer {i} after its changes")
        parent = f"committed-{i}"
        sn.commit(parent, key, LABELS)
    with mounted(sn.view("view-top", parent, LABELS), work) as where:
        expect_same_tree(where, flat_tree(work, *appliers), "view of the top layer")
    return parent


def _prepare_write_commit(sn: Snapshotter, work: Path, name: str, parent: str, applier: Applier) -> None:
    key = f"{name}-active"
    with mounted(sn.prepare(key, parent, LABELS), work) as where:
        applier(where)
    sn.commit(name, key, LABELS)


# -- the checks (containerd's names) ------------------------------------------


def check_basic(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    initial = apply_all(
        create_file("/foo", b"foo\n", 0o777),
        create_dir("/a", 0o755),
        create_dir("/a/b", 0o755),
        create_dir("/a/b/c", 0o755),
    )
    diff = apply_all(
        create_file("/bar", b"bar\n", 0o777),
        create_file("/foo", b"bar\n", 0o777),  # changes foo's content
        remove_all("/a/b"),
    )
    mounts = sn.prepare("preparing", "", LABELS)
    expect(len(mounts) >= 1, "prepare returned no mounts")
    with mounted(mounts, work) as where:
        initial(where)
    sn.commit("committed", "preparing", LABELS)
    si = sn.stat("committed")
    expect_info(si, "committed", Kind.COMMITTED)
    with expect_raises(NotFound, "stat of a key after its commit"):
        sn.stat("preparing")

    with mounted(sn.prepare("nextlayer", "committed", LABELS), work) as where:
        expect_same_tree(where, flat_tree(work, initial), "child of committed")
        diff(where)
    expect_info(sn.stat("nextlayer"), "nextlayer", Kind.ACTIVE, "committed")
    sn.commit("committed-next", "nextlayer", LABELS)
    si2 = sn.stat("committed-next")
    expect_info(si2, "committed-next", Kind.COMMITTED, "committed")
    with expect_raises(NotFound, "stat of a key after its commit"):
        sn.stat("nextlayer")

    walked = {info.key: info for info in sn.walk()}
    expect_equal(walked.get("committed"), si, "walk: committed")
    expect_equal(walked.get("committed-next"), si2, "walk: committed-next")

    with mounted(sn.view("nextnextlayer", "committed-next", LABELS), work) as where:
        expect_same_tree(where, flat_tree(work, initial, diff), "view of two layers")
    sn.remove("nextnextlayer")
    with expect_raises(FailedPrecondition, "remove of a parent", contains="remove"):
        sn.remove("committed")
    sn.remove("committed-next")
    sn.remove("committed")
    expect_equal([i.key for i in sn.walk()], [], "walk after removing everything")


def check_stat_active(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    with mounted(sn.prepare("preparing", "", LABELS), work) as where:
        (where / "foo").write_bytes(b"foo\n")
        info = sn.stat("preparing")
    expect_info(info, "preparing", Kind.ACTIVE)
    expect_equal(dict(info.labels), LABELS, "labels")


def check_stat_committed(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    _prepare_write_commit(sn, work, "committed", "", create_file("/foo", b"foo\n"))
    expect_info(sn.stat("committed"), "committed", Kind.COMMITTED)


def check_transitivity(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """Given A <- B, B's parent is A and A has none."""
    _prepare_write_commit(sn, work, "snapA", "", create_file("/foo", b"foo\n"))
    _prepare_write_commit(sn, work, "snapB", "snapA", create_file("/foo", b"foo bar\n"))
    b = sn.stat("snapB")
    expect_info(b, "snapB", Kind.COMMITTED, "snapA")
    expect_info(sn.stat(b.parent), "snapA", Kind.COMMITTED)


def check_prepare_view(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """A key names one snapshot: a second prepare or view with it fails."""
    sn.prepare("preparing", "", LABELS)
    sn.commit("snapA", "preparing", LABELS)
    sn.prepare("newlayer", "snapA", LABELS)
    with expect_raises(AlreadyExists, "view with an active key", contains="already exists"):
        sn.view("newlayer", "snapA", LABELS)
    sn.prepare("prepLayer", "snapA", LABELS)
    with expect_raises(AlreadyExists, "second prepare with one key"):
        sn.prepare("prepLayer", "snapA", LABELS)
    sn.view("viewLayer", "snapA", LABELS)
    with expect_raises(AlreadyExists, "second view with one key"):
        sn.view("viewLayer", "snapA", LABELS)
    with expect_raises(AlreadyExists, "prepare with a committed name"):
        sn.prepare("snapA", "", LABELS)


def check_prepare_errors(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """Parents must exist and be committed; nothing is left behind by a refused prepare."""
    with expect_raises(NotFound, "prepare on a missing parent"):
        sn.prepare("a", "missing", LABELS)
    sn.prepare("active", "", LABELS)
    with expect_raises(InvalidArgument, "prepare on an active parent"):
        sn.prepare("b", "active", LABELS)
    sn.view("view", "", LABELS)
    with expect_raises(InvalidArgument, "view on a view"):
        sn.view("c", "view", LABELS)
    expect_equal(sorted(i.key for i in sn.walk()), ["active", "view"], "records after refused prepares")


def _base_snapshots(sn: Snapshotter) -> None:
    """containerd's baseTestSnapshots: c1 <- c2 committed, a1/a2 active, v1/v2 views."""
    sn.prepare("c1-a", "", LABELS)
    sn.commit("c1", "c1-a", LABELS)
    sn.prepare("c2-a", "c1", LABELS)
    sn.commit("c2", "c2-a", LABELS)
    sn.prepare("a1", "c2", LABELS)
    sn.prepare("a2", "", LABELS)
    sn.view("v1", "c2", LABELS)
    sn.view("v2", "", LABELS)


def check_update(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    t1 = time.time()
    _base_snapshots(sn)
    t2 = time.time()
    cases = [
        ("c1", Kind.COMMITTED, ""),
        ("c2", Kind.COMMITTED, "c1"),
        ("a1", Kind.ACTIVE, "c2"),
        ("a2", Kind.ACTIVE, ""),
        ("v1", Kind.VIEW, "c2"),
        ("v2", Kind.VIEW, ""),
    ]
    for key, kind, parent in cases:
        st = sn.stat(key)
        expect_info(st, key, kind, parent)
        expect(t1 - 1 <= st.created <= t2 + 1, f"{key}: created {st.created} not in [{t1}, {t2}]")
        labels = {"l1": "v1", "l2": "v2", "l3": "v3", **LABELS}
        updated = sn.update(key, labels)
        expect_info(updated, key, kind, parent)
        expect_equal(updated.created, st.created, f"{key}: created after update")
        expect_equal(dict(updated.labels), labels, f"{key}: labels returned by update")
        expect_equal(dict(sn.stat(key).labels), labels, f"{key}: labels stored by update")
        sn.update(key, {"l4": "v4"})
        expect_equal(dict(sn.stat(key).labels), {"l4": "v4"}, f"{key}: labels replaced")
    with expect_raises(NotFound, "update of a missing key"):
        sn.update("missing", {})


def check_remove(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    sn.prepare("committed-a", "", LABELS)
    sn.commit("committed-1", "committed-a", LABELS)
    sn.prepare("reuse-1", "committed-1", LABELS)
    sn.remove("reuse-1")
    sn.view("reuse-1", "committed-1", LABELS)
    sn.remove("reuse-1")
    sn.prepare("reuse-1", "", LABELS)
    sn.remove("committed-1")
    sn.commit("committed-1", "reuse-1", LABELS)
    with expect_raises(NotFound, "remove of a missing key"):
        sn.remove("reuse-1")
    sn.prepare("child", "committed-1", LABELS)
    with expect_raises(FailedPrecondition, "remove of a snapshot with children"):
        sn.remove("committed-1")
    expect_info(sn.stat("committed-1"), "committed-1", Kind.COMMITTED)


def check_remove_intermediate(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    sn.prepare("base", "", LABELS)
    sn.commit("committed-base", "base", LABELS)
    sn.prepare("intermediate", "committed-base", LABELS)
    sn.commit("committed-inter", "intermediate", LABELS)
    sn.prepare("toplayer", "committed-inter", LABELS)
    with expect_raises(FailedPrecondition, "remove of an intermediate layer"):
        sn.remove("committed-inter")
    sn.remove("toplayer")
    sn.remove("committed-inter")
    sn.remove("committed-base")


def check_walk(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    sn.prepare("a-np", "", LABELS)
    sn.prepare("p-tmp", "", LABELS)
    sn.commit("p", "p-tmp", LABELS)
    sn.prepare("a", "p", {"l": "2"})
    sn.view("v", "p", {"l": "3"})
    walked = {i.key: i for i in sn.walk()}
    expect_equal(sorted(walked), ["a", "a-np", "p", "v"], "walked keys")
    expect_equal(
        (walked["a"].kind, walked["a"].parent, dict(walked["a"].labels)), (Kind.ACTIVE, "p", {"l": "2"}), "a"
    )
    expect_equal(
        (walked["v"].kind, walked["v"].parent, dict(walked["v"].labels)), (Kind.VIEW, "p", {"l": "3"}), "v"
    )
    expect_equal(walked["p"].kind, Kind.COMMITTED, "p")


def check_stat_in_walk(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    _base_snapshots(sn)
    for info in sn.walk():
        expect_equal(sn.stat(info.key), info, f"stat of {info.key} during walk")


def check_layer_file_update(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """docker/docker#21555: a file updated in an upper layer shows the update."""
    check_snapshots(
        sn,
        work,
        apply_all(
            create_dir("/etc", 0o700),
            create_file("/etc/hosts", b"mydomain 10.0.0.1", 0o644),
            create_file("/etc/profile", b"PATH=/usr/bin", 0o644),
        ),
        apply_all(
            create_file("/etc/hosts", b"mydomain 10.0.0.2", 0o644),
            create_file("/etc/profile", b"PATH=/usr/bin", 0o666),
            create_dir("/root", 0o700),
            create_file("/root/.bashrc", b"PATH=/usr/sbin:/usr/bin", 0o644),
        ),
    )


def check_remove_directory_in_lower_layer(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """docker/docker#25244: a directory removed and recreated hides the lower one's files."""
    check_snapshots(
        sn,
        work,
        apply_all(create_dir("/lib", 0o700), create_file("/lib/hidden", b"", 0o644)),
        apply_all(remove_all("/lib"), create_dir("/lib", 0o700), create_file("/lib/not-hidden", b"", 0o644)),
        create_file("/lib/newfile", b"", 0o644),
    )


def check_chown(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    check_snapshots(
        sn,
        work,
        apply_all(
            create_dir("/opt", 0o700),
            create_dir("/opt/a", 0o700),
            create_dir("/opt/a/b", 0o700),
            create_file("/opt/a/b/file.txt", b"hello", 0o644),
        ),
        apply_all(
            chown("/opt", 1, 1),
            chown("/opt/a", 1, 1),
            chown("/opt/a/b", 1, 1),
            chown("/opt/a/b/file.txt", 1, 1),
        ),
    )


def check_directory_permission_on_commit(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """docker/docker#27298: ownership changes of directories survive commits."""
    check_snapshots(
        sn,
        work,
        apply_all(
            create_dir("/dir1", 0o700),
            create_dir("/dir2", 0o700),
            create_dir("/dir3", 0o700),
            create_dir("/dir4", 0o700),
            create_file("/dir4/f1", b"...", 0o644),
            create_dir("/dir5", 0o700),
            create_file("/dir5/f1", b"...", 0o644),
            chown("/dir1", 1, 1),
            chown("/dir2", 1, 1),
            chown("/dir3", 1, 1),
            chown("/dir5", 1, 1),
            chown("/dir5/f1", 1, 1),
        ),
        apply_all(chown("/dir2", 0, 0), remove_all("/dir3"), chown("/dir4", 1, 1), chown("/dir4/f1", 1, 1)),
        apply_all(
            create_dir("/dir3", 0o700),
            chown("/dir3", 1, 1),
            remove_all("/dir5"),
            create_dir("/dir5", 0o700),
            chown("/dir5", 1, 1),
        ),
    )


def check_deleted_files_in_child(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """A file deleted in a child (a whiteout) stays hidden in the child's children."""
    check_snapshots(
        sn,
        work,
        apply_all(create_file("/foo", b"foo\n", 0o777), create_file("/foobar", b"foobar\n", 0o777)),
        remove_all("/foobar"),
        apply_all(),
    )


def check_move_file_from_lower_layer(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    check_snapshots(
        sn,
        work,
        apply_all(
            create_dir("/dir1", 0o700),
            create_file("/dir1/f1", b"Hello", 0o644),
            create_dir("dir2", 0o700),
            create_file("dir2/f2", b"...", 0o644),
        ),
        apply_all(
            create_dir("/dir3", 0o700),
            create_file("/dir3/f1", b"Hello", 0o644),
            remove_all("/dir1"),
            link("dir2/f2", "dir3/f2"),
            remove_all("dir2/f2"),
        ),
    )


def check_rename(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """docker/docker#25409: files renamed over and away in a child.

    As in containerd's run for overlayfs, no *directory* from a lower layer
    is renamed: overlay without redirect_dir refuses that (EXDEV; see
    OVERLAY_CHECKS).
    """
    check_snapshots(
        sn,
        work,
        apply_all(
            create_dir("/dir1", 0o700),
            create_dir("/somefiles", 0o700),
            create_file("/somefiles/f1", b"was here first!", 0o644),
            create_file("/somefiles/f2", b"nothing interesting", 0o644),
        ),
        apply_all(
            create_file("/somefiles/f1-overwrite", b"new content 1", 0o644),
            rename("/somefiles/f1-overwrite", "/somefiles/f1"),
            rename("/somefiles/f2", "/somefiles/f3"),
        ),
    )


def check_view_readonly(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """Views on no, one and several parents all mount read-only (writes fail with EROFS)."""
    sn.prepare("preparing", "", LABELS)
    sn.commit("committed", "preparing", LABELS)
    _prepare_write_commit(sn, work, "committed-2", "committed", create_file("/two", b"2"))
    for parent in ("", "committed", "committed-2"):
        key = f"view-on-{parent or 'nothing'}"
        with mounted(sn.view(key, parent, LABELS), work) as where:
            try:
                (where / "testfile").write_bytes(b"testcontent")
            except OSError as exc:
                expect_equal(exc.errno, errno.EROFS, f"{key}: write error")
            else:
                raise AssertionError(f"{key}: a write to a view succeeded")
        with expect_raises(InvalidArgument, f"{key}: writable_dir of a view"):
            writable_dir(sn.mounts(key))
        sn.remove(key)
    sn.remove("committed-2")
    sn.remove("committed")


def check_close_twice(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    sn.prepare("close-twice-prepare", "", LABELS)
    sn.commit("close-twice", "close-twice-prepare", LABELS)
    sn.remove("close-twice")
    sn.close()
    sn.close()


def check_root_permission(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """A fresh snapshot's root is 0755 whatever the umask (it becomes a container's "/")."""
    old = os.umask(0o077)
    try:
        mounts = sn.prepare("preparing", "", LABELS)
    finally:
        os.umask(old)
    with mounted(mounts, work) as where:
        expect_equal(oct(os.stat(where).st_mode & 0o777), oct(0o755), "mode of the root")


def check_128_layers_mount(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """128 stacked layers mount (overlay options beyond a page need compacting), each showing all below."""
    appliers: list[Applier] = [
        apply_all(
            create_file("/bottom", b"way at the bottom\n", 0o777),
            create_file("/overwriteme", b"FIRST!\n", 0o777),
            create_dir("/addhere", 0o755),
            create_dir("/onlyme", 0o755),
            create_file("/onlyme/bottom", b"bye!\n", 0o777),
        )
    ]
    for i in range(1, 128):
        appliers.append(
            apply_all(
                create_file("/overwriteme", f"{i} WAS HERE!\n".encode(), 0o777),
                create_file(f"/addhere/file-{i}", b"same\n", 0o755),
                remove_all("/onlyme"),
                create_dir("/onlyme", 0o755),
                create_file(f"/onlyme/file-{i}", b"only me!\n", 0o777),
            )
        )
    flat = work / "flat"
    flat.mkdir()
    parent = ""
    for i, applier in enumerate(appliers):
        key = f"prepare-layer-{i}"
        with mounted(sn.prepare(key, parent, LABELS), work) as where:
            if i % 16 == 0:  # a full comparison per layer costs more than it finds
                expect_same_tree(where, flat, f"layer {i} before apply")
            applier(flat)
            applier(where)
            if i % 16 == 15:
                expect_same_tree(where, flat, f"layer {i} after apply")
        parent = f"committed-{i}"
        sn.commit(parent, key, LABELS)
    with mounted(sn.view("fullview", parent, LABELS), work) as where:
        expect_same_tree(where, flat, "view of 128 layers")
        expect_equal(len(os.listdir(where / "addhere")), 127, "files added by 127 layers")
        expect_equal((where / "overwriteme").read_bytes(), b"127 WAS HERE!\n", "the top layer's version")
    with mounted(sn.prepare("top", parent, LABELS), work) as where:
        (where / "onlyme" / "top").write_bytes(b"top\n")
        expect_equal(sorted(os.listdir(where / "onlyme")), ["file-127", "top"], "active on 128 layers")


def check_commit_twice_fails(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """A name is committed once; a losing commit leaves its active snapshot in place."""
    _prepare_write_commit(sn, work, "layer", "", create_file("/first", b"1"))
    with expect_raises(NotFound, "commit of a key already committed"):
        sn.commit("layer", "layer-active", LABELS)
    _prepare_write_commit(sn, work, "other", "", create_file("/x", b"x"))
    with mounted(sn.prepare("second", "", LABELS), work) as where:
        (where / "second").write_bytes(b"2")
    with expect_raises(AlreadyExists, "commit under a taken name", contains="already exists"):
        sn.commit("layer", "second", LABELS)
    expect_info(sn.stat("second"), "second", Kind.ACTIVE)
    sn.view("a-view", "layer", LABELS)
    with expect_raises(FailedPrecondition, "commit of a view"):
        sn.commit("view-committed", "a-view", LABELS)
    with expect_raises(FailedPrecondition, "commit of a committed snapshot"):
        sn.commit("again", "other", LABELS)
    sn.remove("second")
    with mounted(sn.view("check", "layer", LABELS), work) as where:
        expect_equal(sorted(os.listdir(where)), ["first"], "the first commit's content")


def check_mounts(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """mounts(key) repeats what prepare/view returned; committed snapshots have none."""
    first = sn.prepare("a", "", LABELS)
    expect_equal(sn.mounts("a"), first, "mounts of a parentless active")
    sn.commit("c1", "a", LABELS)
    with expect_raises(FailedPrecondition, "mounts of a committed snapshot"):
        sn.mounts("c1")
    sn.prepare("b", "c1", LABELS)
    sn.commit("c2", "b", LABELS)
    for key, parent in (("x", "c2"), ("y", "c1"), ("z", "")):
        expect_equal(sn.prepare(key, parent, LABELS), sn.mounts(key), f"mounts of active {key}")
        expect_equal(sn.view(f"v{key}", parent, LABELS), sn.mounts(f"v{key}"), f"mounts of view v{key}")
    with expect_raises(NotFound, "mounts of a missing key"):
        sn.mounts("missing")


def check_usage(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """Size: apparent bytes of the snapshot's own regular files, hardlinks once."""
    with mounted(sn.prepare("a", "", LABELS), work) as where:
        (where / "big").write_bytes(b"x" * 1000)
        os.link(where / "big", where / "big-link")
        (where / "dir").mkdir()
        (where / "dir" / "small").write_bytes(b"y" * 500)
        os.symlink("big", where / "sym")
    usage = sn.usage("a")
    expect_equal(usage.size, 1500, "size of an active snapshot")
    expect(usage.inodes >= 4, f"inodes of an active snapshot: {usage.inodes}")
    sn.commit("c", "a", LABELS)
    expect_equal(sn.usage("c").size, 1500, "size of the committed snapshot")
    with mounted(sn.prepare("child", "c", LABELS), work) as where:
        (where / "more").write_bytes(b"z" * 24)
    expect_equal(sn.usage("child").size, 24, "size of a child (its own layer only)")
    with expect_raises(NotFound, "usage of a missing key"):
        sn.usage("missing")


def check_cleanup_removes_orphans(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """Directories a crash left without a record go; recorded snapshots stay intact."""
    _prepare_write_commit(sn, work, "kept", "", create_file("/kept", b"kept\n"))
    sn.prepare("active", "kept", LABELS)
    orphan = root / "999999"
    (orphan / "fs" / "sub").mkdir(parents=True)
    (orphan / "fs" / "sub" / "junk").write_bytes(b"j" * 1000)
    (orphan / "fs" / "sub").chmod(0o555)  # layers contain read-only directories
    os.mknod(orphan / "fs" / "whiteout", 0o600 | 0o020000, os.makedev(0, 0))
    half_removed = root / "_removing-7-abc"
    half_removed.mkdir()
    (half_removed / "left").write_bytes(b"l" * 24)
    expect_equal(sn.cleanup(), 1024, "bytes freed")
    expect(not orphan.exists() and not half_removed.exists(), f"orphans remain: {os.listdir(root)}")
    expect_equal(sn.cleanup(), 0, "bytes freed by a second cleanup")
    with mounted(sn.mounts("active"), work) as where:
        expect_equal((where / "kept").read_bytes(), b"kept\n", "content of a recorded snapshot")
    expect_equal(sorted(i.key for i in sn.walk()), ["active", "kept"], "records after cleanup")


# -- overlay format -------------------------------------------------------------

OPAQUE_XATTR = "trusted.overlay.opaque"


def check_opaque_directory(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """An opaque directory hides the lower directory's entries, made by the kernel or by a layer."""
    _prepare_write_commit(
        sn,
        work,
        "base",
        "",
        apply_all(
            create_dir("/d"), create_file("/d/lower", b"l"), create_dir("/e"), create_file("/e/lower", b"l")
        ),
    )
    # The kernel marks a directory recreated over a lower one opaque.
    _prepare_write_commit(
        sn,
        work,
        "kernel",
        "base",
        apply_all(remove_all("/d"), create_dir("/d"), create_file("/d/upper", b"u")),
    )
    # A layer applier writes the xattr itself (how an OCI ".wh..wh..opq" entry lands).
    mounts = sn.prepare("applied-active", "kernel", LABELS)
    upper = writable_dir(mounts)
    (upper / "e").mkdir()
    os.setxattr(upper / "e", OPAQUE_XATTR, b"y")
    (upper / "e" / "upper").write_bytes(b"u")
    sn.commit("applied", "applied-active", LABELS)
    with mounted(sn.view("view", "applied", LABELS), work) as where:
        expect_equal(sorted(os.listdir(where / "d")), ["upper"], "directory recreated through the mount")
        expect_equal(sorted(os.listdir(where / "e")), ["upper"], "directory made opaque in the upperdir")


def check_whiteout_device(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """A 0/0 character device in a layer (an OCI ".wh.NAME" entry) hides NAME below it."""
    _prepare_write_commit(
        sn, work, "base", "", apply_all(create_file("/gone", b"g"), create_file("/stays", b"s"))
    )
    mounts = sn.prepare("child-active", "base", LABELS)
    os.mknod(writable_dir(mounts) / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    sn.commit("child", "child-active", LABELS)
    sn.prepare("grandchild-active", "child", LABELS)
    sn.commit("grandchild", "grandchild-active", LABELS)
    for key, parent in (("v-child", "child"), ("v-grandchild", "grandchild")):
        with mounted(sn.view(key, parent, LABELS), work) as where:
            expect_equal(sorted(os.listdir(where)), ["stays"], f"{key}: entries")


def check_lower_directory_rename_fails(sn: SuiteSnapshotter, root: Path, work: Path) -> None:
    """redirect_dir is off: renaming a lower directory fails with EXDEV, so upperdirs stay plain diffs."""
    _prepare_write_commit(sn, work, "base", "", apply_all(create_dir("/dir1"), create_file("/dir1/f", b"f")))
    with mounted(sn.prepare("active", "base", LABELS), work) as where:
        try:
            os.rename(where / "dir1", where / "dir2")
        except OSError as exc:
            expect_equal(exc.errno, errno.EXDEV, "rename error")
        else:
            raise AssertionError("a lower directory was renamed: redirect_dir is on")
        os.mkdir(where / "new")
        os.rename(where / "new", where / "renamed")  # an upper-only directory moves fine
    upper = writable_dir(sn.mounts("active"))
    expect_equal(sorted(os.listdir(upper)), ["renamed"], "upperdir entries")


CHECKS: Mapping[str, Check] = {
    "Basic": check_basic,
    "StatActive": check_stat_active,
    "StatComitted": check_stat_committed,
    "TransitivityTest": check_transitivity,
    "PreareViewFailingtest": check_prepare_view,
    "PrepareErrors": check_prepare_errors,
    "Update": check_update,
    "Remove": check_remove,
    "Walk": check_walk,
    "LayerFileupdate": check_layer_file_update,
    "RemoveDirectoryInLowerLayer": check_remove_directory_in_lower_layer,
    "Chown": check_chown,
    "DirectoryPermissionOnCommit": check_directory_permission_on_commit,
    "RemoveIntermediateSnapshot": check_remove_intermediate,
    "DeletedFilesInChildSnapshot": check_deleted_files_in_child,
    "MoveFileFromLowerLayer": check_move_file_from_lower_layer,
    "ViewReadonly": check_view_readonly,
    "StatInWalk": check_stat_in_walk,
    "CloseTwice": check_close_twice,
    "RootPermission": check_root_permission,
    "Rename": check_rename,
    "128LayersMount": check_128_layers_mount,
    "CommitTwiceFails": check_commit_twice_fails,
    "Mounts": check_mounts,
    "Usage": check_usage,
    "CleanupRemovesOrphans": check_cleanup_removes_orphans,
}

#: Checks of the overlay on-disk format (whiteouts, opaque xattrs, redirect_dir off).
OVERLAY_CHECKS: Mapping[str, Check] = {
    "OpaqueDirectory": check_opaque_directory,
    "WhiteoutDevice": check_whiteout_device,
    "LowerDirectoryRenameFails": check_lower_directory_rename_fails,
}
