/*
 * A bounded FIFO of requests: see job_queue.h.
 */
#include "config.h"

#include "util/job_queue.h"

void job_queue_init(job_queue *q, size_t max)
{
	*q = (job_queue){.max = max};
}

bool job_queue_push(job_queue *q, job_queue_link *link)
{
	if (q->depth >= q->max)
		return false;
	link->next = NULL;
	if (q->tail)
		q->tail->next = link;
	else
		q->head = link;
	q->tail = link;
	q->depth++;
	return true;
}

job_queue_link *job_queue_pop(job_queue *q)
{
	job_queue_link *link = q->head;
	if (!link)
		return NULL;
	q->head = link->next;
	if (!q->head)
		q->tail = NULL;
	q->depth--;
	link->next = NULL;
	return link;
}
