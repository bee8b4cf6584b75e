/* The plugin loader against real shared objects built by this tree: valid
 * plugins load, each kind of broken one is refused with its own reason,
 * and a file replaced on disk loads as a new image beside the old one. */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/host_api.h"
#include "core/plugin_instance.h"
#include "core/plugin_loader.h"

static char dir[256];

static void copy_file(const char *from, const char *to, mode_t mode)
{
	FILE *in = fopen(from, "rb");
	if (!in)
		fail_msg("cannot open %s (is ES_TEST_PLUGINS set?)", from);
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s.tmp", to);
	FILE *out = fopen(tmp, "wb");
	assert_non_null(out);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	assert_int_equal(chmod(tmp, mode), 0);
	assert_int_equal(rename(tmp, to), 0); /* like an operator's `install`: a new inode */
}

/* Copy test plugin `name` into the private directory; returns its path. */
static const char *stage(const char *name, const char *as, mode_t mode)
{
	static char path[512];
	char from[512];
	snprintf(from, sizeof from, "%s/%s.so", getenv("ES_TEST_PLUGINS"), name);
	snprintf(path, sizeof path, "%s/%s.so", dir, as);
	copy_file(from, path, mode);
	return path;
}

static int setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/es-loader-XXXXXX");
	assert_non_null(mkdtemp(dir));
	chmod(dir, 0755);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static void expect_refused(const char *path, const char *needle)
{
	char err[512] = "";
	plugin_image *img = plugin_image_load(path, geteuid(), err, sizeof err);
	if (img)
		fail_msg("%s loaded but should have been refused", path);
	if (!strstr(err, needle))
		fail_msg("%s refused with '%s', expected '%s'", path, err, needle);
}

static void valid_plugin_loads_with_its_descriptor(void **state)
{
	char err[512];
	plugin_image *img = plugin_image_load(stage("recorder", "recorder", 0644), geteuid(), err, sizeof err);
	if (!img)
		fail_msg("refused: %s", err);
	assert_string_equal(plugin_image_descriptor(img)->name, "recorder");
	assert_string_equal(plugin_image_descriptor(img)->version, "0.1.0");
	assert_int_equal(plugin_image_descriptor(img)->abi_major, ES_ABI_MAJOR);
	assert_non_null(plugin_image_descriptor(img)->handle);
	plugin_image_unref(img);
}

static void wrong_major_abi_is_refused_naming_both_versions(void **state)
{
	expect_refused(stage("wrong_abi", "wrong_abi", 0644), "built for ABI 2.0, this host serves ABI 1.x");
}

static void newer_minor_abi_is_refused(void **state)
{
	expect_refused(stage("newer_minor", "newer_minor", 0644), "needs ABI 1.99");
}

static void object_without_entry_symbol_is_refused(void **state)
{
	expect_refused(stage("no_symbol", "no_symbol", 0644), "does not export the entry symbol 'es_plugin_entry'");
}

static void file_that_is_not_a_shared_object_is_refused(void **state)
{
	char path[512];
	snprintf(path, sizeof path, "%s/garbage.so", dir);
	FILE *f = fopen(path, "w");
	fputs("this is not an ELF file\n", f);
	fclose(f);
	chmod(path, 0644);
	expect_refused(path, "not an ELF shared object (24 bytes without the ELF header)");
}

static void group_writable_file_is_refused(void **state)
{
	expect_refused(stage("recorder", "writable", 0664), "writable by group or others");
}

static void group_writable_directory_is_not_trusted(void **state)
{
	char err[512];
	assert_true(plugin_dir_trusted(dir, geteuid(), err, sizeof err));
	chmod(dir, 0775);
	assert_false(plugin_dir_trusted(dir, geteuid(), err, sizeof err));
	assert_non_null(strstr(err, "writable by group or others"));
	chmod(dir, 0755);
}

static void replaced_file_loads_as_a_new_image(void **state)
{
	char err[512];
	const char *path = stage("recorder", "swap", 0644);
	plugin_image *old = plugin_image_load(path, geteuid(), err, sizeof err);
	assert_non_null(old);
	struct stat st;
	stat(path, &st);
	assert_false(plugin_image_changed_on_disk(old, &st));

	stage("slow", "swap", 0644); /* new content at the same path */
	stat(path, &st);
	assert_true(plugin_image_changed_on_disk(old, &st));
	plugin_image *fresh = plugin_image_load(path, geteuid(), err, sizeof err);
	assert_non_null(fresh);
	assert_string_equal(plugin_image_descriptor(fresh)->name, "slow");
	assert_string_equal(plugin_image_descriptor(old)->name, "recorder"); /* both mapped at once */
	assert_true(plugin_image_descriptor(fresh)->handle != plugin_image_descriptor(old)->handle); /* two mappings */
	plugin_image_unref(old);
	plugin_image_unref(fresh);
}

static void descriptor_checks_cover_size_and_required_fields(void **state)
{
	char err[512];
	es_plugin_descriptor d = {.struct_size = 8, .abi_major = ES_ABI_MAJOR, .name = "x", .version = "1"};
	assert_false(plugin_descriptor_check(&d, err, sizeof err));
	assert_non_null(strstr(err, "smaller than"));
	d.struct_size = sizeof d;
	assert_false(plugin_descriptor_check(&d, err, sizeof err));
	assert_non_null(strstr(err, "lacks init()"));
	d.name = "Bad Name";
	assert_false(plugin_descriptor_check(&d, err, sizeof err));
	assert_non_null(strstr(err, "name is missing or invalid"));
}

static void init_failure_refuses_the_instance(void **state)
{
	char err[512];
	plugin_image *img = plugin_image_load(stage("init_fail", "init_fail", 0644), geteuid(), err, sizeof err);
	assert_non_null(img);
	router *r = router_create();
	host_services services = {.api = host_api_table(), .router = r, .max_event_size = 1024};
	plugin_policy policy = {.workers = 1, .queue_size = 4, .timeout_ms = 100, .max_attempts = 1,
	                        .wakeup_coalesce_us = 1000};
	plugin_instance *inst = plugin_instance_create(img, NULL, &policy, NULL, 0, &services, err, sizeof err);
	assert_null(inst);
	assert_non_null(strstr(err, "init() failed"));
	plugin_image_unref(img);
	router_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_plugin_loads_with_its_descriptor),
		cmocka_unit_test(wrong_major_abi_is_refused_naming_both_versions),
		cmocka_unit_test(newer_minor_abi_is_refused),
		cmocka_unit_test(object_without_entry_symbol_is_refused),
		cmocka_unit_test(file_that_is_not_a_shared_object_is_refused),
		cmocka_unit_test(group_writable_file_is_refused),
		cmocka_unit_test(group_writable_directory_is_not_trusted),
		cmocka_unit_test(replaced_file_loads_as_a_new_image),
		cmocka_unit_test(descriptor_checks_cover_size_and_required_fields),
		cmocka_unit_test(init_failure_refuses_the_instance),
	};
	return cmocka_run_group_tests_name("loader", tests, setup, teardown);
}
