/*
 * Request bodies → events: the mode, then the parser for it.
 */
#include "config.h"

#include "model/event_request.h"

#include "util/json_strict.h"
#include "util/json_tree.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FAIL(...) (snprintf(err, err_size, __VA_ARGS__), 400)

static bool media_type_is(const char *ct, const char *type)
{
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

body_kind event_request_kind(const char *ct, bool has_ce_specversion)
{
	if (ct && media_type_is(ct, "application/cloudevents+json"))
		return BODY_CE_STRUCTURED;
	if (ct && media_type_is(ct, "application/cloudevents-batch+json"))
		return BODY_CE_BATCH;
	if (has_ce_specversion)
		return BODY_CE_BINARY;
	if (!ct || media_type_is(ct, "application/json"))
		return BODY_JSON; /* no Content-Type: assume JSON, as most clients mean it */
	return BODY_UNSUPPORTED;
}

int event_request_parse(body_kind kind, const char *content_type, const ce_header *headers, size_t count,
                        const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size)
{
	trigger_parsed_clear(p);
	if (kind == BODY_CE_BINARY)
		return cloudevent_parse_binary(headers, count, content_type, body, len, p, err, err_size);
	if (kind == BODY_CE_STRUCTURED) {
		int st = trigger_parse_body(body, len, p, err, err_size);
		if (st)
			return st;
		return cloudevent_parse_structured(p->root, p, err, err_size);
	}
	if (kind == BODY_JSON)
		return trigger_parse(body, len, p, err, err_size);
	return FAIL("not a single-event body");
}

int event_request_parse_batch(const char *body, size_t len, json_tree *tree, char *err, size_t err_size)
{
	tree->root = NULL;
	tree->blocks = NULL;
	json_strict_error why;
	if (!json_strict_valid(body, len, JSON_STRICT_NO_NUL, &why))
		return FAIL("malformed JSON at byte %zu: %s", why.offset, why.reason);
	/* a batch is hundreds of nodes: parsed into blocks of its own */
	if (!json_tree_parse(tree, body, len)) /* valid but beyond what cJSON builds (memory) */
		return FAIL("the JSON body could not be decoded");
	if (!cJSON_IsArray((cJSON *)tree->root))
		return FAIL("a batch must be a JSON array of events");
	return 0;
}

char *error_reply_json(const char *code, const char *message)
{
	char text[1024];
	snprintf(text, sizeof text, "%s", message);
	utf8_repair(text);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "error", code);
	cJSON_AddStringToObject(obj, "message", text);
	char *json = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	return json;
}

void batch_cursor_start(batch_cursor *c, const void *array, const char *body, size_t len)
{
	c->item = NULL;
	c->text = body;
	c->end = body + len;
	c->item_text = NULL;
	c->item_len = 0;
	const cJSON *first = array ? ((const cJSON *)array)->child : NULL;
	if (first && json_array_next(&c->text, c->end, &c->item_text, &c->item_len))
		c->item = first;
}

void batch_cursor_next(batch_cursor *c)
{
	const cJSON *next = c->item ? ((const cJSON *)c->item)->next : NULL;
	c->item = next && json_array_next(&c->text, c->end, &c->item_text, &c->item_len) ? next : NULL;
}

int event_request_parse_item(const batch_cursor *c, bool cloudevents, trigger_parsed *p, char *err, size_t err_size)
{
	trigger_parsed_clear(p);
	p->raw_body = c->item_text;
	p->raw_len = c->item_len;
	return cloudevents ? cloudevent_parse_structured(c->item, p, err, err_size)
	                   : trigger_parse_object(c->item, p, err, err_size);
}
