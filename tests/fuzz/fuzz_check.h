/* The fuzz targets' invariant check: abort() makes libFuzzer report the
 * input (and the corpus replay fail). */
#ifndef ES_FUZZ_CHECK_H
#define ES_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "invariant broken: " __VA_ARGS__); \
			fputc('\n', stderr);                              \
			abort();                                          \
		}                                                         \
	} while (0)

#endif
