/* libFuzzer target: the whole path from an event request to the events
 * handed to plugins and the answer, without sockets.
 *
 * Input: one byte choosing the endpoint (bit 0: /api/events/batch, else
 * /api/events/trigger), then header lines "Name: value\n" up to an empty
 * line, then the body (any bytes, NUL included).  The same functions as
 * http_events.c run on it: event_request_kind(), event_request_parse*(),
 * es_event_create(), es_event_json(), error_reply_json().
 *
 * Asserted on every input (abort() makes libFuzzer report it):
 *  - every error answer is strictly valid JSON (UTF-8, json_strict.h);
 *  - an accepted event's data is strictly valid JSON with no NUL, exactly
 *    data_len bytes long, and the whole event (es_event_json) is valid JSON
 *    on one line (the log plugin writes JSON lines);
 *  - its id and name need no JSON escaping (the 202 body is built by hand)
 *    and are exactly what the client sent: the "id" and "name"/"type" of
 *    the JSON body decoded here independently, or the ce-id / ce-type
 *    header percent-decoded by libevent's evhttp_uridecode();
 *  - a JSON body reads the same with and without a cJSON tree
 *    (trigger_agree.h);
 *  - ASan and UBSan find nothing (run.sh builds with both).
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/es_event.h"
#include "model/event_request.h"
#include "util/json_strict.h"
#include "trigger_agree.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error_answer(const char *message)
{
	char *json = error_reply_json("bad_request", message);
	CHECK(json, "no error body");
	CHECK(json_strict_valid(json, strlen(json), JSON_STRICT_NO_NUL, NULL), "error body is not valid JSON: %s", json);
	cJSON_free(json);
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A JSON string literal (valid, from json_object_member()) decoded to
 * UTF-8, independently of cJSON; NULL when it is not a string. */
static char *decode_json_string(const char *s, size_t len, size_t *out_len)
{
	if (len < 2 || s[0] != '"')
		return NULL;
	char *out = malloc(len), *o = out;
	for (size_t i = 1; i + 1 < len; i++) {
		if (s[i] != '\\') {
			*o++ = s[i];
			continue;
		}
		char e = s[++i];
		if (e != 'u') {
			*o++ = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
			continue;
		}
		unsigned cp = 0;
		for (int k = 1; k <= 4; k++)
			cp = cp * 16 + (unsigned)hex_digit(s[i + k]);
		i += 4;
		if (cp >= 0xD800 && cp <= 0xDBFF) { /* a pair: validated */
			unsigned lo = 0;
			for (int k = 3; k <= 6; k++)
				lo = lo * 16 + (unsigned)hex_digit(s[i + k]);
			i += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		}
		if (cp < 0x80) {
			*o++ = (char)cp;
		} else if (cp < 0x800) {
			*o++ = (char)(0xC0 | cp >> 6);
			*o++ = (char)(0x80 | (cp & 63));
		} else if (cp < 0x10000) {
			*o++ = (char)(0xE0 | cp >> 12);
			*o++ = (char)(0x80 | (cp >> 6 & 63));
			*o++ = (char)(0x80 | (cp & 63));
		} else {
			*o++ = (char)(0xF0 | cp >> 18);
			*o++ = (char)(0x80 | (cp >> 12 & 63));
			*o++ = (char)(0x80 | (cp >> 6 & 63));
			*o++ = (char)(0x80 | (cp & 63));
		}
	}
	*out_len = (size_t)(o - out);
	return out;
}

/* `value` is exactly the member `key` of the JSON object text, when that
 * member is written there as a plain-keyed string. */
static void check_member(const char *text, size_t len, const char *key, const char *value)
{
	const char *raw;
	size_t raw_len, n;
	if (!text || !json_object_member(text, len, key, &raw, &raw_len))
		return;
	char *sent = decode_json_string(raw, raw_len, &n);
	if (!sent)
		return;
	CHECK(n == strlen(value) && memcmp(sent, value, n) == 0, "%s '%s' is not what was sent (%zu bytes)", key, value,
	      n);
	free(sent);
}

static void check_header(const ce_header *h, size_t count, const char *name, const char *value)
{
	for (size_t i = 0; i < count; i++) {
		if (strcasecmp(h[i].name, name) != 0)
			continue;
		/* The value without the optional whitespace (SP, HTAB) around it,
		 * which RFC 9110 says is not part of it. */
		const char *v = h[i].value;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t len = strlen(v);
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (v[0] == '"')
			continue;
		char *trimmed = strndup(v, len);
		size_t n = 0;
		char *sent = trimmed ? evhttp_uridecode(trimmed, 0, &n) : NULL;
		free(trimmed);
		CHECK(sent && n == strlen(value) && memcmp(sent, value, n) == 0, "ce-%s '%s' is not what was sent", name,
		      value);
		free(sent);
	}
}

static void check_accepted(trigger_parsed *p, body_kind kind, const ce_header *h, size_t count)
{
	es_event *e = es_event_create(&p->fields);
	CHECK(e, "es_event_create failed");
	CHECK(strlen(e->data) == e->data_len, "data has a NUL: %zu of %zu bytes", strlen(e->data), e->data_len);
	CHECK(json_strict_valid(e->data, e->data_len, JSON_STRICT_NO_NUL, NULL), "data is not valid JSON: %.200s",
	      e->data);
	size_t n;
	const char *whole = es_event_json(e, &n);
	CHECK(whole && json_strict_valid(whole, n, JSON_STRICT_NO_NUL, NULL), "event JSON invalid: %.300s",
	      whole ? whole : "(null)");
	CHECK(!memchr(whole, '\n', n) && !memchr(whole, '\r', n), "event JSON is not one line: %.300s", whole);
	char why[200];
	CHECK(es_event_id_valid(e->id, strlen(e->id)), "id '%s' breaks the id grammar", e->id);
	CHECK(es_event_name_valid(e->name, strlen(e->name), why, sizeof why), "name '%s': %s", e->name, why);
	for (size_t i = 0; i < e->attribute_count; i++)
		CHECK(utf8_valid(e->attributes[i].value, strlen(e->attributes[i].value)), "attribute %s not UTF-8",
		      e->attributes[i].key);
	if (p->fields.id && p->fields.id[0]) { /* else a generated UUID */
		if (kind == BODY_CE_BINARY)
			check_header(h, count, "id", e->id);
		else
			check_member(p->raw_body, p->raw_len, "id", e->id);
	}
	if (kind == BODY_CE_BINARY)
		check_header(h, count, "type", e->name);
	else
		check_member(p->raw_body, p->raw_len, kind == BODY_JSON ? "name" : "type", e->name);
	es_event_unref(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool hooks; /* as the daemon runs: batch trees in blocks of their own */
	if (!hooks) {
		json_tree_init();
		hooks = true;
	}
	if (size < 1)
		return 0;
	bool batch_endpoint = data[0] & 1;
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	const char *end = text + size - 1;

	ce_header headers[CE_HEADERS_MAX];
	size_t count = 0;
	const char *content_type = NULL;
	bool has_specversion = false;
	char *p = text;
	for (;;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || nl == p) {
			p = nl ? nl + 1 : p;
			break;
		}
		*nl = '\0'; /* a header line ends at a NUL, as libevent's C strings do */
		char *colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			char *value = colon + 1 + (colon[1] == ' ');
			if (strcasecmp(p, "Content-Type") == 0 && !content_type)
				content_type = value;
			if (strncasecmp(p, "ce-", 3) == 0 && count < CE_HEADERS_MAX) {
				headers[count].name = p + 3;
				headers[count].value = value;
				count++;
				has_specversion |= strcasecmp(p, "ce-specversion") == 0;
			}
		}
		p = nl + 1;
	}
	/* the body, exactly sized and not NUL-terminated (like evbuffer_pullup) */
	size_t len = (size_t)(end - p);
	char *body = malloc(len ? len : 1);
	memcpy(body, p, len);

	char err[256];
	body_kind kind = event_request_kind(content_type, has_specversion);
	if (kind == BODY_UNSUPPORTED || (batch_endpoint && kind != BODY_JSON && kind != BODY_CE_BATCH)) {
		check_error_answer(content_type ? content_type : "");
	} else if (batch_endpoint || kind == BODY_CE_BATCH) {
		json_tree tree;
		if (event_request_parse_batch(body, len, &tree, err, sizeof err) != 0) {
			check_error_answer(err);
		} else {
			batch_cursor c;
			for (batch_cursor_start(&c, tree.root, body, len); c.item; batch_cursor_next(&c)) {
				trigger_parsed one;
				if (event_request_parse_item(&c, kind == BODY_CE_BATCH, &one, err, sizeof err) == 0)
					check_accepted(&one, kind == BODY_CE_BATCH ? BODY_CE_STRUCTURED : BODY_JSON, NULL, 0);
				else
					check_error_answer(err);
				trigger_parsed_free(&one);
			}
		}
		json_tree_release(&tree);
	} else {
		trigger_parsed one;
		if (event_request_parse(kind, content_type, headers, count, body, len, &one, err, sizeof err) == 0)
			check_accepted(&one, kind, headers, count);
		else
			check_error_answer(err);
		trigger_parsed_free(&one);
		CHECK(kind != BODY_JSON || !trigger_readings_differ(body, len),
		      "the readings with and without a tree differ");
	}
	free(body);
	free(text);
	return 0;
}
