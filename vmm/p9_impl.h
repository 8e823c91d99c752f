/* Inside envvmm's 9P2000.L server: what its three files share and nothing else includes.
 * vmm/p9_wire.c reads T-messages and writes R-messages, vmm/p9_path.c resolves paths beneath
 * the share and keeps the fid table, vmm/p9.c answers the requests. The public interface is
 * vmm/p9.h. */
#ifndef ENVUP_VMM_P9_IMPL_H
#define ENVUP_VMM_P9_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "vmm/p9.h"

/* Message types (9P2000.L: Linux's include/net/9p/9p.h). */
enum {
	P9_RLERROR = 7,
	P9_TSTATFS = 8,
	P9_TLOPEN = 12,
	P9_TLCREATE = 14,
	P9_TSYMLINK = 16,
	P9_TMKNOD = 18,
	P9_TRENAME = 20,
	P9_TREADLINK = 22,
	P9_TGETATTR = 24,
	P9_TSETATTR = 26,
	P9_TXATTRWALK = 30,
	P9_TXATTRCREATE = 32,
	P9_TREADDIR = 40,
	P9_TFSYNC = 50,
	P9_TLOCK = 52,
	P9_TGETLOCK = 54,
	P9_TLINK = 70,
	P9_TMKDIR = 72,
	P9_TRENAMEAT = 74,
	P9_TUNLINKAT = 76,
	P9_TVERSION = 100,
	P9_TAUTH = 102,
	P9_TATTACH = 104,
	P9_TFLUSH = 108,
	P9_TWALK = 110,
	P9_TREAD = 116,
	P9_TWRITE = 118,
	P9_TCLUNK = 120,
	P9_TREMOVE = 122,
};

#define P9_HDR 7 /* size[4] type[1] tag[2] */
#define P9_NOTAG 0xffff
#define P9_NOFID 0xffffffffu
#define P9_QTDIR 0x80
#define P9_QTSYMLINK 0x02
#define P9_GETATTR_BASIC 0x7ffULL

/* Tsetattr's valid bits. */
/* The mode bits a guest may set on the host: permissions and the sticky bit. Set-user-ID and
 * set-group-ID never reach the host: an envvmm run as root would otherwise let a hostile guest
 * leave a set-user-ID root program in the shared folder. */
#define P9_MODE_BITS 01777
#define P9_SETATTR_MODE 0x1
#define P9_SETATTR_UID 0x2
#define P9_SETATTR_GID 0x4
#define P9_SETATTR_SIZE 0x8
#define P9_SETATTR_ATIME 0x10
#define P9_SETATTR_MTIME 0x20
#define P9_SETATTR_ATIME_SET 0x80
#define P9_SETATTR_MTIME_SET 0x100

/* Tlopen/Tlcreate flags (Linux's P9_DOTL_*). */
#define P9_DOTL_ACCMODE 03
#define P9_DOTL_CREATE 0100
#define P9_DOTL_EXCL 0200
#define P9_DOTL_TRUNC 01000
#define P9_DOTL_APPEND 02000
#define P9_DOTL_NONBLOCK 04000
#define P9_DOTL_DSYNC 010000
#define P9_DOTL_DIRECTORY 0200000
#define P9_DOTL_NOATIME 01000000
#define P9_DOTL_SYNC 04000000

/* Tlock. */
#define P9_LOCK_RDLCK 0
#define P9_LOCK_WRLCK 1
#define P9_LOCK_UNLCK 2
#define P9_LOCK_SUCCESS 0
#define P9_LOCK_BLOCKED 1
#define P9_LOCK_ERROR 2

/* A fid: the guest's handle on one file of the share. */
struct p9_fid {
	struct p9_fid *next;
	uint32_t num;
	char *path; /* relative to the share, "" for its root; components checked by p9_name_ok */
	int fd;	    /* after Tlopen/Tlcreate, else -1 */
	bool is_dir;
};

/* Reading a T-message: every field access is bounds-checked; a short message sets bad. */
struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

/* Writing an R-message: past cap sets full (the reply is then replaced by an Rlerror). */
struct wr {
	uint8_t *p;
	size_t cap, off;
	bool full;
};

/* --- the wire (vmm/p9_wire.c) --- */

/* The next n bytes of the message, or NULL (and bad set) when fewer are left. */
const uint8_t *p9_rd_take(struct rd *r, size_t n);

/* An n-byte little-endian field; 0 (and bad set) past the end. */
uint64_t p9_rd_le(struct rd *r, unsigned n);

#define rd8(r) ((uint8_t)p9_rd_le(r, 1))
#define rd16(r) ((uint16_t)p9_rd_le(r, 2))
#define rd32(r) ((uint32_t)p9_rd_le(r, 4))
#define rd64(r) (p9_rd_le(r, 8))

/* A string field copied NUL-terminated into buf (cap bytes): 0, ENAMETOOLONG or EINVAL. */
int p9_rd_str(struct rd *r, char *buf, size_t cap);

/* An n-byte little-endian field; sets full when it does not fit. */
void p9_wr_le(struct wr *w, uint64_t v, unsigned n);

#define wr8(w, v) p9_wr_le(w, (uint8_t)(v), 1)
#define wr16(w, v) p9_wr_le(w, (uint16_t)(v), 2)
#define wr32(w, v) p9_wr_le(w, (uint32_t)(v), 4)
#define wr64(w, v) p9_wr_le(w, (uint64_t)(v), 8)

/* n bytes as they are; sets full when they do not fit. */
void p9_wr_bytes(struct wr *w, const void *b, size_t n);

/* A string field (length[2] and the bytes). */
void p9_wr_str(struct wr *w, const char *s);

/* The qid of the file st describes. */
void p9_wr_qid(struct wr *w, const struct stat *st);

/* --- paths beneath the share and fids (vmm/p9_path.c) --- */

/* Opens rel beneath the share, never following a symbolic link. Returns the fd or -errno. */
int p9_openat(struct p9_server *s, const char *rel, int flags);

/* Reopens the regular file or directory pinned by the O_PATH fd pfd; closes pfd. Returns
 * the fd or -errno. */
int p9_reopen(struct p9_server *s, int pfd, int flags, struct stat *st);

/* The O_PATH directory holding path's entry, and that entry's name. Returns the fd or -errno. */
int p9_parent(struct p9_server *s, const char *path, char *name, size_t cap);

/* path + "/" + name into a new string, or NULL (errno ENAMETOOLONG or ENOMEM). */
char *p9_path_join(const char *path, const char *name);

/* The fid num, or NULL. */
struct p9_fid *p9_fid_get(struct p9_server *s, uint32_t num);

/* A new fid num with path (taken over); -errno when num is in use or too many exist. */
int p9_fid_new(struct p9_server *s, uint32_t num, char *path, bool is_dir);

/* Forgets fid num and closes its file; -EBADF when there is none. */
int p9_fid_clunk(struct p9_server *s, uint32_t num);

/* After a rename of old to new, every fid at or below old follows it. */
void p9_fids_renamed(struct p9_server *s, const char *old, const char *new);

/* --- requests (vmm/p9.c) --- */

/* One request being answered. */
struct req {
	struct p9_server *s;
	struct rd in;
	struct wr out;
};

#endif
