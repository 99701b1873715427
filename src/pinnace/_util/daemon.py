"""Starting a long-lived helper process (the zygote, the DNS server) detached from whoever starts it."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def start_detached(python: str, entry: str, argv: Callable[[int], list[str]], *, quiet: bool = False) -> str:
    """Run ``entry`` (``module:function``) in ``python``, detached; what it wrote on its ready pipe.

    The process gets its own session and is re-parented to init (a double
    fork), so the command that starts it can exit and no terminal signal
    reaches it.  ``argv(fd)`` gives its arguments, which must carry the
    pipe's write end ``fd``: the process writes a word there ("ready") and
    closes it, and that word is returned ("" if it exited first).
    ``quiet`` points its stdio at /dev/null.
    """
    import sys

    module, _, function = entry.partition(":")
    code = f"import sys; sys.path[:0] = {sys.path!r}; from {module} import {function}; {function}()"
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            os.set_inheritable(ready_w, True)
            if quiet:
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
            os.execve(python, [python, "-IS", "-c", code, *argv(ready_w)], os.environ)
        finally:
            os._exit(127)
    os.close(ready_w)
    os.waitpid(child, 0)
    chunks = []
    while chunk := os.read(ready_r, 4096):
        chunks.append(chunk)
    os.close(ready_r)
    return b"".join(chunks).decode(errors="replace")
