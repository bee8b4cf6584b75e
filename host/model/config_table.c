/*
 * The walkers over config tables (config_table.h): reading with typed,
 * range-checked converters that report their own errors, defaults, freeing,
 * the reload diff and the key reference.
 */
#include "config.h"

#include "model/config_table.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void config_error_add(config_errors *errs, unsigned line, unsigned column, const char *fmt, ...)
{
	if (errs->count >= sizeof errs->items / sizeof errs->items[0]) {
		errs->dropped++;
		return;
	}
	config_error *e = &errs->items[errs->count++];
	e->line = line;
	e->column = column;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

static void *field_of(void *base, const config_key *row)
{
	return (char *)base + row->offset;
}

static const void *const_field_of(const void *base, const config_key *row)
{
	return (const char *)base + row->offset;
}

/* Unsigned fields come in several widths (a port is a uint16_t, a size a size_t). */
static void store_uint(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case sizeof(uint8_t):
		*(uint8_t *)field = (uint8_t)v;
		break;
	case sizeof(uint16_t):
		*(uint16_t *)field = (uint16_t)v;
		break;
	case sizeof(uint32_t):
		*(uint32_t *)field = (uint32_t)v;
		break;
	default:
		*(uint64_t *)field = v;
		break;
	}
}

static bool parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* ---- defaults ---- */

void config_table_defaults(const config_key *rows, void *base, unsigned variant)
{
	for (const config_key *row = rows; row->name; row++) {
		void *field = field_of(base, row);
		if (row->set_default) {
			row->set_default(field, variant);
			continue;
		}
		switch (row->type) {
		case CONFIG_MAP:
		case CONFIG_INCLUDE:
			if (row->sub && !row->read)
				config_table_defaults(row->sub, field, variant);
			break;
		case CONFIG_BOOL:
			if (row->def)
				parse_bool(row->def, field);
			break;
		case CONFIG_UINT:
			if (row->def)
				store_uint(field, row->size, strtoull(row->def, NULL, 10));
			break;
		case CONFIG_DOUBLE:
			if (row->def)
				*(double *)field = strtod(row->def, NULL);
			break;
		case CONFIG_STRING:
			free(*(char **)field);
			*(char **)field = row->def ? strdup(row->def) : NULL;
			break;
		case CONFIG_CHOICE:
			if (row->def)
				row->parse(row->def, field);
			break;
		case CONFIG_LIST:
		case CONFIG_CUSTOM:
			break;
		}
	}
}

/* ---- reading ---- */

static void join_path(char *out, size_t size, const char *where, const char *name)
{
	snprintf(out, size, "%s%s%s", where, *where ? "." : "", name);
}

/* Append the names `rows` accept (INCLUDE rows expanded) to list. */
static void list_names(const config_key *rows, char *list, size_t size, size_t *len)
{
	for (const config_key *row = rows; row->name && *len < size - 1; row++) {
		if (row->type == CONFIG_INCLUDE) {
			list_names(row->sub, list, size, len);
			continue;
		}
		*len += (size_t)snprintf(list + *len, size - *len, "%s%s", *len ? ", " : "", row->name);
	}
}

static bool knows(const config_key *rows, const char *key)
{
	for (const config_key *row = rows; row->name; row++) {
		if (row->type == CONFIG_INCLUDE ? knows(row->sub, key) : strcmp(row->name, key) == 0)
			return true;
	}
	return false;
}

static void check_known_keys(const config_key *rows, const ynode *map, const char *where, config_errors *errs)
{
	for (size_t i = 0; i < map->count; i++) {
		if (knows(rows, map->keys[i]))
			continue;
		char list[200] = "";
		size_t len = 0;
		list_names(rows, list, sizeof list, &len);
		config_error_add(errs, map->key_lines[i], map->key_columns[i], "unknown key '%s' in %s (known keys: %s)",
		                 map->keys[i], *where ? where : "the top level", list);
	}
}

static const ynode *get_scalar(const ynode *map, const char *key, const char *where, config_errors *errs)
{
	const ynode *n = ynode_get(map, key);
	if (!n)
		return NULL;
	if (n->kind != YNODE_SCALAR) {
		config_error_add(errs, n->line, n->column, "%s.%s must be a single value, not %s", where, key,
		                 ynode_kind_name(n->kind));
		return NULL;
	}
	return n;
}

/* Digits, after an optional minus sign. */
static bool integer_text(const char *s)
{
	s += *s == '-';
	return *s && strspn(s, "0123456789") == strlen(s);
}

static void read_uint(const ynode *n, const config_key *row, const char *where, void *field, config_errors *errs)
{
	const char *s = n->scalar;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!n->quoted && integer_text(s) && (*s == '-' || errno == ERANGE)) {
		/* a whole number all the same: say what is wrong with it */
		config_error_add(errs, n->line, n->column, "%s.%s must be between %llu and %llu, not %s", where,
		                 row->name, (unsigned long long)row->min, (unsigned long long)row->max, s);
		return;
	}
	if (n->quoted || !*s || *s == '-' || *s == '+' || *end || errno) {
		config_error_add(errs, n->line, n->column, "%s.%s must be a whole number%s, not '%s'", where, row->name,
		                 n->quoted ? " (unquoted)" : "", s);
		return;
	}
	if ((double)v < row->min || (double)v > row->max) {
		config_error_add(errs, n->line, n->column, "%s.%s must be between %llu and %llu, not %llu", where,
		                 row->name, (unsigned long long)row->min, (unsigned long long)row->max, v);
		return;
	}
	store_uint(field, row->size, v);
}

static void read_double(const ynode *n, const config_key *row, const char *where, double *field,
                        config_errors *errs)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(n->scalar, &end);
	if (n->quoted || !*n->scalar || *end || errno || !isfinite(v)) {
		config_error_add(errs, n->line, n->column, "%s.%s must be a number, not '%s'", where, row->name,
		                 n->scalar);
		return;
	}
	if (v < row->min || v > row->max) {
		config_error_add(errs, n->line, n->column, "%s.%s must be between %g and %g, not %g", where, row->name,
		                 row->min, row->max, v);
		return;
	}
	*field = v;
}

static void read_string(const ynode *n, const config_key *row, const char *where, char **field,
                        config_errors *errs)
{
	if (!row->allow_empty && n->scalar[0] == '\0') {
		config_error_add(errs, n->line, n->column, "%s.%s must not be empty", where, row->name);
		return;
	}
	char *copy = strdup(n->scalar);
	if (!copy) {
		config_error_add(errs, n->line, n->column, "out of memory");
		return;
	}
	free(*field);
	*field = copy;
}

/* A section: absent or null is nothing to read; anything but a map is an error. */
static const ynode *get_map(const ynode *map, const char *key, const char *where, config_errors *errs)
{
	const ynode *n = ynode_get(map, key);
	if (!n || ynode_is_null(n))
		return NULL;
	if (n->kind != YNODE_MAP) {
		config_error_add(errs, n->line, n->column, "%s%s%s must be a map, not %s", where, *where ? "." : "", key,
		                 ynode_kind_name(n->kind));
		return NULL;
	}
	return n;
}

static void read_rows(const config_key *rows, const ynode *map, const char *where, void *base, config_ctx *ctx)
{
	config_errors *errs = ctx->errors;
	for (const config_key *row = rows; row->name; row++) {
		void *field = field_of(base, row);
		char path[256];
		join_path(path, sizeof path, where, row->name);
		switch (row->type) {
		case CONFIG_MAP: {
			const ynode *n = get_map(map, row->name, where, errs);
			if (!n)
				break;
			if (row->read) {
				row->read(n, path, base, ctx);
				break;
			}
			config_table_read(row->sub, n, path, field, ctx);
			if (row->check)
				row->check(n, path, field, ctx);
			break;
		}
		case CONFIG_LIST: {
			const ynode *n = ynode_get(map, row->name);
			if (n && !ynode_is_null(n))
				row->read(n, path, base, ctx);
			break;
		}
		case CONFIG_INCLUDE:
			read_rows(row->sub, map, where, field, ctx);
			if (row->check)
				row->check(map, where, field, ctx);
			break;
		case CONFIG_CUSTOM:
			break;
		default: {
			const ynode *n = get_scalar(map, row->name, where, errs);
			if (!n)
				break;
			if (row->type == CONFIG_BOOL) {
				if (n->quoted || !parse_bool(n->scalar, field))
					config_error_add(errs, n->line, n->column, "%s must be true or false, not '%s'", path,
					                 n->scalar);
			} else if (row->type == CONFIG_UINT) {
				read_uint(n, row, where, field, errs);
			} else if (row->type == CONFIG_DOUBLE) {
				read_double(n, row, where, field, errs);
			} else if (row->type == CONFIG_STRING) {
				read_string(n, row, where, field, errs);
			} else if (row->type == CONFIG_CHOICE && !row->parse(n->scalar, field)) {
				config_error_add(errs, n->line, n->column, "%s must be %s, not '%s'", path, row->expect,
				                 n->scalar);
			}
			break;
		}
		}
	}
}

void config_table_read(const config_key *rows, const ynode *map, const char *where, void *base, config_ctx *ctx)
{
	check_known_keys(rows, map, where, ctx->errors);
	read_rows(rows, map, where, base, ctx);
}

/* ---- freeing ---- */

void config_table_free(const config_key *rows, void *base)
{
	for (const config_key *row = rows; row->name; row++) {
		void *field = field_of(base, row);
		if (row->type == CONFIG_STRING) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if ((row->type == CONFIG_MAP || row->type == CONFIG_INCLUDE) && row->sub && !row->read) {
			config_table_free(row->sub, field);
		}
	}
}

/* ---- the reload diff ---- */

static void append(char *buf, size_t size, const char *text)
{
	size_t len = strlen(buf);
	if (len + 2 + strlen(text) + 1 < size)
		snprintf(buf + len, size - len, "%s%s", len ? ", " : "", text);
}

static bool same_value(const config_key *row, const void *a, const void *b)
{
	const void *fa = const_field_of(a, row), *fb = const_field_of(b, row);
	switch (row->type) {
	case CONFIG_STRING: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		return (!sa && !sb) || (sa && sb && strcmp(sa, sb) == 0);
	}
	case CONFIG_DOUBLE:
		return *(const double *)fa == *(const double *)fb;
	default:
		return memcmp(fa, fb, row->size) == 0;
	}
}

void config_table_diff(const config_key *rows, const char *prefix, const void *a, const void *b, char *changed,
                       size_t changed_size, char *restart, size_t restart_size)
{
	for (const config_key *row = rows; row->name; row++) {
		if (row->reload == CONFIG_PER_PLUGIN || row->type == CONFIG_CUSTOM)
			continue;
		char path[256];
		join_path(path, sizeof path, prefix, row->name);
		bool same;
		if (row->equal) {
			same = row->equal(a, b);
		} else if (row->type == CONFIG_MAP || row->type == CONFIG_INCLUDE) {
			if (row->sub && !row->read)
				config_table_diff(row->sub, row->type == CONFIG_MAP ? path : prefix, const_field_of(a, row),
				                  const_field_of(b, row), changed, changed_size, restart, restart_size);
			continue;
		} else if (row->type == CONFIG_LIST) {
			continue; /* a list without equal() is not compared */
		} else {
			same = same_value(row, a, b);
		}
		if (same)
			continue;
		append(changed, changed_size, path);
		if (row->reload == CONFIG_RESTART)
			append(restart, restart_size, path);
	}
}

/* ---- the reference ---- */

static const char *type_name(config_type type)
{
	switch (type) {
	case CONFIG_BOOL:
		return "bool";
	case CONFIG_UINT:
		return "integer";
	case CONFIG_DOUBLE:
		return "number";
	case CONFIG_STRING:
		return "string";
	case CONFIG_CHOICE:
		return "choice";
	case CONFIG_MAP:
		return "map";
	case CONFIG_LIST:
		return "list";
	case CONFIG_INCLUDE:
	case CONFIG_CUSTOM:
		break;
	}
	return "string";
}

static const char *reload_name(config_reload reload)
{
	switch (reload) {
	case CONFIG_LIVE:
		return "live";
	case CONFIG_RESTART:
		return "restart";
	case CONFIG_PER_PLUGIN:
		return "plugin";
	}
	return "?";
}

/* `inherited`: a row under a CONFIG_PER_PLUGIN one is applied the same way. */
static void dump_rows(const config_key *rows, const char *prefix, config_reload inherited, FILE *out)
{
	for (const config_key *row = rows; row->name; row++) {
		config_reload reload = inherited == CONFIG_PER_PLUGIN ? inherited : row->reload;
		if (row->type == CONFIG_INCLUDE) {
			dump_rows(row->sub, prefix, reload, out);
			continue;
		}
		char path[256];
		join_path(path, sizeof path, prefix, row->name);
		const char *def = row->default_text ? row->default_text : row->def ? row->def : "";
		char range[64] = "";
		if (row->type == CONFIG_UINT)
			snprintf(range, sizeof range, " %llu-%llu", (unsigned long long)row->min, (unsigned long long)row->max);
		else if (row->type == CONFIG_DOUBLE)
			snprintf(range, sizeof range, " %g-%g", row->min, row->max);
		else if (row->type == CONFIG_CHOICE)
			snprintf(range, sizeof range, " (%s)", row->expect);
		fprintf(out, "%s\t%s%s\t%s\t%s\t%s\n", path, type_name(row->type), range, def, reload_name(reload),
		        row->help ? row->help : "");
		if (row->sub && row->type != CONFIG_CUSTOM) {
			char child[256];
			snprintf(child, sizeof child, "%s%s", path, row->sub_path ? row->sub_path : "");
			dump_rows(row->sub, child, reload, out);
		}
	}
}

void config_table_dump(const config_key *rows, const char *prefix, FILE *out)
{
	dump_rows(rows, prefix, CONFIG_LIVE, out);
}
