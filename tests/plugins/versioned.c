/* Test plugin built twice (VERSIONED_VERSION "1" and "2"): the same name,
 * answering differently, to show a replacement taking over.  Records
 * "v1"/"v2" for each event. */
#include "test_plugin.h"

#ifndef VERSIONED_VERSION
#error "build with -DVERSIONED_VERSION=\"1\" or \"2\""
#endif

static es_result versioned_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_record(state, event, "v" VERSIONED_VERSION);
	return ES_OK;
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "versioned", .version = VERSIONED_VERSION ".0.0", .default_subscriptions = subs,
                 .init = tp_init, .handle = versioned_handle, .shutdown = tp_shutdown);
