#!/usr/bin/env bash
# bench/run.sh: pidone against Debian's tini, tini-static, dumb-init and catatonit,
# with two floor rows: a naive static C init and a minimal static C reaper.
#
# Setup: nothing by hand. Run it as root on Linux (a PID namespace per run
# needs it), from anywhere:
#
#     bench/run.sh              full run, 3 to 4 minutes on 2 cores
#     QUICK=1 bench/run.sh      smoke run, about 30 s
#
# What it does by itself:
#   - apt-get update, then apt-get install -y whatever is missing of
#     tini (tini and tini-static), dumb-init, catatonit, gnuplot-nox, gcc,
#     libc6-dev, file;
#   - builds pidone if its binary is missing:
#     cargo build --release --target x86_64-unknown-linux-musl
#     (glibc with +crt-static when the musl target is not installed);
#     PIDONE=/path/to/binary benchmarks that binary instead, e.g.
#     PIDONE=/usr/bin/tini as a stand-in while pidone does not build;
#   - compiles its helpers from bench/*.c with gcc into bench/build/;
#   - writes bench/results/latest.md (the table, with date and machine),
#     bench/results/data.tsv and bench/results/chart.png, and prints the table.
#
# Every init runs as PID 1 of a fresh PID namespace:
#     unshare --pid --fork --mount-proc --kill-child INIT -- CMD
# and each benchmark is interleaved: round r runs every init once, starting
# one further along the list each round, so machine noise hits all alike.
#
# Floor rows (bench/naive.c, bench/reaper.c, static with glibc): "naive-c"
# forks, execs and wait()s, nothing else; "reaper-c" blocks SIGCHLD, takes it
# with sigwaitinfo and reaps with waitpid(-1, WNOHANG). Neither forwards
# signals, so they run in the startup, init-alone and storm benchmarks only.
#
#   init alone   initstat.c: INIT -- /bin/true as PID 1 of a namespace it
#                sets up itself, counted like `perf stat -i`: task-clock,
#                page faults and context switches of the init process alone
#                (counters opened on that one process, enabled at its exec,
#                not inherited), and the same with its children
#                (PERF_ROUNDS rounds); medians.
#   startup      INIT -- /bin/true, against bare /bin/true under the same unshare
#                (ROUNDS rounds); median wall time; overhead = difference.
#   orphan storm storm.c makes ORPHANS orphans that exit at once (STORM_ROUNDS
#                rounds): wall time to the last reap, orphans reaped per second,
#                peak zombies, zombies left, and the init's own CPU time during
#                the storm (from /proc/1/schedstat inside the namespace).
#   signal       sigrt.c sends SIGUSR1 to PID 1 and waits for the init to
#                forward it back, SIG_TRIPS times over SIG_ROUNDS rounds, with
#                both pinned to one CPU and again to two CPUs; median and p99
#                round trip, signals lost.
#   idle         all inits side by side for IDLE_SECS with `sleep infinity` as
#                child: context switches of the init (= wake-ups, shown per
#                10 s), VmRSS; then SIGTERM, which each must pass on.
#   drain        pidone alone: drain.c leaves DRAIN_N processes that each
#                finish on SIGTERM, in a session of their own, with a soft
#                nofile of DRAIN_NOFILE; pidone gets SIGTERM and must reach
#                them all. Subreaper (a shell is PID 1, pidone its child:
#                it walks /proc) against PID 1 (kill(-1)), DRAIN_ROUNDS
#                rounds: processes reached, time from SIGTERM to exit.
#   binary       size and whether `file` calls it statically linked.
#
# Knobs (environment): QUICK ROUNDS PERF_ROUNDS STORM_ROUNDS ORPHANS
# STORM_TIMEOUT SIG_TRIPS SIG_ROUNDS IDLE_SECS DRAIN_N DRAIN_NOFILE
# DRAIN_ROUNDS PIDONE BUILD=1 (rebuild pidone even if present); ONLY=drain
# runs the drain benchmark alone and prints its table (latest.md is left
# as it is). Ratios are against the best static C peer in each column
# (the better of tini-static and catatonit). The benchmark prints figures; it
# asserts nothing about speed.

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=$here/build
results=$here/results

if [[ ${QUICK:-0} == 1 ]]; then
	mode=quick
	ROUNDS=${ROUNDS:-50} PERF_ROUNDS=${PERF_ROUNDS:-30} STORM_ROUNDS=${STORM_ROUNDS:-1} SIG_TRIPS=${SIG_TRIPS:-500}
	SIG_ROUNDS=${SIG_ROUNDS:-1} IDLE_SECS=${IDLE_SECS:-3} DRAIN_ROUNDS=${DRAIN_ROUNDS:-1}
else
	mode=full
	ROUNDS=${ROUNDS:-1000} PERF_ROUNDS=${PERF_ROUNDS:-300} STORM_ROUNDS=${STORM_ROUNDS:-7} SIG_TRIPS=${SIG_TRIPS:-2000}
	SIG_ROUNDS=${SIG_ROUNDS:-4} IDLE_SECS=${IDLE_SECS:-10} DRAIN_ROUNDS=${DRAIN_ROUNDS:-3}
fi
DRAIN_N=${DRAIN_N:-10000}
DRAIN_NOFILE=${DRAIN_NOFILE:-1024}
ORPHANS=${ORPHANS:-20000}
STORM_TIMEOUT=${STORM_TIMEOUT:-60}
WARMUP=$(( ROUNDS / 10 + 1 ))

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run me as root: every init runs in its own PID namespace"

# ---------------------------------------------------------------- cleanup
# Every measuring command runs through run(): in the background, so that a
# signal to this script is handled at once rather than after the command, and
# under timeout(1), which makes it the leader of its own process group. On
# exit, that group gets SIGKILL; unshare's --kill-child then takes the init
# down with it, and with the init the whole namespace.
work=$(mktemp -d)
bg_pid=
cleanup() {
	if [[ -n $bg_pid ]]; then
		kill -KILL -- "-$bg_pid" 2>/dev/null || kill -KILL "$bg_pid" 2>/dev/null || true
		wait "$bg_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run SECONDS CMD...: runs CMD with a time limit; returns its status.
run() {
	local limit=$1
	shift
	# A background job would start with SIGINT and SIGQUIT ignored; give the
	# inits the signal state a shell in a terminal would.
	(trap - INT QUIT TERM; exec timeout -k 5 "$limit" "$@") &
	bg_pid=$!
	local rc=0
	wait "$bg_pid" || rc=$?
	bg_pid=
	return "$rc"
}

# ---------------------------------------------------------------- setup
need=()
[[ -x /usr/bin/tini && -x /usr/bin/tini-static ]] || need+=(tini)
[[ -x /usr/bin/dumb-init ]] || need+=(dumb-init)
[[ -x /usr/bin/catatonit ]] || need+=(catatonit)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v file >/dev/null || need+=(file)
command -v unshare >/dev/null || need+=(util-linux)
command -v timeout >/dev/null || need+=(coreutils)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

stand_in=
if [[ -n ${PIDONE:-} ]]; then
	pidone=$PIDONE
	[[ -x $pidone ]] || die "PIDONE=$pidone is not an executable"
	stand_in=" (PIDONE=$pidone)"
else
	pidone=$root/target/x86_64-unknown-linux-musl/release/pidone
	if [[ ! -x $pidone || ${BUILD:-0} == 1 ]]; then
		command -v cargo >/dev/null || die "cargo not found: pidone cannot be built (or set PIDONE=binary)"
		if command -v rustup >/dev/null &&
			! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
			rustup target add x86_64-unknown-linux-musl >&2 || true
		fi
		if ! command -v rustup >/dev/null ||
			rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
			log "building pidone (release, musl)"
			(cd "$root" && cargo build --release --target x86_64-unknown-linux-musl) >&2
		else
			log "building pidone (release, glibc +crt-static: no musl target)"
			pidone=$root/target/x86_64-unknown-linux-gnu/release/pidone
			(cd "$root" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
				cargo build --release --target x86_64-unknown-linux-gnu) >&2
		fi
		[[ -x $pidone ]] || die "cargo build did not produce $pidone"
	fi
fi

mkdir -p "$build" "$results"
for prog in storm sigrt startup idle initstat naive reaper drain; do
	if [[ ! -x $build/$prog || $here/$prog.c -nt $build/$prog || $here/commands.h -nt $build/$prog ]]; then
		# Static when libc.a is there: fewer mappings to copy on each fork.
		gcc -O2 -Wall -Wextra -static -o "$build/$prog" "$here/$prog.c" 2>/dev/null ||
			gcc -O2 -Wall -Wextra -o "$build/$prog" "$here/$prog.c"
	fi
done

# The inits, then the floor rows (they forward no signal: startup, init
# alone and orphan storm only). role: pidone, peer or floor.
names=(pidone tini tini-static dumb-init catatonit naive-c reaper-c)
bins=("$pidone" /usr/bin/tini /usr/bin/tini-static /usr/bin/dumb-init /usr/bin/catatonit
	"$build/naive" "$build/reaper")
roles=(pidone peer peer peer peer floor floor)
n=${#names[@]}
nsig=5 # the first nsig inits forward signals
ns=("$(command -v unshare)" --pid --fork --mount-proc --kill-child)

# Every init must take `INIT -- CMD` and hand back the child's exit code.
for ((i = 0; i < n; i++)); do
	rc=0
	run 20 "${ns[@]}" "${bins[i]}" -- /bin/sh -c 'exit 3' || rc=$?
	[[ $rc == 3 ]] || die "${names[i]}: '${bins[i]} -- sh -c \"exit 3\"' exited $rc, not 3"
done

# order R [COUNT]: the indices of the first COUNT inits (all by default) in
# round R's order.
order() { local k m=${2:-$n}; for ((k = 0; k < m; k++)); do echo $(( (k + $1) % m )); done; }

# How busy the machine was for one second before the benchmark (all CPUs, %):
# other work skews the figures. The one-second wait is the measurement.
busy_before() {
	local a b
	a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
		busy = y[1] - x[1]; all = busy + y[2] - x[2]; printf "%.0f", all ? 100 * busy / all : 0 }'
}
busy=$(busy_before)
log "machine busy before start: $busy%"

# median / pct P: of the numbers on stdin (nearest rank for percentiles).
median() { sort -g | awk '{a[NR] = $1} END {
	if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2];
	else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
pct() { sort -g | awk -v p="$1" '{a[NR] = $1} END {
	if (NR == 0) { print "nan"; exit } i = int(NR * p / 100); if (i < NR * p / 100) i++;
	if (i < 1) i = 1; print a[i] }'; }
# field NAME KEY: the values of KEY=... on NAME's lines of storm.txt / idle.txt.
field() { awk -v n="$1" -v k="$2" '$1 == n { for (i = 2; i <= NF; i++) {
	split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$3"; }

# ---------------------------------------------------------------- drain
# drain_bench: DRAIN_ROUNDS rounds, each with pidone as subreaper and as
# PID 1 (alternating which goes first), into $work/drain.txt; the grace is
# long, so a process the drain missed shows as a wait of 60 s, not as a
# quiet SIGKILL.
drain_bench() {
	# DRAIN_N more processes must fit beside every task now running: under
	# pid_max and threads-max (the machine's), and under `ulimit -u` (the
	# tasks of this user, root included), raised here when it is short.
	local tasks need nproc
	tasks=$(awk '{split($4, a, "/"); print a[2]}' /proc/loadavg)
	need=$((DRAIN_N + tasks + 1000))
	(( need <= $(cat /proc/sys/kernel/pid_max) && need <= $(cat /proc/sys/kernel/threads-max) )) ||
		die "DRAIN_N=$DRAIN_N does not fit beside $tasks tasks: pid_max $(cat /proc/sys/kernel/pid_max), threads-max $(cat /proc/sys/kernel/threads-max)"
	nproc=$(ulimit -u)
	if [[ $nproc != unlimited ]] && ((nproc < need)); then
		ulimit -u "$need" || die "ulimit -u is $nproc, below the $need tasks DRAIN_N=$DRAIN_N needs"
		log "raised ulimit -u from $nproc to $need"
	fi
	log "drain: $DRAIN_ROUNDS rounds of $DRAIN_N leftovers, soft nofile $DRAIN_NOFILE, pidone as subreaper and as PID 1"
	: >"$work/drain.txt"
	local r mode out
	for ((r = 0; r < DRAIN_ROUNDS; r++)); do
		for mode in $( ((r % 2)) && echo pid1 subreaper || echo subreaper pid1); do
			local cmd=("${ns[@]}" "$pidone" --grace 60s)
			# A shell as PID 1 that keeps pidone as its child (no exec).
			[[ $mode == subreaper ]] && cmd=("${ns[@]}" /bin/sh -c '"$@"; exit $?' sh "$pidone" --grace 60s)
			run 300 "$build/drain" "$DRAIN_N" "$DRAIN_NOFILE" "${cmd[@]}" >"$work/out" ||
				die "drain, pidone as $mode, failed"
			out=$(cat "$work/out")
			printf '%s %s\n' "$mode" "$out" >>"$work/drain.txt"
			log "  $mode: $out"
		done
	done
}

# drain_table: the drain's figures as a markdown table.
drain_table() {
	local mode reached times med pid1_med
	pid1_med=$(field pid1 term_to_exit_ns "$work/drain.txt" | median)
	echo "| pidone drain of $DRAIN_N leftovers, soft nofile $DRAIN_NOFILE | reached (worst round) | SIGTERM to exit, median | against PID 1 | rounds (ms) |"
	echo "|---|--:|--:|--:|---|"
	for mode in subreaper pid1; do
		reached=$(field "$mode" reached "$work/drain.txt" | sort -g | head -n1)
		med=$(field "$mode" term_to_exit_ns "$work/drain.txt" | median)
		times=$(field "$mode" term_to_exit_ns "$work/drain.txt" | awk '{printf "%s%.0f", (NR > 1 ? ", " : ""), $1 / 1e6}')
		awk -v mode="$mode" -v reached="$reached" -v n="$DRAIN_N" -v med="$med" -v base="$pid1_med" -v times="$times" 'BEGIN {
			printf "| %s | %s of %s | %.0f ms | %.2f× | %s |\n", (mode == "pid1" ? "as PID 1 (kill(-1))" : "as subreaper (walks /proc)"),
				reached, n, med / 1e6, (base > 0 ? med / base : 0), times }'
	done
}

if [[ ${ONLY:-} == drain ]]; then
	drain_bench
	drain_table
	exit 0
fi

# ---------------------------------------------------------------- init alone
log "init alone: $PERF_ROUNDS rounds (+3 warm-up) of $n inits"
args=()
for ((i = 0; i < n; i++)); do
	((i == 0)) || args+=(::)
	args+=("${names[i]}" "${bins[i]}" -- /bin/true)
done
run 900 "$build/initstat" "$PERF_ROUNDS" 3 "${args[@]}" >"$work/initstat.txt"

# ---------------------------------------------------------------- startup
log "startup: $ROUNDS rounds (+$WARMUP warm-up) of $((n + 1)) commands"
args=(bare "${ns[@]}" /bin/true)
for ((i = 0; i < n; i++)); do
	args+=(:: "${names[i]}" "${ns[@]}" "${bins[i]}" -- /bin/true)
done
run 900 "$build/startup" "$ROUNDS" "$WARMUP" "${args[@]}" >"$work/startup.txt"

# ---------------------------------------------------------------- orphan storm
log "orphan storm: $STORM_ROUNDS rounds of $ORPHANS orphans"
: >"$work/storm.txt"
for ((r = 0; r < STORM_ROUNDS; r++)); do
	for i in $(order "$r"); do
		rc=0
		run $((STORM_TIMEOUT + 120)) "${ns[@]}" "${bins[i]}" -- \
			"$build/storm" "$ORPHANS" "$STORM_TIMEOUT" >"$work/out" || rc=$?
		if [[ $rc != 0 && $rc != 3 ]]; then
			die "orphan storm under ${names[i]} failed (exit $rc)"
		fi
		printf '%s %s\n' "${names[i]}" "$(cat "$work/out")" >>"$work/storm.txt"
		log "  ${names[i]}: $(cat "$work/out")"
	done
done

# ---------------------------------------------------------------- signals
# Each run pins PID 1 and sigrt to one CPU ("same") or to two ("cross"): left
# to the scheduler, a whole run lands in one mode or the other by chance.
trips=$(( (SIG_TRIPS + SIG_ROUNDS - 1) / SIG_ROUNDS ))
log "signal round trip: $SIG_ROUNDS rounds of $trips trips, on one CPU and across two"
for ((i = 0; i < nsig; i++)); do : >"$work/sig.${names[i]}.same"; : >"$work/sig.${names[i]}.cross"; done
for ((r = 0; r < SIG_ROUNDS; r++)); do
	for i in $(order "$r" "$nsig"); do
		for placement in same cross; do
			run 120 "${ns[@]}" "${bins[i]}" -- "$build/sigrt" "$trips" 10 "$placement" \
				>>"$work/sig.${names[i]}.$placement" ||
				die "signal round trip under ${names[i]} failed"
		done
	done
done

# ---------------------------------------------------------------- idle
log "idle: ${IDLE_SECS}s, all inits side by side"
args=()
for ((i = 0; i < nsig; i++)); do
	((i == 0)) || args+=(::)
	args+=("${names[i]}" "${ns[@]}" "${bins[i]}" -- /bin/sh -c 'echo ready; exec sleep infinity')
done
run $((IDLE_SECS + 60)) "$build/idle" "$IDLE_SECS" "${args[@]}" >"$work/idle.txt"

drain_bench

# ---------------------------------------------------------------- figures
bare_ns=$(awk '$1 == "bare" {print $2}' "$work/startup.txt" | median)
tsv=$results/data.tsv
# Columns 1-17 as before the floor rows (chart.gp uses their numbers); 18-24:
# the init alone (CPU µs, page faults, context switches), the init with its
# command (CPU µs, page faults), the row's role, and the size in bytes.
printf 'init\tsize_kib\tstatic\tstart_ms\toverhead_us\tstorm_ms\treaped_per_s\tpeak_zombies\tzombies_left\tstorm_cpu_ms\tsig1_med_us\tsig1_p99_us\tsig2_med_us\tsig2_p99_us\tsig_lost\twakeups_per_10s\trss_kib\tinit_cpu_us\tinit_faults\tinit_csw\tall_cpu_us\tall_faults\trole\tsize_bytes\n' >"$tsv"
for ((i = 0; i < n; i++)); do
	name=${names[i]} bin=${bins[i]} role=${roles[i]}
	size=$(stat -L -c %s "$bin")
	if file -bL "$bin" | grep -Eq 'statically linked|static-pie linked'; then static=yes; else static=no; fi
	start=$(awk -v n="$name" '$1 == n {print $2}' "$work/startup.txt" | median)
	wall=$(field "$name" wall_ns "$work/storm.txt" | median)
	peak=$(field "$name" peak_zombies "$work/storm.txt" | median)
	left=$(field "$name" zombies_left "$work/storm.txt" | sort -g | tail -n1)
	cpu=$(field "$name" init_cpu_ns "$work/storm.txt" | median)
	itask=$(field "$name" task_ns "$work/initstat.txt" | median)
	ifault=$(field "$name" faults "$work/initstat.txt" | median)
	icsw=$(field "$name" csw "$work/initstat.txt" | median)
	atask=$(field "$name" all_task_ns "$work/initstat.txt" | median)
	afault=$(field "$name" all_faults "$work/initstat.txt" | median)
	if [[ $role == floor ]]; then
		s1m=- s1p=- s2m=- s2p=- lost=- wake=- rss=-
	else
		awk '$1 == "rt" {print $2}' "$work/sig.$name.same" >"$work/rt1"
		awk '$1 == "rt" {print $2}' "$work/sig.$name.cross" >"$work/rt2"
		s1m=$(median <"$work/rt1") s1p=$(pct 99 <"$work/rt1")
		s2m=$(median <"$work/rt2") s2p=$(pct 99 <"$work/rt2")
		lost=$(cat "$work/sig.$name".* | awk '$1 == "lost" {s += $2} END {print s + 0}')
		wake=$(field "$name" wakeups "$work/idle.txt")
		rss=$(field "$name" rss_kib "$work/idle.txt")
	fi
	awk -v OFS='\t' -v name="$name" -v size="$size" -v static="$static" -v start="$start" \
		-v bare="$bare_ns" -v wall="$wall" -v orphans="$ORPHANS" -v peak="$peak" \
		-v left="$left" -v cpu="$cpu" -v s1m="$s1m" -v s1p="$s1p" -v s2m="$s2m" -v s2p="$s2p" -v lost="$lost" \
		-v wake="$wake" -v secs="$IDLE_SECS" -v rss="$rss" -v itask="$itask" -v ifault="$ifault" \
		-v icsw="$icsw" -v atask="$atask" -v afault="$afault" -v role="$role" '
		function us(v, div) { return v == "-" ? "-" : sprintf("%.2f", v / div) }
		BEGIN {
		print name, sprintf("%.1f", size / 1024), static, sprintf("%.3f", start / 1e6),
			sprintf("%.1f", (start - bare) / 1e3), sprintf("%.1f", wall / 1e6),
			sprintf("%.0f", orphans / (wall / 1e9)), peak, left, sprintf("%.1f", cpu / 1e6),
			us(s1m, 1e3), us(s1p, 1e3), us(s2m, 1e3), us(s2p, 1e3), lost,
			wake == "-" ? "-" : sprintf("%.1f", wake * 10 / secs), rss,
			sprintf("%.0f", itask / 1e3), ifault, icsw, sprintf("%.0f", atask / 1e3), afault,
			role, size }' >>"$tsv"
done

# The markdown table: each figure, and its ratio to the best static C peer's
# in that column (the lowest among the peers that `file` calls static).
table() {
	awk -F'\t' '
	function num(v) { return v != "" && v != "-" && v != "nan" }
	function ratio(v, c) { return (!num(v) || !(c in best) || best[c] + 0 == 0) ? "" : sprintf(" (%.2f×)", v / best[c]) }
	function cell(v, c, unit) { return num(v) ? v unit ratio(v, c) : "—" }
	function rt(med, p99, c) { return num(med) ? med " / " p99 " µs" ratio(med, c) : "—" }
	NR == 1 { next }
	{
		for (i = 1; i <= NF; i++) row[NR, i] = $i; last = NR
		if ($23 == "peer" && $3 == "yes")
			for (i = 2; i <= NF; i++)
				if (num($i) && (!(i in best) || $i + 0 < best[i] + 0)) best[i] = $i
	}
	END {
		print "| init | CPU, init alone | page faults, init alone | CPU, init + /bin/true | startup overhead | orphan storm | reaped/s | peak zombies | zombies left | init CPU in storm | signal RT, 1 CPU (median / p99) | signal RT, 2 CPUs (median / p99) | lost | idle wake-ups /10 s | idle RSS | binary | static |"
		print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
		for (r = 2; r <= last; r++)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				row[r, 23] == "floor" ? "*" row[r, 1] "*" : row[r, 1],
				cell(row[r, 18], 18, " µs"), cell(row[r, 19], 19, ""), cell(row[r, 21], 21, " µs"),
				cell(row[r, 5], 5, " µs"), cell(row[r, 6], 6, " ms"),
				row[r, 7], row[r, 8], row[r, 9], cell(row[r, 10], 10, " ms"),
				rt(row[r, 11], row[r, 12], 11), rt(row[r, 13], row[r, 14], 13),
				num(row[r, 15]) ? row[r, 15] : "—", cell(row[r, 16], 16, ""), cell(row[r, 17], 17, " KiB"),
				cell(row[r, 24], 24, " B"), row[r, 3]
	}' "$tsv"
}

cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
pidone_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no commit")
peers=$(dpkg-query -W -f='${Package} ${Version}, ' tini dumb-init catatonit 2>/dev/null | sed 's/, $//')
date=$(date -u '+%Y-%m-%d %H:%M UTC')
{
	echo "# pidone benchmark"
	echo
	echo "$date, $mode run on Linux $(uname -r), $(nproc) CPUs, ${cpu_model:-unknown CPU}."
	echo "pidone: \`$pidone\`$stand_in at $pidone_rev; peers from Debian: ${peers:-unknown versions}."
	echo "CPU busy with other work in the second before the run: $busy% (other work skews the figures)."
	echo "ROUNDS=$ROUNDS PERF_ROUNDS=$PERF_ROUNDS STORM_ROUNDS=$STORM_ROUNDS ORPHANS=$ORPHANS SIG_TRIPS=$SIG_TRIPS SIG_ROUNDS=$SIG_ROUNDS IDLE_SECS=$IDLE_SECS"
	echo
	table
	echo
	echo "Medians; ratios against the best static C peer in each column (tini-static or catatonit); lower is better except reaped/s."
	echo "*naive-c* (fork, exec, wait) and *reaper-c* (SIGCHLD blocked, sigwaitinfo, waitpid(-1, WNOHANG) loop) are floor rows, static glibc C built from bench/; they forward no signal, so they have no signal or idle figures."
	echo "Init alone: the init as PID 1 of its own namespace running /bin/true, counted like \`perf stat -i\` (task-clock and page faults of that one process from its exec of INIT, children not inherited; initstat.c), $PERF_ROUNDS interleaved rounds; init + /bin/true counts the children too."
	# shellcheck disable=SC2016 # the backquotes are markdown
	printf 'Startup overhead is the median of `unshare --pid --fork --mount-proc INIT -- /bin/true` minus that of bare `/bin/true` under the same unshare (%.3f ms).\n' \
		"$(awk -v b="$bare_ns" 'BEGIN {print b / 1e6}')"
	echo "Orphan storm: wall time from releasing $ORPHANS orphans to the last reap; init CPU is PID 1's own run time over the storm; peak zombies is sampled (exited minus reaped); zombies left is counted in /proc at the end and should be 0."
	echo "Signal RT: SIGUSR1 from the child to PID 1 and forwarded back, $SIG_TRIPS times with both pinned to one CPU, $SIG_TRIPS times pinned to two (placements achieved: $(
		cat "$work"/sig.*.same "$work"/sig.*.cross | awk '$1 == "placement" {print $2}' | sort -u | paste -sd, -)); lost = not back within 1 s."
	echo "Idle: context switches of the init over ${IDLE_SECS} s with an idle child, scaled to 10 s; RSS is VmRSS."
	echo "Then each idle init got SIGTERM; exit status (143 = forwarded, child died of it): $(
		awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^exit=/) printf "%s%s %s", sep, $1, substr($i, 6); sep = ", " }' "$work/idle.txt")."
	echo
	echo "Orphan storm, every round in the order run (wall ms / init CPU ms):"
	echo
	awk '{ w = c = ""; for (i = 2; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == "wall_ns") w = kv[2]; if (kv[1] == "init_cpu_ns") c = kv[2] }
		if (!($1 in cells)) order[++n] = $1
		cells[$1] = cells[$1] sprintf(" %.0f / %.0f |", w / 1e6, c / 1e6); runs[$1]++
		if (runs[$1] > most) most = runs[$1] }
		END { printf "| init |"; for (r = 1; r <= most; r++) printf " round %d |", r; print ""
		printf "|---|"; for (r = 1; r <= most; r++) printf "--:|"; print ""
		for (k = 1; k <= n; k++) print "| " order[k] " |" cells[order[k]] }' "$work/storm.txt"
	echo
	echo "Drain (pidone only): drain.c leaves $DRAIN_N processes in a session of their own, each exiting on SIGTERM, under a soft nofile of $DRAIN_NOFILE; pidone gets SIGTERM, forwards it to the command, which dies of it, and drains the rest (--grace 60s, so a miss would show as a minute). Reached = processes whose TERM handler ran; time = SIGTERM to pidone's exit; $DRAIN_ROUNDS rounds per mode, interleaved. As subreaper a shell is PID 1 and pidone its child: it finds the processes by walking /proc; as PID 1 it sends kill(-1)."
	echo
	drain_table
} >"$work/latest.md"
mv "$work/latest.md" "$results/latest.md"

gnuplot -e "data='$tsv'; out='$results/chart.png'; subtitle='$date, $(uname -r), $(nproc) CPUs$stand_in'" \
	"$here/chart.gp"

cat "$results/latest.md"
log "wrote $results/latest.md, $tsv and $results/chart.png"
