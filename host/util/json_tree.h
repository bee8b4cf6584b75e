/*
 * cJSON trees parsed into blocks of their own: a batch request's tree is
 * hundreds of nodes and strings, and allocating and freeing each with
 * malloc() was about a fifth of the batch endpoint's profile
 * (docs/benchmarks.md).  Here the nodes of one parse are carved from a few
 * large blocks, and releasing the tree frees those blocks: no walk, no
 * free() per node.
 *
 * How: json_tree_init() installs cJSON allocation hooks once, before any
 * other thread starts.  Outside json_tree_parse() on the calling thread
 * they are plain malloc() and free(), so every other use of cJSON
 * (plugins in the same process included) is unchanged; during it they
 * allocate from the tree's blocks.
 *
 * Ownership: the tree owns every node of its root; release it with
 * json_tree_release() only, never cJSON_Delete(), and detach nothing from
 * it.  Strings read from it are valid until the release.  A tree is used
 * by one thread at a time.  A small tree (a text of up to about 1 KB) has
 * the parsing thread's scratch block as its first block: no malloc() at
 * all; release such a tree on the thread that parsed it.  Without json_tree_init() (or when something
 * else replaced the hooks) the tree is an ordinary cJSON tree, and
 * json_tree_release() deletes it.
 */
#ifndef ES_JSON_TREE_H
#define ES_JSON_TREE_H

#include <stdbool.h>
#include <stddef.h>

struct json_tree_block;

typedef struct json_tree {
	void *root; /* the cJSON root, or NULL */
	struct json_tree_block *blocks; /* NULL: an ordinary cJSON tree */
	size_t first_block;             /* bytes, from the text's length */
	bool *scratch_held;             /* the parsing thread's scratch block, when the tree has it */
} json_tree;

/* Install the hooks.  Call once, before any other thread uses cJSON. */
void json_tree_init(void);
/* cJSON_ParseWithLength() into t (zeroed here); the root or NULL. */
void *json_tree_parse(json_tree *t, const char *text, size_t len);
/* Free the tree; t can be parsed into again. */
void json_tree_release(json_tree *t);

#endif
