"""``POST /containers/create``'s body (Config, HostConfig, NetworkingConfig) as the container service's
:class:`~pinnace.containers.options.RunOptions`: what the CLI's flags become, from docker's JSON."""

from __future__ import annotations

from types import MappingProxyType

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from pinnace.containers.options import RunOptions


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"json: cannot unmarshal {field}: a list of strings expected")
    return tuple(value)


def _int(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"json: cannot unmarshal {field}: a number expected")
    return int(value)


def _map(value: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if isinstance(value, dict) else MappingProxyType({})


def run_options(body: Mapping[str, Any], image: str = "") -> RunOptions:
    """The options of a create request (its ``Image`` unless ``image`` names one)."""
    from pinnace.containers.options import DeviceMapping, RestartPolicy, RunOptions, Ulimit

    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: an object expected")
    host: dict[str, Any] = body.get("HostConfig") or {}
    if not isinstance(host, dict):
        raise InvalidArgument("invalid JSON: HostConfig must be an object")
    entrypoint = body.get("Entrypoint")
    restart = host.get("RestartPolicy") or {}
    log = host.get("LogConfig") or {}
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    network_mode = str(host.get("NetworkMode") or "")
    endpoint = endpoints.get(network_mode) or (next(iter(endpoints.values())) if endpoints else {}) or {}
    ipam = endpoint.get("IPAMConfig") or {}
    binds = [b for b in _strings(host.get("Binds"), "HostConfig.Binds")]
    return RunOptions(
        image=image or str(body.get("Image") or ""),
        cmd=_strings(body.get("Cmd"), "Cmd"),
        entrypoint=None if entrypoint is None else _strings(entrypoint, "Entrypoint"),
        env=_strings(body.get("Env"), "Env"),
        workdir=str(body.get("WorkingDir") or ""),
        user=str(body.get("User") or ""),
        hostname=str(body.get("Hostname") or ""),
        domainname=str(body.get("Domainname") or ""),
        labels=_map(body.get("Labels")),
        stop_signal=str(body.get("StopSignal") or ""),
        stop_timeout=body.get("StopTimeout") if isinstance(body.get("StopTimeout"), int) else None,
        healthcheck=body.get("Healthcheck") if isinstance(body.get("Healthcheck"), dict) else None,
        tty=bool(body.get("Tty")),
        interactive=bool(body.get("OpenStdin")),
        volumes=tuple(sorted((body.get("Volumes") or {}).keys())),
        exposed_ports=_map(body.get("ExposedPorts")),
        binds=tuple(binds),
        mounts=tuple(MappingProxyType(dict(m)) for m in host.get("Mounts") or []),
        tmpfs=_map(host.get("Tmpfs")),
        volumes_from=_strings(host.get("VolumesFrom"), "HostConfig.VolumesFrom"),
        volume_driver=str(host.get("VolumeDriver") or ""),
        dns=_strings(host.get("Dns"), "HostConfig.Dns"),
        dns_search=_strings(host.get("DnsSearch"), "HostConfig.DnsSearch"),
        dns_options=_strings(host.get("DnsOptions"), "HostConfig.DnsOptions"),
        extra_hosts=_strings(host.get("ExtraHosts"), "HostConfig.ExtraHosts"),
        port_bindings=_map(host.get("PortBindings")),
        publish_all=bool(host.get("PublishAllPorts")),
        ip=str(ipam.get("IPv4Address") or ""),
        network_aliases=_strings(endpoint.get("Aliases"), "Aliases"),
        mac_address=str(endpoint.get("MacAddress") or body.get("MacAddress") or ""),
        group_add=_strings(host.get("GroupAdd"), "HostConfig.GroupAdd"),
        init=host.get("Init") if isinstance(host.get("Init"), bool) else None,
        read_only=bool(host.get("ReadonlyRootfs")),
        privileged=bool(host.get("Privileged")),
        cap_add=_strings(host.get("CapAdd"), "HostConfig.CapAdd"),
        cap_drop=_strings(host.get("CapDrop"), "HostConfig.CapDrop"),
        security_opt=_strings(host.get("SecurityOpt"), "HostConfig.SecurityOpt"),
        memory=_int(host.get("Memory"), "HostConfig.Memory"),
        memory_swap=_int(host.get("MemorySwap"), "HostConfig.MemorySwap"),
        memory_reservation=_int(host.get("MemoryReservation"), "HostConfig.MemoryReservation"),
        nano_cpus=_int(host.get("NanoCpus"), "HostConfig.NanoCpus"),
        cpu_shares=_int(host.get("CpuShares"), "HostConfig.CpuShares"),
        cpu_period=_int(host.get("CpuPeriod"), "HostConfig.CpuPeriod"),
        cpu_quota=_int(host.get("CpuQuota"), "HostConfig.CpuQuota"),
        cpuset_cpus=str(host.get("CpusetCpus") or ""),
        cpuset_mems=str(host.get("CpusetMems") or ""),
        pids_limit=host.get("PidsLimit") if isinstance(host.get("PidsLimit"), int) else None,
        ulimits=tuple(
            Ulimit(
                str(u.get("Name", "")),
                _int(u.get("Soft"), "Ulimits.Soft"),
                _int(u.get("Hard"), "Ulimits.Hard"),
            )
            for u in host.get("Ulimits") or []
        ),
        shm_size=_int(host.get("ShmSize"), "HostConfig.ShmSize"),
        sysctls=_map(host.get("Sysctls")),
        devices=tuple(
            DeviceMapping(
                str(d.get("PathOnHost", "")),
                str(d.get("PathInContainer") or d.get("PathOnHost", "")),
                str(d.get("CgroupPermissions") or "rwm"),
            )
            for d in host.get("Devices") or []
        ),
        oom_kill_disable=bool(host.get("OomKillDisable")),
        oom_score_adj=_int(host.get("OomScoreAdj"), "HostConfig.OomScoreAdj"),
        restart_policy=RestartPolicy(
            str(restart.get("Name") or "no"), _int(restart.get("MaximumRetryCount"), "MaximumRetryCount")
        ),
        auto_remove=bool(host.get("AutoRemove")),
        log_driver=str(log.get("Type") or ""),
        log_opts=_map(log.get("Config")),
        runtime=str(host.get("Runtime") or ""),
        network_mode=network_mode if network_mode != "default" else "",
        attach=tuple(
            stream
            for stream, key in (
                ("stdin", "AttachStdin"),
                ("stdout", "AttachStdout"),
                ("stderr", "AttachStderr"),
            )
            if body.get(key)
        ),
    )
