/* Config loading: defaults, every key, environment overrides, and each kind
 * of error reported with its line and column. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "model/es_config.h"

/* A fake environment for the tests. */
static const char *env_names[8];
static const char *env_values[8];

static const char *fake_env(const char *name)
{
	for (int i = 0; i < 8 && env_names[i]; i++)
		if (strcmp(env_names[i], name) == 0)
			return env_values[i];
	return NULL;
}

static void set_env(int i, const char *name, const char *value)
{
	env_names[i] = name;
	env_values[i] = value;
	if (i + 1 < 8)
		env_names[i + 1] = NULL;
}

static int reset_env(void **state)
{
	env_names[0] = NULL;
	return 0;
}

static es_config *load(const char *text, config_errors *errs)
{
	return es_config_load_string(text, "test.yaml", fake_env, errs);
}

/* The one error expected: at line:column, with `needle` in its message. */
static void expect_one_error(const char *text, unsigned line, unsigned column, const char *needle)
{
	config_errors errs;
	es_config *c = load(text, &errs);
	assert_null(c);
	assert_int_equal(errs.count, 1);
	if (!strstr(errs.items[0].message, needle))
		fail_msg("message '%s' lacks '%s'", errs.items[0].message, needle);
	assert_int_equal(errs.items[0].line, line);
	assert_int_equal(errs.items[0].column, column);
}

static void empty_file_gives_defaults(void **state)
{
	config_errors errs;
	es_config *c = load("", &errs);
	assert_non_null(c);
	assert_string_equal(c->server_host, "127.0.0.1");
	assert_int_equal(c->server_port, 8080);
	assert_int_equal(c->async_workers, 4);
	assert_int_equal(c->async_channel_size, 1000);
	assert_int_equal(c->max_event_size, 1048576);
	assert_false(c->database_enabled);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON); /* prod by default */
	assert_true(c->metrics_enabled);
	assert_int_equal(c->metrics_port, 9090);
	assert_int_equal(c->plugin_defaults.workers, 4);
	assert_int_equal(c->plugin_defaults.queue_size, 1000);
	assert_int_equal(c->plugin_defaults.max_attempts, 3);
	es_config_unref(c);
}

static void every_documented_key_is_read(void **state)
{
	const char *text = "server: {host: 0.0.0.0, port: 9000, threads: 3, allow_unauthenticated: true}\n"
	                   "event: {async_workers: 7, async_channel_size: 50, max_event_size: 4096, shutdown_timeout_ms: 0,"
	                   " sync_timeout_ms: 1500}\n"
	                   "database: {enabled: true, dsn: 'u:p@tcp(db:3306)/event_system'}\n"
	                   "logging: {level: debug, format: text, access_log: false}\n"
	                   "metrics: {enabled: false, host: 0.0.0.0, port: 9191}\n"
	                   "health: {failure_ratio: 0.25, queue_full_ratio: 0.75}\n"
	                   "plugins:\n"
	                   "  directory: /opt/plugins\n"
	                   "  load_unconfigured: false\n"
	                   "  defaults: {timeout_ms: 250, max_attempts: 5, backoff_initial_ms: 10, backoff_max_ms: 20,"
	                   " backoff_multiplier: 1.5, max_stuck_workers: 2}\n"
	                   "  settings:\n"
	                   "    webhook:\n"
	                   "      enabled: true\n"
	                   "      subscribe: [order.*, '**.created']\n"
	                   "      workers: 2\n"
	                   "      queue_size: 10\n"
	                   "      wakeup_coalesce_us: 0\n"
	                   "      config: {url: 'http://x', retries: 3}\n"
	                   "    quiet:\n"
	                   "      enabled: false\n";
	config_errors errs;
	es_config *c = load(text, &errs);
	assert_non_null(c);
	assert_string_equal(c->server_host, "0.0.0.0");
	assert_int_equal(c->server_port, 9000);
	assert_int_equal(c->server_threads, 3);
	assert_int_equal(c->async_workers, 7);
	assert_int_equal(c->async_channel_size, 50);
	assert_int_equal(c->max_event_size, 4096);
	assert_int_equal(c->shutdown_timeout_ms, 0);
	assert_int_equal(c->sync_timeout_ms, 1500);
	assert_true(c->allow_unauthenticated);
	assert_false(c->access_log);
	assert_true(c->database_enabled);
	assert_string_equal(c->database_dsn, "u:p@tcp(db:3306)/event_system");
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
	assert_false(c->metrics_enabled);
	assert_int_equal(c->metrics_port, 9191);
	assert_true(c->health_failure_ratio > 0.24 && c->health_failure_ratio < 0.26);
	assert_true(c->health_queue_full_ratio > 0.74 && c->health_queue_full_ratio < 0.76);
	assert_string_equal(c->plugin_dir, "/opt/plugins");
	assert_false(c->load_unconfigured);
	assert_int_equal(c->plugin_defaults.workers, 7); /* from event.async_workers */
	assert_int_equal(c->plugin_defaults.timeout_ms, 250);
	assert_int_equal(c->plugin_count, 2);
	const plugin_settings *w = es_config_plugin(c, "webhook");
	assert_non_null(w);
	assert_int_equal(w->subscribe_count, 2);
	assert_string_equal(w->subscribe[0], "order.*");
	assert_string_equal(w->subscribe[1], "**.created");
	assert_int_equal(w->policy.workers, 2);
	assert_true(w->workers_set);
	assert_int_equal(w->policy.queue_size, 10);
	assert_int_equal(w->policy.wakeup_coalesce_us, 0);
	assert_int_equal(c->plugin_defaults.wakeup_coalesce_us, 1000); /* the default */
	assert_int_equal(w->policy.timeout_ms, 250);     /* inherited from defaults */
	assert_int_equal(w->policy.max_attempts, 5);
	assert_true(w->policy.backoff_multiplier > 1.49 && w->policy.backoff_multiplier < 1.51);
	assert_non_null(w->config);
	assert_string_equal(ynode_get(w->config, "url")->scalar, "http://x");
	const plugin_settings *q = es_config_plugin(c, "quiet");
	assert_false(q->enabled);
	assert_int_equal(q->policy.queue_size, 50); /* from event.async_channel_size */
	es_config_unref(c);
}

static void unknown_key_is_an_error_with_position(void **state)
{
	expect_one_error("server:\n  port: 8080\n  prot: 9090\n", 3, 3, "unknown key 'prot' in server");
}

static void unknown_top_level_section_is_an_error(void **state)
{
	expect_one_error("severs:\n  port: 1\n", 1, 1, "unknown key 'severs'");
}

static void wrong_type_is_an_error(void **state)
{
	expect_one_error("server:\n  port: eighty\n", 2, 9, "server.port must be a whole number");
	expect_one_error("database:\n  enabled: maybe\n", 2, 12, "database.enabled must be true or false");
	expect_one_error("server: [1, 2]\n", 1, 9, "server must be a map");
	expect_one_error("server:\n  host: [a]\n", 2, 9, "server.host must be a single value");
}

static void out_of_range_is_an_error(void **state)
{
	expect_one_error("server:\n  port: 70000\n", 2, 9, "between 1 and 65535");
	expect_one_error("event:\n  async_workers: 0\n", 2, 18, "between 1 and 256");
	expect_one_error("event:\n  max_event_size: 10\n", 2, 19, "between 256 and");
	expect_one_error("plugins:\n  defaults:\n    backoff_multiplier: 50\n", 3, 25, "between 1 and 10");
}

static void bad_enum_values_are_errors(void **state)
{
	expect_one_error("logging:\n  level: loud\n", 2, 10, "logging.level must be error, warn, info or debug");
	expect_one_error("logging:\n  format: xml\n", 2, 11, "logging.format must be json or text");
}

static void isolation_keys_are_read_and_checked(void **state)
{
	config_errors errs;
	es_config *c = load("plugins:\n"
	                    "  defaults: {isolation: process, memory_limit_mb: 64}\n"
	                    "  settings:\n"
	                    "    a: {open_files_limit: 100}\n"
	                    "    b: {isolation: in-process}\n",
	                    &errs);
	assert_non_null(c);
	assert_true(c->plugin_defaults.isolated);
	const plugin_settings *a = es_config_plugin(c, "a"), *b = es_config_plugin(c, "b");
	assert_true(a->policy.isolated); /* from the defaults */
	assert_int_equal(a->policy.memory_limit_mb, 64);
	assert_int_equal(a->policy.open_files_limit, 100);
	assert_false(b->policy.isolated);
	es_config_unref(c);
	c = load("", &errs);
	assert_false(c->plugin_defaults.isolated); /* off by default */
	assert_int_equal(c->plugin_defaults.memory_limit_mb, 0);
	es_config_unref(c);
	expect_one_error("plugins:\n  settings:\n    a: {isolation: sandbox}\n", 3, 20,
	                 "plugins.settings.a.isolation must be in-process or process");
	expect_one_error("plugins:\n  defaults: {memory_limit_mb: 8}\n", 2, 13,
	                 "memory_limit_mb (8) must be 0 (no limit) or at least 32");
	/* a whole number out of range is told its range; a quoted one, to drop the quotes */
	expect_one_error("plugins:\n  defaults: {open_files_limit: -1}\n", 2, 32,
	                 "open_files_limit must be between 0 and 1048576, not -1");
	expect_one_error("plugins:\n  defaults: {wakeup_coalesce_us: 99999999999999999999}\n", 2, 34,
	                 "wakeup_coalesce_us must be between 0 and 100000, not 99999999999999999999");
	expect_one_error("plugins:\n  defaults: {wakeup_coalesce_us: \"500\"}\n", 2, 34,
	                 "wakeup_coalesce_us must be a whole number (unquoted), not '500'");
	expect_one_error("plugins:\n  defaults: {wakeup_coalesce_us: 1.5}\n", 2, 34,
	                 "wakeup_coalesce_us must be a whole number, not '1.5'");
}

static void yaml_syntax_error_has_position(void **state)
{
	config_errors errs;
	es_config *c = load("server:\n  port: 1\n bad: [\n", &errs);
	assert_null(c);
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.items[0].message, "YAML syntax error"));
	assert_true(errs.items[0].line >= 3);
}

static void duplicate_key_is_an_error(void **state)
{
	expect_one_error("server:\n  port: 1\n  port: 2\n", 3, 3, "duplicate key 'port'");
}

static void all_errors_are_reported_not_just_the_first(void **state)
{
	config_errors errs;
	es_config *c = load("server: {port: x, bogus: 1}\nlogging: {level: loud}\n", &errs);
	assert_null(c);
	assert_int_equal(errs.count, 3);
}

static void invalid_plugin_settings_are_errors(void **state)
{
	expect_one_error("plugins:\n  settings:\n    Bad.Name: {}\n", 3, 5, "plugin name 'Bad.Name' is invalid");
	expect_one_error("plugins:\n  settings:\n    p:\n      subscribe: {a: 1}\n", 4, 18, "subscribe must be a list");
	expect_one_error("plugins:\n  settings:\n    p:\n      workerz: 1\n", 4, 7,
	                 "unknown key 'workerz' in plugins.settings.p");
	expect_one_error("plugins:\n  settings:\n    p:\n      config: [1]\n", 4, 15, "config must be a map");
	expect_one_error("plugins:\n  defaults: {backoff_initial_ms: 500, backoff_max_ms: 100}\n", 2, 13,
	                 "backoff_max_ms (100) is less than backoff_initial_ms (500)");
}

static void single_subscription_string_is_accepted(void **state)
{
	config_errors errs;
	es_config *c = load("plugins:\n  settings:\n    p:\n      subscribe: order.*\n", &errs);
	assert_non_null(c);
	assert_int_equal(es_config_plugin(c, "p")->subscribe_count, 1);
	assert_string_equal(es_config_plugin(c, "p")->subscribe[0], "order.*");
	es_config_unref(c);
}

static void environment_overrides_the_file(void **state)
{
	set_env(0, "EVENT_SYSTEM_LOG_LEVEL", "debug");
	set_env(1, "EVENT_SYSTEM_DATABASE_DSN", "a:b@tcp(h:1)/d");
	config_errors errs;
	es_config *c = load("logging: {level: error}\ndatabase: {enabled: true, dsn: 'x:y@tcp(z:2)/w'}\n", &errs);
	assert_non_null(c);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(c->database_dsn, "a:b@tcp(h:1)/d");
	es_config_unref(c);
}

static void env_selects_defaults_and_the_file_still_wins(void **state)
{
	set_env(0, "EVENT_SYSTEM_ENV", "dev");
	config_errors errs;
	es_config *c = load("", &errs);
	assert_non_null(c);
	assert_int_equal(c->env, ES_ENV_DEV);
	assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	es_config_unref(c);
	c = load("logging: {format: json}\n", &errs);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);
	es_config_unref(c);
}

static void bad_environment_values_are_errors(void **state)
{
	set_env(0, "EVENT_SYSTEM_ENV", "staging");
	set_env(1, "EVENT_SYSTEM_LOG_LEVEL", "chatty");
	config_errors errs;
	assert_null(load("", &errs));
	assert_int_equal(errs.count, 2);
	assert_non_null(strstr(errs.items[0].message, "EVENT_SYSTEM_ENV must be dev, test or prod"));
	assert_non_null(strstr(errs.items[1].message, "EVENT_SYSTEM_LOG_LEVEL"));
}

static void database_enabled_needs_a_dsn(void **state)
{
	config_errors errs;
	assert_null(load("database: {enabled: true}\n", &errs));
	assert_non_null(strstr(errs.items[0].message, "no database.dsn"));
}

static void database_keys_are_read_and_checked(void **state)
{
	config_errors errs;
	es_config *c = load("database: {enabled: true, dsn: 'u:p@unix(/run/mysqld/mysqld.sock)/es', mode: async,"
	                    " migrate_on_start: true, subscriptions: false, retention_days: 0.5, purge_interval_s: 60,"
	                    " queue_size: 5000, queue_max_mb: 64, connect_timeout_ms: 500, query_timeout_ms: 2500, reconnect_max_ms: 900}\n",
	                    &errs);
	assert_non_null(c);
	assert_false(c->database_durable);
	assert_true(c->database_migrate_on_start);
	assert_false(c->database_subscriptions);
	assert_true(c->database_retention_days > 0.49 && c->database_retention_days < 0.51);
	assert_int_equal(c->database_purge_interval_s, 60);
	assert_int_equal(c->database_queue_size, 5000);
	assert_int_equal(c->database_queue_max_mb, 64);
	assert_int_equal(c->database_connect_timeout_ms, 500);
	assert_int_equal(c->database_query_timeout_ms, 2500);
	assert_int_equal(c->database_reconnect_max_ms, 900);
	es_config_unref(c);
	c = load("database: {enabled: true, dsn: 'u:p@tcp(h:3306)/es'}\n", &errs);
	assert_true(c->database_durable); /* the default */
	es_config_unref(c);
	expect_one_error("database: {mode: eventually}\n", 1, 18, "database.mode must be durable or async");
	expect_one_error("database: {retention_days: -1}\n", 1, 28, "database.retention_days must be between");
	/* a DSN that does not parse is an error, without its password */
	assert_null(load("database: {enabled: true, dsn: 'u:hunter2@tcp(h:3306)'}\n", &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.items[0].message, "database.dsn: "));
	assert_null(strstr(errs.items[0].message, "hunter2"));
}

static void queue_keys_are_read_and_checked(void **state)
{
	config_errors errs;
	es_config *c = load("", &errs);
	assert_int_equal(c->queue_backend, QUEUE_LOCAL); /* the default: nothing changes */
	es_config_unref(c);
	c = load("queue:\n"
	         "  backend: jetstream\n"
	         "  jetstream: {servers: 'nats://a:4222,nats://b:4222', stream: ORDERS, subject_prefix: es.prod,"
	         " max_mb: 10, max_age_s: 60, replicas: 3, duplicate_window_s: 30, publish_timeout_ms: 800,"
	         " connect_timeout_ms: 900, tls_ca_file: /etc/ca.pem, token: tok-from-file}\n",
	         &errs);
#ifdef HAVE_NATS
	assert_non_null(c);
	assert_int_equal(c->queue_backend, QUEUE_JETSTREAM);
	assert_string_equal(c->jetstream.servers, "nats://a:4222,nats://b:4222");
	assert_string_equal(c->jetstream.stream, "ORDERS");
	assert_string_equal(c->jetstream.subject_prefix, "es.prod");
	assert_int_equal(c->jetstream.max_mb, 10);
	assert_int_equal(c->jetstream.max_age_s, 60);
	assert_int_equal(c->jetstream.replicas, 3);
	assert_int_equal(c->jetstream.duplicate_window_s, 30);
	assert_int_equal(c->jetstream.publish_timeout_ms, 800);
	assert_int_equal(c->jetstream.connect_timeout_ms, 900);
	assert_string_equal(c->jetstream.tls_ca_file, "/etc/ca.pem");
	assert_string_equal(c->jetstream.token, "tok-from-file");
	es_config_unref(c);
	/* credentials from the environment win over the file */
	set_env(0, "EVENT_SYSTEM_NATS_USER", "app");
	set_env(1, "EVENT_SYSTEM_NATS_PASSWORD", "pw-from-env");
	c = load("queue: {backend: jetstream}\n", &errs);
	assert_non_null(c);
	assert_string_equal(c->jetstream.user, "app");
	assert_string_equal(c->jetstream.password, "pw-from-env");
	es_config_unref(c);
	reset_env(NULL);
	/* one way to authenticate */
	assert_null(load("queue: {backend: jetstream, jetstream: {user: a, password: b, token: c}}\n", &errs));
	assert_non_null(strstr(errs.items[0].message, "give one of"));
	assert_null(load("queue: {backend: jetstream, jetstream: {user: a}}\n", &errs));
	assert_non_null(strstr(errs.items[0].message, "no password"));
	/* one database for several daemons: each names itself, and the
	 * history is written behind (JetStream's acknowledgement is the 202) */
	assert_null(load("queue: {backend: jetstream}\ndatabase: {enabled: true, mode: async, dsn: 'u:p@tcp(h:3306)/es'}\n",
	                 &errs));
	assert_non_null(strstr(errs.items[0].message, "queue.jetstream.node_id must be set (1 to 1023"));
	assert_null(load("queue: {backend: jetstream, jetstream: {node_id: 3}}\n"
	                 "database: {enabled: true, dsn: 'u:p@tcp(h:3306)/es'}\n",
	                 &errs));
	assert_non_null(strstr(errs.items[0].message, "database.mode must be async with queue.backend jetstream"));
	c = load("queue: {backend: jetstream, jetstream: {node_id: 3}}\n"
	         "database: {enabled: true, mode: async, dsn: 'u:p@tcp(h:3306)/es'}\n",
	         &errs);
	assert_non_null(c);
	assert_int_equal(c->jetstream.node_id, 3);
	es_config_unref(c);
#else
	assert_null(c);
	assert_non_null(strstr(errs.items[0].message, "no NATS client"));
#endif
	expect_one_error("queue: {backend: kafka}\n", 1, 18, "queue.backend must be local or jetstream");
	expect_one_error("queue: {jetstream: {replicas: 9}}\n", 1, 31, "queue.jetstream.replicas must be between 1 and 5");
	expect_one_error("queue: {jetstream: {stream: 'a.b'}}\n", 1, 29, "queue.jetstream.stream must be");
	expect_one_error("queue: {jetstream: {subject_prefix: 'a.>'}}\n", 1, 37, "no wildcards");
	expect_one_error("queue: {jetstream: {servrs: x}}\n", 1, 21, "unknown key 'servrs' in queue.jetstream");
	expect_one_error("queue: {jetstream: {node_id: 1024}}\n", 1, 30, "queue.jetstream.node_id must be between 0 and 1023");
}

static void missing_file_is_reported(void **state)
{
	config_errors errs;
	assert_null(es_config_load("/nonexistent/config.yaml", fake_env, &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.items[0].message, "cannot open"));
}

static void tokens_come_from_the_file_the_environment_or_a_token_file(void **state)
{
	char path[] = "/tmp/es-token-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "file-secret-0123456789\n", 23), 23);
	close(fd);
	set_env(0, "CI_TOKEN", "env-secret-0123456789");
	char text[512];
	snprintf(text, sizeof text,
	         "server: {host: 0.0.0.0}\n"
	         "auth:\n"
	         "  tokens:\n"
	         "    - {name: literal, role: admin, token: literal-secret-0123456789}\n"
	         "    - {name: ci, token_env: CI_TOKEN}\n"
	         "    - {name: filed, role: trigger, token_file: %s}\n",
	         path);
	config_errors errs;
	es_config *c = load(text, &errs);
	unlink(path);
	if (!c)
		fail_msg("%u:%u: %s", errs.items[0].line, errs.items[0].column, errs.items[0].message);
	assert_int_equal(c->token_count, 3);
	assert_string_equal(c->tokens[0].secret, "literal-secret-0123456789");
	assert_int_equal(c->tokens[0].role, TOKEN_ROLE_ADMIN);
	assert_string_equal(c->tokens[1].secret, "env-secret-0123456789");
	assert_int_equal(c->tokens[1].role, TOKEN_ROLE_TRIGGER);
	assert_string_equal(c->tokens[2].secret, "file-secret-0123456789");
	es_config_unref(c);
}

/* Write `text` to a new temporary file with `mode`; the path goes to `path`. */
static void write_temp(char *path, const char *text, mode_t mode)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* The config file and token files are trusted like plugin files: owned by
 * root or the user the daemon runs as, not writable by group or others. */
static void config_file_writable_by_others_is_refused(void **state)
{
	char path[] = "/tmp/es-config-XXXXXX";
	write_temp(path, "server: {port: 8081}\n", 0644);
	config_errors errs;
	es_config *c = es_config_load(path, fake_env, &errs);
	assert_non_null(c);
	es_config_unref(c);
	static const mode_t untrusted[] = {0664, 0646, 0666, 0620};
	for (size_t i = 0; i < sizeof untrusted / sizeof untrusted[0]; i++) {
		assert_int_equal(chmod(path, untrusted[i]), 0);
		assert_null(es_config_load(path, fake_env, &errs));
		assert_int_equal(errs.count, 1);
		assert_non_null(strstr(errs.items[0].message, "is writable by group or others"));
	}
	if (geteuid() == 0) { /* only root can give a file away */
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_null(es_config_load(path, fake_env, &errs));
		assert_non_null(strstr(errs.items[0].message, "is owned by uid 65534, not by root or the service user"));
	}
	unlink(path);
}

static void token_file_writable_by_others_is_refused(void **state)
{
	char path[] = "/tmp/es-token-XXXXXX";
	write_temp(path, "file-secret-0123456789\n", 0666);
	char text[512];
	snprintf(text, sizeof text, "auth:\n  tokens:\n    - {name: filed, token_file: %s}\n", path);
	config_errors errs;
	assert_null(load(text, &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.items[0].message, "auth.tokens[0]: token file"));
	assert_non_null(strstr(errs.items[0].message, "is writable by group or others (mode 0666)"));
	assert_null(strstr(errs.items[0].message, "file-secret"));
	if (geteuid() == 0) {
		assert_int_equal(chmod(path, 0600), 0);
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_null(load(text, &errs));
		assert_non_null(strstr(errs.items[0].message, "is owned by uid 65534"));
	}
	assert_int_equal(chown(path, geteuid(), getegid()), 0);
	assert_int_equal(chmod(path, 0600), 0);
	es_config *c = load(text, &errs);
	assert_non_null(c);
	es_config_unref(c);
	unlink(path);
}

static void bad_tokens_are_errors_that_never_show_the_secret(void **state)
{
	expect_one_error("auth:\n  tokens:\n    - {name: a, token: short-secret}\n", 3, 24,
	                 "shorter than 16 characters");
	expect_one_error("auth:\n  tokens:\n    - {name: a, token_env: NOPE}\n", 3, 28,
	                 "environment variable NOPE is not set");
	expect_one_error("auth:\n  tokens:\n    - {name: a}\n", 3, 7, "needs exactly one of token, token_env, token_file");
	expect_one_error("auth:\n  tokens:\n    - {name: a, role: root, token: 0123456789abcdef0}\n", 3, 23,
	                 "role must be trigger or admin");
	config_errors errs;
	assert_null(load("auth:\n  tokens:\n    - {name: a, token: tiny-secret}\n", &errs));
	assert_null(strstr(errs.items[0].message, "tiny-secret"));
}

static void non_loopback_address_needs_tokens_or_an_explicit_opt_out(void **state)
{
	expect_one_error("server:\n  host: 0.0.0.0\n", 2, 9, "is not a loopback address and auth.tokens is empty");
	config_errors errs;
	es_config *c = load("server: {host: 0.0.0.0, allow_unauthenticated: true}\n", &errs);
	assert_non_null(c);
	es_config_unref(c);
	c = load("server: {host: '::1'}\n", &errs);
	assert_non_null(c);
	es_config_unref(c);
}

/* Run `check` in a child that must finish within `seconds`: what used to
 * hang or take minutes fails the test instead of the suite. */
static void finishes_within(unsigned seconds, void (*check)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(seconds);
		check();
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the check did not finish within %u s (status 0x%x)", seconds, (unsigned)status);
}

static void expect_refused_in_child(const char *text, const char *needle)
{
	config_errors errs;
	es_config *c = load(text, &errs);
	if (c || errs.count == 0 || !strstr(errs.items[0].message, needle)) {
		fprintf(stderr, "expected an error with '%s', got %s\n", needle, errs.count ? errs.items[0].message : "none");
		_exit(1);
	}
}

/* Nine levels of ten aliases each are 10^9 values from 300 bytes. */
static void refuse_alias_bomb(void)
{
	expect_refused_in_child("a: &a [x,x,x,x,x,x,x,x,x,x]\n"
	                        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	                        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	                        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	                        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	                        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	                        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	                        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
	                        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
	                        "more than 100000 values");
}

static void aliases_that_multiply_are_refused_at_once(void **state)
{
	finishes_within(5, refuse_alias_bomb);
	/* an ordinary alias still works */
	config_errors errs;
	es_config *c = load("plugins:\n  defaults: {timeout_ms: &t 700, backoff_max_ms: *t}\n", &errs);
	assert_non_null(c);
	assert_int_equal(c->plugin_defaults.timeout_ms, 700);
	assert_int_equal(c->plugin_defaults.backoff_max_ms, 700);
	es_config_unref(c);
}

static char fifo_path[64];

static void refuse_fifo_config(void)
{
	config_errors errs;
	if (es_config_load(fifo_path, fake_env, &errs) || !strstr(errs.items[0].message, "is not a regular file"))
		_exit(1);
}

static void refuse_fifo_token_file(void)
{
	char text[256];
	snprintf(text, sizeof text, "auth:\n  tokens:\n    - {name: piped, token_file: %s}\n", fifo_path);
	expect_refused_in_child(text, "token file");
	config_errors errs;
	load(text, &errs);
	if (!strstr(errs.items[0].message, "is not a regular file"))
		_exit(1);
}

/* A FIFO (or device, or directory) where a file is expected would block
 * the open or the read forever: a start that never says why. */
static void a_fifo_for_the_config_or_a_token_file_is_refused_without_waiting(void **state)
{
	snprintf(fifo_path, sizeof fifo_path, "/tmp/es-fifo-%ld", (long)getpid());
	unlink(fifo_path);
	assert_int_equal(mkfifo(fifo_path, 0600), 0);
	finishes_within(5, refuse_fifo_config);
	finishes_within(5, refuse_fifo_token_file);
	unlink(fifo_path);
}

/* One secret is one caller: a second entry with it would give a trigger
 * token the admin role; one name for two secrets would blur the audit log. */
static void tokens_with_one_secret_or_one_name_are_refused(void **state)
{
	expect_one_error("auth:\n  tokens:\n"
	                 "    - {name: t1, role: trigger, token: aaaaaaaaaaaaaaaaaaaa}\n"
	                 "    - {name: adm, role: admin, token: aaaaaaaaaaaaaaaaaaaa}\n",
	                 4, 7, "the same secret as token 't1'");
	expect_one_error("auth:\n  tokens:\n"
	                 "    - {name: ops, token: aaaaaaaaaaaaaaaaaaaa}\n"
	                 "    - {name: ops, token: bbbbbbbbbbbbbbbbbbbb}\n",
	                 4, 7, "the name 'ops' is used by another token");
}

/* Names are logged; secrets are sent in a header. */
static void token_names_and_secrets_are_printable(void **state)
{
	expect_one_error("auth:\n  tokens:\n    - {name: \"a\\nb\", token: aaaaaaaaaaaaaaaaaaaa}\n", 3, 7,
	                 "name must be 1-64 letters");
	expect_one_error("auth:\n  tokens:\n    - {name: a, token: '                    '}\n", 3, 7,
	                 "only visible ASCII characters");
	expect_one_error("auth:\n  tokens:\n    - {name: a, token: \"aaaaaaaaaa\\taaaaaaaaaa\"}\n", 3, 7,
	                 "only visible ASCII characters");
}

/* Both endpoints on one port: the start would fail to listen; the check
 * says so first. */
static void metrics_on_the_api_port_is_refused(void **state)
{
	expect_one_error("server: {port: 8080}\nmetrics: {port: 8080}\n", 2, 17,
	                 "metrics.port 8080 is server.port too");
	expect_one_error("server: {host: 127.0.0.1, port: 8080}\nmetrics: {host: 0.0.0.0, port: 8080}\n", 2, 32,
	                 "metrics.port 8080 is server.port too");
	config_errors errs;
	es_config *c = load("server: {port: 8080}\nmetrics: {enabled: false, port: 8080}\n", &errs);
	assert_non_null(c);
	es_config_unref(c);
	c = load("server: {host: 127.0.0.1, port: 8080}\nmetrics: {host: 127.0.0.2, port: 8080}\n", &errs);
	assert_non_null(c);
	es_config_unref(c);
}

static void shipped_default_config_is_valid(void **state)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/configs/config.yaml", getenv("ES_TOP_SRCDIR") ? getenv("ES_TOP_SRCDIR") : ".");
	config_errors errs;
	es_config *c = es_config_load(path, fake_env, &errs);
	if (!c)
		fail_msg("%s:%u:%u: %s", path, errs.items[0].line, errs.items[0].column, errs.items[0].message);
	assert_non_null(es_config_plugin(c, "log"));
	es_config_unref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(empty_file_gives_defaults, reset_env),
		cmocka_unit_test_setup(every_documented_key_is_read, reset_env),
		cmocka_unit_test_setup(unknown_key_is_an_error_with_position, reset_env),
		cmocka_unit_test_setup(unknown_top_level_section_is_an_error, reset_env),
		cmocka_unit_test_setup(wrong_type_is_an_error, reset_env),
		cmocka_unit_test_setup(out_of_range_is_an_error, reset_env),
		cmocka_unit_test_setup(bad_enum_values_are_errors, reset_env),
		cmocka_unit_test_setup(isolation_keys_are_read_and_checked, reset_env),
		cmocka_unit_test_setup(yaml_syntax_error_has_position, reset_env),
		cmocka_unit_test_setup(duplicate_key_is_an_error, reset_env),
		cmocka_unit_test_setup(all_errors_are_reported_not_just_the_first, reset_env),
		cmocka_unit_test_setup(invalid_plugin_settings_are_errors, reset_env),
		cmocka_unit_test_setup(single_subscription_string_is_accepted, reset_env),
		cmocka_unit_test_setup(environment_overrides_the_file, reset_env),
		cmocka_unit_test_setup(env_selects_defaults_and_the_file_still_wins, reset_env),
		cmocka_unit_test_setup(bad_environment_values_are_errors, reset_env),
		cmocka_unit_test_setup(database_enabled_needs_a_dsn, reset_env),
		cmocka_unit_test_setup(database_keys_are_read_and_checked, reset_env),
		cmocka_unit_test_setup(queue_keys_are_read_and_checked, reset_env),
		cmocka_unit_test_setup(missing_file_is_reported, reset_env),
		cmocka_unit_test_setup(tokens_come_from_the_file_the_environment_or_a_token_file, reset_env),
		cmocka_unit_test_setup(config_file_writable_by_others_is_refused, reset_env),
		cmocka_unit_test_setup(token_file_writable_by_others_is_refused, reset_env),
		cmocka_unit_test_setup(bad_tokens_are_errors_that_never_show_the_secret, reset_env),
		cmocka_unit_test_setup(non_loopback_address_needs_tokens_or_an_explicit_opt_out, reset_env),
		cmocka_unit_test_setup(aliases_that_multiply_are_refused_at_once, reset_env),
		cmocka_unit_test_setup(a_fifo_for_the_config_or_a_token_file_is_refused_without_waiting, reset_env),
		cmocka_unit_test_setup(tokens_with_one_secret_or_one_name_are_refused, reset_env),
		cmocka_unit_test_setup(token_names_and_secrets_are_printable, reset_env),
		cmocka_unit_test_setup(metrics_on_the_api_port_is_refused, reset_env),
		cmocka_unit_test_setup(shipped_default_config_is_valid, reset_env),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
