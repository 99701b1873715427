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
from types import MappingProxyType

from pinnace._util import jsonc
from pinnace.containers import layer, names
from pinnace.containers.records import ContainerRecord, ContainerRecords, ContainerUsage
from pinnace.errors import Conflict, FailedPrecondition, NotFound, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    import threading
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from contextlib import AbstractContextManager
    from typing import Any, BinaryIO

    from pinnace.containers.copy import ContainerFS
    from pinnace.containers.networking import Attached
    from pinnace.containers.options import RunOptions
    from pinnace.containers.stats import Sample
    from pinnace.containers.update import UpdateConfig
    from pinnace.images.records import Image
    from pinnace.images.stores import Stores
    from pinnace.logs.jsonfile import LogRecord
    from pinnace.meta.db import Database
    from pinnace.network.records import Endpoint
    from pinnace.network.service import NetworkService
    from pinnace.oci.reference import Reference
    from pinnace.runtime.cgroups import Manager
    from pinnace.shim.runtimes import Runtime
    from pinnace.volumes.service import VolumeService


#: The statuses in which a container has a monitor (docker's State.Running).
ACTIVE = ("running", "paused", "restarting")
#: What :meth:`ContainerService.wait` waits for (the Engine API's ``condition``).
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
#: inspect's NetworkSettings of a started container on a network, in its run directory.
NETWORK_FILE = "network.json"


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


class ContainerService:
    """The lifecycle over the records, the layer, the runtime and the monitor."""

    def __init__(
        self,
        stores: Stores,
        db: Database,
        root: str,
        runroot: str,
        volumes: Callable[[], VolumeService] | None = None,
        networks: Callable[[], NetworkService] | None = None,
    ) -> None:
        self.stores = stores
        self.db = db
        self.root = root
        self.runroot = runroot
        self.records = ContainerRecords(db)
        self._volumes = volumes
        self._networks = networks

    @property
    def networks(self) -> NetworkService:
        """The network service (built on first use: only containers on a network need it)."""
        if self._networks is None:
            from pinnace.network.service import NetworkService

            service = NetworkService(self.db, self.root)
            self._networks = lambda: service
        return self._networks()

    @property
    def volumes(self) -> VolumeService:
        """The volume service (built on first use: most containers have no volume)."""
        if self._volumes is None:
            from pinnace.volumes.service import VolumeService

            service = VolumeService(self.db, self.root)
            self._volumes = lambda: service
        return self._volumes()

    # -- paths
    def _dir(self, container_id: str) -> str:
        return os.path.join(self.root, "containers", container_id)

    def _run_dir(self, container_id: str) -> str:
        return os.path.join(self.runroot, "containers", container_id)

    def rootfs(self, container_id: str) -> str:
        return os.path.join(self._dir(container_id), "rootfs")

    def log_path(self, record: ContainerRecord) -> str:
        """``LogPath`` as inspect shows it: the json-file log's path ("" for the other drivers, as docker)."""
        from pinnace.logs.drivers import inspect_log_path

        return inspect_log_path(record.host_config.get("LogConfig"), self._dir(record.id), record.id)

    def _exit_file(self, container_id: str) -> str:
        return os.path.join(self._run_dir(container_id), "exit.json")

    @property
    def runtime_root(self) -> str:
        """The state root of pinnace's own runtime (the default one)."""
        return os.path.join(self.runroot, "runtime")

    def _cgroup(self, record: ContainerRecord) -> Manager:
        """The container's cgroups (where its runtime put them: the spec's ``cgroupsPath``)."""
        return self.runtime(record).cgroup(os.path.join(self._run_dir(record.id), "bundle"), record.id)

    def runtime(self, record: ContainerRecord) -> Runtime:
        """The OCI runtime the container runs with (``--runtime``; pinnace's own by default)."""
        from pinnace.shim.runtimes import resolve, root_for, runtime_at

        name = resolve(str(record.host_config.get("Runtime") or record.runtime or ""))
        return runtime_at(name, root_for(name, self.runroot))

    # -- create / start
    def create(self, options: RunOptions, *, name: str = "") -> tuple[ContainerRecord, list[str]]:
        """A new container from ``options.image``: its record and writable layer; docker's warnings."""
        from pinnace.containers import spec
        from pinnace.containers.options import host_config
        from pinnace.images.records import ImageRecords
        from pinnace.images.views import config_of
        from pinnace.meta.operations import operation

        if name:
            names.validate(name)
        images = ImageRecords(self.db)
        image = images.resolve(options.image)
        image_config = config_of(self.stores, image).raw.get("config") or {}
        options, warnings = spec.verify_options(options)
        options = self._check_network(options)
        container_id = names.new_id()
        config = spec.container_config(image_config, options, container_id=container_id)
        if not (config.get("Entrypoint") or config.get("Cmd")):
            raise FailedPrecondition("no command specified")
        layers = images.layers(image.id)
        if not layers:
            raise FailedPrecondition(f"image {options.image} has no layers")
        points, volumes = self._resolve_mounts(options, config)
        new_volumes: list[Any] = []
        endpoint = self._endpoint_request(options)

        def refer(conn: Any) -> None:
            if volumes:
                new_volumes.extend(self.volumes.records.add_users(conn, container_id, volumes))
            if endpoint is not None:
                endpoint(conn, container_id)

        with operation(self.stores.root_dir):
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
                        runtime=options.runtime or "pinnace",
                        mounts=tuple(p.to_json() for p in points),
                    ),
                    also=refer if volumes or endpoint is not None else None,
                )
            except BaseException:
                layer.remove(self.stores, key)
                raise
        for volume in new_volumes:
            self.volumes.driver.create(volume)
            self.volumes.event(volume, "create")
        os.makedirs(self._dir(container_id), 0o711, exist_ok=True)
        workdir = str(config.get("WorkingDir") or "")
        if workdir not in ("", "/"):
            self._make_working_dir(record, workdir)
        self._event(record, "create")
        return record, warnings

    def _check_network(self, options: RunOptions) -> RunOptions:
        """``--network`` as docker stores it (``container:ID``; none given: the default network), refused
        when it names no network."""
        from pinnace._util.record import replace
        from pinnace.containers import networking

        if not options.network_mode:  # docker's default: "bridge", or none where daemon.json disables it
            default = "bridge" if self.networks.config.default_bridge_enabled else "none"
            return replace(options, network_mode=default)
        mode = networking.check_mode(options.network_mode, self.records.resolve)
        if mode in ("none", "host"):
            self.networks.builtin(mode)  # recorded, so inspect can name it (as docker does)
        elif mode not in networking.BUILTIN and not mode.startswith("container:"):
            self.networks.get(mode)  # NotFound: docker's "network X not found"
        return replace(options, network_mode=mode)

    def _endpoint_request(self, options: RunOptions) -> Callable[[Any, str], object] | None:
        """The step of create's transaction that takes the container's address on its network, if it has one."""
        from pinnace.containers import networking

        if networking.mode_of_options(options.network_mode) in ("none", "host"):
            return None
        return networking.endpoint_request(
            options.network_mode,
            self.networks,
            ip=options.ip,
            aliases=options.network_aliases,
            mac=options.mac_address,
        )

    def _resolve_mounts(self, options: RunOptions, config: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
        """The container's mount points and the volumes they name (nothing to do for most containers)."""
        if not (
            options.binds or options.mounts or options.tmpfs or options.volumes_from or config.get("Volumes")
        ):
            return [], []
        from pinnace.containers import mounts

        return mounts.resolve(options, config, self.volumes, self.records.resolve)

    def _make_working_dir(self, record: ContainerRecord, workdir: str) -> None:
        """Create the working directory in the new layer, as docker does at create; its error undoes the create."""
        from pinnace.containers import spec

        rootfs = self.rootfs(record.id)
        try:
            layer.mount_rootfs(self.stores, record.snapshot_key, rootfs)
            try:
                spec.make_working_dir(rootfs, workdir)
            finally:
                layer.unmount_rootfs(rootfs)
        except BaseException:
            layer.remove(self.stores, record.snapshot_key)
            self._forget(record)
            _remove_tree(self._dir(record.id))
            raise

    def start(
        self, ref: str, *, attach: Callable[[str], None] | None = None, remover: bool = False
    ) -> ContainerRecord:
        """Mount the layer, write the spec and start the container under a detached monitor.

        With ``attach``, the container is created first and ``attach(run_dir)``
        is called to connect to its monitor before it starts (docker's CLI
        attaches before it starts, so no output is missed).  A ``--rm``
        container is removed at its end by its monitor, or with ``remover``
        by this process (:mod:`pinnace.shim.remover`: a foreground run, the
        API service, see :meth:`reap`) as long as it lives.
        """
        from pinnace.containers import spec
        from pinnace.containers.health import initial_health
        from pinnace.containers.options import from_host_config
        from pinnace.shim import monitor
        from pinnace.shim import remover as removers

        record = self.sync(self.records.resolve(ref))
        if record.status in ACTIVE:
            return record
        rootfs = self.rootfs(record.id)
        run_dir = self._run_dir(record.id)
        container_dir = self._dir(record.id)
        layer.mount_rootfs(self.stores, record.snapshot_key, rootfs)
        try:
            if remover and record.host_config.get("AutoRemove"):
                removers.claim(container_dir)
            else:
                removers.release(container_dir)
            options = from_host_config(record.host_config)
            spec.make_working_dir(rootfs, str(record.config.get("WorkingDir") or ""))
            extra, propagation = self._spec_mounts(record, rootfs)
            network = self._network_setup(record)
            extra = (
                self._host_files(
                    record,
                    addresses=network.addresses,
                    host_gateway=network.gateway,
                    embedded_dns=network.embedded_dns,
                    taken=extra,
                )
                + extra
            )
            document = spec.build_spec(
                record.config,
                options,
                container_id=record.id,
                rootfs=rootfs,
                mounts=extra,
                root_propagation=propagation,
                netns=network.netns,
            )
            bundle = os.path.join(run_dir, "bundle")
            os.makedirs(bundle, 0o700, exist_ok=True)
            if network.settings is not None:
                from pinnace._util.fs import atomic_write

                atomic_write(
                    os.path.join(run_dir, NETWORK_FILE),
                    jsonc.dumps(dict(network.settings)).encode(),
                    durable=False,
                )
            with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8") as f:
                f.write(jsonc.dumps(document))
            for stale in (monitor.EXIT_FILE, monitor.STATE_FILE):
                _unlink(os.path.join(run_dir, stale))
            _unlink(os.path.join(container_dir, monitor.STOPPED_MARK))
            self._write_restart_policy(record)
            config = record.config
            runtime = self.runtime(record)
            log_config = dict(record.host_config.get("LogConfig") or {"Type": "json-file", "Config": {}})
            started = monitor.spawn(
                monitor.MonitorConfig(
                    container_id=record.id,
                    bundle=bundle,
                    runtime=getattr(runtime, "path", "pinnace"),
                    runtime_root=runtime.root,
                    run_dir=run_dir,
                    container_dir=container_dir,
                    log_config=log_config,
                    log_attrs=self._log_attrs(record, log_config),
                    rootfs_mount=rootfs,
                    tty=bool(config.get("Tty")),
                    open_stdin=bool(config.get("OpenStdin")),
                    stdin_once=bool(config.get("StdinOnce")),
                    wait_attach=attach is not None,
                    exit_command=self._exit_command(record),
                    **self._health_schedule(record),
                ),
                on_created=(lambda: attach(run_dir)) if attach is not None else None,
                runroot=self.runroot,
            )
        except BaseException as e:
            layer.unmount_rootfs(rootfs)
            self._network_teardown(record)
            if isinstance(e, PinnaceError):
                self.records.update_state(record.id, error=str(e), exit_code=_exit_code_of(e))
            raise
        self._event(record, "start")
        return self.records.update_state(
            record.id,
            status="running",
            pid=started.pid,
            monitor_pid=started.monitor_pid,
            started_at=_now(),
            exit_code=0,
            error="",
            restart_count=0,
            health=initial_health(record.config, record.health),
        )

    def _network_setup(self, record: ContainerRecord) -> Attached:
        """The container's network namespace, made and plugged in for a network mode (nothing for none)."""
        from pinnace.containers import networking

        if networking.mode_of(record) == "none":
            return networking.Attached()
        return networking.setup(
            record,
            runroot=self.runroot,
            networks=lambda: self.networks,
            resolve_container=self.records.resolve,
        )

    def _network_teardown(self, record: ContainerRecord, *, release: bool = False) -> None:
        """Undo what :meth:`_network_setup` made (``release``: the addresses too); what is gone is fine."""
        from pinnace.containers import networking

        _unlink(os.path.join(self._run_dir(record.id), NETWORK_FILE))
        networking.teardown(record, runroot=self.runroot, networks=lambda: self.networks, release=release)

    def sweep_networks(self, records: Sequence[ContainerRecord] | None = None) -> list[str]:
        """Clean what crashes left of this store's networking (``system restore``, ``network prune``)."""
        from pinnace.containers import networking

        if records is None:
            records = self.list()
        if not any(networking.mode_of(r) not in ("none", "host") for r in records) and not os.path.isdir(
            os.path.join(self.runroot, "netns")
        ):
            return []  # no container ever had a network here: nothing to look at (and no nftables to load)
        live = [r.id for r in records if r.status in ACTIVE]
        return networking.sweep(records, runroot=self.runroot, networks=self.networks, live=live)

    def network_settings(self, record: ContainerRecord) -> dict[str, Any] | None:
        """inspect's NetworkSettings of a container on a network (None: docker's empty one).

        A running container's is what its start wrote; one that is not
        running lists the networks it is connected to, address fields empty.
        On ``none`` or ``host`` it lists that network, as docker does.
        """
        from pinnace.containers import networking
        from pinnace.containers.records import ZERO_TIME

        mode = networking.mode_of(record)
        has_run = record.started_at != ZERO_TIME
        if mode in ("none", "host"):
            # By name, without making the predefined networks (a read must not write, nor load netlink).
            network = self.networks.records.by_name(mode)
            running = record.status in ACTIVE
            return networking.builtin_settings(mode, network, record.id, running=running, has_run=has_run)
        if record.status in ACTIVE:
            return _read_json(os.path.join(self._run_dir(record.id), NETWORK_FILE))
        if mode.startswith("container:"):
            return None
        endpoints = self.networks.endpoints(record.id)
        if not endpoints:
            return None
        attached = [(self.networks.get(e.network), e) for e in endpoints]
        return networking.idle_settings(attached, has_run=has_run)

    def connect_network(
        self, network_ref: str, container_ref: str, *, ip: str = "", aliases: Sequence[str] = ()
    ) -> Endpoint | None:
        """docker network connect: give the container an endpoint on the network; plugged live if it runs.

        A running container gets the next ``ethN`` at once (its address and
        route to the subnet, no default route) and its NetworkSettings list
        the network; a stopped or created one keeps the endpoint (its
        address taken now) for its next start.  docker's refusals: a
        container sharing another's or the host's namespace, one in
        ``none``, the host network, an endpoint already there (a stopped
        container connected twice is left as it is, as docker does).
        Returns the endpoint, None when nothing changed (a container
        connected again to its own host or none network while stopped).
        """
        from pinnace.containers import networking

        record = self.get(container_ref)
        _check_not_removed(record)
        mode = networking.mode_of(record)
        if mode.startswith("container:"):
            raise Conflict(networking.SHARED_CONFLICT)
        network = self.networks.get(network_ref)
        if network.driver == "host" and mode != "host":
            raise Conflict(networking.HOST_CONFLICT)
        if mode in ("host", "none"):
            if network.name != mode:
                raise Conflict(networking.SHARED_CONFLICT if mode == "host" else networking.NONE_CONFLICT)
            if record.status in ACTIVE:
                raise Conflict(f"endpoint with name {record.name} already exists in network {network.name}")
            return None
        with networking.lock(self.runroot, record.id):
            live = networking.plugged_in(self.runroot, record.id)
            existing = self.networks.endpoint_of(network.id, record.id)
            try:  # docker's checks of the endpoint settings come first, even when connected already
                endpoint = self.networks.connect(network.id, record.id, ip=ip, aliases=tuple(aliases))
            except Conflict:
                if existing is not None and not live:
                    return existing
                raise
            if not live:
                return endpoint
            plugged: networking.Plugged | None = None
            try:
                plugged = networking.plug(
                    record, network, endpoint, runroot=self.runroot, service=self.networks
                )
                bindings = plugged.bindings
                self._change_network_file(
                    record, lambda doc: networking.with_network(doc, record, network, endpoint, bindings)
                )
            except BaseException:
                if plugged is not None:
                    networking.unplug(record, endpoint, runroot=self.runroot, service=self.networks)
                self.networks.disconnect(network.id, record.id)
                raise
            addresses = [ip for ip in (endpoint.ip, endpoint.ip6) if ip]
            self._connected_host_files(record, addresses, embedded_dns=plugged.embedded_dns)
        return endpoint

    def _connected_host_files(
        self, record: ContainerRecord, addresses: Sequence[str], *, embedded_dns: bool
    ) -> None:
        """/etc/hosts (and /etc/resolv.conf, when the embedded resolver began to answer) after a live connect."""
        from pinnace.containers import hostfiles

        directory = self._dir(record.id)
        for ip in addresses:
            hostfiles.add_address(directory, record.config, ip)
        if embedded_dns:
            hostfiles.use_embedded_dns(directory, record.host_config)

    def disconnect_network(self, network_ref: str, container_ref: str, *, force: bool = False) -> None:
        """docker network disconnect: release the container's endpoint; unplugged live if it runs.

        The veth goes (its address and routes with it), then the address is
        free.  ``force`` (docker's ``-f``): a container that is gone may still
        hold an endpoint (a crash): named by its full ID, it is released.
        """
        from pinnace.containers import networking

        try:
            record = self.get(container_ref)
        except NotFound:
            if force and self._force_endpoint_delete(network_ref, container_ref):
                return
            raise
        _check_not_removed(record)
        try:
            network = self.networks.get(network_ref)
        except NotFound:
            if record.status in ACTIVE and not force:
                raise
            raise FailedPrecondition(
                f"container {record.id} is not connected to the network {network_ref}"
            ) from None
        mode = networking.mode_of(record)
        if mode == "host" and network.driver == "host":
            raise Conflict(networking.HOST_CONFLICT)
        if mode == "none" and network.name == "none":
            self.networks.event(network, "disconnect", {"container": record.id})
            return  # docker leaves it with no network at all: here too, it has none to unplug
        with networking.lock(self.runroot, record.id):
            live = networking.plugged_in(self.runroot, record.id)
            endpoint = self.networks.endpoint_of(network.id, record.id)
            if endpoint is None:
                the = "" if live else "the "
                raise FailedPrecondition(
                    f"container {record.id} is not connected to {the}network {network.name}"
                )
            if live:
                gateway = networking.unplug(record, endpoint, runroot=self.runroot, service=self.networks)
                self._change_network_file(
                    record, lambda doc: networking.without_network(doc, record, network.name, gateway=gateway)
                )
                from pinnace.containers import hostfiles

                for ip in (endpoint.ip, endpoint.ip6):
                    if ip:
                        hostfiles.remove_address(self._dir(record.id), record.config, ip)
            self.networks.disconnect(network.id, record.id)

    def _force_endpoint_delete(self, network_ref: str, container_id: str) -> bool:
        """``disconnect -f`` of a container that is gone: release the endpoint it left on the network, if any."""
        from pinnace.network import plumbing

        network = self.networks.get(network_ref)
        if self.networks.endpoint_of(network.id, container_id) is None:
            return False
        plumbing.detach(plumbing.host_ifname(container_id, network.id))
        self.networks.disconnect(network.id, container_id)
        return True

    def _change_network_file(
        self, record: ContainerRecord, change: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    ) -> None:
        """Rewrite the running container's NetworkSettings (inspect's) with ``change`` applied."""
        from pinnace._util.fs import atomic_write
        from pinnace.containers import networking

        path = os.path.join(self._run_dir(record.id), NETWORK_FILE)
        current = _read_json(path)
        if current is None:
            current = networking.settings(record, networking.netns_path(self.runroot, record.id), [], [])
        atomic_write(path, jsonc.dumps(dict(change(current))).encode(), durable=False)

    def _host_files(
        self,
        record: ContainerRecord,
        *,
        addresses: Sequence[str],
        host_gateway: str,
        embedded_dns: bool = False,
        taken: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Write /etc/hostname, /etc/hosts and /etc/resolv.conf; their mounts, but for one the user mounted."""
        from pinnace.containers import hostfiles

        mounts = hostfiles.write(
            self._dir(record.id),
            record.config,
            record.host_config,
            addresses=addresses,
            own_network=record.host_config.get("NetworkMode") != "host",
            host_gateway=host_gateway,
            embedded_dns=embedded_dns,
        )
        users = {m["destination"] for m in taken}
        return [m for m in mounts if m["destination"] not in users]

    def files(self, record: ContainerRecord) -> dict[str, str]:
        """inspect's file fields: LogPath, and the hostname, hosts and resolv.conf paths once started."""
        from pinnace.containers import hostfiles

        return {**hostfiles.paths(self._dir(record.id)), "LogPath": self.log_path(record)}

    def _spec_mounts(self, record: ContainerRecord, rootfs: str) -> tuple[list[dict[str, Any]], str]:
        """The runtime-spec mounts of the container's volumes, binds and tmpfs, and the root propagation."""
        if not record.mounts:
            return [], ""
        from pinnace.containers import mounts

        points = mounts.load(record)
        out = mounts.spec_mounts(points, rootfs, self.volumes)
        for p in points:
            if p.type == "volume":
                self.volumes.event(
                    self.volumes.records.get(p.name),
                    "mount",
                    {
                        "container": record.id,
                        "destination": p.destination,
                        "propagation": "",
                        "read/write": str(p.rw).lower(),
                    },
                )
        return out

    def mounts_view(self, record: ContainerRecord) -> list[dict[str, Any]]:
        """inspect's ``Mounts`` of the container."""
        if not record.mounts:
            return []
        from pinnace.containers import mounts

        return mounts.inspect(mounts.load(record), self.volumes)

    def _forget(self, record: ContainerRecord) -> None:
        """Delete the record and, in the same transaction, its references to volumes."""
        if record.mounts:
            from pinnace.volumes.records import VolumeRecords

            self.records.delete(record.id, also=lambda conn: VolumeRecords.drop_users(conn, record.id))
        else:
            self.records.delete(record.id)

    def _log_attrs(self, record: ContainerRecord, log_config: Mapping[str, Any]) -> dict[str, str]:
        """What ``--log-opt labels=/env=/tag=`` attach to each log record (``logs --details``)."""
        options = log_config.get("Config") or {}
        if not any(key in options for key in ("labels", "labels-regex", "env", "env-regex", "tag")):
            return {}
        from pinnace.logs.options import log_attrs

        config = record.config
        return log_attrs(
            options,
            container_id=record.id,
            name="/" + record.name,
            image_id=record.image_id,
            image_name=record.image_name,
            labels=record.labels or config.get("Labels") or {},
            env=config.get("Env") or (),
            entrypoint=" ".join(config.get("Entrypoint") or ()),
            args=config.get("Cmd") or (),
        )

    def run_dir(self, container_id: str) -> str:
        """``<runroot>/containers/<id>``: the monitor's files and its attach socket."""
        return self._run_dir(container_id)

    def _write_restart_policy(self, record: ContainerRecord) -> None:
        """The restart policy where the monitor reads it at each exit (``update --restart`` rewrites it)."""
        from pinnace._util.fs import atomic_write
        from pinnace.shim.monitor import RESTART_FILE

        policy = record.host_config.get("RestartPolicy") or {"Name": "no", "MaximumRetryCount": 0}
        path = os.path.join(self._dir(record.id), RESTART_FILE)
        # No fsync: the record is the truth, and this is written again at every start.
        atomic_write(path, jsonc.dumps(policy, compact=True).encode(), durable=False)

    def _cli(self, *args: str) -> tuple[str, ...]:
        """A command line of this pinnace on this store, for the monitor to run later."""
        import sys

        program = os.path.join(os.path.dirname(sys.executable), "pinnace")
        if not os.access(program, os.X_OK):
            program = os.path.abspath(sys.argv[0])
        return (program, "--root", self.root, "--runroot", self.runroot, *args)

    def _exit_command(self, record: ContainerRecord) -> tuple[str, ...]:
        """``--rm``: the monitor removes the container at its end, unless its remover lives then."""
        if record.host_config.get("AutoRemove"):
            return self._cli("rm", "-f", "-v", record.id)
        return ()

    def _health_schedule(self, record: ContainerRecord) -> dict[str, Any]:
        """The monitor's healthcheck fields: the command that probes once, and when it runs."""
        from pinnace.containers.health import schedule

        when = schedule(record.config)
        if when is None:
            return {}
        return {
            "health_command": self._cli("healthcheck", "run", record.id),
            "health_interval": when[0],
            "health_start_interval": when[1],
            "health_start_period": when[2],
        }

    # -- state
    def sync(self, record: ContainerRecord) -> ContainerRecord:
        """The record with what its monitor reported folded in: an exit, a restart, a new pid.

        A monitor that died without an exit file (SIGKILL, a reboot) leaves
        the container exited with code 255, as docker shows containers whose
        shim is gone, and whatever of it still runs is killed and unmounted.
        """
        folded = self._fold(record, dry=False)
        assert folded is not None
        return folded

    def _fold(self, record: ContainerRecord, *, dry: bool) -> ContainerRecord | None:
        """:meth:`sync`; with ``dry``, None instead of any write (news to record, a clean-up to do)."""
        if record.status not in ACTIVE:
            return record
        from pinnace.shim.monitor import EXIT_FILE, STATE_FILE, is_monitor

        run_dir = self._run_dir(record.id)
        end = _read_json(os.path.join(run_dir, EXIT_FILE))
        if end is None:
            if is_monitor(record.monitor_pid):
                state = _read_json(os.path.join(run_dir, STATE_FILE))
                if not state:
                    return record
                if dry:
                    news = _state_of(record.status, state) != (
                        record.status,
                        record.restart_count,
                        record.pid,
                    )
                    return None if news else record
                return self._running(record, state)
            if dry:
                return None
            end = _read_json(os.path.join(run_dir, EXIT_FILE))  # written between the two checks
            if end is None and self._clean_after_monitor(record):
                end = {
                    "ExitCode": 137,
                    "FinishedAt": _now(),
                }  # killed here, as containerd kills a dead shim's task
            elif end is None:  # nothing of it left (a reboot)
                end = {"ExitCode": 255, "FinishedAt": _now(), "Error": "container monitor died"}
        if dry:
            return None
        if end.get("OOMKilled"):
            self._event(record, "oom")
        self._event(record, "die", {"exitCode": str(end["ExitCode"])})
        self._network_teardown(record)
        changes: dict[str, Any] = {}
        if "RestartCount" in end:
            changes["restart_count"] = int(end["RestartCount"])
        return self.records.update_state(
            record.id,
            status="exited",
            pid=0,
            monitor_pid=0,
            exit_code=int(end["ExitCode"]),
            oom_killed=bool(end.get("OOMKilled")),
            finished_at=str(end.get("FinishedAt") or _now()),
            error=str(end.get("Error") or ""),
            **changes,
        )

    def _running(self, record: ContainerRecord, state: Mapping[str, Any]) -> ContainerRecord:
        """Fold a live monitor's state file in: restarts (docker's "restarting" between runs) and new pids."""
        status, count, pid = _state_of(record.status, state)
        if (status, count, pid) == (record.status, record.restart_count, record.pid):
            return record
        changes: dict[str, Any] = {"status": status, "restart_count": count, "pid": pid}
        if status == "restarting":
            changes.update(
                exit_code=int(state.get("ExitCode") or 0), finished_at=str(state.get("FinishedAt"))
            )
        elif state.get("StartedAt"):
            changes["started_at"] = str(state["StartedAt"])
            if count > record.restart_count:
                self._event(record, "restart")
        return self.records.update_state(record.id, **changes)

    def _clean_after_monitor(self, record: ContainerRecord) -> bool:
        """What a dead monitor could not do: kill what still runs of the container, unmount its root.

        True when the runtime still had the container (it was killed here).
        """
        runtime = self.runtime(record)
        killed = runtime.exists(record.id)
        try:
            runtime.delete(record.id, force=True)
        except PinnaceError:
            pass
        layer.unmount_rootfs(self.rootfs(record.id))
        return killed

    def sizes(self, record: ContainerRecord) -> tuple[int, int]:
        """(SizeRw, SizeRootFs): the writable layer's bytes, and those plus the image's (``ps -s``)."""
        from pinnace.images.records import ImageRecords

        snapshots = self.stores.snapshots
        try:
            rw = snapshots.usage(record.snapshot_key).size
        except PinnaceError:
            return 0, 0
        try:
            image = sum(
                snapshots.usage(x.chain_id).size for x in ImageRecords(self.db).layers(record.image_id)
            )
        except PinnaceError:
            image = 0
        return rw, rw + image

    def disk_usage(self) -> ContainerUsage:
        """Counts and writable-layer sizes of every container (``system df``)."""
        records = self.list()
        sizes = {}
        for r in records:
            try:
                sizes[r.id] = self.stores.snapshots.usage(r.snapshot_key).size
            except PinnaceError:
                sizes[r.id] = 0
        running = [r for r in records if r.status in ACTIVE]
        size = sum(sizes.values())
        return ContainerUsage(
            total=len(records),
            active=len(running),
            size=size,
            reclaimable=size - sum(sizes[r.id] for r in running),
            images=frozenset(r.image_id for r in records),
            records=tuple(records),
            sizes=MappingProxyType(sizes),
        )

    def restore(self) -> list[ContainerRecord]:
        """After a reboot (or a crash of every monitor): start what docker's daemon starts when it comes up.

        Each record is synced first (a container whose monitor is gone is
        exited), then the containers that ran before and whose restart
        policy says so are started: ``always``, and ``unless-stopped`` unless
        the user stopped them (moby's ``shouldRestart`` at daemon start).
        ``pinnace system restore`` runs this from a boot unit (README).
        """
        from pinnace.containers.records import ZERO_TIME
        from pinnace.shim.monitor import STOPPED_MARK

        records = self.list()
        self.sweep_networks(records)
        started = []
        for record in records:
            if record.status != "exited" or record.started_at == ZERO_TIME:
                continue
            policy = str((record.host_config.get("RestartPolicy") or {}).get("Name") or "no")
            stopped = os.path.exists(os.path.join(self._dir(record.id), STOPPED_MARK))
            if policy == "always" or (policy == "unless-stopped" and not stopped):
                try:
                    started.append(self.start(record.id))
                except PinnaceError as e:
                    self.records.update_state(record.id, error=str(e))
        return started

    def get(self, ref: str) -> ContainerRecord:
        return self.sync(self.records.resolve(ref))

    def list(self) -> list[ContainerRecord]:
        return [self.sync(r) for r in self.records.all()]

    def list_settled(self) -> builtins.list[ContainerRecord] | None:
        """:meth:`list` when no monitor has news to record, else None: only reads (of the database, in
        WAL mode never blocked by a writer, and of small state files), so the API's event loop may call
        it itself; with news, :meth:`list` (which writes and may tear down networking) runs elsewhere."""
        out = []
        for record in self.records.all():
            folded = self._fold(record, dry=True)
            if folded is None:
                return None
            out.append(folded)
        return out

    def inspect(self, ref: str, *, size: bool = False) -> dict[str, Any]:
        """``docker container inspect``'s document (the CLI's and the Engine API's); ``size``: with
        SizeRw and SizeRootFs (``inspect --size``)."""
        from pinnace.containers import views

        record = self.get(ref)
        size_rw, size_root_fs = self.sizes(record) if size else (None, None)
        return views.inspect(
            record,
            files=self.files(record),
            mounts=self.mounts_view(record),
            network=self.network_settings(record),
            size_rw=size_rw,
            size_root_fs=size_root_fs,
        )

    def wait(
        self,
        ref: str,
        *,
        condition: str = "not-running",
        poll: float = 0.005,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:
        """Block until the container meets ``condition``; its exit code (docker wait, the Engine API's).

        ``not-running``: at once unless it runs.  ``next-exit``: an exit
        after this call (a created or stopped container is waited for
        through its next start).  ``removed``: until its record is gone,
        with the code of its last exit, as dockerd answers a ``run --rm``.
        A container removed meanwhile answers with its last exit, read from
        its ``die`` event when another process folded it in (the monitor's
        ``rm`` of a ``--rm`` container).  ``cancelled`` is asked at every
        poll: True (the client went away) raises Unavailable, so no waiter
        polls for nobody.
        """
        from pinnace.errors import InvalidArgument, Unavailable
        from pinnace.events import last_seq

        if condition not in WAIT_CONDITIONS:
            raise InvalidArgument(f'invalid condition: "{condition}"')
        record = self.records.resolve(ref)
        first = self.sync(record)
        since = last_seq(self.db)  # a die event after this is an exit this call saw happen
        code = first.exit_code
        began = time.monotonic()
        while True:
            try:
                record = self.sync(self.records.get(record.id))
            except NotFound:  # removed meanwhile: every condition is met
                return self._last_exit(record.id, since, code)
            code = record.exit_code
            if condition == "not-running" and record.status not in ACTIVE:
                return code
            if (
                condition == "next-exit"
                and record.status not in ACTIVE
                and record.status != "created"
                and record.finished_at != first.finished_at
            ):
                return code
            if cancelled is not None and cancelled():
                raise Unavailable(f"the wait for container {record.id} was cancelled")
            removed = _removals()  # a removal in this process wakes it at once; others are polled for
            with removed:
                removed.wait(poll if time.monotonic() - began < 2.0 else max(poll, 0.05))  # most are short

    def reap(self, container_id: str) -> None:
        """Remove an auto-remove container this process started as its remover, once it ends (dockerd
        removes a ``--rm`` container itself).  Quiet: what fails here (someone else removing it) is
        theirs, and what this process could not do its monitor or :meth:`reap_orphans` does."""
        import select

        try:
            monitor_pid = self.records.get(container_id).monitor_pid
            try:  # its monitor ends right after recording the exit: no polling for it
                pidfd = os.pidfd_open(monitor_pid)
            except (OSError, ValueError):
                pass  # gone already
            else:
                try:
                    select.select([pidfd], [], [])
                finally:
                    os.close(pidfd)
            self.wait(container_id, condition="not-running")
            self.remove(container_id, force=True, volumes=True)
        except PinnaceError:
            pass

    def reap_orphans(self) -> builtins.list[str]:
        """Remove the ended auto-remove containers whose named remover died before it could (a service
        stopped at the wrong moment); the IDs removed.  The API service calls this as it starts."""
        from pinnace.shim import remover

        removed = []
        for record in self.list():
            directory = self._dir(record.id)
            if (
                record.host_config.get("AutoRemove")
                and record.status not in ACTIVE
                and record.status != "created"
                and remover.named(directory)
                and not remover.alive(directory)
            ):
                try:
                    self.remove(record.id, force=True, volumes=True)
                    removed.append(record.id)
                except PinnaceError:
                    pass
        return removed

    def _last_exit(self, container_id: str, since: int, known: int) -> int:
        """The exit code of the container's newest ``die`` event after event ``since``, else ``known``."""
        from pinnace.events import read_events

        codes = [
            str(e.attributes.get("exitCode"))
            for e in read_events(self.db, after_seq=since)
            if e.type == "container" and e.action == "die" and e.actor_id == container_id
        ]
        return int(codes[-1]) if codes and codes[-1].isdigit() else known

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
        """The container's log records as the daemon selects them for ``docker logs``.

        ``tail``, ``since`` and ``until`` come as the Engine API takes them:
        a count or "all" (anything that is not a number means all, as
        dockerd reads it), and unix timestamps ``sec[.nanos]`` (the client
        turns ``10m`` or RFC 3339 into those: pinnace._util.gotime).  ``follow``
        goes on while the container runs (not at all if it does not now).
        NotImplementedYet with docker's words for the ``none`` driver.
        """
        from pinnace._util.gotime import parse_timestamps
        from pinnace.errors import InvalidArgument
        from pinnace.logs import drivers

        record = self.get(ref)
        if isinstance(tail, str):
            digits = tail[1:] if tail[:1] in "+-" else tail
            tail = int(tail) if digits.isascii() and digits.isdigit() else None
        try:
            since_ns = parse_timestamps(since) if since else None
            until_ns = parse_timestamps(until) if until and until != "0" else None
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
        exit_file = self._exit_file(record.id)
        # A short poll: a foreground `run` waits on it for the container's last output.
        return drivers.read_logs(
            record.host_config.get("LogConfig"),
            self._dir(record.id),
            record.id,
            tail=tail,
            since_ns=since_ns,
            until_ns=until_ns,
            follow=follow and record.status in ACTIVE,
            stdout=stdout,
            stderr=stderr,
            should_stop=lambda: os.path.exists(exit_file),
            poll_interval=0.005,
        )

    def kill(self, ref: str, signum: int = 9, *, manual: bool = True) -> None:
        """Signal the container's init (docker kill).

        ``manual`` (all but a foreground run's signal proxy) marks the
        container stopped by the user, so its restart policy leaves it
        stopped, as moby's HasBeenManuallyStopped.
        """
        record = self.get(ref)
        if record.status not in ACTIVE:
            raise Conflict(f"Container {record.id} is not running")
        if manual:
            self._mark_stopped(record.id)
        if record.status == "restarting":
            return  # between two runs: the mark alone keeps it from starting again
        runtime = self.runtime(record)
        try:
            runtime.kill(record.id, signum)
        except (FailedPrecondition, NotFound):  # it ended just now: docker's answer for a stopped one
            raise Conflict(f"Container {record.id} is not running") from None
        self._event(record, "kill", {"signal": str(signum)})
        if record.status == "paused":  # a frozen process takes its signal once thawed, as docker does
            runtime.resume(record.id)
            self.records.update_state(record.id, status="running")

    def _mark_stopped(self, container_id: str) -> None:
        from pinnace.shim.monitor import STOPPED_MARK

        with open(os.path.join(self._dir(container_id), STOPPED_MARK), "wb"):
            pass

    def stop(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> ContainerRecord:
        """docker stop: the stop signal, then SIGKILL after ``timeout`` seconds (the container's, else 10)."""
        from pinnace.containers.spec import stop_signal
        from pinnace.runtime import signals

        record = self.get(ref)
        if record.status not in ACTIVE:
            return record
        if timeout is None:
            configured = record.config.get("StopTimeout")
            timeout = int(configured) if isinstance(configured, int) else 10
        signum = signals.parse(signal) if signal else stop_signal(record.config)
        try:
            self.kill(record.id, signum)
        except Conflict:
            pass  # it ended just now (its monitor has not reported yet): the loop below sees the exit
        deadline = time.monotonic() + max(timeout, 0)
        while time.monotonic() < deadline:
            record = self.sync(self.records.get(record.id))
            if record.status not in ACTIVE:
                self._event(record, "stop")
                return record
            time.sleep(0.01)
        try:
            self.kill(record.id, 9)
        except Conflict:
            pass  # it exited on its own meanwhile
        self.wait(record.id)
        record = self.get(record.id)
        self._event(record, "stop")
        return record

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        """Remove the container: its layer, logs and record (docker rm); ``volumes``: its anonymous volumes too.

        One remover at a time per container (an flock in its directory): a
        second one meanwhile gets docker's "removal ... already in progress",
        and one that comes after finds it gone (NotFound).
        """
        from pinnace._util.lock import FileLock

        record = self.get(ref)
        directory = self._dir(record.id)
        os.makedirs(directory, 0o711, exist_ok=True)
        lock = FileLock(os.path.join(directory, ".removing"))
        if not lock.acquire(blocking=False):
            raise Conflict(f"removal of container {ref} is already in progress")
        try:
            record = self.get(record.id)  # NotFound if a remover that held the lock finished
            if record.status in ACTIVE:
                if not force:
                    raise Conflict(
                        f"You cannot remove a running container {record.id}. "
                        "Stop the container before attempting removal or force remove"
                    )
                try:
                    self.kill(record.id, 9)
                except (Conflict, FailedPrecondition, NotFound):
                    pass  # it stopped meanwhile
                self.wait(record.id)
            layer.unmount_rootfs(self.rootfs(record.id))
            self._network_teardown(record, release=True)
            layer.remove(self.stores, record.snapshot_key)
            self._forget(record)
            _remove_tree(directory)
            _remove_tree(self._run_dir(record.id))
        finally:
            lock.release()
        if _removed is not None:  # waits in this process (the API's condition=removed) look again now
            with _removed:
                _removed.notify_all()
        self._event(record, "destroy")
        if volumes and record.mounts:
            from pinnace.containers import mounts

            self.volumes.remove_anonymous(mounts.volume_names(mounts.load(record)))

    # -- pause, restart, rename, update, top, stats, prune
    def _event(self, record: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None:
        """Log a container event with docker's attributes: the labels, ``image`` and ``name``, then ``extra``."""
        from pinnace.events import append_event

        attributes = {
            **(record.labels or record.config.get("Labels") or {}),
            "image": record.image_name,
            "name": record.name,
            **(extra or {}),
        }
        append_event(self.db, "container", action, record.id, attributes)

    @staticmethod
    def _prefixed(error: PinnaceError, prefix: str) -> PinnaceError:
        """``error`` of the same kind with ``prefix`` before its message (moby's errors.Wrap)."""
        try:
            return type(error)(prefix + error.message)
        except TypeError:
            return PinnaceError(prefix + error.message)

    def pause(self, ref: str) -> ContainerRecord:
        """Freeze every process of a running container (docker pause, the freezer cgroup)."""
        record = self.get(ref)
        if record.status not in ACTIVE:
            raise Conflict(f"Container {record.id} is not running")
        if record.status == "paused":
            raise Conflict(f"Container {record.id} is already paused")
        if record.status == "restarting":
            raise Conflict(f"Container {record.id} is restarting, wait until the container is running")
        try:
            self.runtime(record).pause(record.id)
        except (FailedPrecondition, NotFound):
            raise Conflict(f"Container {record.id} is not running") from None  # it exited meanwhile
        record = self.records.update_state(record.id, status="paused")
        self._event(record, "pause")
        return record

    def unpause(self, ref: str) -> ContainerRecord:
        """Thaw a paused container (docker unpause)."""
        record = self.get(ref)
        if record.status not in ACTIVE:
            raise Conflict(f"Container {record.id} is not running")
        if record.status != "paused":
            raise Conflict(f"Container {record.id} is not paused")
        try:
            self.runtime(record).resume(record.id)
        except NotFound:
            raise Conflict(f"Container {record.id} is not running") from None
        except FailedPrecondition:
            pass  # thawed already (by a kill): the record catches up
        record = self.records.update_state(record.id, status="running")
        self._event(record, "unpause")
        return record

    def restart(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> ContainerRecord:
        """docker restart: stop the container if it runs (as ``stop``), then start it."""
        record = self.get(ref)
        try:
            if record.status in ACTIVE:
                self.stop(record.id, timeout=timeout, signal=signal)
            record = self.start(record.id)
        except PinnaceError as e:
            raise self._prefixed(e, f"Cannot restart container {ref}: ") from None
        self._event(record, "restart")
        return record

    def rename(self, ref: str, new_name: str) -> ContainerRecord:
        """docker rename; the "rename" event carries the old name as ``oldName``."""
        from pinnace.errors import InvalidArgument

        if not ref or not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        old = self.records.resolve(ref)
        record = self.records.rename(old.id, new_name)
        self._event(record, "rename", {"oldName": "/" + old.name})
        return record

    def update(self, ref: str, change: UpdateConfig) -> tuple[ContainerRecord, Sequence[str]]:
        """docker update: store the new limits and restart policy; apply the limits to a running container.

        Returns the record and docker's warnings.  A stopped container gets
        its new limits when it starts next; if the running container's
        cgroup refuses them, the old HostConfig is put back.
        """
        from pinnace.containers import update as updates

        warnings = updates.verify(change)
        record = self.get(ref)
        prefix = f"Cannot update container {record.id}: "
        if record.status in ("removing", "dead"):
            raise Conflict(prefix + 'container is marked for removal and cannot be "update"')
        try:
            host_config = updates.merge(record.host_config, change)
        except PinnaceError as e:
            raise self._prefixed(e, prefix) from None
        previous = record
        record = self.records.update_state(record.id, host_config=host_config)
        resources = updates.resources(change)
        try:
            if change.restart_policy.get("Name"):
                self._write_restart_policy(record)  # the monitor reads it at the container's next exit
            if record.status in ("running", "paused") and resources:
                self._cgroup(record).set(resources)
        except (FailedPrecondition, NotFound) as e:
            if self.get(record.id).status in ("running", "paused"):
                self._undo_update(previous)
                raise self._prefixed(e, prefix) from None
            # it exited meanwhile: the limits apply at its next start
        except PinnaceError as e:
            self._undo_update(previous)
            raise self._prefixed(e, prefix) from None
        self._event(record, "update")
        return record, warnings

    def _undo_update(self, previous: ContainerRecord) -> None:
        record = self.records.update_state(previous.id, host_config=previous.host_config)
        self._write_restart_policy(record)

    def top(self, ref: str, ps_args: str = "") -> tuple[Sequence[str], Sequence[Sequence[str]]]:
        """docker top: (titles, processes) of the host's ``ps`` for the container's processes."""
        from pinnace.containers import top

        top.validate_ps_args(ps_args or top.DEFAULT_PS_ARGS)
        record = self.get(ref)
        if record.status not in ACTIVE:
            raise Conflict(f"Container {record.id} is not running")
        if record.status == "restarting":
            raise Conflict(f"Container {record.id} is restarting, wait until the container is running")
        try:
            pids = sorted(self._cgroup(record).pids())
        except (NotFound, OSError):
            raise Conflict(f"Container {record.id} is not running") from None
        result = top.top(pids, ps_args)
        self._event(record, "top")
        return result

    def stats_sample(self, ref: str) -> tuple[ContainerRecord, Sample | None]:
        """The container and a reading of its cgroup now (None unless it runs), for docker stats."""
        from pinnace.containers import stats

        record = self.get(ref)
        if record.status not in ("running", "paused"):
            return record, None
        return record, stats.sample(self._cgroup(record))

    # -- the filesystem: diff, export, commit, cp (the CLI calls these, and RemoteContainers has them too)
    def changes(self, ref: str) -> Sequence[tuple[str, str]]:
        """``docker diff``: ("C"|"A"|"D", path) in docker's order (:func:`pinnace.containers.commit.changes`)."""
        from pinnace.containers import commit

        return commit.changes(self, ref)

    def export(self, ref: str, out: BinaryIO) -> None:
        """``docker export``: the container's whole filesystem as one tar written to ``out``."""
        from pinnace.containers import commit

        commit.export(self, ref, out)

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
        """``docker commit`` (:func:`pinnace.containers.commit.commit`); ``config`` is the API body's."""
        from pinnace.containers import commit

        return commit.commit(
            self, ref, tag=tag, author=author, message=message, change=change, pause=pause, config=config
        )

    def open_files(self, ref: str) -> AbstractContextManager[ContainerFS]:
        """The container's filesystem for one ``cp`` (:func:`pinnace.containers.copy.open_container`)."""
        from pinnace.containers.copy import open_container

        return open_container(self, ref)

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> tuple[Sequence[str], int]:
        """docker container prune: remove every container that does not run; (IDs removed, bytes freed).

        Filters: ``until`` (created before), ``label`` and ``label!``, as moby's.
        """
        from pinnace._util.gotime import get_timestamp, parse_timestamps, until_filter
        from pinnace.errors import InvalidArgument
        from pinnace.events import append_event, match_kv_list

        filters = filters or {}
        for key in filters:
            if key not in ("until", "label", "label!"):
                raise InvalidArgument(f"invalid filter '{key}'")
        until = until_filter(filters)
        deleted: list[str] = []
        reclaimed = 0
        for record in self.list():
            if record.status in ACTIVE:
                continue
            if until is not None and parse_timestamps(get_timestamp(record.created)) > until:
                continue
            labels = record.labels or record.config.get("Labels") or {}
            if "label" in filters and not match_kv_list(filters["label"], labels):
                continue
            if "label!" in filters and match_kv_list(filters["label!"], labels):
                continue
            try:
                size = self.stores.snapshots.usage(record.snapshot_key).size
            except PinnaceError:
                size = 0
            try:
                self.remove(record.id)
            except PinnaceError:
                continue  # started or removed meanwhile by another command
            deleted.append(record.id)
            reclaimed += max(size, 0)
        append_event(self.db, "container", "prune", "", {"reclaimed": str(reclaimed)})
        return deleted, reclaimed


def _check_not_removed(record: ContainerRecord) -> None:
    """docker's refusal to connect or disconnect a container on its way out."""
    if record.status in ("removing", "dead"):
        raise Conflict(
            f"Container {record.id} is marked for removal and cannot be connected or disconnected to the network"
        )


def _exit_code_of(error: PinnaceError) -> int:
    """docker run's exit code for a container that could not start: 127 not found, 126 cannot run."""
    return 127 if isinstance(error, NotFound) else 126


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            value = jsonc.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _remove_tree(path: str) -> None:
    from pinnace._util.fs import remove_tree

    try:
        remove_tree(path)
    except OSError:
        pass


#: Notified after every removal in this process, once a wait made it (see :meth:`ContainerService.wait`).
_removed: threading.Condition | None = None


def _removals() -> threading.Condition:
    global _removed
    if _removed is None:
        import threading  # not at import: the CLI's run and rm never wait on it

        _removed = threading.Condition()
    return _removed


def _state_of(status: str, state: Mapping[str, Any]) -> tuple[str, int, int]:
    """(status, restart count, pid) of a container of ``status`` from its monitor's state file:
    "restarting" between runs, else "paused" if it was paused, else "running"."""
    if state.get("Status") == "restarting":
        status = "restarting"
    else:
        status = "paused" if status == "paused" else "running"
    return status, int(state.get("RestartCount") or 0), int(state.get("Pid") or 0)
