/*
 * Loading plugin shared objects with libltdl and checking them before any
 * of their functions is called.
 *
 * Each load maps a private copy of the file (a memfd), never the path
 * itself: dlopen() of a path that is already loaded returns the old image,
 * so a plugin replaced on disk would otherwise keep running its old code.
 * Copying also closes the gap between the permission check and the load.
 *
 * Ownership: plugin_image_load() returns an image with one reference.  Each
 * holder (an instance, a thread that may still run its code) holds one; the
 * image is unmapped only when the last is dropped, so no plugin code is
 * unloaded while a thread can still be inside it.
 */
#ifndef ES_PLUGIN_LOADER_H
#define ES_PLUGIN_LOADER_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <event-system/plugin.h>

/* Opaque: only plugin_loader.c reads an image's fields. */
typedef struct plugin_image plugin_image;

/* Load and check `path`.  On failure returns NULL with one line in err
 * saying why (versions named for an ABI mismatch).  `service_uid` is the
 * user the daemon runs as: files and directories must be owned by root or
 * by it and be writable by nobody else. */
plugin_image *plugin_image_load(const char *path, uid_t service_uid, char *err, size_t err_size);
void plugin_image_ref(plugin_image *image);
void plugin_image_unref(plugin_image *image);

/* The image's checked copy of the plugin's descriptor, zero-filled beyond
 * the size the plugin declared (fields a 1.0 plugin does not have read as
 * absent); valid while the image is referenced. */
const es_plugin_descriptor *plugin_image_descriptor(const plugin_image *image);
/* The file in the plugin directory it was loaded from, and that file's
 * identity when it was loaded (device, inode, size, mtime). */
const char *plugin_image_path(const plugin_image *image);
const struct stat *plugin_image_stat(const plugin_image *image);

/* Whether the file at plugin_image_path() is no longer the one loaded. */
bool plugin_image_changed_on_disk(const plugin_image *image, const struct stat *now);

/* Check a directory's ownership and mode as for plugin files. */
bool plugin_dir_trusted(const char *dir, uid_t service_uid, char *err, size_t err_size);

/* Check a descriptor read from a plugin (exposed for unit tests).
 * `declared_size` is what the plugin put in struct_size. */
bool plugin_descriptor_check(const es_plugin_descriptor *d, char *err, size_t err_size);

#endif
