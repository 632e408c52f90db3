/*
 * sigrt: the signal round-trip child. Run it as the main child of the init
 * under test, in a fresh PID namespace:
 *
 *     unshare --pid --fork --mount-proc INIT -- sigrt [TRIPS] [SIGNAL]
 *
 * TRIPS times (default 2000) it sends SIGNAL (default SIGUSR1, 10) to PID 1
 * and waits, with the signal blocked, for the init to forward it back. A trip
 * is timed with CLOCK_MONOTONIC from just before kill() to the return of
 * sigtimedwait(). A signal that is not back within one second counts as lost.
 *
 * Output: one line per trip, "rt NANOSECONDS", then "lost N" and
 * "foreign N" (signals that came back from another sender than PID 1).
 * Ten unrecorded trips come first, to warm caches and page in both programs.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 10

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
		fprintf(stderr, "usage: sigrt [TRIPS] [SIGNAL]\n");
		return 2;
	}
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
			lost++;
			continue;
		}
		if (info.si_pid != 1)
			foreign++;
		if (i >= 0)
			rt[recorded++] = t1 - t0;
	}
	for (int i = 0; i < recorded; i++)
		printf("rt %lld\n", rt[i]);
	printf("lost %d\nforeign %d\n", lost, foreign);
	return 0;
}
