/*
 * File ownership and mode checks: see file_trust.h.
 */
#include "config.h"

#include "util/file_trust.h"

#include <stdio.h>

bool file_trusted(const struct stat *st, uid_t service_uid, const char *what, const char *path, char *err,
                  size_t err_size)
{
	if (st->st_uid != 0 && st->st_uid != service_uid) {
		snprintf(err, err_size, "%s %s is owned by uid %u, not by root or the service user (uid %u)", what, path,
		         (unsigned)st->st_uid, (unsigned)service_uid);
		return false;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, err_size, "%s %s is writable by group or others (mode %04o); run chmod go-w", what, path,
		         (unsigned)(st->st_mode & 07777));
		return false;
	}
	return true;
}
