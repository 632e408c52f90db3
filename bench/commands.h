/* The command lines startup.c and initstat.c take: NAME ARGV... groups
 * separated by "::", after ROUNDS and WARMUP. */
#ifndef PIDONE_BENCH_COMMANDS_H
#define PIDONE_BENCH_COMMANDS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmd {
	const char *name;
	char **argv;
};

/* Splits argv[3..] in place at each "::" into *out (argc entries at most);
 * returns how many commands, or -1 after saying which one is empty. */
static int split_commands(int argc, char **argv, const char *prog, struct cmd **out)
{
	struct cmd *cmds = calloc((size_t)argc, sizeof *cmds);
	int n = 0;
	if (!cmds) {
		perror(prog);
		return -1;
	}
	for (int i = 3; i < argc;) {
		cmds[n].name = argv[i++];
		cmds[n].argv = &argv[i];
		while (i < argc && strcmp(argv[i], "::") != 0)
			i++;
		if (i < argc)
			argv[i++] = NULL;
		if (!cmds[n].argv[0]) {
			fprintf(stderr, "%s: %s has no command\n", prog, cmds[n].name);
			return -1;
		}
		n++;
	}
	*out = cmds;
	return n;
}

#endif
