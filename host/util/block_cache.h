/*
 * Memory blocks of a few size classes, recycled between threads in
 * batches: the memory of events.
 *
 * Why: an event is allocated by the thread that accepts it (an HTTP loop)
 * and freed by the worker that delivers it last.  With plain malloc() the
 * worker's free() of a block from the producer's arena waits on that
 * arena's lock while the producer mallocs from it (perf showed the worker
 * in `__lll_lock_wait_private` most of its time: docs/benchmarks.md).
 * Here each thread keeps a magazine of free blocks per class to allocate
 * from and one to free into; a full magazine of spent blocks goes to a
 * shared depot, and an empty one is refilled from it, MAGAZINE_BLOCKS at a
 * time under one mutex.  So producer and worker meet once per
 * MAGAZINE_BLOCKS events, not on every one.
 *
 * Bounds: a thread holds at most 2 * MAGAZINE_BLOCKS blocks of each class;
 * the depot at most a fixed number per class (about 2 MB each); blocks
 * beyond that, and blocks larger than the largest class, go back to
 * free().  A thread's magazines return to the depot when it exits.
 *
 * Ownership: block_cache_alloc() hands the caller a block it owns until it
 * passes the block and its class to block_cache_free(), from any thread.
 *
 * Sanitizers: under AddressSanitizer a cached block is poisoned while it
 * waits for reuse, and only the requested size is unpoisoned on reuse, so
 * a use after free or past the end is still reported ("use-after-poison").
 */
#ifndef ES_BLOCK_CACHE_H
#define ES_BLOCK_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* The class of a block that came from malloc() and goes back to free(). */
#define BLOCK_CLASS_MALLOC 0xff

/* A block of at least `size` bytes (aligned as malloc's), and its class
 * in *block_class (to pass back to block_cache_free()).  NULL when out of
 * memory. */
void *block_cache_alloc(size_t size, uint8_t *block_class);
/* Give back a block from block_cache_alloc(); NULL is ignored. */
void block_cache_free(void *block, uint8_t block_class);

/* Blocks of the class of a `size`-byte block waiting in the shared depot
 * now: for tests. */
size_t block_cache_depot_blocks(size_t size);
/* The most blocks the depot holds for the class of a `size`-byte block
 * (0 when such a block is not cached): for tests. */
size_t block_cache_depot_capacity(size_t size);

#endif
