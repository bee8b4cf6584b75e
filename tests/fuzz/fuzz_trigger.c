/* libFuzzer target: the trigger API's JSON body parser. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "model/trigger_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	trigger_parsed p;
	char err[256];
	if (trigger_parse((const char *)data, size, &p, err, sizeof err) == 0) {
		event_fields f = p.fields;
		es_event *e = event_create(&f);
		if (e) {
			event_json(e, NULL);
			event_unref(e);
		}
	}
	trigger_parsed_free(&p);
	return 0;
}
