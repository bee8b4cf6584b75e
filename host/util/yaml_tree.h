/*
 * A YAML document as a small tree of maps, lists and scalars that remembers
 * where each node and key came from (line and column, 1-based), so config
 * errors can say `file:line:column: message`.  Built with libyaml; no libyaml
 * type leaks out of yaml_tree.c.
 *
 * Ownership: yaml_tree_parse_*() returns a tree owned by the caller, freed
 * with ynode_free().  Every pointer read out of the tree (keys, scalars,
 * children) is owned by the tree.
 */
#ifndef ES_YAML_TREE_H
#define ES_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum ynode_kind {
	YNODE_SCALAR,
	YNODE_MAP,
	YNODE_LIST,
} ynode_kind;

typedef struct ynode ynode;

struct ynode {
	ynode_kind kind;
	unsigned line, column;
	char *scalar;    /* YNODE_SCALAR: the text */
	bool quoted;     /* YNODE_SCALAR: written in quotes (always a string) */
	size_t count;    /* YNODE_MAP: pairs; YNODE_LIST: items */
	char **keys;     /* YNODE_MAP: key texts */
	unsigned *key_lines, *key_columns;
	ynode **items;   /* YNODE_MAP: values (parallel to keys); YNODE_LIST: items */
};

/* Parse; on failure returns NULL and writes "line:column: message" to err.
 * An empty document gives an empty map.  Duplicate keys are errors. */
/* A config is a few hundred values; a tree of more (aliases expanded) is
 * refused rather than built. */
#define YAML_TREE_MAX_NODES 100000u

/* Parse the stream `f` (the caller opens and closes it). */
ynode *yaml_tree_parse_stream(FILE *f, char *err, size_t err_size);
ynode *yaml_tree_parse_string(const char *text, size_t len, char *err, size_t err_size);
void ynode_free(ynode *node);
/* A deep copy owned by the caller; NULL when out of memory. */
ynode *ynode_clone(const ynode *node);

/* Same content (kinds, keys, scalars, quoting), positions aside.  NULL
 * equals NULL. */
bool ynode_equal(const ynode *a, const ynode *b);
/* Value for `key` in a map, or NULL. */
const ynode *ynode_get(const ynode *map, const char *key);
/* Follow a dotted path of map keys ("a.b.c"); NULL when any step is missing. */
const ynode *ynode_path(const ynode *root, const char *dotted);
bool ynode_is_null(const ynode *node);
const char *ynode_kind_name(ynode_kind kind);

#endif
