/*
 * Reading and validating the YAML config.  Each section has a list of the
 * keys it knows; anything else is reported as a typo.  All errors are
 * collected (not just the first), each with its line and column.
 */
#include "config.h"

#include "model/es_config.h"

#include "util/dsn.h"
#include "util/file_trust.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CONFIG_PLUGIN_DIR PLUGINDIR

static void add_error(config_errors *errs, unsigned line, unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_error(config_errors *errs, unsigned line, unsigned column, const char *fmt, ...)
{
	if (errs->count >= sizeof errs->items / sizeof errs->items[0]) {
		errs->dropped++;
		return;
	}
	config_error *e = &errs->items[errs->count++];
	e->line = line;
	e->column = column;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

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

/* ---- typed readers: each reports its own errors and leaves *out alone on error ---- */

/* Report keys of `map` not in `known` (NULL-terminated). */
static void check_known_keys(const ynode *map, const char *section, const char *const *known, config_errors *errs)
{
	for (size_t i = 0; i < map->count; i++) {
		bool found = false;
		for (const char *const *k = known; *k; k++)
			if (strcmp(map->keys[i], *k) == 0)
				found = true;
		if (found)
			continue;
		char list[200] = "";
		size_t len = 0;
		for (const char *const *k = known; *k && len < sizeof list - 1; k++)
			len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k == known ? "" : ", ", *k);
		add_error(errs, map->key_lines[i], map->key_columns[i], "unknown key '%s' in %s (known keys: %s)",
		          map->keys[i], section, list);
	}
}

/* The map at `key`, or NULL (absent or null); an error when it is not a map. */
static const ynode *get_map(const ynode *map, const char *key, const char *where, config_errors *errs)
{
	const ynode *n = ynode_get(map, key);
	if (!n || ynode_is_null(n))
		return NULL;
	if (n->kind != YNODE_MAP) {
		add_error(errs, n->line, n->column, "%s%s%s must be a map, not %s", where, *where ? "." : "", key,
		          ynode_kind_name(n->kind));
		return NULL;
	}
	return n;
}

static const ynode *get_scalar(const ynode *map, const char *key, const char *where, config_errors *errs)
{
	const ynode *n = ynode_get(map, key);
	if (!n)
		return NULL;
	if (n->kind != YNODE_SCALAR) {
		add_error(errs, n->line, n->column, "%s.%s must be a single value, not %s", where, key,
		          ynode_kind_name(n->kind));
		return NULL;
	}
	return n;
}

static void get_uint(const ynode *map, const char *key, const char *where, uint64_t min, uint64_t max,
                     uint32_t *out, config_errors *errs)
{
	const ynode *n = get_scalar(map, key, where, errs);
	if (!n)
		return;
	const char *s = n->scalar;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (n->quoted || !*s || *s == '-' || *s == '+' || *end || errno) {
		add_error(errs, n->line, n->column, "%s.%s must be a whole number, not '%s'", where, key, s);
		return;
	}
	if (v < min || v > max) {
		add_error(errs, n->line, n->column, "%s.%s must be between %llu and %llu, not %llu", where, key,
		          (unsigned long long)min, (unsigned long long)max, v);
		return;
	}
	*out = (uint32_t)v;
}

static void get_double(const ynode *map, const char *key, const char *where, double min, double max,
                       double *out, config_errors *errs)
{
	const ynode *n = get_scalar(map, key, where, errs);
	if (!n)
		return;
	char *end = NULL;
	errno = 0;
	double v = strtod(n->scalar, &end);
	if (n->quoted || !*n->scalar || *end || errno || !isfinite(v)) {
		add_error(errs, n->line, n->column, "%s.%s must be a number, not '%s'", where, key, n->scalar);
		return;
	}
	if (v < min || v > max) {
		add_error(errs, n->line, n->column, "%s.%s must be between %g and %g, not %g", where, key, min, max, v);
		return;
	}
	*out = v;
}

static void get_bool(const ynode *map, const char *key, const char *where, bool *out, config_errors *errs)
{
	const ynode *n = get_scalar(map, key, where, errs);
	if (!n)
		return;
	const char *s = n->scalar;
	if (!n->quoted && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0))
		*out = true;
	else if (!n->quoted && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0))
		*out = false;
	else
		add_error(errs, n->line, n->column, "%s.%s must be true or false, not '%s'", where, key, s);
}

/* Replace *out with a copy of the string at `key` (when present). */
static void get_string(const ynode *map, const char *key, const char *where, bool allow_empty, char **out,
                       config_errors *errs)
{
	const ynode *n = get_scalar(map, key, where, errs);
	if (!n)
		return;
	if (!allow_empty && n->scalar[0] == '\0') {
		add_error(errs, n->line, n->column, "%s.%s must not be empty", where, key);
		return;
	}
	char *copy = strdup(n->scalar);
	if (!copy) {
		add_error(errs, n->line, n->column, "out of memory");
		return;
	}
	free(*out);
	*out = copy;
}

/* ---- sections ---- */

static void read_server(const ynode *root, es_config *c, config_errors *errs)
{
	const ynode *m = get_map(root, "server", "", errs);
	if (!m)
		return;
	static const char *const known[] = {"host", "port", "threads", "allow_unauthenticated", "request_timeout_ms",
	                                    "max_connections", "max_waiters", NULL};
	check_known_keys(m, "server", known, errs);
	get_bool(m, "allow_unauthenticated", "server", &c->allow_unauthenticated, errs);
	get_string(m, "host", "server", false, &c->server_host, errs);
	uint32_t port = c->server_port;
	get_uint(m, "port", "server", 1, 65535, &port, errs);
	c->server_port = (uint16_t)port;
	get_uint(m, "threads", "server", 1, 64, &c->server_threads, errs);
	get_uint(m, "request_timeout_ms", "server", 100, 3600000, &c->request_timeout_ms, errs);
	get_uint(m, "max_connections", "server", 0, 1u << 20, &c->max_connections, errs);
	get_uint(m, "max_waiters", "server", 1, 1u << 20, &c->max_waiters, errs);
}

static void read_event(const ynode *root, es_config *c, config_errors *errs)
{
	const ynode *m = get_map(root, "event", "", errs);
	if (!m)
		return;
	static const char *const known[] = {"async_workers", "async_channel_size", "max_event_size",
	                                    "shutdown_timeout_ms", "sync_timeout_ms", NULL};
	check_known_keys(m, "event", known, errs);
	get_uint(m, "async_workers", "event", 1, 256, &c->async_workers, errs);
	get_uint(m, "async_channel_size", "event", 1, 1u << 24, &c->async_channel_size, errs);
	uint32_t size = (uint32_t)c->max_event_size;
	get_uint(m, "max_event_size", "event", 256, 64u << 20, &size, errs);
	c->max_event_size = size;
	get_uint(m, "shutdown_timeout_ms", "event", 0, 600000, &c->shutdown_timeout_ms, errs);
	get_uint(m, "sync_timeout_ms", "event", 1, 600000, &c->sync_timeout_ms, errs);
}

static void read_database(const ynode *root, es_config *c, config_errors *errs)
{
	const ynode *m = get_map(root, "database", "", errs);
	if (!m)
		return;
	static const char *const known[] = {"enabled",          "dsn",
	                                    "mode",             "migrate_on_start",
	                                    "subscriptions",    "retention_days",
	                                    "purge_interval_s", "queue_size", "queue_max_mb",
	                                    "connect_timeout_ms", "query_timeout_ms",
	                                    "reconnect_max_ms", NULL};
	check_known_keys(m, "database", known, errs);
	get_bool(m, "enabled", "database", &c->database_enabled, errs);
	get_string(m, "dsn", "database", true, &c->database_dsn, errs);
	const ynode *n = get_scalar(m, "mode", "database", errs);
	if (n && strcmp(n->scalar, "durable") == 0)
		c->database_durable = true;
	else if (n && strcmp(n->scalar, "async") == 0)
		c->database_durable = false;
	else if (n)
		add_error(errs, n->line, n->column, "database.mode must be durable or async, not '%s'", n->scalar);
	get_bool(m, "migrate_on_start", "database", &c->database_migrate_on_start, errs);
	get_bool(m, "subscriptions", "database", &c->database_subscriptions, errs);
	get_double(m, "retention_days", "database", 0, 36500, &c->database_retention_days, errs);
	get_uint(m, "purge_interval_s", "database", 1, 86400, &c->database_purge_interval_s, errs);
	get_uint(m, "queue_size", "database", 100, 10000000, &c->database_queue_size, errs);
	get_uint(m, "queue_max_mb", "database", 1, 65536, &c->database_queue_max_mb, errs);
	get_uint(m, "connect_timeout_ms", "database", 100, 60000, &c->database_connect_timeout_ms, errs);
	get_uint(m, "query_timeout_ms", "database", 100, 600000, &c->database_query_timeout_ms, errs);
	get_uint(m, "reconnect_max_ms", "database", 100, 600000, &c->database_reconnect_max_ms, errs);
}

/* A DSN that cannot be used is a config error (its message never holds the
 * password); so is asking for a database in a build without the client. */
static void check_database(const es_config *c, config_errors *errs)
{
	if (!c->database_enabled)
		return;
#ifndef HAVE_MYSQL
	add_error(errs, 0, 0, "database.enabled is true but this build has no MySQL client (configure --with-mysql)");
#endif
	if (c->database_dsn[0] == '\0')
		return;
	dsn parsed;
	char why[300];
	if (dsn_parse(c->database_dsn, &parsed, why, sizeof why) != 0)
		add_error(errs, 0, 0, "database.dsn: %s", why);
}

static void read_logging(const ynode *root, es_config *c, config_errors *errs)
{
	const ynode *m = get_map(root, "logging", "", errs);
	if (!m)
		return;
	static const char *const known[] = {"level", "format", "access_log", NULL};
	check_known_keys(m, "logging", known, errs);
	get_bool(m, "access_log", "logging", &c->access_log, errs);
	const ynode *n = get_scalar(m, "level", "logging", errs);
	if (n && !log_level_parse(n->scalar, &c->log_level))
		add_error(errs, n->line, n->column, "logging.level must be error, warn, info or debug, not '%s'",
		          n->scalar);
	n = get_scalar(m, "format", "logging", errs);
	if (n && !log_format_parse(n->scalar, &c->log_format))
		add_error(errs, n->line, n->column, "logging.format must be json or text, not '%s'", n->scalar);
}

static void read_health(const ynode *root, es_config *c, config_errors *errs)
{
	const ynode *m = get_map(root, "health", "", errs);
	if (!m)
		return;
	static const char *const known[] = {"failure_ratio", "queue_full_ratio", NULL};
	check_known_keys(m, "health", known, errs);
	get_double(m, "failure_ratio", "health", 0.01, 1.0, &c->health_failure_ratio, errs);
	get_double(m, "queue_full_ratio", "health", 0.01, 1.0, &c->health_queue_full_ratio, errs);
}

static void read_metrics(const ynode *root, es_config *c, config_errors *errs)
{
	const ynode *m = get_map(root, "metrics", "", errs);
	if (!m)
		return;
	static const char *const known[] = {"enabled", "host", "port", NULL};
	check_known_keys(m, "metrics", known, errs);
	get_bool(m, "enabled", "metrics", &c->metrics_enabled, errs);
	get_string(m, "host", "metrics", false, &c->metrics_host, errs);
	uint32_t port = c->metrics_port;
	get_uint(m, "port", "metrics", 1, 65535, &port, errs);
	c->metrics_port = (uint16_t)port;
}

/* Read a token's secret from exactly one of token, token_env, token_file. */
static char *read_secret(const ynode *t, const char *where, const char *(*env)(const char *), config_errors *errs)
{
	const ynode *lit = ynode_get(t, "token"), *var = ynode_get(t, "token_env"), *file = ynode_get(t, "token_file");
	int given = (lit != NULL) + (var != NULL) + (file != NULL);
	if (given != 1) {
		add_error(errs, t->line, t->column, "%s needs exactly one of token, token_env, token_file", where);
		return NULL;
	}
	const ynode *n = lit ? lit : var ? var : file;
	if (n->kind != YNODE_SCALAR || !n->scalar[0]) {
		add_error(errs, n->line, n->column, "%s: the token source must be a non-empty string", where);
		return NULL;
	}
	char *secret = NULL;
	if (lit) {
		secret = strdup(n->scalar);
	} else if (var) {
		const char *v = env(n->scalar);
		if (!v || !*v) {
			add_error(errs, n->line, n->column, "%s: environment variable %s is not set", where, n->scalar);
			return NULL;
		}
		secret = strdup(v);
	} else {
		FILE *f = fopen(n->scalar, "r");
		char buf[512];
		if (!f) {
			add_error(errs, n->line, n->column, "%s: cannot read %s: %s", where, n->scalar, strerror(errno));
			return NULL;
		}
		/* Whoever may write the token file may replace the token. */
		struct stat st;
		char why[600] = "";
		if (fstat(fileno(f), &st) != 0)
			snprintf(why, sizeof why, "cannot read %s: %s", n->scalar, strerror(errno));
		else
			file_trusted(&st, geteuid(), "token file", n->scalar, why, sizeof why);
		if (why[0]) {
			add_error(errs, n->line, n->column, "%s: %s", where, why);
			fclose(f);
			return NULL;
		}
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
			len--;
		buf[len] = '\0';
		secret = strdup(buf);
	}
	if (secret && strlen(secret) < 16) {
		add_error(errs, n->line, n->column, "%s: the token is shorter than 16 characters", where);
		free(secret);
		return NULL;
	}
	return secret;
}

static void read_auth(const ynode *root, es_config *c, const char *(*env)(const char *), config_errors *errs)
{
	const ynode *m = get_map(root, "auth", "", errs);
	if (!m)
		return;
	static const char *const known[] = {"tokens", NULL};
	check_known_keys(m, "auth", known, errs);
	const ynode *list = ynode_get(m, "tokens");
	if (!list || ynode_is_null(list))
		return;
	if (list->kind != YNODE_LIST) {
		add_error(errs, list->line, list->column, "auth.tokens must be a list");
		return;
	}
	c->tokens = calloc(list->count ? list->count : 1, sizeof *c->tokens);
	if (!c->tokens)
		return;
	for (size_t i = 0; i < list->count; i++) {
		const ynode *t = list->items[i];
		char where[64];
		snprintf(where, sizeof where, "auth.tokens[%zu]", i);
		if (t->kind != YNODE_MAP) {
			add_error(errs, t->line, t->column, "%s must be a map with name, role and a token source", where);
			continue;
		}
		static const char *const token_known[] = {"name", "role", "token", "token_env", "token_file", NULL};
		check_known_keys(t, where, token_known, errs);
		api_token tok = {.role = TOKEN_ROLE_TRIGGER};
		get_string(t, "name", where, false, &tok.name, errs);
		const ynode *role = get_scalar(t, "role", where, errs);
		if (role && strcmp(role->scalar, "admin") == 0)
			tok.role = TOKEN_ROLE_ADMIN;
		else if (role && strcmp(role->scalar, "trigger") != 0)
			add_error(errs, role->line, role->column, "%s.role must be trigger or admin, not '%s'", where,
			          role->scalar);
		if (!tok.name)
			add_error(errs, t->line, t->column, "%s has no name (used in logs instead of the token)", where);
		tok.secret = read_secret(t, where, env, errs);
		if (!tok.name || !tok.secret) {
			free(tok.name);
			free(tok.secret);
			continue;
		}
		c->tokens[c->token_count++] = tok;
	}
}

/* Keys shared by plugins.defaults and plugins.settings.<name>. */
#define POLICY_KEYS "workers", "queue_size", "timeout_ms", "max_attempts", "backoff_initial_ms", \
		"backoff_max_ms", "backoff_multiplier", "max_stuck_workers"

static void read_policy(const ynode *m, const char *where, plugin_policy *p, config_errors *errs)
{
	get_uint(m, "workers", where, 1, 256, &p->workers, errs);
	get_uint(m, "queue_size", where, 1, 1u << 24, &p->queue_size, errs);
	get_uint(m, "timeout_ms", where, 1, 3600000, &p->timeout_ms, errs);
	get_uint(m, "max_attempts", where, 1, 100, &p->max_attempts, errs);
	get_uint(m, "backoff_initial_ms", where, 0, 3600000, &p->backoff_initial_ms, errs);
	get_uint(m, "backoff_max_ms", where, 0, 3600000, &p->backoff_max_ms, errs);
	get_double(m, "backoff_multiplier", where, 1.0, 10.0, &p->backoff_multiplier, errs);
	get_uint(m, "max_stuck_workers", where, 0, 256, &p->max_stuck_workers, errs);
	if (p->backoff_max_ms < p->backoff_initial_ms)
		add_error(errs, m->line, m->column, "%s: backoff_max_ms (%u) is less than backoff_initial_ms (%u)",
		          where, p->backoff_max_ms, p->backoff_initial_ms);
}

/* The grammar of plugin names: [a-z0-9_-]{1,64}. */
static bool valid_plugin_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static void read_subscriptions(const ynode *n, const char *where, plugin_settings *ps, config_errors *errs)
{
	if (n->kind == YNODE_SCALAR) { /* a single pattern */
		ps->subscribe = calloc(1, sizeof *ps->subscribe);
		if (ps->subscribe && (ps->subscribe[0] = strdup(n->scalar)))
			ps->subscribe_count = 1;
		return;
	}
	if (n->kind != YNODE_LIST) {
		add_error(errs, n->line, n->column, "%s.subscribe must be a list of patterns", where);
		return;
	}
	ps->subscribe = calloc(n->count ? n->count : 1, sizeof *ps->subscribe);
	if (!ps->subscribe)
		return;
	for (size_t i = 0; i < n->count; i++) {
		const ynode *item = n->items[i];
		if (item->kind != YNODE_SCALAR || item->scalar[0] == '\0') {
			add_error(errs, item->line, item->column, "%s.subscribe[%zu] must be a pattern string", where, i);
			continue;
		}
		ps->subscribe[ps->subscribe_count] = strdup(item->scalar);
		if (ps->subscribe[ps->subscribe_count])
			ps->subscribe_count++;
	}
}

static void read_plugins(const ynode *root, es_config *c, config_errors *errs)
{
	const ynode *m = get_map(root, "plugins", "", errs);
	if (!m)
		return;
	static const char *const known[] = {"directory", "load_unconfigured", "defaults", "settings", NULL};
	check_known_keys(m, "plugins", known, errs);
	get_string(m, "directory", "plugins", false, &c->plugin_dir, errs);
	get_bool(m, "load_unconfigured", "plugins", &c->load_unconfigured, errs);

	const ynode *defaults = get_map(m, "defaults", "plugins", errs);
	if (defaults) {
		static const char *const policy_known[] = {POLICY_KEYS, NULL};
		check_known_keys(defaults, "plugins.defaults", policy_known, errs);
		read_policy(defaults, "plugins.defaults", &c->plugin_defaults, errs);
	}

	const ynode *settings = get_map(m, "settings", "plugins", errs);
	if (!settings)
		return;
	c->plugins = calloc(settings->count ? settings->count : 1, sizeof *c->plugins);
	if (!c->plugins) {
		add_error(errs, settings->line, settings->column, "out of memory");
		return;
	}
	for (size_t i = 0; i < settings->count; i++) {
		const char *name = settings->keys[i];
		const ynode *pm = settings->items[i];
		char where[128];
		snprintf(where, sizeof where, "plugins.settings.%s", name);
		if (!valid_plugin_name(name)) {
			add_error(errs, settings->key_lines[i], settings->key_columns[i],
			          "plugin name '%s' is invalid: use 1 to 64 of [a-z0-9_-]", name);
			continue;
		}
		plugin_settings *ps = &c->plugins[c->plugin_count++];
		ps->name = strdup(name);
		ps->enabled = true;
		ps->policy = c->plugin_defaults;
		ps->line = settings->key_lines[i];
		ps->column = settings->key_columns[i];
		if (ynode_is_null(pm))
			continue; /* "name:" alone: all defaults */
		if (pm->kind != YNODE_MAP) {
			add_error(errs, pm->line, pm->column, "%s must be a map, not %s", where, ynode_kind_name(pm->kind));
			continue;
		}
		static const char *const plugin_known[] = {"enabled", "subscribe", "config", POLICY_KEYS, NULL};
		check_known_keys(pm, where, plugin_known, errs);
		get_bool(pm, "enabled", where, &ps->enabled, errs);
		ps->workers_set = ynode_get(pm, "workers") != NULL;
		read_policy(pm, where, &ps->policy, errs);
		const ynode *sub = ynode_get(pm, "subscribe");
		if (sub && !ynode_is_null(sub))
			read_subscriptions(sub, where, ps, errs);
		const ynode *cfg = ynode_get(pm, "config");
		if (cfg && !ynode_is_null(cfg)) {
			if (cfg->kind != YNODE_MAP)
				add_error(errs, cfg->line, cfg->column, "%s.config must be a map", where);
			else
				ps->config = cfg;
		}
	}
}

static void apply_defaults(es_config *c, es_env env)
{
	c->env = env;
	c->server_host = strdup("127.0.0.1") /* loopback unless told otherwise */;
	c->server_port = 8080;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	c->server_threads = cpus < 1 ? 1 : cpus > 4 ? 4 : (uint32_t)cpus;
	c->request_timeout_ms = 30000;
	c->max_connections = 0; /* derived from the open-file limit at start */
	c->max_waiters = 256;
	c->async_workers = 4;
	c->async_channel_size = 1000;
	c->max_event_size = 1048576;
	c->shutdown_timeout_ms = 10000;
	c->sync_timeout_ms = 10000;
	c->access_log = true;
	c->database_enabled = false;
	c->database_dsn = strdup("");
	c->database_durable = true;
	c->database_migrate_on_start = false;
	c->database_subscriptions = true;
	c->database_retention_days = 30;
	c->database_purge_interval_s = 3600;
	c->database_queue_size = 100000;
	c->database_queue_max_mb = 256;
	c->database_connect_timeout_ms = 2000;
	c->database_query_timeout_ms = 10000;
	c->database_reconnect_max_ms = 5000;
	c->log_level = env == ES_ENV_DEV ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	c->log_format = env == ES_ENV_PROD ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
	c->health_failure_ratio = 0.5;
	c->health_queue_full_ratio = 0.9;
	c->metrics_enabled = true;
	c->metrics_host = strdup("127.0.0.1");
	c->metrics_port = 9090;
	c->plugin_dir = strdup(DEFAULT_CONFIG_PLUGIN_DIR);
	c->load_unconfigured = true;
	c->plugin_defaults = (plugin_policy){
		.workers = 0, /* 0: take event.async_workers */
		.queue_size = 0, /* 0: take event.async_channel_size */
		.timeout_ms = 5000,
		.max_attempts = 3,
		.backoff_initial_ms = 100,
		.backoff_max_ms = 10000,
		.backoff_multiplier = 2.0,
		.max_stuck_workers = 4,
	};
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
	add_error(errs, host ? host->line : 0, host ? host->column : 0,
	          "server.host %s is not a loopback address and auth.tokens is empty: add tokens, "
	          "or set server.allow_unauthenticated: true to serve it without authentication",
	          c->server_host);
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
		add_error(errs, 0, 0, "EVENT_SYSTEM_LOG_LEVEL must be error, warn, info or debug, not '%s'", v);
	v = env("EVENT_SYSTEM_DATABASE_DSN");
	if (v && *v) {
		free(c->database_dsn);
		c->database_dsn = strdup(v);
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
			add_error(errs, 0, 0, "EVENT_SYSTEM_ENV must be dev, test or prod, not '%s'", env_name);
	}

	es_config *c = calloc(1, sizeof *c);
	if (!c) {
		ynode_free(tree);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	c->tree = tree;
	c->path = strdup(label);
	apply_defaults(c, which);

	if (tree->kind != YNODE_MAP) {
		add_error(errs, tree->line, tree->column, "the config must be a map of sections, not %s",
		          ynode_kind_name(tree->kind));
	} else {
		static const char *const known[] = {"server", "event", "database", "logging", "metrics", "plugins",
		                                    "auth", "health", NULL};
		check_known_keys(tree, "the top level", known, errs);
		read_server(tree, c, errs);
		read_event(tree, c, errs);
		read_database(tree, c, errs);
		read_logging(tree, c, errs);
		read_metrics(tree, c, errs);
		read_plugins(tree, c, errs);
		read_auth(tree, c, env, errs);
		read_health(tree, c, errs);
	}
	apply_environment(c, env, errs);
	check_exposure(c, errs);

	resolve_policy(&c->plugin_defaults, c);
	for (size_t i = 0; i < c->plugin_count; i++)
		resolve_policy(&c->plugins[i].policy, c);
	if (c->database_enabled && c->database_dsn[0] == '\0')
		add_error(errs, 0, 0, "database.enabled is true but no database.dsn (or EVENT_SYSTEM_DATABASE_DSN) is set");
	check_database(c, errs);

	if (errs->count > 0) {
		es_config_free(c);
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
	add_error(errs, line, column, "%s", msg);
	return NULL;
}

es_config *es_config_load(const char *path, const char *(*env)(const char *), config_errors *errs)
{
	memset(errs, 0, sizeof *errs);
	char err[512];
	/* Whoever may write the config may name plugins and tokens: the same
	 * rule as for plugin files.  (A missing file is reported by the parser.) */
	struct stat st;
	if (stat(path, &st) == 0 && !file_trusted(&st, geteuid(), "config file", path, err, sizeof err)) {
		add_error(errs, 0, 0, "%s", err);
		return NULL;
	}
	ynode *tree = yaml_tree_parse_file(path, err, sizeof err);
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
	atomic_fetch_add(&c->refs, 1);
}

void es_config_free(es_config *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
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
	free(c->server_host);
	free(c->database_dsn);
	es_config_set_db_subscriptions(c, NULL, 0);
	free(c->metrics_host);
	free(c->plugin_dir);
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
