"""The container lifecycle, daemonless: create, start, wait, logs, remove.

Every command is a short-lived process, so the truth lives on disk: the
record in pinnace.db, the writable layer (:mod:`.layer`), and per running
container a monitor (:mod:`pinnace.shim.monitor`) that outlives the command
and writes an exit file when the container ends.  A record says "running"
until some command reads that exit file (:meth:`ContainerService.sync`),
the way podman learns of exits from conmon's exit files.

Paths (DESIGN.md's state layout):

``<root>/containers/<id>/``
    ``rootfs`` (the overlay mount while running) and ``<id>-json.log``
``<runroot>/containers/<id>/``
    ``bundle/config.json`` (the OCI spec) and ``exit.json``
``<runroot>/runtime``
    the runtime's state root
"""

from __future__ import annotations

import os
import time

from pinnace._util import jsonc
from pinnace.containers import layer, names
from pinnace.containers.records import ContainerRecord, ContainerRecords
from pinnace.errors import Conflict, FailedPrecondition, NotFound, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from pinnace.containers.options import RunOptions
    from pinnace.images.stores import Stores
    from pinnace.logs.jsonfile import LogRecord
    from pinnace.meta.db import Database


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


class ContainerService:
    """The lifecycle over the records, the layer, the runtime and the monitor."""

    def __init__(self, stores: Stores, db: Database, root: str, runroot: str) -> None:
        self.stores = stores
        self.db = db
        self.root = root
        self.runroot = runroot
        self.records = ContainerRecords(db)

    # -- paths
    def _dir(self, container_id: str) -> str:
        return os.path.join(self.root, "containers", container_id)

    def _run_dir(self, container_id: str) -> str:
        return os.path.join(self.runroot, "containers", container_id)

    def rootfs(self, container_id: str) -> str:
        return os.path.join(self._dir(container_id), "rootfs")

    def log_path(self, container_id: str) -> str:
        return os.path.join(self._dir(container_id), f"{container_id}-json.log")

    def _exit_file(self, container_id: str) -> str:
        return os.path.join(self._run_dir(container_id), "exit.json")

    @property
    def runtime_root(self) -> str:
        return os.path.join(self.runroot, "runtime")

    # -- create / start
    def create(self, options: RunOptions, *, name: str = "") -> tuple[ContainerRecord, list[str]]:
        """A new container from ``options.image``: its record and writable layer; docker's warnings."""
        from pinnace.containers import spec
        from pinnace.containers.options import host_config
        from pinnace.events import append_event
        from pinnace.images.records import ImageRecords
        from pinnace.images.views import config_of
        from pinnace.meta.operations import operation

        if name:
            names.validate(name)
        images = ImageRecords(self.db)
        image = images.resolve(options.image)
        image_config = config_of(self.stores, image).raw.get("config") or {}
        options, warnings = spec.verify_options(options)
        container_id = names.new_id()
        config = spec.container_config(image_config, options, container_id=container_id)
        if not (config.get("Entrypoint") or config.get("Cmd")):
            raise FailedPrecondition("no command specified")
        layers = images.layers(image.id)
        if not layers:
            raise FailedPrecondition(f"image {options.image} has no layers")
        with operation(self.stores.root):
            key = layer.prepare(self.stores, container_id, layers[-1].chain_id)
            try:
                record = self.records.create(
                    ContainerRecord(
                        id=container_id,
                        name=name.lstrip("/"),
                        image_id=image.id,
                        image_name=options.image,
                        snapshot_key=key,
                        created=_now(),
                        config=config,
                        host_config=host_config(options),
                        runtime="pinnace",
                    )
                )
            except BaseException:
                layer.remove(self.stores, key)
                raise
        os.makedirs(self._dir(container_id), 0o711, exist_ok=True)
        append_event(
            self.db, "container", "create", container_id, {"name": record.name, "image": options.image}
        )
        return record, warnings

    def start(self, ref: str) -> ContainerRecord:
        """Mount the layer, write the spec and start the container under a detached monitor."""
        from pinnace.containers import spec
        from pinnace.containers.options import from_host_config
        from pinnace.events import append_event
        from pinnace.logs.options import DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE
        from pinnace.shim.monitor import MonitorConfig, spawn

        record = self.sync(self.records.resolve(ref))
        if record.status in ("running", "paused", "restarting"):
            return record
        rootfs = self.rootfs(record.id)
        layer.mount_rootfs(self.stores, record.snapshot_key, rootfs)
        try:
            options = from_host_config(record.host_config)
            spec.make_working_dir(rootfs, str(record.config.get("WorkingDir") or ""))
            document = spec.build_spec(record.config, options, container_id=record.id, rootfs=rootfs)
            bundle = os.path.join(self._run_dir(record.id), "bundle")
            os.makedirs(bundle, 0o700, exist_ok=True)
            with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8") as f:
                f.write(jsonc.dumps(document))
            exit_file = self._exit_file(record.id)
            if os.path.exists(exit_file):
                os.unlink(exit_file)
            started = spawn(
                MonitorConfig(
                    container_id=record.id,
                    bundle=bundle,
                    runtime_root=self.runtime_root,
                    log_path=self.log_path(record.id),
                    exit_file=exit_file,
                    max_size=DEFAULT_MAX_SIZE,
                    max_file=DEFAULT_MAX_FILE,
                    rootfs_mount=rootfs,
                )
            )
        except BaseException as e:
            layer.unmount_rootfs(rootfs)
            if isinstance(e, PinnaceError):
                self.records.update_state(record.id, error=str(e), exit_code=_exit_code_of(e))
            raise
        append_event(self.db, "container", "start", record.id, {"name": record.name})
        return self.records.update_state(
            record.id,
            status="running",
            pid=started.pid,
            monitor_pid=started.monitor_pid,
            started_at=_now(),
            exit_code=0,
            error="",
        )

    # -- state
    def sync(self, record: ContainerRecord) -> ContainerRecord:
        """The record with a finished run folded in (from its monitor's exit file)."""
        if record.status not in ("running", "paused"):
            return record
        exit_file = self._exit_file(record.id)
        try:
            with open(exit_file, "rb") as f:
                end: dict[str, Any] = jsonc.loads(f.read())
        except FileNotFoundError:
            if record.monitor_pid and _alive(record.monitor_pid):
                return record
            if os.path.exists(exit_file):
                return self.sync(record)  # written between the two checks
            end = {
                "ExitCode": 255,
                "OOMKilled": False,
                "FinishedAt": _now(),
                "Error": "container monitor died",
            }
        from pinnace.events import append_event

        append_event(self.db, "container", "die", record.id, {"exitCode": str(end["ExitCode"])})
        return self.records.update_state(
            record.id,
            status="exited",
            pid=0,
            monitor_pid=0,
            exit_code=int(end["ExitCode"]),
            oom_killed=bool(end.get("OOMKilled")),
            finished_at=str(end.get("FinishedAt") or _now()),
            error=str(end.get("Error") or ""),
        )

    def get(self, ref: str) -> ContainerRecord:
        return self.sync(self.records.resolve(ref))

    def list(self) -> list[ContainerRecord]:
        return [self.sync(r) for r in self.records.all()]

    def wait(self, ref: str, *, poll: float = 0.005) -> int:
        """Block until the container is not running; its exit code (docker wait)."""
        record = self.records.resolve(ref)
        while True:
            record = self.sync(self.records.get(record.id))
            if record.status not in ("running", "paused", "restarting"):
                return record.exit_code
            time.sleep(poll)

    def logs(self, ref: str, *, follow: bool = False, tail: int | None = None) -> Iterator[LogRecord]:
        """The container's log records (docker logs), following while it runs."""
        from pinnace.logs.jsonfile import read_logs

        record = self.records.resolve(ref)
        path = self.log_path(record.id)
        if not os.path.exists(path):
            return iter(())
        exit_file = self._exit_file(record.id)
        # A short poll: a foreground `run` waits on it for the container's last output.
        return read_logs(
            path, tail=tail, follow=follow, should_stop=lambda: os.path.exists(exit_file), poll_interval=0.005
        )

    def kill(self, ref: str, signum: int = 9) -> None:
        """Signal the container's init (docker kill)."""
        record = self.get(ref)
        if record.status not in ("running", "paused"):
            raise Conflict(f"Container {record.id} is not running")
        from pinnace.runtime import container

        container.kill(self.runtime_root, record.id, signum)

    def stop(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> ContainerRecord:
        """docker stop: the stop signal, then SIGKILL after ``timeout`` seconds (the container's, else 10)."""
        from pinnace.containers.spec import stop_signal
        from pinnace.runtime import signals

        record = self.get(ref)
        if record.status not in ("running", "paused"):
            return record
        if timeout is None:
            configured = record.config.get("StopTimeout")
            timeout = int(configured) if isinstance(configured, int) else 10
        signum = signals.parse(signal) if signal else stop_signal(record.config)
        self.kill(record.id, signum)
        deadline = time.monotonic() + max(timeout, 0)
        while time.monotonic() < deadline:
            record = self.sync(self.records.get(record.id))
            if record.status not in ("running", "paused"):
                return record
            time.sleep(0.01)
        try:
            self.kill(record.id, 9)
        except Conflict:
            pass  # it exited on its own meanwhile
        self.wait(record.id)
        return self.get(record.id)

    def remove(self, ref: str, *, force: bool = False) -> None:
        """Remove the container: its layer, logs and record (docker rm)."""
        from pinnace.events import append_event

        record = self.get(ref)
        if record.status in ("running", "paused", "restarting"):
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {record.id}. "
                    "Stop the container before attempting removal or force remove"
                )
            self.kill(record.id, 9)
            self.wait(record.id)
        layer.unmount_rootfs(self.rootfs(record.id))
        layer.remove(self.stores, record.snapshot_key)
        self.records.delete(record.id)
        _remove_tree(self._dir(record.id))
        _remove_tree(self._run_dir(record.id))
        append_event(self.db, "container", "destroy", record.id, {"name": record.name})


def _exit_code_of(error: PinnaceError) -> int:
    """docker run's exit code for a container that could not start: 127 not found, 126 cannot run."""
    return 127 if isinstance(error, NotFound) else 126


def _alive(pid: int) -> bool:
    from pinnace.runtime.state import start_time

    return start_time(pid) is not None


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
