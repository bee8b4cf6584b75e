/* The Prometheus text helpers: HELP/TYPE lines and label values escaped as
 * the exposition format requires, and a label cut short never ends inside
 * an escape or without its closing quote. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "util/prom_text.h"

static char *text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_copyout(b, s, n);
	s[n] = '\0';
	return s;
}

static void header_lines_escape_the_help_text(void **state)
{
	struct evbuffer *b = evbuffer_new();
	prom_text_header(b, "x_total", "counter", "Plain help.");
	prom_text_header(b, "y", "gauge", "a\\b\nc \"quoted\"");
	char *s = text_of(b);
	assert_string_equal(s, "# HELP x_total Plain help.\n# TYPE x_total counter\n"
	                       "# HELP y a\\\\b\\nc \"quoted\"\n# TYPE y gauge\n");
	free(s);
	evbuffer_free(b);
}

static void label_values_are_escaped(void **state)
{
	char buf[64];
	assert_string_equal(prom_text_label(buf, sizeof buf, "plugin", "recorder"), "plugin=\"recorder\"");
	assert_string_equal(prom_text_label(buf, sizeof buf, "v", "a\"b\\c\nd"), "v=\"a\\\"b\\\\c\\nd\"");
	assert_string_equal(prom_text_label(buf, sizeof buf, "v", ""), "v=\"\"");
}

static void a_label_cut_short_stays_well_formed(void **state)
{
	char buf[9]; /* v="" and 4 bytes of value */
	assert_string_equal(prom_text_label(buf, sizeof buf, "v", "abcdefgh"), "v=\"abcd\"");
	assert_string_equal(prom_text_label(buf, sizeof buf, "v", "abc\"def"), "v=\"abc\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_lines_escape_the_help_text),
		cmocka_unit_test(label_values_are_escaped),
		cmocka_unit_test(a_label_cut_short_stays_well_formed),
	};
	return cmocka_run_group_tests_name("prom_text", tests, NULL, NULL);
}
