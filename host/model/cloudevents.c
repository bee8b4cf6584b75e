/*
 * CloudEvents 1.0: structured and binary modes → trigger_parsed.
 * Everything handed on is what the client sent, or refused with the
 * reason: no value is cut at a NUL, no text is invalid UTF-8, no
 * attribute appears twice.
 */
#include "config.h"

#include "model/cloudevents.h"

#include "util/json_strict.h"
#include "util/percent.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FAIL(...) (snprintf(err, err_size, __VA_ARGS__), 400)

/* Members of a structured event before the O(n^2) duplicate check: the
 * context attributes, data and TRIGGER_MAX_ATTRIBUTES extensions. */
#define MEMBERS_MAX 64

int content_type_is_json(const char *ct)
{
	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* The attributes collected from either mode, checked once. */
typedef struct ce_context {
	const char *specversion;
	bool has_type;
} ce_context;

static int add_attribute(trigger_parsed *p, const char *key, const char *value, es_attribute_type type, char *err,
                         size_t err_size)
{
	for (size_t i = 0; i < p->fields.attribute_count; i++)
		if (strcmp(p->attributes[i].key, key) == 0)
			return FAIL("CloudEvents attribute '%s' is given more than once", key);
	if (p->fields.attribute_count >= TRIGGER_MAX_ATTRIBUTES)
		return FAIL("more than %d attributes", TRIGGER_MAX_ATTRIBUTES);
	p->attributes[p->fields.attribute_count].key = key;
	p->attributes[p->fields.attribute_count].value = value;
	p->attributes[p->fields.attribute_count].type = type;
	p->fields.attribute_count++;
	p->fields.attributes = p->attributes;
	return 0;
}

/* One attribute (name already lowercase and valid, value NUL-free UTF-8;
 * the context attributes are always strings) into p; `origin` names where
 * it came from for errors ("ce-" or ""). */
static int set_attribute(trigger_parsed *p, ce_context *ctx, const char *k, const char *v, es_attribute_type type,
                         const char *origin, char *err, size_t err_size)
{
	if (strcmp(k, "specversion") == 0) {
		ctx->specversion = v;
	} else if (strcmp(k, "id") == 0) {
		p->fields.id = v;
	} else if (strcmp(k, "source") == 0) {
		if (strlen(v) > EVENT_SOURCE_MAX)
			return FAIL("%ssource must be at most %d bytes", origin, EVENT_SOURCE_MAX);
		char why[96];
		const char *refused = es_event_text_refused(v, strlen(v), why, sizeof why);
		if (refused)
			return FAIL("%ssource %s", origin, refused);
		p->fields.source = v;
	} else if (strcmp(k, "type") == 0) {
		p->fields.name = v;
		ctx->has_type = true;
	} else if (strcmp(k, "time") == 0) {
		const char *why = rfc3339_parse_why(v, &p->fields.time_us);
		if (why)
			return FAIL("%stime is not accepted: %s (an RFC 3339 timestamp of at most %d characters, e.g. "
			            "2024-01-01T12:00:00Z)",
			            origin, why, RFC3339_TEXT_MAX);
		p->fields.has_time = true;
		p->fields.time_text = v;
	} else if (strcmp(k, "dataencoding") == 0) {
		return FAIL("%sdataencoding is reserved: this server sets it to base64 on data it had to encode", origin);
	} else {
		char why[96];
		const char *refused = es_event_attribute_value_refused(k, v, why, sizeof why);
		if (refused)
			return FAIL("CloudEvents attribute %s%s %s", origin, k, refused);
		return add_attribute(p, k, v, type, err, err_size);
	}
	return 0;
}

/* Checks shared by both modes once the context attributes are known. */
static int check_required(trigger_parsed *p, const ce_context *ctx, char *err, size_t err_size)
{
	if (!ctx->specversion)
		return FAIL("missing CloudEvents attribute specversion");
	if (strcmp(ctx->specversion, "1.0") != 0)
		return FAIL("unsupported CloudEvents specversion '%.16s' (this server speaks 1.0)", ctx->specversion);
	if (!p->fields.id || !p->fields.id[0])
		return FAIL("missing CloudEvents attribute id");
	char why[200];
	const char *refused = es_event_id_refused(p->fields.id, strlen(p->fields.id), why, sizeof why);
	if (refused)
		return FAIL("CloudEvents id %s (1 to %d printable ASCII characters without spaces, quotes or "
		            "backslashes: a rule of this server, stricter than CloudEvents)",
		            refused, EVENT_ID_MAX);
	if (!p->fields.source || !p->fields.source[0])
		return FAIL("missing CloudEvents attribute source");
	if (!ctx->has_type)
		return FAIL("missing CloudEvents attribute type");
	if (!es_event_name_valid(p->fields.name, strlen(p->fields.name), why, sizeof why))
		return FAIL("CloudEvents type is not a valid event name on this server: %s", why);
	return 0;
}

/* Base64 of `data` as a JSON string, owned by p. */
static char *base64_json_string(trigger_parsed *p, const unsigned char *data, size_t len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t out_len = 4 * ((len + 2) / 3);
	char *out = malloc(out_len + 3);
	if (!out)
		return NULL;
	char *o = out;
	*o++ = '"';
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		*o++ = tbl[(v >> 18) & 63];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tbl[v & 63] : '=';
	}
	*o++ = '"';
	*o = '\0';
	return trigger_parsed_own(p, out);
}

/* RFC 4648 section 4 base64 with padding, no whitespace, and the unused
 * bits of the last group zero (so one text means one byte string). */
static bool base64_valid(const char *s, size_t n)
{
	if (n % 4)
		return false;
	size_t pad = n >= 1 && s[n - 1] == '=' ? (n >= 2 && s[n - 2] == '=' ? 2 : 1) : 0;
	for (size_t i = 0; i < n - pad; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	if (!pad)
		return true;
	const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int last = (int)(strchr(tbl, s[n - pad - 1]) - tbl);
	return pad == 2 ? (last & 15) == 0 : (last & 3) == 0;
}

int cloudevent_parse_structured(const void *object, trigger_parsed *p, char *err, size_t err_size)
{
	const cJSON *root = object;
	if (!cJSON_IsObject(root))
		return FAIL("a CloudEvent must be a JSON object");
	if (cJSON_GetArraySize(root) > MEMBERS_MAX)
		return FAIL("a CloudEvent with more than %d members", MEMBERS_MAX);
	const char *twice = json_duplicate_key(root);
	if (twice)
		return FAIL("CloudEvents attribute '%.64s' is given more than once", twice);
	ce_context ctx = {0};
	const cJSON *data = NULL, *data_base64 = NULL;
	written_numbers numbers = {.parsed = p}; /* the extensions are the object's own members */
	unsigned position = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, root)
	{
		const char *k = item->string;
		unsigned at = position++;
		if (strcmp(k, "data") == 0) {
			data = item;
			continue;
		}
		if (strcmp(k, "data_base64") == 0) {
			data_base64 = item;
			continue;
		}
		char why[96];
		if (!es_event_attribute_name_valid(k, why, sizeof why))
			return FAIL("CloudEvents attribute name '%.64s%s' %s", k, strlen(k) > 64 ? "..." : "", why);
		if (cJSON_IsNull(item))
			continue; /* an absent optional attribute */
		bool context = strcmp(k, "specversion") == 0 || strcmp(k, "id") == 0 || strcmp(k, "source") == 0 ||
		               strcmp(k, "type") == 0 || strcmp(k, "time") == 0 || strcmp(k, "subject") == 0 ||
		               strcmp(k, "dataschema") == 0 || strcmp(k, "datacontenttype") == 0;
		if (context && !cJSON_IsString(item))
			return FAIL("CloudEvents attribute '%s' must be a string", k);
		/* an extension keeps its JSON type: String, Integer or Boolean */
		char digits[12];
		es_event_attribute typed = {0};
		const char *refused = es_event_attribute_from_json(item, &typed, digits);
		if (!refused && cJSON_IsNumber(item) && !written_number_whole(&numbers, at))
			refused = ES_EVENT_INTEGER_NOT_WHOLE;
		if (refused)
			return FAIL("CloudEvents attribute '%s' %s", k, refused);
		if (typed.value == digits && !(typed.value = trigger_parsed_own(p, strdup(digits))))
			return FAIL("out of memory or too many attributes");
		int rc = set_attribute(p, &ctx, k, typed.value, typed.type, "", err, err_size);
		if (rc)
			return rc;
	}
	int rc = check_required(p, &ctx, err, err_size);
	if (rc)
		return rc;
	if (data && data_base64)
		return FAIL("a CloudEvent carries data or data_base64, not both");
	if (data)
		return trigger_parsed_take_data(p, data, err, err_size);
	if (data_base64) {
		if (!cJSON_IsString(data_base64) ||
		    !base64_valid(data_base64->valuestring, strlen(data_base64->valuestring)))
			return FAIL("data_base64 must be a string of base64 (RFC 4648: A-Z a-z 0-9 + /, '=' padding to a "
			            "multiple of 4, no whitespace)");
		char *quoted = trigger_parsed_own(p, cJSON_PrintUnformatted(data_base64));
		if (!quoted)
			return FAIL("out of memory or too many attributes");
		p->fields.data = quoted;
		p->fields.data_len = strlen(quoted);
		return add_attribute(p, "dataencoding", "base64", ES_ATTRIBUTE_STRING, err, err_size);
	}
	return 0;
}

/* Optional whitespace around an HTTP field value (RFC 9110 5.6.3). */
static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* The Content-Type header's value without the whitespace around it, owned
 * by p; NULL for none (or only whitespace): the data is then JSON. */
static const char *content_type_trimmed(trigger_parsed *p, const char *ct, bool *oom)
{
	*oom = false;
	if (!ct)
		return NULL;
	while (is_ows(*ct))
		ct++;
	size_t n = strlen(ct);
	while (n && is_ows(ct[n - 1]))
		n--;
	if (n == 0)
		return NULL;
	char *copy = trigger_parsed_own(p, strndup(ct, n));
	*oom = !copy;
	return copy;
}

int ce_header_value_decode(const char *raw, char **out, char *err, size_t err_size)
{
	*out = NULL;
	while (is_ows(*raw))
		raw++;
	size_t n = strlen(raw);
	while (n && is_ows(raw[n - 1]))
		n--;
	char *unquoted = malloc(n + 1), *u = unquoted;
	if (!unquoted)
		return FAIL("out of memory");
	if (n >= 1 && raw[0] == '"') {
		/* RFC 9110 quoted-string: "..." with \x standing for x */
		size_t i = 1;
		for (; i < n && raw[i] != '"'; i++) {
			if (raw[i] == '\\' && i + 1 < n)
				i++;
			*u++ = raw[i];
		}
		if (i != n - 1) {
			free(unquoted);
			return FAIL("a quoted header value must end with its closing quote");
		}
	} else {
		memcpy(u, raw, n);
		u += n;
	}
	size_t len = (size_t)(u - unquoted);
	char *decoded = malloc(len + 1);
	if (!decoded) {
		free(unquoted);
		return FAIL("out of memory");
	}
	ssize_t decoded_len = percent_decode(unquoted, len, false, decoded);
	free(unquoted);
	if (decoded_len < 0) {
		free(decoded);
		return FAIL("malformed percent-encoding (%% must be followed by two hex digits)");
	}
	if (memchr(decoded, '\0', (size_t)decoded_len)) {
		free(decoded);
		return FAIL("the value contains a NUL byte (%%00)");
	}
	if (!utf8_valid(decoded, (size_t)decoded_len)) {
		free(decoded);
		return FAIL("the value is not valid UTF-8 after percent-decoding");
	}
	*out = decoded;
	return 0;
}

static bool is_text(const char *ct)
{
	return ct && strncasecmp(ct, "text/", 5) == 0;
}

/* The Content-Type header as the data's type: printable ASCII only. */
static bool header_text_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			if (*s != '\t')
				return false;
	return true;
}

int cloudevent_parse_binary(const ce_header *headers, size_t count, const char *content_type, const char *body,
                            size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	ce_context ctx = {0};
	if (count > CE_HEADERS_MAX)
		return FAIL("more than %d ce-* headers", CE_HEADERS_MAX);
	for (size_t i = 0; i < count; i++) {
		char *name = trigger_parsed_own(p, strdup(headers[i].name));
		if (!name)
			return FAIL("out of memory or too many attributes");
		for (char *c = name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		char why[96];
		if (!es_event_attribute_name_valid(name, why, sizeof why))
			return FAIL("header ce-%.64s%s is not a CloudEvents attribute: the name %s", name,
			            strlen(name) > 64 ? "..." : "", why);
		if (strcmp(name, "datacontenttype") == 0)
			return FAIL("ce-datacontenttype is not a header in binary mode: the Content-Type header is the "
			            "data's type");
		/* an extension named data would be written beside the data
		 * wherever the event is JSON (a webhook's body: two "data" keys) */
		if (strcmp(name, "data") == 0)
			return FAIL("ce-data is not a header in binary mode: the body is the data");
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(headers[j].name, name) == 0)
				return FAIL("header ce-%s is given more than once", name);
		char *value = NULL;
		char reason[160];
		if (ce_header_value_decode(headers[i].value, &value, reason, sizeof reason) != 0)
			return FAIL("header ce-%s: %s", name, reason);
		if (!trigger_parsed_own(p, value))
			return FAIL("out of memory or too many attributes");
		/* a header is text (the HTTP binding): a String, whatever it
		 * looks like ("42" stays "42") */
		int rc = set_attribute(p, &ctx, name, value, ES_ATTRIBUTE_STRING, "ce-", err, err_size);
		if (rc)
			return rc;
	}
	int rc = check_required(p, &ctx, err, err_size);
	if (rc)
		return rc;
	bool oom;
	content_type = content_type_trimmed(p, content_type, &oom);
	if (oom)
		return FAIL("out of memory or too many attributes");
	if (content_type) {
		if (!header_text_valid(content_type))
			return FAIL("Content-Type must be printable ASCII");
		if ((rc = set_attribute(p, &ctx, "datacontenttype", content_type, ES_ATTRIBUTE_STRING, "", err,
		                        err_size)))
			return rc;
	}
	if (len == 0)
		return 0; /* no data */
	/* No Content-Type: JSON, as the CloudEvents rule for an absent
	 * datacontenttype says (and the plugin header promises). */
	if (!content_type || content_type_is_json(content_type)) {
		json_strict_error why;
		if (!json_strict_valid(body, len, JSON_STRICT_NO_NUL, &why))
			return FAIL("the body is %s%.64s%s but is not valid JSON at byte %zu: %s",
			            content_type ? "declared as JSON (" : "taken as JSON (no Content-Type",
			            content_type ? content_type : "", ")", why.offset, why.reason);
		/* exactly len bytes: the body has no NUL (valid JSON), and is not
		 * NUL-terminated itself */
		char *copy = trigger_parsed_own(p, malloc(len + 1));
		if (!copy)
			return FAIL("out of memory or too many attributes");
		memcpy(copy, body, len);
		copy[len] = '\0';
		p->fields.data = copy;
		p->fields.data_len = len;
		return 0;
	}
	if (is_text(content_type) && !memchr(body, '\0', len) && utf8_valid(body, len)) {
		char *text = malloc(len + 1);
		if (text) {
			memcpy(text, body, len);
			text[len] = '\0';
		}
		cJSON *s = text ? cJSON_CreateString(text) : NULL;
		free(text);
		char *json = s ? cJSON_PrintUnformatted(s) : NULL;
		cJSON_Delete(s);
		char *owned = trigger_parsed_own(p, json);
		if (!owned)
			return FAIL("out of memory or too many attributes");
		p->fields.data = owned;
		p->fields.data_len = strlen(owned);
		return 0;
	}
	/* anything else, and text that is not UTF-8, travels as base64 */
	char *b64 = base64_json_string(p, (const unsigned char *)body, len);
	if (!b64)
		return FAIL("out of memory or too many attributes");
	p->fields.data = b64;
	p->fields.data_len = strlen(b64);
	return add_attribute(p, "dataencoding", "base64", ES_ATTRIBUTE_STRING, err, err_size);
}
