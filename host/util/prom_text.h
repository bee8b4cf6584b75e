/*
 * Prometheus text exposition (format 0.0.4) helpers shared by whoever
 * renders metrics: the metrics endpoint, the database, the HTTP layer.
 */
#ifndef ES_PROM_TEXT_H
#define ES_PROM_TEXT_H

#include "util/histogram.h"

struct evbuffer;

/* One histogram's _bucket/_sum/_count lines; `labels` without braces, may be "". */
void prom_text_histogram(struct evbuffer *out, const char *name, const char *labels, const histogram *h);

#endif
