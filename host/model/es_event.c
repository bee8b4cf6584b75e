/*
 * Event creation and lifetime.  Everything an event holds lives in one
 * block, so creating an event is one allocation and freeing it one free.
 * The block comes from util/block_cache: the thread that accepts events
 * and the worker that frees them share blocks in batches instead of
 * meeting on malloc's arena lock for each event.
 */
#include "config.h"

#include "model/es_event.h"

#include "util/block_cache.h"
#include "util/json_strict.h"
#include "util/rfc3339.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* xorshift128+ per thread, seeded from the kernel: ids need to be unique,
 * not secret, and a syscall per event would be measurable. */
static _Thread_local uint64_t rng_state[2];

/* One xorshift128+ step. */
static inline uint64_t rng_step(uint64_t state[2])
{
	uint64_t s1 = state[0];
	const uint64_t s0 = state[1];
	state[0] = s0;
	s1 ^= s1 << 23;
	state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return state[1] + s0;
}

/* 128 random bits: two steps of this thread's generator, seeded on first
 * use. */
static void rng_128(uint64_t out[2])
{
	uint64_t state[2] = {rng_state[0], rng_state[1]};
	if (state[0] == 0 && state[1] == 0) {
		if (getrandom(state, sizeof state, 0) != sizeof state || (state[0] == 0 && state[1] == 0)) {
			state[0] = (uint64_t)clock_monotonic_us() ^ (uint64_t)(uintptr_t)&rng_state;
			state[1] = (uint64_t)clock_realtime_us() | 1;
		}
	}
	out[0] = rng_step(state);
	out[1] = rng_step(state);
	rng_state[0] = state[0];
	rng_state[1] = state[1];
}

/* The two lower-case hex digits of every byte value, in order: a byte's
 * digits are one 2-byte copy from here.  The id took 4 calls of a 64-bit
 * nibble-spreading routine before, about 140 instructions an event, then
 * a tenth of the dispatch benchmark's (docs/benchmarks.md). */
static const char hex_pairs[2 * 256 + 1] =
	"000102030405060708090a0b0c0d0e0f"
	"101112131415161718191a1b1c1d1e1f"
	"202122232425262728292a2b2c2d2e2f"
	"303132333435363738393a3b3c3d3e3f"
	"404142434445464748494a4b4c4d4e4f"
	"505152535455565758595a5b5c5d5e5f"
	"606162636465666768696a6b6c6d6e6f"
	"707172737475767778797a7b7c7d7e7f"
	"808182838485868788898a8b8c8d8e8f"
	"909192939495969798999a9b9c9d9e9f"
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	"b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	"d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void es_event_make_uuid(char out[37])
{
	uint64_t random[2];
	rng_128(random);
	uint8_t b[16];
	memcpy(b, random, sizeof b);
	b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* variant 10 */
	/* 8-4-4-4-12 hex digits: bytes 0-3, 4-5, 6-7, 8-9, 10-15; each
	 * byte's place in the text is a constant, so no loop or test is left */
	static const uint8_t place[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
#pragma GCC unroll 16
	for (int i = 0; i < 16; i++)
		memcpy(out + place[i], hex_pairs + 2 * (size_t)b[i], 2);
	out[8] = out[13] = out[18] = out[23] = '-';
	out[36] = '\0';
}

bool es_event_attribute_name_valid(const char *s, char *why, size_t why_size)
{
	size_t n = strlen(s);
	if (n == 0) {
		snprintf(why, why_size, "is empty");
		return false;
	}
	/* the characters first: past them a byte is a character, so the
	 * length below is told in characters truly ("€" is 3 bytes) */
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) {
			snprintf(why, why_size, "has a character other than a-z and 0-9 at position %zu", i + 1);
			return false;
		}
	if (n > EVENT_ATTRIBUTE_NAME_MAX) {
		snprintf(why, why_size, "is %zu characters long (at most %d)", n, EVENT_ATTRIBUTE_NAME_MAX);
		return false;
	}
	return true;
}

const char *es_event_attribute_reserved(const char *name)
{
	if (strcmp(name, "dataencoding") == 0)
		return "is reserved: this server sets it to base64 on data it had to encode";
	static const char *const fields[] = {"specversion", "id", "source", "type", "time", "data"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (strcmp(name, fields[i]) == 0)
			return "is reserved: it is an event field (give it as a field of the event, not as an attribute)";
	return NULL;
}

const char *es_event_attribute_value_refused(const char *name, const char *value, char *why, size_t why_size)
{
	if (!value[0] && (strcmp(name, "subject") == 0 || strcmp(name, "dataschema") == 0 ||
	                  strcmp(name, "datacontenttype") == 0))
		return "must not be empty";
	return es_event_text_refused(value, strlen(value), why, why_size);
}

const char *es_event_attribute_from_json(const void *item, es_event_attribute *out, char digits[12])
{
	const cJSON *v = item;
	if (cJSON_IsString(v)) {
		out->value = v->valuestring;
		out->type = ES_ATTRIBUTE_STRING;
	} else if (cJSON_IsBool(v)) {
		out->value = cJSON_IsTrue(v) ? "true" : "false";
		out->type = ES_ATTRIBUTE_BOOLEAN;
	} else if (cJSON_IsNumber(v)) {
		/* cJSON holds every number as a double: a whole number in this
		 * range is exact in it (JSON has no NaN or infinity; 1e999
		 * arrives as infinity and is out of range) */
		double d = v->valuedouble;
		if (!(d >= -2147483648.0 && d <= 2147483647.0))
			return "must be an integer from -2147483648 to 2147483647 (CloudEvents Integer is 32-bit signed)";
		if (d != (double)(int32_t)d)
			return ES_EVENT_INTEGER_NOT_WHOLE;
		snprintf(digits, 12, "%" PRId32, (int32_t)d);
		out->value = digits;
		out->type = ES_ATTRIBUTE_INTEGER;
	} else {
		return "must be a string, an integer or a boolean (a CloudEvents attribute value: no null, object or array)";
	}
	return NULL;
}

void *es_event_attribute_to_json(const es_event_attribute *a)
{
	switch (a->type) {
	case ES_ATTRIBUTE_INTEGER:
		return cJSON_CreateNumber((double)strtol(a->value, NULL, 10));
	case ES_ATTRIBUTE_BOOLEAN:
		return cJSON_CreateBool(strcmp(a->value, "true") == 0);
	case ES_ATTRIBUTE_STRING:
	default:
		return cJSON_CreateString(a->value);
	}
}

const char *es_event_attribute_type_refused(const char *name, es_attribute_type type)
{
	if (type != ES_ATTRIBUTE_STRING && (strcmp(name, "subject") == 0 || strcmp(name, "dataschema") == 0 ||
	                                    strcmp(name, "datacontenttype") == 0))
		return "must be a string (a CloudEvents String attribute)";
	return NULL;
}

bool es_event_name_valid(const char *name, size_t len, char *err, size_t err_size)
{
	if (len == 0) {
		snprintf(err, err_size, "event name is empty");
		return false;
	}
	if (len > EVENT_NAME_MAX) {
		snprintf(err, err_size, "event name is longer than %d bytes", EVENT_NAME_MAX);
		return false;
	}
	size_t segment = 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c == '.') {
			if (segment == 0) {
				snprintf(err, err_size, "event name has an empty segment at byte %zu", i);
				return false;
			}
			segment = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		           c == '-') {
			segment++;
		} else {
			snprintf(err, err_size, "event name has an invalid character at byte %zu (allowed: A-Z a-z 0-9 _ - and '.' between segments)", i);
			return false;
		}
	}
	if (segment == 0) {
		snprintf(err, err_size, "event name ends with '.'");
		return false;
	}
	return true;
}

/* The first byte an id may not hold, or `len`. */
static size_t id_refused_at(const char *id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (id[i] <= ' ' || id[i] > '~' || id[i] == '"' || id[i] == '\\')
			return i;
	return len;
}

bool es_event_id_valid(const char *id, size_t len)
{
	return len > 0 && len <= EVENT_ID_MAX && id_refused_at(id, len) == len;
}

const char *es_event_id_refused(const char *id, size_t len, char *why, size_t why_size)
{
	size_t at = id_refused_at(id, len);
	unsigned char c = at < len ? (unsigned char)id[at] : 0;
	if (len == 0)
		snprintf(why, why_size, "is empty");
	else if (len > EVENT_ID_MAX)
		snprintf(why, why_size, "is %zu bytes long", len);
	else if (at == len)
		return NULL;
	else if (c == ' ')
		snprintf(why, why_size, "has a space at byte %zu", at);
	else if (c == '"' || c == '\\')
		snprintf(why, why_size, "has a %s at byte %zu", c == '"' ? "quote" : "backslash", at);
	else
		snprintf(why, why_size, "has %s 0x%02x at byte %zu",
		         c < ' ' || c == 0x7f ? "the control character" : "the byte, not ASCII,", c, at);
	return why;
}

const char *es_event_text_refused(const char *s, size_t len, char *why, size_t why_size)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_sequence_length(s + i, len - i);
		if (n == 0) /* not UTF-8: the caller's check says so */
			return NULL;
		static const unsigned char lead_bits[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
		uint32_t c = u[i] & lead_bits[n];
		for (size_t k = 1; k < n; k++)
			c = c << 6 | (u[i + k] & 0x3fu);
		const char *what = c < 0x20 || (c >= 0x7f && c <= 0x9f)                      ? "the control character"
		                   : (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe ? "the noncharacter"
		                                                                             : NULL;
		if (what) {
			snprintf(why, why_size, "holds %s U+%04X at byte %zu of its text", what, (unsigned)c, i);
			return why;
		}
	}
	return NULL;
}

es_event *es_event_create(const es_event_fields *f)
{
	char uuid[37];
	const char *id = f->id;
	size_t id_len;
	if (!id || !*id) {
		es_event_make_uuid(uuid);
		id = uuid;
		id_len = sizeof uuid - 1;
	} else {
		id_len = strlen(id);
	}
	const char *source = f->source ? f->source : "";
	const char *data = f->data ? f->data : "null";
	size_t data_len = f->data ? f->data_len : 4;
	size_t name_len = strlen(f->name), source_len = strlen(source);
	const char *time_text = f->has_time ? f->time_text : NULL;
	size_t time_text_len = time_text ? strlen(time_text) : 0;

	size_t size = sizeof(es_event) + f->attribute_count * sizeof(es_event_attribute) + id_len + 1 + name_len + 1 +
	              source_len + 1 + data_len + 1 + (time_text ? time_text_len + 1 : 0);
	for (size_t i = 0; i < f->attribute_count; i++)
		size += strlen(f->attributes[i].key) + 1 + strlen(f->attributes[i].value) + 1;

	uint8_t block_class;
	es_event *e = block_cache_alloc(size, &block_class);
	if (!e)
		return NULL;
	e->block_class = block_class;
	es_event_attribute *attrs = (es_event_attribute *)(e + 1);
	char *p = (char *)(attrs + f->attribute_count);
#define PUT(dst, src, n)           \
	do {                       \
		memcpy(p, (src), (n)); \
		p[(n)] = '\0';         \
		(dst) = p;             \
		p += (n) + 1;          \
	} while (0)
	refcount_init(&e->refs);
	PUT(e->id, id, id_len);
	PUT(e->name, f->name, name_len);
	PUT(e->source, source, source_len);
	PUT(e->data, data, data_len);
	e->time_text = NULL;
	if (time_text)
		PUT(e->time_text, time_text, time_text_len);
	for (size_t i = 0; i < f->attribute_count; i++) {
		PUT(attrs[i].key, f->attributes[i].key, strlen(f->attributes[i].key));
		PUT(attrs[i].value, f->attributes[i].value, strlen(f->attributes[i].value));
		attrs[i].type = f->attributes[i].type;
	}
#undef PUT
	e->data_len = data_len;
	e->has_data = f->data != NULL;
	e->attributes = attrs;
	e->attribute_count = f->attribute_count;
	e->depth = f->depth;
	e->watch = f->watch;
	e->watch_unref = f->watch_unref;
	e->seq = f->seq;
	e->origin = f->origin;
	e->stored = false;
	e->redelivered = false;
	e->prior = NULL;
	e->prior_count = 0;
	atomic_init(&e->bytes, NULL);
	atomic_init(&e->unsettled, 1); /* the creator's hold */
	e->received_us = clock_monotonic_us();
	e->time_us = f->has_time ? f->time_us : clock_realtime_at_us(e->received_us);
	atomic_init(&e->json, NULL);
	return e;
}

void es_event_destroy(es_event *e)
{
	if (e->watch)
		e->watch_unref(e->watch);
	if (e->origin)
		e->origin->release(e->origin);
	free(atomic_load_explicit(&e->json, memory_order_acquire));
	free(atomic_load_explicit(&e->bytes, memory_order_acquire));
	free(e->prior);
	block_cache_free(e, e->block_class);
}

uint32_t es_event_first_attempt(const es_event *e, const char *plugin)
{
	if (e->origin) /* a distributed queue counts the attempts (redeliveries) itself */
		return e->origin->attempt ? e->origin->attempt : 1;
	for (size_t i = 0; i < e->prior_count; i++)
		if (strcmp(e->prior[i].plugin, plugin) == 0)
			return e->prior[i].attempts + 1;
	return 1;
}

static const char *attribute_of(const es_event *e, const char *key)
{
	for (size_t i = 0; i < e->attribute_count; i++)
		if (strcmp(e->attributes[i].key, key) == 0)
			return e->attributes[i].value;
	return NULL;
}

const char *es_event_content_type(const es_event *e)
{
	return attribute_of(e, "datacontenttype");
}

bool es_event_data_is_base64(const es_event *e)
{
	const char *enc = attribute_of(e, "dataencoding");
	return enc && strcmp(enc, "base64") == 0;
}

static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The bytes of base64 text (checked when the event was accepted; any other
 * character ends the input). */
static es_event_bytes *decode_base64(const char *s, size_t n)
{
	es_event_bytes *b = malloc(sizeof *b + n / 4 * 3 + 4);
	if (!b)
		return NULL;
	size_t len = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = base64_value(s[i]);
		if (v < 0)
			break;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b->bytes[len++] = (char)((acc >> bits) & 0xff);
		}
	}
	b->bytes[len] = '\0';
	b->len = len;
	return b;
}

/* The text of the JSON string `json` (valid JSON, checked on acceptance),
 * or NULL when it is another kind of value. */
static es_event_bytes *decode_json_string(const char *json, size_t len)
{
	cJSON *v = cJSON_ParseWithLength(json, len);
	es_event_bytes *b = NULL;
	if (cJSON_IsString(v)) {
		size_t n = strlen(v->valuestring); /* no NUL inside: \u0000 is refused */
		b = malloc(sizeof *b + n + 1);
		if (b) {
			memcpy(b->bytes, v->valuestring, n + 1);
			b->len = n;
		}
	}
	cJSON_Delete(v);
	return b;
}

static bool content_type_is_json_text(const char *ct)
{
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

const char *es_event_data_bytes(es_event *e, size_t *len)
{
	es_event_bytes *b = atomic_load_explicit(&e->bytes, memory_order_acquire);
	if (!b) {
		const char *ct = es_event_content_type(e);
		bool base64 = es_event_data_is_base64(e);
		if (!e->has_data || (!base64 && (!ct || content_type_is_json_text(ct))))
			return NULL; /* no data, or JSON */
		es_event_bytes *built;
		if (base64) {
			/* the data is the base64 as a JSON string: skip the quotes */
			const char *q = memchr(e->data, '"', e->data_len);
			built = q ? decode_base64(q + 1, e->data_len - (size_t)(q + 1 - e->data)) : NULL;
		} else {
			built = decode_json_string(e->data, e->data_len);
			if (!built) { /* not a string: its JSON text is the content */
				built = malloc(sizeof *built + e->data_len + 1);
				if (built) {
					memcpy(built->bytes, e->data, e->data_len + 1);
					built->len = e->data_len;
				}
			}
		}
		if (!built)
			return NULL;
		es_event_bytes *expected = NULL;
		/* Two threads may decode it at once: the first to publish wins. */
		if (atomic_compare_exchange_strong_explicit(&e->bytes, &expected, built, memory_order_acq_rel,
		                                            memory_order_acquire)) {
			b = built;
		} else {
			free(built);
			b = expected;
		}
	}
	if (len)
		*len = b->len;
	return b->bytes;
}

void es_event_format_time(int64_t us, char out[40])
{
	rfc3339_format(us, out);
}

const char *es_event_json(es_event *e, size_t *len)
{
	char *json = atomic_load_explicit(&e->json, memory_order_acquire);
	if (!json) {
		cJSON *obj = cJSON_CreateObject();
		char when[40];
		es_event_format_time(e->time_us, when);
		cJSON_AddStringToObject(obj, "id", e->id);
		cJSON_AddStringToObject(obj, "name", e->name);
		if (e->source[0])
			cJSON_AddStringToObject(obj, "source", e->source);
		cJSON_AddStringToObject(obj, "time", when);
		cJSON *attrs = NULL;
		if (e->attribute_count) {
			attrs = cJSON_CreateObject();
			for (size_t i = 0; i < e->attribute_count; i++) /* each of its own type */
				cJSON_AddItemToObject(attrs, e->attributes[i].key,
				                      es_event_attribute_to_json(&e->attributes[i]));
		}
		char *head = cJSON_PrintUnformatted(obj);
		char *tail = attrs ? cJSON_PrintUnformatted(attrs) : NULL;
		cJSON_Delete(obj);
		cJSON_Delete(attrs);
		/* the data is spliced in as its text without the whitespace
		 * between tokens (valid JSON, checked when the event was
		 * accepted): a reprint would change numbers a double cannot hold */
		char *built = NULL;
		if (head && (tail || !attrs)) {
			size_t head_len = strlen(head) - 1; /* without its '}' */
			size_t tail_len = tail ? strlen(tail) : 0;
			built = malloc(head_len + 8 + e->data_len + 14 + tail_len + 2);
			if (built) {
				char *o = built;
				memcpy(o, head, head_len);
				o += head_len;
				memcpy(o, ",\"data\":", 8);
				o += 8;
				o += json_minify(e->data, e->data_len, o); /* one line, as before */
				if (tail) {
					memcpy(o, ",\"attributes\":", 14);
					o += 14;
					memcpy(o, tail, tail_len);
					o += tail_len;
				}
				*o++ = '}';
				*o = '\0';
			}
		}
		cJSON_free(head);
		cJSON_free(tail);
		if (!built)
			return NULL;
		char *expected = NULL;
		/* Two threads may build it at once: the first to publish wins. */
		if (atomic_compare_exchange_strong_explicit(&e->json, &expected, built, memory_order_acq_rel,
		                                            memory_order_acquire)) {
			json = built;
		} else {
			free(built);
			json = expected;
		}
	}
	if (len)
		*len = strlen(json);
	return json;
}
