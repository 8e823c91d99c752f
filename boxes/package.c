#include "boxes/package.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "boxes/boxfile.h"
#include "boxes/catalog.h"
#include "boxes/vmdk_write.h"
#include "core/fsutil.h"

static const char *const flavour_names[] = {"envup", "libvirt", "virtualbox"};

int box_flavour_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(flavour_names) / sizeof(flavour_names[0]); i++)
		if (!strcmp(name, flavour_names[i]))
			return (int)i;
	return -1;
}

const char *box_flavour_provider(enum box_flavour f)
{
	return flavour_names[f];
}

static char *envup_metadata(const struct box_package_opts *o, const char *arch)
{
	struct json_object *m = json_object_new_object(), *d = json_object_new_object();
	char *s;

	json_object_object_add(m, "provider", json_object_new_string("envup"));
	json_object_object_add(m, "architecture", json_object_new_string(arch));
	json_object_object_add(d, "path", json_object_new_string("disk.qcow2"));
	json_object_object_add(d, "format", json_object_new_string("qcow2"));
	json_object_object_add(m, "disk", d);
	if (o->kernel)
		json_object_object_add(m, "kernel", json_object_new_string("boot/vmlinuz"));
	if (o->initrd)
		json_object_object_add(m, "initrd", json_object_new_string("boot/initrd.img"));
	if (o->cmdline)
		json_object_object_add(m, "cmdline", json_object_new_string(o->cmdline));
	s = strdup(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(m);
	return s;
}

/* vagrant-libvirt: virtual_size is a whole number of GiB, at least the disk's size. */
static char *libvirt_metadata(uint64_t vsize, const char *arch)
{
	char *s;

	if (asprintf(&s,
		     "{\n  \"provider\": \"libvirt\",\n  \"format\": \"qcow2\",\n"
		     "  \"virtual_size\": %llu,\n  \"architecture\": \"%s\"\n}\n",
		     (unsigned long long)((vsize + (1ULL << 30) - 1) >> 30), arch) < 0)
		return NULL;
	return s;
}

static const char libvirt_vagrantfile[] = "Vagrant.configure(\"2\") do |config|\n"
					  "  config.vm.provider :libvirt do |libvirt|\n"
					  "    libvirt.driver = \"kvm\"\n"
					  "  end\n"
					  "end\n";

static uint64_t image_vsize(const char *path, struct err *e)
{
	struct image *img;
	uint64_t n;

	if (image_open(path, IMAGE_QCOW2, NULL, &img, e) < 0)
		return 0;
	n = image_size(img);
	image_close(img);
	return n;
}

static int check_output(const char *out, struct err *e)
{
	struct stat st;

	/* a device or a directory named as the output is never replaced by a box */
	if (lstat(out, &st) == 0 && !S_ISREG(st.st_mode))
		return err_set(e, ERR_USAGE, "%s exists and is not a regular file", out);
	return 0;
}

int box_package(const struct box_package_opts *o, struct box_package_result *r, struct err *e)
{
	const char *arch = o->arch ? o->arch : catalog_host_arch();
	struct boxfile_member m[5];
	char *work = NULL, *disk = NULL, *meta = NULL, *ovf = NULL;
	enum image_format fmt = o->fmt;
	uint64_t vsize;
	size_t n = 0;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->provider = box_flavour_provider(o->flavour);
	if (o->flavour != BOX_FLAVOUR_ENVUP && (o->kernel || o->initrd || o->cmdline))
		return err_set(e, ERR_USAGE,
			       "--kernel, --initrd and --cmdline are for the envup flavour; a %s "
			       "box boots from its disk",
			       r->provider);
	if ((o->initrd || o->cmdline) && !o->kernel)
		return err_set(e, ERR_USAGE, "--initrd and --cmdline need --kernel");
	if (check_output(o->output, e) < 0)
		return -1;
	if (asprintf(&work, "%s.work-XXXXXX", o->output) < 0 || !mkdtemp(work)) {
		err_sys(e, "cannot create a work directory beside %s", o->output);
		free(work);
		return -1;
	}
	disk = fs_join(work, "disk.qcow2");
	if (!disk) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (fmt == IMAGE_UNKNOWN && image_detect(o->image, &fmt, e) < 0)
		goto out;
	/* Converting writes only what the guest wrote: the box holds a compact image, with no
	 * backing file left (a machine's overlay is flattened with its base here). */
	if (image_convert_trusted(o->image, fmt, o->trusted_backing, disk, IMAGE_QCOW2, 0,
				  o->progress, e) < 0) {
		err_wrap(e, "converting %s", o->image);
		goto out;
	}
	vsize = image_vsize(disk, e);
	if (!vsize)
		goto out;
	switch (o->flavour) {
	case BOX_FLAVOUR_ENVUP:
		meta = envup_metadata(o, arch);
		m[n++] = (struct boxfile_member){.name = "metadata.json", .data = meta};
		m[n++] = (struct boxfile_member){.name = "disk.qcow2", .path = disk};
		if (o->kernel)
			m[n++] = (struct boxfile_member){.name = "boot/vmlinuz", .path = o->kernel};
		if (o->initrd)
			m[n++] = (struct boxfile_member){.name = "boot/initrd.img",
							 .path = o->initrd};
		break;
	case BOX_FLAVOUR_LIBVIRT:
		meta = libvirt_metadata(vsize, arch);
		m[n++] = (struct boxfile_member){.name = "metadata.json", .data = meta};
		m[n++] = (struct boxfile_member){.name = "box.img", .path = disk};
		m[n++] =
			(struct boxfile_member){.name = "Vagrantfile", .data = libvirt_vagrantfile};
		break;
	case BOX_FLAVOUR_VIRTUALBOX: {
		char *vmdk = fs_join(work, "box-disk001.vmdk");
		uint64_t vmdk_size = 0;

		if (!vmdk || vmdk_write_stream(disk, vmdk, &vmdk_size, e) < 0) {
			free(vmdk);
			goto out;
		}
		unlink(disk);
		free(disk);
		disk = vmdk;
		if (asprintf(&meta,
			     "{\n  \"provider\": \"virtualbox\",\n  \"architecture\": \"%s\"\n}\n",
			     arch) < 0)
			meta = NULL;
		ovf = vmdk_ovf("envup-box", "box-disk001.vmdk", vmdk_size, vsize);
		m[n++] = (struct boxfile_member){.name = "metadata.json", .data = meta};
		m[n++] = (struct boxfile_member){.name = "box.ovf", .data = ovf};
		m[n++] = (struct boxfile_member){.name = "box-disk001.vmdk", .path = disk};
		if (!ovf) {
			err_set(e, ERR_FAIL, "out of memory");
			goto out;
		}
		break;
	}
	}
	if (!meta) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	rc = boxfile_write(o->output, m, n, r->sha256, &r->size, e);
out:
	fs_remove_tree(work, NULL);
	free(work);
	free(disk);
	free(meta);
	free(ovf);
	return rc;
}
