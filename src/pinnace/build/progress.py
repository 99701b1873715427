"""The builder's progress as JSON-able events, and back: how a build on a service shows on the client.

``POST /build`` answers with docker's legacy-builder stream (``Step N/M : ...`` text) for docker's
CLI; that text cannot say which step a line of RUN output belongs to, how long a step took, or that a
step was cached, so the service sends every :class:`~pinnace.build.builder.Progress` call as well, as an
``aux`` message under the id :data:`TRACE` (as dockerd sends BuildKit's progress under
``moby.buildkit.trace``).  Docker's CLI hands such messages to its aux callback, which sees no image
ID in them; pinnace's client replays them (:func:`replay`) into the very progress printer of a local
build, so ``pinnace -H URL build`` prints what ``pinnace build`` prints.

The wire format lives here, beside :class:`Progress`, so that both ends share one definition.
"""

from __future__ import annotations

import base64

from pinnace.build.builder import Progress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

#: The ``id`` of the stream messages whose ``aux`` is a progress event.
TRACE = "pinnace.build.trace"


class Events(Progress):
    """A :class:`Progress` that hands each call to ``send`` as one event (a JSON-able dict)."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self.send = send

    def step(self, number: int, text: str) -> None:
        self.send({"step": number, "text": text})

    def cached(self, number: int) -> None:
        self.send({"cached": number})

    def missed(self, number: int, why: str) -> None:
        self.send({"missed": number, "why": why})

    def output(self, number: int, data: bytes) -> None:
        # base64: RUN output is bytes, and a chunk may end inside a UTF-8 sequence
        self.send({"output": number, "data": base64.b64encode(data).decode("ascii")})

    def done(self, number: int, seconds: float) -> None:
        self.send({"done": number, "seconds": seconds})

    def note(self, text: str) -> None:
        self.send({"note": text})

    def failed(self, message: str) -> None:
        """The words of a failed step as the local CLI says them (the stream's error line says them the
        legacy builder's way, for docker's CLI)."""
        self.send({"error": message})


def replay(event: Mapping[str, Any], progress: Progress) -> None:
    """Make the :class:`Progress` call ``event`` records (an ``error`` event, or one of a newer
    service this client does not know, calls nothing)."""
    if "step" in event:
        progress.step(int(event["step"]), str(event.get("text") or ""))
    elif "cached" in event:
        progress.cached(int(event["cached"]))
    elif "missed" in event:
        progress.missed(int(event["missed"]), str(event.get("why") or ""))
    elif "output" in event:
        progress.output(int(event["output"]), base64.b64decode(str(event.get("data") or "")))
    elif "done" in event:
        progress.done(int(event["done"]), float(event.get("seconds") or 0.0))
    elif "note" in event:
        progress.note(str(event["note"]))
