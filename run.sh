#!/usr/bin/env bash
# Set up (./setup.sh), then run the main job: make sure a busybox:latest image
# exists (imported from the host's /bin/busybox through `pinnace import`), and
# run a container from it.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
if ! pinnace image inspect busybox >/dev/null 2>&1; then
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" > "$rootfs/etc/passwd"
    echo "root:x:0:" > "$rootfs/etc/group"
    tar -C "$rootfs" -c . | pinnace import --change 'CMD ["sh"]' - busybox:latest
fi
pinnace images
pinnace run --rm busybox sh -c 'echo "hello from a pinnace container: pid $$, host $(hostname)"'
