/*
 * The claim on a node_id: several daemons share one database with the
 * JetStream backend, each making keys with its own queue.jetstream.node_id
 * in the low bits (db_writer.c).  Two daemons given the same number would
 * make colliding keys, so each holds a row of node_claims naming it (its
 * host name, port and config file) and renews it; another daemon takes a
 * number over only once its row is DB_NODE_CLAIM_LEASE_S old (the holder
 * died without deleting it).  A daemon restarted on the same host, port
 * and config is the same holder and gets its number back at once.
 *
 * Ownership: called by the events writer on its own connection (db_conn is
 * one thread's); the holder text is the caller's.
 */
#ifndef ES_DB_NODE_CLAIM_H
#define ES_DB_NODE_CLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "db/db_conn.h"

/* A claim older than this is another daemon's to take. */
#define DB_NODE_CLAIM_LEASE_S 30
/* The holder renews its claim this often. */
#define DB_NODE_CLAIM_RENEW_S 10

typedef enum node_claim_result {
	NODE_CLAIM_ERROR = -1, /* the statement failed: conn->error */
	NODE_CLAIM_HELD = 0,   /* the number is ours (claimed or renewed) */
	NODE_CLAIM_TAKEN = 1,  /* another daemon holds it: `why` says which */
} node_claim_result;

/* Claim or renew `node_id` for `holder`.  On NODE_CLAIM_TAKEN `why` says
 * who holds it and how long ago it renewed. */
node_claim_result db_node_claim(db_conn *conn, uint32_t node_id, const char *holder, char *why, size_t why_size);
/* Give the number up (a clean stop): only if `holder` still holds it. */
void db_node_release(db_conn *conn, uint32_t node_id, const char *holder);
/* The holder text of this daemon: "<host name> port <port> config <path>",
 * cut to fit the column. */
void db_node_holder(char *out, size_t out_size, uint16_t port, const char *config_path);

#endif
