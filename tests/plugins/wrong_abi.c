/* Broken test plugin: claims a future major ABI (as if built against an
 * incompatible SDK).  The host must refuse it without calling anything. */
#include <event-system/plugin.h>
#include <stdlib.h>

static es_status never_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	abort(); /* the host must not call this */
}

ES_EXPORT extern const es_plugin_descriptor es_plugin_entry;
const es_plugin_descriptor es_plugin_entry = {
	.struct_size = sizeof(es_plugin_descriptor),
	.abi_major = 2,
	.abi_minor = 0,
	.name = "wrong_abi",
	.version = "0.1.0",
	.init = never_init,
};
