#!/usr/bin/env bash
# The release image through a real registry (issue 21), called by
# .ci/release.sh after `cargo xtask dist`; also runs on its own, as root
# (it runs `cargo xtask dist` first when target/dist/ has no image of
# this commit):
#
#   1. the OCI archive matches SHA256SUMS and holds one image index for
#      linux/amd64 and linux/arm64; each image is one layer of exactly
#      /pidone (byte for byte the release binary) and /LICENSE, with the OCI
#      labels;
#   2. Debian's docker-registry serves on localhost:5000 and
#      `cargo xtask publish` pushes the archive to it, digests unchanged;
#   3. Docker and podman pull each platform from it (arm64 runs under
#      qemu-user); the file copied out of the image is the release binary,
#      and podman runs it as its init (--init-path);
#   4. a user's image, `COPY --from=localhost:5000/pidone:VERSION /pidone
#      /pidone`, built by Docker for each platform (and by podman): exit
#      codes pass through, orphans are reaped, `docker stop` is prompt.
#
# Idempotent: the registry started here is stopped (by its pid) when the
# script ends, and its storage starts empty. Scratch files go to
# target/image-ci/. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== image: %s (%ss so far)\n' "$*" "$SECONDS"; }
fail() { printf 'image: FAILED: %s\n' "$*" >&2; exit 1; }
work=$PWD/target/image-ci
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

# json EXPR: evaluates a Python expression over the JSON document on stdin
# (as `d`) and prints the result, one line per item of a list.
json() {
    python3 -c 'import json, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
print("\n".join(map(str, r)) if isinstance(r, list) else r)' "$1"
}

step "packages, engines, binfmt_misc"
need=()
command -v skopeo >/dev/null || need+=(skopeo)
command -v docker-registry >/dev/null || need+=(docker-registry)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v file >/dev/null || need+=(file)
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
bash .ci/docker-engine.sh
bash .ci/podman.sh
binfmt=/proc/sys/fs/binfmt_misc
mountpoint -q "$binfmt" || mount -t binfmt_misc binfmt_misc "$binfmt"
# F: the interpreter is opened at registration, so containers run aarch64
# programs too (as in .ci/release.sh).
if [ -e "$binfmt/qemu-aarch64" ] && ! grep -q '^flags:.*F' "$binfmt/qemu-aarch64"; then
    echo -1 >"$binfmt/qemu-aarch64"
fi
[ -e "$binfmt/qemu-aarch64" ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register"
echo 1 >"$binfmt/qemu-aarch64"
# The arm64 busybox for the arm64 user's image: .ci/release.sh's, else fetched.
arm64_busybox=$PWD/target/release-ci/busybox-arm64/bin/busybox
if [ ! -x "$arm64_busybox" ]; then
    arm64_busybox=$work/busybox-arm64/bin/busybox
fi
if [ ! -x "$arm64_busybox" ]; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
        apt-get update -q
    fi
    rm -rf "$work/busybox-arm64" "$work"/busybox-static_*_arm64.deb
    (cd "$work" && { apt-get download busybox-static:arm64 ||
        { apt-get update -q && apt-get download busybox-static:arm64; }; })
    dpkg -x "$work"/busybox-static_*_arm64.deb "$work/busybox-arm64"
fi
file "$arm64_busybox" | grep -q 'ARM aarch64.*statically linked' || fail "$arm64_busybox: $(file "$arm64_busybox")"

step "the OCI archive in target/dist/"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
commit=$(git rev-parse HEAD)
dist=$PWD/target/dist
archive_name=pidone-$version-image.oci.tar
archive=$dist/$archive_name
built_from() {
    skopeo inspect --config "oci-archive:$archive" 2>/dev/null |
        json 'd["config"]["Labels"]["org.opencontainers.image.revision"]' 2>/dev/null
}
if [ ! -f "$archive" ] || [ "$(built_from)" != "$commit" ]; then
    echo "no image of $commit in $dist: cargo xtask dist"
    cargo xtask dist
fi
(cd "$dist" && grep -E "  $archive_name\$" SHA256SUMS | sha256sum --check --strict)
check 0 skopeo inspect --raw "oci-archive:$archive"
index=$out
index_digest=sha256:$(printf '%s' "$index" | sha256sum | cut -d' ' -f1)
[ "$(json 'd["mediaType"]' <<<"$index")" = application/vnd.oci.image.index.v1+json ] ||
    fail "the archive's top is not an OCI image index: $index"
platforms=$(json 'sorted(m["platform"]["os"] + "/" + m["platform"]["architecture"] for m in d["manifests"])' <<<"$index")
[ "$platforms" = $'linux/amd64\nlinux/arm64' ] || fail "the index is for: $platforms"
# The labels' values, from Cargo.toml as the xtask reads them.
licenses=$(sed -n 's/^license = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
source=$(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
source=${source:-https://crates.io/crates/pidone}
declare -A manifest_digest config_digest image_bytes binary
binary[amd64]=$dist/pidone-$version-x86_64-unknown-linux-musl
binary[arm64]=$dist/pidone-$version-aarch64-unknown-linux-musl
for arch in amd64 arm64; do
    manifest_digest[$arch]=$(json "[m['digest'] for m in d['manifests'] if m['platform']['architecture'] == '$arch'][0]" <<<"$index")
    dir=$work/oci-$arch
    rm -rf "$dir"
    check 0 skopeo copy --quiet --override-os linux --override-arch "$arch" "oci-archive:$archive" "dir:$dir"
    [ "sha256:$(sha256sum <"$dir/manifest.json" | cut -d' ' -f1)" = "${manifest_digest[$arch]}" ] ||
        fail "$arch: skopeo's manifest is not the one the index names"
    manifest=$(cat "$dir/manifest.json")
    [ "$(json 'len(d["layers"])' <<<"$manifest")" = 1 ] || fail "$arch: not one layer: $manifest"
    config_digest[$arch]=$(json 'd["config"]["digest"]' <<<"$manifest")
    image_bytes[$arch]=$(json 'd["config"]["size"] + sum(l["size"] for l in d["layers"])' <<<"$manifest")
    config=$(cat "$dir/${config_digest[$arch]#sha256:}")
    layer=$dir/$(json 'd["layers"][0]["digest"].split(":")[1]' <<<"$manifest")
    got=$(json '"|".join([d["os"], d["architecture"], str(d["config"]["Entrypoint"])] + sorted(k + "=" + v for k, v in d["config"]["Labels"].items() if k.startswith("org.opencontainers.image.") and k.split(".")[-1] in ("version", "source", "licenses", "revision")))' <<<"$config")
    want="linux|$arch|['/pidone', '--']|org.opencontainers.image.licenses=$licenses|org.opencontainers.image.revision=$commit|org.opencontainers.image.source=$source|org.opencontainers.image.version=$version"
    [ "$got" = "$want" ] || fail "$arch config: $got, wanted $want"
    check 0 tar -tzf "$layer"
    [ "$out" = $'LICENSE\npidone' ] && [ "$(tar -tvzf "$layer" | cut -c1-10 | tr '\n' ' ')" = "-rw-r--r-- -rwxr-xr-x " ] ||
        fail "$arch layer: $(tar -tvzf "$layer")"
    tar -xzOf "$layer" pidone | cmp - "${binary[$arch]}" || fail "$arch: /pidone is not ${binary[$arch]}"
    tar -xzOf "$layer" LICENSE | cmp - LICENSE || fail "$arch: /LICENSE is not LICENSE"
    echo "linux/$arch: manifest ${manifest_digest[$arch]}, config ${config_digest[$arch]}: /pidone (the release binary) and /LICENSE; labels version, source, licenses, revision"
done
echo "index $index_digest: linux/amd64, linux/arm64"

step "Debian's docker-registry on localhost:5000"
registry=localhost:5000
image=$registry/pidone:$version
# v2: the status of GET /v2/ on localhost:5000, or "none" when nothing answers.
v2() {
    python3 -c 'import urllib.request, urllib.error
try:
    print(urllib.request.urlopen("http://127.0.0.1:5000/v2/", timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("none")'
}
pidfile=$work/registry.pid
stop_registry() {
    if [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
}
stop_registry # an earlier run's, if it outlived it
if [ "$(v2)" != none ] && [ -d /run/systemd/system ] && systemctl is-active -q docker-registry; then
    # The package starts its service where systemd runs; its configuration
    # asks for basic authentication (htpasswd), which this run does not use.
    systemctl stop docker-registry
fi
[ "$(v2)" = none ] || fail "something else answers on localhost:5000 (GET /v2/: $(v2))"
rm -rf "$work/registry"
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
# Written by pidone's .ci/image.sh: no authentication, on loopback only.
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
EOF
# A child of this script, in its process group: stopped by its pid when
# the script exits, and by whatever ends the script's group.
docker-registry serve "$work/registry/config.yml" </dev/null >"$work/registry/log" 2>&1 &
echo $! >"$pidfile"
trap 'stop_registry' EXIT
for _ in $(seq 100); do
    [ "$(v2)" = 200 ] && break
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 0.2
done
[ "$(v2)" = 200 ] || { cat "$work/registry/log" >&2; fail "docker-registry does not answer GET /v2/ with 200"; }
echo "docker-registry $(docker-registry --version | awk '{ print $NF }') answers on $registry (pid $(cat "$pidfile"))"

step "cargo xtask publish --tls-verify=false $registry"
check 0 cargo xtask publish --tls-verify=false "$registry"
[ "$out" = "$image"$'\n'"$registry/pidone@$index_digest" ] || fail "publish said: $out"
check 0 skopeo inspect --raw --tls-verify=false "docker://$image"
[ "sha256:$(printf '%s' "$out" | sha256sum | cut -d' ' -f1)" = "$index_digest" ] || fail "the registry serves another index: $out"
for arch in amd64 arm64; do
    check 0 skopeo inspect --raw --tls-verify=false "docker://$registry/pidone@${manifest_digest[$arch]}"
done
echo "$image is $index_digest, as in the archive; both manifests are served by digest"

step "Docker pulls each platform"
# No copy of the image in either engine, tagged or not: the next pull or
# build must fetch it from the registry.
forget_images() {
    local id
    for id in $(docker images -q "$registry/pidone") "${config_digest[@]}"; do
        docker rmi -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(podman images -q "$registry/pidone") "${config_digest[@]#sha256:}"; do
        podman rmi -f "$id" >/dev/null 2>&1 || true
    done
}
forget_images
for arch in amd64 arm64; do
    check 0 docker pull --platform "linux/$arch" "$image"
    check 0 docker image inspect --format '{{.Id}} {{.Os}}/{{.Architecture}}' "$image"
    [ "$out" = "${config_digest[$arch]} linux/$arch" ] || fail "docker pull --platform linux/$arch: $out"
    check 0 docker run --rm --network none --platform "linux/$arch" "$image" /pidone --version
    [ "$out" = "pidone version $version - git.${commit:0:7}" ] || fail "docker, linux/$arch: $out"
    check 127 docker run --rm --network none --platform "linux/$arch" "$image" no-such-command
    check 0 docker create --platform "linux/$arch" "$image"
    id=$out
    rm -f "$work/docker-$arch-pidone"
    check 0 docker cp "$id:/pidone" "$work/docker-$arch-pidone"
    docker rm "$id" >/dev/null
    cmp "$work/docker-$arch-pidone" "${binary[$arch]}" || fail "docker cp of linux/$arch /pidone"
    echo "docker: linux/$arch resolves to ${config_digest[$arch]}; /pidone --version; 127 passes through; docker cp gives the release binary"
done
forget_images
check 0 docker pull "$registry/pidone@$index_digest"
check 0 docker image inspect --format '{{.Architecture}}' "$registry/pidone@$index_digest"
host_arch=$(dpkg --print-architecture)
[ "$out" = "$host_arch" ] || fail "pulled by the index digest on $host_arch: $out"
echo "docker pull $registry/pidone@$index_digest: $host_arch, this host's"

step "podman pulls each platform; the copied /pidone is podman's --init-path"
forget_images
for arch in amd64 arm64; do
    check 0 podman pull --quiet --tls-verify=false --platform "linux/$arch" "$image"
    id=$out
    [ "sha256:$id" = "${config_digest[$arch]}" ] || fail "podman pull --platform linux/$arch: image $id"
    check 0 podman image inspect --format '{{.Os}}/{{.Architecture}} {{.Digest}}' "$id"
    [ "$out" = "linux/$arch $index_digest" ] || fail "podman, linux/$arch: $out"
    check 0 podman run --rm --network none "$id" /pidone --version
    [ "$out" = "pidone version $version - git.${commit:0:7}" ] || fail "podman, linux/$arch: $out"
    check 127 podman run --rm --network none "$id" no-such-command
    check 0 podman create "$id"
    cid=$out
    rm -f "$work/podman-$arch-pidone"
    check 0 podman cp "$cid:/pidone" "$work/podman-$arch-pidone"
    podman rm "$cid" >/dev/null
    cmp "$work/podman-$arch-pidone" "${binary[$arch]}" || fail "podman cp of linux/$arch /pidone"
    echo "podman: linux/$arch resolves to ${config_digest[$arch]}; /pidone --version; 127 passes through; podman cp gives the release binary"
done
rootfs=$work/podman-rootfs
rm -rf "$rootfs" && mkdir -p "$rootfs/bin"
cp /bin/busybox "$rootfs/bin/"
check 5 podman run --rm --network none --init --init-path "$work/podman-amd64-pidone" --rootfs "$rootfs" \
    /bin/busybox sh -c 'tr "\0" " " </proc/1/cmdline; exit 5'
[ "$out" = "/run/podman-init -- /bin/busybox sh -c tr \"\\0\" \" \" </proc/1/cmdline; exit 5 " ] ||
    fail "podman --init-path: PID 1 is $out"
echo "podman run --init --init-path <the copied /pidone>: PID 1 is /run/podman-init (pidone); exit 5 passes through"

step "a user's image: COPY --from=$image /pidone /pidone"
declare -A stop_ms
for arch in amd64 arm64; do
    ctx=$work/user-$arch
    rm -rf "$ctx" && mkdir -p "$ctx/root/bin"
    case $arch in
    amd64) cp /bin/busybox "$ctx/root/bin/" ;;
    arm64) cp "$arm64_busybox" "$ctx/root/bin/" ;;
    esac
    for tool in sh sleep awk cat wc sha256sum; do ln -s busybox "$ctx/root/bin/$tool"; done
    cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY --from=$image /pidone /pidone
COPY root/ /
ENV PATH=/bin
ENTRYPOINT ["/pidone", "--"]
EOF
    user=pidone-user-ci:$arch
    # Neither engine has the image: each build pulls it from the registry.
    forget_images
    docker rmi -f "$user" >/dev/null 2>&1 || true
    check 0 docker build --platform "linux/$arch" -t "$user" "$ctx"
    grep -q "Pulling from pidone" "$work/stdout" || fail "docker build did not pull $image: $out"
    run=(docker run --rm --network none --platform "linux/$arch" "$user")
    check 0 "${run[@]}" sha256sum /pidone
    [ "${out%% *}" = "$(sha256sum <"${binary[$arch]}" | cut -d' ' -f1)" ] || fail "$user: /pidone is not ${binary[$arch]}"
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
    [ "$out" = $'orphans=20\nleft=0 zombies=0' ] || fail "reaping in $user: $out"
    # docker stop: SIGTERM reaches the shell's trap through pidone at once.
    name=pidone-user-ci-stop-$arch-$$
    docker rm -f "$name" >/dev/null 2>&1 || true
    check 0 docker run -d --name "$name" --platform "linux/$arch" --network none "$user" \
        sh -c 'trap "echo stopping; exit 7" TERM; echo ready; while :; do sleep 1000 & wait $!; done'
    for _ in $(seq 100); do
        docker logs "$name" 2>&1 | grep -q ready && break
        sleep 0.2
    done
    check 0 docker stop --time 10 "$name"
    stop_ms[$arch]=$took_ms
    check 0 docker inspect --format '{{.State.ExitCode}}' "$name"
    code=$out
    logs=$(docker logs "$name" 2>&1)
    docker rm -f "$name" >/dev/null
    [ "$code" = 7 ] || fail "docker stop of $user: exit $code; logs: $logs"
    [ "${stop_ms[$arch]}" -lt 5000 ] || fail "docker stop of $user took ${stop_ms[$arch]} ms"
    echo "docker, linux/$arch: built from the registry; /pidone is the release binary; exit codes 3, 143, 127;" \
        "20 orphans, 0 zombies; docker stop -> 7 in ${stop_ms[$arch]} ms"

    # The same Dockerfile with podman (buildah), from the registry too.
    podman rmi -f "localhost/$user" >/dev/null 2>&1 || true
    check 0 podman build --tls-verify=false --platform "linux/$arch" -t "$user" "$ctx"
    cat "$work/stdout" "$work/stderr" | grep -q "Trying to pull $image" || fail "podman build did not pull $image: $out"
    check 0 podman run --rm --network none "localhost/$user" sha256sum /pidone
    [ "${out%% *}" = "$(sha256sum <"${binary[$arch]}" | cut -d' ' -f1)" ] || fail "podman's $user: /pidone is not ${binary[$arch]}"
    check 3 podman run --rm --network none "localhost/$user" sh -c 'exit 3'
    echo "podman, linux/$arch: built from the registry; /pidone is the release binary; exit 3 passes through"
done

# Pinned: the tag and the index digest, as the README suggests.
ctx=$work/user-pinned
rm -rf "$ctx" && mkdir -p "$ctx"
printf 'FROM scratch\nCOPY --from=%s@%s /pidone /pidone\n' "$image" "$index_digest" >"$ctx/Dockerfile"
forget_images
docker rmi -f pidone-user-ci:pinned >/dev/null 2>&1 || true
check 0 docker build -t pidone-user-ci:pinned "$ctx"
check 0 docker create pidone-user-ci:pinned /pidone
id=$out
rm -f "$work/pinned-pidone"
check 0 docker cp "$id:/pidone" "$work/pinned-pidone"
docker rm "$id" >/dev/null
cmp "$work/pinned-pidone" "${binary[$host_arch]}" || fail "COPY --from=$image@$index_digest: not the $host_arch binary"
echo "docker: COPY --from=$image@$index_digest gives the $host_arch release binary"

printf '\n| image | manifest digest | config (image id) | bytes (config + layer, compressed) |\n|---|---|---|--:|\n'
printf '| index | %s | | |\n' "$index_digest"
for arch in amd64 arm64; do
    printf '| linux/%s | %s | %s | %s |\n' "$arch" "${manifest_digest[$arch]}" "${config_digest[$arch]}" "${image_bytes[$arch]}"
done

forget_images
docker rmi -f pidone-user-ci:amd64 pidone-user-ci:arm64 pidone-user-ci:pinned >/dev/null
podman rmi -f localhost/pidone-user-ci:amd64 localhost/pidone-user-ci:arm64 >/dev/null

step "done"
