"""``RemoteEngine``: the local :class:`pinnace.engine.Engine`'s interface, over the Engine API.

Each service mirrors the signatures of the local one's methods that the CLI's commands call and
returns the same record types (rebuilt from the API's JSON), so ``pinnace -H URL ps`` runs the very
code of ``pinnace ps``.  Records carry what the API shows; store-only fields (snapshot keys, spec
paths, monitor pids) are empty.  A method the API cannot serve yet raises
:class:`~pinnace.errors.NotImplementedYet` with the CLI's "not supported against a remote engine yet"
line, rather than reaching for a store that is not there.
"""

from __future__ import annotations

from types import MappingProxyType

from pinnace.errors import NotFound, NotImplementedYet

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import Any

    from pinnace.client.attach import Bridge
    from pinnace.client.http import Client
    from pinnace.containers.exec import ExecConfig
    from pinnace.containers.options import RunOptions
    from pinnace.containers.records import ContainerRecord
    from pinnace.distribution.pull import PullEvent, PullResult
    from pinnace.images.records import Image
    from pinnace.images.views import HistoryEntry, Summary
    from pinnace.logs.common import LogRecord
    from pinnace.network.records import NetworkRecord
    from pinnace.volumes.records import VolumeRecord


def unsupported(what: str) -> NotImplementedYet:
    """The error of a local-store feature asked of a remote engine: the CLI prints its one line, exit 125."""
    error = NotImplementedYet(f"{what}: not supported against a remote engine yet")
    error.remote_unsupported = True  # type: ignore[attr-defined]
    return error


class RemoteEngine:
    """What ``ctx.engine`` is with ``-H``/``PINNACE_HOST``/``DOCKER_HOST``/a context."""

    remote = True

    def __init__(self, client: Client) -> None:
        self.client = client
        self.containers = RemoteContainers(client)
        self.images = RemoteImages(client)
        self.volumes = RemoteVolumes(client)
        self.networks = RemoteNetworks(client)
        self.registry = RemoteRegistry(client, self.images)

    def __getattr__(self, name: str) -> Any:
        # db, stores, build_cache, builder ...: the local store's, which a remote engine has none of.
        if name.startswith("__"):
            raise AttributeError(name)
        raise unsupported(f"engine.{name}")

    def version(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.client.get("/version")
        return doc

    def info(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.client.get("/info")
        return doc

    def close(self) -> None:
        self.client.close()


class _Service:
    def __init__(self, client: Client) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise unsupported(f"{type(self).__name__.removeprefix('Remote').lower()}.{name}")


# ------------------------------------------------------------------------------------------ containers


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


class RemoteContainers(_Service):
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
        self, ref: str, *, attach: Callable[[str], None] | None = None, monitor_removes: bool = False
    ) -> ContainerRecord:
        """Start; with ``attach``, hijack an attach first and give ``attach`` a local run directory whose
        socket relays it (:class:`pinnace.client.attach.Bridge`), as the local service does with its
        monitor's.  An ``--rm`` container is removed by the service (``monitor_removes`` is implied)."""
        del monitor_removes
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

        query = {"stream": True, "stdin": bool(record.config.get("OpenStdin")), "stdout": True, "stderr": True}
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
                    "stderr" if stream == 2 else "stdout", text + b"\n", _parse_ns(stamp.decode(errors="replace"))
                )
        for stream, data in pending.items():
            stamp, _, text = data.partition(b" ")
            yield LogRecord(
                "stderr" if stream == 2 else "stdout", text, _parse_ns(stamp.decode(errors="replace")), partial=True
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


# ---------------------------------------------------------------------------------------------- images


def image_record(doc: Mapping[str, Any]) -> Image:
    """An Image from ``GET /images/{name}/json`` (tags and digests as the API's familiar names)."""
    from pinnace.images.records import Image
    from pinnace.oci.digest import Digest

    return Image(
        id=doc["Id"],
        manifest_digest=Digest(next(iter(d.partition("@")[2] for d in doc.get("RepoDigests") or []), "")),
        manifest_media_type="",
        created=str(doc.get("Created") or ""),
        size=int(doc.get("Size") or 0),
        added_at=0.0,
        labels=MappingProxyType(dict((doc.get("Config") or {}).get("Labels") or {})),
        tags=tuple(doc.get("RepoTags") or ()),
        repo_digests=tuple(doc.get("RepoDigests") or ()),
    )


class RemoteImages(_Service):
    def inspect(self, ref: str) -> dict[str, Any]:
        from pinnace.client.http import name

        doc: dict[str, Any] = self.client.get(f"/images/{name(ref)}/json")
        return doc

    def get(self, ref: str) -> Image:
        return image_record(self.inspect(ref))

    def history(self, ref: str) -> builtins.list[HistoryEntry]:
        from pinnace.client.http import name
        from pinnace.images.views import HistoryEntry

        return [
            HistoryEntry(
                id=str(e.get("Id") or "<missing>"),
                created=float(e.get("Created") or 0),
                created_by=str(e.get("CreatedBy") or ""),
                size=int(e.get("Size") or 0),
                comment=str(e.get("Comment") or ""),
                empty_layer=not e.get("Size"),
            )
            for e in self.client.get(f"/images/{name(ref)}/history") or []
        ]

    def list_images(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[Summary]:
        """``docker images``'s rows: the service's images (its filters), one row per name as locally."""
        import json

        from pinnace.images import views

        query = {"filters": json.dumps({k: list(v) for k, v in filters.items()}) if filters else None}
        images = []
        for summary in self.client.get("/images/json", query):
            created = summary.get("Created") or 0
            images.append(
                image_record(
                    {**summary, "Created": _rfc3339(int(created)), "Config": {"Labels": summary.get("Labels")}}
                )
            )
        rows = [row for img in images for row in views.summaries(img)]
        if filters and "reference" in filters:
            from pinnace.images.service import _match_reference

            rows = [r for r in rows if any(_match_reference(r, p) for p in filters["reference"])]
        rows.sort(key=lambda r: r.created, reverse=True)
        return rows

    def tag(self, source: str, target: str) -> None:
        from pinnace.client.http import name
        from pinnace.oci.reference import parse_normalized

        ref = parse_normalized(target)
        repo = str(ref).rpartition(":")[0] if ref.tag else str(ref)
        self.client.request(
            "POST", f"/images/{name(source)}/tag", {"repo": repo, "tag": ref.tag or "latest"}
        )

    def remove(self, refs: Iterable[str], *, force: bool = False) -> Iterator[Any]:
        """As the local ``remove``: each removal (``Untagged``/``Deleted`` and the name), or the error."""
        from pinnace.client.http import name
        from pinnace.errors import PinnaceError
        from pinnace.images.remove import Removal

        for ref in refs:
            try:
                for item in self.client.json("DELETE", f"/images/{name(ref)}", {"force": force}) or []:
                    for action, what in item.items():
                        yield Removal(action, what)
            except PinnaceError as e:
                yield e


def _rfc3339(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class RemoteRegistry(_Service):
    def __init__(self, client: Client, images: RemoteImages) -> None:
        super().__init__(client)
        self.images = images

    def pull(
        self,
        ref: str,
        *,
        platform: Any = None,
        progress: Callable[[PullEvent], None] | None = None,
        credentials: Any = None,
    ) -> PullResult:
        """``POST /images/create``: the service pulls; its progress lines become PullEvents."""
        del credentials
        from pinnace.distribution.pull import PullEvent, PullResult
        from pinnace.oci.reference import parse_normalized, with_default_tag

        wanted = parse_normalized(ref)
        if not wanted.digest:
            wanted = with_default_tag(wanted)
        query: dict[str, Any] = {"fromImage": wanted.name, "tag": wanted.digest or wanted.tag}
        if platform is not None:
            query["platform"] = _platform_text(platform)
        digest, up_to_date = "", False
        response = self.client.open("POST", "/images/create", query)
        for doc in self.client.json_lines(response):
            if doc.get("error") or doc.get("errorDetail"):
                message = str((doc.get("errorDetail") or {}).get("message") or doc.get("error"))
                raise _pull_error_kind(message)
            status = str(doc.get("status") or "")
            if status.startswith("Digest: "):
                digest = status[len("Digest: ") :]
            elif status.startswith("Status: "):
                up_to_date = "up to date" in status
            elif doc.get("id") and progress is not None:
                detail = doc.get("progressDetail") or {}
                progress(
                    PullEvent(str(doc["id"]), status, int(detail.get("current") or 0), int(detail.get("total") or 0))
                )
        image = self.images.get(str(wanted))
        return PullResult(image=image, reference=wanted, digest=digest, up_to_date=up_to_date)


def _platform_text(platform: Any) -> str:
    parts = [getattr(platform, "os", ""), getattr(platform, "architecture", ""), getattr(platform, "variant", "")]
    return "/".join(p for p in parts if p) or str(platform)


def _pull_error_kind(message: str) -> Exception:
    """The pinnace error kind a pull failure's message names (the CLI words them as docker does)."""
    from pinnace import errors

    if message.startswith(("manifest unknown", "name unknown")):
        return errors.NotFound(message)
    if "denied" in message or "unauthorized" in message:
        return errors.PermissionDenied(message)
    return errors.PinnaceError(message)


# ------------------------------------------------------------------------------------ volumes, networks


def volume_record(doc: Mapping[str, Any]) -> VolumeRecord:
    from pinnace.volumes.records import VolumeRecord

    return VolumeRecord(
        name=str(doc["Name"]),
        created=str(doc.get("CreatedAt") or ""),
        driver=str(doc.get("Driver") or "local"),
        labels=MappingProxyType(dict(doc.get("Labels") or {})),
        options=MappingProxyType(dict(doc.get("Options") or {})),
    )


class RemoteVolumes(_Service):
    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self._docs: dict[str, dict[str, Any]] = {}

    def _keep(self, doc: dict[str, Any]) -> VolumeRecord:
        self._docs[str(doc["Name"])] = doc
        return volume_record(doc)

    def create(
        self,
        name: str = "",
        *,
        driver: str = "",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> VolumeRecord:
        body = {"Name": name, "Driver": driver, "Labels": dict(labels or {}), "DriverOpts": dict(options or {})}
        return self._keep(self.client.json("POST", "/volumes/create", None, body))

    def get(self, name: str) -> VolumeRecord:
        from pinnace.client.http import name as segment
        from pinnace.errors import InvalidArgument

        if not name:
            raise InvalidArgument("volume name is required")
        return self._keep(self.client.get(f"/volumes/{segment(name)}"))

    def mountpoint(self, name: str) -> str:
        doc = self._docs.get(name) or self.client.get(f"/volumes/{name}")
        return str(doc.get("Mountpoint") or "")

    def inspect(self, rec: VolumeRecord) -> dict[str, Any]:
        doc = self._docs.get(rec.name) or self.client.get(f"/volumes/{rec.name}")
        return dict(doc)

    def list(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[VolumeRecord]:
        import json

        query = {"filters": json.dumps({k: list(v) for k, v in filters.items()}) if filters else None}
        doc = self.client.get("/volumes", query) or {}
        return [self._keep(v) for v in doc.get("Volumes") or []]

    def remove(self, name: str, *, force: bool = False) -> None:
        from pinnace.client.http import name as segment

        self.client.request("DELETE", f"/volumes/{segment(name)}", {"force": force})


def network_record(doc: Mapping[str, Any]) -> NetworkRecord:
    from pinnace.network.records import NetworkRecord

    configs = (doc.get("IPAM") or {}).get("Config") or []
    v4: Mapping[str, Any] = next((c for c in configs if ":" not in str(c.get("Subnet", ""))), {})
    v6: Mapping[str, Any] = next((c for c in configs if ":" in str(c.get("Subnet", ""))), {})
    return NetworkRecord(
        id=str(doc["Id"]),
        name=str(doc.get("Name") or ""),
        created=str(doc.get("Created") or ""),
        driver=str(doc.get("Driver") or ""),
        subnet=str(v4.get("Subnet") or ""),
        gateway=str(v4.get("Gateway") or ""),
        ip_range=str(v4.get("IPRange") or ""),
        internal=bool(doc.get("Internal")),
        labels=MappingProxyType(dict(doc.get("Labels") or {})),
        options=MappingProxyType(dict(doc.get("Options") or {})),
        ipv6=bool(doc.get("EnableIPv6")),
        subnet6=str(v6.get("Subnet") or ""),
        gateway6=str(v6.get("Gateway") or ""),
    )


class RemoteNetworks(_Service):
    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self._docs: dict[str, dict[str, Any]] = {}

    def _keep(self, doc: dict[str, Any]) -> NetworkRecord:
        self._docs[str(doc["Id"])] = doc
        return network_record(doc)

    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        ipv6: bool = False,
        subnet6: str = "",
        gateway6: str = "",
    ) -> NetworkRecord:
        config = []
        if subnet:
            entry = {"Subnet": subnet}
            if ip_range:
                entry["IPRange"] = ip_range
            if gateway:
                entry["Gateway"] = gateway
            config.append(entry)
        if subnet6:
            entry = {"Subnet": subnet6}
            if gateway6:
                entry["Gateway"] = gateway6
            config.append(entry)
        body = {
            "Name": name,
            "Driver": driver or "bridge",
            "Internal": internal,
            "EnableIPv6": ipv6,
            "Labels": dict(labels or {}),
            "Options": dict(options or {}),
            "IPAM": {"Driver": "default", "Config": config, "Options": {}},
        }
        doc = self.client.json("POST", "/networks/create", None, body)
        return self.get(str(doc["Id"]))

    def get(self, ref: str) -> NetworkRecord:
        from pinnace.client.http import name

        return self._keep(self.client.get(f"/networks/{name(ref)}"))

    def list(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[NetworkRecord]:
        import json

        query = {"filters": json.dumps({k: list(v) for k, v in filters.items()}) if filters else None}
        return [self._keep(doc) for doc in self.client.get("/networks", query) or []]

    def inspect(self, rec: NetworkRecord, names: Callable[[str], str] | None = None) -> dict[str, Any]:
        del names
        return dict(self._docs.get(rec.id) or self.client.get(f"/networks/{rec.id}"))

    def remove(self, ref: str) -> NetworkRecord:
        from pinnace.client.http import name

        rec = self.get(ref)
        self.client.request("DELETE", f"/networks/{name(ref)}")
        return rec
