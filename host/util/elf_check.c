/*
 * Bounds checks on an ELF file's headers (see elf_check.h).
 */
#include "config.h"

#include "util/elf_check.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Does [offset, offset + length) lie within `size`?  Overflow-safe. */
static bool within(uint64_t offset, uint64_t length, uint64_t size)
{
	return offset <= size && length <= size - offset;
}

static bool read_at(int fd, void *buf, size_t len, off_t offset)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, offset + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

bool elf_is_shared_object(int fd, off_t size, char *err, size_t err_size)
{
	ElfW(Ehdr) eh;
	if (size < (off_t)sizeof eh || !read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		snprintf(err, err_size, "not an ELF shared object (%lld bytes without the ELF header): a plugin is a .so "
		         "built for this machine",
		         (long long)size);
		return false;
	}
#if __ELF_NATIVE_CLASS == 64
	if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
		snprintf(err, err_size, "a 32-bit ELF object; this host loads 64-bit plugins");
		return false;
	}
#else
	if (eh.e_ident[EI_CLASS] != ELFCLASS32) {
		snprintf(err, err_size, "a 64-bit ELF object; this host loads 32-bit plugins");
		return false;
	}
#endif
	if (eh.e_type != ET_DYN) {
		snprintf(err, err_size, "an ELF %s, not a shared object (build it with -shared)",
		         eh.e_type == ET_EXEC ? "executable" : eh.e_type == ET_REL ? "object file (.o)" : "file");
		return false;
	}
	return true;
}

bool elf_file_complete(int fd, off_t size, char *err, size_t err_size)
{
	ElfW(Ehdr) eh;
	if (size < (off_t)sizeof eh || !read_at(fd, &eh, sizeof eh, 0))
		return true; /* too short to be ELF: dlopen() refuses it by reading, not mapping */
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return true;
#if __ELF_NATIVE_CLASS == 64
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return true;
#else
	if (eh.e_ident[EI_CLASS] != ELFCLASS32)
		return true;
#endif
	uint64_t fsize = (uint64_t)size;
	if (eh.e_phentsize != sizeof(ElfW(Phdr)) ||
	    !within(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr)), fsize)) {
		snprintf(err, err_size, "is truncated or damaged: its program headers lie outside its %lld bytes",
		         (long long)size);
		return false;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		ElfW(Phdr) ph;
		if (!read_at(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph))) {
			snprintf(err, err_size, "cannot read program header %u", i);
			return false;
		}
		if (ph.p_type == PT_LOAD && !within(ph.p_offset, ph.p_filesz, fsize)) {
			snprintf(err, err_size,
			         "is truncated: a loadable segment ends at byte %llu, the file has %lld bytes "
			         "(a copy still in progress?)",
			         (unsigned long long)ph.p_offset + (unsigned long long)ph.p_filesz, (long long)size);
			return false;
		}
	}
	if (eh.e_shoff != 0 && !within(eh.e_shoff, (uint64_t)eh.e_shnum * eh.e_shentsize, fsize)) {
		snprintf(err, err_size,
		         "is truncated: its section headers end at byte %llu, the file has %lld bytes "
		         "(a copy still in progress?)",
		         (unsigned long long)eh.e_shoff + (unsigned long long)eh.e_shnum * eh.e_shentsize,
		         (long long)size);
		return false;
	}
	return true;
}
