/*
 * startup: times whole commands, interleaved.
 *
 *     startup ROUNDS WARMUP NAME ARGV... [:: NAME ARGV...]...
 *
 * Each round runs every command once, starting one further along the list
 * each round (round r starts with command r mod n), so that drifting machine
 * noise falls on all commands alike. WARMUP rounds run first, unrecorded.
 * Each run is posix_spawnp() to waitpid(), timed with CLOCK_MONOTONIC; the
 * command's stdout goes to /dev/null, its stderr is left alone.
 *
 * Output: one line per recorded run, "NAME NANOSECONDS". A command that does
 * not exit 0 stops the benchmark with exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "commands.h"

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: startup ROUNDS WARMUP NAME ARGV... [:: NAME ARGV...]...\n");
		return 2;
	}
	int rounds = atoi(argv[1]), warmup = atoi(argv[2]);
	struct cmd *cmds;
	int n = split_commands(argc, argv, "startup", &cmds);
	if (n < 0)
		return 2;

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);

	for (int r = -warmup; r < rounds; r++) {
		for (int k = 0; k < n; k++) {
			struct cmd *c = &cmds[(((r + k) % n) + n) % n];
			pid_t pid;
			int st;
			long long t0 = now_ns();
			int err = posix_spawnp(&pid, c->argv[0], &fa, NULL, c->argv, environ);
			if (err) {
				fprintf(stderr, "startup: cannot run %s: %s\n", c->argv[0], strerror(err));
				return 1;
			}
			while (waitpid(pid, &st, 0) < 0)
				if (errno != EINTR) {
					perror("startup: waitpid");
					return 1;
				}
			long long t1 = now_ns();
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "startup: %s: command failed (wait status 0x%x)\n",
					c->name, st);
				return 1;
			}
			if (r >= 0)
				printf("%s %lld\n", c->name, t1 - t0);
		}
	}
	return 0;
}
