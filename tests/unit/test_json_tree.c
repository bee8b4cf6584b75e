/* cJSON trees parsed into blocks of their own (util/json_tree.h): the same
 * tree cJSON builds, released without a walk, and cJSON outside a parse
 * still plain malloc()/free() (a plugin's trees, printed text freed with
 * free()). */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "model/event_request.h"
#include "util/json_tree.h"

static int install(void **state)
{
	(void)state;
	json_tree_init();
	return 0;
}

static char *batch_text(int events)
{
	static const char item[] =
		"{\"name\":\"bench.order.created\",\"data\":{\"order\":12345,\"total\":99.5,\"items\":[\"a\",\"b\"]}}";
	size_t size = 2 + (size_t)events * sizeof item;
	char *s = malloc(size);
	assert_non_null(s);
	char *o = s;
	*o++ = '[';
	for (int i = 0; i < events; i++) {
		if (i)
			*o++ = ',';
		memcpy(o, item, sizeof item - 1);
		o += sizeof item - 1;
	}
	*o++ = ']';
	*o = '\0';
	return s;
}

/* Bigger than one block: the tree spans several, and prints as cJSON's own. */
static void a_tree_in_blocks_is_the_tree_cjson_builds(void **state)
{
	(void)state;
	char *text = batch_text(2000);
	json_tree t;
	cJSON *root = json_tree_parse(&t, text, strlen(text));
	assert_non_null(root);
	assert_non_null(t.blocks); /* the hooks put it in blocks */
	assert_int_equal(cJSON_GetArraySize(root), 2000);
	cJSON *plain = cJSON_ParseWithLength(text, strlen(text)); /* outside a parse: malloc() */
	assert_non_null(plain);
	char *a = cJSON_PrintUnformatted(root), *b = cJSON_PrintUnformatted(plain);
	assert_string_equal(a, b);
	free(a); /* text printed outside a parse is malloc()'s: free() works */
	cJSON_free(b);
	cJSON_Delete(plain);
	json_tree_release(&t);
	assert_null(t.root);
	assert_null(t.blocks);
	free(text);
}

/* A parse that fails frees its blocks (LeakSanitizer checks) and leaves
 * no root. */
static void a_failed_parse_leaves_nothing(void **state)
{
	(void)state;
	const char *bad = "[{\"name\":\"a\"},{\"name\":";
	json_tree t;
	assert_null(json_tree_parse(&t, bad, strlen(bad)));
	assert_null(t.blocks);
	json_tree_release(&t);
}

/* The batch decoder uses it: the items are walked from the tree as before,
 * and a body that is not an array is refused with the tree released. */
static void a_batch_body_is_decoded_into_a_tree(void **state)
{
	(void)state;
	char *text = batch_text(3);
	json_tree t;
	char err[256];
	assert_int_equal(event_request_parse_batch(text, strlen(text), &t, err, sizeof err), 0);
	batch_cursor c;
	int n = 0;
	for (batch_cursor_start(&c, t.root, text, strlen(text)); c.item; batch_cursor_next(&c)) {
		trigger_parsed p;
		assert_int_equal(event_request_parse_item(&c, false, &p, err, sizeof err), 0);
		assert_string_equal(p.fields.name, "bench.order.created");
		assert_int_equal(p.fields.data_len, strlen("{\"order\":12345,\"total\":99.5,\"items\":[\"a\",\"b\"]}"));
		trigger_parsed_free(&p);
		n++;
	}
	assert_int_equal(n, 3);
	json_tree_release(&t);
	free(text);

	const char *object = "{\"name\":\"a\"}";
	assert_int_equal(event_request_parse_batch(object, strlen(object), &t, err, sizeof err), 400);
	assert_non_null(strstr(err, "must be a JSON array"));
	json_tree_release(&t);
}

/* Small trees start in the thread's scratch block, which one tree holds at
 * a time: a second small tree parsed meanwhile gets blocks of its own, and
 * neither is disturbed by the other or by the scratch being reused. */
static void small_trees_held_together_stay_intact(void **state)
{
	(void)state;
	const char *a_text = "{\"name\":\"first.event\",\"data\":{\"n\":1,\"list\":[\"x\",\"y\"]}}";
	const char *b_text = "{\"name\":\"second.event\",\"data\":[true,false,null,2.5]}";
	json_tree a, b, c;
	assert_non_null(json_tree_parse(&a, a_text, strlen(a_text)));
	assert_non_null(a.blocks);
	assert_non_null(json_tree_parse(&b, b_text, strlen(b_text)));
	assert_non_null(b.blocks);
	assert_ptr_not_equal(a.blocks, b.blocks);
	char *a_printed = cJSON_PrintUnformatted(a.root), *b_printed = cJSON_PrintUnformatted(b.root);
	assert_string_equal(a_printed, a_text);
	assert_string_equal(b_printed, b_text);
	free(a_printed);
	json_tree_release(&a); /* gives the scratch back while b lives */
	assert_non_null(json_tree_parse(&c, a_text, strlen(a_text)));
	char *again = cJSON_PrintUnformatted(b.root), *c_printed = cJSON_PrintUnformatted(c.root);
	assert_string_equal(again, b_text);
	assert_string_equal(c_printed, a_text);
	free(again);
	free(c_printed);
	free(b_printed);
	json_tree_release(&b);
	json_tree_release(&c);
	/* a failed small parse gives the scratch back too */
	assert_null(json_tree_parse(&a, "{\"a\":[1,2", 10));
	assert_null(a.blocks);
	assert_non_null(json_tree_parse(&a, b_text, strlen(b_text)));
	json_tree_release(&a);
}

static void *parse_and_print(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "n", i);
		char *s = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		free(s);
	}
	return NULL;
}

/* Another thread's cJSON while this one parses into blocks: its nodes are
 * malloc()'s (ThreadSanitizer and LeakSanitizer check the rest). */
static void other_threads_use_malloc_meanwhile(void **state)
{
	(void)state;
	char *text = batch_text(300);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, parse_and_print, NULL), 0);
	for (int i = 0; i < 20; i++) {
		json_tree t;
		assert_non_null(json_tree_parse(&t, text, strlen(text)));
		json_tree_release(&t);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_tree_in_blocks_is_the_tree_cjson_builds),
		cmocka_unit_test(a_failed_parse_leaves_nothing),
		cmocka_unit_test(a_batch_body_is_decoded_into_a_tree),
		cmocka_unit_test(other_threads_use_malloc_meanwhile),
		cmocka_unit_test(small_trees_held_together_stay_intact),
	};
	return cmocka_run_group_tests(tests, install, NULL);
}
