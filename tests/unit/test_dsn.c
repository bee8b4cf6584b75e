/* DSN parsing in each accepted form, and redaction of the password. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/dsn.h"

static void go_style_tcp_dsn_from_the_deployment_guide(void **state)
{
	dsn d;
	char err[256];
	assert_int_equal(dsn_parse("user:password@tcp(localhost:3306)/event_system?charset=utf8mb4&parseTime=True&loc=Local",
	                           &d, err, sizeof err), 0);
	assert_string_equal(d.user, "user");
	assert_string_equal(d.password, "password");
	assert_string_equal(d.host, "localhost");
	assert_int_equal(d.port, 3306);
	assert_string_equal(d.database, "event_system");
	assert_string_equal(d.charset, "utf8mb4");
	assert_string_equal(d.socket_path, "");
}

static void unix_socket_dsn(void **state)
{
	dsn d;
	char err[256];
	assert_int_equal(dsn_parse("es:s3cret@unix(/run/mysqld/mysqld.sock)/events", &d, err, sizeof err), 0);
	assert_string_equal(d.socket_path, "/run/mysqld/mysqld.sock");
	assert_string_equal(d.host, "");
	assert_string_equal(d.database, "events");
}

static void url_style_dsn_with_default_port(void **state)
{
	dsn d;
	char err[256];
	assert_int_equal(dsn_parse("mysql://es:pw@db.example:3307/ev?charset=utf8", &d, err, sizeof err), 0);
	assert_string_equal(d.host, "db.example");
	assert_int_equal(d.port, 3307);
	assert_string_equal(d.charset, "utf8");
	assert_int_equal(dsn_parse("mysql://es@db/ev", &d, err, sizeof err), 0);
	assert_int_equal(d.port, 3306);
	assert_string_equal(d.password, "");
}

static void password_may_contain_at_and_colon(void **state)
{
	dsn d;
	char err[256];
	assert_int_equal(dsn_parse("u:p@ss:w0rd@tcp(h:1)/d", &d, err, sizeof err), 0);
	assert_string_equal(d.user, "u");
	assert_string_equal(d.password, "p@ss:w0rd");
}

static void malformed_dsns_are_refused_without_leaking_the_password(void **state)
{
	const char *bad[] = {"", "u:topsecret@localhost/db", "u:topsecret@tcp(h:99999)/db", "u:topsecret@tcp(h:1)",
	                     "u:topsecret@tcp(h:1", "u:topsecret@tcp(:1)/db", "mysql://u:topsecret@h:x/db"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		dsn d;
		char err[256] = "";
		assert_int_equal(dsn_parse(bad[i], &d, err, sizeof err), -1);
		assert_true(err[0] != '\0');
		assert_null(strstr(err, "topsecret"));
	}
}

static void redaction_hides_the_password_in_every_form(void **state)
{
	char out[256];
	dsn_redact("user:password@tcp(localhost:3306)/event_system?charset=utf8mb4", out, sizeof out);
	assert_string_equal(out, "user:***@tcp(localhost:3306)/event_system?charset=utf8mb4");
	dsn_redact("mysql://es:pw@db:3307/ev", out, sizeof out);
	assert_string_equal(out, "mysql://es:***@db:3307/ev");
	dsn_redact("u:p@ss@unix(/s)/d", out, sizeof out);
	assert_null(strstr(out, "p@ss"));
	dsn_redact("nopassword@tcp(h:1)/d", out, sizeof out);
	assert_string_equal(out, "nopassword@tcp(h:1)/d");
}

/* Passwords with the characters that end other parts of a DSN: every
 * accepted form parses them whole and redaction shows none of their bytes. */
static void passwords_with_delimiters_are_parsed_and_hidden_whole(void **state)
{
	static const char *const secrets[] = {"s3@cr(et", "a/b@c", "x@tcp(y", "p(a)ss/w@rd:1", "@(/", "ab@unix(c"};
	/* each form as the text before and after the password */
	static const char *const forms[][2] = {
	        {"dbuser:", "@tcp(db.example:3306)/event_system?charset=utf8mb4"},
	        {"dbuser:", "@unix(/run/mysqld/mysqld.sock)/event_system"},
	        {"mysql://dbuser:", "@db.example:3307/event_system?charset=utf8mb4"},
	};
	for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++)
		for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
			char text[256], out[256], err[256];
			snprintf(text, sizeof text, "%s%s%s", forms[f][0], secrets[i], forms[f][1]);
			dsn d;
			assert_int_equal(dsn_parse(text, &d, err, sizeof err), 0);
			assert_string_equal(d.user, "dbuser");
			assert_string_equal(d.password, secrets[i]);
			assert_string_equal(d.database, "event_system");
			dsn_redact(text, out, sizeof out);
			/* everything but the password is kept */
			char expected[256];
			snprintf(expected, sizeof expected, "%s***%s", forms[f][0], forms[f][1]);
			assert_string_equal(out, expected);
		}
}

/* A DSN the parser refuses is still redacted when it is shown. */
static void refused_dsns_are_redacted_too(void **state)
{
	static const char *const bad[] = {"u:to(p@secret@tcp(h:1", "mysql://u:top/secret@h", "u:top@secret@unix(/s",
	                                  "mysql://u:top@se/cret@h:x/db"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char out[256];
		dsn_redact(bad[i], out, sizeof out);
		assert_null(strstr(out, "top"));
		assert_null(strstr(out, "secret"));
		assert_null(strstr(out, "cret"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(go_style_tcp_dsn_from_the_deployment_guide),
		cmocka_unit_test(unix_socket_dsn),
		cmocka_unit_test(url_style_dsn_with_default_port),
		cmocka_unit_test(password_may_contain_at_and_colon),
		cmocka_unit_test(malformed_dsns_are_refused_without_leaking_the_password),
		cmocka_unit_test(redaction_hides_the_password_in_every_form),
		cmocka_unit_test(passwords_with_delimiters_are_parsed_and_hidden_whole),
		cmocka_unit_test(refused_dsns_are_redacted_too),
	};
	return cmocka_run_group_tests_name("dsn", tests, NULL, NULL);
}
