/* Replays a fuzz target's committed corpus once, without libFuzzer, so
 * `make check` (and the sanitizer build) keeps every input that once broke
 * an invariant as a regression test.  TAP output, one line per input.
 *   replay_TARGET [DIR]   (default: $ES_TOP_SRCDIR/tests/fuzz/corpus/TARGET,
 *                          TARGET from the program's name) */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	char dir[4096];
	const char *top = getenv("ES_TOP_SRCDIR");
	if (argc > 1)
		snprintf(dir, sizeof dir, "%s", argv[1]);
	else {
		const char *target = strrchr(argv[0], '_'); /* replay_request: "request" */
		snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", top ? top : ".", target ? target + 1 : "request");
	}
	DIR *d = opendir(dir);
	if (!d) {
		printf("1..0 # SKIP no corpus at %s\n", dir);
		return 0;
	}
	char *names[4096];
	size_t count = 0;
	struct dirent *entry;
	while ((entry = readdir(d)) && count < sizeof names / sizeof names[0])
		if (entry->d_name[0] != '.')
			names[count++] = strdup(entry->d_name);
	closedir(d);
	qsort(names, count, sizeof names[0], by_name);
	printf("1..%zu\n", count);
	for (size_t i = 0; i < count; i++) {
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		FILE *f = fopen(path, "rb");
		if (!f) {
			printf("not ok %zu - %s: cannot open\n", i + 1, names[i]);
			continue;
		}
		uint8_t *data = malloc(1 << 20);
		size_t n = fread(data, 1, 1 << 20, f);
		fclose(f);
		fflush(stdout);
		LLVMFuzzerTestOneInput(data, n); /* aborts when an invariant breaks */
		free(data);
		printf("ok %zu - %s\n", i + 1, names[i]);
		free(names[i]);
	}
	return 0;
}
