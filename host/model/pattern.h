/*
 * Event name patterns (subscriptions, history filters): dot-separated
 * segments where `*` matches any run of characters within one segment and
 * a whole `**` segment matches zero or more segments.
 */
#ifndef ES_PATTERN_H
#define ES_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

bool pattern_valid(const char *pattern, char *err, size_t err_size);
bool pattern_match(const char *pattern, const char *name);

#endif
