#!/usr/bin/env bash
# bench/profile.sh: the load-independent startup counts of bench/PROFILE.md,
# for pidone against catatonit, tini-static and the naive C init, each as
# PID 1 of a fresh PID namespace running /bin/true. Run as root:
#
#     bench/profile.sh            (about a minute, plus a build)
#
# Prints one markdown table: user-space instructions (callgrind), malloc /
# realloc / free calls, syscalls of the init from its exec to its exit and
# before its fork, its mmap / munmap / brk, its page faults (initstat, median
# of PROFILE_ROUNDS, default 100) and the binary's size. For a before/after,
# run it on both commits. Needs valgrind, strace and cargo (apt-get install
# -y valgrind strace); bench/run.sh builds the helpers it uses.
#
# pidone's callgrind run uses an unstripped build of the same source (symbols
# only, no debug info) in target/profile/; every other figure is taken from
# the stripped release binary bench/run.sh measures.

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=$here/build
rounds=${PROFILE_ROUNDS:-100}
target=x86_64-unknown-linux-musl

[[ $(id -u) == 0 ]] || { echo "profile: run me as root" >&2; exit 1; }
for tool in valgrind callgrind_annotate strace cargo; do
	command -v "$tool" >/dev/null || { echo "profile: $tool is missing" >&2; exit 1; }
done
[[ -x $build/initstat && -x $build/naive ]] ||
	{ echo "profile: run bench/run.sh once first (it builds bench/build/)" >&2; exit 1; }

pidone=${PIDONE:-$root/target/$target/release/pidone}
(cd "$root" && cargo build -q --release --target "$target") >&2
(cd "$root" && CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=false \
	cargo build -q --release --target "$target" --target-dir "$root/target/profile") >&2
symbols=$root/target/profile/$target/release/pidone
[[ -n ${PIDONE:-} ]] && symbols=$pidone

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

names=(pidone catatonit tini-static naive-c)
bins=("$pidone" /usr/bin/catatonit /usr/bin/tini-static "$build/naive")
ns=(unshare --pid --fork --mount-proc --kill-child)

# calls FILE NAME: how many calls callgrind recorded to function NAME.
calls() {
	awk -v want="$2" '
	/^c?fn=\(/ { id = $1; sub(/^c?fn=/, "", id); name = $0; sub(/^[^ ]* ?/, "", name)
		if (name != "") names[id] = name
		if ($0 ~ /^cfn=/) cur = names[id]; next }
	/^calls=/ { if (cur == want) { split($0, a, "[= ]"); n += a[2] } cur = "" }
	END { print n + 0 }' "$1"
}

median() { sort -g | awk '{a[NR] = $1} END {print NR ? a[int((NR + 1) / 2)] : "nan"}'; }

args=()
for ((i = 0; i < ${#names[@]}; i++)); do
	((i == 0)) || args+=(::)
	args+=("${names[i]}" "${bins[i]}" -- /bin/true)
done
"$build/initstat" "$rounds" 3 "${args[@]}" >"$work/initstat.txt"

echo "| init | instructions | malloc / realloc / free | syscalls (before the fork) | mmap / munmap / brk | page faults | bytes |"
echo "|---|--:|--:|--:|--:|--:|--:|"
for ((i = 0; i < ${#names[@]}; i++)); do
	name=${names[i]} bin=${bins[i]}
	cg=$bin
	[[ $name == pidone ]] && cg=$symbols
	"${ns[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/cg.$name.%p" \
		"$cg" -- /bin/true 2>/dev/null
	insns=$(callgrind_annotate "$work/cg.$name.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {print $1}')
	if file -bL "$cg" | grep -q ', stripped'; then
		allocs="n/a (stripped)" # callgrind sees addresses, not malloc
	else
		allocs="$(calls "$work/cg.$name.1" malloc) / $(calls "$work/cg.$name.1" realloc) / $(calls "$work/cg.$name.1" free)"
	fi

	mkdir "$work/st.$name"
	strace -ff -o "$work/st.$name/t" "${ns[@]}" "$bin" -- /bin/true
	# The init's own trace: the file with its execve; count from there.
	file=$(grep -l "execve(\"$bin\"" "$work/st.$name"/t.*)
	awk -v bin="execve(\"$bin\"" 'index($0, bin) == 1 { on = 1; next } on && !/^\+\+\+/' "$file" >"$work/sys"
	total=$(wc -l <"$work/sys")
	before=$(awk '/^(fork|vfork|clone|clone3)\(/ { print NR - 1; exit }' "$work/sys")
	mem="$(grep -c '^mmap(' "$work/sys") / $(grep -c '^munmap(' "$work/sys") / $(grep -c '^brk(' "$work/sys")"

	faults=$(awk -v n="$name" '$1 == n { sub(/faults=/, "", $3); print $3 }' "$work/initstat.txt" | median)
	printf '| %s | %s | %s | %s (%s) | %s | %s | %s |\n' "$name" "$insns" "$allocs" \
		"$total" "${before:-?}" "$mem" "$faults" "$(stat -L -c %s "$bin")"
done
