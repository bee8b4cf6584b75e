/*
 * Building the set of plugin instances from the plugin directory.
 * Files are loaded in name order so logs and --check-config are stable.
 */
#include "config.h"

#include "plugin_registry.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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
			report->refused++;
			continue;
		}
		const char *name = img->descriptor.name;
		plugin_instance *dup = find(reg, name);
		const plugin_settings *settings = es_config_plugin(config, name);
		if (dup) {
			problem(out, path, "plugin refused: name '%s' is already taken by %s", name,
			        plugin_instance_image(dup)->path);
			report->refused++;
		} else if (settings && !settings->enabled) {
			LOG_INFO("loader", "%s: plugin '%s' is disabled in the config", path, name);
			report->disabled++;
		} else if (!settings && !config->load_unconfigured) {
			LOG_INFO("loader", "%s: plugin '%s' has no settings and plugins.load_unconfigured is false: skipped",
			         path, name);
			report->skipped++;
		} else {
			plugin_instance *inst =
			        plugin_instance_create(img, settings, &config->plugin_defaults, services, err, sizeof err);
			if (!inst) {
				problem(out, path, "plugin '%s' refused: %s", name, err);
				report->refused++;
			} else if (reg->count >= ROUTER_MAX_TARGETS || add_instance(reg, inst) != 0) {
				problem(out, path, "plugin '%s' refused: more than %d plugins", name, ROUTER_MAX_TARGETS);
				plugin_instance_unref(inst);
				report->refused++;
			} else {
				const char *const *patterns;
				size_t n = plugin_instance_subscriptions(inst, &patterns);
				char subs[512] = "";
				size_t len = 0;
				for (size_t j = 0; j < n && len < sizeof subs; j++)
					len += (size_t)snprintf(subs + len, sizeof subs - len, "%s%s", j ? ", " : "", patterns[j]);
				const plugin_policy *pol = plugin_instance_policy(inst);
				LOG_INFO("loader", "%s: loaded plugin '%s' %s (ABI %u.%u), %u worker%s, queue %u, subscribed to [%s]",
				         path, name, img->descriptor.version, img->descriptor.abi_major, img->descriptor.abi_minor,
				         pol->workers, pol->workers == 1 ? "" : "s", pol->queue_size, n ? subs : "nothing");
				if (out)
					fprintf(out, "plugin %s %s (ABI %u.%u) from %s: %u workers, queue %u, subscribed to [%s]\n",
					        name, img->descriptor.version, img->descriptor.abi_major, img->descriptor.abi_minor,
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
		if (!ps->enabled || find(reg, ps->name))
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

void plugin_registry_clear(plugin_registry *reg)
{
	for (size_t i = 0; i < reg->count; i++)
		plugin_instance_unref(reg->instances[i]);
	free(reg->instances);
	reg->instances = NULL;
	reg->count = 0;
}
