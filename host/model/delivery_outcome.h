/*
 * What became of one delivery of an event to one plugin: told by the worker
 * pools (core) to whoever records outcomes (the database, a waiting caller).
 */
#ifndef ES_DELIVERY_OUTCOME_H
#define ES_DELIVERY_OUTCOME_H

typedef enum delivery_outcome {
	DELIVERY_OK,          /* the handler returned ES_OK */
	DELIVERY_RETRYING,    /* a retry is scheduled (after ES_RETRY or a timeout) */
	DELIVERY_DEAD,        /* failed permanently or out of attempts: dead-lettered */
	DELIVERY_UNDELIVERED, /* still queued when the pool stopped */
} delivery_outcome;

#endif
