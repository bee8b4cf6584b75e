/*
 * ABI reference object: exports functions that mention every public type,
 * so `abidw` records their full layout.  Built and dumped by `make abi-dump`;
 * never installed.
 */
#include <event-system/plugin.h>

ES_EXPORT const es_plugin_descriptor *es_abi_reference_descriptor(const es_plugin_descriptor *d);
ES_EXPORT const es_host_api *es_abi_reference_host(const es_host_api *h);
ES_EXPORT es_result es_abi_reference_enums(es_status s, es_log_level l, es_result r);

const es_plugin_descriptor *es_abi_reference_descriptor(const es_plugin_descriptor *d)
{
	return d;
}

const es_host_api *es_abi_reference_host(const es_host_api *h)
{
	return h;
}

es_result es_abi_reference_enums(es_status s, es_log_level l, es_result r)
{
	return (es_result)((int)s + (int)l + (int)r);
}
