/* A box archive unpacked while it downloads: a thread reads the download's file behind the
 * download, as far as it is written, and extracts it (boxes/extract.c). The disk is written
 * while the network delivers, instead of after it. The checksum still decides: the caller
 * commits nothing before the download is verified. A download that resumes a partial, starts
 * over or fails breaks the follow; the caller then unpacks the finished file as before. */
#ifndef ENVUP_BOXES_FOLLOW_H
#define ENVUP_BOXES_FOLLOW_H

#include <stdbool.h>

#include "boxes/extract.h"
#include "core/err.h"
#include "core/http.h"

struct follow;

/* Starts the unpacking thread into the existing, empty directory dir (name for messages;
 * hook as extract_archive's, called on that thread) and sets o->arrived to feed it. */
int follow_start(const char *dir, const char *name, const struct extract_hook *hook,
		 struct http_opts *o, struct follow **out, struct err *e);

/* The download is over (downloaded: the whole file is there): waits for the thread and frees
 * f. 0 when dir holds the whole archive unpacked; -1 with why set when it does not. */
int follow_finish(struct follow *f, bool downloaded, struct err *why);

#endif
