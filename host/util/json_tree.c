/*
 * A cJSON tree's nodes carved from blocks of its own (see json_tree.h).
 */
#include "config.h"

#include "util/json_tree.h"

#include <cjson/cJSON.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

/* The first block is sized from the text: a batch of 120-byte events
 * builds about six bytes of nodes and strings per byte of text. */
#define FIRST_BLOCK_MIN 1024
#define BYTES_PER_TEXT_BYTE 6
#define BLOCK_MAX (1u << 20) /* later blocks double up to this, unless one node needs more */

struct json_tree_block {
	struct json_tree_block *next;
	size_t size, used; /* bytes of data[] */
	bool scratch;      /* this thread's scratch block: not freed, given back */
	alignas(max_align_t) unsigned char data[];
};

/* Each thread's first block for a small tree (a single event's body), so
 * parsing one takes no malloc() at all.  One tree at a time holds it: a
 * tree parsed while it is held gets blocks of its own. */
#define SCRATCH_SIZE 8192
static _Thread_local alignas(max_align_t) unsigned char scratch[sizeof(struct json_tree_block) + SCRATCH_SIZE];
static _Thread_local bool scratch_held;

/* The tree being parsed on this thread, or NULL: the hooks' switch. */
static _Thread_local json_tree *building;

static bool in_block(const struct json_tree_block *b, const void *p)
{
	return (const unsigned char *)p >= b->data && (const unsigned char *)p < b->data + b->size;
}

static void *tree_alloc(json_tree *t, size_t n)
{
	n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	struct json_tree_block *b = t->blocks;
	if (!b || b->size - b->used < n) {
		size_t size = b ? (b->size < BLOCK_MAX ? b->size * 2 : BLOCK_MAX) : t->first_block;
		if (size < n)
			size = n;
		struct json_tree_block *nb = malloc(sizeof *nb + size);
		if (!nb)
			return NULL; /* the parse fails: never a node from malloc() in a tree */
		nb->next = b;
		nb->size = size;
		nb->used = 0;
		nb->scratch = false;
		t->blocks = b = nb;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

static void *hook_malloc(size_t n)
{
	return building ? tree_alloc(building, n) : malloc(n);
}

/* Nodes of a tree are freed only by cJSON itself during a failed parse
 * (the tree's blocks go with json_tree_release()); anything else is
 * malloc()'s. */
static void hook_free(void *p)
{
	if (building && p)
		for (const struct json_tree_block *b = building->blocks; b; b = b->next)
			if (in_block(b, p))
				return;
	free(p);
}

void json_tree_init(void)
{
	cJSON_Hooks hooks = {.malloc_fn = hook_malloc, .free_fn = hook_free};
	cJSON_InitHooks(&hooks);
}

static void free_blocks(json_tree *t)
{
	while (t->blocks) {
		struct json_tree_block *next = t->blocks->next;
		if (t->blocks->scratch)
			*t->scratch_held = false;
		else
			free(t->blocks);
		t->blocks = next;
	}
}

void *json_tree_parse(json_tree *t, const char *text, size_t len)
{
	t->root = NULL;
	t->blocks = NULL;
	t->first_block = len < (BLOCK_MAX - FIRST_BLOCK_MIN) / BYTES_PER_TEXT_BYTE ? FIRST_BLOCK_MIN + len * BYTES_PER_TEXT_BYTE
	                                                                        : BLOCK_MAX;
	t->scratch_held = NULL;
	if (t->first_block <= SCRATCH_SIZE && !scratch_held) {
		struct json_tree_block *b = (struct json_tree_block *)scratch;
		b->next = NULL;
		b->size = SCRATCH_SIZE;
		b->used = 0;
		b->scratch = true;
		t->blocks = b;
		t->scratch_held = &scratch_held;
		scratch_held = true;
	}
	building = t;
	t->root = cJSON_ParseWithLength(text, len);
	building = NULL;
	if (t->blocks && t->blocks->scratch && t->blocks->used == 0)
		free_blocks(t); /* the hooks are not ours: an ordinary cJSON tree */
	if (!t->root)
		free_blocks(t);
	return t->root;
}

void json_tree_release(json_tree *t)
{
	if (t->blocks)
		free_blocks(t);
	else
		cJSON_Delete(t->root);
	t->root = NULL;
}
