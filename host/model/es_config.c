/*
 * Reading and validating the YAML config.  Every key is a row of the tables
 * below (config_table.h): its type, range, default, field and reload
 * behaviour; anything not in a table is reported as a typo.  All errors are
 * collected (not just the first), each with its line and column.
 */
#include "config.h"

#include "model/es_config.h"

#include "util/dsn.h"
#include "util/file_trust.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *es_env_name(es_env env)
{
	switch (env) {
	case ES_ENV_DEV:
		return "dev";
	case ES_ENV_TEST:
		return "test";
	case ES_ENV_PROD:
		return "prod";
	}
	return "?";
}

/* A DSN that cannot be used is a config error (its message never holds the
 * password); so is asking for a database in a build without the client. */
static void check_database(const es_config *c, config_errors *errs)
{
	if (!c->database_enabled)
		return;
#ifndef HAVE_MYSQL
	config_error_add(errs, 0, 0, "database.enabled is true but this build has no MySQL client (configure --with-mysql)");
#endif
	if (c->database_dsn[0] == '\0')
		return;
	dsn parsed;
	char why[300];
	if (dsn_parse(c->database_dsn, &parsed, why, sizeof why) != 0)
		config_error_add(errs, 0, 0, "database.dsn: %s", why);
}

/* The JetStream backend needs the client in this build.  With a database,
 * every daemon of the cluster writes to the same tables: its keys carry its
 * node_id, so each needs one of its own; and the 202 is JetStream's, so the
 * history is written behind (async). */
static void check_queue(const es_config *c, config_errors *errs)
{
	if (c->queue_backend != QUEUE_JETSTREAM)
		return;
#ifndef HAVE_NATS
	config_error_add(errs, 0, 0, "queue.backend is jetstream but this build has no NATS client (configure --with-nats)");
#endif
	if (c->database_enabled && c->jetstream.node_id == 0)
		config_error_add(errs, 0, 0,
		                 "queue.jetstream.node_id must be set (1 to %d, different on every daemon sharing the "
		                 "database) when database.enabled is on with queue.backend jetstream",
		                 ES_NODE_ID_MAX);
	if (c->database_enabled && c->database_durable)
		config_error_add(errs, 0, 0,
		                 "database.mode must be async with queue.backend jetstream: a trigger is answered once "
		                 "JetStream holds it, and the history is written behind");
	if (c->jetstream.user && !c->jetstream.password)
		config_error_add(errs, 0, 0, "queue.jetstream.user is set but no password (or EVENT_SYSTEM_NATS_PASSWORD)");
	int ways = (c->jetstream.user != NULL) + (c->jetstream.token != NULL) + (c->jetstream.creds_file != NULL);
	if (ways > 1)
		config_error_add(errs, 0, 0, "queue.jetstream: give one of user/password, token or creds_file, not %d", ways);
}

/* Read a token's secret from exactly one of token, token_env, token_file. */
static char *read_secret(const ynode *t, const char *where, const char *(*env)(const char *), config_errors *errs)
{
	const ynode *lit = ynode_get(t, "token"), *var = ynode_get(t, "token_env"), *file = ynode_get(t, "token_file");
	int given = (lit != NULL) + (var != NULL) + (file != NULL);
	if (given != 1) {
		config_error_add(errs, t->line, t->column, "%s needs exactly one of token, token_env, token_file", where);
		return NULL;
	}
	const ynode *n = lit ? lit : var ? var : file;
	if (n->kind != YNODE_SCALAR || !n->scalar[0]) {
		config_error_add(errs, n->line, n->column, "%s: the token source must be a non-empty string", where);
		return NULL;
	}
	char *secret = NULL;
	if (lit) {
		secret = strdup(n->scalar);
	} else if (var) {
		const char *v = env(n->scalar);
		if (!v || !*v) {
			config_error_add(errs, n->line, n->column, "%s: environment variable %s is not set", where, n->scalar);
			return NULL;
		}
		secret = strdup(v);
	} else {
		/* Whoever may write the token file may replace the token. */
		struct stat st;
		char why[600] = "";
		int fd = file_open_regular(n->scalar, "token file", &st, why, sizeof why);
		if (fd >= 0)
			file_trusted(&st, geteuid(), "token file", n->scalar, why, sizeof why);
		if (why[0]) {
			config_error_add(errs, n->line, n->column, "%s: %s", where, why);
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		char buf[512];
		ssize_t got = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (got < 0) {
			config_error_add(errs, n->line, n->column, "%s: cannot read %s: %s", where, n->scalar, strerror(errno));
			return NULL;
		}
		size_t len = (size_t)got;
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
			len--;
		buf[len] = '\0';
		secret = strdup(buf);
	}
	if (secret && strlen(secret) < 16) {
		config_error_add(errs, n->line, n->column, "%s: the token is shorter than 16 characters", where);
		free(secret);
		return NULL;
	}
	return secret;
}

/* Token names appear in the access and audit logs: [A-Za-z0-9._@-]{1,64}. */
static bool valid_token_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._@-", *s))
			return false;
	return true;
}

/* A secret is sent in a header: visible ASCII, no spaces (which a client
 * could not present, and a header parser would trim). */
static bool valid_token_secret(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

bool es_config_plugin_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* ---- choices: the words a CONFIG_CHOICE row accepts ---- */

static bool parse_mode(const char *text, void *field)
{
	if (strcmp(text, "durable") == 0)
		*(bool *)field = true;
	else if (strcmp(text, "async") == 0)
		*(bool *)field = false;
	else
		return false;
	return true;
}

static bool parse_backend(const char *text, void *field)
{
	if (strcmp(text, "local") == 0)
		*(queue_backend *)field = QUEUE_LOCAL;
	else if (strcmp(text, "jetstream") == 0)
		*(queue_backend *)field = QUEUE_JETSTREAM;
	else
		return false;
	return true;
}

static bool parse_log_level(const char *text, void *field)
{
	return log_level_parse(text, field);
}

static bool parse_log_format(const char *text, void *field)
{
	return log_format_parse(text, field);
}

static bool parse_isolation(const char *text, void *field)
{
	if (strcmp(text, "process") == 0)
		*(bool *)field = true;
	else if (strcmp(text, "in-process") == 0)
		*(bool *)field = false;
	else
		return false;
	return true;
}

static bool parse_role(const char *text, void *field)
{
	if (strcmp(text, "trigger") == 0)
		*(token_role *)field = TOKEN_ROLE_TRIGGER;
	else if (strcmp(text, "admin") == 0)
		*(token_role *)field = TOKEN_ROLE_ADMIN;
	else
		return false;
	return true;
}

/* ---- defaults that depend on the machine or the environment ---- */

static void default_threads(void *field, unsigned env)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	*(uint32_t *)field = cpus < 1 ? 1 : cpus > 4 ? 4 : (uint32_t)cpus;
}

static void default_log_level(void *field, unsigned env)
{
	*(log_level *)field = env == ES_ENV_DEV ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

static void default_log_format(void *field, unsigned env)
{
	*(log_format *)field = env == ES_ENV_PROD ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
}

/* ---- hand-written readers, for what a table row does not fit ---- */

/* plugins.defaults and each plugins.settings.<name>: keys that span rows. */
static void check_policy(const ynode *map, const char *where, void *field, config_ctx *ctx)
{
	const plugin_policy *p = field;
	if (p->backoff_max_ms < p->backoff_initial_ms)
		config_error_add(ctx->errors, map->line, map->column,
		                 "%s: backoff_max_ms (%u) is less than backoff_initial_ms (%u)", where, p->backoff_max_ms,
		                 p->backoff_initial_ms);
	if (p->memory_limit_mb && p->memory_limit_mb < 32)
		config_error_add(ctx->errors, map->line, map->column,
		                 "%s: memory_limit_mb (%u) must be 0 (no limit) or at least 32", where, p->memory_limit_mb);
	if (p->open_files_limit && p->open_files_limit < 16)
		config_error_add(ctx->errors, map->line, map->column,
		                 "%s: open_files_limit (%u) must be 0 (the daemon's) or at least 16", where,
		                 p->open_files_limit);
}

/* A NATS stream name, or the dotted words of a subject prefix. */
static bool valid_nats_name(const char *s, bool dotted)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++) {
		bool word = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		            *p == '_' || *p == '-';
		if (!word && !(dotted && *p == '.' && p != s && p[1] && p[1] != '.'))
			return false;
	}
	return true;
}

/* queue.jetstream: the names NATS takes, one way to authenticate. */
static void check_jetstream(const ynode *map, const char *where, void *field, config_ctx *ctx)
{
	const jetstream_config *j = field;
	const ynode *n = ynode_get(map, "stream");
	if (n && !valid_nats_name(j->stream, false))
		config_error_add(ctx->errors, n->line, n->column, "%s.stream must be 1 to 64 of A-Z a-z 0-9 _ -, not '%s'",
		                 where, j->stream);
	n = ynode_get(map, "subject_prefix");
	if (n && !valid_nats_name(j->subject_prefix, true))
		config_error_add(ctx->errors, n->line, n->column,
		                 "%s.subject_prefix must be dot-separated words of A-Z a-z 0-9 _ - (no wildcards), not '%s'",
		                 where, j->subject_prefix);
}

static void read_subscribe(const ynode *n, const char *where, void *base, config_ctx *ctx);
static void read_plugin_config(const ynode *n, const char *where, void *base, config_ctx *ctx);
static void read_settings(const ynode *n, const char *where, void *base, config_ctx *ctx);
static void read_tokens(const ynode *n, const char *where, void *base, config_ctx *ctx);
static bool same_tokens(const void *a, const void *b);

/* ======================================================================
 * The keys.  One row per key; adding a key is a row here plus its use.
 * docs/configuration.md and man/event-system.yaml.5 list exactly these
 * (tests/docs/config_keys.sh checks it).
 * ====================================================================== */

#define POLICY(member) CONFIG_FIELD(plugin_policy, member)

/* plugins.defaults and each plugins.settings.<name> */
static const config_key policy_keys[] = {
	{"workers", CONFIG_UINT, POLICY(workers), .min = 1, .max = 256, .def = "0",
	 .default_text = "event.async_workers", .help = "worker threads of the plugin (a serial plugin allows only 1)"},
	{"queue_size", CONFIG_UINT, POLICY(queue_size), .min = 1, .max = 1u << 24, .def = "0",
	 .default_text = "event.async_channel_size", .help = "deliveries the plugin may hold; full: the trigger answers 503"},
	{"timeout_ms", CONFIG_UINT, POLICY(timeout_ms), .min = 1, .max = 3600000, .def = "5000",
	 .help = "deadline for one handle() call"},
	{"max_attempts", CONFIG_UINT, POLICY(max_attempts), .min = 1, .max = 100, .def = "3",
	 .help = "first try plus retries"},
	{"backoff_initial_ms", CONFIG_UINT, POLICY(backoff_initial_ms), .min = 0, .max = 3600000, .def = "100",
	 .help = "first retry delay (half fixed, half random)"},
	{"backoff_max_ms", CONFIG_UINT, POLICY(backoff_max_ms), .min = 0, .max = 3600000, .def = "10000",
	 .help = "longest retry delay"},
	{"backoff_multiplier", CONFIG_DOUBLE, POLICY(backoff_multiplier), .min = 1.0, .max = 10.0, .def = "2.0",
	 .help = "growth of the delay per attempt"},
	{"max_stuck_workers", CONFIG_UINT, POLICY(max_stuck_workers), .min = 0, .max = 256, .def = "4",
	 .help = "threads kept beyond workers while handlers overrun their deadline"},
	{"max_crashes", CONFIG_UINT, POLICY(max_crashes), .min = 1, .max = 1000, .def = "3",
	 .help = "crashes of one event before redelivery dead-letters it for the plugin (database on)"},
	{"quarantine_after", CONFIG_UINT, POLICY(quarantine_after), .min = 0, .max = 1000, .def = "5",
	 .help = "crashes within quarantine_window_s that quarantine the plugin (0: never)"},
	{"quarantine_window_s", CONFIG_UINT, POLICY(quarantine_window_s), .min = 1, .max = 2678400, .def = "3600",
	 .help = "the window of quarantine_after, in seconds"},
	{"isolation", CONFIG_CHOICE, POLICY(isolated), .def = "in-process", .parse = parse_isolation,
	 .expect = "in-process or process", .help = "process: the plugin runs in child processes, one per worker"},
	{"memory_limit_mb", CONFIG_UINT, POLICY(memory_limit_mb), .min = 0, .max = 1u << 22, .def = "0",
	 .default_text = "0: none", .help = "isolated: each child's memory limit (0, or at least 32)"},
	{"open_files_limit", CONFIG_UINT, POLICY(open_files_limit), .min = 0, .max = 1u << 20, .def = "0",
	 .default_text = "0: the daemon's", .help = "isolated: each child's open-file limit (0, or at least 16)"},
	{"batch_max", CONFIG_UINT, POLICY(batch_max), .min = 1, .max = 1024, .def = "32",
	 .help = "a plugin with handle_batch(): most events per call"},
	{"batch_linger_ms", CONFIG_UINT, POLICY(batch_linger_ms), .min = 0, .max = 60000, .def = "0",
	 .help = "a plugin with handle_batch(): how long a worker waits for a batch to fill up to batch_max"},
	/* 1000 against 100 took the trigger API's CPU per request from 1.25x the
	 * bare libevent server's to 1.09x (a fifth of the worker's wake-ups;
	 * docs/benchmarks.md, "A fifth pass"); bench/dispatch.sh measured 50 µs
	 * to 1 ms alike. */
	{"wakeup_coalesce_us", CONFIG_UINT, POLICY(wakeup_coalesce_us), .min = 0, .max = 100000, .def = "1000",
	 .help = "a worker that just had work looks again within this time, not woken per event (0: woken per "
	         "event; an event a client waits for always wakes it)"},
	{NULL},
};

#define PLUGIN(member) CONFIG_FIELD(plugin_settings, member)

/* plugins.settings.<name> */
static const config_key plugin_keys[] = {
	{"enabled", CONFIG_BOOL, PLUGIN(enabled), .def = "true", .help = "false keeps the plugin unloaded"},
	{"subscribe", CONFIG_LIST, .read = read_subscribe, .default_text = "the plugin's own",
	 .help = "event name patterns (or one string); replaces the plugin's defaults"},
	{"config", CONFIG_MAP, .read = read_plugin_config, .help = "free-form map handed to the plugin"},
	{"policy", CONFIG_INCLUDE, PLUGIN(policy), .sub = policy_keys, .check = check_policy},
	{NULL},
};

#define TOKEN(member) CONFIG_FIELD(api_token, member)

/* auth.tokens[] */
static const config_key token_keys[] = {
	{"name", CONFIG_STRING, TOKEN(name), .help = "names the token in logs (required)"},
	{"role", CONFIG_CHOICE, TOKEN(role), .def = "trigger", .parse = parse_role, .expect = "trigger or admin",
	 .help = "trigger: may trigger events; admin: also the admin endpoints"},
	{"token", CONFIG_CUSTOM, .help = "the secret itself (one of token, token_env, token_file)"},
	{"token_env", CONFIG_CUSTOM, .help = "an environment variable holding the secret"},
	{"token_file", CONFIG_CUSTOM, .help = "a file holding the secret (trusted like the config file)"},
	{NULL},
};

#define C(member) CONFIG_FIELD(es_config, member)

static const config_key server_keys[] = {
	{"host", CONFIG_STRING, C(server_host), .def = "127.0.0.1", .reload = CONFIG_RESTART,
	 .help = "address of the HTTP API"},
	{"port", CONFIG_UINT, C(server_port), .min = 1, .max = 65535, .def = "8080", .reload = CONFIG_RESTART,
	 .help = "port of the HTTP API"},
	{"threads", CONFIG_UINT, C(server_threads), .min = 1, .max = 64, .set_default = default_threads,
	 .default_text = "CPUs, at most 4", .reload = CONFIG_RESTART, .help = "HTTP loop threads sharing the port"},
	{"allow_unauthenticated", CONFIG_BOOL, C(allow_unauthenticated), .def = "false",
	 .help = "serve a non-loopback host without auth.tokens"},
	{"request_timeout_ms", CONFIG_UINT, C(request_timeout_ms), .min = 100, .max = 3600000, .def = "30000",
	 .reload = CONFIG_RESTART, .help = "deadline for each whole request"},
	{"max_connections", CONFIG_UINT, C(max_connections), .min = 0, .max = 1u << 20, .def = "0",
	 .default_text = "0: from the open-file limit", .reload = CONFIG_RESTART, .help = "open HTTP connections at most"},
	{"max_waiters", CONFIG_UINT, C(max_waiters), .min = 1, .max = 1u << 20, .def = "256",
	 .help = "requests waiting for an outcome at once"},
	{NULL},
};

static const config_key event_keys[] = {
	{"async_workers", CONFIG_UINT, C(async_workers), .min = 1, .max = 256, .def = "4",
	 .help = "default workers of each plugin"},
	{"async_channel_size", CONFIG_UINT, C(async_channel_size), .min = 1, .max = 1u << 24, .def = "1000",
	 .help = "default queue_size of each plugin"},
	{"max_event_size", CONFIG_UINT, C(max_event_size), .min = 256, .max = 64u << 20, .def = "1048576",
	 .reload = CONFIG_RESTART, .help = "largest request body in bytes"},
	{"shutdown_timeout_ms", CONFIG_UINT, C(shutdown_timeout_ms), .min = 0, .max = 600000, .def = "10000",
	 .help = "how long queued events may still be delivered at a stop"},
	{"sync_timeout_ms", CONFIG_UINT, C(sync_timeout_ms), .min = 1, .max = 600000, .def = "10000",
	 .help = "how long ?wait=true and the test event wait for outcomes"},
	{NULL},
};

/* The database threads keep the settings they started with. */
static const config_key database_keys[] = {
	{"enabled", CONFIG_BOOL, C(database_enabled), .def = "false", .reload = CONFIG_RESTART,
	 .help = "record events in MySQL/MariaDB"},
	{"dsn", CONFIG_STRING, C(database_dsn), .def = "", .allow_empty = true, .reload = CONFIG_RESTART,
	 .help = "where the database is (a secret: never shown)"},
	{"mode", CONFIG_CHOICE, C(database_durable), .def = "durable", .parse = parse_mode, .expect = "durable or async",
	 .reload = CONFIG_RESTART, .help = "durable: 202 after the commit; async: history written behind"},
	{"migrate_on_start", CONFIG_BOOL, C(database_migrate_on_start), .def = "false", .reload = CONFIG_RESTART,
	 .help = "apply missing schema migrations at connect"},
	{"subscriptions", CONFIG_BOOL, C(database_subscriptions), .def = "true",
	 .help = "add the event_subscriptions table's rows (read at start and reload)"},
	{"retention_days", CONFIG_DOUBLE, C(database_retention_days), .min = 0, .max = 36500, .def = "30",
	 .reload = CONFIG_RESTART, .help = "events older than this are purged; 0 keeps them"},
	{"purge_interval_s", CONFIG_UINT, C(database_purge_interval_s), .min = 1, .max = 86400, .def = "3600",
	 .reload = CONFIG_RESTART, .help = "how often the purge runs"},
	{"queue_size", CONFIG_UINT, C(database_queue_size), .min = 100, .max = 10000000, .def = "100000",
	 .reload = CONFIG_RESTART, .help = "history records waiting for the writers, at most"},
	{"queue_max_mb", CONFIG_UINT, C(database_queue_max_mb), .min = 1, .max = 65536, .def = "256",
	 .reload = CONFIG_RESTART, .help = "memory those records hold, at most"},
	{"connect_timeout_ms", CONFIG_UINT, C(database_connect_timeout_ms), .min = 100, .max = 60000, .def = "2000",
	 .reload = CONFIG_RESTART, .help = "connecting to the server"},
	{"query_timeout_ms", CONFIG_UINT, C(database_query_timeout_ms), .min = 100, .max = 600000, .def = "10000",
	 .reload = CONFIG_RESTART, .help = "one statement's read/write timeout"},
	{"reconnect_max_ms", CONFIG_UINT, C(database_reconnect_max_ms), .min = 100, .max = 600000, .def = "5000",
	 .reload = CONFIG_RESTART, .help = "longest wait between reconnection attempts"},
	{NULL},
};

/* The NATS link keeps the settings it started with. */
#define JS(member) CONFIG_FIELD(jetstream_config, member)
static const config_key jetstream_keys[] = {
	{"servers", CONFIG_STRING, JS(servers), .def = "nats://127.0.0.1:4222", .reload = CONFIG_RESTART,
	 .help = "the NATS servers, comma-separated URLs"},
	{"user", CONFIG_STRING, JS(user), .reload = CONFIG_RESTART, .help = "NATS user (with password)"},
	{"password", CONFIG_STRING, JS(password), .reload = CONFIG_RESTART, .help = "NATS password (a secret: never shown)"},
	{"token", CONFIG_STRING, JS(token), .reload = CONFIG_RESTART, .help = "NATS token (a secret: never shown)"},
	{"creds_file", CONFIG_STRING, JS(creds_file), .reload = CONFIG_RESTART, .help = "NATS credentials file"},
	{"tls_ca_file", CONFIG_STRING, JS(tls_ca_file), .reload = CONFIG_RESTART, .help = "TLS to NATS, trusting this CA"},
	{"stream", CONFIG_STRING, JS(stream), .def = "EVENTS", .reload = CONFIG_RESTART,
	 .help = "the stream of the deliveries (dead letters: <stream>_DEAD)"},
	{"subject_prefix", CONFIG_STRING, JS(subject_prefix), .def = "events", .reload = CONFIG_RESTART,
	 .help = "deliveries go to <prefix>.deliver.<plugin>"},
	{"max_mb", CONFIG_UINT, JS(max_mb), .min = 0, .max = 1u << 24, .def = "1024", .reload = CONFIG_RESTART,
	 .help = "the stream's size limit in MiB (0: none); full: 503"},
	{"max_age_s", CONFIG_UINT, JS(max_age_s), .min = 0, .max = 365.0 * 86400, .def = "604800",
	 .reload = CONFIG_RESTART, .help = "the stream's age limit (0: none)"},
	{"replicas", CONFIG_UINT, JS(replicas), .min = 1, .max = 5, .def = "1", .reload = CONFIG_RESTART,
	 .help = "copies of each stream in the NATS cluster"},
	{"duplicate_window_s", CONFIG_UINT, JS(duplicate_window_s), .min = 1, .max = 7.0 * 86400, .def = "120",
	 .reload = CONFIG_RESTART, .help = "a retry with the same event id is stored once within this"},
	{"publish_timeout_ms", CONFIG_UINT, JS(publish_timeout_ms), .min = 100, .max = 600000, .def = "5000",
	 .reload = CONFIG_RESTART, .help = "how long a trigger waits for JetStream's acknowledgement"},
	{"connect_timeout_ms", CONFIG_UINT, JS(connect_timeout_ms), .min = 100, .max = 60000, .def = "2000",
	 .reload = CONFIG_RESTART, .help = "one connection attempt to NATS"},
	{"node_id", CONFIG_UINT, JS(node_id), .min = 0, .max = ES_NODE_ID_MAX, .def = "0", .reload = CONFIG_RESTART,
	 .help = "this daemon's number (1-1023, unique) in the keys of a shared database; 0: none"},
	{NULL},
};

static const config_key queue_keys[] = {
	{"backend", CONFIG_CHOICE, C(queue_backend), .def = "local", .parse = parse_backend, .expect = "local or jetstream",
	 .reload = CONFIG_RESTART, .help = "where the queues are: in memory, or a NATS JetStream stream"},
	{"jetstream", CONFIG_MAP, C(jetstream), .sub = jetstream_keys, .check = check_jetstream,
	 .help = "the NATS connection and the stream"},
	{NULL},
};

static const config_key logging_keys[] = {
	{"level", CONFIG_CHOICE, C(log_level), .set_default = default_log_level, .default_text = "info (dev: debug)",
	 .parse = parse_log_level, .expect = "error, warn, info or debug", .help = "least severe level logged"},
	{"format", CONFIG_CHOICE, C(log_format), .set_default = default_log_format,
	 .default_text = "json (dev, test: text)", .parse = parse_log_format, .expect = "json or text",
	 .help = "one JSON object or one text line per record"},
	{"access_log", CONFIG_BOOL, C(access_log), .def = "true", .help = "one line per HTTP request"},
	{NULL},
};

static const config_key metrics_keys[] = {
	{"enabled", CONFIG_BOOL, C(metrics_enabled), .def = "true", .reload = CONFIG_RESTART,
	 .help = "the Prometheus endpoint"},
	{"host", CONFIG_STRING, C(metrics_host), .def = "127.0.0.1", .reload = CONFIG_RESTART,
	 .help = "address it listens on"},
	{"port", CONFIG_UINT, C(metrics_port), .min = 1, .max = 65535, .def = "9090", .reload = CONFIG_RESTART,
	 .help = "port it listens on"},
	{NULL},
};

static const config_key health_keys[] = {
	{"failure_ratio", CONFIG_DOUBLE, C(health_failure_ratio), .min = 0.01, .max = 1.0, .def = "0.5",
	 .help = "share of dead-lettered recent deliveries that makes a plugin degraded"},
	{"queue_full_ratio", CONFIG_DOUBLE, C(health_queue_full_ratio), .min = 0.01, .max = 1.0, .def = "0.9",
	 .help = "queue fill that makes a plugin degraded"},
	{NULL},
};

static const config_key plugins_keys[] = {
	{"directory", CONFIG_STRING, C(plugin_dir), .def = PLUGINDIR, .default_text = "the build's plugin directory",
	 .help = "where *.so files are loaded from"},
	{"load_unconfigured", CONFIG_BOOL, C(load_unconfigured), .def = "true",
	 .help = "load plugins that have no settings entry"},
	{"state_directory", CONFIG_STRING, C(state_dir), .allow_empty = true, .def = "/var/lib/event-system",
	 .default_text = "$STATE_DIRECTORY, else /var/lib/event-system", .reload = CONFIG_RESTART,
	 .help = "the crash file and crash history (empty: crashes are only logged)"},
	{"defaults", CONFIG_MAP, C(plugin_defaults), .sub = policy_keys, .check = check_policy,
	 .reload = CONFIG_PER_PLUGIN, .help = "delivery policy of every plugin"},
	{"settings", CONFIG_MAP, .read = read_settings, .sub = plugin_keys, .sub_path = ".<name>",
	 .reload = CONFIG_PER_PLUGIN, .help = "per-plugin settings, by the plugin's name"},
	{NULL},
};

static const config_key auth_keys[] = {
	{"tokens", CONFIG_LIST, .read = read_tokens, .sub = token_keys, .sub_path = "[]", .equal = same_tokens,
	 .help = "bearer tokens"},
	{NULL},
};

/* The top level: one section per row, read in this order. */
static const config_key config_keys[] = {
	{"server", CONFIG_MAP, .sub = server_keys, .help = "the HTTP API"},
	{"event", CONFIG_MAP, .sub = event_keys, .help = "events and their delivery"},
	{"database", CONFIG_MAP, .sub = database_keys, .help = "the event history"},
	{"logging", CONFIG_MAP, .sub = logging_keys, .help = "the daemon's log"},
	{"metrics", CONFIG_MAP, .sub = metrics_keys, .help = "the Prometheus endpoint"},
	{"plugins", CONFIG_MAP, .sub = plugins_keys, .help = "the plugins and how events reach them"},
	{"auth", CONFIG_MAP, .sub = auth_keys, .help = "who may call the API"},
	{"health", CONFIG_MAP, .sub = health_keys, .help = "when /health calls a plugin degraded"},
	{"queue", CONFIG_MAP, .sub = queue_keys, .help = "where the deliveries wait: this daemon, or NATS JetStream"},
	{NULL},
};

/* ---- the hand-written readers ---- */

static void read_subscribe(const ynode *n, const char *where, void *base, config_ctx *ctx)
{
	plugin_settings *ps = base;
	if (n->kind == YNODE_SCALAR) { /* a single pattern */
		ps->subscribe = calloc(1, sizeof *ps->subscribe);
		if (ps->subscribe && (ps->subscribe[0] = strdup(n->scalar)))
			ps->subscribe_count = 1;
		return;
	}
	if (n->kind != YNODE_LIST) {
		config_error_add(ctx->errors, n->line, n->column, "%s must be a list of patterns", where);
		return;
	}
	ps->subscribe = calloc(n->count ? n->count : 1, sizeof *ps->subscribe);
	if (!ps->subscribe)
		return;
	for (size_t i = 0; i < n->count; i++) {
		const ynode *item = n->items[i];
		if (item->kind != YNODE_SCALAR || item->scalar[0] == '\0') {
			config_error_add(ctx->errors, item->line, item->column, "%s[%zu] must be a pattern string", where, i);
			continue;
		}
		ps->subscribe[ps->subscribe_count] = strdup(item->scalar);
		if (ps->subscribe[ps->subscribe_count])
			ps->subscribe_count++;
	}
}

/* The subtree stays in the config's YAML tree, which the config owns. */
static void read_plugin_config(const ynode *n, const char *where, void *base, config_ctx *ctx)
{
	((plugin_settings *)base)->config = n;
}

/* plugins.settings: a map of plugin names, each a map of plugin_keys. */
static void read_settings(const ynode *settings, const char *where, void *base, config_ctx *ctx)
{
	es_config *c = base;
	config_errors *errs = ctx->errors;
	c->plugins = calloc(settings->count ? settings->count : 1, sizeof *c->plugins);
	if (!c->plugins) {
		config_error_add(errs, settings->line, settings->column, "out of memory");
		return;
	}
	for (size_t i = 0; i < settings->count; i++) {
		const char *name = settings->keys[i];
		const ynode *pm = settings->items[i];
		char path[128];
		snprintf(path, sizeof path, "%s.%s", where, name);
		if (!es_config_plugin_name_valid(name)) {
			config_error_add(errs, settings->key_lines[i], settings->key_columns[i],
			                 "plugin name '%s' is invalid: use 1 to 64 of [a-z0-9_-]", name);
			continue;
		}
		plugin_settings *ps = &c->plugins[c->plugin_count++];
		config_table_defaults(plugin_keys, ps, ctx->variant);
		ps->policy = c->plugin_defaults; /* what plugins.defaults says, not the built-in defaults */
		ps->name = strdup(name);
		ps->line = settings->key_lines[i];
		ps->column = settings->key_columns[i];
		if (ynode_is_null(pm))
			continue; /* "name:" alone: all defaults */
		if (pm->kind != YNODE_MAP) {
			config_error_add(errs, pm->line, pm->column, "%s must be a map, not %s", path,
			                 ynode_kind_name(pm->kind));
			continue;
		}
		ps->workers_set = ynode_get(pm, "workers") != NULL;
		config_table_read(plugin_keys, pm, path, ps, ctx);
	}
}

/* auth.tokens: a list of maps of token_keys, each with one secret source. */
static void read_tokens(const ynode *list, const char *where, void *base, config_ctx *ctx)
{
	es_config *c = base;
	config_errors *errs = ctx->errors;
	if (list->kind != YNODE_LIST) {
		config_error_add(errs, list->line, list->column, "%s must be a list", where);
		return;
	}
	c->tokens = calloc(list->count ? list->count : 1, sizeof *c->tokens);
	if (!c->tokens)
		return;
	for (size_t i = 0; i < list->count; i++) {
		const ynode *t = list->items[i];
		char path[64];
		snprintf(path, sizeof path, "%s[%zu]", where, i);
		if (t->kind != YNODE_MAP) {
			config_error_add(errs, t->line, t->column, "%s must be a map with name, role and a token source", path);
			continue;
		}
		api_token tok = {0};
		config_table_defaults(token_keys, &tok, ctx->variant);
		config_table_read(token_keys, t, path, &tok, ctx);
		if (!tok.name)
			config_error_add(errs, t->line, t->column, "%s has no name (used in logs instead of the token)", path);
		else if (!valid_token_name(tok.name))
			config_error_add(errs, t->line, t->column,
			                 "%s: name must be 1-64 letters, digits, '.', '_', '-' or '@' (it is logged)", path);
		tok.secret = read_secret(t, path, ctx->env, errs);
		if (tok.secret && !valid_token_secret(tok.secret)) {
			config_error_add(errs, t->line, t->column,
			                 "%s: the token may hold only visible ASCII characters (no spaces or control bytes)",
			                 path);
			free(tok.secret);
			tok.secret = NULL;
		}
		if (!tok.name || !tok.secret) {
			free(tok.name);
			free(tok.secret);
			continue;
		}
		/* A secret is one identity: two entries with one secret would give
		 * a trigger token the admin role, or log one caller under two names. */
		for (size_t j = 0; j < c->token_count; j++) {
			const api_token *earlier = &c->tokens[j]; /* stored: name and secret set */
			if (!earlier->name || !earlier->secret)
				continue;
			if (strcmp(earlier->name, tok.name) == 0)
				config_error_add(errs, t->line, t->column, "%s: the name '%s' is used by another token", path,
				                 tok.name);
			if (strcmp(earlier->secret, tok.secret) == 0)
				config_error_add(errs, t->line, t->column, "%s: the same secret as token '%s'", path,
				                 earlier->name);
		}
		c->tokens[c->token_count++] = tok;
	}
}

static bool same_tokens(const void *a_base, const void *b_base)
{
	const es_config *a = a_base, *b = b_base;
	if (a->token_count != b->token_count)
		return false;
	for (size_t i = 0; i < a->token_count; i++)
		if (strcmp(a->tokens[i].name, b->tokens[i].name) != 0 || a->tokens[i].role != b->tokens[i].role ||
		    strcmp(a->tokens[i].secret, b->tokens[i].secret) != 0)
			return false;
	return true;
}

void es_config_dump_keys(FILE *out)
{
	config_table_dump(config_keys, "", out);
}

void es_config_describe_changes(const es_config *a, const es_config *b, char *changed, size_t changed_size,
                                char *restart, size_t restart_size)
{
	config_table_diff(config_keys, "", a, b, changed, changed_size, restart, restart_size);
}

bool es_config_host_is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0;
}

/* An API on a non-loopback address without tokens is refused unless the
 * operator says so explicitly. */
static void check_exposure(const es_config *c, config_errors *errs)
{
	if (es_config_host_is_loopback(c->server_host) || c->token_count > 0 || c->allow_unauthenticated)
		return;
	const ynode *host = ynode_path(c->tree, "server.host");
	config_error_add(errs, host ? host->line : 0, host ? host->column : 0,
	          "server.host %s is not a loopback address and auth.tokens is empty: add tokens, "
	          "or set server.allow_unauthenticated: true to serve it without authentication",
	          c->server_host);
}

static bool wildcard_host(const char *host)
{
	return !host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || strcmp(host, "*") == 0;
}

/* The API and the metrics endpoint on one address and port: a start fails
 * to listen for the second; say it here, where --check-config sees it. */
static void check_ports(const es_config *c, config_errors *errs)
{
	if (!c->metrics_enabled || c->metrics_port != c->server_port)
		return;
	if (strcmp(c->metrics_host, c->server_host) != 0 && !wildcard_host(c->metrics_host) &&
	    !wildcard_host(c->server_host))
		return;
	const ynode *port = ynode_path(c->tree, "metrics.port");
	config_error_add(errs, port ? port->line : 0, port ? port->column : 0,
	                 "metrics.port %u is server.port too, on the same address: give metrics another port",
	                 c->metrics_port);
}

int es_config_check_reload_auth(const es_config *running, const es_config *next, const char *served_host,
                                char *why, size_t why_size)
{
	if (next->token_count > 0 || next->allow_unauthenticated)
		return 0;
	if (running->token_count > 0) {
		snprintf(why, why_size,
		         "the new config has no auth.tokens while %zu are in force: a reload removes authentication only "
		         "when the new config also sets server.allow_unauthenticated: true",
		         running->token_count);
		return -1;
	}
	if (!es_config_host_is_loopback(served_host)) {
		snprintf(why, why_size,
		         "the API is served on %s (not a loopback address) and the new config has no auth.tokens: add "
		         "tokens, or set server.allow_unauthenticated: true",
		         served_host);
		return -1;
	}
	return 0;
}

/* Fill workers/queue_size left at 0 from the event.* defaults. */
static void resolve_policy(plugin_policy *p, const es_config *c)
{
	if (p->workers == 0)
		p->workers = c->async_workers;
	if (p->queue_size == 0)
		p->queue_size = c->async_channel_size;
}

static void apply_environment(es_config *c, const char *(*env)(const char *), config_errors *errs)
{
	const char *v = env("EVENT_SYSTEM_LOG_LEVEL");
	if (v && *v && !log_level_parse(v, &c->log_level))
		config_error_add(errs, 0, 0, "EVENT_SYSTEM_LOG_LEVEL must be error, warn, info or debug, not '%s'", v);
	/* systemd's StateDirectory= (the unit has StateDirectory=event-system)
	 * sets STATE_DIRECTORY: the default when the file names none. */
	v = env("STATE_DIRECTORY");
	if (v && *v && !ynode_path(c->tree, "plugins.state_directory")) {
		free(c->state_dir);
		c->state_dir = strndup(v, strcspn(v, ":")); /* several directories: the first */
	}
	v = env("EVENT_SYSTEM_DATABASE_DSN");
	if (v && *v) {
		free(c->database_dsn);
		c->database_dsn = strdup(v);
	}
	/* NATS credentials: the environment keeps them out of the file */
	static const struct {
		const char *name;
		size_t offset;
	} nats_env[] = {
		{"EVENT_SYSTEM_NATS_SERVERS", offsetof(jetstream_config, servers)},
		{"EVENT_SYSTEM_NATS_USER", offsetof(jetstream_config, user)},
		{"EVENT_SYSTEM_NATS_PASSWORD", offsetof(jetstream_config, password)},
		{"EVENT_SYSTEM_NATS_TOKEN", offsetof(jetstream_config, token)},
		{"EVENT_SYSTEM_NATS_CREDS", offsetof(jetstream_config, creds_file)},
	};
	for (size_t i = 0; i < sizeof nats_env / sizeof nats_env[0]; i++) {
		v = env(nats_env[i].name);
		if (!v || !*v)
			continue;
		char **field = (char **)((char *)&c->jetstream + nats_env[i].offset);
		free(*field);
		*field = strdup(v);
	}
}

static const char *default_getenv(const char *name)
{
	return getenv(name);
}

static es_config *build(ynode *tree, const char *label, const char *(*env)(const char *), config_errors *errs)
{
	if (!env)
		env = default_getenv;
	es_env which = ES_ENV_PROD;
	const char *env_name = env("EVENT_SYSTEM_ENV");
	if (env_name && *env_name) {
		if (strcmp(env_name, "dev") == 0 || strcmp(env_name, "development") == 0)
			which = ES_ENV_DEV;
		else if (strcmp(env_name, "test") == 0)
			which = ES_ENV_TEST;
		else if (strcmp(env_name, "prod") == 0 || strcmp(env_name, "production") == 0)
			which = ES_ENV_PROD;
		else
			config_error_add(errs, 0, 0, "EVENT_SYSTEM_ENV must be dev, test or prod, not '%s'", env_name);
	}

	es_config *c = calloc(1, sizeof *c);
	if (!c) {
		ynode_free(tree);
		return NULL;
	}
	refcount_init(&c->refs);
	c->tree = tree;
	c->path = strdup(label);
	c->env = which;
	config_table_defaults(config_keys, c, which);

	if (tree->kind != YNODE_MAP) {
		config_error_add(errs, tree->line, tree->column, "the config must be a map of sections, not %s",
		                 ynode_kind_name(tree->kind));
	} else {
		config_ctx ctx = {.errors = errs, .env = env, .variant = which, .root = c};
		config_table_read(config_keys, tree, "", c, &ctx);
	}
	apply_environment(c, env, errs);
	check_exposure(c, errs);
	check_ports(c, errs);

	resolve_policy(&c->plugin_defaults, c);
	for (size_t i = 0; i < c->plugin_count; i++)
		resolve_policy(&c->plugins[i].policy, c);
	if (c->database_enabled && c->database_dsn[0] == '\0')
		config_error_add(errs, 0, 0, "database.enabled is true but no database.dsn (or EVENT_SYSTEM_DATABASE_DSN) is set");
	check_database(c, errs);
	check_queue(c, errs);

	if (errs->count > 0) {
		es_config_unref(c);
		return NULL;
	}
	return c;
}

/* Validate a parsed tree, or record the parser's "line:column: message". */
static es_config *build_parsed(ynode *tree, const char *parse_error, const char *label,
                               const char *(*env)(const char *), config_errors *errs)
{
	if (tree)
		return build(tree, label, env, errs);
	unsigned line = 0, column = 0;
	const char *msg = parse_error;
	if (sscanf(parse_error, "%u:%u: ", &line, &column) == 2)
		msg = strstr(parse_error, ": ") + 2;
	config_error_add(errs, line, column, "%s", msg);
	return NULL;
}

es_config *es_config_load(const char *path, const char *(*env)(const char *), config_errors *errs)
{
	memset(errs, 0, sizeof *errs);
	char err[512];
	/* Whoever may write the config may name plugins and tokens: the same
	 * rule as for plugin files.  (A missing file is reported by the parser.) */
	struct stat st;
	int fd = file_open_regular(path, "config file", &st, err, sizeof err);
	if (fd < 0 || !file_trusted(&st, geteuid(), "config file", path, err, sizeof err)) {
		if (fd >= 0)
			close(fd);
		config_error_add(errs, 0, 0, "%s", err);
		return NULL;
	}
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		config_error_add(errs, 0, 0, "cannot read config file %s: %s", path, strerror(errno));
		return NULL;
	}
	ynode *tree = yaml_tree_parse_stream(f, err, sizeof err);
	fclose(f);
	return build_parsed(tree, err, path, env, errs);
}

es_config *es_config_load_string(const char *text, const char *label, const char *(*env)(const char *),
                                 config_errors *errs)
{
	memset(errs, 0, sizeof *errs);
	char err[512];
	ynode *tree = yaml_tree_parse_string(text, strlen(text), err, sizeof err);
	return build_parsed(tree, err, label, env, errs);
}

void es_config_ref(es_config *c)
{
	refcount_get(&c->refs);
}

void es_config_unref(es_config *c)
{
	if (!c || !refcount_put(&c->refs))
		return;
	for (size_t i = 0; i < c->plugin_count; i++) {
		for (size_t j = 0; j < c->plugins[i].subscribe_count; j++)
			free(c->plugins[i].subscribe[j]);
		free(c->plugins[i].subscribe);
		free(c->plugins[i].name);
	}
	free(c->plugins);
	for (size_t i = 0; i < c->token_count; i++) {
		free(c->tokens[i].name);
		if (c->tokens[i].secret)
			memset(c->tokens[i].secret, 0, strlen(c->tokens[i].secret));
		free(c->tokens[i].secret);
	}
	free(c->tokens);
	char *secrets[] = {c->jetstream.password, c->jetstream.token};
	for (size_t i = 0; i < 2; i++)
		if (secrets[i])
			memset(secrets[i], 0, strlen(secrets[i]));
	config_table_free(config_keys, c);
	es_config_set_db_subscriptions(c, NULL, 0);
	free(c->path);
	ynode_free(c->tree);
	free(c);
}

const plugin_settings *es_config_plugin(const es_config *c, const char *name)
{
	for (size_t i = 0; i < c->plugin_count; i++)
		if (strcmp(c->plugins[i].name, name) == 0)
			return &c->plugins[i];
	return NULL;
}

void config_errors_report(const config_errors *errs, const char *file, void *stream)
{
	for (size_t i = 0; i < errs->count; i++) {
		const config_error *e = &errs->items[i];
		char where[600];
		if (e->line)
			snprintf(where, sizeof where, "%s:%u:%u", file, e->line, e->column);
		else
			snprintf(where, sizeof where, "%s", file);
		if (stream)
			fprintf((FILE *)stream, "%s: %s\n", where, e->message);
		else
			LOG_ERROR("config", "%s: %s", where, e->message);
	}
	if (errs->dropped) {
		if (stream)
			fprintf((FILE *)stream, "%s: ... and %zu more errors\n", file, errs->dropped);
		else
			LOG_ERROR("config", "%s: ... and %zu more errors", file, errs->dropped);
	}
}

size_t es_config_db_patterns(const es_config *c, const char *name, const char **out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < c->db_subscription_count && n < cap; i++)
		if (strcmp(c->db_subscriptions[i].plugin, name) == 0)
			out[n++] = c->db_subscriptions[i].pattern;
	return n;
}

int es_config_set_db_subscriptions(es_config *c, const db_subscription *rows, size_t count)
{
	for (size_t i = 0; i < c->db_subscription_count; i++) {
		free(c->db_subscriptions[i].plugin);
		free(c->db_subscriptions[i].pattern);
	}
	free(c->db_subscriptions);
	c->db_subscriptions = NULL;
	c->db_subscription_count = 0;
	if (count == 0)
		return 0;
	c->db_subscriptions = calloc(count, sizeof *c->db_subscriptions);
	if (!c->db_subscriptions)
		return -1;
	for (size_t i = 0; i < count; i++) {
		db_subscription *d = &c->db_subscriptions[c->db_subscription_count];
		d->id = rows[i].id;
		d->plugin = strdup(rows[i].plugin);
		d->pattern = strdup(rows[i].pattern);
		c->db_subscription_count++;
		if (!d->plugin || !d->pattern)
			return -1;
	}
	return 0;
}

