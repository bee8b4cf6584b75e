/*
 * A recursive-descent recogniser of RFC 8259 JSON: it builds nothing, it
 * only walks the bytes and says where they stop being valid.
 */
#include "config.h"

#include "util/json_strict.h"

#include <stdint.h>
#include <string.h>

typedef struct scan {
	const unsigned char *p, *end;
	unsigned flags;
	const char *why;
	/* json_strict_valid_member(): the top-level member sought, and where
	 * the first one's value is (member NULL: none seen yet) */
	const char *key;
	size_t key_len;
	const unsigned char *member, *member_end;
	/* json_strict_valid_members(): where the top-level object's members
	 * go (NULL: not recorded), how many fit, how many there were */
	json_member_span *members;
	size_t members_max, members_count;
	bool top_object;
} scan;

static bool string_equals(const char *q, const char *q_end, const char *key, size_t key_len);

static bool fail(scan *c, const char *why)
{
	c->why = why;
	return false;
}

static void skip_space(scan *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

size_t utf8_sequence_length(const char *text, size_t avail)
{
	const unsigned char *s = (const unsigned char *)text;
	unsigned char b = s[0];
	if (b < 0x80)
		return 1;
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
	if (b >= 0xC2 && b <= 0xDF) {
		n = 2;
	} else if (b >= 0xE0 && b <= 0xEF) {
		n = 3;
		if (b == 0xE0)
			lo = 0xA0; /* overlong */
		else if (b == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (b >= 0xF0 && b <= 0xF4) {
		n = 4;
		if (b == 0xF0)
			lo = 0x90; /* overlong */
		else if (b == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return 0; /* continuation byte, C0/C1 (overlong) or F5..FF */
	}
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		size_t n = utf8_sequence_length((const char *)p, (size_t)(end - p));
		if (!n)
			return false;
		p += n;
	}
	return true;
}

void utf8_repair(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t avail = strlen(s);
	while (*p) {
		size_t n = utf8_sequence_length((const char *)p, avail);
		if (!n) {
			*p = '?';
			n = 1;
		}
		p += n;
		avail -= n;
	}
}

static int hex4(const unsigned char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char h = p[i];
		int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* A \u escape at c->p (the backslash); a high surrogate must be followed
 * by an escaped low one. */
static bool unicode_escape(scan *c)
{
	if (c->end - c->p < 6)
		return fail(c, "unterminated \\u escape");
	int u = hex4(c->p + 2);
	if (u < 0)
		return fail(c, "\\u must be followed by four hex digits");
	if (u == 0 && (c->flags & JSON_STRICT_NO_NUL))
		return fail(c, "\\u0000 is not accepted (strings cannot contain NUL)");
	if (u >= 0xDC00 && u <= 0xDFFF)
		return fail(c, "lone low surrogate escape");
	if (u >= 0xD800 && u <= 0xDBFF) {
		int low = c->end - c->p >= 12 && c->p[6] == '\\' && c->p[7] == 'u' ? hex4(c->p + 8) : -1;
		if (low < 0xDC00 || low > 0xDFFF)
			return fail(c, "high surrogate escape without a low surrogate after it");
		c->p += 6;
	}
	c->p += 6;
	return true;
}

static bool string(scan *c)
{
	c->p++; /* the opening quote */
	for (;;) {
		if (c->p >= c->end)
			return fail(c, "unterminated string");
		unsigned char ch = *c->p;
		/* printable ASCII other than the quote and the backslash, the
		 * bulk of a string: one comparison each, not a UTF-8 decode */
		if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\') {
			c->p++;
			continue;
		}
		if (ch == '"') {
			c->p++;
			return true;
		}
		if (ch < 0x20)
			return fail(c, "control character in a string (it must be escaped)");
		if (ch == '\\') {
			if (c->end - c->p < 2)
				return fail(c, "unterminated escape");
			unsigned char e = c->p[1];
			if (e == 'u') {
				if (!unicode_escape(c))
					return false;
			} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
			           e == 't') {
				c->p += 2;
			} else {
				return fail(c, "invalid escape in a string");
			}
			continue;
		}
		size_t n = utf8_sequence_length((const char *)c->p, (size_t)(c->end - c->p));
		if (!n)
			return fail(c, "invalid UTF-8 in a string");
		c->p += n;
	}
}

static bool is_digit(scan *c)
{
	return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

static bool number(scan *c)
{
	if (*c->p == '-')
		c->p++;
	if (!is_digit(c))
		return fail(c, "a number needs a digit here");
	if (*c->p == '0') {
		c->p++;
		if (is_digit(c))
			return fail(c, "number with a leading zero");
	} else {
		while (is_digit(c))
			c->p++;
	}
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!is_digit(c))
			return fail(c, "a decimal point must be followed by a digit");
		while (is_digit(c))
			c->p++;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!is_digit(c))
			return fail(c, "an exponent needs a digit");
		while (is_digit(c))
			c->p++;
	}
	return true;
}

static bool literal(scan *c, const char *word, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return fail(c, "invalid literal");
	for (size_t i = 0; i < n; i++)
		if (c->p[i] != (unsigned char)word[i])
			return fail(c, "invalid literal");
	c->p += n;
	return true;
}

static bool value(scan *c, int depth);

static bool object(scan *c, int depth)
{
	if (depth == 1)
		c->top_object = true;
	c->p++;
	skip_space(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		return true;
	}
	for (;;) {
		if (c->p >= c->end || *c->p != '"')
			return fail(c, "expected a string key");
		const unsigned char *key = c->p;
		if (!string(c))
			return false;
		bool sought = depth == 1 && c->key && !c->member &&
		              string_equals((const char *)key, (const char *)c->p, c->key, c->key_len);
		json_member_span *kept = NULL;
		if (depth == 1 && c->members && c->members_count++ < c->members_max) {
			kept = &c->members[c->members_count - 1];
			kept->key = (const char *)key + 1;
			kept->key_len = (size_t)(c->p - key) - 2;
			kept->key_escaped = memchr(kept->key, '\\', kept->key_len) != NULL;
		}
		skip_space(c);
		if (c->p >= c->end || *c->p != ':')
			return fail(c, "expected ':' after a key");
		c->p++;
		skip_space(c);
		const unsigned char *start = c->p;
		if (!value(c, depth + 1))
			return false;
		if (sought || kept) {
			/* the value without the whitespace value() passed after it */
			const unsigned char *stop = c->p;
			while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\n' || stop[-1] == '\r'))
				stop--;
			if (sought) {
				c->member = start;
				c->member_end = stop;
			}
			if (kept) {
				kept->value = (const char *)start;
				kept->value_len = (size_t)(stop - start);
			}
		}
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			skip_space(c);
			continue;
		}
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			return true;
		}
		return fail(c, "expected ',' or '}'");
	}
}

static bool array(scan *c, int depth)
{
	c->p++;
	skip_space(c);
	if (c->p < c->end && *c->p == ']') {
		c->p++;
		return true;
	}
	for (;;) {
		if (!value(c, depth + 1))
			return false;
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == ']') {
			c->p++;
			return true;
		}
		return fail(c, "expected ',' or ']'");
	}
}

/* One value with the whitespace around it. */
static bool value(scan *c, int depth)
{
	if (depth > JSON_STRICT_MAX_DEPTH)
		return fail(c, "nested too deeply");
	skip_space(c);
	if (c->p >= c->end)
		return fail(c, "expected a value");
	bool ok;
	switch (*c->p) {
	case '{':
		ok = object(c, depth);
		break;
	case '[':
		ok = array(c, depth);
		break;
	case '"':
		ok = string(c);
		break;
	case 't':
		ok = literal(c, "true", 4);
		break;
	case 'f':
		ok = literal(c, "false", 5);
		break;
	case 'n':
		ok = literal(c, "null", 4);
		break;
	default:
		ok = *c->p == '-' || (*c->p >= '0' && *c->p <= '9') ? number(c) : fail(c, "expected a value");
	}
	if (ok)
		skip_space(c);
	return ok;
}

static bool check(scan *c, const char *text, json_strict_error *err)
{
	bool ok = value(c, 1);
	if (ok && c->p != c->end)
		ok = fail(c, "unexpected data after the JSON value");
	if (!ok && err) {
		err->offset = (size_t)(c->p - (const unsigned char *)text);
		err->reason = c->why;
	}
	return ok;
}

bool json_strict_valid(const char *text, size_t len, unsigned flags, json_strict_error *err)
{
	scan c = {.p = (const unsigned char *)text, .end = (const unsigned char *)text + len, .flags = flags};
	return check(&c, text, err);
}

bool json_strict_valid_member(const char *text, size_t len, unsigned flags, json_strict_error *err, const char *key,
                              const char **value, size_t *value_len)
{
	scan c = {.p = (const unsigned char *)text, .end = (const unsigned char *)text + len, .flags = flags,
	          .key = key, .key_len = strlen(key)};
	bool ok = check(&c, text, err);
	*value = ok && c.member ? (const char *)c.member : NULL;
	*value_len = ok && c.member ? (size_t)(c.member_end - c.member) : 0;
	return ok;
}

bool json_strict_valid_members(const char *text, size_t len, unsigned flags, json_strict_error *err,
                               json_member_span *members, size_t max, json_members *found)
{
	scan c = {.p = (const unsigned char *)text, .end = (const unsigned char *)text + len, .flags = flags,
	          .members = members, .members_max = max};
	bool ok = check(&c, text, err);
	found->object = ok && c.top_object;
	found->count = found->object ? c.members_count : 0;
	return ok;
}

/* The end of the string literal at p (on its opening quote), or NULL when
 * it has none before `end`. */
static const char *string_end(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++; /* the escaped byte; a \u's hex digits are plain bytes */
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* A skip, not a check: the text was validated, so strings, nesting and
 * delimiters are all that matter.  Running the validator again here was
 * about a seventh of the batch endpoint's profile (each item and its data
 * member are found by it).  Stays within [p, end) whatever the text. */
const char *json_value_end(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	const char *start = p;
	if (p == end)
		return start;
	if (*p == '"') {
		const char *stop = string_end(p, end);
		return stop ? stop : start;
	}
	if (*p == '{' || *p == '[') {
		size_t depth = 0;
		while (p < end) {
			char c = *p;
			if (c == '"') {
				p = string_end(p, end);
				if (!p)
					break;
				continue;
			}
			if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (--depth == 0)
					return p + 1;
			}
			p++;
		}
		return start; /* not valid after all: an empty span */
	}
	/* a number, true, false or null: up to the next delimiter */
	while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ':' && *p != ' ' && *p != '\t' &&
	       *p != '\n' && *p != '\r')
		p++;
	return p;
}

size_t json_minify(const char *text, size_t len, char *out)
{
	/* whitespace only occurs between tokens or inside strings, and a
	 * string's control characters are escaped: drop it outside strings */
	size_t n = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_string) {
			out[n++] = c;
			if (c == '\\' && i + 1 < len)
				out[n++] = text[++i];
			else if (c == '"')
				in_string = false;
		} else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			out[n++] = c;
			in_string = c == '"';
		}
	}
	return n;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Whether the JSON string [q, q_end) (with its quotes, already valid) is
 * `key` once its escapes are decoded. */
static bool string_equals(const char *q, const char *q_end, const char *key, size_t key_len)
{
	const unsigned char *p = (const unsigned char *)q + 1, *end = (const unsigned char *)q_end - 1;
	size_t at = 0;
	while (p < end) {
		unsigned char decoded[4];
		size_t n = 1;
		if (*p != '\\') {
			decoded[0] = *p++;
		} else {
			unsigned char e = p[1];
			p += 2;
			if (e != 'u') {
				decoded[0] = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
			} else {
				uint32_t cp = (uint32_t)hex4(p);
				p += 4;
				if (cp >= 0xD800 && cp <= 0xDBFF) { /* a pair: valid text has the low half next */
					cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)hex4(p + 2) - 0xDC00);
					p += 6;
				}
				if (cp < 0x80) {
					decoded[0] = (unsigned char)cp;
				} else if (cp < 0x800) {
					decoded[0] = (unsigned char)(0xC0 | cp >> 6);
					decoded[1] = (unsigned char)(0x80 | (cp & 0x3F));
					n = 2;
				} else if (cp < 0x10000) {
					decoded[0] = (unsigned char)(0xE0 | cp >> 12);
					decoded[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
					decoded[2] = (unsigned char)(0x80 | (cp & 0x3F));
					n = 3;
				} else {
					decoded[0] = (unsigned char)(0xF0 | cp >> 18);
					decoded[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
					decoded[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
					decoded[3] = (unsigned char)(0x80 | (cp & 0x3F));
					n = 4;
				}
			}
		}
		if (at + n > key_len || memcmp(key + at, decoded, n) != 0)
			return false;
		at += n;
	}
	return at == key_len;
}

/* The member of an object starting at p (after '{' or ','; whitespace
 * first is skipped): its name's text (quotes included) in [*key,
 * *key_end), its value's in [*value, *value_end).  The text after it
 * (',' or '}' next, past whitespace), or NULL at the object's end or a
 * broken one. */
static const char *next_member(const char *p, const char *end, const char **key, const char **key_end,
                               const char **value, const char **value_end)
{
	p = skip_ws(p, end);
	if (p == end || *p != '"')
		return NULL; /* '}' */
	*key = p;
	*key_end = json_value_end(p, end);
	p = skip_ws(*key_end, end);
	if (p == end || *p != ':')
		return NULL;
	*value = skip_ws(p + 1, end);
	*value_end = json_value_end(*value, end);
	if (*value_end == *value)
		return NULL;
	return skip_ws(*value_end, end);
}

bool json_object_member(const char *text, size_t len, const char *key, const char **value, size_t *value_len)
{
	const char *end = text + len, *p = skip_ws(text, end);
	size_t key_len = strlen(key);
	if (p == end || *p != '{')
		return false;
	p++;
	for (;;) {
		const char *name, *name_end, *start, *stop;
		if (!(p = next_member(p, end, &name, &name_end, &start, &stop)))
			return false;
		if (string_equals(name, name_end, key, key_len)) {
			*value = start;
			*value_len = (size_t)(stop - start);
			return true;
		}
		if (p == end || *p != ',')
			return false;
		p++;
	}
}

bool json_array_next(const char **cursor, const char *end, const char **item, size_t *item_len)
{
	const char *p = skip_ws(*cursor, end);
	if (p == end || (*p != '[' && *p != ','))
		return false; /* ']' */
	p = skip_ws(p + 1, end);
	const char *stop = json_value_end(p, end);
	if (stop == p)
		return false; /* "[]" */
	*item = p;
	*item_len = (size_t)(stop - p);
	*cursor = stop;
	return true;
}

uint64_t json_object_fractions(const char *text, size_t len)
{
	uint64_t bits = 0;
	const char *end = text + len, *p = skip_ws(text, end);
	if (p == end || *p != '{')
		return 0;
	p++;
	for (unsigned i = 0;; i++) {
		const char *name, *name_end, *start, *stop;
		if (!(p = next_member(p, end, &name, &name_end, &start, &stop)))
			return bits;
		if (i < 64 && (*start == '-' || (*start >= '0' && *start <= '9')) &&
		    !json_number_whole(start, (size_t)(stop - start)))
			bits |= (uint64_t)1 << i;
		if (p == end || *p != ',')
			return bits;
		p++;
	}
}

bool json_number_whole(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	if (p < end && *p == '-')
		p++;
	/* the digits in order without the point, and where the point is */
	const char *int_start = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	const char *int_end = p, *frac_start = p, *frac_end = p;
	if (p < end && *p == '.') {
		frac_start = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		frac_end = p;
	}
	long long exponent = 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		bool negative = p < end && *p == '-';
		if (p < end && (*p == '-' || *p == '+'))
			p++;
		/* past len + 1 the point is beyond every digit either way: stop
		 * growing there (a body of 64 MiB may hold 8-digit exponents) */
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if (exponent <= (long long)len + 1)
				exponent = exponent * 10 + (*p - '0');
		if (negative)
			exponent = -exponent;
	}
	/* digit i (0-based over int then fraction digits) is worth 10^(point - 1 - i),
	 * point = the integer digits' count + exponent: whole when every digit
	 * at i >= point is 0 */
	long long digits_int = int_end - int_start, digits_frac = frac_end - frac_start;
	long long point = digits_int + exponent;
	for (long long i = point < 0 ? 0 : point; i < digits_int + digits_frac; i++) {
		char d = i < digits_int ? int_start[i] : frac_start[i - digits_int];
		if (d != '0')
			return false;
	}
	return true;
}
