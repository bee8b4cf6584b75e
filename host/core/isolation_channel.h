/*
 * The channel between the daemon and an isolated plugin's child process: a
 * connected AF_UNIX stream socketpair carrying framed messages.
 *
 *   frame   u32 length (of what follows), u8 type, payload
 *   payload fields in a fixed order per type: u8/u32/u64/i64 in native byte
 *           order (both ends are the same binary on the same machine), and
 *           strings as u32 length, the bytes, a NUL
 *
 * The channel is bounded twice: the kernel's socket buffer (a writer waits
 * when it is full) and `max_frame` (a larger frame is a protocol error and
 * ends the child).  Exactly one request is in flight per child: the daemon
 * sends CHAN_EVENTS (a batch of deliveries, in one frame) and reads one
 * CHAN_RESULT per delivery, serving the child's calls to the host (log,
 * counters, emit) met on the way.  The child keeps its answers until the
 * batch is done and sends them together (one send() per batch), earlier
 * when it sends anything else (a log line, a counter, an emit: the daemon
 * serves an emit for the first delivery it has no answer for) and from its
 * fatal-signal handler and exit() before it dies.  What the daemon cannot
 * learn from the answers when they were lost (SIGKILL, _exit()) it reads
 * from the progress page (chan_progress, below): which delivery the child
 * had in its hands when it died.  Each delivery carries a request id (consecutive from a random start per
 * child) that its answer repeats: an answer with another id, or a frame
 * the daemon did not expect, is a protocol error (a plugin writing to the
 * channel itself) and ends the child.
 *
 * Threads: a chan_in and a socket end are used by one thread at a time;
 * whoever owns the child slot (isolated_plugin.c) or the child's serving
 * thread (plugin_runner.c).  The child serialises its writes with a lock
 * because a plugin's own threads may log.
 */
#ifndef ES_ISOLATION_CHANNEL_H
#define ES_ISOLATION_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/yaml_tree.h"

/* The child's file descriptor for the channel as it starts (the runner
 * finds it there, then moves it to CHAN_CHILD_MOVED_FD or above and leaves
 * /dev/null at CHAN_CHILD_FD). */
#define CHAN_CHILD_FD 3
#define CHAN_CHILD_MOVED_FD 64
/* The child's file descriptor for the progress page (a memfd the daemon
 * made; the child maps it and closes the descriptor). */
#define CHAN_CHILD_PROGRESS_FD 4
#define CHAN_PROTOCOL_VERSION 5
/* A frame from the child is at most the event size limit plus this (the
 * name and fields of an emit, a log line, a counter's name); the child
 * refuses a call that would not fit rather than send it. */
#define CHAN_CHILD_FRAME_SLACK (64u << 10)

typedef enum chan_type {
	/* daemon -> child */
	CHAN_INIT = 1,        /* protocol, plugin path, service uid, name, log level+format, limits (frame from
	                       * the daemon, memory, open files, event size), config tree */
	CHAN_EVENTS = 2,      /* u32 count, u8 log level, then per delivery: u64 request id, id, name, source, time (and as
	                       * written), data (and whether any), redelivered, attributes (key, value, u8 type), attempt,
	                       * deadline, depth */
	CHAN_REOPEN = 3,      /* call reopen() */
	CHAN_SHUTDOWN = 4,    /* call shutdown() and exit */
	CHAN_EMIT_STATUS = 5, /* answer to CHAN_EMIT: u32 es_status */
	/* child -> daemon */
	CHAN_READY = 16,       /* init() returned ES_STATUS_OK */
	CHAN_INIT_FAILED = 17, /* str reason */
	CHAN_RESULT = 18,      /* u64 request id (the delivery's), u32 es_result, str reason: one per delivery of
	                        * CHAN_EVENTS, in order */
	CHAN_LOG = 19,         /* u8 level, str line */
	CHAN_COUNTER = 20,     /* str name, u64 delta */
	CHAN_EMIT = 21,        /* str name, u8 has_data, str data */
	CHAN_REOPENED = 22,    /* reopen() returned */
} chan_type;

/* The progress page, shared between the daemon and one child (a memfd of
 * one page, MAP_SHARED): the request id of the last delivery whose
 * handle() (or the handle_batch() call that held it) returned.  When the
 * child dies with answers unsent, the daemon knows from it which of the
 * unanswered deliveries ran (they go back to the queue: delivered again, at
 * least once) and which one was in the plugin's hands (the crash is that
 * event's).
 *
 * Ownership:
 *   - The daemon makes and maps it (isolated_plugin.c, make_progress_page)
 *     at a child slot's first start and keeps it with the slot for every
 *     child started in it; it unmaps it and closes the memfd in
 *     isolated_plugin_free(), once its children are reaped and no worker
 *     holds the slot.
 *   - Each child gets the memfd at CHAN_CHILD_PROGRESS_FD, maps it
 *     (plugin_runner.c, map_progress) and closes the descriptor; its
 *     mapping lasts as long as the process.  A child that cannot map it
 *     runs without it (the daemon then learns nothing from the page).
 *   - Writers: the daemon once per child, at its start and before any
 *     delivery (the id before the child's first: nothing returned); then
 *     only the child, as each delivery returns (note_returned(), release),
 *     before its answer is kept or sent.
 *   - Reader: the daemon only, after the child was reaped (acquire), so
 *     the value is the child's last (returned_count()).
 *   - Trust: the plugin's process can write anything there, so the daemon
 *     takes the id only when it names a delivery of the batch in flight
 *     that has no answer yet; any other value counts as nothing returned
 *     beyond the answers received. */
typedef struct chan_progress {
	_Atomic uint64_t returned_tag;
} chan_progress;

/* An outgoing message: a growable buffer with room for the frame head.
 * It may hold several frames (chan_msg_append), sent together.  A message
 * with `fixed` set never grows (a buffer of the caller's: building past
 * `cap` fails instead). */
typedef struct chan_msg {
	unsigned char *buf;
	size_t len, cap;
	size_t frame_at; /* where the last frame starts */
	bool failed; /* out of memory while building: do not send */
	bool fixed;
} chan_msg;

void chan_msg_begin(chan_msg *m, chan_type type);
/* Start another frame after those already in the message (the one before
 * is sealed); on an empty message the same as chan_msg_begin.  False when
 * it did not fit (the message is as before; `failed` is not set). */
bool chan_msg_append(chan_msg *m, chan_type type);
/* Write the length of the last frame into its head: the bytes up to
 * m->len are whole frames, ready for the wire. */
void chan_msg_seal(chan_msg *m);
void chan_put_u8(chan_msg *m, uint8_t v);
void chan_put_u32(chan_msg *m, uint32_t v);
void chan_put_u64(chan_msg *m, uint64_t v);
void chan_put_i64(chan_msg *m, int64_t v);
void chan_put_str(chan_msg *m, const char *s, size_t len);
void chan_put_cstr(chan_msg *m, const char *s); /* NULL is sent as "" */
/* A YAML tree (a plugin's `config:`), NULL as an absent tree. */
void chan_put_tree(chan_msg *m, const ynode *tree);
void chan_msg_free(chan_msg *m); /* a fixed message keeps its buffer (the caller's) */

/* Seal the last frame and send the whole message (every frame in it).  `deadline_us` (monotonic) bounds the wait for
 * buffer room; -1 waits as long as it takes.  0, or -1 with errno
 * (ETIMEDOUT, EPIPE, ENOMEM for a message that failed to build). */
int chan_send(int fd, chan_msg *m, int64_t deadline_us);

/* Reading one message's fields; any read past the end sets `bad`. */
typedef struct chan_cursor {
	const unsigned char *p, *end;
	bool bad;
} chan_cursor;

uint8_t chan_get_u8(chan_cursor *c);
uint32_t chan_get_u32(chan_cursor *c);
uint64_t chan_get_u64(chan_cursor *c);
int64_t chan_get_i64(chan_cursor *c);
/* The string in place (NUL-terminated, valid until the next chan_recv). */
const char *chan_get_str(chan_cursor *c, size_t *len);
/* A tree sent by chan_put_tree (NULL for an absent one, or on error: then
 * c->bad is set).  The caller owns it. */
ynode *chan_get_tree(chan_cursor *c);

/* An incoming stream: frames are read into `buf` as they come. */
typedef struct chan_in {
	int fd;
	unsigned char *buf;
	size_t start, len, cap; /* unread bytes are buf[start .. start+len) */
	size_t max_frame;
	/* Before sleeping in poll(), retry for this long, yielding the CPU
	 * between tries (0: sleep at once).  Under a steady stream the answer
	 * or the next event usually comes within microseconds, and a sleeping
	 * reader costs a wake-up per message: the worker pool's idle workers
	 * do the same (spin_for_work). */
	int64_t spin_us;
} chan_in;

void chan_in_init(chan_in *in, int fd, size_t max_frame);
void chan_in_free(chan_in *in);

typedef enum chan_recv_status {
	CHAN_RECV_OK = 0,
	CHAN_RECV_CLOSED = -1,   /* end of stream or a read error: the peer is gone */
	CHAN_RECV_TIMEOUT = -2,  /* nothing complete before the deadline */
	CHAN_RECV_TOO_BIG = -3,  /* a frame longer than max_frame: a protocol error */
	CHAN_RECV_NO_MEMORY = -4,
} chan_recv_status;

/* Wait until `deadline_us` (monotonic; -1: no deadline) for one complete
 * message; its type in *type and its fields in *payload. */
chan_recv_status chan_recv(chan_in *in, int64_t deadline_us, uint8_t *type, chan_cursor *payload);

#endif
