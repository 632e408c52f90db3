#!/usr/bin/env bash
# Release CI (issue 12), called by .ci/run; also runs on its own, as root, on
# a machine with Rust, gcc and python3. Builds every artefact with
# `cargo xtask dist`, then proves each one runs:
#
#   1. the x86_64, i686 and aarch64 binaries print the version of this commit,
#      and a build without .git takes the commit from PIDONE_GIT_COMMIT;
#   2. the integration tests that run pidone, against the aarch64 binary under
#      qemu-user (binfmt_misc), with PIDONE_TEST_BIN;
#   3. FROM scratch images for linux/amd64 and linux/arm64 (the arm64 one with
#      Debian's arm64 busybox-static): exit codes, reaping, docker stop;
#   4. the amd64 .deb installs, runs and removes; lintian passes both;
#   5. the image (an OCI archive) through a registry, pulled by Docker and
#      podman and copied from by a user's image (.ci/image.sh), and the crate
#      installed offline with `cargo install` (.ci/crate.sh).
#
# Idempotent. Scratch files go to target/release-ci/. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== release: %s (%ss so far)\n' "$*" "$SECONDS"; }
fail() { printf 'release: FAILED: %s\n' "$*" >&2; exit 1; }
work=$PWD/target/release-ci
mkdir -p "$work"

# check WANT_CODE CMD...: runs CMD (at most 120 s); on another exit code,
# shows the command, its code, stdout and stderr, and fails. Leaves stdout
# in $out and the duration in ms in $took_ms.
check() {
    local want=$1 code=0 start
    shift
    start=$(date +%s%N)
    timeout 120 "$@" >"$work/stdout" 2>"$work/stderr" || code=$?
    took_ms=$((($(date +%s%N) - start) / 1000000))
    out=$(cat "$work/stdout")
    if [ "$code" != "$want" ]; then
        printf 'command: %s\nstatus: %s (wanted %s) after %s ms\n--- stdout ---\n%s\n--- stderr ---\n%s\n' \
            "$*" "$code" "$want" "$took_ms" "$out" "$(cat "$work/stderr")" >&2
        fail "$1 exited $code, not $want"
    fi
}

step "packages"
need=()
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
command -v lintian >/dev/null || need+=(lintian)
command -v man >/dev/null || need+=(man-db)
command -v file >/dev/null || need+=(file)
[ -x /bin/busybox ] || need+=(busybox-static)
# .ci/image.sh's, here to share this apt-get update.
command -v skopeo >/dev/null || need+=(skopeo)
command -v docker-registry >/dev/null || need+=(docker-registry)
lists_stale=
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64 # for busybox-static:arm64, the arm64 image's shell
    lists_stale=1
fi
if [ "${#need[@]}" -gt 0 ] || [ -n "$lists_stale" ]; then
    apt-get update -q
fi
if [ "${#need[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
arm64_busybox=$work/busybox-arm64/bin/busybox
if [ ! -x "$arm64_busybox" ]; then
    rm -rf "$work/busybox-arm64" "$work"/busybox-static_*_arm64.deb
    (cd "$work" && { apt-get download busybox-static:arm64 ||
        { apt-get update -q && apt-get download busybox-static:arm64; }; })
    dpkg -x "$work"/busybox-static_*_arm64.deb "$work/busybox-arm64"
fi
file "$arm64_busybox" | grep -q 'ARM aarch64.*statically linked' || fail "$arm64_busybox: $(file "$arm64_busybox")"

# cargo xtask dist builds the image with podman.
bash .ci/podman.sh

step "Rust targets; xtask lints and tests; cargo package"
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl
cargo fmt --all --check
cargo clippy --package xtask --all-targets -- -D warnings
cargo test --package xtask
# What crates.io would get builds on its own (tests and examples included).
cargo package --locked --allow-dirty --quiet

step "binfmt_misc: aarch64 programs run through qemu-user"
binfmt=/proc/sys/fs/binfmt_misc
mountpoint -q "$binfmt" || mount -t binfmt_misc binfmt_misc "$binfmt"
# The F flag opens the interpreter once, at registration: containers, which
# do not have it in their file system, can then run aarch64 programs too.
if [ -e "$binfmt/qemu-aarch64" ] && ! grep -q '^flags:.*F' "$binfmt/qemu-aarch64"; then
    echo -1 >"$binfmt/qemu-aarch64" # registered without F: again, with it
fi
[ -e "$binfmt/qemu-aarch64" ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register"
echo 1 >"$binfmt/qemu-aarch64"
sed -n '1,3p' "$binfmt/qemu-aarch64"
qemu-aarch64-static --version | head -n 1

step "cargo xtask dist"
rm -rf target/dist
cargo xtask dist
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
dist=target/dist
(cd "$dist" && sha256sum --check --quiet SHA256SUMS)
printf '\n| artefact | bytes | file |\n|---|--:|---|\n'
for f in "$dist"/*; do
    printf '| %s | %s | %s |\n' "${f##*/}" "$(stat -c %s "$f")" "$(file -b "$f" | sed 's/, BuildID[^,]*//')"
done
commit=$(git rev-parse --short=7 HEAD)
for target in x86_64 i686 aarch64; do
    bin=$dist/pidone-$version-$target-unknown-linux-musl
    check 0 "$bin" --version
    [ "$out" = "pidone version $version - git.$commit" ] || fail "$bin --version: $out"
    check 3 "$bin" -- sh -c 'exit 3'
done
echo "all three binaries: pidone version $version - git.$commit; they run, exit codes pass through"

step "--version where .git is absent (as in a Docker build context)"
src=$(mktemp -d /tmp/pidone-no-git.XXXXXX)
trap 'rm -rf "$src"' EXIT
git archive HEAD | tar -x -C "$src"
for given in "" "$(git rev-parse HEAD)"; do
    (cd "$src" && PIDONE_GIT_COMMIT=$given cargo build -q --locked --bin pidone --target-dir "$work/no-git")
    check 0 "$work/no-git/debug/pidone" --version
    want="pidone version $version - git.${given:+$commit}"
    [ -n "$given" ] || want="${want}unknown"
    [ "$out" = "$want" ] || fail "PIDONE_GIT_COMMIT='$given', no .git: '$out', wanted '$want'"
    echo "PIDONE_GIT_COMMIT='$given', no .git: $out"
done

step "the integration tests against the aarch64 binary, under qemu-user"
# The files that run pidone; not docker.rs and static_build.rs (they test the
# x86_64 release binary, above and in .ci/run) nor fuzz_parsers.rs and the
# unit tests (pure code, run in the host's build). Named `pidone`: tests
# check /proc/PID/comm. The examples (the workloads pidone runs) stay host
# builds, like the sh, sleep and nginx the tests also start: pidone is what
# is under test, and a workload under qemu would put qemu's own signal
# handling between pidone and what the test observes.
mkdir -p "$work/aarch64"
cp "$dist/pidone-$version-aarch64-unknown-linux-musl" "$work/aarch64/pidone"
files=(cli help exit_codes exec_errors forwarding reaping drain hygiene signal_control job_control nginx torture user)
started=$SECONDS
set +e
PIDONE_TEST_BIN=$work/aarch64/pidone PIDONE_TEST_QEMU=1 PIDONE_E2E=require \
    cargo test "${files[@]/#/--test=}" -- --show-output >"$work/aarch64-tests.log" 2>&1
code=$?
set -e
took=$((SECONDS - started))
grep -E '^test result|^test .* FAILED' "$work/aarch64-tests.log" || true
if [ "$code" != 0 ]; then
    tail -n 200 "$work/aarch64-tests.log" >&2
    fail "the aarch64 suite under qemu-user (log: $work/aarch64-tests.log)"
fi
passed=$(awk '/^test result/ { n += $4 } END { print n }' "$work/aarch64-tests.log")
skipped() { awk -v kind="$1" '/^---- .* stdout ----$/ { name = $2 } index($0, kind) { print name }' \
    "$work/aarch64-tests.log" | sort -u | wc -l; }
echo "aarch64 under qemu-user, ${took}s: $passed tests passed; $(skipped 'SKIPPED under qemu-user: ') of them" \
    "skipped whole, $(skipped 'SKIPPED under qemu-user, this run in Subreaper mode') ran their Pid1 cases only:"
awk '/^---- .* stdout ----$/ { name = $2 } /SKIPPED under qemu-user/ { sub(/.*SKIPPED under qemu-user/, ""); print "  " name $0 }' \
    "$work/aarch64-tests.log" | sort | uniq -c

step "FROM scratch images, linux/amd64 and linux/arm64"
bash .ci/docker-engine.sh
image=pidone-release-ci
declare -A startup_ms stop_ms
for platform in amd64 arm64; do
    ctx=$work/image-$platform
    rm -rf "$ctx" && mkdir -p "$ctx/root/bin"
    case $platform in
    amd64) cp "$dist/pidone-$version-x86_64-unknown-linux-musl" "$ctx/root/pidone" && cp /bin/busybox "$ctx/root/bin/" ;;
    arm64) cp "$dist/pidone-$version-aarch64-unknown-linux-musl" "$ctx/root/pidone" && cp "$arm64_busybox" "$ctx/root/bin/" ;;
    esac
    for tool in sh true sleep awk cat ls echo kill wc mkdir cp; do ln -s busybox "$ctx/root/bin/$tool"; done
    printf 'FROM scratch\nCOPY root/ /\nENV PATH=/bin\nENTRYPOINT ["/pidone", "--"]\n' >"$ctx/Dockerfile"
    check 0 docker build --platform "linux/$platform" -t "$image:$platform" "$ctx"
    check 0 docker image inspect --format '{{.Architecture}}' "$image:$platform"
    [ "$out" = "$platform" ] || fail "$image:$platform is for $out"
    run=(docker run --rm --platform "linux/$platform" --network none "$image:$platform")

    check 0 "${run[@]}" /pidone --version
    [ "$out" = "pidone version $version - git.$commit" ] || fail "in $platform: $out"
    check 3 "${run[@]}" sh -c 'exit 3'
    check 143 "${run[@]}" sh -c 'kill -TERM $$; sleep 5'
    check 127 "${run[@]}" no-such-command
    # Twenty orphans, re-parented to pidone (PID 1), exit together; pidone
    # reaps them all (a zombie would still be listed, in state Z). Bounded: 15 s.
    check 0 "${run[@]}" sh -c '
        orphans() { cat /proc/[0-9]*/stat 2>/dev/null | awk "\$4 == 1 && \$1 != $$" | wc -l; }
        i=0; while [ $i -lt 20 ]; do (sleep 2 &); i=$((i + 1)); done
        echo orphans=$(orphans)
        i=0; while [ "$(orphans)" != 0 ] && [ $i -lt 75 ]; do sleep 0.2; i=$((i + 1)); done
        echo left=$(orphans) zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk "\$3 == \"Z\"" | wc -l)'
    [ "$out" = $'orphans=20\nleft=0 zombies=0' ] || fail "reaping in $platform: $out"

    # Start-up: the median of 5 `docker run --rm ... true`.
    times=()
    for _ in 1 2 3 4 5; do
        check 0 "${run[@]}" true
        times+=("$took_ms")
    done
    startup_ms[$platform]=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)

    # docker stop: SIGTERM reaches the shell's trap through pidone at once.
    name=$image-stop-$platform-$$
    docker rm -f "$name" >/dev/null 2>&1 || true
    check 0 docker run -d --name "$name" --platform "linux/$platform" --network none "$image:$platform" \
        sh -c 'trap "echo stopping; exit 7" TERM; echo ready; while :; do sleep 1000 & wait $!; done'
    for _ in $(seq 100); do
        docker logs "$name" 2>&1 | grep -q ready && break
        sleep 0.2
    done
    check 0 docker stop --time 10 "$name"
    stop_ms[$platform]=$took_ms
    check 0 docker inspect --format '{{.State.ExitCode}}' "$name"
    code=$out
    logs=$(docker logs "$name" 2>&1)
    docker rm -f "$name" >/dev/null
    [ "$code" = 7 ] || fail "docker stop in $platform: exit $code; logs: $logs"
    [ "${stop_ms[$platform]}" -lt 5000 ] || fail "docker stop in $platform took ${stop_ms[$platform]} ms"
    echo "linux/$platform: exit codes 3, 143, 127; 20 orphans, 0 zombies; docker stop -> 7"
done
printf '\n| platform | docker run --rm true (median of 5) | docker stop (trap, exit 7) |\n|---|--:|--:|\n'
for platform in amd64 arm64; do
    printf '| linux/%s | %s ms | %s ms |\n' "$platform" "${startup_ms[$platform]}" "${stop_ms[$platform]}"
done

step "Dockerfile.example: TARGETARCH picks the Rust target; its pidone stage holds only /pidone"
# No registry and no buildx here: the classic builder, given the TARGETARCH that
# BuildKit would set, and local stand-ins for the Rust image: the busybox image
# above plus rustup and cargo stubs that fail unless called as the mapping
# says, then put the binary built above where cargo would.
full_commit=$(git rev-parse HEAD)
for platform in amd64 arm64; do
    case $platform in
    amd64) triple=x86_64-unknown-linux-musl ;;
    arm64) triple=aarch64-unknown-linux-musl ;;
    esac
    ctx=$work/rust-$platform
    rm -rf "$ctx" && mkdir -p "$ctx/root/usr/local/bin" "$ctx/root/opt"
    cp "$dist/pidone-$version-$triple" "$ctx/root/opt/pidone"
    cat >"$ctx/root/usr/local/bin/rustup" <<STUB
#!/bin/sh
[ "\$*" = "target add $triple" ] || { echo "stub rustup: expected 'target add $triple', got '\$*'" >&2; exit 1; }
STUB
    cat >"$ctx/root/usr/local/bin/cargo" <<STUB
#!/bin/sh
[ "\$*" = "build --release --locked --target $triple" ] || { echo "stub cargo: got '\$*'" >&2; exit 101; }
[ "\$PIDONE_GIT_COMMIT" = "$full_commit" ] || { echo "stub cargo: PIDONE_GIT_COMMIT='\$PIDONE_GIT_COMMIT'" >&2; exit 101; }
for f in Cargo.toml Cargo.lock src/main.rs; do [ -f "\$f" ] || { echo "stub cargo: no \$f" >&2; exit 101; }; done
mkdir -p target/$triple/release && cp /opt/pidone target/$triple/release/pidone
STUB
    chmod +x "$ctx/root/usr/local/bin/"*
    printf 'FROM %s\nCOPY root/ /\nENV PATH=/usr/local/bin:/bin\nENTRYPOINT []\n' "$image:$platform" >"$ctx/Dockerfile"
    check 0 docker build --platform "linux/$platform" -t "$image-rust:$platform" "$ctx"
    example=(docker build --platform "linux/$platform" -f Dockerfile.example
        --build-arg "TARGETARCH=$platform" --build-arg "PIDONE_GIT_COMMIT=$full_commit"
        --build-arg "RUST_IMAGE=$image-rust:$platform" --build-arg "RUNTIME_IMAGE=$image:$platform")
    check 0 "${example[@]}" --target pidone -t "$image-only:$platform" .
    check 0 sh -c "docker save '$image-only:$platform' | tar -xO --wildcards '*/layer.tar' | tar -t"
    [ "$out" = pidone ] || fail "the pidone stage holds more than /pidone: $out"
    check 0 "${example[@]}" -t "$image-app:$platform" .
    app=(docker run --rm --platform "linux/$platform" --network none "$image-app:$platform")
    check 3 "${app[@]}" sh -c 'exit 3'
    check 0 "${app[@]}" /usr/local/bin/pidone --version
    [ "$out" = "pidone version $version - git.$commit" ] || fail "Dockerfile.example for $platform: $out"
    echo "Dockerfile.example, TARGETARCH=$platform: $triple; the pidone stage is one layer, /pidone alone"
done

step "the Debian packages"
deb=$dist/pidone_${version}-1_amd64.deb
check 0 dpkg-deb --field "$dist/pidone_${version}-1_arm64.deb" Architecture
[ "$out" = arm64 ] || fail "arm64 package says Architecture: $out"
check 0 dpkg -i "$deb"
check 0 /usr/bin/pidone --version
[ "$out" = "pidone version $version - git.$commit" ] || fail "installed: $out"
check 0 man -w pidone
[ "$out" = /usr/share/man/man1/pidone.1.gz ] || fail "man -w pidone: $out"
check 0 sh -c 'MANWIDTH=80 man --warnings pidone 2>&1 >/dev/null'
[ -z "$out" ] || fail "man warns: $out"
check 0 dpkg -r pidone
[ ! -e /usr/bin/pidone ] || fail "/usr/bin/pidone is still there after dpkg -r"
[ ! -e /usr/share/man/man1/pidone.1.gz ] || fail "the man page is still there after dpkg -r"
echo "amd64 .deb: installs, pidone --version and man -w pidone work, removes cleanly"
check 0 lintian --fail-on error,warning "$dist"/*.deb
echo "lintian: ${out:-no tags}"

step "the image through a registry; the crate from cargo install"
bash .ci/image.sh
bash .ci/crate.sh

step "done"
