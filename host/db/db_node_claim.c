/*
 * The claim on a node_id: see db_node_claim.h.
 */
#include "config.h"

#include "db/db_node_claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* node_claims.holder is VARCHAR(255) */
#define HOLDER_MAX 255

node_claim_result db_node_claim(db_conn *conn, uint32_t node_id, const char *holder, char *why, size_t why_size)
{
	/* One statement decides, whoever runs it at the same moment: the row
	 * changes hands only when it is ours already or older than the lease.
	 * The assignments are evaluated left to right, so the second sees the
	 * holder the first left. */
	sqlbuf b = {0};
	sqlbuf_addf(&b, "INSERT INTO node_claims (node_id, holder, renewed_at) VALUES (%u, ", node_id);
	sqlbuf_add_string(&b, conn, holder, strlen(holder));
	sqlbuf_addf(&b,
	            ", NOW(6)) ON DUPLICATE KEY UPDATE holder = IF(holder = VALUES(holder) OR renewed_at < NOW(6) - "
	            "INTERVAL %d SECOND, VALUES(holder), holder), renewed_at = IF(holder = VALUES(holder), NOW(6), "
	            "renewed_at)",
	            DB_NODE_CLAIM_LEASE_S);
	int rc = b.failed ? -1 : db_exec(conn, b.data, b.len);
	sqlbuf_free(&b);
	if (rc != 0)
		return NODE_CLAIM_ERROR;
	char q[160];
	int n = snprintf(q, sizeof q,
	                 "SELECT holder, TIMESTAMPDIFF(SECOND, renewed_at, NOW(6)) FROM node_claims WHERE node_id = %u",
	                 node_id);
	MYSQL_RES *res = db_query(conn, q, (size_t)n);
	if (!res)
		return NODE_CLAIM_ERROR;
	MYSQL_ROW row = mysql_fetch_row(res);
	node_claim_result result = NODE_CLAIM_ERROR;
	if (!row || !row[0]) {
		snprintf(conn->error, sizeof conn->error, "the claim on node_id %u was not stored", node_id);
	} else if (strcmp(row[0], holder) == 0) {
		result = NODE_CLAIM_HELD;
	} else {
		result = NODE_CLAIM_TAKEN;
		snprintf(why, why_size,
		         "queue.jetstream.node_id %u is in use by another daemon (%s, renewed %s s ago): every daemon sharing "
		         "the database needs its own node_id; this one writes no history until the number is free",
		         node_id, row[0], row[1] ? row[1] : "?");
	}
	mysql_free_result(res);
	return result;
}

void db_node_release(db_conn *conn, uint32_t node_id, const char *holder)
{
	sqlbuf b = {0};
	sqlbuf_addf(&b, "DELETE FROM node_claims WHERE node_id = %u AND holder = ", node_id);
	sqlbuf_add_string(&b, conn, holder, strlen(holder));
	if (!b.failed)
		(void)db_exec(conn, b.data, b.len); /* at stop: a failure leaves the row to age out */
	sqlbuf_free(&b);
}

void db_node_holder(char *out, size_t out_size, uint16_t port, const char *config_path)
{
	char host[65]; /* HOST_NAME_MAX + 1 */
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "unknown-host");
	host[sizeof host - 1] = '\0';
	size_t cap = out_size < HOLDER_MAX + 1 ? out_size : HOLDER_MAX + 1;
	/* the path last: when it is cut, the host and port still say where */
	int n = snprintf(out, cap, "%s port %u config %s", host, (unsigned)port, config_path ? config_path : "-");
	(void)n; /* cut when longer: the claim compares what it stored */
	/* ASCII only: a cut multi-byte character would not be valid utf8mb4 */
	for (char *c = out; *c; c++)
		if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20)
			*c = '?';
}
