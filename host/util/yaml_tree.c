/*
 * YAML file → ynode tree, using libyaml's document loader (which resolves
 * anchors and aliases for us).  Keys must be scalars and unique per map.
 */
#include "config.h"

#include "util/yaml_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static ynode *node_new(ynode_kind kind, const yaml_mark_t *mark)
{
	ynode *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)mark->line + 1;
	n->column = (unsigned)mark->column + 1;
	return n;
}

void ynode_free(ynode *node)
{
	if (!node)
		return;
	free(node->scalar);
	for (size_t i = 0; i < node->count; i++) {
		if (node->keys)
			free(node->keys[i]);
		ynode_free(node->items[i]);
	}
	free(node->keys);
	free(node->key_lines);
	free(node->key_columns);
	free(node->items);
	free(node);
}

ynode *ynode_clone(const ynode *src)
{
	ynode *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	*n = (ynode){.kind = src->kind, .line = src->line, .column = src->column, .quoted = src->quoted};
	if (src->scalar && !(n->scalar = strdup(src->scalar)))
		goto out_fail;
	if (src->kind == YNODE_SCALAR)
		return n;
	size_t cap = src->count ? src->count : 1;
	n->items = calloc(cap, sizeof *n->items);
	if (!n->items)
		goto out_fail;
	if (src->kind == YNODE_MAP) {
		n->keys = calloc(cap, sizeof *n->keys);
		n->key_lines = calloc(cap, sizeof *n->key_lines);
		n->key_columns = calloc(cap, sizeof *n->key_columns);
		if (!n->keys || !n->key_lines || !n->key_columns)
			goto out_fail;
	}
	for (size_t i = 0; i < src->count; i++) {
		n->items[i] = ynode_clone(src->items[i]);
		if (src->kind == YNODE_MAP) {
			n->keys[i] = strdup(src->keys[i]);
			n->key_lines[i] = src->key_lines[i];
			n->key_columns[i] = src->key_columns[i];
		}
		n->count++;
		if (!n->items[i] || (src->kind == YNODE_MAP && !n->keys[i]))
			goto out_fail;
	}
	return n;
out_fail:
	ynode_free(n);
	return NULL;
}

/* Convert libyaml node `id` of `doc`; depth guards against absurd nesting,
 * `*budget` against aliases that multiply: libyaml hands us each alias as
 * its anchor's node, and copying those is what a few hundred bytes of
 * nested aliases turn into billions of nodes ("billion laughs"). */
static ynode *convert(yaml_document_t *doc, int id, int depth, size_t *budget, char *err, size_t err_size)
{
	yaml_node_t *yn = yaml_document_get_node(doc, id);
	if (!yn) {
		snprintf(err, err_size, "1:1: invalid document");
		return NULL;
	}
	if (depth > 64) {
		snprintf(err, err_size, "%zu:%zu: nesting deeper than 64 levels", yn->start_mark.line + 1,
		         yn->start_mark.column + 1);
		return NULL;
	}
	if (*budget == 0) {
		snprintf(err, err_size, "%zu:%zu: more than %u values (aliases count once per use)",
		         yn->start_mark.line + 1, yn->start_mark.column + 1, YAML_TREE_MAX_NODES);
		return NULL;
	}
	(*budget)--;
	ynode *n = NULL;
	switch (yn->type) {
	case YAML_SCALAR_NODE:
		n = node_new(YNODE_SCALAR, &yn->start_mark);
		if (!n)
			goto out_nomem;
		n->scalar = strndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
		if (!n->scalar)
			goto out_nomem;
		n->quoted = yn->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		            yn->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		return n;
	case YAML_SEQUENCE_NODE: {
		n = node_new(YNODE_LIST, &yn->start_mark);
		if (!n)
			goto out_nomem;
		size_t count = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
		n->items = calloc(count ? count : 1, sizeof *n->items);
		if (!n->items)
			goto out_nomem;
		for (size_t i = 0; i < count; i++) {
			n->items[i] = convert(doc, yn->data.sequence.items.start[i], depth + 1, budget, err, err_size);
			if (!n->items[i])
				goto out_fail;
			n->count++;
		}
		return n;
	}
	case YAML_MAPPING_NODE: {
		n = node_new(YNODE_MAP, &yn->start_mark);
		if (!n)
			goto out_nomem;
		size_t count = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
		size_t cap = count ? count : 1;
		n->items = calloc(cap, sizeof *n->items);
		n->keys = calloc(cap, sizeof *n->keys);
		n->key_lines = calloc(cap, sizeof *n->key_lines);
		n->key_columns = calloc(cap, sizeof *n->key_columns);
		if (!n->items || !n->keys || !n->key_lines || !n->key_columns)
			goto out_nomem;
		for (size_t i = 0; i < count; i++) {
			yaml_node_pair_t *pair = &yn->data.mapping.pairs.start[i];
			yaml_node_t *key = yaml_document_get_node(doc, pair->key);
			if (!key || key->type != YAML_SCALAR_NODE) {
				snprintf(err, err_size, "%zu:%zu: map keys must be plain strings",
				         key ? key->start_mark.line + 1 : 1, key ? key->start_mark.column + 1 : 1);
				goto out_fail;
			}
			const char *ktext = (const char *)key->data.scalar.value;
			for (size_t j = 0; j < n->count; j++) {
				if (n->keys[j] && strcmp(n->keys[j], ktext) == 0) {
					snprintf(err, err_size, "%zu:%zu: duplicate key '%s' (first at line %u)",
					         key->start_mark.line + 1, key->start_mark.column + 1, ktext,
					         n->key_lines[j]);
					goto out_fail;
				}
			}
			n->keys[i] = strdup(ktext);
			if (!n->keys[i])
				goto out_nomem;
			n->key_lines[i] = (unsigned)key->start_mark.line + 1;
			n->key_columns[i] = (unsigned)key->start_mark.column + 1;
			n->items[i] = convert(doc, pair->value, depth + 1, budget, err, err_size);
			if (!n->items[i]) {
				free(n->keys[i]);
				n->keys[i] = NULL;
				goto out_fail;
			}
			n->count++;
		}
		return n;
	}
	default:
		snprintf(err, err_size, "%zu:%zu: unsupported YAML node", yn->start_mark.line + 1,
		         yn->start_mark.column + 1);
		return NULL;
	}
out_nomem:
	snprintf(err, err_size, "%zu:%zu: out of memory", yn->start_mark.line + 1, yn->start_mark.column + 1);
out_fail:
	ynode_free(n);
	return NULL;
}

static ynode *parse_with(yaml_parser_t *parser, char *err, size_t err_size)
{
	yaml_document_t doc;
	if (!yaml_parser_load(parser, &doc)) {
		const yaml_mark_t *m = parser->problem ? &parser->problem_mark : &parser->context_mark;
		snprintf(err, err_size, "%zu:%zu: YAML syntax error: %s%s%s", m->line + 1, m->column + 1,
		         parser->problem ? parser->problem : "unknown problem", parser->context ? " " : "",
		         parser->context ? parser->context : "");
		return NULL;
	}
	ynode *root;
	if (!yaml_document_get_root_node(&doc)) {
		yaml_mark_t start = {0, 0, 0};
		root = node_new(YNODE_MAP, &start); /* empty file: empty map */
		if (!root)
			snprintf(err, err_size, "1:1: out of memory");
	} else {
		size_t budget = YAML_TREE_MAX_NODES;
		root = convert(&doc, 1, 0, &budget, err, err_size);
	}
	yaml_document_delete(&doc);
	return root;
}

ynode *yaml_tree_parse_stream(FILE *f, char *err, size_t err_size)
{
	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	ynode *root = parse_with(&parser, err, err_size);
	yaml_parser_delete(&parser);
	return root;
}

ynode *yaml_tree_parse_string(const char *text, size_t len, char *err, size_t err_size)
{
	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	ynode *root = parse_with(&parser, err, err_size);
	yaml_parser_delete(&parser);
	return root;
}

bool ynode_equal(const ynode *a, const ynode *b)
{
	if (!a || !b)
		return a == b;
	if (a->kind != b->kind || a->count != b->count || a->quoted != b->quoted)
		return false;
	if (a->kind == YNODE_SCALAR)
		return strcmp(a->scalar, b->scalar) == 0;
	for (size_t i = 0; i < a->count; i++) {
		if (a->kind == YNODE_MAP && strcmp(a->keys[i], b->keys[i]) != 0)
			return false;
		if (!ynode_equal(a->items[i], b->items[i]))
			return false;
	}
	return true;
}

const ynode *ynode_get(const ynode *map, const char *key)
{
	if (!map || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->count; i++)
		if (strcmp(map->keys[i], key) == 0)
			return map->items[i];
	return NULL;
}

const ynode *ynode_path(const ynode *root, const char *dotted)
{
	const ynode *cur = root;
	const char *p = dotted;
	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		char key[256];
		if (len >= sizeof key)
			return NULL;
		memcpy(key, p, len);
		key[len] = '\0';
		cur = ynode_get(cur, key);
		p = dot ? dot + 1 : p + len;
	}
	return cur;
}

bool ynode_is_null(const ynode *node)
{
	return node && node->kind == YNODE_SCALAR && !node->quoted &&
	       (node->scalar[0] == '\0' || strcmp(node->scalar, "~") == 0 || strcmp(node->scalar, "null") == 0);
}

const char *ynode_kind_name(ynode_kind kind)
{
	switch (kind) {
	case YNODE_SCALAR:
		return "a scalar";
	case YNODE_MAP:
		return "a map";
	case YNODE_LIST:
		return "a list";
	}
	return "?";
}
