/* The machine's disk, a linked clone of its box's base.qcow2, and the box's record of the
 * machines that use it: the part of what vmm and qemu share that needs the image library and
 * the box store. Only the providers' up and destroy call it, so only envctl-full links it
 * (with libzstd, libdeflate and libcrypto behind those); local.c stays light for envstatus. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "boxes/image.h"
#include "boxes/store.h"
#include "core/fsutil.h"
#include "core/testpoint.h"
#include "providers/local.h"

int local_disk_ensure(const struct provider_ctx *c, struct err *e)
{
	char *disk = local_file(c, "disk.qcow2"), *tmp = local_file(c, "disk.qcow2.tmp");
	char *base = NULL;
	int rc = -1;

	if (!disk || !tmp) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (fs_exists(disk)) {
		rc = 0;
		goto out;
	}
	if (!c->box) {
		err_set(e, ERR_USAGE, "machine '%s' has no disk and no box to make one from",
			c->m->name);
		goto out;
	}
	base = fs_join(c->box->dir, "base.qcow2");
	if (!base) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	/* Recorded first: a machine killed between here and the rename still lets envdestroy
	 * release the box. */
	if (box_store_use(c->box, c->machine_dir, e) < 0 ||
	    local_state_set(c, "box_dir", json_object_new_string(c->box->dir), e) < 0)
		goto out;
	unlink(tmp);
	if (image_create_qcow2(tmp, c->m->disk_bytes, base, IMAGE_QCOW2, e) < 0)
		goto out;
	testpoint_stop("clone");
	if (rename(tmp, disk) < 0) {
		err_sys(e, "cannot rename %s", tmp);
		goto out;
	}
	rc = 0;
out:
	free(disk);
	free(tmp);
	free(base);
	return rc;
}

int local_destroy(const struct provider_ctx *c, const char *sock_name, struct err *e)
{
	char *box = NULL;
	int rc = 0;

	if (local_kill(c, sock_name, e) < 0 || local_box_dir(c, &box, e) < 0)
		return -1;
	if (box) {
		struct box_entry b = {.dir = box};

		rc = box_store_unuse(&b, c->machine_dir, e);
	}
	free(box);
	return rc;
}
