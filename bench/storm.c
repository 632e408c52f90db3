/*
 * storm: the orphan-storm child. Run it as the main child of the init under
 * test, as PID 2 of a fresh PID namespace with its own /proc:
 *
 *     unshare --pid --fork --mount-proc INIT -- storm [ORPHANS] [TIMEOUT_S]
 *
 * It makes ORPHANS processes (default 20000) through a short-lived spawner,
 * so that they are reparented to PID 1, lets every one of them exit at the
 * same instant (they all block on one pipe, which storm then closes), and
 * watches PID 1 reap them. It prints one line of key=value figures:
 *
 *   wall_ns       from releasing the orphans to the sweep that found none left
 *   reaped        orphans that were reaped (ORPHANS unless it timed out)
 *   peak_zombies  largest number of orphans seen exited but not yet reaped
 *   zombies_left  processes in state Z in this namespace's /proc at the end
 *   init_cpu_ns   CPU time PID 1 spent during the storm (/proc/1/schedstat)
 *   sweeps        how many times the sampler looked
 *   realtime      1 if the sampler got SCHED_FIFO (see below)
 *
 * How "reaped" and "exited" are seen: each orphan bumps a counter in shared
 * memory just before _exit(), so "exited" is known without reading /proc;
 * "still there" is kill(pid, 0), which succeeds for a live process and for a
 * zombie and fails with ESRCH once PID 1 has reaped it. Nothing else forks in
 * the namespace during the storm, so a pid cannot be reused under us.
 * zombies = exited - reaped, per sweep, is therefore an estimate that may be
 * off by the orphans caught between the counter and the end of their exit.
 *
 * Once the orphans go, 20,000 runnable processes share the CPUs fairly, and
 * a sampler of normal priority would get one turn in 20,000: its sweeps would
 * smear over seconds. So the sampler runs at real-time priority (SCHED_FIFO 1,
 * when allowed) and, to bound what it takes from the storm, pauses between
 * sweeps for four times the CPU time its last sweep used, and at least 1 ms:
 * at most a fifth of one core. The pause sets the time resolution of wall_ns;
 * it is not used to wait for anything.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
	atomic_int exited;
	pid_t pids[];
};

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * PID 1's own CPU time in ns, children not included. schedstat's first field
 * is the scheduler's exact run time; /proc/1/stat's utime+stime is the
 * fallback, in clock ticks (10 ms each, usually).
 */
static long long init_cpu_ns(void)
{
	char buf[1024];
	if (read_file("/proc/1/schedstat", buf, sizeof buf) == 0) {
		long long ns = atoll(buf);
		if (ns > 0)
			return ns;
	}
	if (read_file("/proc/1/stat", buf, sizeof buf) == 0) {
		char *p = strrchr(buf, ')');
		unsigned long long ut, st;
		/* after ")": state ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime stime */
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) == 2)
			return (long long)(ut + st) * (1000000000LL / sysconf(_SC_CLK_TCK));
	}
	return -1;
}

/* Processes in state Z in this namespace, read from its /proc. */
static int count_zombies(void)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	int zombies = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[288], buf[1024];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if (read_file(path, buf, sizeof buf) != 0)
			continue;
		char *p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'Z')
			zombies++;
	}
	closedir(d);
	return zombies;
}

static void die(const char *what)
{
	fprintf(stderr, "storm: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	long long timeout_ns = (argc > 2 ? atoll(argv[2]) : 60) * 1000000000LL;
	if (n <= 0) {
		fprintf(stderr, "usage: storm [ORPHANS] [TIMEOUT_S]\n");
		return 2;
	}
	if (getpid() != 2)
		fprintf(stderr, "storm: warning: pid %d, expected to be PID 2 under an init\n",
			(int)getpid());

	struct shared *sh = mmap(NULL, sizeof *sh + (size_t)n * sizeof(pid_t),
				 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	int go[2], ready[2];
	if (pipe2(go, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
		die("pipe");

	pid_t spawner = fork();
	if (spawner < 0)
		die("fork");
	if (spawner == 0) {
		close(ready[0]);
		for (int i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid < 0) {
				fprintf(stderr, "storm: fork of orphan %d: %s\n", i, strerror(errno));
				_exit(1);
			}
			if (pid == 0) {
				char c = 'r';
				close(go[1]);
				if (write(ready[1], &c, 1) != 1)
					_exit(1);
				close(ready[1]);
				/* Blocks until storm closes the last write end. */
				while (read(go[0], &c, 1) < 0 && errno == EINTR)
					;
				atomic_fetch_add(&sh->exited, 1);
				_exit(0);
			}
			sh->pids[i] = pid;
		}
		/* Exiting hands every orphan to PID 1. */
		_exit(0);
	}

	/* Every orphan says "ready" once it no longer holds the write end of
	 * the go pipe; EOF comes early if the spawner gave up. */
	close(ready[1]);
	close(go[0]);
	int got = 0;
	char buf[4096];
	while (got < n) {
		ssize_t r = read(ready[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (int)r;
	}
	int st;
	while (waitpid(spawner, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid spawner");
	if (got != n || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		close(go[1]); /* let the ones that exist go; PID 1 reaps them */
		fprintf(stderr, "storm: only %d of %d orphans started\n", got, n);
		return 1;
	}

	pid_t *left = malloc((size_t)n * sizeof(pid_t));
	if (!left)
		die("malloc");
	memcpy(left, sh->pids, (size_t)n * sizeof(pid_t));
	int remaining = n, peak = 0, sweeps = 0;

	struct sched_param rt = { .sched_priority = 1 };
	int realtime = sched_setscheduler(0, SCHED_FIFO, &rt) == 0;

	long long cpu0 = init_cpu_ns();
	long long t0 = now_ns();
	close(go[1]); /* the storm */
	long long t1 = t0;
	for (;;) {
		long long c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		int j = 0;
		for (int i = 0; i < remaining; i++)
			if (kill(left[i], 0) == 0 || errno != ESRCH)
				left[j++] = left[i];
		remaining = j;
		int zombies = atomic_load(&sh->exited) - (n - remaining);
		if (zombies > peak)
			peak = zombies;
		sweeps++;
		t1 = now_ns();
		if (remaining == 0 || t1 - t0 > timeout_ns)
			break;
		long long pause = 4 * (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
		if (pause < 1000000)
			pause = 1000000;
		struct timespec ts = { pause / 1000000000LL, pause % 1000000000LL };
		nanosleep(&ts, NULL);
	}
	long long cpu1 = init_cpu_ns();
	int zombies_left = count_zombies();

	printf("orphans=%d wall_ns=%lld reaped=%d peak_zombies=%d zombies_left=%d "
	       "init_cpu_ns=%lld sweeps=%d realtime=%d\n",
	       n, t1 - t0, n - remaining, peak, zombies_left,
	       (cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1, sweeps, realtime);
	return remaining == 0 ? 0 : 3;
}
