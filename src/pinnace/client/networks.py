"""Networks over the Engine API."""

from __future__ import annotations

from types import MappingProxyType

from pinnace.client.remote import Service, filters_query

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from pinnace.client.http import Client
    from pinnace.network.records import NetworkRecord


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


class RemoteNetworks(Service):
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
        return [
            self._keep(doc) for doc in self.client.get("/networks", {"filters": filters_query(filters)}) or []
        ]

    def inspect(self, rec: NetworkRecord, names: Callable[[str], str] | None = None) -> dict[str, Any]:
        del names
        return dict(self._docs.get(rec.id) or self.client.get(f"/networks/{rec.id}"))

    def remove(self, ref: str) -> NetworkRecord:
        from pinnace.client.http import name

        rec = self.get(ref)
        self.client.request("DELETE", f"/networks/{name(ref)}")
        return rec

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> builtins.list[str]:
        """``POST /networks/prune``: the names of the networks removed (the service first sweeps what
        crashes left, as the local CLI does before pruning)."""
        doc = self.client.json("POST", "/networks/prune", {"filters": filters_query(filters)}) or {}
        return [str(n) for n in doc.get("NetworksDeleted") or []]

    # Plugging containers in is the local ContainerService's (it knows whether they run); the API
    # serves it under /networks, so a remote engine's CLI finds these here (cli/networks.py picks).
