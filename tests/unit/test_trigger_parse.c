/* Trigger request bodies: what is accepted, and the error for each mistake. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "model/trigger_parse.h"
#include "../fuzz/trigger_agree.h"

static void expect_error(const char *body, const char *needle)
{
	trigger_parsed p;
	char err[256] = "";
	int status = trigger_parse(body, strlen(body), &p, err, sizeof err);
	trigger_parsed_free(&p);
	if (status != 400 || !strstr(err, needle))
		fail_msg("body %s: status %d, message '%s' (wanted '%s')", body, status, err, needle);
	if (trigger_readings_differ(body, strlen(body)))
		fail_msg("body %s: read differently without a tree", body);
}

static char *repeat(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = '\0';
	return out;
}

/* The members read from the checked text (no tree) give what the tree
 * gives, answers and fields, at every edge of what is read that way. */
static void both_readings_agree(void **state)
{
	static const char *bodies[] = {
		"{\"name\":\"a\"}",
		" { \"name\" : \"a.b\" , \"data\" : null } ",
		"{\"name\":\"a\",\"data\":{\"x\":[1,2,{\"y\":\"\\u00e9\"}]},\"sync\":false}",
		"{\"data\":5,\"name\":\"a\",\"sync\":true}",
		"{\"name\":\"a\",\"id\":null,\"source\":null,\"time\":null}",
		"{\"name\":\"a\",\"id\":5}",
		"{\"name\":\"a\",\"id\":\"\"}",
		"{\"name\":\"a\",\"source\":[]}",
		"{\"name\":\"a\",\"time\":17}",
		"{\"name\":\"a\",\"time\":\"2024-01-01T00:00:00.123456789012345678901234567890123456789012345678901Z\"}",
		"{\"name\":\"a\",\"sync\":null}",
		"{\"name\":\"a\",\"sync\":\"true\"}",
		"{\"name\":null}",
		"{\"name\":\"\"}",
		"{\"name\":\"caf\xc3\xa9\"}",
		"{\"name\":\"a\\u002eb\"}",        /* an escape in the name: the tree reads it */
		"{\"n\\u0061me\":\"a\"}",          /* an escape in a member name */
		"{\"name\":\"a\",\"d\\u0061ta\":[1]}",
		"{\"name\":\"a\",\"id\":\"x\\\"y\"}",
		"{\"name\":\"a\",\"data\":1,\"data\":2}",
		"{\"name\":\"a\",\"nope\":1,\"name\":\"b\"}",
		"{\"nope\":1,\"other\":2}",
		"{\"name\":\"a\",\"attributes\":{\"k\":\"v\",\"n\":5,\"b\":true}}",
		"{\"name\":\"a\",\"attributes\":null}",
		"{\"name\":5,\"id\":\"a b\"}",
		"{\"name\":\"a..b\",\"id\":\"a b\"}",
		"{\"id\":\"a b\"}",
		"[]",
		"\"name\"",
		"{}",
		"{\"name\":\"a\",\"\":1}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		if (trigger_readings_differ(bodies[i], strlen(bodies[i])))
			fail_msg("body %s: read differently without a tree", bodies[i]);

	/* lengths at the edges of the copies: a name of 255 and 256 bytes, an
	 * id of 128 and 129, a source of 1024 and 1025, a key of 70 */
	static char body[4096], text[2048];
	static const struct {
		const char *before, *after;
		size_t length;
	} edges[] = {
		{"{\"name\":\"", "\"}", 255},
		{"{\"name\":\"", "\"}", 256},
		{"{\"name\":\"a\",\"id\":\"", "\"}", 128},
		{"{\"name\":\"a\",\"id\":\"", "\"}", 129},
		{"{\"name\":\"a\",\"source\":\"", "\"}", 1024},
		{"{\"name\":\"a\",\"source\":\"", "\"}", 1025},
		{"{\"name\":\"a\",\"", "\":1}", 70},
		{"{\"", "\":1,\"name\":\"a\",\"name\":\"b\"}", 70},
	};
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		snprintf(body, sizeof body, "%s%s%s", edges[i].before, repeat(text, 'k', edges[i].length), edges[i].after);
		if (trigger_readings_differ(body, strlen(body)))
			fail_msg("body %.80s... (%zu): read differently without a tree", body, edges[i].length);
	}
	/* more members than are recorded, with and without a name among them */
	size_t n = (size_t)snprintf(body, sizeof body, "{\"name\":\"a\"");
	for (int k = 0; k < 70; k++) {
		n += (size_t)snprintf(body + n, sizeof body - n, ",\"m%d\":%d", k, k);
		body[n] = '}';
		if (trigger_readings_differ(body, n + 1))
			fail_msg("%d members: read differently without a tree", k + 2);
	}
}

static void full_event_is_parsed(void **state)
{
	const char *body = "{\"name\":\"order.created\",\"id\":\"o-1\",\"source\":\"shop\","
	                   "\"time\":\"2024-01-01T12:00:00.5+01:00\",\"data\":{\"a\":[1,2]},"
	                   "\"attributes\":{\"k\":\"v\"},\"sync\":true}";
	trigger_parsed p;
	char err[256];
	assert_int_equal(trigger_parse(body, strlen(body), &p, err, sizeof err), 0);
	assert_string_equal(p.fields.name, "order.created");
	assert_string_equal(p.fields.id, "o-1");
	assert_string_equal(p.fields.source, "shop");
	assert_int_equal(p.fields.time_us, 1704106800500000LL);
	assert_int_equal(p.fields.data_len, 11);
	assert_memory_equal(p.fields.data, "{\"a\":[1,2]}", 11);
	assert_int_equal(p.fields.attribute_count, 1);
	assert_true(p.sync);
	trigger_parsed_free(&p);
}

static void data_is_carried_as_written(void **state)
{
	const char *body = "{ \"id\": \"x\", \"data\" : [ 1, {\"k\": \"}]\\\"\"} ] , \"name\": \"a\" }";
	trigger_parsed p;
	char err[256];
	assert_int_equal(trigger_parse(body, strlen(body), &p, err, sizeof err), 0);
	const char *expected = "[ 1, {\"k\": \"}]\\\"\"} ]";
	assert_int_equal(p.fields.data_len, strlen(expected));
	assert_memory_equal(p.fields.data, expected, strlen(expected));
	trigger_parsed_free(&p);
	/* control bytes cJSON tolerates as whitespace are not JSON */
	static const char lenient[] = "{\"name\":\"a\",\"data\":\x0f[1,\x01 2]}";
	assert_int_equal(trigger_parse(lenient, sizeof lenient - 1, &p, err, sizeof err), 400);
	assert_non_null(strstr(err, "malformed JSON at byte 19"));
	trigger_parsed_free(&p);
	/* an escaped key is not recognised by the fast path: reprinted instead */
	body = "{\"d\\u0061ta\": 5, \"name\": \"a\"}";
	assert_int_equal(trigger_parse(body, strlen(body), &p, err, sizeof err), 0);
	assert_int_equal(p.fields.data_len, 1);
	assert_memory_equal(p.fields.data, "5", 1);
	trigger_parsed_free(&p);
}

/* Attribute values keep their type through the event's own JSON and back
 * (a JetStream message is the event's JSON read by
 * trigger_parse_host_written()). */
static void attribute_types_survive_the_events_json(void **state)
{
	const char *body = "{\"name\":\"a\",\"attributes\":{\"n\":-5,\"b\":true,\"s\":\"5\"}}";
	trigger_parsed p;
	char err[256];
	assert_int_equal(trigger_parse(body, strlen(body), &p, err, sizeof err), 0);
	es_event *e = es_event_create(&p.fields);
	trigger_parsed_free(&p);
	const char *json = es_event_json(e, NULL);
	assert_non_null(strstr(json, "\"attributes\":{\"n\":-5,\"b\":true,\"s\":\"5\"}"));
	assert_int_equal(trigger_parse_host_written(json, strlen(json), &p, err, sizeof err), 0);
	es_event *again = es_event_create(&p.fields);
	trigger_parsed_free(&p);
	es_attribute_type want[] = {ES_ATTRIBUTE_INTEGER, ES_ATTRIBUTE_BOOLEAN, ES_ATTRIBUTE_STRING};
	const char *values[] = {"-5", "true", "5"};
	assert_int_equal(again->attribute_count, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(again->attributes[i].type, want[i]);
		assert_string_equal(again->attributes[i].value, values[i]);
	}
	es_event_unref(again);
	es_event_unref(e);
}

static void minimal_event_is_parsed(void **state)
{
	trigger_parsed p;
	char err[256];
	assert_int_equal(trigger_parse("{\"name\":\"ping\"}  \n", 17, &p, err, sizeof err), 0);
	assert_null(p.fields.id);
	assert_null(p.fields.data);
	trigger_parsed_free(&p);
}

static void errors_name_the_problem(void **state)
{
	expect_error("{\"name\": \"a\", ", "malformed JSON at byte");
	expect_error("{\"name\":\"a\"} trailing", "unexpected data after the JSON value");
	expect_error("[1,2]", "must be a JSON object");
	expect_error("{}", "missing field \"name\"");
	expect_error("{\"name\":5}", "\"name\" must be a string");
	expect_error("{\"name\":\"a..b\"}", "invalid \"name\"");
	expect_error("{\"name\":\"a\",\"id\":\"has space\"}", "invalid \"id\": it has a space at byte 3");
	/* each refusal says which rule the id or time broke */
	expect_error("{\"name\":\"a\",\"id\":\"\"}", "invalid \"id\": it is empty");
	expect_error("{\"name\":\"a\",\"id\":5}", "invalid \"id\": it is not a string");
	expect_error("{\"name\":\"a\",\"id\":\"a\\\"b\"}", "it has a quote at byte 1");
	expect_error("{\"name\":\"a\",\"id\":\"\\u00e9\"}", "it has the byte, not ASCII, 0xc3 at byte 0");
	expect_error("{\"name\":\"a\",\"id\":\"a\\u0001\"}", "it has the control character 0x01 at byte 1");
	char long_id[200];
	snprintf(long_id, sizeof long_id, "{\"name\":\"a\",\"id\":\"%s\"}", repeat((char[130]){0}, 'x', 129));
	expect_error(long_id, "invalid \"id\": it is 129 bytes long");
	expect_error("{\"name\":\"a\",\"time\":\"yesterday\"}", "it does not start YYYY-MM-DDTHH:MM:SS");
	expect_error("{\"name\":\"a\",\"time\":\"2024-13-01T00:00:00Z\"}", "the month is not 01 to 12");
	expect_error("{\"name\":\"a\",\"time\":\"2023-02-29T00:00:00Z\"}", "the day is not in its month");
	expect_error("{\"name\":\"a\",\"time\":\"2024-01-01T24:00:00Z\"}", "the hour is not 00 to 23");
	expect_error("{\"name\":\"a\",\"time\":\"2024-01-01T00:00:60Z\"}", "no leap seconds");
	expect_error("{\"name\":\"a\",\"time\":\"2024-01-01T00:00:00.Z\"}", "a '.' has no digits after it");
	expect_error("{\"name\":\"a\",\"time\":\"2024-01-01T00:00:00\"}", "it has no offset after the time");
	expect_error("{\"name\":\"a\",\"time\":\"2024-01-01T00:00:00+24:00\"}", "the offset is not +HH:MM");
	expect_error("{\"name\":\"a\",\"time\":\"2024-01-01T00:00:00Zx\"}", "something follows the offset");
	expect_error("{\"name\":\"a\",\"time\":\"0001-01-01T00:00:00+00:01\"}", "before year 0001");
	expect_error("{\"name\":\"a\",\"time\":5}", "invalid \"time\": it is not a string");
	/* 65 characters: longer than the database keeps (70 KB of digits were) */
	expect_error("{\"name\":\"a\",\"time\":\"2024-01-01T12:00:00.11111111111111111111111111111111111111111111Z\"}",
	             "at most 64 characters");
	expect_error("{\"name\":\"a\",\"attributes\":{\"k\":1.5}}", "attribute \"k\" must be a whole number");
	/* whole as doubles, not as written: they reached plugins as 1, 0 and -2147483648 */
	expect_error("{\"name\":\"a\",\"attributes\":{\"k\":0.99999999999999999}}", "attribute \"k\" must be a whole number");
	expect_error("{\"name\":\"a\",\"attributes\":{\"j\":1,\"k\":1e-400}}", "attribute \"k\" must be a whole number");
	expect_error("{\"name\":\"a\",\"attributes\":{\"k\":-2147483648.00000000001}}",
	             "attribute \"k\" must be a whole number");
	expect_error("{\"name\":\"a\",\"attributes\":{\"k\":4294967296}}", "attribute \"k\" must be an integer from");
	expect_error("{\"name\":\"a\",\"attributes\":{\"k\":{}}}",
	             "attribute \"k\" must be a string, an integer or a boolean");
	expect_error("{\"name\":\"a\",\"attributes\":{\"subject\":5}}", "attribute \"subject\" must be a string");
	expect_error("{\"name\":\"a\",\"attributes\":{\"datacontenttype\":true}}",
	             "attribute \"datacontenttype\" must be a string");
	expect_error("{\"name\":\"a\",\"attributes\":{\"k\":null}}",
	             "attribute \"k\" must be a string, an integer or a boolean");
	expect_error("{\"name\":\"a\",\"nmae\":\"b\"}", "unknown field \"nmae\"");
	expect_error("", "empty body");
}

/* A source or attribute value a plugin may log or forward holds no
 * control character and no noncharacter (what a CloudEvents String may not
 * hold): not escaped (the tree's reading), not written raw (C1 is valid
 * UTF-8 and read without a tree), in neither place; the answer names the
 * character and where it is. */
static void strings_hold_no_control_character(void **state)
{
	expect_error("{\"name\":\"a\",\"source\":\"x\\ny\"}",
	             "\"source\" holds the control character U+000A at byte 1 of its text");
	expect_error("{\"name\":\"a\",\"source\":\"x\\u001b[31m\"}", "\"source\" holds the control character U+001B");
	expect_error("{\"name\":\"a\",\"source\":\"x\\u007fy\"}", "\"source\" holds the control character U+007F");
	expect_error("{\"name\":\"a\",\"source\":\"x\\u0085y\"}", "\"source\" holds the control character U+0085");
	expect_error("{\"name\":\"a\",\"source\":\"ab\xc2\x9by\"}",
	             "\"source\" holds the control character U+009B at byte 2");
	expect_error("{\"name\":\"a\",\"source\":\"x\\ufffe\"}", "\"source\" holds the noncharacter U+FFFE");
	expect_error("{\"name\":\"a\",\"source\":\"x\xef\xb7\x90\"}", "\"source\" holds the noncharacter U+FDD0");
	expect_error("{\"name\":\"a\",\"source\":\"x\xf4\x8f\xbf\xbf\"}", "\"source\" holds the noncharacter U+10FFFF");
	expect_error("{\"name\":\"a\",\"attributes\":{\"subject\":\"a\\nb\"}}",
	             "attribute \"subject\" holds the control character U+000A");
	expect_error("{\"name\":\"a\",\"attributes\":{\"ext\":\"\\u0085\"}}", "attribute \"ext\" holds the control character U+0085");
	/* the characters around them are a string's own */
	static const char *fine[] = {"{\"name\":\"a\",\"source\":\"/shop/eu?x=1#f%0a\"}",
	                             "{\"name\":\"a\",\"source\":\"caf\xc3\xa9 \xc2\xa0~\xe2\x80\xa8\xef\xbf\xbd\"}",
	                             "{\"name\":\"a\",\"source\":\"caf\\u00e9 \\ud83d\\ude00\"}",
	                             "{\"name\":\"a\",\"attributes\":{\"subject\":\"a b\\u00a0c\"}}"};
	for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
		trigger_parsed p;
		char err[256] = "";
		int status = trigger_parse(fine[i], strlen(fine[i]), &p, err, sizeof err);
		trigger_parsed_free(&p);
		if (status != 0)
			fail_msg("body %s: status %d, '%s'", fine[i], status, err);
		if (trigger_readings_differ(fine[i], strlen(fine[i])))
			fail_msg("body %s: read differently without a tree", fine[i]);
	}
}

/* The host's own JSON of an event (a JetStream message, a database row)
 * is read back as it was stored, a source or an attribute an earlier
 * version accepted included: a rolling upgrade does not dead-letter it. */
static void an_event_the_host_stored_is_read_as_stored(void **state)
{
	const char *json = "{\"id\":\"old-1\",\"name\":\"a\",\"source\":\"old\\nnode\","
	                   "\"attributes\":{\"subject\":\"x\\u001by\"}}";
	trigger_parsed p;
	char err[256] = "";
	assert_int_equal(trigger_parse_host_written(json, strlen(json), &p, err, sizeof err), 0);
	assert_string_equal(p.fields.source, "old\nnode");
	assert_string_equal(p.fields.attributes[0].value, "x\x1by");
	trigger_parsed_free(&p);
	const char *plain = "{\"name\":\"a\",\"source\":\"old\\nnode\"}"; /* read without a tree */
	assert_int_equal(trigger_parse_host_written(plain, strlen(plain), &p, err, sizeof err), 0);
	assert_string_equal(p.fields.source, "old\nnode");
	trigger_parsed_free(&p);
}

/* What cJSON lets through and plugins were handed. */
static void only_strict_json_is_accepted(void **state)
{
	expect_error("{\"name\":\"a\",\"data\":01}", "number with a leading zero");
	expect_error("{\"name\":\"a\",\"data\":[1.]}", "decimal point must be followed by a digit");
	expect_error("{\"name\":\"a\",\"data\":\"\xc0\xaf\"}", "invalid UTF-8");
	expect_error("{\"name\":\"a\",\"data\":\"\xed\xa0\x80\"}", "invalid UTF-8");
	expect_error("{\"name\":\"a\",\"data\":\"\\uD800\"}", "surrogate");
	expect_error("{\"name\":\"a\"}\n{}", "unexpected data after the JSON value");
	/* NUL would cut the name, id or an attribute: refused, raw or escaped */
	expect_error("{\"name\":\"a\\u0000tail\"}", "\\u0000");
	expect_error("{\"name\":\"a\",\"id\":\"x\\u0000y\"}", "\\u0000");
	static const char raw_nul[] = "{\"name\":\"a\0tail\"}";
	trigger_parsed p;
	char err[256];
	assert_int_equal(trigger_parse(raw_nul, sizeof raw_nul - 1, &p, err, sizeof err), 400);
	assert_non_null(strstr(err, "control character"));
	trigger_parsed_free(&p);
}

static void keys_appear_once(void **state)
{
	expect_error("{\"name\":\"a\",\"name\":\"b\"}", "field \"name\" appears more than once");
	expect_error("{\"name\":\"a\",\"attributes\":{\"k\":\"1\",\"k\":\"2\"}}", "attribute \"k\" appears more than once");
	expect_error("{\"name\":\"a\",\"time\":\"2024-02-30T00:00:00Z\"}", "the day is not in its month");
}

static void the_epoch_is_kept(void **state)
{
	const char *body = "{\"name\":\"a\",\"time\":\"1970-01-01T00:00:00Z\"}";
	trigger_parsed p;
	char err[256];
	assert_int_equal(trigger_parse(body, strlen(body), &p, err, sizeof err), 0);
	assert_true(p.fields.has_time);
	es_event *e = es_event_create(&p.fields);
	assert_int_equal(e->time_us, 0);
	es_event_unref(e);
	trigger_parsed_free(&p);
}

static void malformed_json_position_points_at_the_problem(void **state)
{
	const char *body = "{\"name\": \"a\", \"data\": {\"x\": tru}}";
	trigger_parsed p;
	char err[256];
	assert_int_equal(trigger_parse(body, strlen(body), &p, err, sizeof err), 400);
	trigger_parsed_free(&p);
	unsigned pos = 0;
	assert_int_equal(sscanf(err, "malformed JSON at byte %u", &pos), 1);
	assert_true(pos >= 27 && pos <= 31);
}

static void rfc3339_forms(void **state)
{
	int64_t us;
	assert_true(rfc3339_parse("2024-01-01T00:00:00Z", &us));
	assert_int_equal(us, 1704067200000000LL);
	assert_true(rfc3339_parse("2024-01-01T00:00:00.123456789Z", &us));
	assert_int_equal(us, 1704067200123456LL);
	assert_true(rfc3339_parse("2024-01-01T01:00:00+01:00", &us));
	assert_int_equal(us, 1704067200000000LL);
	assert_false(rfc3339_parse("2024-01-01", &us));
	assert_false(rfc3339_parse("2024-13-01T00:00:00Z", &us));
	assert_false(rfc3339_parse("2024-01-01T00:00:00", &us));
	assert_false(rfc3339_parse("2024-01-01T00:00:00Zjunk", &us));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_event_is_parsed),
		cmocka_unit_test(minimal_event_is_parsed),
		cmocka_unit_test(attribute_types_survive_the_events_json),
		cmocka_unit_test(data_is_carried_as_written),
		cmocka_unit_test(errors_name_the_problem),
		cmocka_unit_test(strings_hold_no_control_character),
		cmocka_unit_test(an_event_the_host_stored_is_read_as_stored),
		cmocka_unit_test(both_readings_agree),
		cmocka_unit_test(malformed_json_position_points_at_the_problem),
		cmocka_unit_test(rfc3339_forms),
		cmocka_unit_test(only_strict_json_is_accepted),
		cmocka_unit_test(keys_appear_once),
		cmocka_unit_test(the_epoch_is_kept),
	};
	return cmocka_run_group_tests_name("trigger_parse", tests, NULL, NULL);
}
