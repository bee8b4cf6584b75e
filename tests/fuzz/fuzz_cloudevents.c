/* libFuzzer target: CloudEvents parsing.  The input is ce-* header lines
 * ("name: value\n"), an empty line, a Content-Type line, an empty line, then
 * the body; the body is also parsed as a structured-mode event.  An event
 * accepted in binary mode with data that is not JSON gives back exactly
 * the body's bytes (es_event_data_bytes), or the target aborts. */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/cloudevents.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	ce_header headers[16];
	size_t count = 0;
	char *p = text;
	while (count < 16) {
		char *nl = strchr(p, '\n');
		if (!nl || nl == p)
			break;
		*nl = '\0';
		char *colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			headers[count].name = p;
			headers[count].value = colon + 1 + (colon[1] == ' ');
			count++;
		}
		p = nl + 1;
	}
	if (*p == '\n')
		p++;
	const char *content_type = NULL;
	char *nl = strchr(p, '\n');
	if (nl) {
		*nl = '\0';
		content_type = p;
		p = nl + 1;
	}
	size_t body_len = size - (size_t)(p - text);
	if (body_len > size)
		body_len = 0;

	trigger_parsed parsed;
	char err[256];
	memset(&parsed, 0, sizeof parsed);
	if (cloudevent_parse_binary(headers, count, content_type, p, body_len, &parsed, err, sizeof err) == 0) {
		es_event *e = es_event_create(&parsed.fields);
		if (e) {
			size_t n = 0;
			const char *bytes = es_event_data_bytes(e, &n);
			/* no Content-Type (or only spaces and tabs): the body is JSON */
			bool typed = content_type && content_type[strspn(content_type, " \t")];
			if (body_len && typed && !content_type_is_json(content_type) &&
			    (!bytes || n != body_len || memcmp(bytes, p, n)))
				abort(); /* the bytes a plugin reads are not the body sent */
			es_event_json(e, NULL);
			es_event_unref(e);
		}
	}
	trigger_parsed_free(&parsed);

	memset(&parsed, 0, sizeof parsed);
	parsed.root = cJSON_ParseWithLength(p, body_len);
	if (parsed.root) {
		if (cJSON_IsArray(parsed.root)) {
			const cJSON *item;
			cJSON_ArrayForEach(item, (cJSON *)parsed.root)
			{
				trigger_parsed one;
				memset(&one, 0, sizeof one);
				cloudevent_parse_structured(item, &one, err, sizeof err);
				trigger_parsed_free(&one);
			}
		} else {
			if (cloudevent_parse_structured(parsed.root, &parsed, err, sizeof err) == 0) {
				es_event *e = es_event_create(&parsed.fields);
				if (e) {
					es_event_data_bytes(e, NULL);
					es_event_unref(e);
				}
			}
		}
	}
	trigger_parsed_free(&parsed);
	free(text);
	return 0;
}
