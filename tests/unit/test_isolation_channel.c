/* The isolated-plugin channel: frames and fields survive a real
 * socketpair, a plugin's config tree arrives identical, and what a broken
 * or hostile peer sends (an oversized frame, a short payload, a lying
 * count) is refused, never read past. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/isolation_channel.h"
#include "util/clock.h"
#include "util/yaml_tree.h"

static void fields_and_tree_round_trip(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	const char *yaml = "url: 'http://x'\nretries: 3\nquoted: \"7\"\nlist: [a, b]\nnested: {deep: {x: true}}\n";
	char err[200];
	ynode *tree = yaml_tree_parse_string(yaml, strlen(yaml), err, sizeof err);
	assert_non_null(tree);
	chan_msg m = {0};
	chan_msg_begin(&m, CHAN_EVENTS);
	chan_put_cstr(&m, "id-1");
	chan_put_str(&m, "a\0b", 3); /* lengths, not NULs, delimit */
	chan_put_i64(&m, -42);
	chan_put_u64(&m, UINT64_MAX);
	chan_put_tree(&m, tree);
	chan_put_tree(&m, NULL);
	assert_int_equal(chan_send(sv[0], &m, -1), 0);
	chan_msg_free(&m);

	chan_in in;
	chan_in_init(&in, sv[1], 1 << 20);
	uint8_t type;
	chan_cursor c;
	assert_int_equal(chan_recv(&in, clock_monotonic_us() + 1000000, &type, &c), CHAN_RECV_OK);
	assert_int_equal(type, CHAN_EVENTS);
	assert_string_equal(chan_get_str(&c, NULL), "id-1");
	size_t len;
	const char *bin = chan_get_str(&c, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(bin, "a\0b", 3);
	assert_int_equal(chan_get_i64(&c), -42);
	assert_true(chan_get_u64(&c) == UINT64_MAX);
	ynode *back = chan_get_tree(&c);
	assert_non_null(back);
	assert_true(ynode_equal(tree, back));
	assert_true(ynode_get(back, "quoted")->quoted); /* config_int refuses a quoted number */
	assert_null(chan_get_tree(&c));
	assert_false(c.bad);
	(void)chan_get_u8(&c); /* past the end */
	assert_true(c.bad);
	ynode_free(back);
	ynode_free(tree);
	chan_in_free(&in);
	close(sv[0]);
	close(sv[1]);
}

/* Answers kept together (the child's batch of CHAN_RESULT frames) go out
 * in one send and are read back one frame at a time, in order; a message
 * in a fixed buffer refuses to grow instead of reallocating it, keeping
 * the frames already in it whole. */
static void several_frames_in_one_message(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	unsigned char space[64];
	chan_msg m = {.buf = space, .cap = sizeof space, .fixed = true};
	size_t whole = 0;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < 10; i++) {
		size_t before = m.len, frame_before = m.frame_at;
		if (chan_msg_append(&m, CHAN_RESULT)) {
			chan_put_u64(&m, 100 + i);
			chan_put_cstr(&m, "ok");
		}
		if (m.failed || m.len == before) { /* full: take the partial frame back */
			m.len = before;
			m.frame_at = frame_before;
			m.failed = false;
			break;
		}
		chan_msg_seal(&m);
		whole = m.len;
		kept++;
	}
	assert_true(kept >= 2 && kept < 10); /* 20 bytes a frame in 64 */
	assert_int_equal(m.len, whole);
	assert_int_equal(chan_send(sv[0], &m, -1), 0);
	chan_msg_free(&m); /* a fixed buffer is the caller's: not freed */

	chan_in in;
	chan_in_init(&in, sv[1], 1024);
	for (uint32_t i = 0; i < kept; i++) {
		uint8_t type = 0;
		chan_cursor c;
		assert_int_equal(chan_recv(&in, clock_monotonic_us() + 1000000, &type, &c), CHAN_RECV_OK);
		assert_int_equal(type, CHAN_RESULT);
		assert_int_equal(chan_get_u64(&c), 100 + i);
		assert_string_equal(chan_get_str(&c, NULL), "ok");
		assert_false(c.bad);
		assert_true(c.p == c.end);
	}
	uint8_t type;
	chan_cursor c;
	assert_int_equal(chan_recv(&in, clock_monotonic_us() + 10000, &type, &c), CHAN_RECV_TIMEOUT);
	chan_in_free(&in);
	close(sv[0]);
	close(sv[1]);
}

static void oversized_and_short_frames_are_refused(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	chan_in in;
	chan_in_init(&in, sv[1], 64);
	chan_msg m = {0};
	chan_msg_begin(&m, CHAN_LOG);
	char big[100];
	memset(big, 'x', sizeof big);
	chan_put_str(&m, big, sizeof big);
	assert_int_equal(chan_send(sv[0], &m, -1), 0);
	uint8_t type;
	chan_cursor c;
	assert_int_equal(chan_recv(&in, clock_monotonic_us() + 1000000, &type, &c), CHAN_RECV_TOO_BIG);
	chan_in_free(&in);

	/* a string whose length runs past the payload, a count that lies */
	chan_in_init(&in, sv[1], 1 << 20);
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	in.fd = sv[1];
	chan_msg_begin(&m, CHAN_LOG);
	chan_put_u32(&m, 1000);
	chan_put_u8(&m, 'x');
	assert_int_equal(chan_send(sv[0], &m, -1), 0);
	assert_int_equal(chan_recv(&in, clock_monotonic_us() + 1000000, &type, &c), CHAN_RECV_OK);
	chan_get_str(&c, NULL);
	assert_true(c.bad);
	chan_msg_begin(&m, CHAN_INIT);
	chan_put_u8(&m, YNODE_MAP);
	chan_put_u8(&m, 0);
	chan_put_cstr(&m, "");
	chan_put_u32(&m, 1u << 30);
	assert_int_equal(chan_send(sv[0], &m, -1), 0);
	assert_int_equal(chan_recv(&in, clock_monotonic_us() + 1000000, &type, &c), CHAN_RECV_OK);
	assert_null(chan_get_tree(&c));
	assert_true(c.bad);
	chan_msg_free(&m);

	/* nothing sent: the deadline ends the wait; the peer gone: closed */
	int64_t t0 = clock_monotonic_us();
	assert_int_equal(chan_recv(&in, t0 + 50000, &type, &c), CHAN_RECV_TIMEOUT);
	assert_true(clock_monotonic_us() - t0 >= 50000);
	close(sv[0]);
	assert_int_equal(chan_recv(&in, clock_monotonic_us() + 1000000, &type, &c), CHAN_RECV_CLOSED);
	chan_in_free(&in);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fields_and_tree_round_trip),
		cmocka_unit_test(several_frames_in_one_message),
		cmocka_unit_test(oversized_and_short_frames_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
