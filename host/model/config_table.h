/*
 * Config keys as a table: one row per key says where it is in the YAML
 * (its name inside its section), its type and range, its default, where it
 * is stored (a field offset into the struct the section fills), whether a
 * reload applies it, and one line of help.  Readers, defaults, the list of
 * known keys an unknown key is reported against, freeing, the reload diff
 * and the key reference (config_table_dump) all walk the same rows, so a key
 * is known in exactly one place.  The model is nginx's ngx_command_t and
 * Fluent Bit's config map.
 *
 * A section is a row of type CONFIG_MAP whose `sub` rows are read into the
 * same base (offset 0) or into a struct at `offset` (plugins.defaults).  What
 * a table does not fit (lists of tokens, the map of plugins by name) is a row
 * with a hand-written `read`; the rows it reads are still rows (`sub`), so
 * they are known, documented and dumped like any other.
 *
 * Rows are static, NULL-name-terminated arrays; nothing here allocates
 * except the strings stored into CONFIG_STRING fields, which
 * config_table_free() frees.
 */
#ifndef ES_CONFIG_TABLE_H
#define ES_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/yaml_tree.h"

/* One problem found in a config; `line` 0 when not tied to a place. */
typedef struct config_error {
	unsigned line, column;
	char message[256];
} config_error;

typedef struct config_errors {
	config_error items[32];
	size_t count;
	size_t dropped; /* more errors than items */
} config_errors;

void config_error_add(config_errors *errors, unsigned line, unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

typedef enum config_type {
	CONFIG_BOOL,    /* true/false (yes/no, on/off) into a bool */
	CONFIG_UINT,    /* a whole number in [min, max] into an unsigned field of `size` bytes */
	CONFIG_DOUBLE,  /* a finite number in [min, max] into a double */
	CONFIG_STRING,  /* a copy (owned by the struct) into a char * */
	CONFIG_CHOICE,  /* one of a few words: parse() stores it; `expect` lists them */
	CONFIG_MAP,     /* a map: `sub` rows read into base + offset, or a hand-written read() */
	CONFIG_LIST,    /* a list: a hand-written read() */
	CONFIG_INCLUDE, /* `sub` rows belong to this same map, stored at base + offset */
	CONFIG_CUSTOM,  /* known here, read by the hand-written code of the enclosing section */
} config_type;

/* What a reload does with a changed key. */
typedef enum config_reload {
	CONFIG_LIVE,       /* applied by the reload */
	CONFIG_RESTART,    /* kept until a restart; a reload names it */
	CONFIG_PER_PLUGIN, /* applied by restarting the plugins it concerns (reported per plugin) */
} config_reload;

/* What the hand-written parts are given. */
typedef struct config_ctx {
	config_errors *errors;
	const char *(*env)(const char *name); /* getenv-like */
	unsigned variant;                     /* passed to set_default (the es_env) */
	void *root;                           /* the struct the top-level table fills */
} config_ctx;

typedef struct config_key config_key;
struct config_key {
	const char *name;
	config_type type;
	size_t offset, size; /* the field: CONFIG_FIELD(struct, member) */
	double min, max;     /* CONFIG_UINT, CONFIG_DOUBLE */
	bool allow_empty;    /* CONFIG_STRING: "" is a value */
	/* The default as it would be written in the file (NULL: zero, or
	 * set_default), and how the reference describes it when not literal. */
	const char *def;
	void (*set_default)(void *field, unsigned variant);
	const char *default_text;
	/* CONFIG_CHOICE: store the value for `text`, false when not one of them. */
	bool (*parse)(const char *text, void *field);
	const char *expect; /* CONFIG_CHOICE: "durable or async" */
	const config_key *sub;
	const char *sub_path; /* how children's paths continue: ".<name>" for a map by name, "[]" for a list */
	/* CONFIG_MAP or CONFIG_LIST read by hand: `node` is present and not
	 * null; `where` is its dotted path; `base` the struct this row is in. */
	void (*read)(const ynode *node, const char *where, void *base, config_ctx *ctx);
	/* After the `sub` rows are read: checks that span keys. */
	void (*check)(const ynode *map, const char *where, void *field, config_ctx *ctx);
	/* A hand-written row's reload diff: same value in both bases? */
	bool (*equal)(const void *a, const void *b);
	config_reload reload;
	const char *help;
};

#define CONFIG_FIELD(type, member) .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)

/* Set every row's default into `base` (recursing into sections). */
void config_table_defaults(const config_key *rows, void *base, unsigned variant);
/* Read `map` (a YAML map) into `base`: unknown keys are reported against the
 * rows' names, then each present key is read; errors go to ctx->errors and
 * leave the field as it was.  `where` is the map's dotted path ("" for the
 * top level). */
void config_table_read(const config_key *rows, const ynode *map, const char *where, void *base, config_ctx *ctx);
/* Free the CONFIG_STRING fields of `base` (recursing into sections). */
void config_table_free(const config_key *rows, void *base);
/* Append to `changed` the paths of rows whose values differ between `a` and
 * `b`, and to `restart` those among them a reload cannot apply; both are
 * ", "-separated.  CONFIG_PER_PLUGIN rows are left out. */
void config_table_diff(const config_key *rows, const char *prefix, const void *a, const void *b, char *changed,
                       size_t changed_size, char *restart, size_t restart_size);
/* The reference: one line per key, "path<TAB>type<TAB>default<TAB>reload<TAB>help". */
void config_table_dump(const config_key *rows, const char *prefix, FILE *out);

#endif
