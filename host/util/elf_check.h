/*
 * Is a shared object whole?  dlopen() maps a plugin's segments where its
 * program headers say; a file shorter than that (a copy in progress, a
 * truncated download) maps without error and faults with SIGBUS when a
 * page past its end is first touched, killing the process.  This reads the
 * headers with pread() and checks that everything they name lies inside the
 * file, before anything is mapped.
 *
 * Threads: any; no state.
 */
#ifndef ES_ELF_CHECK_H
#define ES_ELF_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* True when `fd` (`size` bytes) starts as an ELF shared object of this
 * machine's class (64- or 32-bit, ET_DYN).  False, with `err` saying what
 * the file is instead: dlopen()'s own message for a file that is not ELF at
 * all is "file not found", which sends an operator looking in the wrong place. */
bool elf_is_shared_object(int fd, off_t size, char *err, size_t err_size);

/* True when `fd` (`size` bytes) is not an ELF object of this machine's class
 * (the loader's own refusal then says why) or is one whose program headers,
 * loadable segments and section headers all lie within `size`.  False, with
 * `err` saying what is missing, otherwise. */
bool elf_file_complete(int fd, off_t size, char *err, size_t err_size);

#endif
