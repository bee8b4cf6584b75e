/* Test plugin for isolated plugins that misbehave towards their process
 * (meant to run with `isolation: process`); one behaviour per event name:
 *   mb.crash      faults (SIGSEGV)
 *   mb.markcrash  creates the file config.marker, then faults: while the
 *                 marker exists every init() faults too
 *   mb.fork       forks a process that sleeps 30 s, writes its pid to
 *                 config.fork_pid_file and returns ES_OK
 *   mb.forge      writes a forged "ES_OK" result frame to file descriptor 3
 *                 (the channel's number as the child starts) and to every
 *                 socket it has, then fails with "really failed"
 *   mb.bigemit    emits an event of as many bytes as its data (a JSON
 *                 number) says and records the status emit() returned
 *   mb.threademit starts a thread that emits mb.fromthread as many times
 *                 as its data (a JSON number) says, joins it and records
 *                 how many emits returned ES_STATUS_ERROR
 *   mb.emitloop   emits an event with an invalid name as many times as
 *                 its data (a JSON number) says and records how many emits
 *                 were refused
 *   mb.newapi     calls the 1.1 functions that need the daemon without
 *                 checking ES_HOST_HAS() first (emit_event() without data,
 *                 gauge_set()) and records emit_event()'s status
 * Any other event is recorded as "ok".  With config.init_emit_bytes: N,
 * init() emits an event of N bytes and logs the status. */
#include "test_plugin.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/types.h>

static const char *marker; /* config.marker; the config outlives the plugin */
static const char *fork_pid_file;

/* An event of `n` bytes of JSON (a number padded with spaces). */
static es_status emit_bytes(tp_state *st, size_t n)
{
	char *d = malloc(n ? n : 1);
	if (!d)
		return ES_STATUS_ERROR;
	memset(d, ' ', n);
	if (n)
		d[0] = '1';
	es_status rc = st->host->emit(st->ctx, "mb.emitted", d, n);
	free(d);
	return rc;
}

/* The event's data read as a whole number (0 when it is none). */
static unsigned long long data_number(tp_state *st, const es_event *event)
{
	size_t len = 0;
	const char *data = st->host->event_data(event, &len);
	char text[32] = "";
	snprintf(text, sizeof text, "%.*s", (int)(len < sizeof text - 1 ? len : sizeof text - 1), data ? data : "");
	return strtoull(text, NULL, 10);
}

/* mb.threademit: emits from a thread of the plugin's own */
struct thread_emits {
	tp_state *st;
	unsigned long count, refused;
};

static void *emit_from_thread(void *arg)
{
	struct thread_emits *t = arg;
	for (unsigned long i = 0; i < t->count; i++)
		if (t->st->host->emit(t->st->ctx, "mb.fromthread", NULL, 0) == ES_STATUS_ERROR)
			t->refused++;
	return NULL;
}

static void fault(void)
{
	volatile uintptr_t nowhere = 16; /* the first page is never mapped */
	*(volatile int *)nowhere = 1;
}

static es_result mb_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	const char *name = st->host->event_name(event);
	if (strcmp(name, "mb.crash") == 0)
		fault();
	if (strcmp(name, "mb.markcrash") == 0) {
		if (marker) {
			int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
		}
		fault();
	}
	if (strcmp(name, "mb.fork") == 0) {
		pid_t p = fork();
		if (p == 0) {
			tp_sleep_ms(30000);
			_exit(0);
		}
		if (fork_pid_file) {
			FILE *f = fopen(fork_pid_file, "we");
			if (f) {
				fprintf(f, "%d\n", (int)p);
				fclose(f);
			}
		}
	}
	if (strcmp(name, "mb.forge") == 0) {
		/* A well-formed answer with a guessed request id: u32 length 18,
		 * type 18 (a result), u64 request id 0, u32 ES_OK, an empty
		 * string.  Written to fd 3 and to every socket the process has
		 * (the channel, wherever it is). */
		unsigned char frame[] = {18, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
		(void)!write(3, frame, sizeof frame);
		for (int fd = 4; fd < 1024; fd++) {
			struct stat sb;
			if (fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode))
				(void)!write(fd, frame, sizeof frame);
		}
		snprintf(err, err_size, "really failed");
		tp_record(st, event, "forged");
		return ES_FAIL;
	}
	if (strcmp(name, "mb.bigemit") == 0) {
		char what[64];
		snprintf(what, sizeof what, "emit-status %d", (int)emit_bytes(st, (size_t)data_number(st, event)));
		tp_record(st, event, what);
		return ES_OK;
	}
	if (strcmp(name, "mb.emitloop") == 0) {
		unsigned long count = (unsigned long)data_number(st, event), refused = 0;
		for (unsigned long i = 0; i < count; i++)
			refused += st->host->emit(st->ctx, "Not A Name", NULL, 0) != ES_STATUS_OK;
		char what[64];
		snprintf(what, sizeof what, "refused %lu of %lu", refused, count);
		tp_record(st, event, what);
		return ES_OK;
	}
	if (strcmp(name, "mb.newapi") == 0) {
		es_emit emit = ES_EMIT_INIT;
		emit.name = "mb.fromnewapi";
		es_status rc = st->host->emit_event(st->ctx, &emit);
		st->host->gauge_set(st->ctx, "mb_gauge", 7);
		char what[64];
		snprintf(what, sizeof what, "emit_event-status %d", (int)rc);
		tp_record(st, event, what);
		return ES_OK;
	}
	if (strcmp(name, "mb.threademit") == 0) {
		struct thread_emits t = {.st = st, .count = (unsigned long)data_number(st, event)};
		pthread_t thread;
		if (pthread_create(&thread, NULL, emit_from_thread, &t) != 0) {
			snprintf(err, err_size, "pthread_create failed");
			return ES_FAIL;
		}
		pthread_join(thread, NULL);
		char what[64];
		snprintf(what, sizeof what, "refused %lu of %lu", t.refused, t.count);
		tp_record(st, event, what);
		return ES_OK;
	}
	tp_record(st, event, "ok");
	return ES_OK;
}

static es_status mb_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	if (host->config_string(ctx, "marker", &marker) == ES_STATUS_OK && access(marker, F_OK) == 0) {
		host->log(ctx, ES_LOG_WARN, "marker %s present: faulting in init()", marker);
		fault();
	}
	if (host->config_string(ctx, "fork_pid_file", &fork_pid_file) != ES_STATUS_OK)
		fork_pid_file = NULL;
	es_status rc = tp_init(ctx, host, state);
	int64_t init_emit = 0;
	if (rc == ES_STATUS_OK && host->config_int(ctx, "init_emit_bytes", &init_emit) == ES_STATUS_OK && init_emit > 0)
		host->log(ctx, ES_LOG_INFO, "init() emit of %lld bytes: status %d", (long long)init_emit,
		          (int)emit_bytes(*state, (size_t)init_emit));
	return rc;
}

static const char *const subs[] = {"mb.**", NULL};
ES_PLUGIN_DEFINE(.name = "misbehave", .version = "0.1.0", .default_subscriptions = subs, .init = mb_init,
                 .handle = mb_handle, .shutdown = tp_shutdown);
