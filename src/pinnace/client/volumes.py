"""Volumes over the Engine API."""

from __future__ import annotations

from types import MappingProxyType

from pinnace.client.remote import Service, filters_query

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pinnace.client.http import Client
    from pinnace.volumes.records import VolumeRecord


def volume_record(doc: Mapping[str, Any]) -> VolumeRecord:
    from pinnace.volumes.records import VolumeRecord

    return VolumeRecord(
        name=str(doc["Name"]),
        created=str(doc.get("CreatedAt") or ""),
        driver=str(doc.get("Driver") or "local"),
        labels=MappingProxyType(dict(doc.get("Labels") or {})),
        options=MappingProxyType(dict(doc.get("Options") or {})),
    )


class RemoteVolumes(Service):
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
        body = {
            "Name": name,
            "Driver": driver,
            "Labels": dict(labels or {}),
            "DriverOpts": dict(options or {}),
        }
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
        doc = self.client.get("/volumes", {"filters": filters_query(filters)}) or {}
        return [self._keep(v) for v in doc.get("Volumes") or []]

    def remove(self, name: str, *, force: bool = False) -> None:
        from pinnace.client.http import name as segment

        self.client.request("DELETE", f"/volumes/{segment(name)}", {"force": force})

    def prune(
        self, filters: Mapping[str, Sequence[str]] | None = None, *, all: bool = False
    ) -> tuple[Sequence[str], int]:
        """``POST /volumes/prune``: (names removed, bytes freed); ``all`` is the API's ``all`` filter
        (1.42+: without it only anonymous volumes go)."""
        wanted = dict(filters or {})
        if all:
            wanted["all"] = ["true"]
        doc = self.client.json("POST", "/volumes/prune", {"filters": filters_query(wanted)}) or {}
        return [str(n) for n in doc.get("VolumesDeleted") or []], int(doc.get("SpaceReclaimed") or 0)
