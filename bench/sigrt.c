/*
 * sigrt: the signal round-trip child. Run it as the main child of the init
 * under test, in a fresh PID namespace:
 *
 *     unshare --pid --fork --mount-proc INIT -- sigrt [TRIPS] [SIGNAL] [same|cross]
 *
 * TRIPS times (default 2000) it sends SIGNAL (default SIGUSR1, 10) to PID 1
 * and waits, with the signal blocked, for the init to forward it back. A trip
 * is timed with CLOCK_MONOTONIC from just before kill() to the return of
 * sigtimedwait(). A signal that is not back within one second counts as lost;
 * after ten losses it stops early (an init that drops the signal would
 * otherwise hold the benchmark for TRIPS seconds).
 *
 * Where the two processes run decides most of the time: on one CPU a trip is
 * two context switches; across two CPUs each hop is an inter-processor wake-up,
 * several times dearer in a VM. Left to itself the scheduler picks one or the
 * other for a whole run, so "same" pins PID 1 and this process to one CPU,
 * and "cross" pins them to two different ones (sched_setaffinity(2) on PID 1:
 * we are root in its namespace).
 *
 * Output: one line per trip, "rt NANOSECONDS", then "lost N", "foreign N"
 * (signals that came back from another sender than PID 1) and "placement P",
 * P being same, cross, or free when the pinning asked for could not be done.
 * Ten unrecorded trips come first, to warm caches and page in both programs.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 10

/* Pins PID 1 to the first CPU we may use, and us to the same one or the
 * next. Returns the placement achieved. */
static const char *place(const char *want)
{
	cpu_set_t allowed, one;
	int cpus[2], found = 0;
	int cross = strcmp(want, "cross") == 0;
	if (!cross && strcmp(want, "same") != 0)
		return "free";
	if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
		return "free";
	for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
		if (CPU_ISSET(c, &allowed))
			cpus[found++] = c;
	if (found < 1 + cross)
		return "free";
	CPU_ZERO(&one);
	CPU_SET(cpus[0], &one);
	if (sched_setaffinity(1, sizeof one, &one) != 0)
		return "free";
	CPU_ZERO(&one);
	CPU_SET(cpus[cross], &one);
	if (sched_setaffinity(0, sizeof one, &one) != 0)
		return "free";
	return cross ? "cross" : "same";
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int trips = argc > 1 ? atoi(argv[1]) : 2000;
	int sig = argc > 2 ? atoi(argv[2]) : SIGUSR1;
	if (trips <= 0 || sig <= 0 || sig >= NSIG) {
		fprintf(stderr, "usage: sigrt [TRIPS] [SIGNAL] [same|cross]\n");
		return 2;
	}
	const char *placement = place(argc > 3 ? argv[3] : "free");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		perror("sigrt: sigprocmask");
		return 1;
	}
	long long *rt = malloc((size_t)trips * sizeof *rt);
	if (!rt) {
		perror("sigrt: malloc");
		return 1;
	}

	const struct timespec limit = { 1, 0 };
	int recorded = 0, lost = 0, foreign = 0;
	for (int i = -WARMUP; i < trips; i++) {
		siginfo_t info;
		long long t0 = now_ns();
		if (kill(1, sig) != 0) {
			perror("sigrt: kill(1)");
			return 1;
		}
		int got = sigtimedwait(&set, &info, &limit);
		long long t1 = now_ns();
		if (got != sig) {
			if (++lost >= 10)
				break;
			continue;
		}
		if (info.si_pid != 1)
			foreign++;
		if (i >= 0)
			rt[recorded++] = t1 - t0;
	}
	for (int i = 0; i < recorded; i++)
		printf("rt %lld\n", rt[i]);
	printf("lost %d\nforeign %d\nplacement %s\n", lost, foreign, placement);
	return 0;
}
