/* Events: names, ids, one-allocation copies, the JSON form. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "event.h"

static void name_grammar(void **state)
{
	char err[256];
	assert_true(event_name_valid("order.created", 13, err, sizeof err));
	assert_true(event_name_valid("A_b-9", 5, err, sizeof err));
	assert_false(event_name_valid("", 0, err, sizeof err));
	assert_false(event_name_valid("a..b", 4, err, sizeof err));
	assert_non_null(strstr(err, "empty segment"));
	assert_false(event_name_valid("a.", 2, err, sizeof err));
	assert_false(event_name_valid("a b", 3, err, sizeof err));
	assert_non_null(strstr(err, "byte 1"));
	char long_name[300];
	memset(long_name, 'a', sizeof long_name);
	assert_false(event_name_valid(long_name, sizeof long_name, err, sizeof err));
	assert_true(event_name_valid(long_name, EVENT_NAME_MAX, err, sizeof err));
}

static void generated_ids_are_version_4_uuids_and_differ(void **state)
{
	char a[37], b[37];
	event_make_uuid(a);
	event_make_uuid(b);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
	assert_string_not_equal(a, b);
}

static void event_copies_its_fields_and_serialises(void **state)
{
	char name[] = "order.created";
	char data[] = "{\"total\":12.5}";
	event_attribute attrs[] = {{"tenant", "acme"}};
	event_fields f = {.id = "ev-1", .name = name, .source = "shop", .time_us = 1704110400000000LL, .data = data,
	                  .data_len = strlen(data), .attributes = attrs, .attribute_count = 1};
	es_event *e = event_create(&f);
	name[0] = 'X'; /* the event has its own copy */
	data[0] = 'X';
	assert_string_equal(e->name, "order.created");
	assert_string_equal(e->data, "{\"total\":12.5}");
	assert_string_equal(e->attributes[0].value, "acme");
	size_t len;
	const char *json = event_json(e, &len);
	assert_string_equal(json, "{\"id\":\"ev-1\",\"name\":\"order.created\",\"source\":\"shop\","
	                          "\"time\":\"2024-01-01T12:00:00.000000Z\",\"data\":{\"total\":12.5},"
	                          "\"attributes\":{\"tenant\":\"acme\"}}");
	assert_int_equal(len, strlen(json));
	assert_ptr_equal(event_json(e, NULL), json); /* built once */
	event_ref(e);
	event_unref(e);
	event_unref(e);
}

static void event_without_data_has_null_data(void **state)
{
	event_fields f = {.name = "ping"};
	es_event *e = event_create(&f);
	assert_string_equal(e->data, "null");
	assert_int_equal(strlen(e->id), 36);
	event_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(name_grammar),
		cmocka_unit_test(generated_ids_are_version_4_uuids_and_differ),
		cmocka_unit_test(event_copies_its_fields_and_serialises),
		cmocka_unit_test(event_without_data_has_null_data),
	};
	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
