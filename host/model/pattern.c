/*
 * Event name patterns: see pattern.h.
 */
#include "config.h"

#include "model/pattern.h"

#include <stdio.h>
#include <string.h>

#include "model/es_event.h"

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool pattern_valid(const char *pattern, char *err, size_t err_size)
{
	size_t len = strlen(pattern);
	if (len == 0 || len > EVENT_NAME_MAX) {
		snprintf(err, err_size, "pattern must be 1 to %d characters", EVENT_NAME_MAX);
		return false;
	}
	const char *seg = pattern;
	for (;;) {
		const char *dot = strchr(seg, '.');
		size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
		if (n == 0) {
			snprintf(err, err_size, "pattern '%s' has an empty segment", pattern);
			return false;
		}
		bool globstar = n == 2 && seg[0] == '*' && seg[1] == '*';
		for (size_t i = 0; i < n && !globstar; i++) {
			if (seg[i] == '*' && i + 1 < n && seg[i + 1] == '*') {
				snprintf(err, err_size, "pattern '%s': '**' must be a whole segment", pattern);
				return false;
			}
			if (seg[i] != '*' && !name_char(seg[i])) {
				snprintf(err, err_size, "pattern '%s' has an invalid character '%c'", pattern, seg[i]);
				return false;
			}
		}
		if (!dot)
			return true;
		seg = dot + 1;
	}
}

/* Glob within one segment: `*` matches any run of characters. */
static bool segment_match(const char *pat, size_t plen, const char *name, size_t nlen)
{
	size_t p = 0, n = 0, star_p = (size_t)-1, star_n = 0;
	while (n < nlen) {
		if (p < plen && pat[p] == '*') {
			star_p = p++;
			star_n = n;
		} else if (p < plen && pat[p] == name[n]) {
			p++;
			n++;
		} else if (star_p != (size_t)-1) {
			p = star_p + 1;
			n = ++star_n;
		} else {
			return false;
		}
	}
	while (p < plen && pat[p] == '*')
		p++;
	return p == plen;
}

static size_t segment_len(const char *s)
{
	const char *dot = strchr(s, '.');
	return dot ? (size_t)(dot - s) : strlen(s);
}

bool pattern_match(const char *pattern, const char *name)
{
	/* pattern and name are both NUL-terminated dotted strings; "" = end */
	if (pattern[0] == '*' && pattern[1] == '*' && pattern[2] == '\0')
		return true; /* a final ** takes whatever is left (the common "**": every event) */
	if (*pattern == '\0')
		return *name == '\0';
	size_t plen = segment_len(pattern);
	const char *pnext = pattern[plen] ? pattern + plen + 1 : pattern + plen;
	if (plen == 2 && pattern[0] == '*' && pattern[1] == '*') {
		/* zero segments, or one more and stay on ** */
		if (pattern_match(pnext, name))
			return true;
		if (*name == '\0')
			return false;
		size_t nlen = segment_len(name);
		return pattern_match(pattern, name[nlen] ? name + nlen + 1 : name + nlen);
	}
	if (*name == '\0')
		return false;
	size_t nlen = segment_len(name);
	if (!segment_match(pattern, plen, name, nlen))
		return false;
	/* "a." patterns are rejected by pattern_valid; a trailing segment must end both */
	if (pattern[plen] == '\0')
		return name[nlen] == '\0';
	if (name[nlen] == '\0')
		return pattern_match(pnext, ""); /* only a trailing ** can match nothing */
	return pattern_match(pnext, name + nlen + 1);
}
