/*
 * The claim on a node_id: see db_node_claim.h.
 */
#include "config.h"

#include "db/db_node_claim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
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

/* 32 hex digits from getrandom() */
static int random_identity(char out[33])
{
	unsigned char bytes[16];
	if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
		return -1;
	for (size_t i = 0; i < sizeof bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	return 0;
}

static bool is_identity(const char *text)
{
	return strlen(text) == 32 && strspn(text, "0123456789abcdef") == 32;
}

/* The identity kept in <state_dir>/node-holder, made once, and locked
 * (flock) for as long as *lock_fd stays open: a second daemon on the same
 * state directory must not pass for the first. */
static int kept_identity(const char *state_dir, char out[33], int *lock_fd, char *why, size_t why_size)
{
	char path[4096];
	if (!state_dir || !*state_dir ||
	    snprintf(path, sizeof path, "%s/node-holder", state_dir) >= (int)sizeof path) {
		snprintf(why, why_size, "no state directory");
		return -1;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(why, why_size, "%s is locked by another daemon using the same state directory", path);
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, out, 32);
	out[n > 0 ? n : 0] = '\0';
	if (!is_identity(out)) {
		/* new (or not ours to trust): a fresh identity, written whole */
		bool ok = random_identity(out) == 0 && ftruncate(fd, 0) == 0 && pwrite(fd, out, 32, 0) == 32 &&
		          fsync(fd) == 0;
		if (!ok) {
			snprintf(why, why_size, "%s: cannot write it: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	*lock_fd = fd;
	return 0;
}

int db_node_holder(char *out, size_t out_size, const char *state_dir, const char *address, uint16_t port,
                   int *lock_fd, char *why, size_t why_size)
{
	char host[65]; /* HOST_NAME_MAX + 1 */
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "unknown-host");
	host[sizeof host - 1] = '\0';
	char identity[33];
	*lock_fd = -1;
	int rc = kept_identity(state_dir, identity, lock_fd, why, why_size);
	if (rc != 0 && random_identity(identity) != 0)
		snprintf(identity, sizeof identity, "%08x%08x", (unsigned)getpid(), (unsigned)time(NULL));
	size_t cap = out_size < HOLDER_MAX + 1 ? out_size : HOLDER_MAX + 1;
	int n = snprintf(out, cap, "%s %s %s:%u", host, identity, address && *address ? address : "*", (unsigned)port);
	(void)n; /* cut when longer: the claim compares what it stored */
	/* ASCII only (the column is ascii): other bytes become '?' */
	for (char *c = out; *c; c++)
		if ((unsigned char)*c >= 0x80 || (unsigned char)*c < 0x20)
			*c = '?';
	return rc;
}
