/*
 * Quarantined plugins over HTTP (core/crash_ledger.h): how /health and
 * GET /api/plugins show them, and POST /api/plugins/{name}/release, which
 * releases one (audited: log line and, with a database, audit_log) and
 * asks for the reload that loads it again.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control/reload.h"
#include "core/crash_ledger.h"
#include "db/database.h"
#include "http/http_api_internal.h"
#include "util/log.h"

#define LIST_MAX 64

static void format_time(int64_t us, char *out, size_t size)
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void describe(const quarantine_info *q, char *out, size_t size)
{
	char when[40];
	format_time(q->last.at_us, when, sizeof when);
	snprintf(out, size, "crashed %u times within %u s; last crash: %s handling event %s at %s", q->crashes,
	         q->window_s, q->last.signal, q->last.event_id[0] ? q->last.event_id : "(unknown)", when);
}

size_t api_quarantine_reason(es_daemon *d, bool detailed, char *why, size_t why_size)
{
	quarantine_info q[LIST_MAX];
	size_t n = crash_ledger_list(d->crashes, q, LIST_MAX);
	why[0] = '\0';
	size_t len = 0;
	for (size_t i = 0; i < n && i < LIST_MAX && len < why_size; i++) {
		char text[600] = "see GET /api/plugins";
		if (detailed)
			describe(&q[i], text, sizeof text);
		len += (size_t)snprintf(why + len, why_size - len, "%splugin '%s' quarantined: %s", i ? "; " : "",
		                        q[i].plugin, text);
	}
	return n;
}

void api_quarantine_add_plugins(es_daemon *d, cJSON *list)
{
	quarantine_info q[LIST_MAX];
	size_t n = crash_ledger_list(d->crashes, q, LIST_MAX);
	for (size_t i = 0; i < n && i < LIST_MAX; i++) {
		char text[600], when[40];
		describe(&q[i], text, sizeof text);
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", q[i].plugin);
		cJSON_AddStringToObject(p, "state", "quarantined");
		cJSON_AddStringToObject(p, "reason", "quarantined");
		cJSON_AddStringToObject(p, "reason_detail", text);
		format_time(q[i].since_us, when, sizeof when);
		cJSON_AddStringToObject(p, "quarantined_since", when);
		cJSON_AddNumberToObject(p, "crashes", q[i].crashes);
		cJSON_AddNumberToObject(p, "events_skipped", (double)q[i].events_skipped);
		cJSON *last = cJSON_AddObjectToObject(p, "last_crash");
		cJSON_AddStringToObject(last, "signal", q[i].last.signal);
		cJSON_AddStringToObject(last, "event_id", q[i].last.event_id);
		cJSON_AddNumberToObject(last, "attempt", q[i].last.attempt);
		format_time(q[i].last.at_us, when, sizeof when);
		cJSON_AddStringToObject(last, "time", when);
		char release[128];
		snprintf(release, sizeof release, "/api/plugins/%s/release", q[i].plugin);
		cJSON_AddStringToObject(p, "release", release);
		cJSON_AddItemToArray(list, p);
	}
}

/* POST /api/plugins/{name}/release */
void api_plugin_release(api_request *r)
{
	static const char suffix[] = "/release";
	size_t n = r->path_rest_len;
	if (n <= sizeof suffix - 1 || memcmp(r->path_rest + n - (sizeof suffix - 1), suffix, sizeof suffix - 1) != 0) {
		api_error(r, 404, "not_found", "no such endpoint (POST /api/plugins/{name}/release)");
		return;
	}
	size_t name_len = n - (sizeof suffix - 1);
	char name[65];
	if (name_len >= sizeof name) {
		api_error(r, 404, "not_quarantined", "no plugin of that name is quarantined");
		return;
	}
	memcpy(name, r->path_rest, name_len);
	name[name_len] = '\0';
	char who[96];
	snprintf(who, sizeof who, "api token %s", r->token_name[0] ? r->token_name : "(none)");
	/* A release is applied by the reload it requests.  With a config that
	 * reload cannot read, the plugin would be neither quarantined nor
	 * loaded: refuse, and change nothing. */
	char config_problem[1024];
	if (crash_ledger_quarantined(r->daemon->crashes, name, NULL) &&
	    reload_check_config_file(r->daemon, config_problem, sizeof config_problem) != 0) {
		char msg[1300];
		snprintf(msg, sizeof msg,
		         "plugin '%.64s' stays quarantined: the config file has errors, so the reload that loads it would fail "
		         "(%s); fix the config and release it again", name, config_problem);
		LOG_WARN("audit", "release of plugin '%s' by %s refused: the config file has errors", name, who);
		api_error(r, 409, "config_invalid", msg);
		return;
	}
	if (crash_ledger_release(r->daemon->crashes, name, who, "released through the API") != 0) {
		char msg[160];
		snprintf(msg, sizeof msg, "plugin '%.64s' is not quarantined (see GET /api/plugins)", name);
		api_error(r, 404, "not_quarantined", msg);
		return;
	}
	char detail[160];
	snprintf(detail, sizeof detail, "plugin '%s' released from quarantine", name);
	LOG_WARN("audit", "%s by %s; reloading to load it", detail, who);
	database_audit(r->daemon->db, who, "plugin.released", detail);
	char by[200];
	snprintf(by, sizeof by, "release of plugin '%s' by %s", name, who);
	uint64_t reload = reload_request(r->daemon, by);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "plugin", name);
	cJSON_AddStringToObject(obj, "state", "released");
	cJSON_AddNumberToObject(obj, "reload", (double)reload);
	cJSON_AddStringToObject(obj, "message", "the plugin is loaded by the reload now requested; see GET /api/admin/reload");
	char *text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	api_reply(r, 200, text, strlen(text));
	cJSON_free(text);
}
