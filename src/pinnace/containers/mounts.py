"""A container's mounts: resolved at create from its flags and image, made into runtime-spec mounts at start.

:func:`resolve` follows moby's ``registerMountPoints``: mounts copied from
``--volumes-from`` containers first, then ``-v`` binds and volumes, then
``--mount``, then ``--tmpfs``, and last one anonymous volume for each
``VOLUME`` of the image (and ``-v /path``) that nothing else covers.  Two
of the user's mounts on one destination are docker's "Duplicate mount
point" error.  The result is stored with the container
(:attr:`ContainerRecord.mounts`), so a start mounts what the create
decided, and the volumes it names are the container's from then on.

:func:`spec_mounts` runs at start: it makes what a mount needs on the host
(a ``-v`` bind's missing source directory, a volume's directory or its
filesystem), copies the image's content into a volume that is still
empty (docker's copy-up; ``nocopy`` turns it off), and checks a shared or
slave bind's source, as dockerd does.
"""

from __future__ import annotations

import os

from pinnace._util.record import record
from pinnace.errors import FailedPrecondition, InvalidArgument, NotImplementedYet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

    from pinnace.containers.options import RunOptions
    from pinnace.containers.records import ContainerRecord
    from pinnace.volumes.records import VolumeRecord
    from pinnace.volumes.service import VolumeService
    from pinnace.volumes.specs import MountSpec

#: Propagations that need the bind's source on a shared mount, and on a shared or slave one (moby's ensureShared).
_SHARED = ("shared", "rshared")
_SLAVE = ("slave", "rslave")


@record
class MountPoint:
    """One mount of a container as resolved at create (moby's MountPoint); JSON in the container record."""

    type: str  # "volume", "bind" or "tmpfs"
    destination: str
    source: str = ""  # a bind's host path ("" for volumes, whose path is the volume's, and tmpfs)
    name: str = ""  # a volume's name
    driver: str = ""  # a volume's driver
    mode: str = ""  # as given (``ro``, ``z``, ...): inspect's Mode
    rw: bool = True
    propagation: str = ""  # binds: "" is rprivate
    recursive: bool = True  # binds: the mounts below the source too (rbind); --mount bind-nonrecursive=true
    copy_data: bool = False  # a volume: fill it from the image when it is empty
    create_source: bool = False  # a -v bind: make a missing source directory
    tmpfs_options: tuple[str, ...] = ()  # a tmpfs: its runtime-spec mount options
    shown: bool = True  # in inspect's Mounts (not --tmpfs ones, as docker)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "destination": self.destination,
            "source": self.source,
            "name": self.name,
            "driver": self.driver,
            "mode": self.mode,
            "rw": self.rw,
            "propagation": self.propagation,
            "recursive": self.recursive,
            "copy_data": self.copy_data,
            "create_source": self.create_source,
            "tmpfs_options": list(self.tmpfs_options),
            "shown": self.shown,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> MountPoint:
        return cls(**{**value, "tmpfs_options": tuple(value.get("tmpfs_options") or ())})


def load(record: ContainerRecord) -> list[MountPoint]:
    """The container's mount points."""
    return [MountPoint.from_json(m) for m in record.mounts]


# --------------------------------------------------------------------------- create


def resolve(
    options: RunOptions,
    config: Mapping[str, Any],
    volumes: VolumeService,
    lookup: Callable[[str], ContainerRecord],
) -> tuple[list[MountPoint], list[VolumeRecord]]:
    """The container's mount points, and the volumes they name (to create if missing and to refer to).

    ``config`` is the container's Config (its ``Volumes``: the image's and
    ``-v /path``); ``lookup`` finds a ``--volumes-from`` container.
    """
    from pinnace._util.record import replace
    from pinnace.volumes import specs

    points: dict[str, MountPoint] = {}
    wanted: dict[str, VolumeRecord] = {}
    user: set[str] = set()  # destinations the user's -v/--mount/--tmpfs took

    def take(point: MountPoint) -> None:
        if point.destination in user:
            raise InvalidArgument(f"Duplicate mount point: {point.destination}")
        user.add(point.destination)
        points[point.destination] = point

    for text in options.volumes_from:
        ref, mode = specs.parse_volumes_from(text)
        source = lookup(ref)
        for point in load(source):
            point = _borrowed(point, mode)
            points[point.destination] = point
            if point.type == "volume":
                wanted[point.name] = volumes.records.get(point.name)
    for text in options.binds:
        take(_point(specs.parse_bind(text), volumes, options, wanted))
    for mount in options.mounts:
        take(_point(specs.mount_spec(mount), volumes, options, wanted))
    for target, data in options.tmpfs.items():
        take(replace(_point(specs.tmpfs_spec(target, data), volumes, options, wanted), shown=False))
    for target in config.get("Volumes") or {}:
        destination = os.path.normpath("/" + target.lstrip("/"))
        if destination in points:
            continue
        spec = specs.MountSpec(type=specs.VOLUME, target=destination)
        points[destination] = _point(spec, volumes, options, wanted)
    ordered = sorted(points.values(), key=lambda p: (p.destination.count("/"), p.destination))
    return ordered, list(wanted.values())


def _point(
    spec: MountSpec, volumes: VolumeService, options: RunOptions, wanted: dict[str, VolumeRecord]
) -> MountPoint:
    """The mount point of one checked spec; a volume's record (new, or known) goes into ``wanted``."""
    from pinnace.volumes.specs import tmpfs_mount_options

    if spec.type == "tmpfs":
        return MountPoint(
            type="tmpfs", destination=spec.target, tmpfs_options=tuple(tmpfs_mount_options(spec))
        )
    if spec.type == "bind":
        return MountPoint(
            type="bind",
            destination=spec.target,
            source=spec.source,
            mode=spec.mode,
            rw=not spec.read_only,
            propagation=spec.propagation or "rprivate",
            recursive=not spec.non_recursive,
            create_source=spec.create_source,
        )
    if spec.subpath:
        raise NotImplementedYet("volume-subpath: mounting part of a volume is not supported yet")
    name = spec.source
    if name in wanted:
        rec = wanted[name]
    else:
        rec = volumes.new(
            name,
            driver=spec.volume_driver or options.volume_driver,
            labels=spec.volume_labels,
            options=spec.volume_options,
        )
        wanted[rec.name] = rec
    return MountPoint(
        type="volume",
        destination=spec.target,
        name=rec.name,
        driver=rec.driver,
        mode=spec.mode,
        rw=not spec.read_only,
        copy_data=not spec.nocopy,
    )


def _borrowed(point: MountPoint, mode: str) -> MountPoint:
    """A ``--volumes-from C[:ro|rw]`` copy (moby's): ``ro`` makes it read-only, ``rw`` cannot make it writable.

    The copy never fills its volume from this container's image (the
    volume belongs to the other container's), and shows no Mode.
    """
    from pinnace._util.record import replace

    return replace(point, rw=point.rw and mode != "ro", mode="", copy_data=False)


# --------------------------------------------------------------------------- start


def spec_mounts(
    points: Sequence[MountPoint], rootfs: str, volumes: VolumeService
) -> tuple[list[dict[str, Any]], str]:
    """The runtime-spec mounts of ``points`` (parents first), and the root propagation they need ("" default).

    ``rootfs`` is the container's mounted root, where a volume's copy-up
    reads the image's content.
    """
    out = []
    root_propagation = ""
    for point in points:
        if point.type == "tmpfs":
            out.append(
                {
                    "destination": point.destination,
                    "type": "tmpfs",
                    "source": "tmpfs",
                    "options": list(point.tmpfs_options),
                }
            )
            continue
        if point.type == "volume":
            source = volumes.mount(point.name)
            if point.copy_data:
                copy_up(rootfs, point.destination, source)
            propagation = "rprivate"
        else:
            source = _bind_source(point)
            propagation = point.propagation or "rprivate"
            if propagation in _SHARED:
                _check_propagation(source, ("shared:",), "a shared")
                root_propagation = "rshared"
            elif propagation in _SLAVE:
                _check_propagation(source, ("shared:", "master:"), "a shared or slave")
                root_propagation = root_propagation or "rslave"
        options = ["rbind" if point.recursive else "bind"] + ([] if point.rw else ["ro"]) + [propagation]
        out.append({"destination": point.destination, "type": "bind", "source": source, "options": options})
    return out, root_propagation


def _bind_source(point: MountPoint) -> str:
    """A bind's host path: made as a directory for ``-v`` (docker's legacy behaviour), required for ``--mount``."""
    source = point.source
    if os.path.lexists(source):
        return source
    if not point.create_source:
        raise InvalidArgument(
            f'invalid mount config for type "bind": bind source path does not exist: {source}'
        )
    try:
        os.makedirs(source, 0o755, exist_ok=True)
    except OSError as e:
        raise FailedPrecondition(f"error while creating mount source path '{source}': {e.strerror}") from None
    return source


def _check_propagation(source: str, fields: Iterable[str], what: str) -> None:
    """Refuse a shared/slave bind whose source's mount does not propagate (moby's ensureShared)."""
    from pinnace.mount.flags import mountinfo

    path = os.path.realpath(source)
    best = None
    for info in mountinfo():
        point = info.point
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.point)):
            best = info  # the deepest mount holding the path; of stacked ones, the last (the visible one)
    if best is None or not any(f in best.optional for f in fields):
        where = best.point if best is not None else "/"
        raise FailedPrecondition(f"path {source} is mounted on {where} but it is not {what} mount")


def copy_up(rootfs: str, destination: str, volume_path: str) -> None:
    """Fill an empty volume with what the image has at ``destination`` (docker's copyExistingContents).

    The path is resolved inside the container's root, so an image's
    symlink cannot make us copy a host directory.  The volume's own
    directory takes the owner and mode of the image's.  An exclusive lock
    on the volume's directory keeps two containers starting at once from
    copying twice.
    """
    import fcntl
    import stat

    from pinnace._util.fs import copy_tree
    from pinnace.containers.spec import open_in_root

    dst = os.open(volume_path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(dst, fcntl.LOCK_EX)
        if os.listdir(dst):
            return
        root = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                found = open_in_root(root, destination)
            except OSError:
                return  # nothing there in the image (or not a directory on the way): nothing to copy
        finally:
            os.close(root)
        try:
            st = os.fstat(found)
            if not stat.S_ISDIR(st.st_mode):
                return
            src = os.open(f"/proc/self/fd/{found}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        finally:
            os.close(found)
        try:
            copy_tree(src, dst)
        except OSError as e:
            raise FailedPrecondition(f"copying the image's {destination} into its volume: {e}") from None
        finally:
            os.close(src)
        os.fchown(dst, st.st_uid, st.st_gid)
        os.fchmod(dst, stat.S_IMODE(st.st_mode))
    finally:
        os.close(dst)


# --------------------------------------------------------------------------- inspect, ps


def inspect(points: Iterable[MountPoint], volumes: VolumeService) -> list[dict[str, Any]]:
    """inspect's ``Mounts``: docker's MountPoint JSON of each shown mount."""
    out = []
    for p in points:
        if not p.shown:
            continue
        entry: dict[str, Any] = {"Type": p.type}
        if p.type == "volume":
            entry["Name"] = p.name
            entry["Source"] = volumes.mountpoint(p.name)
            entry["Destination"] = p.destination
            entry["Driver"] = p.driver
        else:
            entry["Source"] = p.source
            entry["Destination"] = p.destination
        entry["Mode"] = p.mode
        entry["RW"] = p.rw
        entry["Propagation"] = p.propagation if p.type == "bind" else ""
        out.append(entry)
    return out


def matches(points: Iterable[MountPoint], value: str) -> bool:
    """``ps --filter volume=X``: a mount of volume X, or a mount at destination X (moby's rule)."""
    return any(p.destination == value or (p.name and p.name == value) for p in points)


def volume_names(points: Iterable[MountPoint]) -> list[str]:
    return [p.name for p in points if p.type == "volume"]
