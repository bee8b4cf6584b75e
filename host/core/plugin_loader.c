/*
 * Plugin loading: trust checks on the file, a private copy in a memfd,
 * lt_dlopen, then ABI checks on the exported descriptor before any plugin
 * function is called.  libltdl keeps global state, so every lt_dl* call is
 * made under one mutex.
 */
#include "config.h"

#include "core/plugin_loader.h"
#include "model/es_config.h"

#include <errno.h>
#include <fcntl.h>
#include <ltdl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "util/elf_check.h"
#include "util/file_trust.h"
#include "util/refcount.h"

struct plugin_image {
	refcount refs;
	void *handle; /* lt_dlhandle */
	/* A copy of the plugin's descriptor, zero-filled beyond the size the
	 * plugin declared: fields a 1.0 plugin does not have read as absent. */
	es_plugin_descriptor descriptor;
	int memfd;      /* the private copy; open while mapped, so its
	                 * /proc/self/fd path (the name glibc and libltdl key
	                 * loaded objects by) is never reused meanwhile */
	char *path;     /* the file in the plugin directory */
	struct stat st; /* its identity when loaded (device, inode, size, mtime) */
};

static pthread_mutex_t ltdl_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ltdl_ready;

/* The smallest descriptor the host can use: everything up to handle(). */
#define DESCRIPTOR_MIN_SIZE (offsetof(es_plugin_descriptor, handle) + sizeof(void *))

bool plugin_dir_trusted(const char *dir, uid_t service_uid, char *err, size_t err_size)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		snprintf(err, err_size, "plugin directory %s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "plugin directory %s is not a directory", dir);
		return false;
	}
	return file_trusted(&st, service_uid, "plugin directory", dir, err, err_size);
}

bool plugin_descriptor_check(const es_plugin_descriptor *d, char *err, size_t err_size)
{
	if (d->abi_major != ES_ABI_MAJOR) {
		snprintf(err, err_size, "plugin was built for ABI %u.%u, this host serves ABI %d.x (%d.%d): rebuild the plugin",
		         d->abi_major, d->abi_minor, ES_ABI_MAJOR, ES_ABI_MAJOR, ES_ABI_MINOR);
		return false;
	}
	if (d->abi_minor > ES_ABI_MINOR) {
		snprintf(err, err_size, "plugin needs ABI %u.%u, this host serves ABI %d.%d: upgrade the host",
		         d->abi_major, d->abi_minor, ES_ABI_MAJOR, ES_ABI_MINOR);
		return false;
	}
	if (d->struct_size < DESCRIPTOR_MIN_SIZE) {
		snprintf(err, err_size, "plugin descriptor is %u bytes, smaller than the %zu bytes ABI %u.%u requires",
		         d->struct_size, (size_t)DESCRIPTOR_MIN_SIZE, d->abi_major, d->abi_minor);
		return false;
	}
	if (!d->name || !es_config_plugin_name_valid(d->name)) {
		snprintf(err, err_size, "plugin name is missing or invalid (1 to 64 of [a-z0-9_-])");
		return false;
	}
	if (!d->version || !d->version[0]) {
		snprintf(err, err_size, "plugin '%s' has no version", d->name);
		return false;
	}
	if (!d->init || !d->handle) {
		snprintf(err, err_size, "plugin '%s' lacks %s()", d->name, !d->init ? "init" : "handle");
		return false;
	}
	return true;
}

static int copy_to_memfd(int fd, const char *path, off_t size, char *err, size_t err_size)
{
	const char *base = strrchr(path, '/');
	char name[64];
	snprintf(name, sizeof name, "es-plugin:%s", base ? base + 1 : path);
	int mfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		snprintf(err, err_size, "memfd_create: %s", strerror(errno));
		return -1;
	}
	off_t offset = 0;
	while (offset < size) {
		ssize_t n = sendfile(mfd, fd, &offset, (size_t)(size - offset));
		if (n <= 0) {
			snprintf(err, err_size, "cannot copy %s: %s", path, n == 0 ? "file shrank while reading" : strerror(errno));
			close(mfd);
			return -1;
		}
	}
	/* The copy never changes again: what was checked is what is mapped. */
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
		snprintf(err, err_size, "cannot seal the copy of %s: %s", path, strerror(errno));
		close(mfd);
		return -1;
	}
	return mfd;
}

/* What a directory entry is, for the message refusing it. */
static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "not a regular file";
}

static void refuse_odd_file(const char *path, int open_errno, char *err, size_t err_size)
{
	struct stat lst;
	if (lstat(path, &lst) == 0 && !S_ISREG(lst.st_mode))
		snprintf(err, err_size, "is %s; only regular files are loaded as plugins", file_kind(lst.st_mode));
	else
		snprintf(err, err_size, "cannot open: %s", strerror(open_errno));
}

plugin_image *plugin_image_load(const char *path, uid_t service_uid, char *err, size_t err_size)
{
	plugin_image *img = NULL;
	/* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer;
	 * O_NOFOLLOW: a symbolic link (or a loop of them) is refused.  The type
	 * is then checked on the descriptor itself, so a file swapped after the
	 * check is never the one loaded. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		refuse_odd_file(path, errno, err, err_size);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, err_size, "cannot stat: %s", strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "is %s; only regular files are loaded as plugins", file_kind(st.st_mode));
		goto out_close;
	}
	if (!file_trusted(&st, service_uid, "plugin file", path, err, err_size))
		goto out_close;
	/* Loaded from a private copy made with sendfile() (reads, no mapping of
	 * the original): a file truncated later cannot fault the mapped copy.
	 * One changed while being copied, or cut short, is refused. */
	int mfd = copy_to_memfd(fd, path, st.st_size, err, err_size);
	if (mfd < 0)
		goto out_close;
	struct stat after;
	if (fstat(fd, &after) != 0 || after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
		snprintf(err, err_size, "changed while being read (a copy still in progress?)");
		close(mfd);
		goto out_close;
	}
	if (!elf_is_shared_object(mfd, st.st_size, err, err_size) || !elf_file_complete(mfd, st.st_size, err, err_size)) {
		close(mfd);
		goto out_close;
	}

	char proc_path[64];
	snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", mfd);
	pthread_mutex_lock(&ltdl_lock);
	if (!ltdl_ready) {
		if (lt_dlinit() != 0) {
			pthread_mutex_unlock(&ltdl_lock);
			snprintf(err, err_size, "lt_dlinit failed");
			close(mfd);
			goto out_close;
		}
		ltdl_ready = true;
	}
	lt_dlhandle handle = lt_dlopen(proc_path);
	const char *dl_error = handle ? NULL : lt_dlerror();
	const es_plugin_descriptor *raw = handle ? lt_dlsym(handle, ES_PLUGIN_ENTRY_SYMBOL) : NULL;
	if (handle && !raw)
		dl_error = lt_dlerror();
	pthread_mutex_unlock(&ltdl_lock);

	if (!handle) {
		snprintf(err, err_size, "not a loadable shared object: %s", dl_error ? dl_error : "unknown error");
		close(mfd);
		goto out_close;
	}
	if (!raw) {
		snprintf(err, err_size, "does not export the entry symbol '%s' (is it an event-system plugin?)",
		         ES_PLUGIN_ENTRY_SYMBOL);
		goto out_dlclose;
	}

	/* Read only the fixed header first; then copy no more than declared. */
	es_plugin_descriptor desc;
	memset(&desc, 0, sizeof desc);
	memcpy(&desc, raw, offsetof(es_plugin_descriptor, name));
	if (desc.abi_major == ES_ABI_MAJOR && desc.abi_minor <= ES_ABI_MINOR && desc.struct_size >= DESCRIPTOR_MIN_SIZE)
		memcpy(&desc, raw, desc.struct_size < sizeof desc ? desc.struct_size : sizeof desc);
	if (!plugin_descriptor_check(&desc, err, err_size))
		goto out_dlclose;

	img = calloc(1, sizeof *img);
	if (!img || !(img->path = strdup(path))) {
		free(img);
		img = NULL;
		snprintf(err, err_size, "out of memory");
		goto out_dlclose;
	}
	refcount_init(&img->refs);
	img->handle = handle;
	img->memfd = mfd;
	img->descriptor = desc;
	img->st = st;
	close(fd);
	return img;

out_dlclose:
	pthread_mutex_lock(&ltdl_lock);
	lt_dlclose(handle);
	pthread_mutex_unlock(&ltdl_lock);
	close(mfd);
out_close:
	close(fd);
	return NULL;
}

const es_plugin_descriptor *plugin_image_descriptor(const plugin_image *img)
{
	return &img->descriptor;
}

const char *plugin_image_path(const plugin_image *img)
{
	return img->path;
}

const struct stat *plugin_image_stat(const plugin_image *img)
{
	return &img->st;
}

void plugin_image_ref(plugin_image *img)
{
	refcount_get(&img->refs);
}

void plugin_image_unref(plugin_image *img)
{
	if (!img || !refcount_put(&img->refs))
		return;
	pthread_mutex_lock(&ltdl_lock);
	lt_dlclose((lt_dlhandle)img->handle);
	pthread_mutex_unlock(&ltdl_lock);
	close(img->memfd);
	free(img->path);
	free(img);
}

bool plugin_image_changed_on_disk(const plugin_image *img, const struct stat *now)
{
	return now->st_dev != img->st.st_dev || now->st_ino != img->st.st_ino || now->st_size != img->st.st_size ||
	       now->st_mtim.tv_sec != img->st.st_mtim.tv_sec || now->st_mtim.tv_nsec != img->st.st_mtim.tv_nsec;
}
