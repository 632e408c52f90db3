#!/usr/bin/env bash
# Makes podman run containers on this machine, for tests/podman.rs. Run as root.
#
# Installs Debian's podman when it is missing (with catatonit, from which
# podman builds the pause image of `podman kube play` pods, and uidmap), then
# writes a containers.conf drop-in whose default_ulimits fit inside this
# host's hard limits, and checks that a container starts.
#
# Why the drop-in: podman asks runc for nofile and nproc of 1048576 by
# default, and podman 4.3 lowers its own RLIMIT_NPROC to 32768 at start-up
# (strace: setrlimit(RLIMIT_NPROC, 32768)). Where the limits asked for are
# above the hard ones and CAP_SYS_RESOURCE is missing (a CI sandbox), every
# `podman run` fails with `error setting rlimit type 7: operation not
# permitted` (nofile; type 6 is nproc).
#
# Idempotent: the drop-in is rewritten only when its content changes.
#
#   PODMAN_CONF  the drop-in (/etc/containers/containers.conf.d/50-pidone-ci.conf)
set -euo pipefail

conf=${PODMAN_CONF:-/etc/containers/containers.conf.d/50-pidone-ci.conf}

say() { printf 'podman: %s\n' "$*"; }

if ! command -v podman >/dev/null 2>&1 || [ ! -x /usr/libexec/podman/catatonit ]; then
    say "installing podman"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        podman catatonit uidmap
fi

# The smaller of a hard limit and a cap; "unlimited" is above any cap.
within() {
    case $1 in
    unlimited) echo "$2" ;;
    *) if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi ;;
    esac
}
nofile=$(within "$(ulimit -Hn)" 1048576)
nproc=$(within "$(ulimit -Hu)" 32768)

want=$(printf '%s\n' \
    "# Written by pidone's .ci/podman.sh: podman's default ulimits within this host's hard limits." \
    "[containers]" \
    "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]")
if [ -f "$conf" ] && [ "$(cat "$conf")" = "$want" ]; then
    say "$conf is up to date"
else
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' "$want" >"$conf.tmp"
    mv "$conf.tmp" "$conf"
    say "wrote $conf"
fi
sed 's/^/    /' "$conf"

# A container from a bare directory: no image, no registry.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
mkdir -p "$probe/bin"
cp /bin/busybox "$probe/bin/busybox"
if ! podman run --rm --network none --rootfs "$probe" /bin/busybox true; then
    say "podman cannot start a container" >&2
    exit 1
fi
say "ready: podman $(podman version --format '{{.Client.Version}}'), $(podman info --format '{{.Host.OCIRuntime.Name}}, {{.Host.CgroupManager}}, cgroups {{.Host.CgroupsVersion}}')"
