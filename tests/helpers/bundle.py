"""OCI bundles for runtime tests: a busybox root filesystem and a config.json.

The root filesystem is made from the host's static ``/bin/busybox``
(busybox-static) with every applet linked, so a container can run ``sh``,
``cat``, ``id``, ``hostname`` ... without any image.  The config starts from
:func:`pinnace.runtime.spec.default_spec` (what ``runc spec`` writes) with a
terminal turned off, so tests read the container's output from pipes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pinnace.runtime.spec import default_spec

BUSYBOX = Path("/bin/busybox")

_applets: list[str] | None = None


def applets() -> list[str]:
    """Every applet name the host busybox offers (cached: it is asked once per session)."""
    global _applets
    if _applets is None:
        out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout
        _applets = [name for name in out.split() if name and name != "busybox"]
    return _applets


def make_rootfs(rootfs: Path) -> Path:
    """A busybox root filesystem at ``rootfs`` (created), with /etc/passwd and /etc/group."""
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/user"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    os.chmod(rootfs / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in applets():
        link = rootfs / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (rootfs / "etc" / "group").write_text("root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n")
    return rootfs


def make_bundle(
    bundle: Path, args: list[str], *, edit: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    """A bundle at ``bundle`` running ``args`` (no terminal); ``edit`` may change the config first."""
    bundle.mkdir(parents=True, exist_ok=True)
    if not (bundle / "rootfs" / "bin" / "busybox").exists():
        make_rootfs(bundle / "rootfs")
    spec = default_spec()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = list(args)
    if edit is not None:
        edit(spec)
    write_config(bundle, spec)
    return bundle


def write_config(bundle: Path, spec: dict[str, Any]) -> None:
    """Write ``spec`` as the bundle's config.json."""
    (bundle / "config.json").write_text(json.dumps(spec, indent=2))


def read_config(bundle: Path) -> dict[str, Any]:
    """The bundle's config.json, decoded."""
    config: dict[str, Any] = json.loads((bundle / "config.json").read_text())
    return config
