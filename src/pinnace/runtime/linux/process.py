"""The spec's ``process`` applied to the container init: limits, executable, credentials, cwd.

The init calls, in this order (runtime-contract steps 7, 9, 10):

- :func:`apply_sysctl` -- ``linux.sysctl`` written under /proc/sys;
- :func:`prepare` -- rlimits, oomScoreAdj, personality, and the executable
  looked up in the container (it still holds every privilege, which raising
  a limit or lowering the OOM score may need);
- :func:`finalize` -- runc's finalizeNamespace: no_new_privs, an early
  seccomp filter, the bounding set, the user and groups (with
  PR_SET_KEEPCAPS held so permitted capabilities survive setuid), the
  effective/permitted/inheritable and ambient sets, the umask, and the cwd,
  checked to be inside the root (CVE-2024-21626).

:func:`env_with_home` is runc's prepareEnv: the environment to exec with.

Error messages are runc's where runc has them, prefixed with the spec field
they come from; the engine maps NotFound from the executable lookup to exit
code 127 and FailedPrecondition to 126, as Docker does.  This code runs
after fork() in a single-threaded init: it imports little and starts no
thread.
"""

from __future__ import annotations

import errno
import os

from pinnace._util.golang import quote
from pinnace.errors import FailedPrecondition, InvalidArgument, NotFound, PinnaceError, Unavailable
from pinnace.runtime.linux import capabilities

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pinnace.runtime.linux.syscalls import Sys

PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38

#: linux.personality.domain -> persona (linux/personality.h).
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}

#: process.rlimits[].type values (each a constant of the ``resource`` module on Linux).
RLIMITS = (
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_DATA",
    "RLIMIT_FSIZE",
    "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_RSS",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
    "RLIMIT_SIGPENDING",
    "RLIMIT_STACK",
)

#: The umask runc gives a process whose config has no ``user.umask``.
DEFAULT_UMASK = 0o022

_UINT32_MAX = 0xFFFFFFFF
_UINT64_MAX = 0xFFFFFFFFFFFFFFFF

_BREAKOUT = (
    "current working directory is outside of container mount namespace root"
    " -- possible container breakout detected"
)


# -- linux.sysctl -------------------------------------------------------------


def apply_sysctl(sysctl: dict[str, str] | None) -> None:
    """Write each ``linux.sysctl`` entry to /proc/sys/<key with dots as slashes>.

    A key is dotted names only: one with "/", "..", an empty part or a NUL
    is refused, so no key can name a file outside /proc/sys.  Whether a key
    belongs to a namespace the container owns is for config validation to
    decide (runc's validator); this writes what it is given.
    """
    for key, value in (sysctl or {}).items():
        field = f'linux.sysctl["{key}"]'
        if not isinstance(key, str) or "/" in key or "\0" in key or "" in key.split("."):
            raise InvalidArgument(f'{field}: invalid sysctl name (dot-separated names; no "/" or "..")')
        if not isinstance(value, str):
            raise InvalidArgument(f"{field}: must be a string")
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise _os_error(field, f"open {path}", e) from None
        try:
            os.write(fd, value.encode())
        except OSError as e:
            raise _os_error(field, f"write {path}", e) from None
        finally:
            os.close(fd)


# -- prepare: limits and the executable --------------------------------------


def prepare(process: dict[str, Any], *, personality: dict[str, Any] | None = None) -> str:
    """Apply ``process``'s rlimits and oomScoreAdj and the spec's ``linux.personality``;
    return the path to exec for ``process.args[0]``.

    Runs in the container's root (after pivot) and before :func:`finalize`,
    while the init still has the runtime's capabilities.  ``personality``
    is the spec's ``linux.personality`` (it lives under ``linux``, not
    ``process``); its flags are ignored, as runc ignores them.
    """
    set_rlimits(process.get("rlimits"))
    if process.get("oomScoreAdj") is not None:
        set_oom_score_adj(process["oomScoreAdj"])
    if personality is not None:
        set_personality(personality)
    args = process.get("args")
    if not isinstance(args, list) or not args or not isinstance(args[0], str):
        raise InvalidArgument("process.args: must not be empty")
    return lookup(args[0], process.get("env"), process.get("cwd") or "/")


def set_rlimits(rlimits: object) -> None:
    """setrlimit for each ``process.rlimits`` entry, in order.

    Raising a hard limit above the one the runtime holds needs
    CAP_SYS_RESOURCE (and RLIMIT_NOFILE never goes above fs.nr_open): the
    error then says which limit and what the host allows.
    """
    import resource

    seen: set[str] = set()
    for i, entry in enumerate(_list(rlimits, "process.rlimits")):
        field = f"process.rlimits[{i}]"
        entry = _obj(entry, field)
        kind = entry.get("type")
        if kind not in RLIMITS or not hasattr(resource, kind):
            raise InvalidArgument(f'{field}.type: unknown rlimit "{kind}"')
        if kind in seen:
            raise InvalidArgument(f'{field}.type: rlimit "{kind}" is given twice')
        seen.add(kind)
        hard = _uint(entry.get("hard"), f"{field}.hard", _UINT64_MAX)
        soft = _uint(entry.get("soft"), f"{field}.soft", _UINT64_MAX)
        if soft > hard:
            raise InvalidArgument(f"{field}: {kind} soft limit {soft} is above its hard limit {hard}")
        number = getattr(resource, kind)
        try:
            resource.setrlimit(number, (_rlim(soft), _rlim(hard)))
        except (ValueError, OSError) as e:
            raise _rlimit_error(field, kind, number, hard, e) from None


def _rlim(value: int) -> int:
    """A spec rlimit value as the resource module takes it (a C long long; 2^63 and up is infinity)."""
    import resource

    return resource.RLIM_INFINITY if value >= 1 << 63 else value


def _rlimit_error(field: str, kind: str, number: int, hard: int, e: Exception) -> PinnaceError:
    """The one-line reason setrlimit refused ``hard`` (ValueError is how Python reports EPERM)."""
    import resource

    host_hard = resource.getrlimit(number)[1]
    if host_hard != resource.RLIM_INFINITY and hard > host_hard:
        if kind == "RLIMIT_NOFILE":
            nr_open = _read_int("/proc/sys/fs/nr_open")
            if nr_open is not None and hard > nr_open:
                return FailedPrecondition(
                    f"{field}: {kind} hard limit {hard} is above the host's fs.nr_open ({nr_open})"
                )
        return FailedPrecondition(
            f"{field}: {kind} hard limit {hard} is above the host's hard limit {host_hard} "
            "(raising it needs CAP_SYS_RESOURCE)"
        )
    if isinstance(e, OSError):
        return _os_error(field, f"setrlimit {kind}", e)
    return FailedPrecondition(f"{field}: setrlimit {kind}: {e}")


def set_oom_score_adj(value: object) -> None:
    """Write ``process.oomScoreAdj`` to /proc/self/oom_score_adj (lowering it needs CAP_SYS_RESOURCE)."""
    field = "process.oomScoreAdj"
    if isinstance(value, bool) or not isinstance(value, int) or not -1000 <= value <= 1000:
        raise InvalidArgument(f"{field}: must be an integer from -1000 to 1000")
    path = "/proc/self/oom_score_adj"
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as e:
        err = _os_error(field, f"write {path}", e)
        if e.errno in (errno.EACCES, errno.EPERM):
            err = FailedPrecondition(f"{err} (lowering it needs CAP_SYS_RESOURCE)")
        raise err from None


def set_personality(personality: object) -> None:
    """personality(2) with the domain of the spec's ``linux.personality``."""
    domain = _obj(personality, "linux.personality").get("domain")
    persona = PERSONALITIES.get(domain) if isinstance(domain, str) else None
    if persona is None:
        raise InvalidArgument(f"linux.personality.domain: invalid personality domain {domain}")
    import ctypes

    from pinnace.mount import flags as ops

    lib = ops.libc()
    lib.personality.argtypes = (ctypes.c_ulong,)
    lib.personality.restype = ctypes.c_int
    if lib.personality(persona) == -1:
        err = ctypes.get_errno()
        raise _os_error("linux.personality", "personality", OSError(err, os.strerror(err)))


def lookup(name: str, env: list[str] | None, cwd: str = "/") -> str:
    """Go's exec.LookPath as runc calls it: the path to exec for ``name``, in the current root.

    A name with a "/" is used as is (relative to ``cwd``, where the process
    will be); any other is looked up in the PATH of ``env`` -- the
    process's environment, never the runtime's.  Errors are runc's text:
    ``exec: "foo": executable file not found in $PATH`` (NotFound),
    ``exec: "/x": stat /x: no such file or directory`` (NotFound),
    ``exec: "/x": permission denied`` or ``is a directory``
    (FailedPrecondition).
    """
    quoted = quote(name)
    if "/" in name:
        problem = _not_executable(os.path.join(cwd, name), name)
        if problem is not None:
            kind, reason = problem
            raise kind(f"exec: {quoted}: {reason}")
        return name
    path = _getenv(env, "PATH")
    for directory in path.split(":") if path else ():
        candidate = os.path.normpath(os.path.join(directory or ".", name))  # Go's filepath.Join cleans
        if _not_executable(os.path.join(cwd, candidate), candidate) is None:
            if not candidate.startswith("/"):
                raise FailedPrecondition(
                    f"exec: {quoted}: cannot run executable found relative to current directory"
                )
            return candidate
    raise NotFound(f"exec: {quoted}: executable file not found in $PATH")


def _not_executable(path: str, shown: str) -> tuple[type[PinnaceError], str] | None:
    """Why ``path`` cannot be exec'd (as Go's findExecutable words it), or None if it can."""
    import stat

    try:
        st = os.stat(path)
    except OSError as e:
        kind: type[PinnaceError] = NotFound if e.errno == errno.ENOENT else FailedPrecondition
        return kind, f"stat {shown}: {_reason(e)}"
    if stat.S_ISDIR(st.st_mode):
        return FailedPrecondition, "is a directory"
    if not os.access(path, os.X_OK, effective_ids=True):
        return FailedPrecondition, "permission denied"
    return None


# -- the environment ----------------------------------------------------------


def env_with_home(process: dict[str, Any]) -> list[str]:
    """``process.env`` ready for execve, as runc's prepareEnv makes it.

    Each entry must be NAME=VALUE; a name given twice keeps its last value
    (in its last place); an empty HOME counts as unset, and an unset HOME
    becomes the home directory of ``process.user.uid`` in the container's
    /etc/passwd, or "/" when it has none.  No env at all stays empty.
    """
    env = process.get("env")
    if env is None:
        return []
    entries = _list(env, "process.env")
    out: list[str] = []
    seen: set[str] = set()
    home_set = False
    for i in range(len(entries) - 1, -1, -1):
        kv = entries[i]
        field = f"process.env[{i}]"
        if not isinstance(kv, str):
            raise InvalidArgument(f"{field}: must be a string")
        key, sep, value = kv.partition("=")
        if not sep:
            raise InvalidArgument(f"{field}: invalid environment variable: missing '='")
        if not key:
            raise InvalidArgument(f"{field}: invalid environment variable: name cannot be empty")
        if key in seen:
            continue
        seen.add(key)
        if "\0" in kv:
            raise InvalidArgument(f'{field}: invalid environment variable "{key}": contains nul byte (\\x00)')
        if key == "HOME":
            if not value:
                continue
            home_set = True
        out.append(kv)
    out.reverse()
    if not home_set:
        user = process.get("user") or {}
        out.append("HOME=" + _home_of(user.get("uid", 0) if isinstance(user, dict) else 0))
    return out


def _home_of(uid: object, passwd: str = "/etc/passwd") -> str:
    """The home directory of ``uid`` in ``passwd`` (the current root's), "/" if it has none."""
    try:
        with open(passwd, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5]
    except OSError:
        pass
    return "/"


def _getenv(env: object, key: str) -> str:
    """The last value of ``key`` in a NAME=VALUE list ("" when absent)."""
    if not isinstance(env, list):
        return ""
    prefix = key + "="
    for kv in reversed(env):
        if isinstance(kv, str) and kv.startswith(prefix):
            return kv[len(prefix) :]
    return ""


# -- finalize: credentials, capabilities, cwd --------------------------------


def finalize(process: dict[str, Any], sys: Sys, *, load_seccomp: Callable[[], None] | None = None) -> None:
    """Become the process the spec describes, in runc's order (finalizeNamespace).

    1. no_new_privs when ``noNewPrivileges``; otherwise ``load_seccomp``
       now, while CAP_SYS_ADMIN is still held (a filter without no_new_privs
       needs it).  With no_new_privs the caller loads seccomp later, as
       close to execve as it can.
    2. chdir(cwd) with the runtime's credentials (a cwd only root can reach,
       e.g. a 0700 volume, still works); EACCES is retried as the user.
    3. Drop the bounding set to ``capabilities.bounding`` (needs CAP_SETPCAP).
    4. PR_SET_KEEPCAPS, chown stdio to the user, setgroups(additionalGids)
       (skipped where /proc/self/setgroups says "deny"), setresgid,
       setresuid; the cwd is checked to be inside the root; KEEPCAPS off.
    5. effective, permitted, inheritable in one capset, then ambient.
    6. The umask (``user.umask``, else 0022).

    A missing ``capabilities`` object changes no capability (runc does the
    same).  Capabilities that cannot be granted are left out rather than
    failing (runtime-spec; runc warns), see :func:`capabilities.apply`.
    Everything is validated before the first change.
    """
    user = _obj(process.get("user") or {}, "process.user")
    uid = _uint(user.get("uid", 0), "process.user.uid", _UINT32_MAX)
    gid = _uint(user.get("gid", 0), "process.user.gid", _UINT32_MAX)
    groups = [
        _uint(g, f"process.user.additionalGids[{i}]", _UINT32_MAX)
        for i, g in enumerate(_list(user.get("additionalGids"), "process.user.additionalGids"))
    ]
    umask = DEFAULT_UMASK
    if user.get("umask") is not None:
        umask = _uint(user["umask"], "process.user.umask", 0o777)
    cwd = process.get("cwd") or "/"
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise InvalidArgument(f'process.cwd: "{cwd}" is not an absolute path')
    sets: dict[str, int] | None = None
    if process.get("capabilities") is not None:
        caps = _obj(process["capabilities"], "process.capabilities")
        sets = {
            name: capabilities.parse(caps.get(name), f"process.capabilities.{name}")
            for name in capabilities.SETS
        }

    if process.get("noNewPrivileges"):
        _prctl(sys, PR_SET_NO_NEW_PRIVS, 1, "process.noNewPrivileges")
    elif load_seccomp is not None:
        load_seccomp()

    chdir_later = not _chdir(cwd, retry_as_user=True)

    if sets is not None:
        keep = sets["bounding"]
        _with_field("process.capabilities.bounding", lambda: capabilities.drop_bounding(keep))
    _prctl(sys, PR_SET_KEEPCAPS, 1, "process.user")
    _fix_stdio(uid)
    _set_user(uid, gid, groups)
    if chdir_later:
        _chdir(cwd, retry_as_user=False)
    verify_cwd()
    _prctl(sys, PR_SET_KEEPCAPS, 0, "process.user")

    if sets is not None:
        eff, perm, inh, amb = sets["effective"], sets["permitted"], sets["inheritable"], sets["ambient"]
        _with_field("process.capabilities", lambda: capabilities.apply(eff, perm, inh))
        _with_field("process.capabilities.ambient", lambda: capabilities.set_ambient(amb))
    os.umask(umask)


def verify_cwd() -> None:
    """Refuse a working directory that is not inside the current root (runc's verifyCwd).

    A cwd reached through a file descriptor leaked from the host (e.g. a
    ``process.cwd`` of /proc/self/fd/N, CVE-2024-21626) lies outside the
    root: the kernel's getcwd then reports "(unreachable)...", which glibc
    turns into ENOENT.  The path getcwd gives must also lead back to the
    directory we are in.
    """
    field = "process.cwd"
    try:
        wd = os.getcwd()
    except FileNotFoundError:
        raise FailedPrecondition(f"{field}: {_BREAKOUT}") from None
    except OSError as e:
        raise FailedPrecondition(
            f"{field}: failed to verify if current working directory is safe: {_reason(e)}"
        ) from None
    if not wd.startswith("/"):
        raise FailedPrecondition(
            f"{field}: current working directory is not absolute -- possible container breakout detected:"
            f' cwd is "{wd}"'
        )
    try:
        here, there = os.stat("."), os.stat(wd)
    except PermissionError:
        return  # the user may not search a parent of its own cwd; getcwd already vouched for it
    except OSError:
        raise FailedPrecondition(f"{field}: {_BREAKOUT}") from None
    if (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino):
        raise FailedPrecondition(f"{field}: {_BREAKOUT}")


def _chdir(cwd: str, *, retry_as_user: bool) -> bool:
    """chdir(cwd); False when it was refused with EACCES/EPERM and may be retried as the user."""
    try:
        os.chdir(cwd)
    except PermissionError:
        if retry_as_user:
            return False
        raise FailedPrecondition(
            f'process.cwd: chdir to cwd ("{cwd}") set in config.json failed: permission denied'
        ) from None
    except OSError as e:
        raise _os_error("process.cwd", f'chdir to cwd ("{cwd}") set in config.json failed', e) from None
    return True


def _fix_stdio(uid: int) -> None:
    """Give the user its stdio (runc's fixStdioPermissions): a pty or pipe made as root.

    Only the owner changes (the group may be the devpts gid=).  /dev/null
    and fds already owned by ``uid`` are left alone, and refusals that mean
    "not ours to change" (unmapped owner, read-only /dev) are ignored.
    """
    import stat

    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
        except OSError as e:
            if e.errno == errno.EBADF:
                continue
            raise _os_error("process.user.uid", f"fstat stdio fd {fd}", e) from None
        if st.st_uid == uid or (stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)):
            continue
        try:
            os.fchown(fd, uid, st.st_gid)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM, errno.EROFS):
                raise _os_error("process.user.uid", f"chown stdio fd {fd}", e) from None


def _set_user(uid: int, gid: int, groups: list[int]) -> None:
    """setgroups, setresgid, setresuid (runc's setupUser, minus stdio)."""
    try:
        with open("/proc/self/setgroups", "rb") as f:
            allow_groups = f.read().strip() != b"deny"
    except FileNotFoundError:
        allow_groups = True
    except OSError as e:
        raise _os_error("process.user.additionalGids", "read /proc/self/setgroups", e) from None
    if allow_groups:
        try:
            os.setgroups(groups)
        except OSError as e:
            raise _os_error("process.user.additionalGids", "setgroups", e) from None
    try:
        os.setresgid(gid, gid, gid)
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise InvalidArgument(
                f"process.user.gid: cannot setgid to unmapped gid {gid} in user namespace"
            ) from None
        raise _os_error("process.user.gid", f"setgid {gid}", e) from None
    try:
        os.setresuid(uid, uid, uid)
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise InvalidArgument(
                f"process.user.uid: cannot setuid to unmapped uid {uid} in user namespace"
            ) from None
        raise _os_error("process.user.uid", f"setuid {uid}", e) from None


def _prctl(sys: Sys, option: int, arg: int, field: str) -> None:
    _with_field(field, lambda: sys.prctl(option, arg))


def _with_field(field: str, call: Callable[[], object]) -> None:
    """Run ``call``; a pinnace error it raises is re-raised with ``field`` in front."""
    try:
        call()
    except PinnaceError as e:
        raise type(e)(f"{field}: {e}") from e


# -- helpers -------------------------------------------------------------------


def _reason(e: OSError) -> str:
    """strerror as Go spells it: "no such file or directory"."""
    reason = e.strerror or os.strerror(e.errno or 0)
    return reason[:1].lower() + reason[1:]


def _os_error(field: str, op: str, e: OSError) -> PinnaceError:
    """``<field>: <op>: <reason>`` as the kind the errno calls for."""
    if e.errno == errno.ENOENT:
        kind: type[PinnaceError] = NotFound
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ELOOP):
        kind = FailedPrecondition
    elif e.errno in (errno.EINVAL, errno.ERANGE):
        kind = InvalidArgument
    else:
        kind = Unavailable
    return kind(f"{field}: {op}: {_reason(e)}")


def _obj(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: must be a JSON object")
    return value


def _list(value: object, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(f"{field}: must be a JSON array")
    return value


def _uint(value: object, field: str, maximum: int) -> int:
    if value is None:
        raise InvalidArgument(f"{field}: missing")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidArgument(f"{field}: must be an integer from 0 to {maximum}")
    return value


def _read_int(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None
