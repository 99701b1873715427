"""The registry's access log on stderr: a line per request, in Apache's combined format (what
distribution writes) or as JSON objects for log pipelines (``--access-log json``)."""

from __future__ import annotations

import json
import sys
import time

from aiohttp.abc import AbstractAccessLogger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiohttp import web


def _fields(request: web.BaseRequest, response: web.StreamResponse, took: float) -> dict[str, object]:
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "remote": request.remote or "",
        "account": request.get("account", ""),
        "method": request.method,
        "uri": request.path_qs,
        "proto": f"HTTP/{request.version.major}.{request.version.minor}",
        "status": response.status,
        "bytes": response.body_length,
        "duration_ms": round(took * 1000, 3),
        "user_agent": request.headers.get("User-Agent", ""),
        "error": request.get("error", ""),
    }


class JsonAccessLogger(AbstractAccessLogger):
    """One JSON object per line: time, remote, account, method, uri, proto, status, bytes,
    duration_ms, user_agent and the spec's error code when there was one."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        sys.stderr.write(json.dumps(_fields(request, response, time)) + "\n")
        sys.stderr.flush()


class TextAccessLogger(AbstractAccessLogger):
    """Apache's combined format with the time taken appended, as distribution's access log."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        f = _fields(request, response, time)
        stamp = _clf_time()
        referer = request.headers.get("Referer", "-")
        sys.stderr.write(
            f'{f["remote"] or "-"} - {f["account"] or "-"} [{stamp}] "{f["method"]} {f["uri"]} {f["proto"]}" '
            f'{f["status"]} {f["bytes"]} "{referer}" "{f["user_agent"] or "-"}" {time:.6f}\n'
        )
        sys.stderr.flush()


def _clf_time() -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
