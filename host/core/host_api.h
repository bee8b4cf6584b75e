/*
 * The es_host_api function table plugins receive in init(): the only way a
 * plugin reaches the host.  See sdk/include/event-system/plugin.h for the
 * contract of each function.
 */
#ifndef ES_HOST_API_H
#define ES_HOST_API_H

#include <event-system/plugin.h>

#include "core/plugin_instance.h"
#include "util/yaml_tree.h"

struct es_plugin_ctx {
	plugin_instance *instance;
};

/* The table; static, valid for the life of the process. */
const es_host_api *host_api_table(void);

/* Create an event from outside the HTTP path (plugins' emit, the bench).
 * Validates the name and the JSON; ES_STATUS_INVALID with a reason in err. */
es_status host_emit_event(router *router, database *db, const char *source, uint32_t depth, const char *name,
                          const char *data_json, size_t len, size_t max_size, char *err, size_t err_size);

/* Tell emit() which event this worker thread is handling (NULL after). */
void host_api_set_handling(const es_event *event);

/* plugin_instance.c internals used by the host API. */
const ynode *plugin_instance_config(const plugin_instance *instance);
const host_services *plugin_instance_services(const plugin_instance *instance);
void plugin_instance_counter_add(plugin_instance *instance, const char *name, uint64_t delta);

#endif
