/*
 * The claim on a node_id: several daemons share one database with the
 * JetStream backend, each making keys with its own queue.jetstream.node_id
 * in the low bits (db_writer.c).  Two daemons given the same number would
 * make colliding keys, so each holds a row of node_claims naming it and
 * renews it; another daemon takes a number over only once its row is
 * DB_NODE_CLAIM_LEASE_S old (the holder died without deleting it).  A
 * daemon makes keys only while its own view of the lease is valid
 * (DB_NODE_CLAIM_KEYS_S after it sent its last successful claim, less than
 * the lease), so no two daemons make keys with one number at once.
 *
 * The holder names a daemon: its host name, a random identity kept in its
 * state directory (node-holder, locked while the daemon runs) and its
 * listening address.  A daemon restarted with the same state directory is
 * the same holder and gets its number back at once; a second daemon on the
 * same state directory gets a random identity of its own.
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
/* It makes keys for this long after it sent its last successful claim:
 * the lease less a margin for the time the statement took. */
#define DB_NODE_CLAIM_KEYS_S 25

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
/* This daemon's holder text: "<host name> <identity> <address>:<port>",
 * the identity read from (or first written to) <state_dir>/node-holder,
 * which stays locked while *lock_fd is open (the caller closes it at
 * stop).  0; -1 when the state directory cannot keep it or another daemon
 * has it locked (a random identity for this run then, *lock_fd -1: a
 * restart waits for the old claim to age out), with why. */
int db_node_holder(char *out, size_t out_size, const char *state_dir, const char *address, uint16_t port,
                   int *lock_fd, char *why, size_t why_size);

#endif
