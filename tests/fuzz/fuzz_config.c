/* libFuzzer target: the YAML config loader and its validation. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/es_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *no_env(const char *name)
{
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_errors errs;
	es_config *c = es_config_load_string(text, "fuzz.yaml", no_env, &errs);
	es_config_unref(c);
	free(text);
	return 0;
}
