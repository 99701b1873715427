"""Signal names and numbers, without importing :mod:`signal`.

``import signal`` builds its ``Signals`` enum at import time (about 4 ms
with ``enum``), and the runtime and the CLI only need the name table that
``kill``, ``--stop-signal`` and ``STOPSIGNAL`` parse.  Numbers are Linux's
(the same on x86, arm and the other architectures pinnace runs on).
"""

from __future__ import annotations

from pinnace.errors import InvalidArgument

SIGNALS: dict[str, int] = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
    "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24,
    "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip

#: SIGRTMIN as the C library sees it (glibc keeps 32 and 33 for itself).
SIGRTMIN = 34
SIGRTMAX = 64


def parse(text: str) -> int:
    """``9``, ``KILL``, ``SIGKILL``, ``sigkill`` or ``RTMIN+3`` -> the signal number."""
    if text.isdigit():
        number = int(text)
        if 0 < number <= SIGRTMAX:
            return number
        raise InvalidArgument(f"invalid signal: {text}")
    name = text.upper().removeprefix("SIG")
    if name in SIGNALS:
        return SIGNALS[name]
    for base, limit in (("RTMIN", SIGRTMIN), ("RTMAX", SIGRTMAX)):
        if name == base:
            return limit
        if name.startswith(base) and name[len(base) : len(base) + 1] in "+-":
            offset = name[len(base) + 1 :]
            if offset.isdigit():
                number = limit + int(offset) * (1 if name[len(base)] == "+" else -1)
                if SIGRTMIN <= number <= SIGRTMAX:
                    return number
    raise InvalidArgument(f"unknown signal {text!r}")


def name(number: int) -> str:
    """``SIGTERM`` for 15 (the first name of a number; ``SIGRTMIN+n`` for real-time ones)."""
    for key, value in SIGNALS.items():
        if value == number:
            return "SIG" + key
    if SIGRTMIN <= number <= SIGRTMAX:
        return f"SIGRTMIN+{number - SIGRTMIN}" if number != SIGRTMIN else "SIGRTMIN"
    return str(number)


def exit_code(status: int) -> int:
    """A wait status as a shell exit code: the exit code, or 128+N when killed by signal N."""
    import os

    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)
