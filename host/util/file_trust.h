/*
 * Which files the daemon trusts (docs/security.md, "Trust model"): plugin
 * files and their directory, the config file and token files are trusted
 * only when owned by root or by the user the daemon runs as, and not
 * writable by group or others.  Anyone else who can change them could run
 * code as the daemon or read and replace its tokens.
 */
#ifndef ES_FILE_TRUST_H
#define ES_FILE_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* True when `st` (of `path`, a `what` such as "config file") passes; false
 * with why in err ("... is writable by group or others (mode 0664); run
 * chmod go-w"). */
bool file_trusted(const struct stat *st, uid_t service_uid, const char *what, const char *path, char *err,
                  size_t err_size);

/* Open `path` for reading only if it is a regular file: a FIFO, a device
 * or a directory put where a config, token or state file is expected would
 * otherwise block the open or the read forever.  Returns the descriptor
 * (close-on-exec, blocking again) with its stat in *st, or -1 with why in
 * err ("cannot open ...", "... is not a regular file"), where `what` names
 * the file ("token file"). */
int file_open_regular(const char *path, const char *what, struct stat *st, char *err, size_t err_size);

#endif
