/*
 * Stored events queued again: the admissions the database's reader thread
 * makes for a dead-letter replay and a redelivery after a crash, through
 * the pipeline (core/pipeline.h), handed down to it by the composition
 * root (the database sits below the core).
 */
#ifndef ES_READMIT_H
#define ES_READMIT_H

#include "core/router.h"
#include "db/database.h"

/* The ops for database_start(), routing through `routes` (which must
 * outlive the database's threads). */
database_readmit readmit_ops(router *routes);

#endif
