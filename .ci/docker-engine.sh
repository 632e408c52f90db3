#!/bin/sh
# Makes a Docker engine answer on this machine, for tests/docker.rs. Run as root.
#
# Installs Debian's docker.io when docker or dockerd is missing, starts dockerd
# when no engine answers, and waits (bounded) until `docker info` succeeds.
# Idempotent: when an engine already answers, it changes nothing.
#
#   DOCKERD_LOG      where a dockerd started here logs (/var/log/pidone-dockerd.log)
#   DOCKERD_TIMEOUT  how many seconds to wait for the engine (60)
set -eu

log=${DOCKERD_LOG:-/var/log/pidone-dockerd.log}
timeout=${DOCKERD_TIMEOUT:-60}
pidfile=/var/run/docker.pid

say() { printf 'docker-engine: %s\n' "$*"; }
answers() { docker info >/dev/null 2>&1; }
server() { docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'; }
# The dockerd started here: setsid may have forked, so also ask its pidfile.
running() {
    kill -0 "$started" 2>/dev/null ||
        { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
}
have_dockerd() { command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ]; }

if command -v docker >/dev/null 2>&1 && answers; then
    say "an engine answers: Docker $(server)"
    exit 0
fi

if ! command -v docker >/dev/null 2>&1 || ! have_dockerd; then
    say "installing docker.io"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io
fi

started=
if answers; then
    : # the package's service came up by itself
elif [ -d /run/systemd/system ]; then
    say "starting the docker service"
    systemctl start docker
elif [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "dockerd (pid $(cat "$pidfile")) is running but does not answer yet"
else
    say "starting dockerd; it logs to $log"
    mkdir -p "$(dirname "$log")"
    # setsid: the daemon outlives this script and the CI job's process group.
    PATH="$PATH:/usr/sbin:/sbin" setsid dockerd </dev/null >>"$log" 2>&1 &
    started=$!
fi

waited=0
until answers; do
    if [ -n "$started" ] && ! running; then
        say "dockerd exited; the end of $log:" >&2
        tail -n 30 "$log" >&2 || true
        exit 1
    fi
    if [ "$waited" -ge "$timeout" ]; then
        say "no engine answers after ${timeout}s" >&2
        [ -f "$log" ] && tail -n 30 "$log" >&2
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done
say "engine ready after ${waited}s: Docker $(server)"
