"""The registry operations the fronts call (pull, push, login, logout, tag lists), with the store's settings."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pinnace.distribution.config import RegistryConfig
    from pinnace.distribution.credentials import Credentials
    from pinnace.distribution.pull import PullEvent, PullResult
    from pinnace.distribution.push import PushResult
    from pinnace.images.stores import Stores
    from pinnace.oci.descriptor import Platform
    from pinnace.oci.reference import Reference


class DistributionService:
    """Pulls into (and pushes from) ``stores``, with the registries of ``<root>/daemon.json``."""

    def __init__(self, stores: Stores, root: str, env: Mapping[str, str] | None = None) -> None:
        self.stores = stores
        self.root = root
        self.env = env
        self._config: RegistryConfig | None = None

    @property
    def config(self) -> RegistryConfig:
        if self._config is None:
            from pinnace.distribution.config import load

            self._config = load(self.root)
        return self._config

    def credentials(self, host: str) -> Credentials:
        from pinnace.distribution import credentials

        return credentials.lookup(host, self.env)

    def pull(
        self,
        reference: str,
        *,
        platform: Platform | None = None,
        progress: Callable[[PullEvent], None] = lambda _e: None,
        credentials: Callable[[str], Credentials] | None = None,
    ) -> PullResult:
        """``docker pull``: the reference normalised (``busybox`` -> ``docker.io/library/busybox:latest``).

        ``credentials`` (registry host -> credentials) replaces the lookup in the docker config: the
        Engine API's clients send theirs with each request (``X-Registry-Auth``)."""
        from pinnace.distribution.pull import pull
        from pinnace.oci.reference import parse_normalized, with_default_tag

        ref = parse_normalized(reference)
        if not ref.digest:
            ref = with_default_tag(ref)
        return pull(
            self.stores,
            ref,
            config=self.config,
            credentials=credentials or self.credentials,
            platform=platform,
            progress=progress,
        )

    def pull_all_tags(
        self,
        reference: str,
        *,
        platform: Platform | None = None,
        progress: Callable[[PullEvent], None] = lambda _e: None,
        credentials: Callable[[str], Credentials] | None = None,
        starting: Callable[[Reference], None] = lambda _r: None,
        done: Callable[[PullResult], None] = lambda _r: None,
    ) -> list[PullResult]:
        """``docker pull --all-tags``: every tag the registry lists, one after the other; ``starting``
        and ``done`` frame each tag's pull (its header and its digest line, in the CLI and the API)."""
        from pinnace.oci.reference import parse_normalized

        repository = parse_normalized(reference)
        results = []
        for tag in self.tags(reference, credentials=credentials):
            tagged = repository.with_tag(tag)
            starting(tagged)
            results.append(self.pull(str(tagged), platform=platform, progress=progress, credentials=credentials))
            done(results[-1])
        return results

    def tags(self, reference: str, *, credentials: Callable[[str], Credentials] | None = None) -> list[str]:
        """The tags of the repository ``reference`` names, in the registry (``pull --all-tags``);
        ``credentials`` as for :meth:`pull`."""
        from pinnace.distribution.client import Repository
        from pinnace.distribution.transport import Transport
        from pinnace.oci.reference import parse_normalized

        ref = parse_normalized(reference)
        lookup = credentials or self.credentials
        transport = Transport(self.config.endpoints(ref.domain)[-1], lambda: lookup(ref.domain))
        try:
            return Repository(transport, ref.path).tags()
        finally:
            transport.close()

    def local_tags(self, reference: str) -> list[str]:
        """The tags of repository ``reference`` in the store (``push --all-tags``)."""
        from pinnace.oci.reference import parse_normalized

        return self.stores.records.tags_of(parse_normalized(reference).name)

    def push(
        self,
        reference: str,
        *,
        progress: Callable[[PullEvent], None] = lambda _e: None,
        credentials: Callable[[str], Credentials] | None = None,
    ) -> PushResult:
        """``docker push``: the image the reference names (``:latest`` by default) to its repository
        (``credentials`` as for :meth:`pull`)."""
        from pinnace.distribution.push import push
        from pinnace.oci.reference import parse_normalized, with_default_tag

        ref = with_default_tag(parse_normalized(reference))
        return push(
            self.stores, ref, config=self.config, credentials=credentials or self.credentials, progress=progress
        )

    def login(self, server: str, username: str, password: str) -> Credentials:
        """``docker login``: check the credentials with the registry, then store them (an identity token
        instead of the password when the token service gives one); what was stored."""
        from pinnace.distribution import credentials
        from pinnace.distribution.credentials import Credentials

        stored = self.authenticate(server, Credentials(username=username, password=password))
        credentials.store(registry_host(server), stored, self.env)
        return stored

    def authenticate(self, server: str, given: Credentials) -> Credentials:
        """Check ``given`` with the registry of ``server`` and store nothing (the Engine API's ``/auth``,
        where the client keeps the credentials): what to keep, an identity token instead of the password
        when the token service gives one; Unauthenticated with dockerd's message when refused."""
        from pinnace.distribution.credentials import Credentials
        from pinnace.distribution.transport import Transport
        from pinnace.errors import Unauthenticated

        host = registry_host(server)
        endpoint = self.config.endpoints(host, push=True)[0]
        transport = Transport(endpoint, lambda: given)
        try:
            response = transport.request("GET", "/v2/", scopes=[], ok=(200,), offline=True)
            response.drain()
            if response.status == 401:
                raise Unauthenticated(
                    f"login attempt to {transport.base}/v2/ failed with status: 401 Unauthorized"
                )
            refresh = transport.auth.refresh_token
        finally:
            transport.close()
        return Credentials(username=given.username, identity_token=refresh) if refresh else given

    def logout(self, server: str) -> bool:
        """``docker logout``: forget the credentials of ``server``; False when there were none."""
        from pinnace.distribution import credentials

        return credentials.erase(registry_host(server), self.env)


def registry_host(server: str) -> str:
    """A registry as ``login`` takes it (``host[:port]``, a URL, or "" for Docker Hub) -> ``host[:port]``."""
    from pinnace.distribution.config import HUB_DOMAINS

    host = server.strip()
    if "://" in host:
        host = host.partition("://")[2]
    host = host.partition("/")[0]
    if not host or host in HUB_DOMAINS:
        return "docker.io"
    return host
