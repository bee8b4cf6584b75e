/* The strict JSON recogniser: RFC 8259 grammar, UTF-8, and what the daemon
 * refuses beyond it (\u0000, lone surrogates). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/json_strict.h"

static bool valid(const char *s)
{
	return json_strict_valid(s, strlen(s), JSON_STRICT_NO_NUL, NULL);
}

static void accepts_rfc_8259_values(void **state)
{
	const char *good[] = {"{}", "[]", "0", "-0", "1.5e+10", "-12.25E-3", "\"\"", "true", "false", "null",
	                      " \t\r\n{\"a\" : [1, 2, {\"b\": null}] } \n", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	                      "\"\\u00e9\\uD83D\\uDE00\"", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "[0.0]",
	                      "1E5", "{\"\":\"\"}"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		json_strict_error e = {0};
		if (!json_strict_valid(good[i], strlen(good[i]), JSON_STRICT_NO_NUL, &e))
			fail_msg("refused %s: %s at %zu", good[i], e.reason, e.offset);
	}
}

static void refuses_what_cjson_lets_through(void **state)
{
	const char *bad[] = {"01", "[1.]", "[.5]", "-", "[1e]", "+1", "[01]", "{\"a\":1,}", "[1,]", "{\"a\" 1}",
	                     "{a:1}", "'a'", "[1] x", "{} {}", "\"\\x\"", "\"a\tb\"", "\"\\u12\"", "NaN",
	                     "Infinity", "tru", "nul", "", "   ", "[", "{\"a\":1", "\"\\uDE00\"",
	                     "\"\\uD83D\"", "\"\\uD83Dx\"", "\"\\uD83D\\u0041\"", "\"\\u0000\""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (valid(bad[i]))
			fail_msg("accepted %s", bad[i]);
	/* \u0000 is valid RFC 8259: only the flag refuses it */
	assert_true(json_strict_valid("\"\\u0000\"", 8, 0, NULL));
}

static void refuses_raw_nul_and_says_where(void **state)
{
	const char body[] = "{\"a\":1}\0AAAA";
	json_strict_error e = {0};
	assert_false(json_strict_valid(body, sizeof body - 1, 0, &e));
	assert_int_equal(e.offset, 7);
	assert_string_equal(e.reason, "unexpected data after the JSON value");
	assert_false(json_strict_valid("\"a\0b\"", 5, 0, &e));
	assert_int_equal(e.offset, 2);
	assert_false(json_strict_valid("01", 2, 0, &e));
	assert_string_equal(e.reason, "number with a leading zero");
}

static void refuses_invalid_utf8(void **state)
{
	const char *bad[] = {
	        "\"\xc0\xaf\"",             /* overlong '/' */
	        "\"\xe0\x80\xaf\"",         /* overlong, 3 bytes */
	        "\"\xf0\x80\x80\xaf\"",     /* overlong, 4 bytes */
	        "\"\xed\xa0\x80\"",         /* encoded surrogate U+D800 */
	        "\"\xf4\x90\x80\x80\"",     /* above U+10FFFF */
	        "\"\xff\"", "\"\x80\"",     /* never valid, lone continuation */
	        "\"\xc3\"", "\"\xe2\x82\"", /* cut sequences */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (valid(bad[i]))
			fail_msg("accepted string %zu", i);
	assert_true(utf8_valid("\xef\xbf\xbf\xf4\x8f\xbf\xbf", 7));
	assert_false(utf8_valid("\xed\xbf\xbf", 3));
	assert_true(utf8_valid("a\0b", 3)); /* NUL is the callers' concern */
}

static void nesting_is_bounded(void **state)
{
	char deep[2 * JSON_STRICT_MAX_DEPTH + 4];
	size_t n = JSON_STRICT_MAX_DEPTH;
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	assert_true(json_strict_valid(deep, 2 * n, 0, NULL));
	memset(deep, '[', n + 1);
	memset(deep + n + 1, ']', n + 1);
	json_strict_error e;
	assert_false(json_strict_valid(deep, 2 * n + 2, 0, &e));
	assert_string_equal(e.reason, "nested too deeply");
}

static void value_end_gives_the_value_alone(void **state)
{
	const char *t = "[ {\"a\": [1, \"]\"]} , 2 ]";
	const char *end = t + strlen(t);
	const char *item = t + 1;
	const char *stop = json_value_end(item, end);
	assert_int_equal(stop - t, 17);
	assert_int_equal(json_value_end(stop + 2, end) - t, 21);
	/* brackets and escaped quotes inside strings are not structure */
	const char *u = "{\"a\":\"]}\\\"\\\\\",\"b\":[1,{\"c\":\"[\"}],\"d\":-1.5e3}";
	assert_true(json_strict_valid(u, strlen(u), 0, NULL));
	assert_int_equal(json_value_end(u, u + strlen(u)) - u, (long)strlen(u));
	const char *raw;
	size_t raw_len;
	assert_true(json_object_member(u, strlen(u), "b", &raw, &raw_len));
	assert_int_equal(raw_len, strlen("[1,{\"c\":\"[\"}]"));
	assert_true(json_object_member(u, strlen(u), "d", &raw, &raw_len));
	assert_int_equal(raw_len, 6);
	/* text that is not valid gives an empty span, within bounds */
	const char *cut = "[1,\"ab";
	assert_true(json_value_end(cut, cut + strlen(cut)) == cut);
}

/* The check that also finds a top-level member gives exactly what
 * json_object_member() gives on the same text, or nothing. */
static void member_found_while_checking(void **state)
{
	static const char *const texts[] = {
	        "{\"name\":\"a\",\"data\":{\"x\":[1,\"}\"]}}",
	        " { \"data\" :\t[ 1 , 2 ] \n, \"name\": \"a\" } ",
	        "{\"d\\u0061ta\": \"escaped key\" }",
	        "{\"data\":-1.5e3}",
	        "{\"data\":true , \"data\":false}", /* the first, as json_object_member() */
	        "{\"data\":null}",
	        "{\"x\":{\"data\":1}}",          /* deeper members are not it */
	        "{\"datum\":1,\"dat\":2}",
	        "[{\"data\":1}]",
	        "\"data\"",
	        "{}",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		const char *t = texts[i];
		const char *want = NULL, *got = (const char *)1;
		size_t want_len = 0, got_len = 99;
		bool found = json_object_member(t, strlen(t), "data", &want, &want_len);
		assert_true(json_strict_valid_member(t, strlen(t), 0, NULL, "data", &got, &got_len));
		if (!found) {
			assert_null(got);
			continue;
		}
		assert_ptr_equal(got, want);
		assert_int_equal(got_len, want_len);
	}
	/* invalid text: false, the error as json_strict_valid() gives it, no member */
	const char *bad = "{\"data\":1,}";
	json_strict_error a, b;
	const char *got;
	size_t got_len;
	assert_false(json_strict_valid(bad, strlen(bad), 0, &a));
	assert_false(json_strict_valid_member(bad, strlen(bad), 0, &b, "data", &got, &got_len));
	assert_int_equal(a.offset, b.offset);
	assert_string_equal(a.reason, b.reason);
	assert_null(got);
}

/* a double rounds these: 0.99999999999999999 is 1.0, 1e-400 is 0 */
static void whole_numbers_by_their_digits(void **state)
{
	(void)state;
	static const char *const whole[] = {"0", "-0", "7", "-2147483648", "7.0", "7.000", "1e2", "1E+2", "1.5e1",
	                                    "100e-2", "0e-5", "0.0e-400", "12345678901234567890",
	                                    "5e99999999999999999999"};
	static const char *const not_whole[] = {"0.5", "1.5", "0.99999999999999999", "1e-400", "-2147483648.00000000001",
	                                        "1.25e1", "100e-3", "5e-1", "1.0000000000000000000001",
	                                        "1e-99999999999999999999"};
	for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
		if (!json_number_whole(whole[i], strlen(whole[i])))
			fail_msg("%s is a whole number", whole[i]);
	for (size_t i = 0; i < sizeof not_whole / sizeof not_whole[0]; i++)
		if (json_number_whole(not_whole[i], strlen(not_whole[i])))
			fail_msg("%s is not a whole number", not_whole[i]);
	/* exponents of 8 digits and more, in a body as large as the largest
	 * max_event_size: "1" and 10^7 zeros "e-10000001" is 0.1; "0." and
	 * 10^7 zeros "5e10000001" is 5 */
	size_t zeros = 10000000;
	char *big = malloc(zeros + 32);
	assert_non_null(big);
	big[0] = '1';
	memset(big + 1, '0', zeros);
	strcpy(big + 1 + zeros, "e-10000001");
	assert_false(json_number_whole(big, strlen(big)));
	memcpy(big, "0.", 2);
	memset(big + 2, '0', zeros);
	strcpy(big + 2 + zeros, "5e10000001");
	assert_true(json_number_whole(big, strlen(big)));
	free(big);
}

/* one walk of an object: which members are numbers not written whole */
static void fractions_of_an_object(void **state)
{
	(void)state;
	const char *object = " { \"a\" : 1.5, \"b\":2, \"c\":\"0.5\", \"d\":0.99999999999999999, \"e\":-3e-1,"
	                     " \"f\":{\"g\":0.5}, \"h\":[0.5], \"i\":7.0 } ";
	assert_int_equal(json_object_fractions(object, strlen(object)), (1u << 0) | (1u << 3) | (1u << 4));
	assert_int_equal(json_object_fractions("{}", 2), 0);
	assert_int_equal(json_object_fractions("[0.5]", 5), 0);
}

/* The whole event's JSON is one line: the data's own whitespace goes,
 * the strings' stays. */
static void minify_keeps_strings(void **state)
{
	const char *t = " {\n \"a b\" : [ 1 ,\t\"x \\\" y\" ] }\r\n";
	char out[64];
	size_t n = json_minify(t, strlen(t), out);
	out[n] = '\0';
	assert_string_equal(out, "{\"a b\":[1,\"x \\\" y\"]}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(accepts_rfc_8259_values),
	        cmocka_unit_test(refuses_what_cjson_lets_through),
	        cmocka_unit_test(refuses_raw_nul_and_says_where),
	        cmocka_unit_test(refuses_invalid_utf8),
	        cmocka_unit_test(nesting_is_bounded),
	        cmocka_unit_test(value_end_gives_the_value_alone),
	        cmocka_unit_test(minify_keeps_strings),
	        cmocka_unit_test(whole_numbers_by_their_digits),
	        cmocka_unit_test(fractions_of_an_object),
	        cmocka_unit_test(member_found_while_checking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
