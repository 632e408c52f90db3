/*
 * idle: how often an idle init wakes up, and how much memory it holds.
 *
 *     idle SECONDS NAME ARGV... [:: NAME ARGV...]...
 *
 * Every ARGV must start an init as the only child of the spawned process and
 * print "ready" on stdout once the init's own child is running, e.g.
 *
 *     unshare --pid --fork --mount-proc --kill-child INIT -- \
 *         sh -c 'echo ready; exec sleep infinity'
 *
 * All the commands run side by side over the same window, so they share the
 * same machine noise. For each init (the child of the spawned process), this
 * reads the context-switch counts and VmRSS from /proc/PID/status once all
 * say "ready", again SECONDS later, and prints
 *
 *     NAME wakeups=N voluntary=N nonvoluntary=N rss_kib=N exit=STATUS
 *
 * where wakeups is the sum of both context-switch deltas (every wake-up of a
 * sleeping process ends in a switch away from it) and exit is the exit status
 * of the spawned process once the init was sent SIGTERM (143 when the init
 * forwarded it and reported the child's death as a shell would).
 *
 * The spawned processes die with this program (PR_SET_PDEATHSIG); with
 * unshare's --kill-child their init dies too, and the namespace with it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct job {
	const char *name;
	char **argv;
	pid_t spawned, init;
	int fd;          /* read end of the spawned command's stdout; -1 at EOF */
	char buf[256];
	size_t len;
	int ready;
	long vol0, nvol0, vol1, nvol1, rss;
	int status;
};

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int status_fields(pid_t pid, long *vol, long *nvol, long *rss)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	*vol = *nvol = *rss = -1;
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "voluntary_ctxt_switches: %ld", vol);
		sscanf(line, "nonvoluntary_ctxt_switches: %ld", nvol);
		sscanf(line, "VmRSS: %ld", rss);
	}
	fclose(f);
	return (*vol < 0 || *nvol < 0) ? -1 : 0;
}

/* The only child of pid: from /proc/PID/task/PID/children where the kernel
 * has it, else by scanning every process's parent. */
static pid_t only_child(pid_t pid)
{
	char path[288];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "re");
	if (f) {
		int child = 0;
		int ok = fscanf(f, "%d", &child) == 1;
		fclose(f);
		if (ok)
			return child;
	}
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	struct dirent *e;
	pid_t found = -1;
	while ((e = readdir(d))) {
		char buf[512];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *s = fopen(path, "re");
		if (!s)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, s);
		fclose(s);
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		int ppid;
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == pid) {
			found = atoi(e->d_name);
			break;
		}
	}
	closedir(d);
	return found;
}

static struct job *jobs;
static int njobs;

static void kill_all(void)
{
	for (int i = 0; i < njobs; i++) {
		if (jobs[i].init > 0)
			kill(jobs[i].init, SIGKILL);
		if (jobs[i].spawned > 0)
			kill(jobs[i].spawned, SIGKILL);
	}
}

/* Reads what is there from every open fd until pred() holds for all jobs or
 * the deadline passes. Returns 0 when it holds. */
static int pump(long long deadline, int (*pred)(struct job *))
{
	struct pollfd *pfd = calloc((size_t)njobs, sizeof *pfd);
	for (;;) {
		int pending = 0;
		for (int i = 0; i < njobs; i++) {
			pfd[i].fd = pred(&jobs[i]) ? -1 : jobs[i].fd;
			pfd[i].events = POLLIN;
			pending += pfd[i].fd >= 0;
		}
		if (!pending) {
			free(pfd);
			for (int i = 0; i < njobs; i++)
				if (!pred(&jobs[i]))
					return -1; /* EOF before the predicate held */
			return 0;
		}
		long long left = deadline - now_ns();
		if (left <= 0) {
			free(pfd);
			return -1;
		}
		int r = poll(pfd, (nfds_t)njobs, (int)(left / 1000000) + 1);
		if (r < 0 && errno != EINTR) {
			perror("idle: poll");
			free(pfd);
			return -1;
		}
		for (int i = 0; i < njobs && r > 0; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			struct job *j = &jobs[i];
			char tmp[256];
			ssize_t got = read(j->fd, tmp, sizeof tmp);
			if (got <= 0) {
				close(j->fd);
				j->fd = -1;
				continue;
			}
			size_t room = sizeof j->buf - 1 - j->len;
			size_t take = (size_t)got < room ? (size_t)got : room;
			memcpy(j->buf + j->len, tmp, take);
			j->len += take;
			j->buf[j->len] = '\0';
			if (strstr(j->buf, "ready\n"))
				j->ready = 1;
		}
	}
}

static int is_ready(struct job *j) { return j->ready; }
static int is_closed(struct job *j) { return j->fd < 0; }

/* Waits until PID is in state S (asleep), or DEADLINE (ns) passes: -1. */
static int wait_asleep(pid_t pid, long long deadline)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	while (now_ns() < deadline) {
		FILE *f = fopen(path, "r");
		if (!f)
			return -1;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *paren = strrchr(buf, ')');
		if (paren && paren[1] == ' ' && paren[2] == 'S')
			return 0;
		sched_yield();
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: idle SECONDS NAME ARGV... [:: NAME ARGV...]...\n");
		return 2;
	}
	double seconds = atof(argv[1]);
	jobs = calloc((size_t)argc, sizeof *jobs);
	for (int i = 2; i < argc;) {
		jobs[njobs].name = argv[i++];
		jobs[njobs].argv = &argv[i];
		while (i < argc && strcmp(argv[i], "::") != 0)
			i++;
		if (i < argc)
			argv[i++] = NULL;
		njobs++;
	}

	pid_t self = getpid();
	for (int i = 0; i < njobs; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) != 0) {
			perror("idle: pipe");
			kill_all();
			return 1;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("idle: fork");
			kill_all();
			return 1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != self)
				_exit(1);
			dup2(p[1], STDOUT_FILENO);
			execvp(jobs[i].argv[0], jobs[i].argv);
			fprintf(stderr, "idle: cannot run %s: %s\n", jobs[i].argv[0], strerror(errno));
			_exit(127);
		}
		close(p[1]);
		jobs[i].spawned = pid;
		jobs[i].fd = p[0];
	}

	if (pump(now_ns() + 20000000000LL, is_ready) != 0) {
		fprintf(stderr, "idle: not every init said ready\n");
		kill_all();
		return 1;
	}
	for (int i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];
		j->init = only_child(j->spawned);
		/*
		 * "ready" comes from the child, which may print it before its init
		 * has finished starting up: count from the moment the init is
		 * asleep (state S), so its start-up is not taken for a wake-up.
		 */
		if (j->init > 0 && wait_asleep(j->init, now_ns() + 5000000000LL) != 0) {
			fprintf(stderr, "idle: the init of %s never went to sleep\n", j->name);
			kill_all();
			return 1;
		}
		if (j->init <= 0 || status_fields(j->init, &j->vol0, &j->nvol0, &j->rss) != 0) {
			fprintf(stderr, "idle: cannot find the init of %s\n", j->name);
			kill_all();
			return 1;
		}
	}

	/* The measurement itself: the inits are left alone for SECONDS. */
	long long end = now_ns() + (long long)(seconds * 1e9);
	struct timespec ts = { end / 1000000000LL, end % 1000000000LL };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;

	for (int i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];
		long rss;
		if (status_fields(j->init, &j->vol1, &j->nvol1, &rss) != 0) {
			fprintf(stderr, "idle: %s's init went away\n", j->name);
			kill_all();
			return 1;
		}
		if (rss > j->rss)
			j->rss = rss;
		kill(j->init, SIGTERM);
	}
	/* The spawned command's stdout closes when it and the init are gone. */
	if (pump(now_ns() + 5000000000LL, is_closed) != 0) {
		fprintf(stderr, "idle: an init did not stop on SIGTERM within 5 s; killing it\n");
		kill_all();
	}
	for (int i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];
		int st;
		while (waitpid(j->spawned, &st, 0) < 0 && errno == EINTR)
			;
		j->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		printf("%s wakeups=%ld voluntary=%ld nonvoluntary=%ld rss_kib=%ld exit=%d\n",
		       j->name, (j->vol1 - j->vol0) + (j->nvol1 - j->nvol0), j->vol1 - j->vol0,
		       j->nvol1 - j->nvol0, j->rss, j->status);
	}
	return 0;
}
