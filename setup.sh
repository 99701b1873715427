#!/usr/bin/env bash
# Set up pinnace on a Debian 12 machine, as root, idempotently:
# apt packages (busybox-static, the peers tests and benchmarks drive), a venv
# bound to Debian's real python3 (never a version-manager shim: that adds
# ~100 ms to every command), pinnace with its pinned dependencies, and
# `pinnace` on PATH.  Usage: ./setup.sh [--test]   (--test adds test tools)
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)

APT_PACKAGES=(
    python3 python3-venv          # the interpreter the venv binds to
    python3-seccomp               # libseccomp's own binding, for the runtime's seccomp filters
    nftables python3-nftables     # libnftables and its binding: NAT and published ports (JSON API, in-process)
    iproute2                      # ip(8): the NAT tests build their namespaces and veths with it
    busybox-static                # the host /bin/busybox the quickstart image is made of
    podman skopeo umoci runc crun uidmap fuse-overlayfs iperf3 wrk   # peers: interop tests and benchmarks (iperf3, wrk: bench/network.py)
    buildah                       # peer: the builder's comparisons and benchmarks
    docker.io                     # peer: a private dockerd for the benchmarks
    docker-compose                # docker-compose 1.29.2 (docker-py): the compose tests drive the API service with it
    docker-registry               # CNCF distribution: the registry the registry client's tests and benchmarks start on 127.0.0.1
    zstd hyperfine git
    gcc libc6-dev                 # builds pinnace's native front (src/pinnace/cli/front.c)
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # No package may start a service here (docker-registry's would listen on :5000 for everyone):
    # the tests and benchmarks start their own, on 127.0.0.1.
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
    if [ -d /run/systemd/system ]; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
fi

py=/usr/bin/python3
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    for m in .venv/sealed/bin/*; do umount -l "$m" 2>/dev/null || true; done
    rm -rf .venv
    "$py" -m venv .venv
fi
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
stamp=".venv/.installed$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check -e ".$extra"
    touch "$stamp"
fi

# The entry point: the venv's real interpreter in isolated mode without the
# site module (-I -S), with our paths put in place by hand.  This skips site
# and .pth processing (~5 ms) and ignores PYTHON* variables such as
# PYTHONDONTWRITEBYTECODE, which would otherwise recompile every module on
# every command.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# python3-seccomp is built for Debian's python3, the venv's own interpreter:
# link its extension into the venv rather than open the venv to every
# system package.
for so in /usr/lib/python3/dist-packages/seccomp.cpython-*.so; do
    ln -sf "$so" "$site/"
done
# Debian's nftables binding (pure Python over libnftables), linked the same way.
ln -sfn /usr/lib/python3/dist-packages/nftables "$site/nftables"
launcher() {  # launcher PATH MODULE PYTHON: PATH runs MODULE's main()
    cat > "$1.new" <<LAUNCHER
#!$3 -IS
import sys
sys.path[:0] = ["$here/src", "$site"]
from $2 import main
main()
LAUNCHER
    chmod 755 "$1.new"
    mv -f "$1.new" "$1"
}
# The runtime runs from a read-only bind of the interpreter, so no process it
# puts in a container can reach a writable host binary through /proc/PID/exe
# (CVE-2019-5736; src/pinnace/runtime/linux/sealed.py).  pinnace itself runs
# from it too: `exec` then forks into the container without a second
# interpreter start.
sealed=$(.venv/bin/python -I -c "import sys; sys.path.insert(0, 'src'); from pinnace.runtime.linux.sealed import main; main()" "$here/.venv/sealed")
mkdir -p .venv/libexec
launcher .venv/libexec/pinnace-runtime pinnace.runtime.cli "$sealed"
launcher .venv/libexec/pinnace-runtime-init pinnace.runtime.linux.standby "$sealed"
# `pinnace-runtime` is a native launcher (src/pinnace/runtime/launcher.c): for
# create, run and exec it starts warming the kernel's cgroup lock, whose first
# use waits ~5-10 ms, so that wait passes while the interpreter starts; and it
# starts the container's stage 1 ahead (pinnace-runtime-init, sealed too) on
# the other CPU, to load the init's modules meanwhile.
gcc -O2 -Wall -Wextra -Werror -o .venv/bin/pinnace-runtime.new src/pinnace/runtime/launcher.c \
    -DPINNACE_RUNTIME_PYTHON="\"$here/.venv/libexec/pinnace-runtime\"" -DPINNACE_RUNTIME_STAGE1="\"$here/.venv/libexec/pinnace-runtime-init\""
mv -f .venv/bin/pinnace-runtime.new .venv/bin/pinnace-runtime
# `pinnace` is a native front (src/pinnace/cli/front.c) that hands `run` and
# `exec` to the warm worker zygote without an interpreter start (~8 ms of an
# exec's ~30) and executes the Python entry point for everything else.
launcher .venv/libexec/pinnace pinnace.cli.client "$sealed"
runroot=$(.venv/bin/python -I -c "import sys; sys.path.insert(0, 'src'); from pinnace import DEFAULT_RUNROOT; print(DEFAULT_RUNROOT)")
gcc -O2 -Wall -Wextra -Werror -o .venv/bin/pinnace.new src/pinnace/cli/front.c \
    -DPINNACE_PYTHON_FRONT="\"$here/.venv/libexec/pinnace\"" -DPINNACE_DEFAULT_RUNROOT="\"$runroot\""
mv -f .venv/bin/pinnace.new .venv/bin/pinnace
for name in pinnace pinnace-runtime; do ln -sf "$here/.venv/bin/$name" "/usr/local/bin/$name"; done
.venv/bin/python -I -m compileall -q src >/dev/null
