/*
 * Log lines for refusals that could come in floods: summarised
 * (refusal_summary: one line, then a count per interval) or with a budget
 * (refusal_budget: a line each up to a number per interval, then a count).
 *
 * Log lines for events a plugin's full queue refuses, summarised: the first
 * refusal of an episode is logged with the event, later ones are counted
 * and written as one line with the count per interval, and the count still
 * unwritten is written when the interval has passed and the queue accepts
 * again, or when the plugin stops.  The sum of the counts in the lines is
 * the number of refusals (the metrics count each one as well).
 *
 * Threads: any thread; lock-free (atomics).  Embedded in its owner, which
 * calls refusal_summary_flush() before it goes away.
 */
#ifndef ES_REFUSAL_SUMMARY_H
#define ES_REFUSAL_SUMMARY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Seconds between two lines of one plugin's summary. */
#define REFUSAL_SUMMARY_INTERVAL_S 10

typedef struct refusal_summary {
	_Atomic uint64_t unwritten; /* refusals counted but in no line yet */
	_Atomic int64_t written_us; /* monotonic time of the last line; 0: no episode */
} refusal_summary;

/* The counting core, for other refusals summarised the same way (their own
 * log text): count one refusal; true when the caller writes a line now,
 * for *count refusals (this one included), the previous line at
 * *previous_us (0: this is the first of an episode) and now *now_us. */
bool refusal_summary_count(refusal_summary *s, uint64_t *count, int64_t *previous_us, int64_t *now_us);
/* End the episode once the interval has passed since its last line, or at
 * once when `now`: true when the caller writes a line for *count more
 * refusals (possibly 0). */
bool refusal_summary_settle(refusal_summary *s, bool now, uint64_t *count);

/* Log lines with a budget: each refusal keeps its own line (it says why,
 * and to whom), up to REFUSAL_BUDGET_LINES in each
 * REFUSAL_SUMMARY_INTERVAL_S; beyond them refusals are counted, and the
 * count is written with the next line allowed, or when settled.  Any
 * thread; atomics only (one compare-and-swap a line).  Embedded in its
 * owner (a static of the HTTP gate), which settles it at stop. */
#define REFUSAL_BUDGET_LINES 100

typedef struct refusal_budget {
	/* the current interval's start (monotonic, in hundredths of a
	 * second) in the high 32 bits, the lines allowed in it in the low 32:
	 * one word, so a new interval and its first line are one step */
	_Atomic uint64_t window_lines;
	_Atomic uint64_t unwritten; /* refusals counted beyond the budget, in no line yet */
} refusal_budget;

/* A refusal: true when the caller writes its line, and then *unwritten
 * is the count of refusals without a line before it (0: none), for the
 * caller to write first. */
bool refusal_budget_take(refusal_budget *b, uint64_t *unwritten);
/* The count without a line, taken (0: none): written at an interval's end
 * or at stop. */
uint64_t refusal_budget_settle(refusal_budget *b);

/* A refusal of event `id` (`name`) by the full queue of `plugin`. */
void refusal_summary_note(refusal_summary *s, const char *plugin, const char *id, const char *name);
/* The queue accepted an event: ends the episode once the interval has
 * passed, writing the count still unwritten.  Cheap when there is none. */
void refusal_summary_accepted(refusal_summary *s, const char *plugin);
/* Write what is unwritten now (the plugin stops). */
void refusal_summary_flush(refusal_summary *s, const char *plugin);

#endif
