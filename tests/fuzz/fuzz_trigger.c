/* libFuzzer target: the trigger API's JSON body parser. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/trigger_parse.h"
#include "util/json_strict.h"
#include "trigger_agree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The check that finds the "data" member on its way agrees with the check
 * alone and with json_object_member() afterwards (the parser relies on it). */
static void member_check_agrees(const char *text, size_t size)
{
	json_strict_error alone, with_member;
	const char *member, *found;
	size_t member_len, found_len;
	bool valid = json_strict_valid(text, size, JSON_STRICT_NO_NUL, &alone);
	if (json_strict_valid_member(text, size, JSON_STRICT_NO_NUL, &with_member, "data", &member, &member_len) != valid)
		abort();
	if (!valid) {
		if (member || alone.offset != with_member.offset || alone.reason != with_member.reason)
			abort();
		return;
	}
	bool has = json_object_member(text, size, "data", &found, &found_len);
	if (has != (member != NULL) || (has && (found != member || found_len != member_len)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	member_check_agrees((const char *)data, size);
	if (trigger_readings_differ((const char *)data, size))
		abort();
	trigger_parsed p;
	char err[256];
	if (trigger_parse((const char *)data, size, &p, err, sizeof err) == 0) {
		es_event_fields f = p.fields;
		es_event *e = es_event_create(&f);
		if (e) {
			es_event_json(e, NULL);
			es_event_unref(e);
		}
	}
	trigger_parsed_free(&p);
	return 0;
}
