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
