/*
 * Percent-decoding: see percent.h.
 */
#include "config.h"

#include "util/percent.h"

int percent_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

ssize_t percent_decode(const char *s, size_t n, bool plus_is_space, char *out)
{
	char *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? percent_hex_value(s[i + 1]) : -1;
			int lo = i + 2 < n ? percent_hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*o++ = plus_is_space && s[i] == '+' ? ' ' : s[i];
		}
	}
	*o = '\0';
	return o - out;
}
