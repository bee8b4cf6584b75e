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

bool written_number_whole(written_numbers *w, unsigned position)
{
	if (!w->read) {
		w->read = true;
		const char *text = w->parsed->raw_body;
		size_t len = w->parsed->raw_len;
		if (text && (!w->holder || json_object_member(text, len, w->holder, &text, &len)))
			w->fractions = json_object_fractions(text, len);
	}
	return position >= 64 || !((w->fractions >> position) & 1u);
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

/* The answers both readings give (with the tree and without) */
#define TWICE "field \"%.*s\" appears more than once"
#define UNKNOWN_FIELD "unknown field \"%.*s\" (known: name, id, source, time, data, attributes, sync)"
#define NAME_MISSING "missing field \"name\" (the event name, e.g. \"order.created\")"
#define NAME_NOT_STRING "field \"name\" must be a string"
#define ID_WRONG "invalid \"id\": it %s (1 to 128 printable ASCII characters without spaces, quotes or backslashes)"
#define SOURCE_WRONG "field \"source\" must be a string of at most 1024 bytes"
#define SOURCE_REFUSED "field \"source\" %s"
#define TIME_WRONG                                                                                                     \
	"invalid \"time\": %s (an RFC 3339 timestamp of at most 64 characters, e.g. \"2024-01-01T12:00:00Z\")"
#define EMPTY_BODY "empty body: send a JSON object such as {\"name\": \"order.created\"}"
#define SYNC_WRONG "field \"sync\" must be true or false"

/* The "id" and "time" fields, read alike with the tree and without: the
 * text (NULL: not a string) checked, and the answer why not written into
 * err.  0 or 400. */
static int read_id(trigger_parsed *p, const char *text, size_t len, char *err, size_t err_size)
{
	char why[64];
	const char *refused = text ? es_event_id_refused(text, len, why, sizeof why) : "is not a string";
	if (refused)
		return FAIL(ID_WRONG, refused);
	p->fields.id = text;
	return 0;
}

static int read_time(trigger_parsed *p, const char *text, char *err, size_t err_size)
{
	const char *refused = text ? rfc3339_parse_why(text, &p->fields.time_us) : "it is not a string";
	if (refused)
		return FAIL(TIME_WRONG, refused);
	p->fields.has_time = true;
	p->fields.time_text = text;
	return 0;
}

int trigger_parse_object(const void *object, trigger_parsed *p, char *err, size_t err_size)
{
	const cJSON *root = object;
	if (!cJSON_IsObject(root))
		return FAIL("the body must be a JSON object with at least a \"name\" field");
	if (cJSON_GetArraySize(root) > MEMBERS_MAX)
		return FAIL("more than %d fields", MEMBERS_MAX);
	const char *twice = json_duplicate_key(root);
	if (twice)
		return FAIL(TWICE, 64, twice);

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
			return FAIL(UNKNOWN_FIELD, 64, field->string);
		*slot = field; /* each once: duplicates were refused above */
	}
	if (!name)
		return FAIL(NAME_MISSING);
	if (!cJSON_IsString(name))
		return FAIL(NAME_NOT_STRING);
	char why[200];
	if (!es_event_name_valid(name->valuestring, strlen(name->valuestring), why, sizeof why))
		return FAIL("invalid \"name\": %s", why);
	p->fields.name = name->valuestring;

	if (id && !cJSON_IsNull(id)) {
		const char *text = cJSON_IsString(id) ? id->valuestring : NULL;
		if (read_id(p, text, text ? strlen(text) : 0, err, err_size))
			return 400;
	}
	if (source && !cJSON_IsNull(source)) {
		if (!cJSON_IsString(source) || strlen(source->valuestring) > EVENT_SOURCE_MAX)
			return FAIL(SOURCE_WRONG);
		/* host_written: a row stored before this rule is read back as it was */
		const char *text = source->valuestring;
		const char *refused = p->host_written ? NULL : es_event_text_refused(text, strlen(text), why, sizeof why);
		if (refused)
			return FAIL(SOURCE_REFUSED, refused);
		p->fields.source = source->valuestring;
	}
	if (when && !cJSON_IsNull(when) && read_time(p, cJSON_IsString(when) ? when->valuestring : NULL, err, err_size))
		return 400;
	if (sync) {
		if (!cJSON_IsBool(sync))
			return FAIL(SYNC_WRONG);
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
		written_numbers numbers = {.parsed = p, .holder = "attributes"};
		unsigned position = 0;
		const cJSON *a;
		cJSON_ArrayForEach(a, attrs)
		{
			unsigned at = position++;
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
			if (!wrong && cJSON_IsNumber(a) && !p->host_written && !written_number_whole(&numbers, at))
				wrong = ES_EVENT_INTEGER_NOT_WHOLE;
			if (wrong)
				return FAIL("attribute \"%s\" %s", a->string, wrong);
			if (out->value == digits && !(out->value = trigger_parsed_own(p, strdup(digits))))
				return FAIL("out of memory");
			const char *untyped = es_event_attribute_type_refused(a->string, out->type);
			if (untyped)
				return FAIL("attribute \"%s\" %s", a->string, untyped);
			/* host_written: a row stored before this rule is read back as it was */
			const char *refused =
			    p->host_written ? NULL : es_event_attribute_value_refused(a->string, out->value, why, sizeof why);
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

/* A member's string value, as the tree would have it, when it can be read
 * from the text: no escapes (the text was checked: valid UTF-8, no control
 * bytes), so its bytes between the quotes are the string. */
static bool plain_string(const json_member_span *m)
{
	return m->value[0] == '"' && !memchr(m->value + 1, '\\', m->value_len - 2);
}

static bool member_is(const json_member_span *m, const char *key, size_t key_len)
{
	return m->key_len == key_len && memcmp(m->key, key, key_len) == 0;
}

static bool member_is_null(const json_member_span *m)
{
	return m->value[0] == 'n';
}

/* Copy a plain string value into parsed->text at *used; NULL when it does
 * not fit in `room` bytes (the caller then takes the tree). */
static const char *keep_text(trigger_parsed *p, size_t *used, const json_member_span *m, size_t room)
{
	size_t n = m->value_len - 2;
	if (n >= room || *used + n + 1 > sizeof p->text)
		return NULL;
	char *copy = p->text + *used;
	memcpy(copy, m->value + 1, n);
	copy[n] = '\0';
	*used += n + 1;
	return copy;
}

/* keep_text() for a member that may be absent, JSON null or not a string
 * (then *text is NULL); false only when a string does not fit. */
static bool keep_optional(trigger_parsed *p, size_t *used, const json_member_span *m, size_t room, const char **text)
{
	*text = NULL;
	if (!m || member_is_null(m) || m->value[0] != '"')
		return true;
	*text = keep_text(p, used, m, room);
	return *text != NULL;
}

/* A member name as the tree's reading quotes it in an answer: %.64s */
static int quoted_len(const json_member_span *m)
{
	return m->key_len < 64 ? (int)m->key_len : 64;
}

enum { READ_DONE, READ_WITH_TREE };

/* The fields of a single event read from the members the strict check
 * recorded, without building a cJSON tree (a trigger's tree cost about a
 * ninth of its instructions: docs/benchmarks.md).  Only for a body it reads
 * exactly as trigger_parse_object() reads the tree, with the same answers in
 * the same order: member names and the strings read here without escapes,
 * and no "attributes" (their values are read from a tree).  READ_WITH_TREE
 * when the body is not such a body, before any field or flag of `p` is set
 * (only its text buffer may have been written); otherwise READ_DONE with
 * *status 0 or 400 and the reason in err. */
static int read_members(trigger_parsed *p, const json_member_span *m, const json_members *found, int *status,
                        char *err, size_t err_size)
{
	if (!found->object || found->count > MEMBERS_MAX)
		return READ_WITH_TREE;
	const json_member_span *name = NULL, *id = NULL, *source = NULL, *when = NULL, *data = NULL, *sync = NULL;
	const json_member_span *unknown = NULL;
	for (size_t i = 0; i < found->count; i++) {
		if (m[i].key_escaped)
			return READ_WITH_TREE;
		const json_member_span **slot = member_is(&m[i], "name", 4)     ? &name
		                                : member_is(&m[i], "id", 2)     ? &id
		                                : member_is(&m[i], "source", 6) ? &source
		                                : member_is(&m[i], "time", 4)   ? &when
		                                : member_is(&m[i], "data", 4)   ? &data
		                                : member_is(&m[i], "sync", 4)   ? &sync
		                                                                : NULL;
		if (member_is(&m[i], "attributes", 10))
			return READ_WITH_TREE;
		if (!slot && !unknown)
			unknown = &m[i];
		if (slot && !*slot)
			*slot = &m[i];
	}
	const json_member_span *strings[] = {name, id, source, when};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		if (strings[i] && strings[i]->value[0] == '"' && !plain_string(strings[i]))
			return READ_WITH_TREE;

	*status = 400;
	for (size_t i = 1; i < found->count; i++)
		for (size_t j = 0; j < i; j++)
			if (m[j].key_len == m[i].key_len && memcmp(m[j].key, m[i].key, m[i].key_len) == 0) {
				snprintf(err, err_size, TWICE, quoted_len(&m[i]), m[i].key);
				return READ_DONE;
			}
	if (unknown) {
		snprintf(err, err_size, UNKNOWN_FIELD, quoted_len(unknown), unknown->key);
		return READ_DONE;
	}
	if (!name) {
		snprintf(err, err_size, NAME_MISSING);
		return READ_DONE;
	}
	if (name->value[0] != '"') {
		snprintf(err, err_size, NAME_NOT_STRING);
		return READ_DONE;
	}
	size_t used = 0;
	const char *name_text = keep_text(p, &used, name, EVENT_NAME_MAX + 1);
	const char *id_text, *source_text, *when_text;
	/* too long to copy: the tree's reading says why */
	if (!name_text || !keep_optional(p, &used, id, EVENT_ID_MAX + 1, &id_text) ||
	    !keep_optional(p, &used, source, EVENT_SOURCE_MAX + 1, &source_text) ||
	    !keep_optional(p, &used, when, TRIGGER_TIME_TEXT_MAX + 1, &when_text))
		return READ_WITH_TREE;

	char why[200];
	if (!es_event_name_valid(name_text, name->value_len - 2, why, sizeof why)) {
		snprintf(err, err_size, "invalid \"name\": %s", why);
		return READ_DONE;
	}
	p->fields.name = name_text;
	if (id && !member_is_null(id) && read_id(p, id_text, id_text ? id->value_len - 2 : 0, err, err_size))
		return READ_DONE;
	if (source && !member_is_null(source)) {
		if (!source_text) {
			snprintf(err, err_size, SOURCE_WRONG);
			return READ_DONE;
		}
		const char *refused =
		    p->host_written ? NULL : es_event_text_refused(source_text, source->value_len - 2, why, sizeof why);
		if (refused) {
			snprintf(err, err_size, SOURCE_REFUSED, refused);
			return READ_DONE;
		}
		p->fields.source = source_text;
	}
	if (when && !member_is_null(when) && read_time(p, when_text, err, err_size))
		return READ_DONE;
	if (sync) {
		if (sync->value[0] != 't' && sync->value[0] != 'f') {
			snprintf(err, err_size, SYNC_WRONG);
			return READ_DONE;
		}
		p->sync = sync->value[0] == 't';
	}
	if (data) {
		p->fields.data = data->value;
		p->fields.data_len = data->value_len;
	}
	*status = 0;
	return READ_DONE;
}

/* The body checked, decoded into a tree and read from it. */
static int parse_with_tree(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	int st = trigger_parse_body(body, len, p, err, err_size);
	return st ? st : trigger_parse_object(p->root, p, err, err_size);
}

/* The body's text checked, its members recorded; the tree built only when
 * read_members() cannot read them. */
static int parse_single(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	json_member_span members[MEMBERS_MAX];
	json_members found;
	json_strict_error why;
	if (!json_strict_valid_members(body, len, JSON_STRICT_NO_NUL, &why, members, MEMBERS_MAX, &found))
		return FAIL("malformed JSON at byte %zu: %s", why.offset, why.reason);
	int status;
	if (read_members(p, members, &found, &status, err, err_size) == READ_DONE)
		return status;
	p->fields = (es_event_fields){0};
	return parse_with_tree(body, len, p, err, err_size);
}

int trigger_parse(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	trigger_parsed_clear(p);
	if (len == 0)
		return FAIL(EMPTY_BODY);
	return parse_single(body, len, p, err, err_size);
}

int trigger_parse_with_tree(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	trigger_parsed_clear(p);
	if (len == 0)
		return FAIL(EMPTY_BODY);
	return parse_with_tree(body, len, p, err, err_size);
}

int trigger_parse_host_written(const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	trigger_parsed_clear(p);
	p->host_written = true; /* matters only for attributes and the source */
	return parse_single(body, len, p, err, err_size);
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
