/* Broken test plugin: built against a newer minor ABI than this host serves. */
#include <event-system/plugin.h>
#include <stdlib.h>

static es_status never_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	abort(); /* the host must not call this */
}

ES_EXPORT extern const es_plugin_descriptor es_plugin_entry;
const es_plugin_descriptor es_plugin_entry = {
	.struct_size = sizeof(es_plugin_descriptor),
	.abi_major = ES_ABI_MAJOR,
	.abi_minor = 99,
	.name = "newer_minor",
	.version = "0.1.0",
	.init = never_init,
};
