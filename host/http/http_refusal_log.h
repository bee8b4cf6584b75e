/*
 * Log lines for what the HTTP threads refuse or cut, kept from flooding
 * the log: a client can make one a connection, as fast as it likes.
 * - Refusals (a head's framing, too large, 401 before a body; the
 *   handlers' 401s for unknown tokens): a line each, up to
 *   REFUSAL_BUDGET_LINES in each REFUSAL_SUMMARY_INTERVAL_S, then counted
 *   into one line.
 * - Requests answered 408 at server.request_timeout_ms, and connections
 *   closed with answers unwritten: the first of an episode has a line
 *   with its client, later ones are counted into a line every interval.
 * Every one of them is in the metrics (and, but for the cuts, in the
 * access log) whether it has a line or not, and the counts in the lines
 * add up to all of them.
 *
 * Threads: any HTTP thread, the metrics listener's too; atomics only.
 * Counts not written yet are written by http_refusal_log_tick(), which
 * each HTTP loop runs every interval (its connection guard's timer), and
 * by http_refusal_log_flush() once every HTTP loop has stopped.
 */
#ifndef ES_HTTP_REFUSAL_LOG_H
#define ES_HTTP_REFUSAL_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Whether a refusal gets a WARN line of its own; when true, the count of
 * those that did not is written first. */
bool http_refusal_line_allowed(void);
/* A request answered 408: `why` is the answer's message. */
void http_refusal_log_408(const char *why, const char *client);
/* A connection closed with `unwritten` bytes of answers unwritten. */
void http_refusal_log_unread(size_t unwritten, const char *client);
/* Write the counts whose interval has passed. */
void http_refusal_log_tick(void);
/* Write every count not written yet (the HTTP loops have stopped). */
void http_refusal_log_flush(void);

#endif
