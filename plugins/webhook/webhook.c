/*
 * webhook: POSTs each event it receives to a URL as a CloudEvent 1.0,
 * signed with HMAC-SHA256 when a secret is set.  What the client sent is
 * what goes out: every attribute (subject, dataschema, extensions, a plain
 * event's attributes) with its JSON type (an Integer or Boolean extension
 * stays a number or true/false in structured and batch mode; binary mode's
 * ce-* headers are text, as the HTTP binding says), the data content type
 * as given, the time as the
 * client wrote it (none when it gave none), JSON data as written (numbers
 * are not reprinted) and non-JSON data as its bytes.
 *
 * config:
 *   url: https://hooks.example.test/events   # required
 *   timeout_ms: 5000                          # whole request, connect included
 *   mode: structured         # structured (default): application/cloudevents+json;
 *                            # binary: ce-* headers, the data as the body;
 *                            # batch: application/cloudevents-batch+json
 *   keep_alive: true         # false: a new connection for every request
 *   batch_max: 16            # batch mode: events per request (1-1000)
 *   batch_linger_ms: 5       # batch mode: how long a batch waits to fill
 *   secret: {env: NAME}      # or {file: PATH}: signs the body; the signature
 *                            # goes in X-Event-Signature: sha256=<hex>
 *                            # (secret_env: NAME and a literal string still work)
 *
 * Outcome: 2xx → ok; connection errors, timeouts, 408, 429 and 5xx → retry
 * (the host backs off); any other status → fail (dead letter), with the
 * status and the start of the answer as the reason.  In batch mode the
 * outcome of the request is the outcome of every event in it; the host
 * retries and dead-letters each event on its own.
 *
 * Threads: handle() runs on several workers at once; each worker thread
 * keeps its own curl handle, so its connection stays open between
 * deliveries (keep-alive), freed when the thread exits.  In batch mode the
 * handle() calls running at the same time join one batch: the first waits
 * up to batch_linger_ms for others (at most batch_max, and never more than
 * the plugin's workers setting), sends it, and each call returns its
 * outcome.
 */
#include <event-system/plugin.h>

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum wh_mode { MODE_STRUCTURED, MODE_BINARY, MODE_BATCH };

#define SECRET_MAX 512

/* The events of one batch request: built by the calls that join it, sent by
 * the first (the leader), freed by the last to leave. */
struct batch {
	char **documents; /* each member's CloudEvent, malloc'd */
	size_t count, members_left;
	bool sealed;      /* no one joins any more */
	bool done;        /* the request finished: result and reason are set */
	es_result result;
	char reason[256];
};

struct webhook_state {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	char *url;
	char *secret; /* NULL: unsigned */
	long timeout_ms;
	enum wh_mode mode;
	size_t batch_max;
	long batch_linger_ms;
	bool keep_alive;
	pthread_key_t curl_key; /* per-thread CURL handle */
	pthread_mutex_t lock;   /* batch mode: guards forming and every batch */
	pthread_cond_t changed;
	struct batch *forming;  /* the batch new events join, or NULL */
};

static void free_curl(void *handle)
{
	curl_easy_cleanup(handle);
}

/* ---- a growing string ---- */

struct text {
	char *s;
	size_t len, cap;
	bool failed;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *grown = realloc(t->s, cap);
		if (!grown) {
			t->failed = true;
			return;
		}
		t->s = grown;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void text_adds(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* A JSON string of UTF-8 text (the host promises valid UTF-8 without NUL). */
static void text_add_json_string(struct text *t, const char *s)
{
	text_add(t, "\"", 1);
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		text_add(t, run, (size_t)(s - run));
		char esc[8];
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof esc, "\\%c", c);
		else
			snprintf(esc, sizeof esc, "\\u%04x", c);
		text_adds(t, esc);
		run = s + 1;
	}
	text_add(t, run, (size_t)(s - run));
	text_add(t, "\"", 1);
}

static void text_add_member(struct text *t, const char *key, const char *value)
{
	text_add(t, ",", 1);
	text_add_json_string(t, key);
	text_add(t, ":", 1);
	text_add_json_string(t, value);
}

/* An attribute of its own JSON type: an Integer or Boolean's canonical
 * text ("42", "true") is its JSON; a String is quoted. */
static void text_add_typed_member(struct text *t, const char *key, const char *value, es_attribute_type type)
{
	if (type == ES_ATTRIBUTE_STRING) {
		text_add_member(t, key, value);
		return;
	}
	text_add(t, ",", 1);
	text_add_json_string(t, key);
	text_add(t, ":", 1);
	text_adds(t, value);
}

/* ---- the CloudEvent ---- */

/* The host's marker of data it holds as base64; not an attribute of the
 * client's event. */
static bool host_marker(const char *key)
{
	return strcmp(key, "dataencoding") == 0;
}

static bool data_is_base64(const es_host_api *h, const es_event *e)
{
	const char *enc = h->event_attribute(e, "dataencoding");
	return enc && strcmp(enc, "base64") == 0;
}

static const char *source_of(const es_host_api *h, const es_event *e)
{
	const char *source = h->event_source(e);
	return source[0] ? source : "event-system"; /* required by CloudEvents */
}

/* The event as a CloudEvents 1.0 structured document; caller frees. */
static char *structured_document(const es_host_api *h, const es_event *e, size_t *len)
{
	struct text t = {0};
	text_adds(&t, "{\"specversion\":\"1.0\"");
	text_add_member(&t, "id", h->event_id(e));
	text_add_member(&t, "source", source_of(h, e));
	text_add_member(&t, "type", h->event_name(e));
	const char *when = h->event_time_text(e);
	if (when)
		text_add_member(&t, "time", when);
	size_t n = h->event_attribute_count(e);
	for (size_t i = 0; i < n; i++) {
		const char *key, *value;
		es_attribute_type type = ES_ATTRIBUTE_STRING;
		if (h->event_attribute_at(e, i, &key, &value) != ES_STATUS_OK || host_marker(key))
			continue;
		h->event_attribute_type_at(e, i, &type);
		text_add_typed_member(&t, key, value, type);
	}
	if (h->event_has_data(e)) {
		size_t data_len;
		const char *data = h->event_data(e, &data_len);
		/* base64 data is held as its JSON string: data_base64 as it came */
		text_adds(&t, data_is_base64(h, e) ? ",\"data_base64\":" : ",\"data\":");
		text_add(&t, data, data_len);
	}
	text_add(&t, "}", 1);
	if (t.failed) {
		free(t.s);
		return NULL;
	}
	*len = t.len;
	return t.s;
}

/* A header value as the CloudEvents HTTP binding wants it: printable ASCII
 * but '"' and '%' as is, everything else (space, UTF-8 bytes) %XX. */
static void text_add_header_value(struct text *t, const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c > 0x20 && c < 0x7f && c != '"' && c != '%') {
			text_add(t, v, 1);
		} else {
			char esc[4];
			snprintf(esc, sizeof esc, "%%%02X", c);
			text_add(t, esc, 3);
		}
	}
}

static struct curl_slist *add_header(struct curl_slist *headers, const char *name, const char *value, bool *failed)
{
	struct text t = {0};
	text_adds(&t, name);
	text_adds(&t, ": ");
	text_add_header_value(&t, value);
	struct curl_slist *more = t.failed ? NULL : curl_slist_append(headers, t.s);
	free(t.s);
	if (!more) {
		*failed = true;
		return headers;
	}
	return more;
}

/* Binary mode: the attributes as ce-* headers (appended to *headers), the
 * data as the body (*body points into the event or is empty). */
static bool binary_message(const es_host_api *h, const es_event *e, struct curl_slist **headers, const char **body,
                           size_t *body_len)
{
	bool failed = false;
	struct curl_slist *l = *headers;
	l = add_header(l, "ce-specversion", "1.0", &failed);
	l = add_header(l, "ce-id", h->event_id(e), &failed);
	l = add_header(l, "ce-source", source_of(h, e), &failed);
	l = add_header(l, "ce-type", h->event_name(e), &failed);
	const char *when = h->event_time_text(e);
	if (when)
		l = add_header(l, "ce-time", when, &failed);
	const char *content_type = NULL;
	size_t n = h->event_attribute_count(e);
	for (size_t i = 0; i < n; i++) {
		const char *key, *value;
		if (h->event_attribute_at(e, i, &key, &value) != ES_STATUS_OK || host_marker(key))
			continue;
		if (strcmp(key, "datacontenttype") == 0) {
			content_type = value; /* the Content-Type header, not ce-* */
			continue;
		}
		char name[80];
		snprintf(name, sizeof name, "ce-%s", key);
		l = add_header(l, name, value, &failed);
	}
	*body = "";
	*body_len = 0;
	if (h->event_has_data(e)) {
		*body = h->event_data_bytes(e, body_len);
		if (!*body) { /* JSON */
			*body = h->event_data(e, body_len);
			if (!content_type)
				content_type = "application/json";
		}
	}
	/* without data there is no Content-Type (an empty value removes curl's) */
	if (content_type) {
		char line[320];
		snprintf(line, sizeof line, "Content-Type: %s", content_type);
		l = l ? curl_slist_append(l, line) : NULL;
	} else {
		l = l ? curl_slist_append(l, "Content-Type:") : NULL;
	}
	*headers = l;
	return !failed && l;
}

/* Whether the data's content type can be the Content-Type header as it is
 * (binary mode): printable ASCII, at most 256 bytes. */
static bool header_text(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return false;
	return n <= 256;
}

/* ---- HTTP ---- */

static void hex_hmac(const char *secret, const char *body, size_t len, char out[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &mac_len);
	for (unsigned i = 0; i < mac_len && i < 32; i++)
		snprintf(out + (size_t)2 * i, 3, "%02x", mac[i]);
	out[64] = '\0';
}

/* Keep the start of the answer for the error message. */
struct answer {
	char text[160];
	size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb;
	size_t room = sizeof a->text - 1 - a->len;
	size_t take = n < room ? n : room;
	memcpy(a->text + a->len, ptr, take);
	a->len += take;
	a->text[a->len] = '\0';
	return n;
}

/* Drop a UTF-8 sequence cut short at the end of s: the answer is kept to
 * its first bytes and the reason to err_size, and neither cut may leave
 * half a character (the reason goes into JSON answers). */
static void drop_cut_character(char *s)
{
	size_t len = strlen(s), lead = len;
	while (lead > 0 && len - lead < 4 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	unsigned char c = (unsigned char)s[lead - 1];
	size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	if (want > 1 && len - (lead - 1) < want)
		s[lead - 1] = '\0';
}

static CURL *thread_curl(struct webhook_state *st)
{
	CURL *curl = pthread_getspecific(st->curl_key);
	if (!curl) {
		curl = curl_easy_init();
		if (curl)
			pthread_setspecific(st->curl_key, curl);
	}
	return curl;
}

/* POST body with headers (taken: freed here) on this thread's connection. */
static es_result post(struct webhook_state *st, struct curl_slist *headers, const char *body, size_t len, char *err,
                      size_t err_size)
{
	const es_host_api *h = st->host;
	CURL *curl = thread_curl(st);
	if (!curl) {
		curl_slist_free_all(headers);
		snprintf(err, err_size, "cannot create a curl handle");
		return ES_RETRY;
	}
	if (st->secret) {
		char mac[65], line[96];
		hex_hmac(st->secret, body, len, mac);
		snprintf(line, sizeof line, "X-Event-Signature: sha256=%s", mac);
		struct curl_slist *more = curl_slist_append(headers, line);
		if (!more) {
			curl_slist_free_all(headers);
			snprintf(err, err_size, "out of memory");
			return ES_RETRY;
		}
		headers = more;
	}
	struct answer answer = {.len = 0};
	/* reset keeps the handle's open connections: the next POST reuses one */
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, st->url);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, st->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	if (!st->keep_alive)
		curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "event-system-webhook/1.1");
	CURLcode rc = curl_easy_perform(curl);
	long status = 0, connects = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
	curl_slist_free_all(headers);
	if (connects > 0)
		h->counter_add(st->ctx, "connections_opened", (uint64_t)connects);

	if (rc != CURLE_OK) {
		snprintf(err, err_size, "POST %s: %s", st->url, curl_easy_strerror(rc));
		h->counter_add(st->ctx, "transport_errors", 1);
		return ES_RETRY;
	}
	if (status >= 200 && status < 300) {
		h->counter_add(st->ctx, "posted", 1);
		return ES_OK;
	}
	drop_cut_character(answer.text);
	snprintf(err, err_size, "POST %s: HTTP %ld: %s", st->url, status, answer.text);
	drop_cut_character(err);
	h->counter_add(st->ctx, "http_errors", 1);
	return status >= 500 || status == 408 || status == 429 ? ES_RETRY : ES_FAIL;
}

static es_result deliver_one(struct webhook_state *st, const es_event *event, char *err, size_t err_size)
{
	const es_host_api *h = st->host;
	char line[160];
	snprintf(line, sizeof line, "X-Event-Id: %s", h->event_id(event));
	struct curl_slist *headers = curl_slist_append(NULL, line);
	if (!headers) {
		snprintf(err, err_size, "out of memory");
		return ES_RETRY;
	}
	if (st->mode == MODE_BINARY) {
		const char *ct = h->event_content_type(event);
		if (ct && !header_text(ct)) {
			curl_slist_free_all(headers);
			snprintf(err, err_size, "binary mode: datacontenttype is not printable ASCII of at most 256 bytes, "
			                        "so it cannot be the Content-Type header");
			return ES_FAIL;
		}
		const char *body;
		size_t len;
		if (!binary_message(h, event, &headers, &body, &len)) {
			curl_slist_free_all(headers);
			snprintf(err, err_size, "out of memory");
			return ES_RETRY;
		}
		return post(st, headers, body, len, err, err_size);
	}
	size_t len;
	char *body = structured_document(h, event, &len);
	struct curl_slist *more = body ? curl_slist_append(headers, "Content-Type: application/cloudevents+json") : NULL;
	if (!more) {
		curl_slist_free_all(headers);
		free(body);
		snprintf(err, err_size, "out of memory");
		return ES_RETRY;
	}
	es_result r = post(st, more, body, len, err, err_size);
	free(body);
	return r;
}

/* ---- batch mode ---- */

/* `ms` from now on CLOCK_MONOTONIC, the clock `changed` waits on (a step
 * of the wall clock must not stretch or cut the linger). */
static struct timespec monotonic_in_ms(long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* The leader sends the sealed batch b; called without the lock. */
static void send_batch(struct webhook_state *st, struct batch *b)
{
	struct text t = {0};
	text_add(&t, "[", 1);
	for (size_t i = 0; i < b->count; i++) {
		if (i)
			text_add(&t, ",", 1);
		text_adds(&t, b->documents[i]);
	}
	text_add(&t, "]", 1);
	struct curl_slist *headers =
		t.failed ? NULL : curl_slist_append(NULL, "Content-Type: application/cloudevents-batch+json");
	if (!headers) {
		b->result = ES_RETRY;
		snprintf(b->reason, sizeof b->reason, "out of memory");
	} else {
		b->result = post(st, headers, t.s, t.len, b->reason, sizeof b->reason);
		if (b->result == ES_OK)
			st->host->counter_add(st->ctx, "batches", 1);
	}
	free(t.s);
}

static es_result deliver_batched(struct webhook_state *st, const es_event *event, char *err, size_t err_size)
{
	size_t len;
	char *doc = structured_document(st->host, event, &len);
	if (!doc) {
		snprintf(err, err_size, "out of memory");
		return ES_RETRY;
	}
	pthread_mutex_lock(&st->lock);
	struct batch *b = st->forming;
	bool leader = false;
	if (!b) {
		b = calloc(1, sizeof *b);
		char **docs = b ? calloc(st->batch_max, sizeof *docs) : NULL;
		if (!docs) {
			pthread_mutex_unlock(&st->lock);
			free(b);
			free(doc);
			snprintf(err, err_size, "out of memory");
			return ES_RETRY;
		}
		b->documents = docs;
		st->forming = b;
		leader = true;
	}
	b->documents[b->count++] = doc;
	b->members_left++;
	if (b->count == st->batch_max) {
		b->sealed = true;
		st->forming = NULL;
		pthread_cond_broadcast(&st->changed);
	}
	if (leader) {
		/* wait for others to join, but not past the linger time (nor, as
		 * the host's deadline applies to this call, much longer) */
		struct timespec until = monotonic_in_ms(st->batch_linger_ms);
		while (!b->sealed)
			if (pthread_cond_timedwait(&st->changed, &st->lock, &until) == ETIMEDOUT)
				break;
		if (!b->sealed) {
			b->sealed = true;
			st->forming = NULL;
		}
		pthread_mutex_unlock(&st->lock);
		send_batch(st, b);
		pthread_mutex_lock(&st->lock);
		b->done = true;
		pthread_cond_broadcast(&st->changed);
	} else {
		/* the leader's request ends within timeout_ms (curl's limit);
		 * waiting longer than that and the linger would mean it is lost */
		struct timespec until = monotonic_in_ms(st->batch_linger_ms + st->timeout_ms + 1000);
		while (!b->done)
			if (pthread_cond_timedwait(&st->changed, &st->lock, &until) == ETIMEDOUT)
				break;
	}
	es_result r = b->done ? b->result : ES_RETRY;
	if (r != ES_OK)
		snprintf(err, err_size, "%s", b->done ? b->reason : "the batch's request did not finish in time");
	bool last = --b->members_left == 0;
	pthread_mutex_unlock(&st->lock);
	if (last) {
		for (size_t i = 0; i < b->count; i++)
			free(b->documents[i]);
		free(b->documents);
		free(b);
	}
	return r;
}

static es_result wh_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	struct webhook_state *st = state;
	return st->mode == MODE_BATCH ? deliver_batched(st, event, err, err_size) : deliver_one(st, event, err, err_size);
}

/* ---- lifetime ---- */

/* The signing secret: `secret: {env: NAME}` / `{file: PATH}` through the
 * host's helper, or the older `secret_env: NAME` / literal `secret`.
 * *out is malloc'd or NULL (unsigned); false when configured but unusable. */
static bool read_secret(es_plugin_ctx *ctx, const es_host_api *host, char **out)
{
	*out = NULL;
	char buf[SECRET_MAX];
	es_status st = host->config_secret(ctx, "secret", buf, sizeof buf);
	if (st == ES_STATUS_OK) {
		*out = strdup(buf);
		memset(buf, 0, sizeof buf);
		return *out != NULL;
	}
	if (st == ES_STATUS_INVALID)
		return false; /* the host logged why */
	const char *secret = NULL, *secret_env = NULL;
	if (st == ES_STATUS_WRONG_TYPE && host->config_string(ctx, "secret", &secret) != ES_STATUS_OK) {
		host->log(ctx, ES_LOG_ERROR, "config.secret must be {env: NAME}, {file: PATH} or a string");
		return false;
	}
	if (host->config_string(ctx, "secret_env", &secret_env) == ES_STATUS_OK) {
		secret = getenv(secret_env);
		if (!secret || !secret[0]) {
			host->log(ctx, ES_LOG_ERROR, "config.secret_env names %s, which is not set", secret_env);
			return false;
		}
	}
	if (secret && !(*out = strdup(secret)))
		return false;
	return true;
}

static es_status wh_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	if (!ES_HOST_HAS(host, event_attribute_type_at)) {
		host->log(ctx, ES_LOG_ERROR, "this plugin needs a host serving plugin ABI 1.1 with attribute types");
		return ES_STATUS_ERROR;
	}
	const char *url = NULL, *mode = "structured";
	int64_t timeout_ms = 5000, batch_max = 16, linger_ms = 5;
	if (host->config_string(ctx, "url", &url) != ES_STATUS_OK || !url[0]) {
		host->log(ctx, ES_LOG_ERROR, "config.url is required (the endpoint to POST events to)");
		return ES_STATUS_INVALID;
	}
	if (host->config_int(ctx, "timeout_ms", &timeout_ms) == ES_STATUS_WRONG_TYPE || timeout_ms < 1 ||
	    timeout_ms > 600000) {
		host->log(ctx, ES_LOG_ERROR, "config.timeout_ms must be a whole number from 1 to 600000");
		return ES_STATUS_INVALID;
	}
	if (host->config_string(ctx, "mode", &mode) == ES_STATUS_WRONG_TYPE ||
	    (strcmp(mode, "structured") != 0 && strcmp(mode, "binary") != 0 && strcmp(mode, "batch") != 0)) {
		host->log(ctx, ES_LOG_ERROR, "config.mode must be structured, binary or batch");
		return ES_STATUS_INVALID;
	}
	if (host->config_int(ctx, "batch_max", &batch_max) == ES_STATUS_WRONG_TYPE || batch_max < 1 ||
	    batch_max > 1000) {
		host->log(ctx, ES_LOG_ERROR, "config.batch_max must be a whole number from 1 to 1000");
		return ES_STATUS_INVALID;
	}
	if (host->config_int(ctx, "batch_linger_ms", &linger_ms) == ES_STATUS_WRONG_TYPE || linger_ms < 0 ||
	    linger_ms >= timeout_ms) {
		host->log(ctx, ES_LOG_ERROR, "config.batch_linger_ms must be a whole number from 0 to below timeout_ms");
		return ES_STATUS_INVALID;
	}
	int keep_alive = 1;
	if (host->config_bool(ctx, "keep_alive", &keep_alive) == ES_STATUS_WRONG_TYPE) {
		host->log(ctx, ES_LOG_ERROR, "config.keep_alive must be true or false");
		return ES_STATUS_INVALID;
	}
	char *secret;
	if (!read_secret(ctx, host, &secret))
		return ES_STATUS_INVALID;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		host->log(ctx, ES_LOG_ERROR, "curl_global_init failed");
		free(secret);
		return ES_STATUS_ERROR;
	}
	struct webhook_state *st = calloc(1, sizeof *st);
	if (!st) {
		free(secret);
		return ES_STATUS_ERROR;
	}
	st->host = host;
	st->ctx = ctx;
	st->url = strdup(url);
	st->secret = secret;
	st->timeout_ms = (long)timeout_ms;
	st->mode = strcmp(mode, "binary") == 0 ? MODE_BINARY : strcmp(mode, "batch") == 0 ? MODE_BATCH : MODE_STRUCTURED;
	st->batch_max = (size_t)batch_max;
	st->batch_linger_ms = (long)linger_ms;
	st->keep_alive = keep_alive != 0;
	pthread_key_create(&st->curl_key, free_curl);
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&st->changed, &attr);
	pthread_condattr_destroy(&attr);
	host->log(ctx, ES_LOG_INFO, "posting events to %s (%s, %s mode, timeout %ld ms)", st->url,
	          st->secret ? "signed" : "unsigned", mode, st->timeout_ms);
	*state = st;
	return ES_STATUS_OK;
}

static void wh_shutdown(void *state)
{
	struct webhook_state *st = state;
	CURL *mine = pthread_getspecific(st->curl_key);
	if (mine)
		curl_easy_cleanup(mine);
	pthread_key_delete(st->curl_key);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->changed);
	if (st->secret)
		memset(st->secret, 0, strlen(st->secret));
	free(st->secret);
	free(st->url);
	free(st);
}

ES_PLUGIN_DEFINE(
	.name = "webhook",
	.version = "1.1.0",
	.description = "POSTs each event as a signed CloudEvent to a URL",
	.default_subscriptions = NULL, /* nothing until subscribed in the config */
	.init = wh_init,
	.handle = wh_handle,
	.shutdown = wh_shutdown,
);
