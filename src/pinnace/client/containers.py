"""Containers over the Engine API: records rebuilt from inspect, create bodies, logs, exec, attach."""

from __future__ import annotations

from types import MappingProxyType

from pinnace.client.remote import Service
from pinnace.errors import NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any

    from pinnace.client.attach import Bridge
    from pinnace.client.http import Client
    from pinnace.containers.exec import ExecConfig
    from pinnace.containers.options import RunOptions
    from pinnace.containers.records import ContainerRecord
    from pinnace.logs.common import LogRecord


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
