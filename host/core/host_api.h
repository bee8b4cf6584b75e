/*
 * The es_host_api function table plugins receive in init(): the only way a
 * plugin reaches the host.  See sdk/include/event-system/plugin.h for the
 * contract of each function.
 *
 * Above instances and the pipeline: it calls both.  Instances reach it only
 * through the table, which the composition root puts in host_services.api.
 */
#ifndef ES_HOST_API_H
#define ES_HOST_API_H

#include <event-system/plugin.h>

#include "core/plugin_instance.h"
#include "core/router.h"
#include "db/database.h"

/* The table; static, valid for the life of the process. */
const es_host_api *host_api_table(void);

/* Create an event from outside the HTTP path (plugins' emit, the bench).
 * Validates the name and the JSON; ES_STATUS_INVALID with a reason in err.
 * With `jetstream` (queue.backend jetstream, else NULL) the event is
 * published and this waits for JetStream's acknowledgement. */
es_status host_emit_event(router *router, database *db, struct js_link *jetstream, const char *source, uint32_t depth, const char *name,
                          const char *data_json, size_t len, size_t max_size, char *err, size_t err_size);

/* The same with attributes (copied; names already checked). */
es_status host_emit_event_with(router *router, database *db, struct js_link *jetstream, const char *source, uint32_t depth, const char *name,
                               const char *data_json, size_t len, const es_event_attribute *attributes,
                               size_t attribute_count, size_t max_size, char *err, size_t err_size);

/* Route the events plugins emitted from init() before the first routing
 * table was published (held until then: see core/held_emits.h).  Called
 * by main once, right after publishing it; later emits are not held. */
void host_emit_release_held(router *router, database *db, struct js_link *jetstream);

#endif
