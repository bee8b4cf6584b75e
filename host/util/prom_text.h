/*
 * Prometheus text exposition (format 0.0.4) helpers shared by whoever
 * renders metrics: the metrics endpoint, the database, the HTTP layer.
 * Every family starts with prom_text_header(); every label value that is
 * not a constant of the code goes through prom_text_label().
 */
#ifndef ES_PROM_TEXT_H
#define ES_PROM_TEXT_H

#include <stddef.h>

#include "util/histogram.h"

struct evbuffer;

/* A family's "# HELP name help" and "# TYPE name type" lines; the help text
 * is escaped (backslash, newline) as the format requires. */
void prom_text_header(struct evbuffer *out, const char *name, const char *type, const char *help);

/* `name="value"` into buf, the value escaped (backslash, double quote,
 * newline); returns buf.  A value that does not fit is cut, never inside
 * an escape, and the quote is closed. */
const char *prom_text_label(char *buf, size_t size, const char *name, const char *value);

/* One histogram's _bucket/_sum/_count lines; `labels` without braces, may be "". */
void prom_text_histogram(struct evbuffer *out, const char *name, const char *labels, const histogram *h);

#endif
