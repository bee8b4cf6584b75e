/*
 * File ownership and mode checks: see file_trust.h.
 */
#include "config.h"

#include "util/file_trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

int file_open_regular(const char *path, const char *what, struct stat *st, char *err, size_t err_size)
{
	/* O_NONBLOCK: opening a FIFO for reading waits for a writer without it. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_size, "cannot open %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0) {
		snprintf(err, err_size, "cannot read %s %s: %s", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, err_size, "%s %s is not a regular file", what, path);
		close(fd);
		return -1;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		snprintf(err, err_size, "cannot read %s %s: %s", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
