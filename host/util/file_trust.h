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

#endif
