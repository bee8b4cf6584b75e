/*
 * The request gate's reader of chunked bodies (RFC 9112 section 7.1).
 *
 * evhttp de-chunks leniently, and each leniency is a body that a proxy in
 * front may frame otherwise (request smuggling) or bytes the gate never
 * checked:
 * - a chunk size is read with strtoll(), so " 5", "+5" and "0x5" are 5, and
 *   anything after a space is ignored ("5 junk");
 * - the line end after a chunk's data is not required ("5\r\nhello0\r\n"
 *   ends the body), and empty lines between chunks are skipped;
 * - fields after the last chunk (trailers) are added to the request's
 *   headers, unseen by the head's checks: a NUL in one cut its value, so
 *   "ce-id: a<NUL>b" reached plugins as the id "a";
 * - a chunk extension (";name=value"), an unreadable size and a body beyond
 *   its limit are all answered with an HTML 413 and logged nowhere.
 * The gate reads each chunked body's framing as it arrives, before evhttp
 * does, and refuses in JSON (and closes) a size that is not 1-16 hex
 * digits, an extension, data not followed by its line end, and a trailer
 * field (400), and chunks beyond evhttp's body limit (413).  Chunk data
 * is skipped, never copied.
 */
#include "config.h"

#include <string.h>

#include "http/http_gate_internal.h"
#include "util/percent.h"

/* The longest chunk size line read: 16 hex digits (a 64-bit size) and
 * room to tell what follows them. */
#define CHUNK_LINE_MAX 32

static const char *const WHILE_BODY = "while its chunked body was read";

void gate_chunks_start(gate_conn *gc)
{
	gc->phase = GATE_CHUNKS;
	gc->chunk = CHUNK_SIZE;
	gc->chunk_left = 0;
	gc->body_size = 0;
}

/* The next line of the body, at gc->examined, into line (NUL-terminated,
 * its CR cut; evhttp reads a bare LF as a line end too): true when it is
 * complete.  A line longer than CHUNK_LINE_MAX is refused: nothing this
 * reader accepts is that long. */
static bool take_line(gate_conn *gc, struct evbuffer *input, char line[CHUNK_LINE_MAX + 2], size_t *len)
{
	struct evbuffer_ptr from;
	if (evbuffer_ptr_set(input, &from, gc->examined, EVBUFFER_PTR_SET) != 0)
		return false;
	ev_ssize_t got = evbuffer_copyout_from(input, &from, line, CHUNK_LINE_MAX + 1);
	if (got <= 0)
		return false;
	const char *lf = memchr(line, '\n', (size_t)got);
	if (!lf) {
		if (got > CHUNK_LINE_MAX)
			gate_refuse(gc, input, 400, WHILE_BODY,
			            "a line of the chunked body is over %d bytes: a chunk size is 1 to 16 hex digits",
			            CHUNK_LINE_MAX);
		return false;
	}
	size_t n = (size_t)(lf - line);
	gc->examined += n + 1;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	*len = n;
	return true;
}

/* A chunk size line: 1-16 hex digits and nothing else.  Sets *size, or
 * refuses and returns false. */
static bool read_size(gate_conn *gc, struct evbuffer *input, const char *line, size_t len, uint64_t *size)
{
	size_t digits = strspn(line, "0123456789abcdefABCDEF");
	if (digits > 0 && digits < len && line[digits] == ';') {
		gate_refuse(gc, input, 400, WHILE_BODY,
		            "a chunk extension (';' after a chunk's size): this server reads none; send the size alone");
		return false;
	}
	if (digits == 0 || digits != len || digits > 16) {
		gate_refuse(gc, input, 400, WHILE_BODY,
		            "a chunk size must be 1 to 16 hex digits alone on its line (no sign, '0x', spaces or an "
		            "empty line)");
		return false;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++)
		v = v << 4 | (uint64_t)percent_hex_value(line[i]);
	*size = v;
	return true;
}

/* After the last chunk: the line end that ends the body (CRLF or a bare
 * LF), at gc->examined, `have` bytes in the input.  Anything else is a
 * trailer field, refused at its first byte: evhttp would add it to the
 * request's headers. */
static void read_body_end(gate_conn *gc, struct evbuffer *input, size_t have)
{
	char end[2];
	struct evbuffer_ptr from;
	size_t n = have - gc->examined < 2 ? have - gc->examined : 2;
	if (evbuffer_ptr_set(input, &from, gc->examined, EVBUFFER_PTR_SET) != 0 ||
	    evbuffer_copyout_from(input, &from, end, n) != (ev_ssize_t)n)
		return;
	if (end[0] == '\n' || (n == 2 && end[0] == '\r' && end[1] == '\n')) {
		gc->examined += end[0] == '\n' ? 1 : 2;
		/* the body is whole: what follows is the next head, read once
		 * evhttp has read this request */
		gate_wait_for_request_read(gc, input);
		return;
	}
	if (end[0] == '\r' && n == 1) {
		/* its LF is still to come.  evhttp counts the bytes after the
		 * last chunk with the head's, against the same limit, and answers
		 * an HTML 413 past it: a head of exactly HTTP_MAX_HEAD_SIZE has
		 * no room for this CR. */
		if (gc->head_size >= HTTP_MAX_HEAD_SIZE)
			gate_refuse(gc, input, 431, WHILE_BODY,
			            "the request head is %zu bytes, and this server counts the line end after the last chunk "
			            "with it: at most %d (send the last chunk's line ends in one piece, or a smaller head)",
			            gc->head_size, HTTP_MAX_HEAD_SIZE);
		return;
	}
	gate_refuse(gc, input, 400, WHILE_BODY,
	            "a field after the last chunk (a trailer): this server reads none; send every field in the head");
}

void gate_read_chunks(gate_conn *gc, struct evbuffer *input)
{
	char line[CHUNK_LINE_MAX + 2];
	size_t len;
	while (gc->phase == GATE_CHUNKS) {
		size_t have = evbuffer_get_length(input);
		if (gc->examined >= have)
			return;
		if (gc->chunk == CHUNK_DATA) {
			size_t arrived = have - gc->examined;
			size_t skip = gc->chunk_left < arrived ? (size_t)gc->chunk_left : arrived;
			gc->examined += skip;
			gc->chunk_left -= skip;
			if (gc->chunk_left == 0)
				gc->chunk = CHUNK_DATA_END;
			continue;
		}
		if (gc->chunk == CHUNK_TRAILER) {
			read_body_end(gc, input, have);
			return;
		}
		if (!take_line(gc, input, line, &len))
			return;
		switch (gc->chunk) {
		case CHUNK_SIZE: {
			uint64_t size;
			if (!read_size(gc, input, line, len, &size))
				return;
			/* evhttp's own test, which it answers with an HTML 413 */
			if (size > gc->gate->max_body_size - gc->body_size) {
				gate_refuse(gc, input, 413, WHILE_BODY,
				            "the chunked body is over %llu bytes, the most this server reads "
				            "(event.max_event_size is %zu)",
				            (unsigned long long)gc->gate->max_body_size, gc->gate->max_event_size);
				return;
			}
			gc->body_size += size;
			gc->chunk_left = size;
			gc->chunk = size > 0 ? CHUNK_DATA : CHUNK_TRAILER;
			break;
		}
		case CHUNK_DATA_END:
			if (len > 0) {
				gate_refuse(gc, input, 400, WHILE_BODY,
				            "a chunk's data is longer than its size, or not followed by a line end (CRLF)");
				return;
			}
			gc->chunk = CHUNK_SIZE;
			break;
		case CHUNK_TRAILER:
		case CHUNK_DATA:
			break;
		}
	}
}
