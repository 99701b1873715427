"""``pinnace build`` beside buildah: the same Dockerfile gives the same config and the same files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.integration.test_build import build, config, context
from tests.interop.conftest import Peer

pytestmark = [pytest.mark.root, pytest.mark.interop]

DOCKERFILE = """\
FROM docker.io/library/busybox:latest
ENV A=1 B="two words"
LABEL one=1 two="2 2"
WORKDIR /srv/app
COPY files/ ./files/
RUN echo made > made.txt
EXPOSE 80/tcp 53/udp
VOLUME ["/data"]
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s CMD ["true"]
ENTRYPOINT ["sh", "-c"]
CMD ["echo hi"]
"""


def test_the_config_and_files_match_buildahs(
    pinnace: Pinnace, podman: Peer, buildah: Peer, rootfs_tar: Path, tmp_path: Path
) -> None:
    from tests.helpers.zygote import stop_zygote

    pinnace.run("import", "--change", 'CMD ["sh"]', str(rootfs_tar), "busybox:latest")
    ctx = context(tmp_path, DOCKERFILE, {"files/a.txt": "a\n", "files/sub/b.txt": "b\n"})
    build(pinnace, ctx, "-t", "ours")
    podman.run("import", "--change", 'CMD ["sh"]', str(rootfs_tar), "docker.io/library/busybox:latest")
    # --network none: a RUN on buildah's default network would leave a CNI bridge on the host
    buildah.run(
        "bud",
        "--runtime",
        "runc",
        "--network",
        "none",
        "--format",
        "docker",
        "-t",
        "theirs",
        str(ctx),
        timeout=300,
    )
    theirs = json.loads(buildah.run("inspect", "--type", "image", "theirs").stdout)["Docker"]["config"]
    theirs["Labels"].pop("io.buildah.version", None)  # buildah signs its images
    ours = config(pinnace, "ours")
    for key in (
        "Env",
        "Labels",
        "WorkingDir",
        "ExposedPorts",
        "Volumes",
        "User",
        "StopSignal",
        "Entrypoint",
        "Cmd",
    ):
        assert ours.get(key) == theirs.get(key), key
    assert ours["Healthcheck"]["Test"] == theirs["Healthcheck"]["Test"]  # type: ignore[index]
    assert ours["Healthcheck"]["Interval"] == theirs["Healthcheck"]["Interval"]  # type: ignore[index]
    listing = ["run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "ls"]
    mine = pinnace.run(*listing, "ours", "-lnR", "/srv/app").stdout
    their = podman.run(*listing, "theirs", "-lnR", "/srv/app", timeout=120).stdout
    strip = lambda text: [" ".join(line.split()[:5] + line.split()[8:]) for line in text.splitlines()]  # noqa: E731 - no dates
    assert strip(mine) == strip(their)
    stop_zygote(pinnace.runroot)
