"""Run the runtime from a read-only view of its interpreter (CVE-2019-5736).

A container process can reach the binary of the runtime that set it up
through ``/proc/PID/exe`` (of the init before it executes the user's
program, of an ``exec`` joining it, or of itself after running a script
whose interpreter line is ``#!/proc/self/exe``).  For runc that binary was
runc; for pinnace it is the host's Python interpreter.  Root in a container
has CAP_DAC_OVERRIDE, so a writable path to that file is a host takeover.

runc's fix is to execute from a sealed copy.  Ours is cheaper: every
process that enters a container runs from a *read-only bind mount* of the
interpreter: the ``pinnace-runtime`` launcher's ``#!`` names one made at
set-up (``.venv/sealed/bin/python3.X``), so its forks are sealed already;
a caller that is not (the library used from any other process) gets stage 1
executed through ``<root>/.sealed/bin/python3.X`` (``container.spawn_stage1``).
Either way ``/proc/PID/exe`` names a file on a read-only mount and every
open for writing fails with EROFS, whatever the caller's capabilities.  The
bind sits in the host's mount namespace, out of every container's reach.
``lib`` beside ``bin`` points at the real ``lib`` so the interpreter still
finds its standard library from the new path.
"""

from __future__ import annotations

import os
import sys

_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 4096


def is_sealed() -> bool:
    """Whether this process's executable sits on a read-only mount."""
    return bool(os.statvfs("/proc/self/exe").f_flag & os.ST_RDONLY)


def interpreter(root: str) -> str:
    """A sealed interpreter: the installation's (``<venv>/sealed``, made by setup.sh) when it
    is mounted, else one under runtime root ``root``, bind-mounted read-only on first use."""
    if _sealed(sys.executable):
        return sys.executable  # we run from one already (the launchers' interpreter)
    venv = os.path.dirname(os.path.dirname(sys.executable))  # sys.prefix is the base's under -S
    installed = os.path.join(venv, "sealed", "bin", os.path.basename(os.path.realpath(sys.executable)))
    if _sealed(installed):
        return installed
    return seal(os.path.join(root, ".sealed"))


def _sealed(path: str) -> bool:
    return os.path.exists(path) and bool(os.statvfs(path).f_flag & os.ST_RDONLY)


#: What the mount point holds underneath the bind: reached only when the bind
#: is missing (after a reboot), it makes the bind and runs through it; without
#: the privilege to mount, it runs the interpreter itself.
_PLACEHOLDER = """#!/bin/sh
# pinnace: mount point of a read-only bind of {real} (pinnace.runtime.linux.sealed).
mount --bind {real} "$0" 2>/dev/null && mount -o remount,bind,ro "$0" 2>/dev/null && exec "$0" "$@"
exec {real} "$@"
"""


def seal(base: str) -> str:
    """``<base>/bin/python3.X``: a read-only bind of this interpreter, made if missing.

    ``<base>/lib`` links to the real ``lib`` so the interpreter finds its
    standard library from there.  The mount point itself is a shell script
    that re-creates the bind when it is missing, so a launcher whose
    ``#!`` names the sealed path (setup.sh writes ``pinnace-runtime`` so)
    keeps working after a reboot.
    """
    from pinnace._util.lock import FileLock

    real = os.path.realpath(sys.executable)
    target = os.path.join(base, "bin", os.path.basename(real))
    if _sealed(target):
        return target
    os.makedirs(os.path.join(base, "bin"), 0o755, exist_ok=True)
    with FileLock(os.path.join(base, "lock")):
        if _sealed(target):
            return target
        lib = os.path.join(base, "lib")
        if not os.path.islink(lib):
            os.symlink(os.path.join(sys.base_prefix, "lib"), lib)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o755)
        try:
            os.write(fd, _PLACEHOLDER.format(real=real).encode())
        finally:
            os.close(fd)
        from pinnace.runtime.linux.syscalls import LinuxSys

        linux = LinuxSys()
        linux.mount(real, target, "", _MS_BIND, "")
        linux.mount(real, target, "", _MS_BIND | _MS_REMOUNT | _MS_RDONLY, "")
    return target


def unseal(root: str, *, base: str = "") -> None:
    """Unmount the sealed interpreter of runtime root ``root`` (or of ``base``)."""
    target_dir = os.path.join(base or os.path.join(root, ".sealed"), "bin")
    try:
        names = os.listdir(target_dir)
    except FileNotFoundError:
        return
    from pinnace.errors import PinnaceError
    from pinnace.runtime.linux.syscalls import LinuxSys

    linux = LinuxSys()
    for name in names:
        path = os.path.join(target_dir, name)
        while os.statvfs(path).f_flag & os.ST_RDONLY:
            try:
                linux.umount2(path, 2)  # MNT_DETACH
            except PinnaceError:
                break


def main() -> None:
    """``python -m pinnace.runtime.linux.sealed DIR``: seal the interpreter under DIR, print its path."""
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m pinnace.runtime.linux.sealed DIR")
    print(seal(os.path.abspath(sys.argv[1])))


if __name__ == "__main__":
    main()
