#include "boxes/image_impl.h"
int vmdk_open(struct image *img, struct err *e) { return err_set(e, ERR_UNSUPPORTED, "x"); }
int vdi_open(struct image *img, struct err *e) { return err_set(e, ERR_UNSUPPORTED, "x"); }
int vhd_open(struct image *img, struct err *e) { return err_set(e, ERR_UNSUPPORTED, "x"); }
