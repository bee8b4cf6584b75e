/* Events: names, ids, one-allocation copies, the JSON form. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "model/es_event.h"
#include "util/rfc3339.h"

static void name_grammar(void **state)
{
	char err[256];
	assert_true(es_event_name_valid("order.created", 13, err, sizeof err));
	assert_true(es_event_name_valid("A_b-9", 5, err, sizeof err));
	assert_false(es_event_name_valid("", 0, err, sizeof err));
	assert_false(es_event_name_valid("a..b", 4, err, sizeof err));
	assert_non_null(strstr(err, "empty segment"));
	assert_false(es_event_name_valid("a.", 2, err, sizeof err));
	assert_false(es_event_name_valid("a b", 3, err, sizeof err));
	assert_non_null(strstr(err, "byte 1"));
	char long_name[300];
	memset(long_name, 'a', sizeof long_name);
	assert_false(es_event_name_valid(long_name, sizeof long_name, err, sizeof err));
	assert_true(es_event_name_valid(long_name, EVENT_NAME_MAX, err, sizeof err));
}

static void generated_ids_are_version_4_uuids_and_differ(void **state)
{
	char a[37], b[37];
	es_event_make_uuid(a);
	es_event_make_uuid(b);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
	assert_string_not_equal(a, b);
	/* every digit at every random place, lower-case hex only, the dashes
	 * and the version and variant digits where RFC 9562 puts them */
	bool seen[36][16] = {{false}};
	for (int n = 0; n < 20000; n++) {
		es_event_make_uuid(a);
		assert_int_equal(strlen(a), 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23) {
				assert_int_equal(a[i], '-');
				continue;
			}
			const char *digit = strchr("0123456789abcdef", a[i]);
			if (!digit || !a[i])
				fail_msg("%s: '%c' at %d is not a lower-case hex digit", a, a[i], i);
			seen[i][digit - "0123456789abcdef"] = true;
		}
		assert_int_equal(a[14], '4');
		assert_true(strchr("89ab", a[19]) != NULL);
	}
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23 || i == 14 || i == 19)
			continue;
		for (int d = 0; d < 16; d++)
			if (!seen[i][d])
				fail_msg("digit %x never at place %d in 20000 ids", d, i);
	}
}

static void event_copies_its_fields_and_serialises(void **state)
{
	char name[] = "order.created";
	char data[] = "{\"total\":12.5}";
	es_event_attribute attrs[] = {{"tenant", "acme", ES_ATTRIBUTE_STRING}};
	es_event_fields f = {.id = "ev-1", .name = name, .source = "shop", .time_us = 1704110400000000LL, .has_time = true, .data = data,
	                  .data_len = strlen(data), .attributes = attrs, .attribute_count = 1};
	es_event *e = es_event_create(&f);
	name[0] = 'X'; /* the event has its own copy */
	data[0] = 'X';
	assert_string_equal(e->name, "order.created");
	assert_string_equal(e->data, "{\"total\":12.5}");
	assert_string_equal(e->attributes[0].value, "acme");
	size_t len;
	const char *json = es_event_json(e, &len);
	assert_string_equal(json, "{\"id\":\"ev-1\",\"name\":\"order.created\",\"source\":\"shop\","
	                          "\"time\":\"2024-01-01T12:00:00.000000Z\",\"data\":{\"total\":12.5},"
	                          "\"attributes\":{\"tenant\":\"acme\"}}");
	assert_int_equal(len, strlen(json));
	assert_ptr_equal(es_event_json(e, NULL), json); /* built once */
	es_event_ref(e);
	es_event_unref(e);
	es_event_unref(e);
}

static void event_without_data_has_null_data(void **state)
{
	es_event_fields f = {.name = "ping"};
	es_event *e = es_event_create(&f);
	assert_string_equal(e->data, "null");
	assert_int_equal(strlen(e->id), 36);
	es_event_unref(e);
}

/* A client's time is kept whatever it is: 0 is 1970-01-01T00:00:00Z (it
 * was taken for "no time" and replaced by the receive time). */
static void the_epoch_is_a_time_like_any_other(void **state)
{
	es_event_fields f = {.name = "ping", .time_us = 0, .has_time = true};
	es_event *e = es_event_create(&f);
	assert_int_equal(e->time_us, 0);
	assert_non_null(strstr(es_event_json(e, NULL), "\"time\":\"1970-01-01T00:00:00.000000Z\""));
	es_event_unref(e);
	es_event_fields now = {.name = "ping"};
	e = es_event_create(&now);
	assert_true(e->time_us > 1700000000000000LL);
	es_event_unref(e);
}

/* Times before 1970 and the calendar edges print as RFC 3339. */
static void times_print_as_rfc_3339(void **state)
{
	struct {
		const char *in, *out;
	} cases[] = {
	        {"1969-07-20T20:17:40.5Z", "1969-07-20T20:17:40.500000Z"},
	        {"1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"},
	        {"0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"},
	        {"9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999999Z"},
	        {"2024-02-29T12:00:00+01:00", "2024-02-29T11:00:00.000000Z"},
	        {"2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000000Z"},
	        {"1970-01-01T00:00:00.0000009Z", "1970-01-01T00:00:00.000000Z"}, /* sub-microsecond digits dropped */
	        {"1969-12-31T23:59:59.9999999Z", "1969-12-31T23:59:59.999999Z"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t us;
		char out[40];
		if (!rfc3339_parse(cases[i].in, &us))
			fail_msg("refused %s", cases[i].in);
		es_event_format_time(us, out);
		assert_string_equal(out, cases[i].out);
	}
}

static void calendar_invalid_times_are_refused(void **state)
{
	const char *bad[] = {"2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
	                     "2024-04-31T00:00:00Z", "2024-01-01T23:59:60Z", "0000-01-01T00:00:00Z",
	                     "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "2024-01-01T24:00:00Z",
	                     "2024-1-01T00:00:00Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00Z", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t us;
		if (rfc3339_parse(bad[i], &us))
			fail_msg("accepted %s", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(name_grammar),
		cmocka_unit_test(generated_ids_are_version_4_uuids_and_differ),
		cmocka_unit_test(event_copies_its_fields_and_serialises),
		cmocka_unit_test(event_without_data_has_null_data),
		cmocka_unit_test(the_epoch_is_a_time_like_any_other),
		cmocka_unit_test(times_print_as_rfc_3339),
		cmocka_unit_test(calendar_invalid_times_are_refused),
	};
	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
