#!/usr/bin/env bash
# pidone from crates.io, without the release files (issue 21), called by
# .ci/release.sh; also runs on its own. What `cargo package` makes is what
# crates.io would serve: unpacked outside this checkout (no .git, no
# .cargo/config.toml), it is installed with `cargo install --offline
# --locked` against the registry cache (~/.cargo/registry, filled by the
# builds before), as a user would, twice:
#
#   1. for the host: a dynamically linked glibc build;
#   2. with --target x86_64-unknown-linux-musl and the README's
#      RUSTFLAGS="-C relocation-model=static" (the repository's
#      .cargo/config.toml is not in the crate): static, non-PIE, as released.
#
# Each one must run as PID 1 of a fresh PID namespace: exit codes pass
# through, orphans are reaped. Idempotent; the builds go to
# target/crate-ci/ (kept: a second run is incremental).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== crate: %s (%ss so far)\n' "$*" "$SECONDS"; }
fail() { printf 'crate: FAILED: %s\n' "$*" >&2; exit 1; }
work=$PWD/target/crate-ci
mkdir -p "$work"

step "cargo package"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
cargo package --locked --allow-dirty --quiet
crate=$PWD/target/package/pidone-$version.crate
ls -l "$crate"
unpacked=$(mktemp -d /tmp/pidone-crate.XXXXXX)
trap 'rm -rf "$unpacked"' EXIT
tar -xzf "$crate" -C "$unpacked"
src=$unpacked/pidone-$version
[ ! -e "$src/.cargo" ] || fail "the crate has a .cargo/"

step "cargo install --offline --locked, for the host and for musl"
rustup target add x86_64-unknown-linux-musl
for kind in host musl; do
    args=(install --offline --locked --force --path "$src" --root "$work/$kind" --target-dir "$work/target")
    flags=
    if [ "$kind" = musl ]; then
        args+=(--target x86_64-unknown-linux-musl)
        flags="-C relocation-model=static"
    fi
    # From outside the checkout: its .cargo/config.toml must not apply.
    (cd "$src" && RUSTFLAGS=$flags cargo "${args[@]}")
    bin=$work/$kind/bin/pidone
    kind_of=$(file -b "$bin")
    case $kind in
    host) [[ $kind_of == *"dynamically linked"* ]] || fail "the host build: $kind_of" ;;
    musl) [[ $kind_of == *"executable, x86-64"*"statically linked"* ]] || fail "the musl build: $kind_of" ;;
    esac
    said=$("$bin" --version)
    [[ $said == "pidone version $version - git."* ]] || fail "$bin --version: $said"

    code=0
    timeout 60 unshare --pid --fork --mount-proc "$bin" -- sh -c 'exit 3' || code=$?
    [ "$code" = 3 ] || fail "$kind build as PID 1: sh -c 'exit 3' gave $code"
    # Five orphans, re-parented to pidone (PID 1 of the namespace), exit
    # together; none is left, and no zombie. Bounded: 10 s.
    out=$(timeout 60 unshare --pid --fork --mount-proc "$bin" -- sh -c '
        orphans() { cat /proc/[0-9]*/stat 2>/dev/null | awk "\$4 == 1 && \$1 != $$" | wc -l; }
        for i in 1 2 3 4 5; do (sleep 1 &); done
        echo orphans=$(orphans)
        i=0; while [ "$(orphans)" != 0 ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
        echo left=$(orphans) zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk "\$3 == \"Z\"" | wc -l)')
    [ "$out" = $'orphans=5\nleft=0 zombies=0' ] || fail "$kind build as PID 1, reaping: $out"
    echo "$kind: $(stat -c %s "$bin") bytes, ${kind_of%%, BuildID*}; $said; as PID 1: exit 3 passes through, 5 orphans reaped"
done

step "done"
