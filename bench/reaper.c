/*
 * reaper: the floor for reaping. It blocks SIGCHLD, forks and execs its
 * command (which gets the signal mask back), then takes SIGCHLD with
 * sigwaitinfo() and after each one reaps with waitpid(-1, WNOHANG) until
 * nothing is left to reap. It forwards no signal and installs no handler.
 *
 *     reaper [--] CMD [ARG]...
 *
 * It exits once its own child has been reaped, with the child's status (or
 * 128 + the signal that killed it); 127 when the command cannot be run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int first = (argc > 1 && strcmp(argv[1], "--") == 0) ? 2 : 1;
	if (first >= argc) {
		fputs("usage: reaper [--] CMD [ARG]...\n", stderr);
		return 2;
	}
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	pid_t child = fork();
	if (child < 0) {
		perror("reaper: fork");
		return 1;
	}
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[first], &argv[first]);
		perror("reaper: exec");
		_exit(127);
	}
	for (;;) {
		siginfo_t si;
		if (sigwaitinfo(&chld, &si) < 0 && errno != EINTR) {
			perror("reaper: sigwaitinfo");
			return 1;
		}
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			if (pid == child)
				return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
}
