"""The ``local`` volume driver: where a volume's data lives, and the mount its options ask for.

A volume ``NAME`` is the directory ``<root>/volumes/NAME/_data`` (docker's
layout).  A volume created with ``-o type=... -o device=... -o o=...`` is
that directory with a filesystem mounted on it (``mount -t TYPE -o O
DEVICE``): made when a container first needs it, and kept until the volume
is removed (docker unmounts it when its last container stops; keeping it
means a tmpfs volume's data lasts as long as the volume, and a start costs
no mount).  After a reboot the next start mounts it again.

Removal first moves the volume's directory into ``<root>/volumes/.trash``
(inside the database transaction that forgets the record, see
:meth:`pinnace.volumes.records.VolumeRecords.delete`), then deletes it: a
crash in between leaves garbage that the next removal sweeps, never a
directory that a new volume of the same name would find full of old data.
"""

from __future__ import annotations

import os

from pinnace.errors import Unavailable, map_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.volumes.records import VolumeRecord

#: Below the volumes root; volume names start with a letter or digit, so no volume is called this.
TRASH = ".trash"
_LOCK = ".mount.lock"


class LocalDriver:
    """Volumes as directories under ``root`` (``<--root>/volumes``)."""

    name = "local"

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, name: str) -> str:
        """The volume's Mountpoint: what containers bind, and ``volume inspect`` shows."""
        return os.path.join(self.root, name, "_data")

    def create(self, rec: VolumeRecord) -> str:
        """Make the volume's directories (idempotent: a start after a crash makes what is missing)."""
        path = self.path(rec.name)
        with map_errors({OSError: Unavailable}, f"create {rec.name}"):
            os.makedirs(self.root, 0o701, exist_ok=True)
            try:
                os.mkdir(os.path.dirname(path), 0o701)
            except FileExistsError:
                pass
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                pass
        return path

    def mount(self, rec: VolumeRecord) -> str:
        """The directory a container binds for this volume, its filesystem mounted if the options ask for one."""
        path = self.create(rec)
        if not rec.options:
            return path
        from pinnace._util.lock import FileLock
        from pinnace.mount import Mount
        from pinnace.mount.flags import mount_points
        from pinnace.mount.ops import mount_one

        with FileLock(os.path.join(self.root, _LOCK)):
            if path in mount_points():
                return path
            options = rec.options
            data = tuple(o for o in options.get("o", "").split(",") if o)
            kind = options.get("type", "") or "none"
            if "bind" in data or "rbind" in data:
                kind = "bind"
            mount_one(Mount(kind, options.get("device", "") or kind, data), path)
        return path

    def unmount(self, rec: VolumeRecord) -> None:
        """Take the options' filesystem off the volume's directory, if it is mounted there."""
        if not rec.options:
            return
        from pinnace.mount.ops import unmount_all

        unmount_all(self.path(rec.name))

    def discard(self, rec: VolumeRecord) -> str | None:
        """Move the volume's directory to the trash (before its record goes): the trash path, or None.

        Raises if the volume's filesystem cannot be unmounted, so the record
        stays and nothing of a mounted device is deleted.
        """
        self.unmount(rec)
        where = os.path.join(self.root, rec.name)
        trash = os.path.join(self.root, TRASH)
        with map_errors({OSError: Unavailable}, f"remove {rec.name}"):
            os.makedirs(trash, 0o700, exist_ok=True)
            target = os.path.join(trash, f"{rec.name}-{os.urandom(4).hex()}")
            try:
                os.rename(where, target)
            except FileNotFoundError:
                return None  # never used, or its directory is already gone
        return target

    def empty_trash(self) -> None:
        """Delete what removals moved to the trash (theirs and any a crash left)."""
        from pinnace._util.fs import remove_tree
        from pinnace.mount.ops import unmount_all

        trash = os.path.join(self.root, TRASH)
        try:
            names = os.listdir(trash)
        except FileNotFoundError:
            return
        for name in names:
            target = os.path.join(trash, name)
            unmount_all(target)  # never delete through a mount a crash left behind
            with map_errors({OSError: Unavailable}, f"remove {target}"):
                remove_tree(target)

    def size(self, name: str) -> int:
        """Bytes of the regular files in the volume, each hard-linked inode once (docker's directory.Size)."""
        seen: set[tuple[int, int]] = set()
        total = 0
        stack = [self.path(name)]
        while stack:
            try:
                entries = os.scandir(stack.pop())
            except OSError:
                continue
            with entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    if st.st_nlink > 1:
                        key = (st.st_dev, st.st_ino)
                        if key in seen:
                            continue
                        seen.add(key)
                    total += st.st_size
        return total
