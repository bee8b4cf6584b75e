/*
 * Calendar arithmetic after Howard Hinnant's days_from_civil and
 * civil_from_days (public domain): exact for every proleptic Gregorian
 * date, negative day counts included.
 */
#include "config.h"

#include "util/rfc3339.h"

#include <stdio.h>
#include <string.h>

/* A number macro's value as a string literal, for constant messages */
#define TEXT_OF(number) TEXT_OF_(number)
#define TEXT_OF_(number) #number

#define US_PER_SEC 1000000LL
#define US_PER_DAY (86400LL * US_PER_SEC)

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

const char *rfc3339_parse_why(const char *s, int64_t *out_us)
{
	if (strnlen(s, RFC3339_TEXT_MAX + 1) > RFC3339_TEXT_MAX)
		return "it is longer than " TEXT_OF(RFC3339_TEXT_MAX) " characters";
	int year, mon, day, hour, min, sec;
	/* each check stops at the first mismatch, so a short string (its NUL
	 * is not a digit or separator) is never read past its end */
	if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) || s[7] != '-' || !digits(s + 8, 2, &day) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &hour) || s[13] != ':' ||
	    !digits(s + 14, 2, &min) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return "it does not start YYYY-MM-DDTHH:MM:SS";
	if (mon < 1 || mon > 12)
		return "the month is not 01 to 12";
	if (day < 1 || day > days_in_month(year, mon))
		return "the day is not in its month";
	if (hour > 23)
		return "the hour is not 00 to 23";
	if (min > 59)
		return "the minute is not 00 to 59";
	if (sec > 59)
		return "the second is not 00 to 59 (this server's clock has no leap seconds)";
	const char *p = s + 19;
	int64_t frac_us = 0;
	if (*p == '.') {
		p++;
		int scale = 100000, n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n++ < 6) {
				frac_us += (int64_t)(*p - '0') * scale;
				scale /= 10;
			}
			p++;
		}
		if (n == 0)
			return "a '.' has no digits after it";
	}
	int64_t offset_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return "the offset is not +HH:MM or -HH:MM (HH 00 to 23, MM 00 to 59)";
		offset_s = ((int64_t)oh * 3600 + (int64_t)om * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return "it has no offset after the time: end it with Z, +HH:MM or -HH:MM";
	}
	if (*p)
		return "something follows the offset";
	int64_t us = days_from_civil(year, mon, day) * US_PER_DAY +
	             ((int64_t)hour * 3600 + (int64_t)min * 60 + sec - offset_s) * US_PER_SEC + frac_us;
	static const int64_t first = -62135596800LL * US_PER_SEC;     /* 0001-01-01T00:00:00Z */
	static const int64_t last = 253402300799LL * US_PER_SEC + 999999; /* 9999-12-31T23:59:59.999999Z */
	if (us < first || us > last)
		return "the instant is before year 0001 or after 9999 once the offset is applied";
	*out_us = us;
	return NULL;
}

bool rfc3339_parse(const char *s, int64_t *out_us)
{
	return rfc3339_parse_why(s, out_us) == NULL;
}

void rfc3339_format(int64_t us, char out[40])
{
	/* floor division: 1969-07-20T20:17:40.5Z is 0.5 s after :40, not before :41 */
	int64_t days = us / US_PER_DAY - (us % US_PER_DAY < 0);
	int64_t in_day = us - days * US_PER_DAY;
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	int64_t secs = in_day / US_PER_SEC;
	char text[96]; /* room for any int64 year; a real one takes 27 bytes */
	snprintf(text, sizeof text, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ", (long long)y, m, d, (int)(secs / 3600),
	         (int)(secs / 60 % 60), (int)(secs % 60), (int)(in_day % US_PER_SEC));
	snprintf(out, 40, "%.39s", text);
}
