/* Catalog parsing and selection: constraints compared as versions, provider preference,
 * Vagrant's architecture matching, and malformed catalogs refused with a reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

#include "boxes/ovf.h"
#include "boxes/catalog.h"
#include "boxes/catalog_edit.h"
#include "boxes/registry.h"
#include "boxes/store.h"

static const char multi[] =
	"{\"name\":\"org/multi\",\"versions\":["
	"{\"version\":\"1.2.0\",\"providers\":[{\"name\":\"envup\",\"url\":\"u120\","
	"\"architecture\":\"amd64\"}]},"
	"{\"version\":\"1.10.0\",\"providers\":["
	"{\"name\":\"virtualbox\",\"url\":\"u1100vb\",\"architecture\":\"amd64\"},"
	"{\"name\":\"libvirt\",\"url\":\"u1100lv\",\"architecture\":\"amd64\"},"
	"{\"name\":\"hyperv\",\"url\":\"u1100hv\",\"architecture\":\"amd64\"}]},"
	"{\"version\":\"1.9.7\",\"providers\":[{\"name\":\"envup\",\"url\":\"u197\","
	"\"architecture\":\"amd64\",\"checksum\":\"ab\",\"checksum_type\":\"sha256\"}]},"
	"{\"version\":\"2.0.0\",\"providers\":[{\"name\":\"envup\",\"url\":\"u200\","
	"\"architecture\":\"arm64\"},"
	"{\"name\":\"envup\",\"url\":\"u200s\",\"architecture\":\"s390x\","
	"\"default_architecture\":true}]},"
	"{\"version\":\"3.0.0\",\"providers\":[{\"name\":\"hyperv\",\"url\":\"u300\"}]},"
	"{\"version\":\"4.0-beta\",\"providers\":[{\"name\":\"envup\",\"url\":\"ubeta\"}]},"
	"{\"version\":\"0.5\",\"providers\":[{\"name\":\"envup\",\"url\":\"u05\"}]}"
	"]}";

static struct catalog *load(const char *json)
{
	struct catalog *c = NULL;
	struct err e = {0};

	if (catalog_parse(json, strlen(json), "test", &c, &e) < 0) {
		print_error("%s\n", e.msg);
		fail();
	}
	return c;
}

/* The URL chosen for (constraint, provider, arch), or the error message. */
static char result[1200];

static const char *pick(const struct catalog *c, const char *con, const char *prov,
			const char *arch)
{
	struct catalog_query q = {.constraint = con, .provider = prov, .arch = arch};
	struct catalog_choice ch;
	struct err e = {0};

	if (catalog_select(c, &q, &ch, &e) < 0)
		snprintf(result, sizeof(result), "ERR %s", e.msg);
	else
		snprintf(result, sizeof(result), "%s", ch.provider->url);
	return result;
}

static void test_version_order_and_constraints(void **state)
{
	struct catalog *c = load(multi);

	(void)state;
	if (strcmp(catalog_host_arch(), "amd64")) {
		catalog_free(c);
		skip();
	}
	/* 2.0.0 has no amd64 build but a default_architecture one; it wins on amd64. */
	assert_string_equal(pick(c, NULL, NULL, NULL), "u200s");
	assert_string_equal(pick(c, "< 2", NULL, NULL), "u1100lv");
	assert_string_equal(pick(c, "< 1.10", NULL, NULL), "u197");
	assert_string_equal(pick(c, "~> 1.2.0", NULL, NULL), "u120");
	assert_string_equal(pick(c, ">= 1.2, != 1.10.0, < 2", NULL, NULL), "u197");
	assert_string_equal(pick(c, "= 1.9.7", NULL, NULL), "u197");
	assert_string_equal(pick(c, "<= 0.5", NULL, NULL), "u05"); /* no arch: "unknown" fits */
	assert_true(!strncmp(pick(c, "> 4", NULL, NULL), "ERR", 3));
	assert_non_null(strstr(result, "no version matching '> 4'"));
	assert_true(!strncmp(pick(c, "bogus", NULL, NULL), "ERR", 3));
	catalog_free(c);
}

static void test_provider_and_arch(void **state)
{
	struct catalog *c = load(multi);

	(void)state;
	/* libvirt beats virtualbox; hyperv is not importable. */
	assert_string_equal(pick(c, "1.10.0", NULL, "amd64"), "u1100lv");
	assert_string_equal(pick(c, NULL, "virtualbox", "amd64"), "u1100vb");
	assert_string_equal(pick(c, NULL, NULL, "arm64"), "u200");
	/* An explicit architecture matches exactly: no default_architecture fallback. */
	assert_string_equal(pick(c, NULL, NULL, "s390x"), "u200s");
	assert_string_equal(pick(c, NULL, NULL, "unknown"), "u05");
	assert_true(!strncmp(pick(c, "3.0.0", NULL, "amd64"), "ERR", 3));
	assert_non_null(strstr(result, "hyperv/unknown"));
	assert_true(!strncmp(pick(c, NULL, "hyperv", NULL), "ERR", 3));
	assert_non_null(strstr(result, "not one envup can import"));
	assert_true(!strncmp(pick(c, NULL, "libvirt", "arm64"), "ERR", 3));
	catalog_free(c);
}

static void expect_bad(const char *json, const char *why)
{
	struct catalog *c = NULL;
	struct err e = {0};

	assert_int_equal(catalog_parse(json, strlen(json), "cat.json", &c, &e), -1);
	assert_null(c);
	if (!strstr(e.msg, why)) {
		print_error("'%s' lacks '%s'\n", e.msg, why);
		fail();
	}
}

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("", "not a JSON catalog");
	expect_bad("{\"versions\":[", "not a JSON catalog");
	expect_bad("[]", "must be a JSON object");
	expect_bad("{\"name\":\"x\"}", "\"versions\" must be an array");
	expect_bad("{\"versions\":[{\"providers\":[]}]}", "versions[0]: missing \"version\"");
	expect_bad("{\"versions\":[{\"version\":\"1\",\"providers\":[{\"name\":\"envup\"}]}]}",
		   "providers[0]: missing \"url\"");
	expect_bad("{\"versions\":[{\"version\":\"1\",\"providers\":[{\"name\":\"envup\","
		   "\"url\":\"u\",\"checksum\":\"ab\"}]}]}",
		   "\"checksum\" without \"checksum_type\"");
	expect_bad("{\"versions\":[{\"version\":1}]}", "\"version\" must be a string");
	expect_bad("{\"versions\":[{\"version\":\"1\",\"providers\":[{\"name\":\"envup\","
		   "\"url\":\"u\",\"default_architecture\":\"yes\"}]}]}",
		   "\"default_architecture\" must be true or false");
	{
		/* Deep nesting is refused by the tokenizer's depth limit, not the stack. */
		char *deep = malloc(200001);

		assert_non_null(deep);
		memset(deep, '[', 200000);
		deep[200000] = '\0';
		expect_bad(deep, "not a JSON catalog");
		free(deep);
	}
}

static void test_ovf_order(void **state)
{
	static const char ovf[] =
		"<Envelope><References><File ovf:href=\"a.vmdk\" ovf:id=\"fa\"/>"
		"<File ovf:id=\"fb\" ovf:href=\"b.vmdk\"/><File ovf:id=\"fc\" ovf:href=\"c.vmdk\"/>"
		"</References><DiskSection><Disk ovf:diskId=\"d1\" ovf:fileRef=\"fa\"/>"
		"<Disk ovf:diskId=\"d2\" ovf:fileRef=\"fb\"/><Disk ovf:diskId=\"d3\" "
		"ovf:fileRef=\"fc\"/></DiskSection><VirtualHardwareSection>"
		"<Item><rasd:HostResource>ovf:/disk/d2</rasd:HostResource></Item>"
		"<Item><rasd:HostResource>/disk/d1</rasd:HostResource></Item>"
		"</VirtualHardwareSection></Envelope>";
	struct ovf_disks m = {0};
	struct err e = {0};

	(void)state;
	assert_int_equal(ovf_disks(ovf, strlen(ovf), &m, &e), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.href[0], "b.vmdk");
	assert_string_equal(m.href[1], "a.vmdk");
	assert_string_equal(m.href[2], "c.vmdk"); /* unattached disks come last */
	ovf_disks_free(&m);
	{
		static const char bad[] = "<Disk ovf:diskId=\"x\" ovf:fileRef=\"nope\"/>";

		assert_int_equal(ovf_disks(bad, strlen(bad), &m, &e), -1);
	}
	assert_non_null(strstr(e.msg, "unknown file"));
	assert_int_equal(ovf_disks("<Envelope/>", 11, &m, &e), -1);
	assert_int_equal(m.n, 0);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(registry_name_valid("hashicorp/bionic64"));
	assert_false(registry_name_valid("bionic64"));
	assert_false(registry_name_valid("a/b/c"));
	assert_false(registry_name_valid("../x"));
	assert_false(registry_name_valid("a/.."));
	assert_false(registry_name_valid("a/b?c"));
	assert_true(box_store_name_valid("mybox"));
	assert_true(box_store_name_valid("org/box-1.2_x"));
	assert_false(box_store_name_valid("org/.hidden"));
	assert_false(box_store_name_valid("a/b/c"));
	assert_false(box_store_name_valid("x-VAGRANTSLASH-y"));
	assert_false(box_store_name_valid(""));
	assert_true(catalog_version_cmp("1.10", "1.2") > 0);
	assert_true(catalog_version_cmp("1.0-beta", "0.1") < 0);
}

/* Publishing edits catalogs: releases are added, existing ones refused unless replaced,
 * another box's catalog refused, and what envup does not know kept. */
static void test_catalog_edit(void **state)
{
	struct catalog_release r = {.name = "t/b", .version = "1.0", .provider = "envup",
				    .arch = "amd64", .url = "b/1.0/envup-amd64.box",
				    .checksum_type = "sha256", .checksum = "ab", .size = 7};
	const char *old = "{\"name\":\"t/b\",\"x-team\":1,\"versions\":[{\"version\":\"1.0.0\","
			  "\"providers\":[{\"name\":\"envup\",\"url\":\"u\"}]}]}";
	struct catalog *c;
	struct err e;
	char *out, *out2;

	(void)state;
	assert_int_equal(catalog_edit_add(NULL, 0, "new", &r, false, &out, &e), 0);
	assert_int_equal(catalog_parse(out, strlen(out), "new", &c, &e), 0);
	assert_string_equal(c->name, "t/b");
	assert_int_equal(c->nversions, 1);
	assert_string_equal(c->versions[0].providers[0].checksum, "ab");
	catalog_free(c);
	assert_true(catalog_has_release(out, strlen(out), &r));
	assert_int_equal(catalog_edit_add(out, strlen(out), "cat", &r, false, &out2, &e), -1);
	assert_int_equal(e.code, ERR_EXISTS);
	r.checksum = "cd";
	assert_int_equal(catalog_edit_add(out, strlen(out), "cat", &r, true, &out2, &e), 0);
	assert_non_null(strstr(out2, "\"cd\""));
	assert_null(strstr(out2, "\"ab\""));
	free(out2);
	free(out);
	/* "1.0" is "1.0.0", but another architecture is another release */
	assert_true(catalog_has_release(old, strlen(old), &(struct catalog_release){
		.name = "t/b", .version = "1.0", .provider = "envup", .arch = "unknown"}));
	r.version = "1.0";
	assert_int_equal(catalog_edit_add(old, strlen(old), "cat", &r, false, &out, &e), 0);
	assert_non_null(strstr(out, "x-team"));
	assert_int_equal(catalog_parse(out, strlen(out), "cat", &c, &e), 0);
	assert_int_equal(c->nversions, 1);
	assert_int_equal(c->versions[0].nproviders, 2);
	catalog_free(c);
	free(out);
	r.name = "t/other";
	assert_int_equal(catalog_edit_add(old, strlen(old), "cat", &r, false, &out, &e), -1);
	assert_non_null(strstr(e.msg, "cat is the catalog of 't/b', not of 't/other'"));
	r.name = "t/b";
	assert_int_equal(catalog_edit_add("<html>", 6, "cat", &r, false, &out, &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_order_and_constraints),
		cmocka_unit_test(test_provider_and_arch),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_ovf_order),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_catalog_edit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
