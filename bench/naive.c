/*
 * naive: the floor for an init's startup. It forks, execs its command and
 * waits, nothing more: no signal is forwarded, no handler installed.
 *
 *     naive [--] CMD [ARG]...
 *
 * It waits with wait(2), i.e. for any child, until its own child is the one
 * returned, so orphans handed to it as PID 1 are reaped on the way (this is
 * what lets it run the orphan storm). Exit status: the child's, or 128 + the
 * signal that killed it; 127 when the command cannot be run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int first = (argc > 1 && strcmp(argv[1], "--") == 0) ? 2 : 1;
	if (first >= argc) {
		fputs("usage: naive [--] CMD [ARG]...\n", stderr);
		return 2;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("naive: fork");
		return 1;
	}
	if (child == 0) {
		execvp(argv[first], &argv[first]);
		perror("naive: exec");
		_exit(127);
	}
	int st;
	for (;;) {
		pid_t pid = wait(&st);
		if (pid == child)
			break;
		if (pid < 0 && errno != EINTR) {
			perror("naive: wait");
			return 1;
		}
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
