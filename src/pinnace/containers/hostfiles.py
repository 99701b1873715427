"""The /etc/hostname, /etc/hosts and /etc/resolv.conf dockerd writes for a container and binds into it.

They live in the container's directory (inspect's HostnamePath, HostsPath,
ResolvConfPath) and are rewritten at every start, from the container's
hostname, its addresses, ``--add-host`` and the ``--dns*`` flags:

- hosts: docker's localhost and IPv6 lines, then ``--add-host`` entries,
  then one line for each address the container has (none without a
  network), naming it by hostname (and FQDN with a domain name);
- resolv.conf: the host's, through systemd-resolved's upstream file when
  the host points at its stub (127.0.0.53), without loopback name servers
  for a container in its own network namespace (they would be its own
  loopback), Google's public servers when none is left, as docker does;
  ``--dns``, ``--dns-search`` and ``--dns-option`` replace their kinds.

While the container runs, ``network connect`` and ``disconnect`` change
them in place (the bind mounts show the files' inodes, so never by
rename), as dockerd does: the new address's line is added to hosts, a
disconnected one's removed, other lines (the user's own edits among them)
kept; the first user-defined network a container joins switches its
resolv.conf to the embedded resolver.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

_DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
#: docker's fallback when the host's resolvers are all on its loopback.
DEFAULT_DNS = ("8.8.8.8", "8.8.4.4")
#: The embedded resolver's address in containers on user-defined networks (docker's).
EMBEDDED_DNS = "127.0.0.11"
_HOST_RESOLV = "/etc/resolv.conf"
_RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"
_RESOLVED_STUB = "127.0.0.53"

#: (file, destination in the container, inspect's field).
FILES = (
    ("hostname", "/etc/hostname", "HostnamePath"),
    ("hosts", "/etc/hosts", "HostsPath"),
    ("resolv.conf", "/etc/resolv.conf", "ResolvConfPath"),
)


def hosts(
    hostname: str, domainname: str, addresses: Sequence[str], extra: Sequence[str], host_gateway: str = ""
) -> str:
    """The /etc/hosts text: docker's defaults, ``--add-host`` (``name:ip``) entries, the container's own lines.

    ``host-gateway`` stands for ``host_gateway`` (the host's address on the
    container's network); without one the entry is left out.
    """
    lines = [_DEFAULT_HOSTS]
    for entry in extra:
        name, _, ip = entry.partition(":")
        if ip == "host-gateway":
            ip = host_gateway
        if ip:
            lines.append(f"{ip}\t{name}\n")
    lines += [_own_line(address, hostname, domainname) for address in addresses]
    return "".join(lines)


def _own_line(address: str, hostname: str, domainname: str) -> str:
    """The hosts line naming the container by one of its addresses."""
    names = f"{hostname}.{domainname} {hostname}" if domainname else hostname
    return f"{address}\t{names}\n"


def resolv_conf(
    *,
    own_network: bool,
    embedded_dns: bool = False,
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
    host_file: str = _HOST_RESOLV,
) -> str:
    """The container's resolv.conf from the host's, as dockerd builds it (see the module docstring)."""
    text = _read(host_file)
    servers = [
        line.split()[1]
        for line in text.splitlines()
        if line.startswith("nameserver") and len(line.split()) > 1
    ]
    if servers == [_RESOLVED_STUB] and os.path.exists(_RESOLVED_UPSTREAM):
        text = _read(_RESOLVED_UPSTREAM)
    kept: list[str] = []
    has_server = False
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        kind = words[0]
        if kind == "nameserver":
            if dns or (own_network and len(words) > 1 and _is_loopback(words[1])):
                continue
            has_server = True
        elif (kind in ("search", "domain") and search) or (kind == "options" and options):
            continue
        kept.append(line.strip())
    out = [f"nameserver {s}" for s in dns]
    if embedded_dns:
        # docker's: only the embedded resolver, which forwards the rest (ndots:0 asks it first for any name)
        out = [f"nameserver {EMBEDDED_DNS}"]
        kept = [line for line in kept if not line.startswith("nameserver")]
        options = [*options, "ndots:0"] if not any(o.startswith("ndots:") for o in options) else options
        kept = [line for line in kept if not line.startswith("options")] if options else kept
    elif not dns and not has_server and own_network:
        out += [f"nameserver {s}" for s in DEFAULT_DNS]
    out += kept
    if search:
        out.append("search " + " ".join(s for s in search if s != "."))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(line for line in out if line.strip() not in ("search",)) + "\n"


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def write(
    directory: str,
    config: Mapping[str, Any],
    host_config: Mapping[str, Any],
    *,
    addresses: Sequence[str] = (),
    own_network: bool = True,
    host_gateway: str = "",
    embedded_dns: bool = False,
) -> list[dict[str, Any]]:
    """Write the three files into ``directory``; the runtime-spec bind mounts that put them in place.

    With ``HostConfig.NetworkMode`` ``host`` the host's resolv.conf is
    kept as it is (the container shares the host's loopback).
    """
    from pinnace._util.fs import atomic_write

    hostname = str(config.get("Hostname") or "")
    texts = {
        "hostname": hostname + "\n",
        "hosts": hosts(
            hostname,
            str(config.get("Domainname") or ""),
            addresses,
            list(host_config.get("ExtraHosts") or ()),
            host_gateway,
        ),
        "resolv.conf": resolv_conf(
            own_network=own_network,
            embedded_dns=embedded_dns,
            dns=list(host_config.get("Dns") or ()),
            search=list(host_config.get("DnsSearch") or ()),
            options=list(host_config.get("DnsOptions") or ()),
        ),
    }
    mounts = []
    for name, destination, _ in FILES:
        path = os.path.join(directory, name)
        atomic_write(path, texts[name].encode(), mode=0o644, durable=False)
        mounts.append(
            {"destination": destination, "type": "bind", "source": path, "options": ["rbind", "rprivate"]}
        )
    return mounts


def add_address(directory: str, config: Mapping[str, Any], address: str) -> None:
    """A running container got ``address`` (``network connect``): its hosts line, added in place."""
    line = _own_line(address, str(config.get("Hostname") or ""), str(config.get("Domainname") or ""))
    path = os.path.join(directory, "hosts")
    text = _read(path)
    if line not in text.splitlines(keepends=True):
        _rewrite(path, text + ("" if not text or text.endswith("\n") else "\n") + line)


def remove_address(directory: str, config: Mapping[str, Any], address: str) -> None:
    """A running container lost ``address`` (``network disconnect``): its hosts line goes, in place."""
    line = _own_line(address, str(config.get("Hostname") or ""), str(config.get("Domainname") or ""))
    path = os.path.join(directory, "hosts")
    text = _read(path)
    kept = [existing for existing in text.splitlines(keepends=True) if existing != line]
    if len(kept) != len(text.splitlines()):
        _rewrite(path, "".join(kept))


def use_embedded_dns(directory: str, host_config: Mapping[str, Any]) -> None:
    """A running container joined its first user-defined network: its resolv.conf names the embedded resolver."""
    text = resolv_conf(
        own_network=True,
        embedded_dns=True,
        dns=list(host_config.get("Dns") or ()),
        search=list(host_config.get("DnsSearch") or ()),
        options=list(host_config.get("DnsOptions") or ()),
    )
    _rewrite(os.path.join(directory, "resolv.conf"), text)


def _rewrite(path: str, text: str) -> None:
    """Replace a bound file's content in place (a rename would leave the container the old inode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # never written (the container was not started by us): nothing is bound
    try:
        os.ftruncate(fd, 0)
        left = memoryview(text.encode())
        while left:
            left = left[os.write(fd, left) :]
    finally:
        os.close(fd)


def paths(directory: str) -> dict[str, str]:
    """inspect's HostnamePath, HostsPath and ResolvConfPath (docker shows them once the container has started)."""
    return {
        field: os.path.join(directory, name)
        for name, _, field in FILES
        if os.path.exists(os.path.join(directory, name))
    }
