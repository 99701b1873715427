"""Containers: list, create, inspect, the lifecycle (start, stop, restart, kill, pause, rename, wait,
remove), logs and top.  Attach, exec, archive and stats come next."""

from __future__ import annotations

from pinnace.api.server import call, json_response, query_bool, query_filters, quick_or_call
from pinnace.errors import PinnaceError

#: How often a waiter of ``/containers/{id}/wait`` looks at the container, in seconds (each waiter polls
#: in a worker thread of its own: coarser than the CLI's foreground wait).
WAIT_POLL = 0.02

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiohttp import web

    from pinnace.api.server import Engines
    from pinnace.containers.records import ContainerRecord
    from pinnace.engine import Engine


async def list_containers(request: web.Request) -> web.StreamResponse:
    from pinnace.errors import InvalidArgument

    filters = query_filters(request)
    show_all, size = query_bool(request, "all"), query_bool(request, "size")
    try:
        limit = int(request.query.get("limit", "-1") or -1)
    except ValueError:
        raise InvalidArgument("invalid limit") from None

    def rows(engine: Engine, records: list[ContainerRecord] | None) -> list[dict[str, Any]] | None:
        from pinnace.containers import views

        if records is None:
            return None
        service = engine.containers
        out = []
        for r in views.ps_list(records, filters, show_all=show_all, limit=limit):
            row = views.summary(r, network=service.network_settings(r), mounts=service.mounts_view(r))
            if size:  # dockerd's omitempty: a size of 0 is left out
                size_rw, size_root_fs = service.sizes(r)
                row.update({k: v for k, v in (("SizeRw", size_rw), ("SizeRootFs", size_root_fs)) if v})
            out.append(row)
        return out

    return await quick_or_call(
        request,
        lambda engine: (
            None if size else rows(engine, engine.containers.list_settled())
        ),  # sizes walk the disk
        lambda engine: rows(engine, engine.containers.list()),
    )


async def create_container(request: web.Request) -> web.StreamResponse:
    from pinnace.api.create import run_options
    from pinnace.errors import InvalidArgument

    try:
        body = await request.json()
    except ValueError:
        raise InvalidArgument("invalid JSON body") from None
    options = run_options(body)
    name = request.query.get("name", "")

    def work(engine: Engine) -> dict[str, Any]:
        record, warnings = engine.containers.create(options, name=name)
        return {"Id": record.id, "Warnings": list(warnings)}

    return json_response(await call(request, work), 201)


def _no_content(status: int = 204) -> web.StreamResponse:
    from aiohttp import web

    return web.Response(status=status)


def _timeout(request: web.Request) -> int | None:
    from pinnace.errors import InvalidArgument

    text = request.query.get("t") or request.query.get("timeout") or ""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"invalid timeout {text!r}") from None


async def start_container(request: web.Request) -> web.StreamResponse:
    import asyncio

    from pinnace.api.attach import handing_over, take_waiters

    ref = request.match_info["id"]
    loop = asyncio.get_running_loop()

    def work(engine: Engine) -> bool:
        service = engine.containers
        record = service.get(ref)
        if record.status in ("running", "paused", "restarting"):
            return False
        waiters = take_waiters(request.app, record.id)  # clients that attached before the start
        try:
            service.start(record.id, attach=handing_over(loop, waiters) if waiters else None, remover=True)
        except PinnaceError:
            if waiters:  # clients attached for a start that failed: their streams end now
                loop.call_soon_threadsafe(_end_attached, waiters)
            if record.host_config.get("AutoRemove"):  # dockerd removes a --rm container that cannot start:
                try:  # docker's CLI waits for that (condition=removed) before it reports the error
                    service.remove(record.id, force=True, volumes=True)
                except PinnaceError:
                    pass
            raise
        if record.host_config.get("AutoRemove"):
            reap(request.app["engines"], record.id)
        return True

    return _no_content(204 if await call(request, work) else 304)


def reap(engines: Engines, container_id: str) -> None:
    """Remove the ``--rm`` container the service just started once it ends, as dockerd does (the
    monitor leaves it to the service while the service lives): a thread of its own, not one of the
    request pool's, which a few dozen long-running ``--rm`` containers would otherwise fill."""
    import threading

    threading.Thread(
        target=lambda: engines.get().containers.reap(container_id), name="api-reap", daemon=True
    ).start()


def _end_attached(waiters: list[Any]) -> None:
    """Hand each attach request still waiting for a start that failed a stream that has ended (one end
    of a closed socket pair): its session ends at once, as dockerd closes the attached connections of a
    container that could not start, instead of waiting for a start that will not come."""
    import socket

    from pinnace.api.attach import settle

    for future in waiters:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.close()
        settle(future, theirs)


async def stop_container(request: web.Request) -> web.StreamResponse:
    ref, timeout, signal = request.match_info["id"], _timeout(request), request.query.get("signal") or None

    def work(engine: Engine) -> bool:
        service = engine.containers
        if service.get(ref).status not in ("running", "paused", "restarting"):
            return False
        service.stop(ref, timeout=timeout, signal=signal)
        return True

    return _no_content(204 if await call(request, work) else 304)


async def restart_container(request: web.Request) -> web.StreamResponse:
    ref, timeout, signal = request.match_info["id"], _timeout(request), request.query.get("signal") or None
    await call(request, lambda engine: engine.containers.restart(ref, timeout=timeout, signal=signal))
    return _no_content()


async def kill_container(request: web.Request) -> web.StreamResponse:
    from pinnace.runtime import signals

    ref = request.match_info["id"]
    signum = signals.parse(request.query.get("signal") or "SIGKILL")
    await call(request, lambda engine: engine.containers.kill(ref, signum))
    return _no_content()


async def pause_container(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    await call(request, lambda engine: engine.containers.pause(ref))
    return _no_content()


async def unpause_container(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    await call(request, lambda engine: engine.containers.unpause(ref))
    return _no_content()


async def rename_container(request: web.Request) -> web.StreamResponse:
    ref, name = request.match_info["id"], request.query.get("name", "")
    await call(request, lambda engine: engine.containers.rename(ref, name))
    return _no_content()


async def remove_container(request: web.Request) -> web.StreamResponse:
    from pinnace.api.server import query_bool

    ref, force, volumes = request.match_info["id"], query_bool(request, "force"), query_bool(request, "v")
    await call(request, lambda engine: engine.containers.remove(ref, force=force, volumes=volumes))
    return _no_content()


async def wait_container(request: web.Request) -> web.StreamResponse:
    """``condition``: not-running (default), next-exit, removed; the exit code once it is met.

    The waiting is :meth:`ContainerService.wait`'s, in a worker thread that stops polling as soon as the
    client has gone (a watcher on the connection) or the request is over.
    """
    import asyncio
    import json
    import threading

    from aiohttp import web

    from pinnace.containers.service import WAIT_CONDITIONS
    from pinnace.errors import InvalidArgument

    ref = request.match_info["id"]
    condition = request.query.get("condition") or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise InvalidArgument(f'invalid condition: "{condition}"')
    container_id = await call(request, lambda engine: engine.containers.get(ref).id)  # 404 before any header
    # dockerd sends the headers at once and the body when the condition is met: docker's client
    # returns from its wait call on the headers, and only then starts the container.
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)
    over = threading.Event()

    async def watch() -> None:
        while not over.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                over.set()
                return
            await asyncio.sleep(0.1)

    def work(engine: Engine) -> int:
        code: int = engine.containers.wait(
            container_id, condition=condition, poll=WAIT_POLL, cancelled=over.is_set
        )
        return code

    watcher = asyncio.ensure_future(watch())
    try:
        try:
            doc: dict[str, Any] = {"StatusCode": await call(request, work), "Error": None}
        except PinnaceError as e:
            if over.is_set():
                return response  # the client went away: nobody to answer
            doc = {"StatusCode": -1, "Error": {"Message": e.message}}
        await response.write(json.dumps(doc).encode() + b"\n")
        await response.write_eof()
    except ConnectionError:
        pass
    finally:
        over.set()
        watcher.cancel()
    return response


async def container_logs(request: web.Request) -> web.StreamResponse:
    """The log, multiplexed (docker's stdcopy frames) unless the container has a TTY."""
    import asyncio

    from aiohttp import web

    from pinnace.api.server import query_bool
    from pinnace.errors import InvalidArgument

    ref = request.match_info["id"]
    stdout, stderr = query_bool(request, "stdout"), query_bool(request, "stderr")
    if not (stdout or stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    follow, timestamps = query_bool(request, "follow"), query_bool(request, "timestamps")
    tail = request.query.get("tail") or "all"
    window = {k: request.query[k] for k in ("since", "until") if request.query.get(k) not in (None, "", "0")}

    def open_logs(engine: Engine) -> tuple[bool, Any]:
        record = engine.containers.get(ref)
        records = engine.containers.logs(
            record.id, follow=follow, tail=tail, stdout=stdout, stderr=stderr, **window
        )
        return bool(record.config.get("Tty")), iter(records)

    tty, records = await call(request, open_logs)
    response = web.StreamResponse(status=200)
    response.content_type = (
        "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    )
    await response.prepare(request)
    from pinnace.logs.common import format_record

    loop = asyncio.get_running_loop()
    while True:
        rec = await loop.run_in_executor(None, next, records, None)
        if rec is None:
            break
        data = format_record(rec, timestamps=timestamps, details=False)
        await response.write(data if tty else frame(1 if rec.stream == "stdout" else 2, data))
    await response.write_eof()
    return response


async def attach_container(request: web.Request) -> web.StreamResponse:
    from pinnace.api import attach

    return await attach.attach_container(request)


def frame(stream: int, data: bytes) -> bytes:
    """docker's stdcopy frame: stream (1 stdout, 2 stderr), three zero bytes, a big-endian length."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


async def top_container(request: web.Request) -> web.StreamResponse:
    ref, ps_args = request.match_info["id"], request.query.get("ps_args", "")

    def work(engine: Engine) -> dict[str, Any]:
        titles, processes = engine.containers.top(ref, ps_args)
        return {"Titles": list(titles), "Processes": [list(p) for p in processes]}

    return json_response(await call(request, work))


async def inspect_container(request: web.Request) -> web.StreamResponse:
    ref, size = request.match_info["id"], query_bool(request, "size")
    return json_response(await call(request, lambda engine: engine.containers.inspect(ref, size=size)))


ROUTES = [
    ("GET", "/containers/json", list_containers),
    ("POST", "/containers/create", create_container),
    ("GET", "/containers/{id}/json", inspect_container),
    ("POST", "/containers/{id}/start", start_container),
    ("POST", "/containers/{id}/stop", stop_container),
    ("POST", "/containers/{id}/restart", restart_container),
    ("POST", "/containers/{id}/kill", kill_container),
    ("POST", "/containers/{id}/pause", pause_container),
    ("POST", "/containers/{id}/unpause", unpause_container),
    ("POST", "/containers/{id}/rename", rename_container),
    ("POST", "/containers/{id}/wait", wait_container),
    ("POST", "/containers/{id}/attach", attach_container),
    ("GET", "/containers/{id}/logs", container_logs),
    ("GET", "/containers/{id}/top", top_container),
    ("DELETE", "/containers/{id}", remove_container),
]
