/*
 * CloudEvents 1.0: structured and binary modes → trigger_parsed.
 */
#include "config.h"

#include "cloudevents.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FAIL(...) (snprintf(err, err_size, __VA_ARGS__), 400)

int content_type_is_json(const char *ct)
{
	if (!ct)
		return 0;
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* Extension attribute names: lowercase letters and digits (CloudEvents 1.0). */
static bool valid_attribute_name(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9')))
			return false;
	return n >= 1 && n <= 64;
}

static int add_attribute(trigger_parsed *p, const char *key, const char *value, char *err, size_t err_size)
{
	if (p->fields.attribute_count >= TRIGGER_MAX_ATTRIBUTES)
		return FAIL("more than %d attributes", TRIGGER_MAX_ATTRIBUTES);
	p->attributes[p->fields.attribute_count].key = key;
	p->attributes[p->fields.attribute_count].value = value;
	p->fields.attribute_count++;
	p->fields.attributes = p->attributes;
	return 0;
}

/* Checks shared by both modes once the context attributes are known. */
static int check_required(trigger_parsed *p, const char *specversion, char *err, size_t err_size)
{
	if (!specversion)
		return FAIL("missing CloudEvents attribute specversion");
	if (strcmp(specversion, "1.0") != 0)
		return FAIL("unsupported CloudEvents specversion '%.16s' (this server speaks 1.0)", specversion);
	if (!p->fields.id || !p->fields.id[0])
		return FAIL("missing CloudEvents attribute id");
	if (!event_id_valid(p->fields.id, strlen(p->fields.id)))
		return FAIL("CloudEvents id must be 1 to 128 printable ASCII characters without spaces or quotes");
	if (!p->fields.source || !p->fields.source[0])
		return FAIL("missing CloudEvents attribute source");
	if (!p->fields.name)
		return FAIL("missing CloudEvents attribute type");
	char why[200];
	if (!event_name_valid(p->fields.name, strlen(p->fields.name), why, sizeof why))
		return FAIL("CloudEvents type is not a valid event name: %s", why);
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

int cloudevent_parse_structured(const void *object, trigger_parsed *p, char *err, size_t err_size)
{
	const cJSON *root = object;
	if (!cJSON_IsObject(root))
		return FAIL("a CloudEvent must be a JSON object");
	const char *specversion = NULL;
	const cJSON *data = NULL, *data_base64 = NULL;
	const cJSON *item;
	cJSON_ArrayForEach(item, root)
	{
		const char *k = item->string;
		if (strcmp(k, "data") == 0) {
			data = item;
			continue;
		}
		if (strcmp(k, "data_base64") == 0) {
			data_base64 = item;
			continue;
		}
		if (cJSON_IsNull(item))
			continue;
		const char *text = NULL;
		if (cJSON_IsString(item)) {
			text = item->valuestring;
		} else if (cJSON_IsNumber(item) || cJSON_IsBool(item)) {
			text = trigger_parsed_own(p, cJSON_PrintUnformatted(item));
			if (!text)
				return FAIL("out of memory or too many attributes");
		} else {
			return FAIL("CloudEvents attribute '%.64s' must be a string, number or boolean", k);
		}
		if (strcmp(k, "specversion") == 0) {
			specversion = text;
		} else if (strcmp(k, "id") == 0) {
			p->fields.id = text;
		} else if (strcmp(k, "source") == 0) {
			p->fields.source = text;
		} else if (strcmp(k, "type") == 0) {
			p->fields.name = text;
		} else if (strcmp(k, "time") == 0) {
			if (!rfc3339_parse(text, &p->fields.time_us))
				return FAIL("CloudEvents time must be an RFC 3339 timestamp");
		} else if (!valid_attribute_name(k)) {
			return FAIL("CloudEvents attribute name '%.64s' is invalid (lowercase letters and digits only)", k);
		} else {
			int rc = add_attribute(p, k, text, err, err_size);
			if (rc)
				return rc;
		}
	}
	int rc = check_required(p, specversion, err, err_size);
	if (rc)
		return rc;
	if (data && data_base64)
		return FAIL("a CloudEvent carries data or data_base64, not both");
	if (data) {
		return trigger_parsed_set_data(p, data, err, err_size);
	} else if (data_base64) {
		if (!cJSON_IsString(data_base64))
			return FAIL("data_base64 must be a string");
		char *quoted = trigger_parsed_own(p, cJSON_PrintUnformatted(data_base64));
		if (!quoted)
			return FAIL("out of memory or too many attributes");
		p->fields.data = quoted;
		p->fields.data_len = strlen(quoted);
		return add_attribute(p, "dataencoding", "base64", err, err_size);
	}
	return 0;
}

static bool is_text(const char *ct)
{
	return ct && strncasecmp(ct, "text/", 5) == 0;
}

int cloudevent_parse_binary(const ce_header *headers, size_t count, const char *content_type, const char *body,
                            size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	const char *specversion = NULL;
	for (size_t i = 0; i < count; i++) {
		const char *k = headers[i].name, *v = headers[i].value;
		if (strcasecmp(k, "specversion") == 0)
			specversion = v;
		else if (strcasecmp(k, "id") == 0)
			p->fields.id = v;
		else if (strcasecmp(k, "source") == 0)
			p->fields.source = v;
		else if (strcasecmp(k, "type") == 0)
			p->fields.name = v;
		else if (strcasecmp(k, "time") == 0) {
			if (!rfc3339_parse(v, &p->fields.time_us))
				return FAIL("ce-time must be an RFC 3339 timestamp");
		} else {
			char *lower = trigger_parsed_own(p, strdup(k));
			if (!lower)
				return FAIL("out of memory or too many attributes");
			for (char *c = lower; *c; c++)
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c - 'A' + 'a');
			if (!valid_attribute_name(lower))
				return FAIL("ce-%.64s is not a valid CloudEvents attribute name", k);
			int rc = add_attribute(p, lower, v, err, err_size);
			if (rc)
				return rc;
		}
	}
	int rc = check_required(p, specversion, err, err_size);
	if (rc)
		return rc;
	if (content_type && (rc = add_attribute(p, "datacontenttype", content_type, err, err_size)))
		return rc;
	if (len == 0)
		return 0; /* no data */
	if (content_type_is_json(content_type)) {
		cJSON *parsed = cJSON_ParseWithLength(body, len);
		if (!parsed)
			return FAIL("the body is declared as JSON (%.64s) but is not valid JSON", content_type);
		cJSON_Delete(parsed);
		char *copy = trigger_parsed_own(p, strndup(body, len));
		if (!copy)
			return FAIL("out of memory or too many attributes");
		p->fields.data = copy;
		p->fields.data_len = len;
		return 0;
	}
	if (is_text(content_type) && !memchr(body, '\0', len)) {
		char *text = strndup(body, len);
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
	char *b64 = base64_json_string(p, (const unsigned char *)body, len);
	if (!b64)
		return FAIL("out of memory or too many attributes");
	p->fields.data = b64;
	p->fields.data_len = strlen(b64);
	return add_attribute(p, "dataencoding", "base64", err, err_size);
}
