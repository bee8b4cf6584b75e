/*
 * --version output, in the form the deployment guide shows
 * ("Event System v1.0.0" / "Build time: ...") plus what an operator needs
 * when reporting a problem: compiler, library versions, plugin ABI.
 */
#include "config.h"

#include "util/version.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <yaml.h>

#include <event-system/plugin.h>

#ifdef HAVE_MYSQL
#include <mysql.h>
#endif
#ifdef HAVE_NATS
#include <nats/nats.h>
#endif

void version_print(FILE *out)
{
	fprintf(out, "Event System v%s\n", PACKAGE_VERSION);
	fprintf(out, "Build time: %s\n", ES_BUILD_TIME);
#if defined(__clang__)
	fprintf(out, "Compiler: clang %s\n", __clang_version__);
#elif defined(__GNUC__)
	fprintf(out, "Compiler: gcc %s\n", __VERSION__);
#else
	fprintf(out, "Compiler: unknown\n");
#endif
	fprintf(out, "libevent: %s\n", event_get_version());
	fprintf(out, "libyaml: %s\n", yaml_get_version_string());
	fprintf(out, "cJSON: %s\n", cJSON_Version());
#ifdef HAVE_MYSQL
	fprintf(out, "MySQL client: %s\n", mysql_get_client_info());
#else
	fprintf(out, "MySQL client: not built in\n");
#endif
#ifdef HAVE_NATS
	fprintf(out, "NATS client: %s\n", nats_GetVersion());
#else
	fprintf(out, "NATS client: not built in\n");
#endif
	fprintf(out, "Plugin ABI: %d.%d\n", ES_ABI_MAJOR, ES_ABI_MINOR);
}
