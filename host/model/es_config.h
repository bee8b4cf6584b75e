/*
 * The daemon's configuration: one YAML file plus environment overrides,
 * validated completely before anything uses it.  Unknown keys, wrong types
 * and out-of-range values are errors with `file:line:column`, never ignored.
 *
 * Precedence (lowest first): built-in defaults, defaults of EVENT_SYSTEM_ENV
 * (dev|test|prod), the file, then EVENT_SYSTEM_LOG_LEVEL and
 * EVENT_SYSTEM_DATABASE_DSN.
 *
 * Ownership: es_config_load() returns a config with one reference, dropped
 * with es_config_unref(); the routing table built from it holds another, so
 * HTTP threads read a config that cannot be freed under them.  It owns the YAML tree that plugin `config:`
 * subtrees point into, so a plugin's config lives exactly as long as the
 * es_config it came from.  A loaded config is never modified: a reload
 * builds a new one.
 */
#ifndef ES_CONFIG_H
#define ES_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/config_table.h"
#include "util/log.h"
#include "util/refcount.h"
#include "util/yaml_tree.h"

typedef enum es_env {
	ES_ENV_PROD = 0,
	ES_ENV_TEST = 1,
	ES_ENV_DEV = 2,
} es_env;

/* How one plugin's deliveries are run; see docs/configuration.md. */
typedef struct plugin_policy {
	uint32_t workers;
	uint32_t queue_size;
	uint32_t timeout_ms;
	uint32_t max_attempts;
	uint32_t backoff_initial_ms;
	uint32_t backoff_max_ms;
	double backoff_multiplier;
	uint32_t max_stuck_workers; /* replacement threads allowed while handlers overrun */
	/* crash rules (core/crash_ledger.h) */
	uint32_t max_crashes;         /* crashes of one event before it is dead-lettered for the plugin */
	uint32_t quarantine_after;    /* crashes within quarantine_window_s that quarantine it; 0: never */
	uint32_t quarantine_window_s;
	bool isolated;              /* `isolation: process`: the plugin runs in child processes */
	uint32_t memory_limit_mb;   /* isolated: a child's memory limit; 0: none */
	uint32_t open_files_limit;  /* isolated: a child's RLIMIT_NOFILE; 0: the daemon's */
	/* a plugin with handle_batch (SDK 1.1) */
	uint32_t batch_max;       /* most events per handle_batch() call */
	uint32_t batch_linger_ms; /* how long a worker waits for a batch to fill; 0: not at all */
	/* How long a worker that just had work sleeps before it looks at its
	 * queue again, not woken for each event meanwhile (worker_pool.c,
	 * wait_for_work()); 0: woken for every event that finds it asleep.
	 * What it adds to an event's latency under a stream. */
	uint32_t wakeup_coalesce_us;
} plugin_policy;

/* `plugins.settings.<name>` */
typedef struct plugin_settings {
	char *name;
	bool enabled;
	char **subscribe; /* NULL when the config gives none: the descriptor's defaults apply */
	size_t subscribe_count;
	plugin_policy policy;
	bool workers_set; /* the config named `workers` (a serial plugin refuses >1) */
	const ynode *config; /* the free-form `config:` subtree, or NULL; owned by the es_config */
	unsigned line, column;
} plugin_settings;

typedef enum token_role {
	TOKEN_ROLE_TRIGGER = 1, /* may trigger events */
	TOKEN_ROLE_ADMIN = 2,   /* may trigger and use the admin endpoints */
} token_role;

/* `auth.tokens[]`: a bearer token.  `secret` is never logged. */
typedef struct api_token {
	char *name;
	token_role role;
	char *secret;
} api_token;

/* A row of the database's event_subscriptions table (database.h). */
typedef struct db_subscription {
	unsigned long id;
	char *plugin;
	char *pattern;
} db_subscription;

typedef enum db_subscriptions_state {
	DB_SUBSCRIPTIONS_NONE = 0,     /* no database, or database.subscriptions: false */
	DB_SUBSCRIPTIONS_READ = 1,     /* read from the table */
	DB_SUBSCRIPTIONS_PREVIOUS = 2, /* the table could not be read: the previous config's rows (or none) */
} db_subscriptions_state;

/* The fields a key fills are named by that key's row in the key table
 * (es_config.c); a new key is a field here and a row there. */
typedef enum queue_backend {
	QUEUE_LOCAL = 0,     /* each daemon's own bounded queues (the default) */
	QUEUE_JETSTREAM = 1, /* NATS JetStream, shared by several daemons */
} queue_backend;

/* `queue.jetstream`: the NATS connection and the stream (docs/operations.md,
 * "Scale-out").  The credentials are secrets: never logged. */
typedef struct jetstream_config {
	char *servers;        /* comma-separated nats:// URLs */
	char *user, *password, *token, *creds_file; /* NULL when not set */
	char *tls_ca_file;    /* NULL: no TLS unless a URL says tls:// */
	char *stream;         /* the stream's name */
	char *subject_prefix; /* deliveries are published to <prefix>.deliver.<plugin> */
	uint32_t max_mb;      /* the stream's size limit; 0: none */
	uint32_t max_age_s;   /* the stream's age limit; 0: none */
	uint32_t replicas;
	uint32_t duplicate_window_s; /* a retried trigger with the same id is stored once within this */
	uint32_t publish_timeout_ms; /* how long a trigger waits for JetStream's acknowledgement */
	uint32_t connect_timeout_ms;
	/* This daemon's number among those sharing one database (1 to
	 * ES_NODE_ID_MAX; 0: not set): the low bits of every history key it
	 * makes (docs/operations.md, "Several daemons, one database"). */
	uint32_t node_id;
} jetstream_config;

#define ES_NODE_ID_MAX 1023

typedef struct es_config {
	refcount refs; /* readers on other threads hold one (see routing tables) */
	char *path;
	ynode *tree;
	es_env env;

	char *server_host;
	uint16_t server_port;
	uint32_t server_threads;
	uint32_t request_timeout_ms; /* a client must send each whole request within this */
	uint32_t max_connections;    /* open HTTP connections; 0: derived from the open-file limit */
	uint32_t max_waiters;        /* requests waiting for an outcome (?wait=true, admin reload) */
	bool allow_unauthenticated; /* serve a non-loopback address without tokens */

	api_token *tokens;
	size_t token_count;

	uint32_t async_workers;      /* default `workers` for each plugin */
	uint32_t async_channel_size; /* default `queue_size` for each plugin */
	size_t max_event_size;
	uint32_t shutdown_timeout_ms;
	uint32_t sync_timeout_ms; /* how long ?wait=true and /api/events/test wait */

	bool database_enabled;
	char *database_dsn; /* secret: never log it, log dsn_redact() of it */
	bool database_durable;          /* answer 202 only once the event row is committed */
	bool database_migrate_on_start; /* apply sql/migrations at connect instead of refusing an old schema */
	bool database_subscriptions;    /* add the event_subscriptions table's rows to the config's */
	double database_retention_days; /* events older than this are purged; 0 keeps them forever */
	uint32_t database_purge_interval_s;
	uint32_t database_queue_size;   /* records waiting for the writer, at most */
	uint32_t database_queue_max_mb; /* and the memory they hold, at most */
	uint32_t database_connect_timeout_ms;
	uint32_t database_query_timeout_ms;
	uint32_t database_reconnect_max_ms; /* longest wait between reconnection attempts */
	/* Filled after loading, before the config is used (database_read_subscriptions()). */
	db_subscription *db_subscriptions;
	size_t db_subscription_count;
	db_subscriptions_state db_subscriptions_state;

	log_level log_level;
	log_format log_format;
	bool access_log;

	double health_failure_ratio;    /* a plugin failing this share of its recent deliveries is degraded */
	double health_queue_full_ratio; /* a queue this full is degraded */

	bool metrics_enabled;
	char *metrics_host;
	uint16_t metrics_port;

	queue_backend queue_backend;
	jetstream_config jetstream;

	char *plugin_dir;
	bool load_unconfigured; /* load .so files that have no settings entry */
	char *state_dir;        /* crash file and history; "" for none (restart to change) */
	plugin_policy plugin_defaults;
	plugin_settings *plugins;
	size_t plugin_count;
} es_config;

/* Load and validate `path`.  Returns NULL when anything is wrong; every
 * problem found is in *errors.  `env` is a getenv-like function (tests pass
 * their own); NULL means getenv. */
es_config *es_config_load(const char *path, const char *(*env)(const char *name), config_errors *errors);
/* Same, from a string (tests); `label` stands in for the file name. */
es_config *es_config_load_string(const char *text, const char *label,
                                 const char *(*env)(const char *name), config_errors *errors);
/* Reference counting: es_config_load*() returns one reference;
 * es_config_unref() drops one (and frees on the last). */
void es_config_ref(es_config *config);
void es_config_unref(es_config *config);

/* The patterns the database adds for plugin `name` (at most `cap`, pointers
 * owned by the config); returns how many. */
size_t es_config_db_patterns(const es_config *config, const char *name, const char **out, size_t cap);
/* Replace config's database subscriptions with copies of `rows`. 0, or -1
 * when out of memory. */
int es_config_set_db_subscriptions(es_config *config, const db_subscription *rows, size_t count);

/* Settings for plugin `name`, or NULL when the config has none. */
const plugin_settings *es_config_plugin(const es_config *config, const char *name);

/* Log each error as `file:line:column: message` (or print to stream when
 * non-NULL). */
void config_errors_report(const config_errors *errors, const char *file, void *stream);

const char *es_env_name(es_env env);

/* The key reference, one line per key (config_table_dump()): what
 * docs/configuration.md and event-system.yaml(5) must list. */
void es_config_dump_keys(FILE *out);

/* What a reload from `running` to `next` changes: the paths of the keys that
 * differ, ", "-separated, into `changed`, and those a reload cannot apply
 * (they take effect at the next start) into `restart`.  Plugin settings are
 * left out: the reload reports the plugins it replaces. */
void es_config_describe_changes(const es_config *running, const es_config *next, char *changed,
                                size_t changed_size, char *restart, size_t restart_size);

/* 127.x.x.x, ::1 or localhost. */
bool es_config_host_is_loopback(const char *host);

/* The grammar of plugin names, wherever one is read (config, descriptor,
 * crash files): [a-z0-9_-]{1,64}. */
bool es_config_plugin_name_valid(const char *name);

/* May a reload replace `running` by `next` without weakening authentication
 * by accident?  (docs/security.md: "What a reload may change")  A config
 * without tokens replaces one with tokens only when it sets
 * server.allow_unauthenticated; and the exposure rule is checked against
 * `served_host`, the address the listener is bound to (server.host needs a
 * restart), not the file's.  0 when allowed; otherwise -1 and why. */
int es_config_check_reload_auth(const es_config *running, const es_config *next, const char *served_host,
                                char *why, size_t why_size);

#endif
