/*
 * webhook: POSTs each event it receives to a URL as a CloudEvents 1.0
 * structured JSON document, signed with HMAC-SHA256 when a secret is set.
 *
 * config:
 *   url: https://hooks.example.test/events   # required
 *   timeout_ms: 5000                          # whole request, connect included
 *   secret: "..."            # or secret_env: NAME (preferred): signs the body;
 *                            # the signature goes in X-Event-Signature: sha256=<hex>
 *
 * Outcome: 2xx → ok; connection errors, timeouts, 408, 429 and 5xx → retry
 * (the host backs off); any other status → fail (dead letter), with the
 * status and the start of the answer as the reason.
 *
 * Threads: handle() runs on several workers at once; each worker thread
 * keeps its own curl handle (reused connections), freed when it exits.
 */
#include <event-system/plugin.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct webhook_state {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	char *url;
	char *secret; /* NULL: unsigned */
	long timeout_ms;
	pthread_key_t curl_key; /* per-thread CURL handle */
};

static void free_curl(void *handle)
{
	curl_easy_cleanup(handle);
}

static es_status wh_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	const char *url = NULL, *secret = NULL, *secret_env = NULL;
	int64_t timeout_ms = 5000;
	if (host->config_string(ctx, "url", &url) != ES_STATUS_OK || !url[0]) {
		host->log(ctx, ES_LOG_ERROR, "config.url is required (the endpoint to POST events to)");
		return ES_STATUS_INVALID;
	}
	if (host->config_int(ctx, "timeout_ms", &timeout_ms) == ES_STATUS_WRONG_TYPE || timeout_ms < 1 ||
	    timeout_ms > 600000) {
		host->log(ctx, ES_LOG_ERROR, "config.timeout_ms must be a whole number from 1 to 600000");
		return ES_STATUS_INVALID;
	}
	host->config_string(ctx, "secret", &secret);
	if (host->config_string(ctx, "secret_env", &secret_env) == ES_STATUS_OK) {
		secret = getenv(secret_env);
		if (!secret || !secret[0]) {
			host->log(ctx, ES_LOG_ERROR, "config.secret_env names %s, which is not set", secret_env);
			return ES_STATUS_INVALID;
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		host->log(ctx, ES_LOG_ERROR, "curl_global_init failed");
		return ES_STATUS_ERROR;
	}
	struct webhook_state *st = calloc(1, sizeof *st);
	if (!st)
		return ES_STATUS_ERROR;
	st->host = host;
	st->ctx = ctx;
	st->url = strdup(url);
	st->secret = secret ? strdup(secret) : NULL;
	st->timeout_ms = (long)timeout_ms;
	pthread_key_create(&st->curl_key, free_curl);
	host->log(ctx, ES_LOG_INFO, "posting events to %s (%s, timeout %ld ms)", st->url,
	          st->secret ? "signed" : "unsigned", st->timeout_ms);
	*state = st;
	return ES_STATUS_OK;
}

/* The event as a CloudEvents 1.0 structured document; caller frees. */
static char *cloudevent_json(const es_host_api *h, const es_event *e)
{
	cJSON *ce = cJSON_CreateObject();
	cJSON_AddStringToObject(ce, "specversion", "1.0");
	cJSON_AddStringToObject(ce, "id", h->event_id(e));
	const char *source = h->event_source(e);
	cJSON_AddStringToObject(ce, "source", source[0] ? source : "event-system");
	cJSON_AddStringToObject(ce, "type", h->event_name(e));
	int64_t us = h->event_time_us(e);
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char when[40];
	size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof when - n, ".%06ldZ", (long)(us % 1000000));
	cJSON_AddStringToObject(ce, "time", when);
	cJSON_AddStringToObject(ce, "datacontenttype", "application/json");
	size_t len = 0;
	const char *data = h->event_data(e, &len);
	cJSON *parsed = cJSON_ParseWithLength(data, len);
	cJSON_AddItemToObject(ce, "data", parsed ? parsed : cJSON_CreateNull());
	char *text = cJSON_PrintUnformatted(ce);
	cJSON_Delete(ce);
	return text;
}

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

static es_result wh_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	struct webhook_state *st = state;
	const es_host_api *h = st->host;
	CURL *curl = pthread_getspecific(st->curl_key);
	if (!curl) {
		curl = curl_easy_init();
		if (!curl) {
			snprintf(err, err_size, "cannot create a curl handle");
			return ES_RETRY;
		}
		pthread_setspecific(st->curl_key, curl);
	}
	char *body = cloudevent_json(h, event);
	if (!body) {
		snprintf(err, err_size, "out of memory");
		return ES_RETRY;
	}
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/cloudevents+json");
	char line[160];
	snprintf(line, sizeof line, "X-Event-Id: %s", h->event_id(event));
	headers = curl_slist_append(headers, line);
	if (st->secret) {
		char mac[65];
		hex_hmac(st->secret, body, strlen(body), mac);
		snprintf(line, sizeof line, "X-Event-Signature: sha256=%s", mac);
		headers = curl_slist_append(headers, line);
	}
	struct answer answer = {.len = 0};
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, st->url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, st->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "event-system-webhook/1.0");
	CURLcode rc = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	cJSON_free(body);

	if (rc != CURLE_OK) {
		snprintf(err, err_size, "POST %s: %s", st->url, curl_easy_strerror(rc));
		h->counter_add(st->ctx, "transport_errors", 1);
		return ES_RETRY;
	}
	if (status >= 200 && status < 300) {
		h->counter_add(st->ctx, "posted", 1);
		return ES_OK;
	}
	snprintf(err, err_size, "POST %s: HTTP %ld: %s", st->url, status, answer.text);
	h->counter_add(st->ctx, "http_errors", 1);
	return status >= 500 || status == 408 || status == 429 ? ES_RETRY : ES_FAIL;
}

static void wh_shutdown(void *state)
{
	struct webhook_state *st = state;
	CURL *mine = pthread_getspecific(st->curl_key);
	if (mine)
		curl_easy_cleanup(mine);
	pthread_key_delete(st->curl_key);
	if (st->secret)
		memset(st->secret, 0, strlen(st->secret));
	free(st->secret);
	free(st->url);
	free(st);
}

ES_PLUGIN_DEFINE(
	.name = "webhook",
	.version = "1.0.0",
	.description = "POSTs each event as a signed CloudEvent to a URL",
	.default_subscriptions = NULL, /* nothing until subscribed in the config */
	.init = wh_init,
	.handle = wh_handle,
	.shutdown = wh_shutdown,
);
