/*
 * Hazard pointers, one per thread: a way to read a shared pointer to an
 * object and use the object for a moment without a lock or a reference
 * count.
 *
 * A reader announces the pointer it read in its thread's own slot (a
 * cache line no other thread writes) and checks that the shared pointer
 * still holds it.  Whoever would free an object that is no longer shared
 * asks hazard_announced() first and, while some thread announces it, keeps
 * it for later (the caller's retire list).  The read side is one seq_cst
 * store (a full fence: an xchg on x86-64) and two loads, on the reader's
 * own line; the reference count it replaces was two atomic
 * read-modify-writes on a line every reader wrote, plus a mutex.
 *
 * One announcement per thread at a time: hazard_protect() answers NULL
 * while the thread announces something already, and the caller takes the
 * locked path it has anyway.
 *
 * Slots are made on a thread's first use, given back when it exits (a
 * thread-specific destructor) and reused by later threads; they are never
 * freed: there are as many as the most threads that held one at the same
 * time.
 */
#ifndef ES_HAZARD_H
#define ES_HAZARD_H

#include <stdbool.h>

/* Read *shared (never NULL) and announce it until hazard_release().  NULL
 * when this thread announces something already, or has no slot (out of
 * memory, or the thread is exiting). */
void *hazard_protect(void *_Atomic *shared);
/* End this thread's announcement (after a hazard_protect() that answered
 * non-NULL). */
void hazard_release(void);
/* Whether some thread announces `p` now.  Asked after `p` was replaced in
 * every shared pointer (and that was seen by this thread), false means
 * that no thread uses it or ever will again. */
bool hazard_announced(const void *p);

#endif
