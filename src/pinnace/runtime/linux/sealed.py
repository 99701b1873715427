"""Run the runtime from a read-only view of its interpreter (CVE-2019-5736).

A container process can reach the binary of the runtime that set it up
through ``/proc/PID/exe`` (of the init before it executes the user's
program, of an ``exec`` joining it, or of itself after running a script
whose interpreter line is ``#!/proc/self/exe``).  For runc that binary was
runc; for pinnace it is the host's Python interpreter.  Root in a container
has CAP_DAC_OVERRIDE, so a writable path to that file is a host takeover.

runc's fix is to execute from a sealed copy.  Ours is cheaper: the verbs
that enter containers re-execute the interpreter through a *read-only bind
mount* of it (``<root>/.sealed/bin/python3.X``, made once per runtime root),
so ``/proc/PID/exe`` names a file on a read-only mount and every open for
writing fails with EROFS, whatever the caller's capabilities.  The bind
sits in the host's mount namespace, out of every container's reach, and
costs one interpreter start (~8 ms) per create/run/exec.  ``lib`` beside
``bin`` points at the real ``lib`` so the interpreter still finds its
standard library from the new path.
"""

from __future__ import annotations

import os
import sys

from pinnace.errors import FailedPrecondition

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 4096

#: Set in the re-executed process, so a failed seal can never loop.
ENV_MARK = "_PINNACE_SEALED"


def is_sealed() -> bool:
    """Whether this process's executable sits on a read-only mount."""
    return bool(os.statvfs("/proc/self/exe").f_flag & os.ST_RDONLY)


def interpreter(root: str) -> str:
    """The sealed interpreter under runtime root ``root``, bind-mounted read-only on first use."""
    from pinnace._util.lock import FileLock

    real = os.path.realpath(sys.executable)
    base = os.path.join(root, ".sealed")
    target = os.path.join(base, "bin", os.path.basename(real))
    if os.path.exists(target) and os.statvfs(target).f_flag & os.ST_RDONLY:
        return target
    os.makedirs(os.path.join(base, "bin"), 0o711, exist_ok=True)
    with FileLock(os.path.join(base, "lock")):
        if os.path.exists(target) and os.statvfs(target).f_flag & os.ST_RDONLY:
            return target
        lib = os.path.join(base, "lib")
        if not os.path.islink(lib):
            os.symlink(os.path.join(sys.base_prefix, "lib"), lib)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o555)
        os.close(fd)
        from pinnace.runtime.linux.syscalls import LinuxSys

        linux = LinuxSys()
        linux.mount(real, target, "", _MS_BIND, "")
        linux.mount(real, target, "", _MS_BIND | _MS_REMOUNT | _MS_RDONLY, "")
    return target


def reexec(root: str, argv: Sequence[str], module: str) -> NoReturn:
    """Replace this process with ``module``'s main() run by the sealed interpreter of ``root``."""
    if os.environ.get(ENV_MARK):
        raise FailedPrecondition("the runtime's interpreter is not on a read-only mount after sealing")
    python = interpreter(root)
    code = f"import sys; sys.path[:0] = {sys.path!r}; from {module} import main; main()"
    os.environ[ENV_MARK] = "1"
    os.execve(python, [python, "-IS", "-c", code, *argv], os.environ)


def unseal(root: str) -> None:
    """Unmount the sealed interpreter of ``root`` (tests, and cleaning up a runtime root)."""
    target_dir = os.path.join(root, ".sealed", "bin")
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
