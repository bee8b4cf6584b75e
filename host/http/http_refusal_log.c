/*
 * Budgeted and summarised log lines for the HTTP threads' refusals and
 * cuts: see http_refusal_log.h.
 */
#include "config.h"

#include "http/http_refusal_log.h"

#include <stdint.h>

#include "core/refusal_summary.h"
#include "util/log.h"

/* Refusal lines other than the 408s': a line each up to the budget. */
static refusal_budget refusal_lines;
/* 408s, and connections closed with answers unwritten: a line, then counts. */
static refusal_summary cut_requests, unread_answers;

static void write_unwritten_refusals(uint64_t n)
{
	if (n)
		LOG_WARN("http", "%llu more requests refused without a line of their own (over %d lines in %d s; each is "
		         "in the access log and the metrics)",
		         (unsigned long long)n, REFUSAL_BUDGET_LINES, REFUSAL_SUMMARY_INTERVAL_S);
}

bool http_refusal_line_allowed(void)
{
	uint64_t unwritten;
	if (!refusal_budget_take(&refusal_lines, &unwritten))
		return false;
	write_unwritten_refusals(unwritten);
	return true;
}

void http_refusal_log_408(const char *why, const char *client)
{
	uint64_t n;
	int64_t last, now;
	if (!refusal_summary_count(&cut_requests, &n, &last, &now))
		return;
	if (last == 0) /* n > 1 when another thread's 408 came in the same moment */
		LOG_WARN("http", "request answered 408 and its connection closed: %s (client=%s; %llu answered 408); "
		         "further ones are counted and logged every %d s",
		         why, client, (unsigned long long)n, REFUSAL_SUMMARY_INTERVAL_S);
	else
		LOG_WARN("http", "%llu more requests answered 408 at server.request_timeout_ms in the last %.1f s "
		         "(latest client=%s)",
		         (unsigned long long)n, (double)(now - last) / 1e6, client);
}

void http_refusal_log_unread(size_t unwritten, const char *client)
{
	uint64_t n;
	int64_t last, now;
	if (!refusal_summary_count(&unread_answers, &n, &last, &now))
		return;
	if (last == 0)
		LOG_WARN("http", "connection closed with %zu bytes of answers unwritten: its client did not read them "
		         "within server.request_timeout_ms, or went away (client=%s; %llu closed so); further ones are "
		         "counted and logged every %d s",
		         unwritten, client, (unsigned long long)n, REFUSAL_SUMMARY_INTERVAL_S);
	else
		LOG_WARN("http", "%llu more connections closed with answers unwritten in the last %.1f s (latest client=%s)",
		         (unsigned long long)n, (double)(now - last) / 1e6, client);
}

/* End the summaries' episodes once the interval has passed since their
 * last line, or at once (`now`), writing the counts not written yet; and
 * the budget's count. */
static void settle(bool now)
{
	uint64_t n;
	if (refusal_summary_settle(&cut_requests, now, &n) && n)
		LOG_WARN("http", "%llu more requests answered 408 at server.request_timeout_ms since the last line",
		         (unsigned long long)n);
	if (refusal_summary_settle(&unread_answers, now, &n) && n)
		LOG_WARN("http", "%llu more connections closed with answers unwritten since the last line",
		         (unsigned long long)n);
	write_unwritten_refusals(refusal_budget_settle(&refusal_lines));
}

void http_refusal_log_tick(void)
{
	settle(false);
}

void http_refusal_log_flush(void)
{
	settle(true);
}
