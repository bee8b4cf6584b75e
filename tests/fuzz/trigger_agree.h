/*
 * The two readings of a trigger body agree: trigger_parse() (the members
 * read from the checked text, a tree only when it must) and
 * trigger_parse_with_tree() (always a cJSON tree).  Included by the fuzz
 * targets and the unit test; header-only so that each links nothing more.
 */
#ifndef ES_TESTS_TRIGGER_AGREE_H
#define ES_TESTS_TRIGGER_AGREE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/trigger_parse.h"

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_bytes(const char *a, size_t a_len, const char *b, size_t b_len)
{
	return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* NULL when both readings of body give the same answer and the same
 * fields; otherwise what differs (static text). */
static const char *trigger_readings_differ(const char *body, size_t len)
{
	trigger_parsed a, b;
	char err_a[512] = "", err_b[512] = "";
	int status_a = trigger_parse(body, len, &a, err_a, sizeof err_a);
	int status_b = trigger_parse_with_tree(body, len, &b, err_b, sizeof err_b);
	const es_event_fields *x = &a.fields, *y = &b.fields;
	const char *differ = NULL;
	if (status_a != status_b)
		differ = "status";
	else if (status_a != 0 && strcmp(err_a, err_b) != 0)
		differ = "error text";
	else if (status_a == 0 && (!same_text(x->name, y->name) || !same_text(x->id, y->id) ||
	                           !same_text(x->source, y->source)))
		differ = "name, id or source";
	else if (status_a == 0 && (x->has_time != y->has_time || x->time_us != y->time_us ||
	                           !same_text(x->time_text, y->time_text)))
		differ = "time";
	else if (status_a == 0 && !same_bytes(x->data, x->data_len, y->data, y->data_len))
		differ = "data";
	else if (status_a == 0 && (a.sync != b.sync || x->attribute_count != y->attribute_count))
		differ = "sync or attributes";
	if (differ)
		fprintf(stderr, "trigger readings differ (%s): %d '%s' against the tree's %d '%s'\n", differ, status_a,
		        err_a, status_b, err_b);
	trigger_parsed_free(&a);
	trigger_parsed_free(&b);
	return differ;
}

#endif
