"""Network namespaces, bridges and veth pairs, made through netlink (pyroute2).

A container on a bridge network runs in a network namespace made before
the container (a file bind-mounted under ``<runroot>/netns``, which the
runtime joins by path, as libnetwork and CNI do), so the namespace is
configured before anything runs in it and outlives restarts of the
container.  Each endpoint is a veth pair: one end in the namespace as
``eth0`` with the container's address, MAC and default route, the other on
the network's bridge.  Host-side names derive from the container and
network IDs (``pnv`` + 12 hex digits), so cleanup after a crash needs no
saved state.

pyroute2 takes about 100 ms to import: it is imported here, on use, never
by a command that makes no network.
"""

from __future__ import annotations

import errno
import os
import threading

from pinnace.errors import PinnaceError, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pinnace.network.records import NetworkRecord

_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MNT_DETACH = 2
#: Prefix of the host-side veth names pinnace makes (never another tool's).
VETH_PREFIX = "pnv"


def host_ifname(container_id: str, network_id: str) -> str:
    """The host-side veth of a container's endpoint on a network: 15 characters, the kernel's limit."""
    from pinnace._util.hashing import sha256  # not hashlib: OpenSSL would stay in the worker zygote

    digest: str = sha256()(f"{container_id}/{network_id}".encode()).hexdigest()
    return VETH_PREFIX + digest[:12]


# --------------------------------------------------------------------------- namespaces


def create_netns(path: str) -> None:
    """A new network namespace, kept alive by a bind mount of it on ``path``.

    A thread unshares its own network namespace (unshare(2) acts on the
    calling thread only) and binds it to ``path``: no process is forked,
    and the namespace is only ever held by that mount.
    """
    from pinnace.mount.flags import libc

    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0)
    os.close(fd)
    failure: list[OSError] = []

    def unshare_and_bind() -> None:
        lib = libc()
        if lib.unshare(_CLONE_NEWNET) != 0:
            err = _errno()
            failure.append(OSError(err, f"unshare a network namespace: {os.strerror(err)}"))
            return
        source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        if lib.mount(source, path.encode(), b"none", _MS_BIND, None) != 0:
            err = _errno()
            failure.append(OSError(err, f"bind the network namespace on {path}: {os.strerror(err)}"))

    thread = threading.Thread(target=unshare_and_bind, name="netns")
    thread.start()
    thread.join()
    if failure:
        os.unlink(path)
        raise Unavailable(str(failure[0]))


def remove_netns(path: str) -> None:
    """Release the namespace at ``path`` (its veth ends go with it); a missing one is fine."""
    from pinnace.mount.flags import libc

    if libc().umount2(path.encode(), _MNT_DETACH) != 0 and _errno() not in (errno.EINVAL, errno.ENOENT):
        raise Unavailable(f"unmount network namespace {path}: {os.strerror(_errno())}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


# --------------------------------------------------------------------------- bridges and veths


def _iproute(netns: str | None = None) -> Any:
    """An rtnetlink socket on the host, or in the namespace at ``netns``.

    pyroute2 would fork a child to open a socket in another namespace
    (~6 ms); a thread that joins the namespace opens it instead (a socket
    stays in the namespace it was made in, and setns(2) of a network
    namespace acts on the calling thread alone).
    """
    from pyroute2 import IPRoute

    return IPRoute(fileno=_socket_in(netns)) if netns else IPRoute()


def _socket_in(netns: str) -> int:
    """A NETLINK_ROUTE socket (its fd) opened in the network namespace bound at ``netns``."""
    import socket

    from pinnace.mount.flags import libc

    made: list[int] = []
    failure: list[OSError] = []

    def open_inside() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            failure.append(e)
            return
        try:
            if libc().setns(fd, _CLONE_NEWNET) != 0:
                err = _errno()
                failure.append(OSError(err, f"join network namespace {netns}: {os.strerror(err)}"))
                return
        finally:
            os.close(fd)
        made.append(socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0).detach())

    thread = threading.Thread(target=open_inside, name="netns-socket")
    thread.start()
    thread.join()
    if failure:
        raise Unavailable(str(failure[0]))
    return made[0]


def ensure_bridge(
    name: str, gateway: str, prefixlen: int, *, mtu: int = 1500, gateway6: str = "", prefixlen6: int = 0
) -> int:
    """The bridge ``name``, up with the gateway address (and IPv6 one): made if missing, an address added
    if lost; its index."""
    with _iproute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            index = found[0]
        else:
            try:
                ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
            except Exception as e:  # another process made it meanwhile
                if not ipr.link_lookup(ifname=name):
                    raise Unavailable(f"create bridge {name}: {e}") from None
            index = ipr.link_lookup(ifname=name)[0]
        for address, length, family in ((gateway, prefixlen, 2), (gateway6, prefixlen6, 10)):
            if not address:
                continue
            present = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=family)}
            if address not in present:
                try:
                    _add_address(ipr, index, address, length)
                except Exception as e:
                    if "exists" not in str(e).lower():
                        raise Unavailable(f"add {address}/{length} to bridge {name}: {e}") from None
        ipr.link("set", index=index, state="up")
        return int(index)


#: ``IFA_F_NODAD``: an IPv6 address usable at once, not "tentative" for the second duplicate address
#: detection takes (the addresses come from our own IPAM, so no duplicate can be out there).
_NODAD = 0x02


def _add_address(ipr: Any, index: int, address: str, prefixlen: int) -> None:
    if ":" in address:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen, flags=_NODAD)
    else:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen)


def remove_bridge(name: str) -> None:
    """Delete bridge ``name`` (and so its addresses and routes); a missing one is fine."""
    with _iproute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("del", index=found[0])


def attach(
    netns: str,
    *,
    bridge: str,
    host_name: str,
    address: str,
    prefixlen: int,
    gateway: str,
    mac: str,
    mtu: int = 1500,
    ifname: str = "eth0",
    default_route: bool = True,
    address6: str = "",
    prefixlen6: int = 0,
    gateway6: str = "",
) -> None:
    """Give the namespace at ``netns`` an interface ``ifname`` on ``bridge``: a veth pair, addressed and routed.

    The peer is made in the namespace, with its name and MAC: moving a
    made interface between namespaces waits for the kernel's RCU (~25 ms
    here).  The address (and ``address6`` on an IPv6 network) brings the
    route to the network's subnet; ``default_route`` adds the default
    route through ``gateway`` (and ``gateway6``) too, which only a
    container's first (gateway) interface gets: a second network plugged
    in (``network connect``) must not take the container's traffic.
    Idempotent on the host side: a veth of that name left by a crash is
    replaced.  On failure nothing of the pair is left.
    """
    with _iproute() as ipr:
        for index in ipr.link_lookup(ifname=host_name):
            ipr.link("del", index=index)
        master = ipr.link_lookup(ifname=bridge)
        if not master:
            raise Unavailable(f"bridge {bridge} does not exist")
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                peer = {"ifname": ifname, "address": mac, "mtu": mtu, "net_ns_fd": fd}
                ipr.link("add", ifname=host_name, kind="veth", peer=peer, mtu=mtu)
            finally:
                os.close(fd)
            host = ipr.link_lookup(ifname=host_name)[0]
            ipr.link("set", index=host, master=master[0], state="up")
            # Hairpin: with br_netfilter loaded, a container's packets to its own published port
            # come back out of the port they came in on, which a bridge drops unless this is on.
            ipr.brport("set", index=host, mode=1)
        except PinnaceError:
            _delete_link(ipr, host_name)
            raise
        except Exception as e:
            _delete_link(ipr, host_name)
            raise Unavailable(f"create veth pair {host_name}: {e}") from None
    try:
        with _iproute(netns) as ns:
            index = ns.link_lookup(ifname=ifname)[0]
            ns.addr("add", index=index, address=address, prefixlen=prefixlen)
            if address6:
                _add_address(ns, index, address6, prefixlen6)
            ns.link("set", index=index, state="up")
            for lo in ns.link_lookup(ifname="lo"):
                ns.link("set", index=lo, state="up")
            if default_route:
                ns.route("add", dst="0.0.0.0/0", gateway=gateway)
                if address6 and gateway6:
                    ns.route("add", dst="::/0", gateway=gateway6, family=10)
    except Exception as e:
        detach(host_name)
        raise Unavailable(f"configure {ifname} in {netns}: {e}") from None


def detach(host_name: str) -> None:
    """Delete the veth pair whose host end is ``host_name`` (both ends go); a missing one is fine."""
    with _iproute() as ipr:
        _delete_link(ipr, host_name)


def _delete_link(ipr: Any, name: str) -> None:
    for index in ipr.link_lookup(ifname=name):
        try:
            ipr.link("del", index=index)
        except Exception as e:  # gone meanwhile
            if "No such device" not in str(e):
                raise Unavailable(f"delete {name}: {e}") from None


def links(prefix: str = VETH_PREFIX) -> list[str]:
    """The host's interfaces whose names start with ``prefix`` (stale veth ends, for cleanup)."""
    with _iproute() as ipr:
        names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    return [n for n in names if n and n.startswith(prefix)]


def loopback_up(netns: str) -> None:
    """Bring ``lo`` up in the namespace at ``netns`` (a new namespace has it down)."""
    with _iproute(netns) as ns:
        for lo in ns.link_lookup(ifname="lo"):
            ns.link("set", index=lo, state="up")


def unplug_network(network: NetworkRecord) -> None:
    """What goes with a removed network: its firewall rules and its bridge (``NetworkService``'s on_remove)."""
    if not network.bridge:
        return
    from pinnace.network import nat

    nat.remove_network(network.bridge)
    remove_bridge(network.bridge)


def ports_of(bridge: str) -> list[str]:
    """The names of the interfaces plugged into ``bridge`` (none if it does not exist)."""
    with _iproute() as ipr:
        found = ipr.link_lookup(ifname=bridge)
        if not found:
            return []
        return [link.get_attr("IFLA_IFNAME") for link in ipr.get_links(master=found[0])]
