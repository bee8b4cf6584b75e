/*
 * Size-class blocks recycled in magazines through a bounded depot (see
 * block_cache.h for why).  A thread's magazines are its own and need no
 * lock; only the depot, touched once per MAGAZINE_BLOCKS blocks, has one
 * mutex per class.
 */
#include "config.h"

#include "util/block_cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define BLOCK_CACHE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BLOCK_CACHE_ASAN 1
#endif
#endif
#ifdef BLOCK_CACHE_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(block, size) ASAN_POISON_MEMORY_REGION((block), (size))
#define UNPOISON(block, size) ASAN_UNPOISON_MEMORY_REGION((block), (size))
#else
#define POISON(block, size) ((void)(block), (void)(size))
#define UNPOISON(block, size) ((void)(block), (void)(size))
#endif

#define CLASSES 5
#define MAGAZINE_BLOCKS 64
/* The depot keeps about this many bytes of each class. */
#define DEPOT_BYTES_PER_CLASS (2u << 20)

static const size_t class_size[CLASSES] = {256, 512, 1024, 2048, 4096};

typedef struct magazine {
	unsigned count;
	void *blocks[MAGAZINE_BLOCKS];
} magazine;

/* One thread's blocks: it allocates from `fresh` and frees into `spent`
 * (the two swap when fresh runs dry and spent has some). */
typedef struct thread_cache {
	bool registered; /* its exit hands the blocks back (thread_cache_exit) */
	magazine *fresh[CLASSES];
	magazine *spent[CLASSES];
	magazine store[CLASSES][2];
} thread_cache;

static _Thread_local thread_cache cache;

typedef struct depot {
	pthread_mutex_t lock;
	size_t count;    /* under lock */
	size_t capacity; /* DEPOT_BYTES_PER_CLASS / class size */
	void **blocks;   /* capacity of them, the first `count` cached */
} depot;

#define DEPOT_CAPACITY(size) (DEPOT_BYTES_PER_CLASS / (size))
static void *depot_storage[DEPOT_CAPACITY(256) + DEPOT_CAPACITY(512) + DEPOT_CAPACITY(1024) +
                           DEPOT_CAPACITY(2048) + DEPOT_CAPACITY(4096)];
static depot depots[CLASSES] = {
	{PTHREAD_MUTEX_INITIALIZER, 0, DEPOT_CAPACITY(256), depot_storage},
	{PTHREAD_MUTEX_INITIALIZER, 0, DEPOT_CAPACITY(512), depot_storage + DEPOT_CAPACITY(256)},
	{PTHREAD_MUTEX_INITIALIZER, 0, DEPOT_CAPACITY(1024),
	 depot_storage + DEPOT_CAPACITY(256) + DEPOT_CAPACITY(512)},
	{PTHREAD_MUTEX_INITIALIZER, 0, DEPOT_CAPACITY(2048),
	 depot_storage + DEPOT_CAPACITY(256) + DEPOT_CAPACITY(512) + DEPOT_CAPACITY(1024)},
	{PTHREAD_MUTEX_INITIALIZER, 0, DEPOT_CAPACITY(4096),
	 depot_storage + DEPOT_CAPACITY(256) + DEPOT_CAPACITY(512) + DEPOT_CAPACITY(1024) + DEPOT_CAPACITY(2048)},
};

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static int class_of(size_t size)
{
	for (int c = 0; c < CLASSES; c++)
		if (size <= class_size[c])
			return c;
	return -1;
}

/* Move m's blocks into the depot as far as it has room, free() the rest. */
static void magazine_return(int c, magazine *m)
{
	depot *d = &depots[c];
	pthread_mutex_lock(&d->lock);
	size_t n = d->capacity - d->count;
	if (n > m->count)
		n = m->count;
	memcpy(d->blocks + d->count, m->blocks + (m->count - n), n * sizeof *m->blocks);
	d->count += n;
	pthread_mutex_unlock(&d->lock);
	m->count -= (unsigned)n;
	for (unsigned i = 0; i < m->count; i++) {
		UNPOISON(m->blocks[i], class_size[c]);
		free(m->blocks[i]);
	}
	m->count = 0;
}

/* A thread's exit: its blocks go back to the depot (or to free()).  Key
 * destructors may still free blocks after this: the thread registers
 * again, and glibc runs the destructor once more. */
static void thread_cache_exit(void *arg)
{
	thread_cache *tc = arg;
	for (int c = 0; c < CLASSES; c++) {
		magazine_return(c, tc->fresh[c]);
		magazine_return(c, tc->spent[c]);
	}
	tc->registered = false;
}

static void make_exit_key(void)
{
	(void)pthread_key_create(&exit_key, thread_cache_exit);
}

static void register_thread(void)
{
	for (int c = 0; c < CLASSES; c++) {
		cache.fresh[c] = &cache.store[c][0];
		cache.spent[c] = &cache.store[c][1];
	}
	pthread_once(&exit_key_once, make_exit_key);
	(void)pthread_setspecific(exit_key, &cache);
	cache.registered = true;
}

/* Refill the thread's empty fresh magazine of class c: its own spent
 * blocks, else up to MAGAZINE_BLOCKS from the depot. */
static void refill(int c)
{
	magazine *fresh = cache.fresh[c];
	if (cache.spent[c]->count) {
		cache.fresh[c] = cache.spent[c];
		cache.spent[c] = fresh;
		return;
	}
	depot *d = &depots[c];
	pthread_mutex_lock(&d->lock);
	size_t n = d->count < MAGAZINE_BLOCKS ? d->count : MAGAZINE_BLOCKS;
	d->count -= n;
	memcpy(fresh->blocks, d->blocks + d->count, n * sizeof *fresh->blocks);
	pthread_mutex_unlock(&d->lock);
	fresh->count = (unsigned)n;
}

void *block_cache_alloc(size_t size, uint8_t *block_class)
{
	int c = class_of(size);
	if (c < 0) {
		*block_class = BLOCK_CLASS_MALLOC;
		return malloc(size);
	}
	if (!cache.registered)
		register_thread();
	if (cache.fresh[c]->count == 0)
		refill(c);
	magazine *m = cache.fresh[c];
	void *block;
	if (m->count) {
		block = m->blocks[--m->count];
	} else {
		block = malloc(class_size[c]);
		if (!block)
			return NULL;
		POISON(block, class_size[c]); /* past `size` stays poisoned */
	}
	UNPOISON(block, size);
	*block_class = (uint8_t)c;
	return block;
}

void block_cache_free(void *block, uint8_t block_class)
{
	if (!block)
		return;
	if (block_class == BLOCK_CLASS_MALLOC) {
		free(block);
		return;
	}
	int c = block_class;
	if (!cache.registered)
		register_thread();
	POISON(block, class_size[c]);
	magazine *m = cache.spent[c];
	if (m->count == MAGAZINE_BLOCKS)
		magazine_return(c, m);
	m->blocks[m->count++] = block;
}

size_t block_cache_depot_blocks(size_t size)
{
	int c = class_of(size);
	if (c < 0)
		return 0;
	pthread_mutex_lock(&depots[c].lock);
	size_t n = depots[c].count;
	pthread_mutex_unlock(&depots[c].lock);
	return n;
}

size_t block_cache_depot_capacity(size_t size)
{
	int c = class_of(size);
	return c < 0 ? 0 : depots[c].capacity;
}
