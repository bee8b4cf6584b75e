/*
 * Trigger request parsing with cJSON.  Errors name the field or the byte
 * position, so a caller can fix the request from the answer alone.
 */
#include "config.h"

#include "trigger_parse.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool rfc3339_parse(const char *s, int64_t *out_us)
{
	int year, mon, day, hour, min, sec;
	if (strlen(s) < 20 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) || s[7] != '-' ||
	    !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &hour) ||
	    s[13] != ':' || !digits(s + 14, 2, &min) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return false;
	const char *p = s + 19;
	int64_t frac_us = 0;
	if (*p == '.') {
		p++;
		int scale = 100000, n = 0;
		while (isdigit((unsigned char)*p)) {
			if (n++ < 6) {
				frac_us += (int64_t)(*p - '0') * scale;
				scale /= 10;
			}
			p++;
		}
		if (n == 0)
			return false;
	}
	int offset_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		offset_s = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = hour, .tm_min = min,
	                .tm_sec = sec};
	time_t t = timegm(&tm);
	*out_us = ((int64_t)t - offset_s) * 1000000 + frac_us;
	return true;
}

/* Skip one JSON value starting at p (already validated by cJSON); returns
 * the first byte after it. */
static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;
	do {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',' || *p == ':'))
			p++;
		if (p >= end)
			return end;
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\' && p + 1 < end)
					p++;
			if (p < end)
				p++;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
			continue;
		} else if (*p == '}' || *p == ']') {
			depth--;
			p++;
		} else {
			while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' &&
			       *p != '\t')
				p++;
		}
	} while (depth > 0 && p < end);
	return p;
}

/* The raw text of the top-level "data" value of a valid JSON object, so it
 * need not be printed again from the tree.  False when not found. */
static bool raw_data_span(const char *body, size_t len, const char **start, size_t *span)
{
	/* cJSON is lenient (it takes any control byte as whitespace and inside
	 * strings); only strictly formed bodies take the fast path, so the text
	 * handed on is exactly what a strict parser would accept. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)body[i];
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return false;
	}
	const char *p = body, *end = body + len;
	while (p < end && *p != '{')
		p++;
	p++;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ','))
			p++;
		if (p >= end || *p != '"')
			return false;
		const char *key = p + 1;
		const char *after_key = skip_value(p, end);
		bool is_data = after_key - key == 5 && memcmp(key, "data\"", 5) == 0;
		p = after_key;
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':'))
			p++;
		const char *value_end = skip_value(p, end);
		if (value_end > end || p >= end)
			return false; /* our scan and cJSON disagree: let the caller reprint */
		if (is_data) {
			*start = p;
			*span = (size_t)(value_end - p);
			return true;
		}
		p = value_end;
	}
	return false;
}

/* Write the reason and give the HTTP status for a bad request. */
#define FAIL(...) (snprintf(err, err_size, __VA_ARGS__), 400)

int trigger_parse_object(const void *object, trigger_parsed *p, char *err, size_t err_size)
{
	const cJSON *root = object;
	if (!cJSON_IsObject(root))
		return FAIL("the body must be a JSON object with at least a \"name\" field");

	/* Typos first: "nmae" is more useful than "missing name". */
	static const char *const known[] = {"name", "id", "source", "time", "data", "attributes", "sync", NULL};
	const cJSON *field;
	cJSON_ArrayForEach(field, root)
	{
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = strcmp(field->string, *k) == 0;
		if (!ok)
			return FAIL(
			            "unknown field \"%.64s\" (known: name, id, source, time, data, attributes, sync)",
			            field->string);
	}
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
	if (!name)
		return FAIL("missing field \"name\" (the event name, e.g. \"order.created\")");
	if (!cJSON_IsString(name))
		return FAIL("field \"name\" must be a string");
	char why[200];
	if (!event_name_valid(name->valuestring, strlen(name->valuestring), why, sizeof why))
		return FAIL("invalid \"name\": %s", why);
	p->fields.name = name->valuestring;

	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (id && !cJSON_IsNull(id)) {
		if (!cJSON_IsString(id) || !event_id_valid(id->valuestring, strlen(id->valuestring)))
			return FAIL("%s",
			            "invalid \"id\": use 1 to 128 printable ASCII characters without spaces or quotes");
		p->fields.id = id->valuestring;
	}
	const cJSON *source = cJSON_GetObjectItemCaseSensitive(root, "source");
	if (source && !cJSON_IsNull(source)) {
		if (!cJSON_IsString(source) || strlen(source->valuestring) > 1024)
			return FAIL("field \"source\" must be a string of at most 1024 bytes");
		p->fields.source = source->valuestring;
	}
	const cJSON *when = cJSON_GetObjectItemCaseSensitive(root, "time");
	if (when && !cJSON_IsNull(when)) {
		if (!cJSON_IsString(when) || !rfc3339_parse(when->valuestring, &p->fields.time_us))
			return FAIL("field \"time\" must be an RFC 3339 timestamp, e.g. \"2024-01-01T12:00:00Z\"");
	}
	const cJSON *sync = cJSON_GetObjectItemCaseSensitive(root, "sync");
	if (sync) {
		if (!cJSON_IsBool(sync))
			return FAIL("field \"sync\" must be true or false");
		p->sync = cJSON_IsTrue(sync);
	}
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(root, "attributes");
	if (attrs && !cJSON_IsNull(attrs)) {
		if (!cJSON_IsObject(attrs))
			return FAIL("field \"attributes\" must be an object of strings");
		const cJSON *a;
		cJSON_ArrayForEach(a, attrs)
		{
			if (p->fields.attribute_count >= TRIGGER_MAX_ATTRIBUTES)
				return FAIL("more than 32 attributes");
			if (!cJSON_IsString(a))
				return FAIL("attribute \"%s\" must be a string", a->string);
			p->attributes[p->fields.attribute_count].key = a->string;
			p->attributes[p->fields.attribute_count].value = a->valuestring;
			p->fields.attribute_count++;
		}
		p->fields.attributes = p->attributes;
	}
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (data && p->raw_body) {
		/* the caller's own text of the value: no reprint (trigger_parse) */
		const char *raw;
		size_t span;
		if (raw_data_span(p->raw_body, p->raw_len, &raw, &span)) {
			p->fields.data = raw;
			p->fields.data_len = span;
			return 0;
		}
	}
	return data ? trigger_parsed_set_data(p, data, err, err_size) : 0;
}

int trigger_parsed_set_data(trigger_parsed *p, const void *value, char *err, size_t err_size)
{
	p->data = cJSON_PrintUnformatted(value);
	if (!p->data)
		return FAIL("out of memory");
	p->fields.data = p->data;
	p->fields.data_len = strlen(p->data);
	return 0;
}

int trigger_parse(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	memset(p, 0, sizeof *p);
	if (len == 0)
		return FAIL("empty body: send a JSON object such as {\"name\": \"order.created\"}");
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!root) {
		size_t pos = end && end >= body ? (size_t)(end - body) : 0;
		snprintf(err, err_size, "malformed JSON at byte %zu", pos);
		return 400;
	}
	/* Anything but whitespace after the value is an error too. */
	while (end && (size_t)(end - body) < len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
		end++;
	if (end && (size_t)(end - body) < len && *end != '\0') {
		cJSON_Delete(root);
		snprintf(err, err_size, "malformed JSON at byte %zu: unexpected data after the value", (size_t)(end - body));
		return 400;
	}
	p->root = root;
	p->raw_body = body;
	p->raw_len = len;
	return trigger_parse_object(root, p, err, err_size);
}

char *trigger_parsed_own(trigger_parsed *p, char *text)
{
	if (!text)
		return NULL;
	if (p->owned_count == sizeof p->owned / sizeof p->owned[0]) {
		free(text);
		return NULL;
	}
	p->owned[p->owned_count++] = text;
	return text;
}

void trigger_parsed_free(trigger_parsed *p)
{
	for (size_t i = 0; i < p->owned_count; i++)
		free(p->owned[i]);
	cJSON_Delete(p->root);
	cJSON_free(p->data);
	memset(p, 0, sizeof *p);
}
