/* The SQL text the database threads build: time literals and their
 * parsing back, quoting, and a statement buffer that grows. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "db/db_conn.h"
#include "db/db_schema.h"

static void time_literals_are_utc_with_microseconds(void **state)
{
	sqlbuf b = {0};
	sqlbuf_add_time(&b, 1795600800123456LL); /* 2026-11-25T10:00:00.123456Z */
	assert_string_equal(b.data, "'2026-11-25 10:00:00.123456'");
	sqlbuf_free(&b);
}

static void datetimes_parse_back_to_the_same_instant(void **state)
{
	assert_int_equal(db_parse_time("2026-11-25 10:00:00.123456"), 1795600800123456LL);
	assert_int_equal(db_parse_time("2026-11-25 10:00:00.5"), 1795600800500000LL); /* short fractions */
	assert_int_equal(db_parse_time("2026-11-25 10:00:00"), 1795600800000000LL);
	assert_int_equal(db_parse_time("not a time"), 0);
	assert_int_equal(db_parse_time(NULL), 0);
	char iso[40];
	db_format_iso("2026-11-25 10:00:00.000001", iso);
	assert_string_equal(iso, "2026-11-25T10:00:00.000001Z");
}

static void strings_are_quoted_and_escaped(void **state)
{
	db_conn conn = {.mysql = mysql_init(NULL)};
	assert_non_null(conn.mysql);
	sqlbuf b = {0};
	sqlbuf_add_string(&b, &conn, "it's \"q\" \\ end", 14);
	assert_string_equal(b.data, "'it\\'s \\\"q\\\" \\\\ end'");
	sqlbuf_reset(&b);
	sqlbuf_add_string(&b, &conn, NULL, 0);
	assert_string_equal(b.data, "NULL");
	sqlbuf_free(&b);
	mysql_close(conn.mysql);
}

static void the_buffer_grows_past_any_first_size(void **state)
{
	sqlbuf b = {0};
	char big[10000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < 100; i++)
		sqlbuf_addf(&b, "%s,%d;", big, i);
	assert_false(b.failed);
	assert_int_equal(b.len, 100 * (sizeof big - 1 + 2) + 10 * 1 + 90 * 2); /* "<big>,<i>;" */
	assert_int_equal(strlen(b.data), b.len);
	sqlbuf_free(&b);
}

static void migrations_are_compiled_in_order(void **state)
{
	assert_true(db_migration_count >= 2);
	for (size_t i = 0; i < db_migration_count; i++) {
		assert_int_equal(db_migrations[i].version, i + 1); /* 0001, 0002, ...: no gaps */
		assert_non_null(strstr(db_migrations[i].sql, ";\n"));
	}
	assert_int_equal(db_schema_wanted(), db_migration_count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time_literals_are_utc_with_microseconds),
		cmocka_unit_test(datetimes_parse_back_to_the_same_instant),
		cmocka_unit_test(strings_are_quoted_and_escaped),
		cmocka_unit_test(the_buffer_grows_past_any_first_size),
		cmocka_unit_test(migrations_are_compiled_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
