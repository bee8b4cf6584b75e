/*
 * Building the set of plugin instances from the plugin directory.
 * Files are loaded in name order so logs and --check-config are stable.
 */
#include "config.h"

#include "core/plugin_registry.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/crash_ledger.h"
#include "core/router.h"
#include "util/log.h"

/* A file that was refused, remembered so a reload does not fail again on
 * the same unchanged file. */
typedef struct refused_file {
	char *path;
	struct stat st;
	char *reason;
} refused_file;

struct plugin_registry {
	plugin_instance **instances;
	size_t count;
	refused_file *refused;
	size_t refused_count;
};

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of "*.so" names in dir; -1 with err on failure. */
static int list_plugin_files(const char *dir, char ***names, size_t *count, char *err, size_t err_size)
{
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, err_size, "cannot read plugin directory %s: %s", dir, strerror(errno));
		return -1;
	}
	size_t cap = 16, n = 0;
	char **list = malloc(cap * sizeof *list);
	if (!list) {
		closedir(d);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0 || de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **bigger = realloc(list, (cap *= 2) * sizeof *list);
			if (!bigger)
				break;
			list = bigger;
		}
		list[n] = strdup(de->d_name);
		if (list[n])
			n++;
	}
	closedir(d);
	qsort(list, n, sizeof *list, compare_names);
	*names = list;
	*count = n;
	return 0;
}

static void problem(FILE *out, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void problem(FILE *out, const char *where, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	LOG_ERROR("loader", "%s: %s", where, msg);
	if (out)
		fprintf(out, "%s: %s\n", where, msg);
}

static void remember_refused(plugin_registry *reg, const char *path, const char *reason)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	refused_file *grown = realloc(reg->refused, (reg->refused_count + 1) * sizeof *grown);
	if (!grown)
		return;
	reg->refused = grown;
	refused_file *r = &reg->refused[reg->refused_count];
	r->path = strdup(path);
	r->reason = strdup(reason);
	r->st = st;
	if (r->path && r->reason)
		reg->refused_count++;
	else {
		free(r->path);
		free(r->reason);
	}
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int add_instance(plugin_registry *reg, plugin_instance *inst)
{
	plugin_instance **grown = realloc(reg->instances, (reg->count + 1) * sizeof *grown);
	if (!grown)
		return -1;
	reg->instances = grown;
	reg->instances[reg->count++] = inst;
	return 0;
}

static plugin_instance *find(const plugin_registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->count; i++)
		if (strcmp(plugin_instance_name(reg->instances[i]), name) == 0)
			return reg->instances[i];
	return NULL;
}

typedef enum plugin_wish {
	PLUGIN_WANTED,
	PLUGIN_DISABLED,     /* settings say enabled: false */
	PLUGIN_UNCONFIGURED, /* no settings and plugins.load_unconfigured is false */
} plugin_wish;

/* Whether the config wants plugin `name`; *settings gets its settings (or NULL). */
static plugin_wish wanted(const es_config *config, const char *name, const plugin_settings **settings)
{
	*settings = es_config_plugin(config, name);
	if (*settings && !(*settings)->enabled)
		return PLUGIN_DISABLED;
	if (!*settings && !config->load_unconfigured)
		return PLUGIN_UNCONFIGURED;
	return PLUGIN_WANTED;
}

/* Create an instance of `img` as the config says (init() runs) and add it
 * to `reg`, which takes the reference.  The instance, or NULL with the
 * reason in err. */
static plugin_instance *instantiate(plugin_image *img, const plugin_settings *settings, const es_config *config,
                                    const host_services *services, plugin_registry *reg, char *err, size_t err_size)
{
	if (reg->count >= ROUTER_MAX_TARGETS) {
		snprintf(err, err_size, "more than %d plugins", ROUTER_MAX_TARGETS);
		return NULL;
	}
	const char *extra[ROUTER_MAX_TARGETS];
	size_t extra_count =
		es_config_db_patterns(config, plugin_image_descriptor(img)->name, extra, ROUTER_MAX_TARGETS);
	plugin_instance *inst = plugin_instance_create(img, settings, &config->plugin_defaults, extra, extra_count,
	                                               services, err, err_size);
	if (inst && add_instance(reg, inst) != 0) {
		plugin_instance_unref(inst);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	return inst;
}

/* Whether the crash rules let plugin `img` be loaded (crash_ledger.h): a
 * quarantined one is logged and skipped. */
static bool may_load(const plugin_image *img, const plugin_settings *settings, const es_config *config,
                     const host_services *services, FILE *out)
{
	if (!services->crashes)
		return true;
	const plugin_policy *pol = settings ? &settings->policy : &config->plugin_defaults;
	crash_rules rules = {.max_crashes = pol->max_crashes, .quarantine_after = pol->quarantine_after,
	                     .quarantine_window_s = pol->quarantine_window_s};
	const es_plugin_descriptor *desc = plugin_image_descriptor(img);
	const char *patterns[ROUTER_MAX_TARGETS];
	size_t n = 0;
	if (settings && settings->subscribe)
		for (size_t i = 0; i < settings->subscribe_count && n < ROUTER_MAX_TARGETS; i++)
			patterns[n++] = settings->subscribe[i];
	else
		for (size_t i = 0; desc->default_subscriptions && desc->default_subscriptions[i] && n < ROUTER_MAX_TARGETS;
		     i++)
			patterns[n++] = desc->default_subscriptions[i];
	n += es_config_db_patterns(config, desc->name, patterns + n, ROUTER_MAX_TARGETS - n);
	char file_id[96];
	crash_file_identity(plugin_image_stat(img), file_id, sizeof file_id);
	quarantine_info why;
	if (crash_ledger_may_load(services->crashes, desc->name, file_id, &rules, patterns, n, &why))
		return true;
	if (out)
		fprintf(out,
		        "%s: plugin '%s' is quarantined: it crashed %u times within %u s (last: %s on event %s); replace the "
		        "file or POST /api/plugins/%s/release\n",
		        plugin_image_path(img), desc->name, why.crashes, rules.quarantine_window_s, why.last.signal,
		        why.last.event_id[0] ? why.last.event_id : "(unknown)", desc->name);
	return false;
}

int plugin_registry_load(const es_config *config, const host_services *services, uid_t service_uid,
                         plugin_registry *reg, registry_report *report, FILE *out)
{
	memset(report, 0, sizeof *report);
	char err[512];
	if (!plugin_dir_trusted(config->plugin_dir, service_uid, err, sizeof err)) {
		problem(out, config->plugin_dir, "%s", err);
		report->problems++;
		return -1;
	}
	char **names = NULL;
	size_t count = 0;
	if (list_plugin_files(config->plugin_dir, &names, &count, err, sizeof err) != 0) {
		problem(out, config->plugin_dir, "%s", err);
		report->problems++;
		return -1;
	}

	for (size_t i = 0; i < count; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", config->plugin_dir, names[i]);
		plugin_image *img = plugin_image_load(path, service_uid, err, sizeof err);
		if (!img) {
			problem(out, path, "plugin refused: %s", err);
			remember_refused(reg, path, err);
			report->refused++;
			continue;
		}
		const char *name = plugin_image_descriptor(img)->name;
		plugin_instance *dup = find(reg, name);
		const plugin_settings *settings;
		plugin_wish wish = wanted(config, name, &settings);
		if (dup) {
			problem(out, path, "plugin refused: name '%s' is already taken by %s", name,
			        plugin_image_path(plugin_instance_image(dup)));
			report->refused++;
		} else if (wish == PLUGIN_DISABLED) {
			LOG_INFO("loader", "%s: plugin '%s' is disabled in the config", path, name);
			report->disabled++;
		} else if (wish == PLUGIN_UNCONFIGURED) {
			LOG_INFO("loader", "%s: plugin '%s' has no settings and plugins.load_unconfigured is false: skipped",
			         path, name);
			report->skipped++;
		} else if (!may_load(img, settings, config, services, out)) {
			report->quarantined++;
		} else {
			plugin_instance *inst = instantiate(img, settings, config, services, reg, err, sizeof err);
			if (!inst) {
				problem(out, path, "plugin '%s' refused: %s", name, err);
				remember_refused(reg, path, err);
				report->refused++;
			} else {
				const char *const *patterns;
				size_t n = plugin_instance_subscriptions(inst, &patterns);
				char subs[512] = "";
				size_t len = 0;
				for (size_t j = 0; j < n && len < sizeof subs; j++)
					len += (size_t)snprintf(subs + len, sizeof subs - len, "%s%s", j ? ", " : "", patterns[j]);
				const plugin_policy *pol = plugin_instance_policy(inst);
				const es_plugin_descriptor *desc = plugin_image_descriptor(img);
				LOG_INFO("loader", "%s: loaded plugin '%s' %s (ABI %u.%u), %u worker%s, queue %u, subscribed to [%s]",
				         path, name, desc->version, desc->abi_major, desc->abi_minor,
				         pol->workers, pol->workers == 1 ? "" : "s", pol->queue_size, n ? subs : "nothing");
				if (out)
					fprintf(out, "plugin %s %s (ABI %u.%u) from %s: %u workers, queue %u, subscribed to [%s]\n",
					        name, desc->version, desc->abi_major, desc->abi_minor,
					        path, pol->workers, pol->queue_size, n ? subs : "nothing");
				report->loaded++;
			}
		}
		plugin_image_unref(img); /* instances hold their own reference */
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);

	/* Settings for a plugin that is not there: most likely a typo or a
	 * missing file. */
	for (size_t i = 0; i < config->plugin_count; i++) {
		const plugin_settings *ps = &config->plugins[i];
		if (!ps->enabled || find(reg, ps->name) || crash_ledger_quarantined(services->crashes, ps->name, NULL))
			continue;
		char where[4200];
		snprintf(where, sizeof where, "%s:%u:%u", config->path, ps->line, ps->column);
		if (out) {
			fprintf(out, "%s: settings for plugin '%s', but no such plugin was loaded from %s\n", where, ps->name,
			        config->plugin_dir);
			report->problems++;
		} else {
			LOG_WARN("loader", "%s: settings for plugin '%s', but no such plugin was loaded from %s", where,
			         ps->name, config->plugin_dir);
		}
	}
	report->problems += report->refused;
	return 0;
}

void plugin_registry_start(plugin_registry *reg, registry_report *report)
{
	size_t kept = 0;
	for (size_t i = 0; i < reg->count; i++) {
		plugin_instance *inst = reg->instances[i];
		if (plugin_instance_start(inst) != 0) {
			LOG_ERROR("loader", "plugin '%s' refused: its workers could not be started", plugin_instance_name(inst));
			plugin_instance_stop(inst, 0);
			plugin_instance_unref(inst);
			report->refused++;
			report->loaded--;
			continue;
		}
		reg->instances[kept++] = inst;
	}
	reg->count = kept;
}

uint64_t plugin_registry_stop(plugin_registry *reg, int64_t deadline_us)
{
	uint64_t undelivered = 0;
	for (size_t i = 0; i < reg->count; i++)
		undelivered += plugin_instance_stop(reg->instances[i], deadline_us);
	return undelivered;
}

plugin_registry *plugin_registry_new(void)
{
	return calloc(1, sizeof(plugin_registry));
}

size_t plugin_registry_count(const plugin_registry *reg)
{
	return reg->count;
}

plugin_instance *const *plugin_registry_instances(const plugin_registry *reg)
{
	return reg->instances;
}

size_t plugin_registry_refused_count(const plugin_registry *reg)
{
	return reg->refused_count;
}

/* Drop every instance and refused file: the registry is empty again. */
static void registry_clear(plugin_registry *reg)
{
	for (size_t i = 0; i < reg->count; i++)
		plugin_instance_unref(reg->instances[i]);
	free(reg->instances);
	reg->instances = NULL;
	reg->count = 0;
	for (size_t i = 0; i < reg->refused_count; i++) {
		free(reg->refused[i].path);
		free(reg->refused[i].reason);
	}
	free(reg->refused);
	reg->refused = NULL;
	reg->refused_count = 0;
}

void plugin_registry_free(plugin_registry *reg)
{
	if (!reg)
		return;
	registry_clear(reg);
	free(reg);
}

bool plugin_registry_contains(const plugin_registry *reg, const plugin_instance *inst)
{
	for (size_t i = 0; i < reg->count; i++)
		if (reg->instances[i] == inst)
			return true;
	return false;
}

static void append_name(char *list, size_t size, const char *name)
{
	size_t len = strlen(list);
	snprintf(list + len, size - len, "%s%s", len ? ", " : "", name);
}

static plugin_instance *find_by_path(const plugin_registry *reg, const char *path)
{
	for (size_t i = 0; i < reg->count; i++)
		if (strcmp(plugin_image_path(plugin_instance_image(reg->instances[i])), path) == 0)
			return reg->instances[i];
	return NULL;
}

static const refused_file *find_refused(const plugin_registry *reg, const char *path, const struct stat *st)
{
	for (size_t i = 0; i < reg->refused_count; i++)
		if (strcmp(reg->refused[i].path, path) == 0 && same_file(&reg->refused[i].st, st))
			return &reg->refused[i];
	return NULL;
}

/* One file of the directory for a rebuild: 0, or -1 with err. */
static int rebuild_one(const plugin_registry *old, const es_config *config, const host_services *services,
                       uid_t uid, const char *path, plugin_registry *next, registry_changes *changes, char *err,
                       size_t err_size)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0; /* gone meanwhile */
	const refused_file *refused = find_refused(old, path, &st);
	if (refused) {
		LOG_WARN("loader", "%s: still refused (unchanged): %s", path, refused->reason);
		remember_refused(next, path, refused->reason);
		return 0;
	}
	plugin_instance *current = find_by_path(old, path);
	if (current && !plugin_image_changed_on_disk(plugin_instance_image(current), &st)) {
		const char *name = plugin_instance_name(current);
		const plugin_settings *ps;
		if (wanted(config, name, &ps) != PLUGIN_WANTED)
			return 0; /* not wanted any more: counted as removed */
		if (!may_load(plugin_instance_image(current), ps, config, services, NULL))
			return 0; /* quarantined meanwhile (an isolated plugin's crashes): removed */
		const char *extra[ROUTER_MAX_TARGETS];
		size_t extra_count = es_config_db_patterns(config, name, extra, ROUTER_MAX_TARGETS);
		/* An isolated plugin the crash rules quarantined while it ran has
		 * no process left and never restarts one: once released (may_load
		 * says yes now), it is loaded again as a new instance with fresh
		 * children, not kept. */
		isolated_status iso;
		bool stopped_by_crashes = plugin_instance_isolation(current, &iso) && iso.quarantined;
		if (!stopped_by_crashes &&
		    plugin_instance_same_settings(current, ps, &config->plugin_defaults, extra, extra_count)) {
			if (find(next, name)) {
				snprintf(err, err_size, "%s: plugin name '%s' is already taken", path, name);
				return -1;
			}
			plugin_instance_ref(current);
			if (add_instance(next, current) != 0) {
				plugin_instance_unref(current);
				snprintf(err, err_size, "out of memory");
				return -1;
			}
			changes->kept++;
			return 0;
		}
	}
	char why[512];
	plugin_image *img = plugin_image_load(path, uid, why, sizeof why);
	if (!img) {
		snprintf(err, err_size, "%s: plugin refused: %s", path, why);
		return -1;
	}
	const char *name = plugin_image_descriptor(img)->name;
	const plugin_settings *ps;
	plugin_wish wish = wanted(config, name, &ps);
	int rc = 0;
	if (find(next, name)) {
		snprintf(err, err_size, "%s: plugin refused: name '%s' is already taken", path, name);
		rc = -1;
	} else if (wish == PLUGIN_WANTED && !may_load(img, ps, config, services, NULL)) {
		/* quarantined: not loaded, logged by the ledger; not a failure */
	} else if (wish == PLUGIN_WANTED) {
		if (!instantiate(img, ps, config, services, next, why, sizeof why)) {
			snprintf(err, err_size, "%s: plugin '%s' refused: %s", path, name, why);
			rc = -1;
		} else {
			bool existed = false;
			for (size_t i = 0; i < old->count; i++)
				existed |= strcmp(plugin_instance_name(old->instances[i]), name) == 0;
			append_name(existed ? changes->replaced : changes->added,
			            existed ? sizeof changes->replaced : sizeof changes->added, name);
		}
	}
	plugin_image_unref(img);
	return rc;
}

int plugin_registry_rebuild(const plugin_registry *old, const es_config *config, const host_services *services,
                            uid_t uid, plugin_registry *next, registry_changes *changes, char *err, size_t err_size)
{
	memset(next, 0, sizeof *next);
	memset(changes, 0, sizeof *changes);
	char why[512];
	if (!plugin_dir_trusted(config->plugin_dir, uid, why, sizeof why)) {
		snprintf(err, err_size, "%s", why);
		return -1;
	}
	char **names = NULL;
	size_t count = 0;
	if (list_plugin_files(config->plugin_dir, &names, &count, why, sizeof why) != 0) {
		snprintf(err, err_size, "%s", why);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", config->plugin_dir, names[i]);
		rc = rebuild_one(old, config, services, uid, path, next, changes, err, err_size);
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	if (rc != 0) {
		registry_clear(next); /* new instances were never started: shut down and unloaded */
		return -1;
	}
	for (size_t i = 0; i < old->count; i++)
		if (!find(next, plugin_instance_name(old->instances[i])))
			append_name(changes->removed, sizeof changes->removed, plugin_instance_name(old->instances[i]));
	return 0;
}

int plugin_registry_start_new(const plugin_registry *old, plugin_registry *next, char *err, size_t err_size)
{
	for (size_t i = 0; i < next->count; i++) {
		plugin_instance *inst = next->instances[i];
		if (plugin_registry_contains(old, inst))
			continue;
		if (plugin_instance_start(inst) != 0) {
			snprintf(err, err_size, "plugin '%s': its workers could not be started", plugin_instance_name(inst));
			for (size_t j = 0; j <= i; j++)
				if (!plugin_registry_contains(old, next->instances[j]))
					plugin_instance_stop(next->instances[j], clock_monotonic_us());
			return -1;
		}
	}
	return 0;
}
