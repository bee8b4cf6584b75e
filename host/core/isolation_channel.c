/*
 * Framing and field encoding of the isolated-plugin channel; see the header.
 */
#include "config.h"

#include "core/isolation_channel.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/clock.h"

#define FRAME_HEAD 5 /* u32 length + u8 type */
#define TREE_MAX_DEPTH 64

/* ---- building ---- */

static bool reserve(chan_msg *m, size_t more)
{
	if (m->failed)
		return false;
	if (m->len + more <= m->cap)
		return true;
	if (m->fixed) {
		m->failed = true;
		return false;
	}
	size_t cap = m->cap ? m->cap : 256;
	while (cap < m->len + more)
		cap *= 2;
	unsigned char *b = realloc(m->buf, cap);
	if (!b) {
		m->failed = true;
		return false;
	}
	m->buf = b;
	m->cap = cap;
	return true;
}

static void put(chan_msg *m, const void *p, size_t n)
{
	if (reserve(m, n)) {
		memcpy(m->buf + m->len, p, n);
		m->len += n;
	}
}

void chan_msg_begin(chan_msg *m, chan_type type)
{
	m->len = 0;
	m->frame_at = 0;
	m->failed = false;
	if (reserve(m, FRAME_HEAD)) {
		m->buf[4] = (unsigned char)type;
		m->len = FRAME_HEAD;
	}
}

void chan_msg_seal(chan_msg *m)
{
	if (m->failed || m->len < m->frame_at + FRAME_HEAD || m->len - m->frame_at - 4 > UINT32_MAX)
		return;
	uint32_t frame_len = (uint32_t)(m->len - m->frame_at - 4);
	memcpy(m->buf + m->frame_at, &frame_len, 4);
}

bool chan_msg_append(chan_msg *m, chan_type type)
{
	if (m->len == 0) {
		chan_msg_begin(m, type);
		return !m->failed;
	}
	if (m->failed)
		return false;
	chan_msg_seal(m);
	if (!reserve(m, FRAME_HEAD)) {
		m->failed = false; /* what is there is whole */
		return false;
	}
	m->frame_at = m->len;
	m->buf[m->len + 4] = (unsigned char)type;
	m->len += FRAME_HEAD;
	return true;
}

void chan_put_u8(chan_msg *m, uint8_t v)
{
	put(m, &v, sizeof v);
}

void chan_put_u32(chan_msg *m, uint32_t v)
{
	put(m, &v, sizeof v);
}

void chan_put_u64(chan_msg *m, uint64_t v)
{
	put(m, &v, sizeof v);
}

void chan_put_i64(chan_msg *m, int64_t v)
{
	put(m, &v, sizeof v);
}

void chan_put_str(chan_msg *m, const char *s, size_t len)
{
	if (len > UINT32_MAX - 1) {
		m->failed = true;
		return;
	}
	chan_put_u32(m, (uint32_t)len);
	if (len)
		put(m, s, len);
	chan_put_u8(m, 0);
}

void chan_put_cstr(chan_msg *m, const char *s)
{
	chan_put_str(m, s ? s : "", s ? strlen(s) : 0);
}

/* A node: u8 kind (0xff: absent), u8 quoted, str scalar, u32 count, then
 * per item (str key for maps) and the item. */
void chan_put_tree(chan_msg *m, const ynode *n)
{
	if (!n) {
		chan_put_u8(m, 0xff);
		return;
	}
	chan_put_u8(m, (uint8_t)n->kind);
	chan_put_u8(m, n->quoted);
	chan_put_cstr(m, n->scalar);
	chan_put_u32(m, n->kind == YNODE_SCALAR ? 0 : (uint32_t)n->count);
	if (n->kind == YNODE_SCALAR)
		return;
	for (size_t i = 0; i < n->count; i++) {
		if (n->kind == YNODE_MAP)
			chan_put_cstr(m, n->keys[i]);
		chan_put_tree(m, n->items[i]);
	}
}

void chan_msg_free(chan_msg *m)
{
	if (m->fixed)
		return;
	free(m->buf);
	*m = (chan_msg){0};
}

/* Wait for `events` on fd until deadline_us (-1: forever).  1 ready, 0
 * timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline_us)
{
	for (;;) {
		int timeout_ms = -1;
		if (deadline_us >= 0) {
			int64_t left = deadline_us - clock_monotonic_us();
			if (left <= 0)
				return 0;
			timeout_ms = (int)((left + 999) / 1000);
		}
		struct pollfd pfd = {.fd = fd, .events = events};
		int rc = poll(&pfd, 1, timeout_ms);
		if (rc > 0)
			return 1;
		if (rc == 0)
			continue; /* re-check the deadline (poll rounds) */
		if (errno != EINTR)
			return -1;
	}
}

int chan_send(int fd, chan_msg *m, int64_t deadline_us)
{
	if (m->failed || m->len < m->frame_at + FRAME_HEAD || m->len - m->frame_at - 4 > UINT32_MAX) {
		errno = ENOMEM;
		return -1;
	}
	chan_msg_seal(m);
	size_t off = 0;
	while (off < m->len) {
		ssize_t n = send(fd, m->buf + off, m->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(fd, POLLOUT, deadline_us);
			if (w == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (w < 0)
				return -1;
			continue;
		}
		if (n == 0)
			errno = EPIPE;
		return -1;
	}
	return 0;
}

/* ---- reading fields ---- */

static bool take(chan_cursor *c, void *out, size_t n)
{
	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		memset(out, 0, n);
		return false;
	}
	memcpy(out, c->p, n);
	c->p += n;
	return true;
}

uint8_t chan_get_u8(chan_cursor *c)
{
	uint8_t v;
	take(c, &v, sizeof v);
	return v;
}

uint32_t chan_get_u32(chan_cursor *c)
{
	uint32_t v;
	take(c, &v, sizeof v);
	return v;
}

uint64_t chan_get_u64(chan_cursor *c)
{
	uint64_t v;
	take(c, &v, sizeof v);
	return v;
}

int64_t chan_get_i64(chan_cursor *c)
{
	int64_t v;
	take(c, &v, sizeof v);
	return v;
}

const char *chan_get_str(chan_cursor *c, size_t *len)
{
	uint32_t n = chan_get_u32(c);
	if (c->bad || (size_t)(c->end - c->p) < (size_t)n + 1 || c->p[n] != '\0') {
		c->bad = true;
		if (len)
			*len = 0;
		return "";
	}
	const char *s = (const char *)c->p;
	c->p += (size_t)n + 1;
	if (len)
		*len = n;
	return s;
}

static ynode *get_tree(chan_cursor *c, int depth)
{
	uint8_t kind = chan_get_u8(c);
	if (c->bad || kind == 0xff)
		return NULL;
	if (depth > TREE_MAX_DEPTH || (kind != YNODE_SCALAR && kind != YNODE_MAP && kind != YNODE_LIST)) {
		c->bad = true;
		return NULL;
	}
	ynode *n = calloc(1, sizeof *n);
	if (!n) {
		c->bad = true;
		return NULL;
	}
	n->kind = (ynode_kind)kind;
	n->quoted = chan_get_u8(c) != 0;
	const char *scalar = chan_get_str(c, NULL);
	uint32_t count = chan_get_u32(c);
	if (c->bad || (kind == YNODE_SCALAR && !(n->scalar = strdup(scalar))))
		goto out_bad;
	if (kind == YNODE_SCALAR)
		return n;
	/* each item takes at least one byte: a count beyond the rest is a lie */
	if (count > (size_t)(c->end - c->p))
		goto out_bad;
	size_t cap = count ? count : 1;
	n->items = calloc(cap, sizeof *n->items);
	if (kind == YNODE_MAP) {
		n->keys = calloc(cap, sizeof *n->keys);
		n->key_lines = calloc(cap, sizeof *n->key_lines);
		n->key_columns = calloc(cap, sizeof *n->key_columns);
	}
	if (!n->items || (kind == YNODE_MAP && (!n->keys || !n->key_lines || !n->key_columns)))
		goto out_bad;
	for (uint32_t i = 0; i < count; i++) {
		if (kind == YNODE_MAP && !(n->keys[i] = strdup(chan_get_str(c, NULL))))
			goto out_bad;
		n->items[i] = get_tree(c, depth + 1);
		n->count++;
		if (c->bad || !n->items[i])
			goto out_bad;
	}
	return n;
out_bad:
	c->bad = true;
	ynode_free(n);
	return NULL;
}

ynode *chan_get_tree(chan_cursor *c)
{
	return get_tree(c, 0);
}

/* ---- reading frames ---- */

void chan_in_init(chan_in *in, int fd, size_t max_frame)
{
	*in = (chan_in){.fd = fd, .max_frame = max_frame};
}

void chan_in_free(chan_in *in)
{
	free(in->buf);
	in->buf = NULL;
	in->start = in->len = in->cap = 0;
}

/* Room for `need` bytes from in->start on, moving the unread bytes to the
 * front first. */
static bool make_room(chan_in *in, size_t need)
{
	if (in->start && in->start + need > in->cap) {
		memmove(in->buf, in->buf + in->start, in->len);
		in->start = 0;
	}
	if (need <= in->cap)
		return true;
	size_t cap = in->cap ? in->cap : 4096;
	while (cap < need)
		cap *= 2;
	unsigned char *b = realloc(in->buf, cap);
	if (!b)
		return false;
	in->buf = b;
	in->cap = cap;
	return true;
}

chan_recv_status chan_recv(chan_in *in, int64_t deadline_us, uint8_t *type, chan_cursor *payload)
{
	int64_t spin_until = in->spin_us > 0 ? clock_monotonic_us() + in->spin_us : 0;
	/* The previous message is consumed once the caller asks for the next. */
	for (;;) {
		if (in->len >= FRAME_HEAD) {
			uint32_t frame_len;
			memcpy(&frame_len, in->buf + in->start, 4);
			if (frame_len < 1 || frame_len > in->max_frame)
				return CHAN_RECV_TOO_BIG;
			size_t total = 4 + (size_t)frame_len;
			if (in->len >= total) {
				*type = in->buf[in->start + 4];
				payload->p = in->buf + in->start + FRAME_HEAD;
				payload->end = in->buf + in->start + total;
				payload->bad = false;
				in->start += total;
				in->len -= total;
				if (in->len == 0)
					in->start = 0;
				return CHAN_RECV_OK;
			}
			if (!make_room(in, total))
				return CHAN_RECV_NO_MEMORY;
		} else if (!make_room(in, 4096)) {
			return CHAN_RECV_NO_MEMORY;
		}
		/* Read what is there (at least the rest of this frame's head). */
		if (in->start + in->len == in->cap && !make_room(in, in->len + 4096))
			return CHAN_RECV_NO_MEMORY;
		ssize_t n = recv(in->fd, in->buf + in->start + in->len, in->cap - in->start - in->len, MSG_DONTWAIT);
		if (n > 0) {
			in->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return CHAN_RECV_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return CHAN_RECV_CLOSED;
		if (spin_until && clock_monotonic_us() < spin_until &&
		    (deadline_us < 0 || clock_monotonic_us() < deadline_us)) {
			sched_yield();
			continue;
		}
		int w = wait_fd(in->fd, POLLIN, deadline_us);
		if (w == 0)
			return CHAN_RECV_TIMEOUT;
		if (w < 0)
			return CHAN_RECV_CLOSED;
	}
}
