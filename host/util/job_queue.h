/*
 * A bounded first-in first-out queue of requests that one thread works
 * through: the history reader's (db/db_reader.c) and the JetStream
 * dead letters' (core/js_dead_letters.c).  Intrusive: a request embeds a
 * job_queue_link and is found again with its owner's container macro, so
 * the queue allocates nothing and cannot fail but for being full.
 *
 * Locking is the owner's: the queue is guarded by the lock the owner's
 * thread waits on (with its other reasons to wake), so it has none itself.
 * Ownership: a pushed request belongs to the queue until popped, then to
 * whoever popped it; a refused push leaves it with the caller.  Answering
 * on the asker's event base stays with the owner (each counts its wake
 * events its own way).
 */
#ifndef ES_JOB_QUEUE_H
#define ES_JOB_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct job_queue_link {
	struct job_queue_link *next;
} job_queue_link;

typedef struct job_queue {
	job_queue_link *head, *tail;
	size_t depth;
	size_t max; /* pushes beyond this many queued are refused */
} job_queue;

/* An empty queue that holds at most `max` requests. */
void job_queue_init(job_queue *q, size_t max);
/* Append `link`: true, or false (nothing changed) when `max` are queued. */
bool job_queue_push(job_queue *q, job_queue_link *link);
/* The oldest request, removed; NULL when empty. */
job_queue_link *job_queue_pop(job_queue *q);
static inline bool job_queue_empty(const job_queue *q)
{
	return q->head == NULL;
}

#endif
