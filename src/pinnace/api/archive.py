"""Container filesystem and resources: archive GET/HEAD/PUT, changes, export, stats, update and prune.

The work is the daemonless CLI's (:mod:`pinnace.containers.copy`, :mod:`pinnace.containers.commit`,
:mod:`pinnace.containers.stats`, ``ContainerService.update``/``prune``); this module only speaks
dockerd's protocol for it.  Archives stream both ways and are never held in memory whole: a worker
thread writes the tar into the aiohttp response (or reads the request body) a chunk at a time,
each chunk handed across to the event loop, so a slow client slows the tar writer down instead of
filling the service's memory.  The response's headers go out with the first chunk: an error met
before it (a missing path, a missing container) is still an ordinary ``{"message": ...}`` reply.
"""

from __future__ import annotations

import contextlib
import json

from pinnace.api.server import call, json_response, query_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from aiohttp import web

    from pinnace.containers.records import ContainerRecord
    from pinnace.containers.stats import Sample
    from pinnace.engine import Engine

#: Bytes gathered before one hand-over to the event loop (each costs a thread switch).
_CHUNK = 1 << 16
#: Seconds between two stats readings of a stream (moby's collector interval).
STATS_INTERVAL = 1.0
#: Go's zero time.Time, as dockerd writes an unset ``read``/``preread``.
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _archive_path(request: web.Request) -> str:
    """The ``path`` parameter; dockerd's words (sic) when it is missing."""
    from pinnace.errors import InvalidArgument

    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("bad parameter: pathcannot be empty")
    return path


def form_bool(request: web.Request, name: str, default: bool) -> bool:
    """moby's BoolValueOrDefault: absent is ``default``; "", 0, no, false, none are false; else true."""
    if name not in request.query:
        return default
    return request.query[name].strip().lower() not in ("", "0", "no", "false", "none")


class _ResponseWriter:
    """A binary file a worker thread writes, feeding an aiohttp StreamResponse on the event loop.

    Writes are gathered into chunks; each chunk waits until the response has
    taken it (so the transfer runs at the client's pace).  The headers are
    sent with the first chunk, or by :meth:`flush` when there is none.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, request: web.Request, response: web.StreamResponse):
        self._loop = loop
        self._request = request
        self._response = response
        self._buffer = bytearray()
        self.prepared = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buffer += data
        if len(self._buffer) >= _CHUNK:
            self._send()
        return len(data)

    def flush(self) -> None:
        """Send what is gathered (and the headers, if not yet sent)."""
        if self._buffer or not self.prepared:
            self._send()

    def _send(self) -> None:
        import asyncio

        data = bytes(self._buffer)
        self._buffer.clear()
        asyncio.run_coroutine_threadsafe(self._deliver(data), self._loop).result()

    async def _deliver(self, data: bytes) -> None:
        if not self.prepared:
            await self._response.prepare(self._request)
            self.prepared = True
        if data:
            await self._response.write(data)


class _RequestReader:
    """The request body as a blocking binary file, for a worker thread (``read(n)`` only)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, request: web.Request) -> None:
        self._loop = loop
        self._content = request.content

    def read(self, n: int = -1) -> bytes:
        import asyncio

        if n is None or n < 0:
            parts = []
            while chunk := self.read(_CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        future = asyncio.run_coroutine_threadsafe(self._content.read(n), self._loop)
        data: bytes = future.result()
        return data

    def readable(self) -> bool:
        return True


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    produce: Callable[[Engine, BinaryIO, web.StreamResponse], object],
) -> web.StreamResponse:
    """Run ``produce(engine, out, response)`` in a worker thread, its writes to ``out`` streamed.

    ``produce`` may still set ``response``'s headers before it writes.  Its
    error before the first write is the request's error reply; after, the
    connection is cut, so the client sees a truncated body rather than a
    complete-looking one.
    """
    import asyncio
    import sys
    from typing import cast

    out = _ResponseWriter(asyncio.get_running_loop(), request, response)

    def work(engine: Engine) -> None:
        produce(engine, cast("BinaryIO", out), response)
        out.flush()

    try:
        await call(request, work)
    except Exception as e:
        if not out.prepared:
            raise
        sys.stderr.write(f"pinnace API: {request.method} {request.path}: stream cut: {e}\n")
        if request.transport is not None:
            request.transport.abort()
        return response
    with contextlib.suppress(ConnectionError):  # the client had the whole tar and hung up first
        await response.write_eof()
    return response


# -- archive -------------------------------------------------------------------------------------


async def head_archive(request: web.Request) -> web.StreamResponse:
    """The path's stat in ``X-Docker-Container-Path-Stat`` (the docker CLI asks before every copy)."""
    from aiohttp import web

    ref, path = request.match_info["id"], _archive_path(request)

    def work(engine: Engine) -> str:
        from pinnace.containers.copy import path_stat_header

        with engine.containers.open_files(ref) as fs:
            return path_stat_header(fs.stat(path))

    header = await call(request, work)
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": header})


async def get_archive(request: web.Request) -> web.StreamResponse:
    """The path as a tar (its top entry named after the path's base), with the stat header."""
    from aiohttp import web

    ref, path = request.match_info["id"], _archive_path(request)

    def produce(engine: Engine, out: BinaryIO, response: web.StreamResponse) -> None:
        from pinnace.containers.copy import path_stat_header

        with engine.containers.open_files(ref) as fs:
            found, write = fs.archive(path)
            response.headers["X-Docker-Container-Path-Stat"] = path_stat_header(found)
            write(out)

    response = web.StreamResponse(status=200)
    response.content_type = "application/x-tar"
    return await _stream(request, response, produce)


async def put_archive(request: web.Request) -> web.StreamResponse:
    """Extract the body (a tar, possibly compressed) into the directory ``path`` of the container.

    As moby: the tar's owners are kept, unless ``copyUIDGID`` and the
    container has a ``User``, whose uid and gid then own every entry;
    ``noOverwriteDirNonDir`` refuses to replace a directory with a
    non-directory or the reverse.
    """
    import asyncio

    from aiohttp import web

    ref, path = request.match_info["id"], _archive_path(request)
    no_overwrite = form_bool(request, "noOverwriteDirNonDir", False)
    copy_uid_gid = form_bool(request, "copyUIDGID", False)
    body = _RequestReader(asyncio.get_running_loop(), request)

    def work(engine: Engine) -> None:
        from typing import cast

        with engine.containers.open_files(ref) as fs:
            fs.extract(
                path,
                cast("BinaryIO", body),
                keep_owners=True,
                copy_uid_gid=copy_uid_gid,
                allow_overwrite_dir_with_file=not no_overwrite,
            )

    await call(request, work)
    return web.Response(status=200)


# -- changes, export -----------------------------------------------------------------------------

#: docker's ChangeType: what ``docker diff`` prints as C, A, D (its index here).
CHANGE_KINDS = ("C", "A", "D")


async def container_changes(request: web.Request) -> web.StreamResponse:
    """``[{"Path", "Kind"}]`` in docker's order; ``null`` when nothing changed, as dockerd's nil slice."""
    ref = request.match_info["id"]

    def work(engine: Engine) -> list[dict[str, Any]] | None:
        found = [
            {"Path": path, "Kind": CHANGE_KINDS.index(kind)} for kind, path in engine.containers.changes(ref)
        ]
        return found or None

    return json_response(await call(request, work))


async def export_container(request: web.Request) -> web.StreamResponse:
    """The container's whole filesystem as one tar, streamed."""
    from aiohttp import web

    ref = request.match_info["id"]

    def produce(engine: Engine, out: BinaryIO, response: web.StreamResponse) -> None:
        engine.containers.export(ref, out)

    response = web.StreamResponse(status=200)
    response.content_type = "application/x-tar"
    return await _stream(request, response, produce)


# -- stats ---------------------------------------------------------------------------------------


def _cpu_stats(sample: Sample | None) -> dict[str, Any]:
    """docker's CPUStats of a reading (zeros, with no system or online CPU figures, for none)."""
    if sample is None:
        return {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }
    cpu = sample.raw.get("cpu") or {}
    usage: dict[str, Any] = {
        "total_usage": sample.cpu_ns,
        "usage_in_kernelmode": int(cpu.get("system_ns", 0)),
        "usage_in_usermode": int(cpu.get("user_ns", 0)),
    }
    percpu = sample.raw.get("percpu") or {}
    if percpu:  # cgroup v1 only, as docker's
        usage["percpu_usage"] = [int(percpu[k]) for k in sorted(percpu, key=int)]
    return {
        "cpu_usage": usage,
        "system_cpu_usage": sample.system_ns,
        "online_cpus": sample.online_cpus,
        "throttling_data": {
            "periods": int(cpu.get("nr_periods", 0)),
            "throttled_periods": int(cpu.get("nr_throttled", 0)),
            "throttled_time": int(cpu.get("throttled_ns", 0)),
        },
    }


def stats_document(record: ContainerRecord, previous: Sample | None, sample: Sample | None) -> dict[str, Any]:
    """docker's StatsJSON of a reading, with the previous one as ``precpu_stats``/``preread``.

    Memory ``usage`` is the cgroup's own figure and ``stats`` its memory.stat,
    so clients subtract the inactive page cache themselves, as they do
    with dockerd.
    """
    from pinnace.logs.common import format_time

    blkio_keys = (
        "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
        "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
        "io_time_recursive", "sectors_recursive",
    )  # fmt: skip
    blkio: dict[str, Any] = dict.fromkeys(blkio_keys)
    doc: dict[str, Any] = {
        "read": format_time(sample.read_ns) if sample else _ZERO_TIME,
        "preread": format_time(previous.read_ns) if previous and sample else _ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu_stats(sample),
        "precpu_stats": _cpu_stats(previous if sample else None),
        "memory_stats": {},
        "name": "/" + record.name,
        "id": record.id,
    }
    if sample is None:
        return doc
    pids = sample.raw.get("pids") or {}
    doc["pids_stats"] = {"current": sample.pids}
    if int(pids.get("limit", 0)) > 0:
        doc["pids_stats"]["limit"] = int(pids["limit"])
    blkio["io_service_bytes_recursive"] = [
        {"major": 0, "minor": 0, "op": "read", "value": sample.block_read},
        {"major": 0, "minor": 0, "op": "write", "value": sample.block_write},
    ]
    memory = sample.raw.get("memory") or {}
    if memory:
        doc["memory_stats"] = {
            "usage": int(memory.get("usage", 0)),
            "stats": dict(sample.raw.get("memory_stat") or {}),
            "limit": sample.memory_limit,
        }
        for key in ("max_usage", "failcnt"):  # cgroup v1's, as docker's
            if key in memory:
                doc["memory_stats"][key] = int(memory[key])
    if sample.networks:
        doc["networks"] = {name: dict(counters) for name, counters in sample.networks.items()}
    return doc


async def container_stats(request: web.Request) -> web.StreamResponse:
    """A stats document every second (``stream``, the default), or one (``stream=false``).

    ``stream=false`` takes two readings a second apart so the CPU figures
    have a previous one, unless ``one-shot``.  A container that does not run
    gets zeros at once when not streaming; a stream waits for it to run,
    and ends when it is removed or the client goes away.
    """
    import asyncio

    from aiohttp import web

    from pinnace.errors import InvalidArgument, NotFound

    ref = request.match_info["id"]
    stream = form_bool(request, "stream", True)
    one_shot = form_bool(request, "one-shot", False)
    if stream and one_shot:
        raise InvalidArgument("cannot have stream=true and one-shot=true")

    def read(engine: Engine) -> tuple[ContainerRecord, Sample | None]:
        record, sample = engine.containers.stats_sample(ref)
        return record, sample

    record, sample = await call(request, read)  # 404 before any header
    if not stream:
        previous = None
        if sample is not None and not one_shot:
            await asyncio.sleep(STATS_INTERVAL)
            previous = sample
            record, sample = await call(request, read)
        return json_response(stats_document(record, previous, sample))

    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)
    previous = None
    while True:
        if sample is not None:
            doc = stats_document(record, previous, sample)
            try:
                await response.write(json.dumps(doc).encode() + b"\n")
            except ConnectionError:
                return response
            previous = sample
        elif request.transport is None or request.transport.is_closing():
            return response
        await asyncio.sleep(STATS_INTERVAL)
        try:
            record, sample = await call(request, read)
        except NotFound:
            break  # removed: the stream ends
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


# -- update, prune -------------------------------------------------------------------------------

#: UpdateConfig's resource fields of the API body, and the attribute each sets.
_UPDATE_INTS = (
    ("Memory", "memory"),
    ("MemorySwap", "memory_swap"),
    ("MemoryReservation", "memory_reservation"),
    ("NanoCpus", "nano_cpus"),
    ("CpuShares", "cpu_shares"),
    ("CpuPeriod", "cpu_period"),
    ("CpuQuota", "cpu_quota"),
)
#: Fields of docker's UpdateConfig pinnace cannot change: a warning when one is set, never an error.
_UPDATE_UNSUPPORTED = (
    "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod", "CpuRealtimeRuntime",
    "KernelMemory", "KernelMemoryTCP", "MemorySwappiness", "OomKillDisable", "Devices",
    "DeviceCgroupRules", "DeviceRequests", "Ulimits", "CpuCount", "CpuPercent",
    "IOMaximumIOps", "IOMaximumBandwidth", "CgroupParent",
)  # fmt: skip


def update_config(body: Any) -> tuple[Any, list[str]]:
    """The body of ``POST /containers/{id}/update`` as an UpdateConfig; and warnings for what is ignored."""
    from pinnace.containers.update import UpdateConfig
    from pinnace.errors import InvalidArgument

    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body: an object expected")

    def mismatch(key: str, value: Any, go_type: str) -> InvalidArgument:
        """encoding/json's error for a value of the wrong JSON type, as dockerd returns it."""
        kind = (
            "bool" if isinstance(value, bool)
            else "number" if isinstance(value, (int, float))
            else "string" if isinstance(value, str)
            else "array" if isinstance(value, list)
            else "object"
        )  # fmt: skip
        if kind == "number":
            kind = f"number {value}"
        return InvalidArgument(
            f"json: cannot unmarshal {kind} into Go struct field UpdateConfig.{key} of type {go_type}"
        )

    def integer(key: str) -> int:
        value = body.get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise mismatch(key, value, "int64")
        return value

    fields: dict[str, Any] = {attr: integer(key) for key, attr in _UPDATE_INTS}
    for key, attr in (("CpusetCpus", "cpuset_cpus"), ("CpusetMems", "cpuset_mems")):
        value = body.get(key) or ""
        if not isinstance(value, str):
            raise mismatch(key, value, "string")
        fields[attr] = value
    if body.get("PidsLimit") is not None:
        fields["pids_limit"] = integer("PidsLimit")
    policy = body.get("RestartPolicy") or {}
    if not isinstance(policy, dict):
        raise mismatch("RestartPolicy", policy, "container.RestartPolicy")
    if policy.get("Name"):
        retries = policy.get("MaximumRetryCount") or 0
        if not isinstance(policy["Name"], str):
            raise mismatch("RestartPolicy.Name", policy["Name"], "container.RestartPolicyMode")
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise mismatch("RestartPolicy.MaximumRetryCount", retries, "int")
        fields["restart_policy"] = {"Name": policy["Name"], "MaximumRetryCount": retries}
    warnings = [
        f"{key} cannot be updated by pinnace and was ignored"
        for key in _UPDATE_UNSUPPORTED
        if body.get(key) not in (None, 0, "", [], False, {})
    ]
    return UpdateConfig(**fields), warnings


async def update_container(request: web.Request) -> web.StreamResponse:
    """New limits and restart policy (applied at once to a running container); ``{"Warnings": [...]}``."""
    from pinnace.errors import InvalidArgument

    ref = request.match_info["id"]
    try:
        body = await request.json()
    except ValueError:
        raise InvalidArgument("invalid JSON body") from None
    change, ignored = update_config(body)

    def work(engine: Engine) -> list[str]:
        warnings = list(engine.containers.update(ref, change)[1])
        return warnings + ignored

    return json_response({"Warnings": await call(request, work)})


async def prune_containers(request: web.Request) -> web.StreamResponse:
    """Remove every stopped container the filters (``until``, ``label``, ``label!``) keep."""
    filters = query_filters(request)

    def work(engine: Engine) -> dict[str, Any]:
        deleted, reclaimed = engine.containers.prune(filters)
        return {"ContainersDeleted": list(deleted) or None, "SpaceReclaimed": reclaimed}

    return json_response(await call(request, work))


ROUTES: list[tuple[str, str, Any]] = [
    ("HEAD", "/containers/{id}/archive", head_archive),
    ("GET", "/containers/{id}/archive", get_archive),
    ("PUT", "/containers/{id}/archive", put_archive),
    ("GET", "/containers/{id}/changes", container_changes),
    ("GET", "/containers/{id}/export", export_container),
    ("GET", "/containers/{id}/stats", container_stats),
    ("POST", "/containers/{id}/update", update_container),
    ("POST", "/containers/prune", prune_containers),
]
