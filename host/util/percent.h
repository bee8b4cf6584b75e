/*
 * Percent-decoding (RFC 3986 section 2.1) of text a client sent: a query
 * string's keys and values, a CloudEvents header value (the HTTP binding).
 * Pure functions, no allocation.
 */
#ifndef ES_PERCENT_H
#define ES_PERCENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* s[0..n) decoded into out, which has room for n + 1 bytes (decoding never
 * lengthens), and NUL-terminated; '+' read as a space when plus_is_space
 * (a query string).  The length written, or -1 for a '%' not followed by
 * two hex digits.  A decoded NUL (%00) is written like any byte: a caller
 * that keeps C strings looks for it in the length returned. */
ssize_t percent_decode(const char *s, size_t n, bool plus_is_space, char *out);

/* The value of the hex digit `c` (either case), or -1. */
int percent_hex_value(char c);

#endif
