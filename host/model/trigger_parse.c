/*
 * Trigger request parsing with cJSON.  Errors name the field or the byte
 * position, so a caller can fix the request from the answer alone.
 */
#include "config.h"

#include "model/trigger_parse.h"

#include "util/json_strict.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write the reason and give the HTTP status for a bad request. */
#define FAIL(...) (snprintf(err, err_size, __VA_ARGS__), 400)

const char *json_duplicate_key(const void *object)
{
	const cJSON *a, *b;
	cJSON_ArrayForEach(a, (const cJSON *)object)
	{
		for (b = ((const cJSON *)object)->child; b != a; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				return a->string;
	}
	return NULL;
}

int trigger_parse_json(const char *body, size_t len, void **root, char *err, size_t err_size)
{
	*root = NULL;
	json_strict_error why;
	if (!json_strict_valid(body, len, JSON_STRICT_NO_NUL, &why))
		return FAIL("malformed JSON at byte %zu: %s", why.offset, why.reason);
	*root = cJSON_ParseWithLength(body, len);
	if (!*root) /* valid but beyond what cJSON builds (memory) */
		return FAIL("the JSON body could not be decoded");
	return 0;
}

int trigger_parse_body(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	json_strict_error why;
	if (!json_strict_valid_member(body, len, JSON_STRICT_NO_NUL, &why, "data", &p->raw_data, &p->raw_data_len))
		return FAIL("malformed JSON at byte %zu: %s", why.offset, why.reason);
	/* a single event is a dozen nodes: one block, no malloc() each */
	p->root = json_tree_parse(&p->tree, body, len);
	if (!p->root) /* valid but beyond what cJSON builds (memory) */
		return FAIL("the JSON body could not be decoded");
	p->raw_body = body;
	p->raw_len = len;
	return 0;
}

/* Object members counted before the O(n^2) duplicate check: an event has
 * at most 7 fields and 32 attributes. */
#define MEMBERS_MAX 64

int trigger_parse_object(const void *object, trigger_parsed *p, char *err, size_t err_size)
{
	const cJSON *root = object;
	if (!cJSON_IsObject(root))
		return FAIL("the body must be a JSON object with at least a \"name\" field");
	if (cJSON_GetArraySize(root) > MEMBERS_MAX)
		return FAIL("more than %d fields", MEMBERS_MAX);
	const char *twice = json_duplicate_key(root);
	if (twice)
		return FAIL("field \"%.64s\" appears more than once", twice);

	/* Typos first: "nmae" is more useful than "missing name".  One pass
	 * names each field too: a lookup per known field walked the members
	 * seven times. */
	const cJSON *name = NULL, *id = NULL, *source = NULL, *when = NULL, *data = NULL, *attrs = NULL, *sync = NULL;
	const cJSON *field;
	cJSON_ArrayForEach(field, root)
	{
		const char *k = field->string;
		const cJSON **slot = strcmp(k, "name") == 0         ? &name
		                     : strcmp(k, "id") == 0         ? &id
		                     : strcmp(k, "source") == 0     ? &source
		                     : strcmp(k, "time") == 0       ? &when
		                     : strcmp(k, "data") == 0       ? &data
		                     : strcmp(k, "attributes") == 0 ? &attrs
		                     : strcmp(k, "sync") == 0       ? &sync
		                                                    : NULL;
		if (!slot)
			return FAIL(
			            "unknown field \"%.64s\" (known: name, id, source, time, data, attributes, sync)",
			            field->string);
		*slot = field; /* each once: duplicates were refused above */
	}
	if (!name)
		return FAIL("missing field \"name\" (the event name, e.g. \"order.created\")");
	if (!cJSON_IsString(name))
		return FAIL("field \"name\" must be a string");
	char why[200];
	if (!es_event_name_valid(name->valuestring, strlen(name->valuestring), why, sizeof why))
		return FAIL("invalid \"name\": %s", why);
	p->fields.name = name->valuestring;

	if (id && !cJSON_IsNull(id)) {
		if (!cJSON_IsString(id) || !es_event_id_valid(id->valuestring, strlen(id->valuestring)))
			return FAIL("%s",
			            "invalid \"id\": use 1 to 128 printable ASCII characters without spaces or quotes");
		p->fields.id = id->valuestring;
	}
	if (source && !cJSON_IsNull(source)) {
		if (!cJSON_IsString(source) || strlen(source->valuestring) > 1024)
			return FAIL("field \"source\" must be a string of at most 1024 bytes");
		p->fields.source = source->valuestring;
	}
	if (when && !cJSON_IsNull(when)) {
		if (!cJSON_IsString(when) || !rfc3339_parse(when->valuestring, &p->fields.time_us))
			return FAIL("field \"time\" must be an RFC 3339 timestamp of a real date between years 0001 "
			            "and 9999, e.g. \"2024-01-01T12:00:00Z\"");
		p->fields.has_time = true;
		p->fields.time_text = when->valuestring;
	}
	if (sync) {
		if (!cJSON_IsBool(sync))
			return FAIL("field \"sync\" must be true or false");
		p->sync = cJSON_IsTrue(sync);
	}
	if (attrs && !cJSON_IsNull(attrs)) {
		if (!cJSON_IsObject(attrs))
			return FAIL("field \"attributes\" must be an object of strings, integers and booleans");
		if (cJSON_GetArraySize(attrs) > TRIGGER_MAX_ATTRIBUTES)
			return FAIL("more than %d attributes", TRIGGER_MAX_ATTRIBUTES);
		const char *again = json_duplicate_key(attrs);
		if (again)
			return FAIL("attribute \"%.64s\" appears more than once", again);
		const cJSON *a;
		cJSON_ArrayForEach(a, attrs)
		{
			if (p->fields.attribute_count >= TRIGGER_MAX_ATTRIBUTES)
				return FAIL("more than 32 attributes");
			char name_why[96];
			if (!es_event_attribute_name_valid(a->string, name_why, sizeof name_why))
				return FAIL("attribute name \"%.64s%s\" %s (attribute names are CloudEvents names: a-z and "
				            "0-9, at most %d)",
				            a->string, strlen(a->string) > 64 ? "..." : "", name_why, EVENT_ATTRIBUTE_NAME_MAX);
			const char *reserved = p->host_written ? NULL : es_event_attribute_reserved(a->string);
			if (reserved)
				return FAIL("attribute \"%s\" %s", a->string, reserved);
			/* the types of CloudEvents extension values, kept as given */
			es_event_attribute *out = &p->attributes[p->fields.attribute_count];
			char digits[12];
			const char *wrong = es_event_attribute_from_json(a, out, digits);
			if (wrong)
				return FAIL("attribute \"%s\" %s", a->string, wrong);
			if (out->value == digits && !(out->value = trigger_parsed_own(p, strdup(digits))))
				return FAIL("out of memory");
			const char *untyped = es_event_attribute_type_refused(a->string, out->type);
			if (untyped)
				return FAIL("attribute \"%s\" %s", a->string, untyped);
			/* host_written: a row stored before this rule is read back as it was */
			const char *refused = p->host_written ? NULL : es_event_attribute_value_refused(a->string, out->value);
			if (refused)
				return FAIL("attribute \"%s\" %s", a->string, refused);
			out->key = a->string;
			p->fields.attribute_count++;
		}
		p->fields.attributes = p->attributes;
	}
	return data ? trigger_parsed_take_data(p, data, err, err_size) : 0;
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

int trigger_parsed_take_data(trigger_parsed *p, const void *value, char *err, size_t err_size)
{
	/* the caller's own text of the value, exactly as written (numbers
	 * beyond a double's precision stay as they are), also when the key is
	 * spelled with escapes; reprinted only for an object without its text */
	const char *raw;
	size_t span;
	if (p->raw_data) { /* found by the check (trigger_parse_body) */
		p->fields.data = p->raw_data;
		p->fields.data_len = p->raw_data_len;
		return 0;
	}
	if (p->raw_body && json_object_member(p->raw_body, p->raw_len, "data", &raw, &span)) {
		p->fields.data = raw;
		p->fields.data_len = span;
		return 0;
	}
	return trigger_parsed_set_data(p, value, err, err_size);
}

int trigger_parse(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	trigger_parsed_clear(p);
	if (len == 0)
		return FAIL("empty body: send a JSON object such as {\"name\": \"order.created\"}");
	int st = trigger_parse_body(body, len, p, err, err_size);
	if (st)
		return st;
	return trigger_parse_object(p->root, p, err, err_size);
}

int trigger_parse_host_written(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	trigger_parsed_clear(p);
	p->host_written = true;
	int st = trigger_parse_body(body, len, p, err, err_size);
	if (st)
		return st;
	return trigger_parse_object(p->root, p, err, err_size);
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

void trigger_parsed_clear(trigger_parsed *p)
{
	memset(p, 0, offsetof(trigger_parsed, attributes));
}

void trigger_parsed_free(trigger_parsed *p)
{
	for (size_t i = 0; i < p->owned_count; i++)
		free(p->owned[i]);
	if (p->tree.root)
		json_tree_release(&p->tree); /* p->root is its root */
	else
		cJSON_Delete(p->root);
	cJSON_free(p->data);
	trigger_parsed_clear(p);
}
