/*
 * initstat: what starting up and running a command costs the init process
 * alone, as PID 1 of a fresh PID namespace. The counters are the kernel's
 * software events, the ones `perf stat -i` reads (no perf binary needed).
 *
 *     initstat ROUNDS WARMUP NAME INIT ARGV... [:: NAME INIT ARGV...]...
 *
 * Each run: clone(CLONE_NEWPID | CLONE_NEWNS) makes a child that is PID 1 of
 * its own namespace; it makes its mounts private, mounts a proc of the new
 * namespace on /proc (as `unshare --pid --fork --mount-proc` does) and waits
 * on a pipe. Meanwhile the parent opens counters on that one process with
 * perf_event_open(pid = child, inherit = 0, enable_on_exec = 1), then lets it
 * go; the child execs INIT ARGV, and the counters start at that exec: the
 * namespace setup is not counted, nor are the init's children. A second set
 * with inherit = 1 counts the init and everything it starts.
 *
 * Rounds are interleaved as in startup.c (round r starts with command r mod
 * n); WARMUP rounds run first, unrecorded. Output, one line per recorded run:
 *
 *     NAME task_ns=N faults=N csw=N instructions=N|-1 all_task_ns=N all_faults=N
 *
 * task_ns is task-clock (CPU time, user + kernel), faults page faults, csw
 * context switches, instructions -1 when the CPU's counters are not there
 * (most VMs); all_* count the init with its children. A command that does
 * not exit 0 stops the benchmark with exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"

enum { TASK, FAULTS, CSW, INSNS, ALL_TASK, ALL_FAULTS, NCOUNTERS };

static int counter(pid_t pid, uint32_t type, uint64_t config, int inherit)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = type;
	a.config = config;
	a.disabled = 1;
	a.enable_on_exec = 1;
	a.inherit = (unsigned)inherit;
	return (int)syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static long long value(int fd)
{
	uint64_t v;
	if (fd < 0 || read(fd, &v, sizeof v) != sizeof v)
		return -1;
	return (long long)v;
}

/* One run of CMD; fills counts[]. Returns the wait status, or -1. */
static int run(struct cmd *c, long long counts[NCOUNTERS])
{
	int go[2];
	if (pipe2(go, O_CLOEXEC) != 0) {
		perror("initstat: pipe");
		return -1;
	}
	/* fork-like clone: same stack, copy-on-write. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		perror("initstat: clone");
		return -1;
	}
	if (pid == 0) {
		char b;
		close(go[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
			perror("initstat: mount /proc");
			_exit(126);
		}
		if (read(go[0], &b, 1) != 1)
			_exit(126);
		/* The command's stdout goes to /dev/null; stderr is left alone. */
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0 && null != STDOUT_FILENO) {
			dup2(null, STDOUT_FILENO);
			close(null);
		}
		execvp(c->argv[0], c->argv);
		perror("initstat: exec");
		_exit(127);
	}
	close(go[0]);
	int fd[NCOUNTERS] = {
		counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, 0),
		counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, 0),
		counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES, 0),
		counter(pid, PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, 0),
		counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, 1),
		counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, 1),
	};
	int ok = fd[TASK] >= 0 && fd[FAULTS] >= 0 && fd[CSW] >= 0 && fd[ALL_TASK] >= 0 &&
		 fd[ALL_FAULTS] >= 0;
	if (!ok)
		perror("initstat: perf_event_open");
	/* Closing the pipe unread would let the child go too: say go only when
	 * the counters are there, else kill it. */
	if (!ok || write(go[1], "g", 1) != 1)
		kill(pid, SIGKILL);
	close(go[1]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("initstat: waitpid");
			return -1;
		}
	for (int i = 0; i < NCOUNTERS; i++) {
		counts[i] = value(fd[i]);
		if (fd[i] >= 0)
			close(fd[i]);
	}
	return ok ? st : -1;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: initstat ROUNDS WARMUP NAME INIT ARGV... [:: NAME INIT ARGV...]...\n");
		return 2;
	}
	int rounds = atoi(argv[1]), warmup = atoi(argv[2]);
	struct cmd *cmds;
	int n = split_commands(argc, argv, "initstat", &cmds);
	if (n < 0)
		return 2;
	for (int r = -warmup; r < rounds; r++)
		for (int k = 0; k < n; k++) {
			struct cmd *c = &cmds[(((r + k) % n) + n) % n];
			long long v[NCOUNTERS];
			int st = run(c, v);
			if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "initstat: %s: command failed (wait status 0x%x)\n",
					c->name, st);
				return 1;
			}
			if (r >= 0)
				printf("%s task_ns=%lld faults=%lld csw=%lld instructions=%lld "
				       "all_task_ns=%lld all_faults=%lld\n",
				       c->name, v[TASK], v[FAULTS], v[CSW], v[INSNS], v[ALL_TASK],
				       v[ALL_FAULTS]);
		}
	return 0;
}
