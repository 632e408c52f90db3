/*
 * drain: how long an init takes, from a SIGTERM to its exit, to drain N
 * leftovers that each finish on SIGTERM, and how many of them it reached.
 *
 *     drain N NOFILE INIT [ARG]...        the harness
 *     drain --crowd N                     the command it gives the init
 *
 * The harness starts `INIT [ARG]... -- drain --crowd N` (INIT and its
 * arguments as given: `unshare --pid --fork --mount-proc --kill-child
 * pidone --grace 60s` for PID 1; for a subreaper the same with a shell as
 * PID 1 that runs pidone as its child) with RLIMIT_NOFILE's soft limit set
 * to NOFILE (the hard one is left alone).
 * The command makes a spawner in a session of its own (so a signal to the
 * command's process group misses the crowd) that forks N processes and
 * exits, leaving them to the init; each sets a SIGTERM handler that writes
 * one byte into a pipe the harness holds, then sleeps in pause(). Once all
 * N have their handler, the command says so on a second pipe and waits.
 *
 * Then the harness tells the command to go (a byte on a third pipe) and
 * the command sends SIGTERM to its parent, the init, which forwards it to
 * the command, which dies of it, and drains the N leftovers, which write
 * their byte and exit. The harness waits for INIT to exit. It prints one
 * line:
 *
 *   n=N reached=R term_to_exit_ns=T status=S
 *
 * reached counts the bytes: the leftovers whose handler ran (N when the
 * drain reached every one); status is the init's wait status as a shell
 * prints it (143: the command died of the SIGTERM). Times are
 * CLOCK_MONOTONIC from the "go" (one pipe wake-up before the kill(2)) to
 * the waitpid(2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The crowd's descriptors, as the harness hands them down. */
#define REACHED_FD 3
#define READY_FD 4
#define GO_FD 5

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_term(int sig)
{
	(void)sig;
	char byte = 't';
	(void)!write(REACHED_FD, &byte, 1);
	_exit(0);
}

/* Under the init: a spawner in its own session makes n processes and
 * exits once each has its handler; then say "ready" and wait for the end. */
static int crowd(long n)
{
	int ready[2];
	if (pipe(ready) != 0) {
		perror("drain: pipe");
		return 1;
	}
	pid_t spawner = fork();
	if (spawner < 0) {
		perror("drain: fork");
		return 1;
	}
	if (spawner == 0) {
		setsid();
		close(ready[0]);
		for (long i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid < 0) {
				perror("drain: fork");
				_exit(1);
			}
			if (pid == 0) {
				struct sigaction sa;
				memset(&sa, 0, sizeof sa);
				sa.sa_handler = on_term;
				sigaction(SIGTERM, &sa, NULL);
				char byte = 'r';
				(void)!write(ready[1], &byte, 1);
				close(ready[1]);
				close(READY_FD);
				close(GO_FD);
				for (;;)
					pause();
			}
		}
		_exit(0);
	}
	close(ready[1]);
	close(REACHED_FD);
	long got = 0;
	char buf[4096];
	while (got < n) {
		ssize_t k = read(ready[0], buf, sizeof buf);
		if (k <= 0)
			break;
		got += k;
	}
	waitpid(spawner, NULL, 0);
	if (got < n) {
		fprintf(stderr, "drain: only %ld of %ld ready\n", got, n);
		return 1;
	}
	(void)!write(READY_FD, "r", 1);
	close(READY_FD);
	char go;
	if (read(GO_FD, &go, 1) == 1)
		kill(getppid(), SIGTERM);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--crowd") == 0)
		return crowd(atol(argv[2]));
	if (argc < 4) {
		fprintf(stderr, "usage: drain N NOFILE INIT [ARG]...\n");
		return 2;
	}
	long n = atol(argv[1]);
	rlim_t nofile = (rlim_t)atol(argv[2]);
	char **init = &argv[3];

	/* The pipes above the descriptors the crowd gets (3, 4 and 5). */
	int reached[2], ready[2], go[2];
	if (pipe(reached) != 0 || pipe(ready) != 0 || pipe(go) != 0) {
		perror("drain: pipe");
		return 1;
	}
	int *ends[] = {&reached[0], &reached[1], &ready[0], &ready[1], &go[0], &go[1]};
	for (int i = 0; i < 6; i++) {
		int high = fcntl(*ends[i], F_DUPFD_CLOEXEC, 10);
		close(*ends[i]);
		*ends[i] = high;
	}
	/* N bytes must fit while nobody reads: the harness reads only at the end. */
	if (fcntl(reached[1], F_SETPIPE_SZ, (int)(n + 4096)) < 0 && n > 65536)
		perror("drain: F_SETPIPE_SZ");

	int count = 0;
	while (init[count])
		count++;
	char **cmd = calloc((size_t)count + 5, sizeof *cmd);
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (!cmd || len <= 0) {
		perror("drain");
		return 1;
	}
	self[len] = 0;
	memcpy(cmd, init, (size_t)count * sizeof *cmd);
	cmd[count] = "--";
	cmd[count + 1] = self;
	cmd[count + 2] = "--crowd";
	cmd[count + 3] = argv[1];

	pid_t child = fork();
	if (child < 0) {
		perror("drain: fork");
		return 1;
	}
	if (child == 0) {
		struct rlimit lim;
		getrlimit(RLIMIT_NOFILE, &lim);
		lim.rlim_cur = nofile < lim.rlim_max ? nofile : lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
		/* dup2 clears close-on-exec on the copies; the originals go. */
		dup2(reached[1], REACHED_FD);
		dup2(ready[1], READY_FD);
		dup2(go[0], GO_FD);
		execvp(cmd[0], cmd);
		perror("drain: exec");
		_exit(127);
	}
	close(reached[1]);
	close(ready[1]);
	close(go[0]);
	char byte;
	if (read(ready[0], &byte, 1) != 1) {
		fprintf(stderr, "drain: the crowd never got ready\n");
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return 1;
	}
	long long t0 = now_ns();
	(void)!write(go[1], "g", 1);
	int status = 0;
	waitpid(child, &status, 0);
	long long t1 = now_ns();

	/* Count the bytes; a leftover the init left behind still holds the
	 * pipe, so stop at a second without news rather than wait for EOF. */
	long got = 0;
	char buf[65536];
	struct pollfd pfd = {.fd = reached[0], .events = POLLIN};
	while (poll(&pfd, 1, 1000) > 0) {
		ssize_t k = read(reached[0], buf, sizeof buf);
		if (k <= 0)
			break;
		got += k;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("n=%ld reached=%ld term_to_exit_ns=%lld status=%d\n", n, got, t1 - t0, code);
	return 0;
}
