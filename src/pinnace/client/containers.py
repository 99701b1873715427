"""Containers over the Engine API: records rebuilt from inspect, create bodies, logs, exec, attach."""

from __future__ import annotations

from types import MappingProxyType

from pinnace.client.remote import Service, filters_query
from pinnace.errors import NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    import http.client
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any, BinaryIO

    from pinnace.client.attach import Bridge
    from pinnace.client.http import Client
    from pinnace.containers.copy import PathStat
    from pinnace.containers.exec import ExecConfig
    from pinnace.containers.options import RunOptions
    from pinnace.containers.records import ContainerRecord
    from pinnace.containers.stats import Sample
    from pinnace.containers.update import UpdateConfig
    from pinnace.images.records import Image
    from pinnace.logs.common import LogRecord
    from pinnace.oci.reference import Reference


def container_record(doc: Mapping[str, Any]) -> ContainerRecord:
    """A ContainerRecord from ``GET /containers/{id}/json``."""
    from pinnace.containers.records import ZERO_TIME, ContainerRecord

    state = doc.get("State") or {}
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    mounts = tuple(
        MappingProxyType(
            {
                "type": m.get("Type", ""),
                "name": m.get("Name", ""),
                "source": m.get("Source", ""),
                "destination": m.get("Destination", ""),
            }
        )
        for m in doc.get("Mounts") or ()
    )
    return ContainerRecord(
        id=doc["Id"],
        name=str(doc.get("Name") or "").lstrip("/"),
        image_id=str(doc.get("Image") or ""),
        image_name=str(config.get("Image") or ""),
        snapshot_key="",
        created=str(doc.get("Created") or ""),
        config=MappingProxyType(dict(config)),
        host_config=MappingProxyType(dict(host)),
        runtime=str(host.get("Runtime") or ""),
        status=str(state.get("Status") or "created"),
        pid=int(state.get("Pid") or 0),
        exit_code=int(state.get("ExitCode") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        error=str(state.get("Error") or ""),
        started_at=str(state.get("StartedAt") or ZERO_TIME),
        finished_at=str(state.get("FinishedAt") or ZERO_TIME),
        restart_count=int(doc.get("RestartCount") or 0),
        health=state.get("Health"),
        labels=MappingProxyType(dict(config.get("Labels") or {})),
        mounts=mounts,
    )


def create_body(options: RunOptions) -> dict[str, Any]:
    """``POST /containers/create``'s body for ``options``: the inverse of the service's reading of it
    (:func:`pinnace.api.create.run_options`), HostConfig as :func:`containers.options.host_config` makes it."""
    from pinnace.containers.options import host_config

    entrypoint: Any = options.entrypoint
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint] if entrypoint else []
    elif entrypoint is not None:
        entrypoint = list(entrypoint)
    body: dict[str, Any] = {
        "Image": options.image,
        "Cmd": list(options.cmd) or None,
        "Entrypoint": entrypoint,
        "Env": list(options.env),
        "WorkingDir": options.workdir,
        "User": options.user,
        "Hostname": options.hostname,
        "Domainname": options.domainname,
        "Labels": dict(options.labels),
        "StopSignal": options.stop_signal or None,
        "StopTimeout": options.stop_timeout,
        "Healthcheck": dict(options.healthcheck) if options.healthcheck is not None else None,
        "Tty": options.tty,
        "OpenStdin": options.interactive,
        "StdinOnce": options.interactive and not options.detach,
        "AttachStdin": "stdin" in options.attach,
        "AttachStdout": "stdout" in options.attach,
        "AttachStderr": "stderr" in options.attach,
        "Volumes": {path: {} for path in options.volumes} or None,
        "ExposedPorts": {key: dict(value or {}) for key, value in options.exposed_ports.items()} or None,
        "MacAddress": options.mac_address or None,
        "HostConfig": host_config(options),
    }
    endpoint: dict[str, Any] = {}
    if options.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": options.ip}
    if options.network_aliases:
        endpoint["Aliases"] = list(options.network_aliases)
    if options.mac_address:
        endpoint["MacAddress"] = options.mac_address
    if endpoint:
        body["NetworkingConfig"] = {"EndpointsConfig": {options.network_mode or "default": endpoint}}
    return {key: value for key, value in body.items() if value is not None}


class RemoteContainers(Service):
    """The ContainerService methods the CLI calls, over ``/containers``."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self._docs: dict[str, dict[str, Any]] = {}  # ID -> the last inspect document

    # -- reads
    def inspect(self, ref: str) -> dict[str, Any]:
        from pinnace.client.http import name

        doc: dict[str, Any] = self.client.get(f"/containers/{name(ref)}/json")
        self._docs[doc["Id"]] = doc
        return doc

    def get(self, ref: str) -> ContainerRecord:
        return container_record(self.inspect(ref))

    def list(self) -> builtins.list[ContainerRecord]:
        records = []
        for summary in self.client.get("/containers/json", {"all": True}):
            try:
                records.append(self.get(summary["Id"]))
            except NotFound:
                continue  # removed since
        return records

    def network_settings(self, record: ContainerRecord) -> dict[str, Any] | None:
        doc = self._docs.get(record.id) or self.inspect(record.id)
        settings: dict[str, Any] | None = doc.get("NetworkSettings")
        return settings

    def mounts_view(self, record: ContainerRecord) -> builtins.list[dict[str, Any]]:
        doc = self._docs.get(record.id) or self.inspect(record.id)
        return list(doc.get("Mounts") or [])

    def sizes(self, record: ContainerRecord) -> tuple[int, int]:
        """(SizeRw, SizeRootFs), from ``/containers/json?size=1`` (0 where the service does not say)."""
        import json

        found = self.client.get(
            "/containers/json", {"all": True, "size": True, "filters": json.dumps({"id": [record.id]})}
        )
        for summary in found or ():
            if summary.get("Id") == record.id:
                return int(summary.get("SizeRw") or 0), int(summary.get("SizeRootFs") or 0)
        return 0, 0

    def wait(self, ref: str, *, poll: float = 0.005) -> int:
        del poll
        import json

        from pinnace.client.http import name
        from pinnace.errors import PinnaceError

        response = self.client.open("POST", f"/containers/{name(ref)}/wait")
        try:
            doc = json.loads(response.read() or b"{}")
        finally:
            response.close()
        if doc.get("Error"):
            raise PinnaceError(str(doc["Error"].get("Message") or "wait failed"))
        return int(doc.get("StatusCode") or 0)

    def logs(
        self,
        ref: str,
        *,
        follow: bool = False,
        tail: int | str | None = None,
        since: str = "",
        until: str = "",
        stdout: bool = True,
        stderr: bool = True,
    ) -> Iterator[LogRecord]:
        """The log as records; their time is the service's timestamp (asked for, then cut off)."""
        record = self.get(ref)
        query = {
            "follow": follow,
            "stdout": stdout,
            "stderr": stderr,
            "timestamps": True,
            "tail": "all" if tail is None else tail,
            "since": since or None,
            "until": until or None,
        }
        response = self.client.open("GET", f"/containers/{record.id}/logs", query)
        return _log_records(response, tty=bool(record.config.get("Tty")))

    def top(self, ref: str, ps_args: str = "") -> tuple[Sequence[str], Sequence[Sequence[str]]]:
        from pinnace.client.http import name

        doc = self.client.get(f"/containers/{name(ref)}/top", {"ps_args": ps_args or None})
        return list(doc.get("Titles") or []), [list(p) for p in doc.get("Processes") or []]

    # -- writes
    def create(self, options: RunOptions, *, name: str = "") -> tuple[ContainerRecord, builtins.list[str]]:
        doc = self.client.json("POST", "/containers/create", {"name": name or None}, create_body(options))
        return self.get(doc["Id"]), [str(w) for w in doc.get("Warnings") or []]

    def start(
        self, ref: str, *, attach: Callable[[str], None] | None = None, remover: bool = False
    ) -> ContainerRecord:
        """Start; with ``attach``, hijack an attach first and give ``attach`` a local run directory whose
        socket relays it (:class:`pinnace.client.attach.Bridge`), as the local service does with its
        monitor's.  An ``--rm`` container is removed by the service (its remover, whatever ``remover``)."""
        del remover
        record = self.get(ref)
        if record.status in ("running", "paused", "restarting"):
            return record
        bridge = None
        if attach is not None:
            bridge = self._bridge(record, before_start=True)
            attach(bridge.run_dir)
        try:
            self.client.request("POST", f"/containers/{record.id}/start")
        except BaseException:
            if bridge is not None:
                bridge.close()
            raise
        return record

    def run_dir(self, container_id: str) -> str:
        """For ``attach``/``start -a`` of a running container: a local run directory relaying an attach."""
        record = self.get(container_id)
        return self._bridge(record, before_start=False).run_dir

    def _bridge(self, record: ContainerRecord, *, before_start: bool) -> Bridge:
        from pinnace.client.attach import Bridge

        query = {
            "stream": True,
            "stdin": bool(record.config.get("OpenStdin")),
            "stdout": True,
            "stderr": True,
        }
        hijacked = self.client.hijack(f"/containers/{record.id}/attach", query)
        waiter = None
        if before_start:
            auto_remove = bool(record.host_config.get("AutoRemove"))
            try:
                waiter = self.client.open(
                    "POST",
                    f"/containers/{record.id}/wait",
                    {"condition": "removed" if auto_remove else "next-exit"},
                )
            except BaseException:
                hijacked.close()
                raise
        return Bridge(self.client, record.id, hijacked, tty=bool(record.config.get("Tty")), waiter=waiter)

    def exec_session(
        self, ref: str, options: ExecConfig, *, stdin: bool, detach_keys: str = ""
    ) -> tuple[str, str | None]:
        """``docker exec`` over the API: create the exec, then start it detached (returns its ID and
        None) or hijacked (its ID and a run directory to relay it from, as for an attach)."""
        from pinnace.client.attach import Bridge
        from pinnace.client.http import name

        body: dict[str, Any] = {
            "AttachStdin": stdin and not options.detach,
            "AttachStdout": not options.detach,
            "AttachStderr": not options.detach,
            "Tty": options.tty,
            "Cmd": list(options.cmd),
            "Env": list(options.env),
            "User": options.user,
            "WorkingDir": options.workdir,
            "Privileged": options.privileged,
        }
        if detach_keys:
            body["DetachKeys"] = detach_keys
        exec_id = str(self.client.json("POST", f"/containers/{name(ref)}/exec", None, body)["Id"])
        start = {"Detach": options.detach, "Tty": options.tty}
        if options.detach:
            self.client.request("POST", f"/exec/{exec_id}/start", None, start)
            return exec_id, None
        hijacked = self.client.hijack(f"/exec/{exec_id}/start", None, start)

        forked = self.client.fork()  # used from the bridge's thread

        def exit_code() -> int | None:
            """The exec's ExitCode once it is no longer running (the stream can end a moment before)."""
            import time

            from pinnace.errors import PinnaceError

            for _ in range(200):
                try:
                    doc = forked.get(f"/exec/{exec_id}/json")
                except PinnaceError:
                    return None
                code = doc.get("ExitCode")
                if not doc.get("Running") and isinstance(code, int):
                    return code
                time.sleep(0.01)
            return None

        bridge = Bridge(
            forked, exec_id, hijacked, tty=options.tty, exit_code=exit_code,
            resize_path=f"/exec/{exec_id}/resize",
        )  # fmt: skip
        return exec_id, bridge.run_dir

    def stop(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> ContainerRecord:
        from pinnace.client.http import name

        self.client.request("POST", f"/containers/{name(ref)}/stop", {"t": timeout, "signal": signal})
        return self.get(ref)

    def restart(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> ContainerRecord:
        from pinnace.client.http import name

        self.client.request("POST", f"/containers/{name(ref)}/restart", {"t": timeout, "signal": signal})
        return self.get(ref)

    def kill(self, ref: str, signum: int = 9, *, manual: bool = True) -> None:
        del manual
        from pinnace.client.http import name

        self.client.request("POST", f"/containers/{name(ref)}/kill", {"signal": str(signum)})

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        from pinnace.client.http import name

        self.client.request("DELETE", f"/containers/{name(ref)}", {"force": force, "v": volumes})

    def pause(self, ref: str) -> ContainerRecord:
        from pinnace.client.http import name

        self.client.request("POST", f"/containers/{name(ref)}/pause")
        return self.get(ref)

    def unpause(self, ref: str) -> ContainerRecord:
        from pinnace.client.http import name

        self.client.request("POST", f"/containers/{name(ref)}/unpause")
        return self.get(ref)

    def rename(self, ref: str, new_name: str) -> ContainerRecord:
        from pinnace.client.http import name

        self.client.request("POST", f"/containers/{name(ref)}/rename", {"name": new_name})
        return self.get(new_name)

    # -- the filesystem: diff, export, commit, cp
    def changes(self, ref: str) -> builtins.list[tuple[str, str]]:
        from pinnace.client.http import name

        found = self.client.get(f"/containers/{name(ref)}/changes") or []
        return [("CAD"[int(change["Kind"])], str(change["Path"])) for change in found]

    def export(self, ref: str, out: BinaryIO) -> None:
        """The container's filesystem tar, streamed from the service onto ``out``."""
        from pinnace.client.http import name

        response = self.client.open("GET", f"/containers/{name(ref)}/export")
        try:
            _copy_stream(response, out)
        finally:
            response.close()

    def commit(
        self,
        ref: str,
        *,
        tag: Reference | None = None,
        author: str = "",
        message: str = "",
        change: Sequence[str] = (),
        pause: bool = True,
        config: Mapping[str, Any] | None = None,
    ) -> Image:
        """``POST /commit`` with docker's query (``changes`` repeated); the new image, inspected."""
        from pinnace.client.images import image_record

        query: builtins.list[tuple[str, Any]] = [
            ("container", ref),
            ("repo", tag.familiar_name if tag else None),
            ("tag", tag.tag if tag else None),
            ("comment", message or None),
            ("author", author or None),
            ("pause", pause),
            *(("changes", line) for line in change),
        ]
        doc = self.client.json("POST", "/commit", query, dict(config) if config else None)
        found: dict[str, Any] = self.client.get(f"/images/{doc['Id']}/json")
        return image_record(found)

    def open_files(self, ref: str) -> RemoteFiles:
        """The container's filesystem for one ``cp``, over its archive endpoints (NotFound at once if
        there is no such container, as the local service's)."""
        return RemoteFiles(self.client, self.get(ref), ref)

    # -- resources: stats, update, prune
    def stats_sample(self, ref: str) -> tuple[ContainerRecord, Sample | None]:
        """The container and one reading of it (``one-shot``: no second reading a second later)."""
        record = self.get(ref)
        doc = self.client.get(f"/containers/{record.id}/stats", {"stream": False, "one-shot": True})
        return record, stats_sample(doc)

    def update(self, ref: str, change: UpdateConfig) -> tuple[ContainerRecord, builtins.list[str]]:
        from pinnace.client.http import name

        doc = self.client.json("POST", f"/containers/{name(ref)}/update", None, update_body(change))
        return self.get(ref), [str(w) for w in (doc or {}).get("Warnings") or []]

    # -- networks: the local service plugs containers in, so its remote twin offers the same calls
    def connect_network(
        self, network_ref: str, container_ref: str, *, ip: str = "", aliases: Sequence[str] = ()
    ) -> None:
        """``POST /networks/{id}/connect`` with docker's EndpointConfig (IPv4 address, aliases)."""
        from pinnace.client.http import name

        endpoint: dict[str, Any] = {}
        if ip:
            endpoint["IPAMConfig"] = {"IPv4Address": ip}
        if aliases:
            endpoint["Aliases"] = list(aliases)
        body = {"Container": container_ref, "EndpointConfig": endpoint}
        self.client.request("POST", f"/networks/{name(network_ref)}/connect", None, body)

    def disconnect_network(self, network_ref: str, container_ref: str, *, force: bool = False) -> None:
        """``POST /networks/{id}/disconnect``; ``force`` releases a gone container's endpoint."""
        from pinnace.client.http import name

        body = {"Container": container_ref, "Force": force}
        self.client.request("POST", f"/networks/{name(network_ref)}/disconnect", None, body)

    def sweep_networks(self, records: Sequence[ContainerRecord] | None = None) -> builtins.list[str]:
        """Nothing to do from here: the service sweeps what crashes left itself before it prunes."""
        del records
        return []

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> tuple[builtins.list[str], int]:
        doc = self.client.json("POST", "/containers/prune", {"filters": filters_query(filters)}) or {}
        return [str(i) for i in doc.get("ContainersDeleted") or []], int(doc.get("SpaceReclaimed") or 0)


class RemoteFiles:
    """A container's filesystem over ``/containers/{id}/archive``: what :mod:`pinnace.containers.copy`'s
    ``ContainerFS`` offers the copy (``stat``, ``archive``, ``extract``), so ``cp`` runs the same host
    side either way.  Tars stream both ways; a context manager, closing any answer left unread."""

    def __init__(self, client: Client, container: ContainerRecord, ref: str) -> None:
        from pinnace.client.http import name

        self.client = client
        self.container = container
        self.ref = ref
        self._path = f"/containers/{name(ref)}/archive"
        self._open: builtins.list[http.client.HTTPResponse] = []

    def __enter__(self) -> RemoteFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        while self._open:
            self._open.pop().close()

    def stat(self, path: str) -> PathStat:
        """``HEAD``: the path's stat header (a HEAD answer has no body: its error is the status's)."""
        response = self.client.open("HEAD", self._path, {"path": path})
        try:
            return _path_stat(response)
        finally:
            response.close()

    def archive(self, path: str) -> tuple[PathStat, Callable[[BinaryIO], int]]:
        """``GET``: the stat, and a function copying the tar onto a file (the bytes copied)."""
        response = self.client.open("GET", self._path, {"path": path})
        self._open.append(response)
        found = _path_stat(response)

        def write(out: BinaryIO) -> int:
            try:
                return _copy_stream(response, out)
            finally:
                response.close()

        return found, write

    def extract(
        self,
        path: str,
        stream: BinaryIO,
        *,
        keep_owners: bool = False,
        rename: tuple[str, str] | None = None,
        allow_overwrite_dir_with_file: bool = False,
        copy_uid_gid: bool = False,
    ) -> int:
        """``PUT`` the tar ``stream`` into the directory ``path``: its top entry renamed and its owners
        made root's (unless ``keep_owners``) on the way, as docker's client rebases the archive before
        sending it; the service keeps the owners it is sent, or with ``copyUIDGID`` gives them to the
        container's User.  Returns the bytes read from ``stream``."""
        from typing import cast

        from pinnace.containers.copy import rebased_tar

        body = rebased_tar(stream, owner=None if keep_owners else (0, 0), rename=rename)
        query = {
            "path": path,
            "noOverwriteDirNonDir": not allow_overwrite_dir_with_file,
            "copyUIDGID": copy_uid_gid,
        }
        response = self.client.send("PUT", self._path, query, cast("BinaryIO", body))
        try:
            response.read()
        finally:
            response.close()
        return body.size


def _path_stat(response: http.client.HTTPResponse) -> PathStat:
    from pinnace.containers.copy import path_stat_of_header
    from pinnace.errors import InvalidArgument

    header = response.getheader("X-Docker-Container-Path-Stat")
    if not header:
        raise InvalidArgument("the service sent no X-Docker-Container-Path-Stat header")
    return path_stat_of_header(header)


def _copy_stream(response: http.client.HTTPResponse, out: BinaryIO) -> int:
    """Copy a streamed answer onto ``out`` a chunk at a time; the bytes copied."""
    copied = 0
    while chunk := response.read(1 << 16):
        out.write(chunk)
        copied += len(chunk)
    return copied


def update_body(change: UpdateConfig) -> dict[str, Any]:
    """``POST /containers/{id}/update``'s body (docker's UpdateConfig) of ``change``; zeros are unset."""
    body: dict[str, Any] = {
        "Memory": change.memory,
        "MemorySwap": change.memory_swap,
        "MemoryReservation": change.memory_reservation,
        "NanoCpus": change.nano_cpus,
        "CpuShares": change.cpu_shares,
        "CpuPeriod": change.cpu_period,
        "CpuQuota": change.cpu_quota,
        "CpusetCpus": change.cpuset_cpus,
        "CpusetMems": change.cpuset_mems,
    }
    if change.pids_limit is not None:
        body["PidsLimit"] = change.pids_limit
    if change.restart_policy:
        body["RestartPolicy"] = dict(change.restart_policy)
    return body


def stats_sample(doc: Mapping[str, Any]) -> Sample | None:
    """A :class:`~pinnace.containers.stats.Sample` of a stats document (None for one of a container that
    does not run: its ``read`` is Go's zero time); memory less the inactive page cache as docker's CLI."""
    from pinnace.containers.stats import Sample
    from pinnace.logs.common import parse_time

    try:
        read_ns = parse_time(str(doc.get("read") or ""))
    except ValueError:
        return None
    if read_ns <= 0:
        return None
    cpu = doc.get("cpu_stats") or {}
    memory = doc.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    counters = memory.get("stats") or {}
    inactive = counters.get("total_inactive_file", counters.get("inactive_file", 0)) or 0
    if inactive < usage:
        usage -= inactive
    block = {"read": 0, "write": 0}
    for item in (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
        op = str(item.get("op") or "").lower()
        if op in block:
            block[op] += int(item.get("value") or 0)
    return Sample(
        cpu_ns=int((cpu.get("cpu_usage") or {}).get("total_usage") or 0),
        system_ns=int(cpu.get("system_cpu_usage") or 0),
        online_cpus=int(cpu.get("online_cpus") or 0),
        memory=usage,
        memory_limit=int(memory.get("limit") or 0),
        block_read=block["read"],
        block_write=block["write"],
        pids=int((doc.get("pids_stats") or {}).get("current") or 0),
        networks=MappingProxyType({k: dict(v) for k, v in (doc.get("networks") or {}).items()}),
        read_ns=read_ns,
    )


def _log_records(response: Any, *, tty: bool) -> Iterator[LogRecord]:
    """Log records from a logs stream asked with ``timestamps``: each line's leading RFC 3339 time is
    its record's time (so ``logs -t`` prints the service's time, and without it nothing extra)."""
    from pinnace.client.http import demux
    from pinnace.logs.common import LogRecord

    pending: dict[int, bytes] = {}
    try:
        for stream, payload in demux(response, tty=tty):
            data = pending.pop(stream, b"") + payload
            while data:
                line, newline, rest = data.partition(b"\n")
                if not newline:
                    pending[stream] = data
                    break
                data = rest
                stamp, _, text = line.partition(b" ")
                yield LogRecord(
                    "stderr" if stream == 2 else "stdout",
                    text + b"\n",
                    _parse_ns(stamp.decode(errors="replace")),
                )
        for stream, data in pending.items():
            stamp, _, text = data.partition(b" ")
            yield LogRecord(
                "stderr" if stream == 2 else "stdout",
                text,
                _parse_ns(stamp.decode(errors="replace")),
                partial=True,
            )
    finally:
        response.close()


def _parse_ns(stamp: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to nine fractional digits."""
    import calendar
    import time

    main, _, rest = stamp.partition(".")
    fraction = rest.rstrip("Z")
    if not rest:
        main = main.rstrip("Z")
    try:
        seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0
    digits = "".join(ch for ch in fraction if ch.isdigit())[:9]
    return seconds * 1_000_000_000 + int(digits.ljust(9, "0") or 0)
