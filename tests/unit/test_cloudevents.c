/* CloudEvents parsing: what reaches plugins is exactly what the client
 * sent, or the request is refused with the rule it broke. */
#include "config.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/cloudevents.h"
#include "model/event_request.h"
#include "util/json_strict.h"

#define REQUIRED {"specversion", "1.0"}, {"id", "e-1"}, {"source", "/s"}, {"type", "t.x"}

static int binary(const ce_header *h, size_t n, const char *ct, const char *body, size_t len, trigger_parsed *p,
                  char *err)
{
	memset(p, 0, sizeof *p);
	err[0] = '\0';
	return cloudevent_parse_binary(h, n, ct, body, len, p, err, 256);
}

static void expect_binary_error(const ce_header *h, size_t n, const char *ct, const char *body, const char *needle)
{
	trigger_parsed p;
	char err[256];
	int st = binary(h, n, ct, body, body ? strlen(body) : 0, &p, err);
	trigger_parsed_free(&p);
	if (st != 400 || !strstr(err, needle))
		fail_msg("status %d, message '%s' (wanted '%s')", st, err, needle);
}

static int structured(const char *text, trigger_parsed *p, char *err)
{
	memset(p, 0, sizeof *p);
	int st = trigger_parse_json(text, strlen(text), &p->root, err, 256);
	if (st)
		return st;
	p->raw_body = text;
	p->raw_len = strlen(text);
	return cloudevent_parse_structured(p->root, p, err, 256);
}

static void expect_structured_error(const char *text, const char *needle)
{
	trigger_parsed p;
	char err[256] = "";
	int st = structured(text, &p, err);
	trigger_parsed_free(&p);
	if (st != 400 || !strstr(err, needle))
		fail_msg("%s: status %d, message '%s' (wanted '%s')", text, st, err, needle);
}

/* The reproduction: a JSON body, a NUL, 2000 bytes more.  It was
 * copied with strndup (cut at the NUL) while the full length was kept, so
 * es_event_create() read 2000 bytes past the copy (other requests' bytes). */
static void binary_json_body_with_nul_is_refused(void **state)
{
	size_t len = 7 + 1 + 2000;
	char *body = malloc(len); /* exactly sized, not NUL-terminated */
	memcpy(body, "{\"a\":1}", 7);
	body[7] = '\0';
	memset(body + 8, 'A', 2000);
	ce_header h[] = {REQUIRED};
	trigger_parsed p;
	char err[256];
	int st = binary(h, 4, "application/json", body, len, &p, err);
	if (st == 0) {
		es_event *e = es_event_create(&p.fields); /* the over-read, under ASan */
		size_t data_len = e ? e->data_len : 0;
		if (e)
			es_event_unref(e);
		trigger_parsed_free(&p);
		free(body);
		fail_msg("accepted: data_len %zu for a %zu-byte copy", data_len, strlen(p.fields.data ? p.fields.data : ""));
	}
	assert_int_equal(st, 400);
	assert_non_null(strstr(err, "byte 7"));
	trigger_parsed_free(&p);
	/* a valid body, not NUL-terminated either: exactly its bytes */
	memcpy(body, "{\"a\":[1, 2]}", 12);
	assert_int_equal(binary(h, 4, "application/json", body, 12, &p, err), 0);
	es_event *e = es_event_create(&p.fields);
	assert_int_equal(e->data_len, 12);
	assert_memory_equal(e->data, "{\"a\":[1, 2]}", 13);
	es_event_unref(e);
	trigger_parsed_free(&p);
	free(body);
}

static void binary_json_body_must_be_strict(void **state)
{
	ce_header h[] = {REQUIRED};
	expect_binary_error(h, 4, "application/json", "{\"a\":01}", "leading zero");
	expect_binary_error(h, 4, "application/json", "[1.]", "decimal point");
	expect_binary_error(h, 4, "application/json", "{\"a\":1} trailing", "after the JSON value");
	expect_binary_error(h, 4, "application/json", "\"\xc0\xaf\"", "UTF-8");
	expect_binary_error(h, 4, "application/json", "\"\\u0000\"", "\\u0000");
}

static void header_values_are_decoded_as_the_binding_says(void **state)
{
	ce_header h[] = {REQUIRED, {"subject", "\"a \\\"quoted\\\" %41\""}, {"Region", "eu%2dwest"}};
	trigger_parsed p;
	char err[256];
	assert_int_equal(binary(h, 6, NULL, NULL, 0, &p, err), 0);
	assert_int_equal(p.fields.attribute_count, 2);
	assert_string_equal(p.attributes[0].key, "subject");
	assert_string_equal(p.attributes[0].value, "a \"quoted\" A");
	assert_string_equal(p.attributes[1].key, "region");
	assert_string_equal(p.attributes[1].value, "eu-west");
	trigger_parsed_free(&p);

	ce_header nul_id[] = {{"specversion", "1.0"}, {"id", "x%00tail"}, {"source", "/s"}, {"type", "t"}};
	expect_binary_error(nul_id, 4, NULL, NULL, "NUL");
	ce_header bad_utf8[] = {REQUIRED, {"subject", "%C0%AF"}};
	expect_binary_error(bad_utf8, 5, NULL, NULL, "not valid UTF-8");
	ce_header bad_pct[] = {REQUIRED, {"subject", "50%"}};
	expect_binary_error(bad_pct, 5, NULL, NULL, "percent-encoding");
	ce_header open_quote[] = {REQUIRED, {"subject", "\"abc"}};
	expect_binary_error(open_quote, 5, NULL, NULL, "closing quote");
	/* a line break or a terminal escape, percent-decoded, in a source or any String */
	ce_header newline_source[] = {{"specversion", "1.0"}, {"id", "x"}, {"source", "/s%0Aforged"}, {"type", "t"}};
	expect_binary_error(newline_source, 4, NULL, NULL, "ce-source holds the control character U+000A at byte 2");
	ce_header c1_source[] = {{"specversion", "1.0"}, {"id", "x"}, {"source", "/s%C2%9B31m"}, {"type", "t"}};
	expect_binary_error(c1_source, 4, NULL, NULL, "ce-source holds the control character U+009B");
	ce_header escape_subject[] = {REQUIRED, {"subject", "a%0Ab%1B[31m"}};
	expect_binary_error(escape_subject, 5, NULL, NULL, "ce-subject holds the control character U+000A");
	expect_binary_error((ce_header[]){REQUIRED}, 4, "text/plain;\tcharset=utf-8", "x",
	                    "datacontenttype holds the control character U+0009");
}

static void binary_attributes_appear_once(void **state)
{
	ce_header dct[] = {REQUIRED, {"datacontenttype", "text/plain"}};
	expect_binary_error(dct, 5, "application/json", "{}", "ce-datacontenttype is not a header");
	ce_header twice[] = {REQUIRED, {"Tenant", "a"}, {"tenant", "b"}};
	expect_binary_error(twice, 6, NULL, NULL, "ce-tenant is given more than once");
	ce_header id_twice[] = {REQUIRED, {"id", "e-2"}};
	expect_binary_error(id_twice, 5, NULL, NULL, "ce-id is given more than once");
	/* ce-data would be written beside the data in the event's JSON (a
	 * webhook's body had two "data" keys) */
	ce_header data_header[] = {REQUIRED, {"data", "{\"injected\":true}"}};
	expect_binary_error(data_header, 5, "application/json", "{\"real\":1}", "ce-data is not a header");
	ce_header reserved[] = {REQUIRED, {"dataencoding", "x"}};
	expect_binary_error(reserved, 5, "application/octet-stream", "\x01", "reserved");
	/* Content-Type is the one datacontenttype */
	ce_header ok[] = {REQUIRED};
	trigger_parsed p;
	char err[256];
	assert_int_equal(binary(ok, 4, "application/json", "{}", 2, &p, err), 0);
	assert_int_equal(p.fields.attribute_count, 1);
	assert_string_equal(p.attributes[0].key, "datacontenttype");
	trigger_parsed_free(&p);
}

static void text_that_is_not_utf8_travels_as_base64(void **state)
{
	ce_header h[] = {REQUIRED};
	trigger_parsed p;
	char err[256];
	assert_int_equal(binary(h, 4, "text/plain", "caf\xe9", 4, &p, err), 0);
	assert_int_equal(p.fields.data_len, 10);
	assert_memory_equal(p.fields.data, "\"Y2Fm6Q==\"", 10);
	trigger_parsed_free(&p);
	assert_int_equal(binary(h, 4, "text/plain", "caf\xc3\xa9", 5, &p, err), 0);
	assert_string_equal(p.fields.data, "\"caf\xc3\xa9\"");
	trigger_parsed_free(&p);
}

static void attribute_rules_are_named(void **state)
{
	char text[400];
	char name[66];
	memset(name, 'a', 65);
	name[65] = '\0';
	snprintf(text, sizeof text, "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"t\",\"%s\":\"v\"}", name);
	expect_structured_error(text, "65 characters long (at most 64)");
	/* 30 x "€" is 90 bytes: its first character is what is wrong, not "90 characters" */
	char euros[200] = "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"t\",\"";
	for (int i = 0; i < 30; i++)
		strcat(euros, "\u20ac");
	strcat(euros, "\":\"v\"}");
	expect_structured_error(euros, "has a character other than a-z and 0-9 at position 1");
	expect_structured_error("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"t\",\"Bad-Name\":\"v\"}",
	                        "has a character other than a-z and 0-9 at position 1");
	name[64] = '\0'; /* 64 is fine */
	snprintf(text, sizeof text, "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"t\",\"%s\":\"v\"}", name);
	trigger_parsed p;
	char err[256];
	assert_int_equal(structured(text, &p, err), 0);
	trigger_parsed_free(&p);
}

static void structured_values_are_checked(void **state)
{
#define CE "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"t\""
	expect_structured_error(CE ",\"data_base64\":\"AAE\"}", "base64");
	expect_structured_error(CE ",\"data_base64\":\"A===\"}", "base64");
	expect_structured_error(CE ",\"data_base64\":\"@@@@\"}", "base64");
	expect_structured_error(CE ",\"data_base64\":\"AB==\"}", "base64"); /* bits left over */
	expect_structured_error(CE ",\"data_base64\":\"AA AA\"}", "base64");
	expect_structured_error(CE ",\"subject\":\"\"}", "subject must not be empty");
	expect_structured_error(CE ",\"dataschema\":\"\"}", "dataschema must not be empty");
	expect_structured_error(CE ",\"id\":\"y\"}", "'id' is given more than once");
	expect_structured_error(CE ",\"data\":1,\"data\":2}", "'data' is given more than once");
	expect_structured_error(CE ",\"data\":[1.]}", "decimal point");
	expect_structured_error("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\\r\\nX: y\",\"type\":\"t\"}",
	                        "source holds the control character U+000D at byte 1");
	expect_structured_error(CE ",\"ext\":\"a\\u001b[2Jb\"}", "ext holds the control character U+001B");
	expect_structured_error(CE ",\"dataschema\":\"x\\ny\"}", "dataschema holds the control character U+000A");
	expect_structured_error(CE "} x", "after the JSON value");
	expect_structured_error(CE ",\"time\":\"2023-02-29T00:00:00Z\"}", "time is not accepted: the day is not in its month");
	expect_structured_error(CE ",\"time\":\"2024-01-01T23:59:60Z\"}", "no leap seconds");
	expect_structured_error("{\"specversion\":\"1.0\",\"id\":\"a b\",\"source\":\"s\",\"type\":\"t\"}",
	                        "CloudEvents id has a space at byte 1");
	/* what the database keeps whole: a source of 1024 bytes, a time of 64 characters */
	static char text[2048];
	char digits[48];
	memset(digits, '1', 45);
	digits[45] = '\0';
	snprintf(text, sizeof text, "{\"specversion\":\"1.0\",\"id\":\"x\",\"type\":\"t\",\"time\":\"2024-01-01T12:00:00.%sZ\",\"source\":\"s\"}",
	         digits);
	expect_structured_error(text, "at most 64 characters");
	char source[1100];
	memset(source, 's', 1025);
	source[1025] = '\0';
	snprintf(text, sizeof text, "{\"specversion\":\"1.0\",\"id\":\"x\",\"type\":\"t\",\"source\":\"%s\"}", source);
	expect_structured_error(text, "source must be at most 1024 bytes");
	ce_header too_long[] = {{"specversion", "1.0"}, {"id", "x"}, {"type", "t"}, {"source", source}};
	expect_binary_error(too_long, 4, "application/json", "1", "ce-source must be at most 1024 bytes");
	source[1024] = '\0';
	snprintf(text, sizeof text, "{\"specversion\":\"1.0\",\"id\":\"x\",\"type\":\"t\",\"source\":\"%s\"}", source);
	trigger_parsed fits;
	char why[256];
	assert_int_equal(structured(text, &fits, why), 0);
	assert_int_equal(strlen(fits.fields.source), 1024);
	trigger_parsed_free(&fits);
	expect_structured_error("{\"specversion\":\"1.0\",\"id\":\"x\\u0000y\",\"source\":\"s\",\"type\":\"t\"}", "\\u0000");
	trigger_parsed p;
	char err[256];
	/* data exactly as written, time 0 kept */
	assert_int_equal(structured(CE ",\"time\":\"1970-01-01T00:00:00Z\",\"data\": [12345678901234567890, 1.0e400] }",
	                            &p, err),
	                 0);
	assert_int_equal(p.fields.data_len, 31);
	assert_memory_equal(p.fields.data, "[12345678901234567890, 1.0e400]", 31);
	assert_true(p.fields.has_time);
	es_event *e = es_event_create(&p.fields);
	assert_int_equal(e->time_us, 0);
	/* the whole event carries the data as written too, on one line */
	assert_non_null(strstr(es_event_json(e, NULL), "\"time\":\"1970-01-01T00:00:00.000000Z\",\"data\":[12345678901234567890,1.0e400]"));
	es_event_unref(e);
	trigger_parsed_free(&p);
	assert_int_equal(structured(CE ",\"data_base64\":\"AAE=\"}", &p, err), 0);
	trigger_parsed_free(&p);
#undef CE
}

static const es_event_attribute *attribute_named(const es_event *e, const char *key)
{
	for (size_t i = 0; i < e->attribute_count; i++)
		if (strcmp(e->attributes[i].key, key) == 0)
			return &e->attributes[i];
	fail_msg("no attribute %s", key);
	return NULL;
}

/* Extension values keep their JSON type (CloudEvents String, Integer,
 * Boolean) into the event and its JSON: "myint": 42 reached plugins and
 * the log plugin as the string "42". */
static void extension_values_keep_their_types(void **state)
{
#define CE "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"s\",\"type\":\"t\""
	trigger_parsed p;
	char err[256];
	assert_int_equal(structured(CE ",\"myint\":42,\"myflag\":true,\"off\":false,\"text\":\"42\",\"neg\":-2147483648,"
	                               "\"top\":2147483647,\"whole\":7.0,\"subject\":\"true\"}",
	                            &p, err),
	                 0);
	es_event *e = es_event_create(&p.fields);
	trigger_parsed_free(&p); /* the event holds copies */
	struct {
		const char *key, *value;
		es_attribute_type type;
	} want[] = {{"myint", "42", ES_ATTRIBUTE_INTEGER},          {"myflag", "true", ES_ATTRIBUTE_BOOLEAN},
	            {"off", "false", ES_ATTRIBUTE_BOOLEAN},         {"text", "42", ES_ATTRIBUTE_STRING},
	            {"neg", "-2147483648", ES_ATTRIBUTE_INTEGER},   {"top", "2147483647", ES_ATTRIBUTE_INTEGER},
	            {"whole", "7", ES_ATTRIBUTE_INTEGER},           {"subject", "true", ES_ATTRIBUTE_STRING}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const es_event_attribute *a = attribute_named(e, want[i].key);
		assert_string_equal(a->value, want[i].value);
		if (a->type != want[i].type)
			fail_msg("%s has type %d, not %d", want[i].key, (int)a->type, (int)want[i].type);
	}
	assert_non_null(strstr(es_event_json(e, NULL),
	                       "\"attributes\":{\"myint\":42,\"myflag\":true,\"off\":false,\"text\":\"42\","
	                       "\"neg\":-2147483648,\"top\":2147483647,\"whole\":7,\"subject\":\"true\"}"));
	es_event_unref(e);

	/* what the JSON format cannot map to a CloudEvents type is refused,
	 * named (null is an absent attribute, as before) */
	expect_structured_error(CE ",\"n\":1.5}", "'n' must be a whole number");
	expect_structured_error(CE ",\"n\":0.99999999999999999}", "'n' must be a whole number");
	expect_structured_error(CE ",\"n\":1e-400}", "'n' must be a whole number");
	expect_structured_error(CE ",\"n\":2147483648}", "'n' must be an integer from -2147483648 to 2147483647");
	expect_structured_error(CE ",\"n\":-2147483649}", "'n' must be an integer from -2147483648 to 2147483647");
	expect_structured_error(CE ",\"n\":1e999}", "'n' must be an integer from -2147483648 to 2147483647");
	expect_structured_error(CE ",\"n\":{\"a\":1}}", "'n' must be a string, an integer or a boolean");
	expect_structured_error(CE ",\"n\":[1]}", "'n' must be a string, an integer or a boolean");
	expect_structured_error(CE ",\"subject\":5}", "'subject' must be a string");
	assert_int_equal(structured(CE ",\"n\":null}", &p, err), 0);
	assert_int_equal(p.fields.attribute_count, 0);
	trigger_parsed_free(&p);
#undef CE

	/* binary mode: a ce-* header is text, a String however it looks */
	ce_header h[] = {REQUIRED, {"myint", "42"}, {"myflag", "true"}};
	assert_int_equal(binary(h, 6, NULL, NULL, 0, &p, err), 0);
	e = es_event_create(&p.fields);
	trigger_parsed_free(&p);
	assert_int_equal(attribute_named(e, "myint")->type, ES_ATTRIBUTE_STRING);
	assert_int_equal(attribute_named(e, "myflag")->type, ES_ATTRIBUTE_STRING);
	assert_non_null(strstr(es_event_json(e, NULL), "\"attributes\":{\"myint\":\"42\",\"myflag\":\"true\"}"));
	es_event_unref(e);
}

/* The HTTP binding chooses the mode by Content-Type first: ce-* headers
 * beside a CloudEvents media type do not make it binary mode. */
static void mode_is_chosen_by_content_type_first(void **state)
{
	assert_int_equal(event_request_kind("application/cloudevents+json", true), BODY_CE_STRUCTURED);
	assert_int_equal(event_request_kind("Application/CloudEvents+JSON; charset=utf-8", true), BODY_CE_STRUCTURED);
	assert_int_equal(event_request_kind("application/cloudevents-batch+json", true), BODY_CE_BATCH);
	assert_int_equal(event_request_kind("application/json", true), BODY_CE_BINARY);
	assert_int_equal(event_request_kind("text/plain", true), BODY_CE_BINARY);
	assert_int_equal(event_request_kind(NULL, true), BODY_CE_BINARY);
	assert_int_equal(event_request_kind(NULL, false), BODY_JSON);
	assert_int_equal(event_request_kind("application/json ; charset=utf-8", false), BODY_JSON);
	assert_int_equal(event_request_kind("text/plain", false), BODY_UNSUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(binary_json_body_with_nul_is_refused),
	        cmocka_unit_test(binary_json_body_must_be_strict),
	        cmocka_unit_test(header_values_are_decoded_as_the_binding_says),
	        cmocka_unit_test(binary_attributes_appear_once),
	        cmocka_unit_test(text_that_is_not_utf8_travels_as_base64),
	        cmocka_unit_test(attribute_rules_are_named),
	        cmocka_unit_test(structured_values_are_checked),
	        cmocka_unit_test(mode_is_chosen_by_content_type_first),
	        cmocka_unit_test(extension_values_keep_their_types),
	};
	return cmocka_run_group_tests_name("cloudevents", tests, NULL, NULL);
}
