/*
 * The bound on requests kept waiting for an outcome after their handler
 * returned -- synchronous triggers (?wait=true, POST /api/events/test) and
 * admin reloads -- so they cannot pile up to the file-descriptor limit:
 * server.max_waiters at a time.  A request over the bound is answered 503
 * at once (waiter_limit_refuse) and counted.
 *
 * Threads: any (process-wide atomics).  Ownership: a waiter that got a
 * slot from waiter_limit_take() gives it back exactly once, when it is
 * freed.
 */
#ifndef ES_WAITER_LIMIT_H
#define ES_WAITER_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct evbuffer;
struct api_request;

/* A slot under `max`; false (and counted as refused) when all are taken. */
bool waiter_limit_take(uint32_t max);
void waiter_limit_give(void);
/* Answer 503 with Retry-After for a request over the bound. */
void waiter_limit_refuse(struct api_request *r, uint32_t max);
/* eventsys_http_waiters* metrics, Prometheus text. */
void waiter_limit_metrics_render(struct evbuffer *out);

#endif
