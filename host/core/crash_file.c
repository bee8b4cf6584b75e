/*
 * Crash records as text: see crash_file.h.
 */
#include "config.h"

#include "core/crash_file.h"
#include "model/es_config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *crash_signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGILL:
		return "SIGILL";
	case SIGABRT:
		return "SIGABRT";
	case SIGKILL:
		return "SIGKILL";
	default:
		return "a fatal signal";
	}
}

size_t crash_escape(char *buf, size_t len, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!s || !*s) {
		if (len + 1 < cap)
			buf[len++] = '-';
		return len;
	}
	bool lone_dash = s[0] == '-' && s[1] == '\0'; /* "-" alone stands for none */
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c > ' ' && c < 0x7f && c != '%' && !lone_dash) {
			if (len + 1 >= cap)
				break;
			buf[len++] = (char)c;
		} else {
			if (len + 3 >= cap)
				break;
			buf[len++] = '%';
			buf[len++] = hex[c >> 4];
			buf[len++] = hex[c & 15];
		}
	}
	return len;
}

static int hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

bool crash_unescape(const char *s, char *out, size_t out_size)
{
	size_t n = 0;
	if (strcmp(s, "-") == 0) {
		out[0] = '\0';
		return true;
	}
	for (; *s; s++) {
		char c = *s;
		if ((unsigned char)c <= ' ' || (unsigned char)c >= 0x7f)
			return false;
		if (c == '%') {
			int hi = hex_value(s[1]), lo = hi < 0 ? -1 : hex_value(s[2]);
			if (lo < 0 || (hi == 0 && lo == 0))
				return false;
			c = (char)(hi * 16 + lo);
			s += 2;
		}
		if (n + 1 >= out_size)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

void crash_file_identity(const struct stat *st, char *out, size_t out_size)
{
	snprintf(out, out_size, "%ju:%ju:%jd:%jd.%09ld", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino,
	         (intmax_t)st->st_size, (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!*s || *s < '0' || *s > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno)
		return false;
	*out = v;
	return true;
}

static bool copy_field(char *dst, size_t size, const char *value)
{
	size_t n = strlen(value);
	if (n == 0 || n >= size)
		return false;
	memcpy(dst, value, n + 1);
	return true;
}

int crash_file_parse(const char *text, size_t len, crash_record *r, char *why, size_t why_size)
{
	memset(r, 0, sizeof *r);
	if (len > CRASH_FILE_MAX) {
		snprintf(why, why_size, "larger than %d bytes", CRASH_FILE_MAX);
		return -1;
	}
	if (memchr(text, '\0', len)) {
		snprintf(why, why_size, "contains NUL bytes");
		return -1;
	}
	char buf[CRASH_FILE_MAX + 1];
	memcpy(buf, text, len);
	buf[len] = '\0';
	char *save = NULL;
	char *line = strtok_r(buf, "\n", &save);
	if (!line || strcmp(line, CRASH_FILE_MAGIC) != 0) {
		snprintf(why, why_size, "does not start with \"%s\"", CRASH_FILE_MAGIC);
		return -1;
	}
	enum { F_SIGNAL = 1, F_PLUGIN = 2, F_FILE = 4, F_EVENT = 8, F_SEQ = 16, F_ATTEMPT = 32, F_TIME = 64 };
	unsigned seen = 0;
	bool ended = false;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (ended) {
			snprintf(why, why_size, "text after the end line");
			return -1;
		}
		if (strcmp(line, CRASH_FILE_END) == 0) {
			ended = true;
			continue;
		}
		char *value = strchr(line, ' ');
		if (!value) {
			snprintf(why, why_size, "malformed line \"%.40s\"", line);
			return -1;
		}
		*value++ = '\0';
		uint64_t v = 0;
		bool ok = true;
		if (strcmp(line, "signal") == 0) {
			ok = crash_unescape(value, r->signal, sizeof r->signal) && r->signal[0];
			seen |= F_SIGNAL;
		} else if (strcmp(line, "plugin") == 0) {
			ok = es_config_plugin_name_valid(value) && copy_field(r->plugin, sizeof r->plugin, value);
			seen |= F_PLUGIN;
		} else if (strcmp(line, "file") == 0) {
			ok = crash_unescape(value, r->file_id, sizeof r->file_id);
			seen |= F_FILE;
		} else if (strcmp(line, "event") == 0) {
			ok = crash_unescape(value, r->event_id, sizeof r->event_id);
			seen |= F_EVENT;
		} else if (strcmp(line, "seq") == 0) {
			ok = parse_u64(value, &r->seq);
			seen |= F_SEQ;
		} else if (strcmp(line, "attempt") == 0) {
			ok = parse_u64(value, &v) && v <= UINT32_MAX; /* 0: outside handle(), checked below */
			r->attempt = (uint32_t)v;
			seen |= F_ATTEMPT;
		} else if (strcmp(line, "time_us") == 0) {
			ok = parse_u64(value, &v) && v <= INT64_MAX;
			r->at_us = (int64_t)v;
			seen |= F_TIME;
		} else if (strcmp(line, "pid") == 0) {
			ok = parse_u64(value, &v);
		} else {
			snprintf(why, why_size, "unknown field \"%.40s\"", line);
			return -1;
		}
		if (!ok) {
			snprintf(why, why_size, "invalid %s \"%.60s\"", line, value);
			return -1;
		}
	}
	if (!ended) {
		snprintf(why, why_size, "cut short (no end line)");
		return -1;
	}
	if (seen != (F_SIGNAL | F_PLUGIN | F_FILE | F_EVENT | F_SEQ | F_ATTEMPT | F_TIME)) {
		snprintf(why, why_size, "fields missing");
		return -1;
	}
	if (r->attempt == 0 && r->event_id[0]) { /* attempt 0 is a crash outside handle(), with no event */
		snprintf(why, why_size, "attempt 0 with an event");
		return -1;
	}
	return 0;
}

void crash_history_format_crash(const crash_record *r, char *out, size_t out_size)
{
	/* every value that is not a number or a plugin name escaped: a space
	 * in one would shift the fields and lose the line */
	char event[3 * sizeof r->event_id + 1], signal[3 * sizeof r->signal + 1], file[3 * sizeof r->file_id + 1];
	event[crash_escape(event, 0, sizeof event, r->event_id)] = '\0';
	signal[crash_escape(signal, 0, sizeof signal, r->signal)] = '\0';
	file[crash_escape(file, 0, sizeof file, r->file_id)] = '\0';
	snprintf(out, out_size, "crash %" PRId64 " %s %s %" PRIu32 " %" PRIu64 " %s %s\n", r->at_us, r->plugin, signal,
	         r->attempt, r->seq, file, event);
}

void crash_history_format_release(int64_t at_us, const char *plugin, const char *by, const char *reason, char *out,
                                  size_t out_size)
{
	char b[200], w[400];
	b[crash_escape(b, 0, sizeof b, by)] = '\0';
	w[crash_escape(w, 0, sizeof w, reason)] = '\0';
	snprintf(out, out_size, "release %" PRId64 " %s %s %s\n", at_us, plugin, b, w);
}

history_kind crash_history_parse(const char *line, crash_record *r)
{
	memset(r, 0, sizeof *r);
	char plugin[80], signal[3 * sizeof r->signal + 1], file[3 * sizeof r->file_id + 1], event[3 * sizeof r->event_id + 1],
		by[256], why[512];
	long long at;
	unsigned long long seq;
	unsigned attempt;
	char tail;
	if (sscanf(line, "crash %lld %79s %48s %u %llu %288s %771s %c", &at, plugin, signal, &attempt, &seq, file, event,
	           &tail) == 7) {
		if (at < 0 || !es_config_plugin_name_valid(plugin) || !copy_field(r->plugin, sizeof r->plugin, plugin) ||
		    !crash_unescape(signal, r->signal, sizeof r->signal) || !r->signal[0] ||
		    !crash_unescape(event, r->event_id, sizeof r->event_id) ||
		    !crash_unescape(file, r->file_id, sizeof r->file_id))
			return HISTORY_BAD;
		r->at_us = at;
		r->seq = seq;
		r->attempt = attempt;
		return HISTORY_CRASH;
	}
	if (sscanf(line, "release %lld %79s %255s %511s %c", &at, plugin, by, why, &tail) == 4) {
		if (at < 0 || !es_config_plugin_name_valid(plugin) || !copy_field(r->plugin, sizeof r->plugin, plugin))
			return HISTORY_BAD;
		r->at_us = at;
		return HISTORY_RELEASE;
	}
	return HISTORY_BAD;
}
