/* A 9P2000.L file server on one host directory, for virtio-9p (vmm/virtio_9p.c): the messages
 * Linux's v9fs client sends, each answered from one request buffer into one reply buffer.
 * The guest is hostile: every path it names is resolved beneath the shared directory
 * (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, final components
 * never followed), names holding '/' or naming '.' or '..' are refused, fids and message sizes
 * are bounded, a malformed message gets an Rlerror, and a read-only share refuses every
 * change with EROFS. Transport-independent, so that unit tests and the fuzzer drive it. */
#ifndef ENVUP_VMM_P9_H
#define ENVUP_VMM_P9_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* The largest message either side may send; Tversion negotiates down from it. Linux's
 * virtio transport asks for at most 512000 (125 pages). */
#define P9_MSIZE_MAX (1u << 20)
/* Fids the guest may hold at once (Linux keeps one per cached dentry, so listing a large
 * directory holds many). */
#define P9_MAX_FIDS 65536
#define P9_FID_BUCKETS 4096
/* Elements in one Twalk (the protocol's own limit). */
#define P9_MAX_WALK 16
/* Bytes of a Tread/Treaddir reply before its data: size[4] type[1] tag[2] count[4]. */
#define P9_IOHDR 11

struct p9_fid;

struct p9_server {
	int root_fd; /* O_PATH directory fd of the share */
	int proc_fd; /* /proc/self/fd, to reopen or chmod an inode pinned by an O_PATH fd */
	bool readonly;
	bool versioned; /* a Tversion was answered */
	uint32_t msize;
	struct p9_fid *bucket[P9_FID_BUCKETS];
	unsigned nfids;
	uint64_t requests, errors;
};

/* Opens dir (which must be a directory) as a share; with readonly every change is refused. */
int p9_server_open(struct p9_server *s, const char *dir, bool readonly, struct err *e);

/* Forgets every fid (closing their files), as a Tversion or a device reset does. */
void p9_server_reset(struct p9_server *s);

/* Closes the share and every fid. */
void p9_server_close(struct p9_server *s);

/* Answers the T-message in req (len bytes, as the transport received them) into resp (cap
 * bytes; at most the negotiated msize is used). Returns the reply's length; 0 only when cap
 * is too small for even an Rlerror. Never fails otherwise: a malformed or refused request
 * gets an Rlerror. */
size_t p9_handle(struct p9_server *s, const uint8_t *req, size_t len, uint8_t *resp, size_t cap);

/* True when name may name one entry of a directory: 1..255 bytes, no '/', not "." or "..". */
bool p9_name_ok(const char *name);

#endif
