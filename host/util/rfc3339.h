/*
 * RFC 3339 timestamps <-> microseconds since 1970-01-01T00:00:00Z, on the
 * proleptic Gregorian calendar, without the C library's normalisation
 * (timegm() turns Feb 30 into Mar 1) or its struct tm year limits.
 *
 * Accepted: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), 'T'/'Z' in
 * either case or a space for 'T' (RFC 3339 section 5.6 note), real
 * calendar dates only, seconds 00..59 (a leap second :60 is refused: the
 * daemon's clock has none), and instants from 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999999Z once the offset is applied.  Any number of
 * fraction digits up to RFC3339_TEXT_MAX characters in all; those after
 * the sixth are dropped, which rounds the instant down to the microsecond
 * (toward the past, also before 1970).  The bound: the text is kept as
 * written and stored (a client's 70 KB of fraction digits overflowed the
 * database's column and was handed to every plugin).
 */
#ifndef ES_RFC3339_H
#define ES_RFC3339_H

#include <stdbool.h>
#include <stdint.h>

/* The longest timestamp text accepted (the longest with microseconds and
 * an offset is 32) */
#define RFC3339_TEXT_MAX 64

/* Text (NUL-terminated) -> microseconds; false when malformed or out of range. */
bool rfc3339_parse(const char *text, int64_t *out_us);
/* The same, for answers to a client: NULL when `text` is read, else what
 * is wrong with it (a constant string, e.g. "the day is not in its
 * month"). */
const char *rfc3339_parse_why(const char *text, int64_t *out_us);

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, always six fraction digits) into
 * out[40]; any int64 is printed (years outside 1..9999 are not RFC 3339,
 * but rfc3339_parse() never produces them). */
void rfc3339_format(int64_t us, char out[40]);

#endif
