/*
 * event-system: the daemon's entry point.  Parses the command line, loads
 * the config, loads the plugins, starts the HTTP threads, then runs the
 * main thread's event loop until a stop signal.  The signals are owned from
 * the first moment to the last by control/signal_owner.c:
 *   SIGTERM / SIGINT  stop taking events, drain the queues, exit 0
 *   SIGHUP            reload config and plugins (reload.c); plugins that
 *                     stay reopen their files (logrotate)
 *   SIGUSR1 / SIGUSR2 logged and ignored
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/daemon.h"
#include "db/database.h"
#include "util/dsn.h"
#include "util/json_tree.h"
#include "model/es_config.h"
#include "model/es_event.h"
#include "http/http_refusal_log.h"
#include "http/http_server.h"
#include "util/log.h"
#include "metrics/metrics.h"
#include "core/crash_ledger.h"
#include "core/crash_report.h"
#include "core/host_api.h"
#include "core/plugin_runner.h"
#include "core/js_consumers.h"
#include "core/js_dead_letters.h"
#include "core/js_link.h"
#include "core/plugin_registry.h"
#include "core/readmit.h"
#include "control/reload.h"
#include "control/signal_owner.h"
#include "core/router.h"
#include "util/systemd_notify.h"
#include "util/version.h"

#define DEFAULT_CONFIG_PATH SYSCONFDIR "/event-system/config.yaml"

typedef struct options {
	const char *config_path;
	const char *plugin_dir;
	bool check_config;
	bool migrate;
} options;

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: event-system [OPTION]...\n"
	        "Take events over HTTP and route them by name to listener plugins.\n"
	        "\n"
	        "  -c, --config PATH      config file (default: $EVENT_SYSTEM_CONFIG, else %s)\n"
	        "  -P, --plugin-dir DIR   load plugins from DIR instead of plugins.directory\n"
	        "  -t, --check-config     load the config and every plugin as a start would\n"
	        "                         (without running their init()), print what was\n"
	        "                         found and exit (0: no problems)\n"
	        "      --migrate          bring the database schema (database.dsn) up to this\n"
	        "                         version's, applying sql/migrations in order, and exit\n"
	        "  -V, --version          print version, build and library information\n"
	        "  -h, --help             print this help\n"
	        "\n"
	        "Environment: EVENT_SYSTEM_CONFIG, EVENT_SYSTEM_ENV (dev|test|prod),\n"
	        "EVENT_SYSTEM_LOG_LEVEL, EVENT_SYSTEM_DATABASE_DSN, EVENT_SYSTEM_NATS_SERVERS,\n"
	        "EVENT_SYSTEM_NATS_USER, _PASSWORD, _TOKEN, _CREDS (override the file).\n"
	        "Signals: SIGTERM/SIGINT drain and stop; SIGHUP reloads config and plugins\n"
	        "(all or nothing; see docs/operations.md); SIGUSR1/SIGUSR2 are ignored.\n"
	        "See event-system(8) and docs/configuration.md.\n",
	        DEFAULT_CONFIG_PATH);
}

/* 0: run; 1: exit 0 (help/version printed); -1: usage error. */
static int parse_options(int argc, char **argv, options *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"plugin-dir", required_argument, NULL, 'P'},
		{"check-config", no_argument, NULL, 't'},
		{"migrate", no_argument, NULL, 'M'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:P:tVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_path = optarg;
			break;
		case 'P':
			o->plugin_dir = optarg;
			break;
		case 't':
			o->check_config = true;
			break;
		case 'M':
			o->migrate = true;
			break;
		case 'V':
			version_print(stdout);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "event-system: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (!o->config_path)
		o->config_path = getenv("EVENT_SYSTEM_CONFIG");
	if (!o->config_path || !*o->config_path)
		o->config_path = DEFAULT_CONFIG_PATH;
	return 0;
}

static es_config *load_config(const options *o, FILE *errors_to)
{
	config_errors errs;
	es_config *config = es_config_load(o->config_path, NULL, &errs);
	if (!config) {
		config_errors_report(&errs, o->config_path, errors_to);
		return NULL;
	}
	if (o->plugin_dir) {
		free(config->plugin_dir);
		config->plugin_dir = strdup(o->plugin_dir);
	}
	return config;
}

static int check_config(const options *o)
{
	es_config *config = load_config(o, stdout);
	if (!config) {
		printf("%s: configuration has errors\n", o->config_path);
		return 1;
	}
	log_configure(config->log_level, config->log_format);
	printf("config %s: ok (environment %s)\n", config->path, es_env_name(config->env));
	printf("server %s:%u, %u HTTP threads, max event size %zu bytes\n", config->server_host, config->server_port,
	       config->server_threads, config->max_event_size);
	int db_problems = 0;
	if (config->database_enabled) {
		char redacted[512];
		dsn_redact(config->database_dsn, redacted, sizeof redacted); /* the config checked it parses */
		printf("database %s (%s mode)\n", redacted, config->database_durable ? "durable" : "async");
		char err[512];
		if (database_read_subscriptions(NULL, config, NULL, err, sizeof err) != 0) {
			printf("%s\ncheck failed: 1 problem\n", err);
			es_config_unref(config);
			return 1;
		}
		db_problems = database_check(config, stdout);
		if (config->db_subscriptions_state == DB_SUBSCRIPTIONS_READ)
			printf("event_subscriptions: %zu enabled row%s\n", config->db_subscription_count,
			       config->db_subscription_count == 1 ? "" : "s");
		else if (config->db_subscriptions_state == DB_SUBSCRIPTIONS_PREVIOUS)
			printf("event_subscriptions: not readable (see the warning above)\n");
	}
	router *rt = router_create();
	/* What a start would decide about quarantines, without touching the
	 * crash file or the history. */
	crash_ledger *crashes = crash_ledger_open_readonly(config->state_dir);
	host_services services = {.api = host_api_table(), .router = rt, .max_event_size = config->max_event_size,
	                          .check_only = true, .crashes = crashes};
	plugin_registry *reg = plugin_registry_new();
	registry_report report = {0};
	int rc = -1;
	if (!reg)
		printf("out of memory\n");
	else
		rc = plugin_registry_load(config, &services, geteuid(), reg, &report, stdout);
	printf("plugins: %zu loaded, %zu refused, %zu disabled, %zu skipped, %zu quarantined from %s\n", report.loaded,
	       report.refused, report.disabled, report.skipped, report.quarantined, config->plugin_dir);
	plugin_registry_free(reg);
	router_destroy(rt);
	crash_ledger_free(crashes);
	es_config_unref(config);
	size_t problems = report.problems + (size_t)db_problems;
	if (rc != 0 || problems) {
		printf("check failed: %zu problem%s\n", problems, problems == 1 ? "" : "s");
		return 1;
	}
	printf("check passed\n");
	return 0;
}

static int migrate(const options *o)
{
	es_config *config = load_config(o, stdout);
	if (!config) {
		printf("%s: configuration has errors\n", o->config_path);
		return 1;
	}
	int rc = database_migrate_command(config, stdout);
	es_config_unref(config);
	return rc;
}

/* ---- running ---- */

static void reload_when_subscriptions_readable(void *arg)
{
	reload_request(arg, "database (event_subscriptions readable again)");
}

/* The daemon's life, with its signals owned by `signals` (started before
 * any thread, joined after run_daemon() returns). */
static int run_daemon(const options *o, signal_owner *signals)
{
	int exit_code = 1;
	es_config *config = load_config(o, NULL);
	if (!config) {
		LOG_ERROR("main", "not starting: %s has errors (run event-system --check-config -c %s)", o->config_path,
		          o->config_path);
		return 1;
	}
	log_configure(config->log_level, config->log_format);
	char err[512];
	if (database_read_subscriptions(NULL, config, NULL, err, sizeof err) != 0) {
		LOG_ERROR("main", "not starting: %s", err);
		es_config_unref(config);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* What the last run's death left (the crash file) is read and counted
	 * before any plugin loads: a plugin that crashed too often stays out. */
	crash_ledger *crashes = crash_ledger_open(config->state_dir);
	if (!crashes) {
		LOG_ERROR("main", "out of memory");
		es_config_unref(config);
		return 1;
	}
	/* a plugin that faults is named (and recorded) before the process dies */
	crash_report_install(crash_ledger_crash_file(crashes));
	evthread_use_pthreads();

	es_daemon daemon = {.config = config, .config_path = o->config_path, .plugin_dir_override = o->plugin_dir,
	                    .started_us = clock_realtime_us()};
	snprintf(daemon.served_host, sizeof daemon.served_host, "%s", config->server_host);
	atomic_init(&daemon.ready, false);
	atomic_init(&daemon.stopping, false);
	daemon.router = router_create();
	daemon.crashes = crashes;
	router_set_crash_ledger(daemon.router, crashes);
	daemon.services = (host_services){.api = host_api_table(), .router = daemon.router,
	                                  .max_event_size = config->max_event_size, .crashes = crashes};

	LOG_INFO("main", "Event System v%s starting: config %s, environment %s, plugins from %s", PACKAGE_VERSION,
	         config->path, es_env_name(config->env), config->plugin_dir);
	/* Before the plugins: their pools report every outcome when a database
	 * records them. */
	database_readmit readmit = readmit_ops(daemon.router);
	if (database_start(&daemon.db, config, &readmit, err, sizeof err) != 0) {
		LOG_ERROR("main", "not starting: %s", err);
		goto out_free;
	}
	daemon.services.db = daemon.db; /* NULL without a database */
	/* before redelivery: it counts the crashes of each event */
	crash_ledger_attach_database(crashes, daemon.db);
	if (config->queue_backend == QUEUE_JETSTREAM) {
		daemon.jetstream = js_link_start(config, err, sizeof err);
		if (!daemon.jetstream) {
			LOG_ERROR("main", "not starting: %s", err);
			goto out_free;
		}
		daemon.services.jetstream = daemon.jetstream;
		daemon.dead_letters = js_dead_letters_start(daemon.jetstream, daemon.db);
		if (!daemon.dead_letters) {
			LOG_ERROR("main", "not starting: cannot start the dead-letter thread");
			goto out_free;
		}
	}

	registry_report report;
	daemon.registry = plugin_registry_new();
	if (!daemon.registry) {
		LOG_ERROR("main", "out of memory");
		goto out_free;
	}
	if (plugin_registry_load(config, &daemon.services, geteuid(), daemon.registry, &report, NULL) != 0) {
		LOG_ERROR("main", "not starting: the plugin directory %s cannot be used", config->plugin_dir);
		goto out_free;
	}
	plugin_registry_start(daemon.registry, &report);
	routing_table *table = routing_table_build(plugin_registry_instances(daemon.registry),
	                                           plugin_registry_count(daemon.registry), 1, config);
	if (!table) {
		LOG_ERROR("main", "cannot build the routing table");
		goto out_stop_plugins;
	}
	router_swap(daemon.router, table);
	daemon.generation = 1;
	host_emit_release_held(daemon.router, daemon.db, daemon.jetstream);
	if (daemon.jetstream) {
		daemon.consumers = js_consumers_create(daemon.jetstream);
		if (!daemon.consumers) {
			LOG_ERROR("main", "out of memory");
			goto out_stop_plugins;
		}
		js_consumers_follow(daemon.consumers, table);
	}
	database_allow_recovery(daemon.db); /* plugins run: an earlier run's unfinished events may be redelivered */

	atomic_store(&daemon.plugins_refused, plugin_registry_refused_count(daemon.registry));
	/* Everything a request handler can reach (router, plugins, database,
	 * reload state) exists before the first listener: the HTTP and metrics
	 * threads serve from the moment they start. */
	struct event_base *base = event_base_new();
	if (!base || reload_init(&daemon, base) != 0) {
		LOG_ERROR("main", "out of memory");
		if (base)
			event_base_free(base);
		goto out_stop_plugins;
	}
	http_server *server = http_server_start(&daemon, err, sizeof err);
	if (!server) {
		LOG_ERROR("main", "not starting: %s", err);
		goto out_free_reload;
	}
	metrics_server *metrics = NULL;
	if (config->metrics_enabled) {
		metrics = metrics_server_start(&daemon, err, sizeof err);
		if (!metrics) {
			LOG_ERROR("main", "not starting: %s", err);
			http_server_stop(server);
			goto out_free_reload;
		}
		atomic_store(&daemon.metrics_up, true);
		LOG_INFO("main", "metrics on http://%s:%u/metrics", config->metrics_host, config->metrics_port);
	}
	/* event_subscriptions unreadable at start: reload once it can be read. */
	database_on_subscriptions_readable(daemon.db, reload_when_subscriptions_readable, &daemon);
	atomic_store(&daemon.ready, true);
	LOG_INFO("main", "ready: listening on http://%s:%u with %u threads; %zu plugin%s running, %zu refused, %zu quarantined",
	         config->server_host, config->server_port, config->server_threads, report.loaded,
	         report.loaded == 1 ? "" : "s", report.refused, report.quarantined);
	char status[200];
	snprintf(status, sizeof status, "listening on %s:%u, %zu plugins", config->server_host, config->server_port,
	         report.loaded);
	systemd_notify_ready(status);
	systemd_watchdog_start(base);

	/* A stop or reload asked for while starting is applied now. */
	signal_owner_running(signals, &daemon, base);
	/* Nothing may be pending on it between reloads: only a stop ends it. */
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	/* From here to the end a signal is logged and ignored (signal_owner.h). */
	int stop_signal = signal_owner_stopping(signals);

	config = daemon.config; /* reloads may have replaced it */
	LOG_INFO("main", "%s received: stopping; draining queues for up to %u ms",
	         stop_signal ? strsignal(stop_signal) : "stop", config->shutdown_timeout_ms);
	systemd_notify_stopping();
	atomic_store(&daemon.stopping, true);
	/* Durable triggers waiting for a commit are answered before their HTTP
	 * threads go. */
	database_quiesce(daemon.db, clock_monotonic_us() + (int64_t)config->shutdown_timeout_ms * 1000);
	js_link_quiesce(daemon.jetstream, clock_monotonic_us() + (int64_t)config->shutdown_timeout_ms * 1000);
	js_dead_letters_stop(daemon.dead_letters); /* answers what waits, on the HTTP threads */
	daemon.dead_letters = NULL;
	http_server_stop(server);
	atomic_store(&daemon.metrics_up, false);
	metrics_server_stop(metrics);
	http_refusal_log_flush(); /* every HTTP loop is gone: no refusal or cut comes after it */
	systemd_watchdog_stop();
	database_on_subscriptions_readable(daemon.db, NULL, NULL);
	exit_code = 0;
out_free_reload:
	reload_free(&daemon);
	event_base_free(base);
out_stop_plugins:;
	/* No more pulling; what the pools hold is settled or given back as
	 * they stop, through the link, which stops after them. */
	js_consumers_stop(daemon.consumers);
	int64_t deadline = clock_monotonic_us() + (int64_t)config->shutdown_timeout_ms * 1000;
	uint64_t undelivered = plugin_registry_stop(daemon.registry, deadline);
	if (undelivered)
		LOG_WARN("main", "%llu event%s could not be delivered before the shutdown deadline",
		         (unsigned long long)undelivered, undelivered == 1 ? "" : "s");
	/* The plugins' last outcomes are written before the writer stops. */
	database_stop(daemon.db, deadline > clock_monotonic_us() + 2000000 ? deadline : clock_monotonic_us() + 2000000);
	router_swap(daemon.router, routing_table_build(NULL, 0, 0, NULL));
	plugin_registry_free(daemon.registry);
	daemon.registry = NULL;
	if (exit_code == 0)
		LOG_INFO("main", "stopped");
out_free:
	plugin_registry_free(daemon.registry); /* NULL unless loading failed */
	database_stop(daemon.db, clock_monotonic_us()); /* no-op unless it is still running */
	database_free(daemon.db); /* everything that used it has stopped */
	js_dead_letters_stop(daemon.dead_letters); /* NULL unless the start failed */
	js_link_stop(daemon.jetstream); /* every delivery it carried is settled or given back */
	router_destroy(daemon.router);
	crash_ledger_free(crashes); /* after everything that reached it (the HTTP threads, the tables) */
	es_config_unref(daemon.config);
	return exit_code;
}

static int run(const options *o)
{
	char err[128];
	signal_owner *signals = signal_owner_start(err, sizeof err);
	if (!signals) {
		LOG_ERROR("main", "not starting: %s", err);
		return 1;
	}
	int rc = run_daemon(o, signals);
	signal_owner_stop(signals);
	return rc;
}

int main(int argc, char **argv)
{
	json_tree_init(); /* cJSON's hooks, before any thread starts */
	/* An isolated plugin's child (core/plugin_runner.h), started by the
	 * daemon itself; never parsed as user options. */
	if (argc >= 2 && strcmp(argv[1], "--plugin-runner") == 0)
		return plugin_runner_main();
	options o = {0};
	int rc = parse_options(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (o.check_config)
		return check_config(&o);
	if (o.migrate)
		return migrate(&o);
	return run(&o);
}
