/* envvmm's 9P2000.L server (vmm/p9.c) driven by hand-made messages on a real directory: the
 * messages Linux's client sends work, and a hostile client cannot get out of the share (..,
 * '/', absolute and relative symbolic links, a link swapped in during walks, hard links,
 * device nodes), cannot write a read-only share, and gets an Rlerror for malformed input. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "vmm/p9.h"
#include "vmm/virtio_9p.h"

#define RLERROR 7
#define NOFID 0xffffffffu

static struct p9_server srv;
static char *share, *outside;
static uint8_t resp[P9_MSIZE_MAX];
static size_t resp_len;

/* A T-message under construction. */
struct msg {
	uint8_t b[70000];
	size_t n;
};

static void put(struct msg *m, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		m->b[m->n++] = (uint8_t)(v >> (8 * i));
}

static void put_str(struct msg *m, const char *s)
{
	size_t l = strlen(s);

	put(m, l, 2);
	memcpy(m->b + m->n, s, l);
	m->n += l;
}

static void start(struct msg *m, uint8_t type)
{
	m->n = 0;
	put(m, 0, 4);
	put(m, type, 1);
	put(m, 1, 2); /* tag */
}

/* Sends m; returns the reply's type (the error number is then in last_err). */
static int last_err;
static uint8_t send(struct msg *m)
{
	for (int i = 0; i < 4; i++)
		m->b[i] = (uint8_t)(m->n >> (8 * i));
	resp_len = p9_handle(&srv, m->b, m->n, resp, sizeof(resp));
	assert_true(resp_len >= 7);
	assert_int_equal(unit_le(resp, 4), resp_len);
	last_err = resp[4] == RLERROR ? (int)unit_le(resp + 7, 4) : 0;
	return resp[4];
}

static void version(uint32_t msize)
{
	struct msg m;

	start(&m, 100);
	put(&m, msize, 4);
	put_str(&m, "9P2000.L");
	assert_int_equal(send(&m), 101);
}

static void attach(uint32_t fid)
{
	struct msg m;

	start(&m, 104);
	put(&m, fid, 4);
	put(&m, NOFID, 4);
	put_str(&m, "root");
	put_str(&m, "");
	put(&m, 0, 4);
	assert_int_equal(send(&m), 105);
}

/* Twalk fid -> newfid through the names (NULL-terminated); the reply type. */
static uint8_t walk(uint32_t fid, uint32_t newfid, const char *const *names)
{
	struct msg m;
	unsigned n = 0;

	start(&m, 110);
	put(&m, fid, 4);
	put(&m, newfid, 4);
	while (names[n])
		n++;
	put(&m, n, 2);
	for (unsigned i = 0; i < n; i++)
		put_str(&m, names[i]);
	return send(&m);
}

#define WALK(fid, newfid, ...) walk(fid, newfid, (const char *const[]){__VA_ARGS__, NULL})

static uint8_t lopen(uint32_t fid, uint32_t flags)
{
	struct msg m;

	start(&m, 12);
	put(&m, fid, 4);
	put(&m, flags, 4);
	return send(&m);
}

static uint8_t lcreate(uint32_t fid, const char *name, uint32_t flags)
{
	struct msg m;

	start(&m, 14);
	put(&m, fid, 4);
	put_str(&m, name);
	put(&m, flags, 4);
	put(&m, 0644, 4);
	put(&m, 0, 4);
	return send(&m);
}

static uint8_t rw(uint8_t type, uint32_t fid, uint64_t off, const char *data, uint32_t count)
{
	struct msg m;

	start(&m, type);
	put(&m, fid, 4);
	put(&m, off, 8);
	put(&m, data ? strlen(data) : count, 4);
	if (data) {
		memcpy(m.b + m.n, data, strlen(data));
		m.n += strlen(data);
	}
	return send(&m);
}

static uint8_t clunk(uint32_t fid)
{
	struct msg m;

	start(&m, 120);
	put(&m, fid, 4);
	return send(&m);
}

static uint8_t simple_fid(uint8_t type, uint32_t fid)
{
	struct msg m;

	start(&m, type);
	put(&m, fid, 4);
	return send(&m);
}

static uint8_t setattr_ids(uint32_t fid, uint32_t valid, uint32_t mode, uint32_t uid, uint32_t gid,
			   uint64_t size)
{
	struct msg m;

	start(&m, 26);
	put(&m, fid, 4);
	put(&m, valid, 4);
	put(&m, mode, 4);
	put(&m, uid, 4);
	put(&m, gid, 4);
	put(&m, size, 8);
	for (int i = 0; i < 4; i++)
		put(&m, 0, 8);
	return send(&m);
}

static uint8_t setattr(uint32_t fid, uint32_t valid, uint32_t mode, uint64_t size)
{
	return setattr_ids(fid, valid, mode, 0, 0, size);
}

static uint8_t dir_name(uint8_t type, uint32_t dfid, const char *name, uint32_t a, uint32_t b)
{
	struct msg m;

	start(&m, type);
	put(&m, dfid, 4);
	put_str(&m, name);
	put(&m, a, 4);
	put(&m, b, 4);
	return send(&m);
}

static uint8_t link9(uint32_t dfid, uint32_t fid, const char *name)
{
	struct msg m;

	start(&m, 70);
	put(&m, dfid, 4);
	put(&m, fid, 4);
	put_str(&m, name);
	return send(&m);
}

static uint8_t renameat9(uint32_t od, const char *on, uint32_t nd, const char *nn)
{
	struct msg m;

	start(&m, 74);
	put(&m, od, 4);
	put_str(&m, on);
	put(&m, nd, 4);
	put_str(&m, nn);
	return send(&m);
}

static uint8_t rename9(uint32_t fid, uint32_t dfid, const char *name)
{
	struct msg m;

	start(&m, 20);
	put(&m, fid, 4);
	put(&m, dfid, 4);
	put_str(&m, name);
	return send(&m);
}

static char *slurp(const char *dir, const char *name)
{
	static char buf[256];
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	struct err e = {0};

	share = unit_tmpdir();
	outside = unit_tmpdir();
	unit_write(share, "hello", "hello from the host\n");
	unit_write(outside, "secret", "outside-secret\n");
	assert_int_equal(unit_sh("mkdir %s/dir && echo inner >%s/dir/f && ln -s %s %s/abs && "
				 "ln -s %s/secret %s/abs_file && ln -s ../$(basename %s) %s/rel",
				 share, share, outside, share, outside, share, outside, share),
			 0);
	assert_int_equal(p9_server_open(&srv, share, false, &e), 0);
	return 0;
}

static int teardown(void **state)
{
	p9_server_close(&srv);
	unit_rmdir(share);
	unit_rmdir(outside);
	return 0;
}

static void test_version_and_attach(void **state)
{
	struct msg m;

	start(&m, 104); /* attach before version */
	put(&m, 0, 4);
	put(&m, NOFID, 4);
	put_str(&m, "");
	put_str(&m, "");
	put(&m, 0, 4);
	assert_int_equal(send(&m), RLERROR);
	assert_int_equal(last_err, EPROTO);

	start(&m, 100);
	put(&m, 1u << 30, 4);
	put_str(&m, "9P2000.L");
	assert_int_equal(send(&m), 101);
	assert_int_equal(unit_le(resp + 7, 4), P9_MSIZE_MAX); /* bounded by what we allocate */

	start(&m, 100);
	put(&m, 8192, 4);
	put_str(&m, "9P2000.u");
	assert_int_equal(send(&m), 101);
	assert_int_equal(unit_le(resp + 11, 2), 7);
	assert_memory_equal(resp + 13, "unknown", 7);

	version(8192);
	assert_int_equal(unit_le(resp + 7, 4), 8192);
	attach(0);
	assert_int_equal(resp[7], 0x80); /* a directory qid */
	start(&m, 104);			 /* a fid in use */
	put(&m, 0, 4);
	put(&m, NOFID, 4);
	put_str(&m, "");
	put_str(&m, "");
	put(&m, 0, 4);
	assert_int_equal(send(&m), RLERROR);
	start(&m, 104); /* another tree */
	put(&m, 1, 4);
	put(&m, NOFID, 4);
	put_str(&m, "");
	put_str(&m, "/etc");
	put(&m, 0, 4);
	assert_int_equal(send(&m), RLERROR);
}

static void test_read_write_create(void **state)
{
	version(8192);
	attach(0);
	assert_int_equal(WALK(0, 1, "hello"), 111);
	assert_int_equal(unit_le(resp + 7, 2), 1);
	assert_int_equal(lopen(1, 0), 13);
	assert_int_equal(rw(116, 1, 0, NULL, 100), 117);
	assert_int_equal(unit_le(resp + 7, 4), 20);
	assert_memory_equal(resp + 11, "hello from the host\n", 20);
	/* a read never answers more than msize */
	assert_int_equal(rw(116, 1, 0, NULL, 1u << 30), 117);
	assert_true(resp_len <= 8192);

	assert_int_equal(WALK(0, 2, "dir"), 111);
	assert_int_equal(lcreate(2, "new", 02 /* RDWR */), 15);
	assert_int_equal(rw(118, 2, 0, "written by the guest", 0), 119);
	assert_int_equal(unit_le(resp + 7, 4), 20);
	assert_string_equal(slurp(share, "dir/new"), "written by the guest");
	assert_int_equal(simple_fid(50, 2), 51); /* fsync */
	assert_int_equal(setattr(2, 0x8 /* size */, 0, 7), 27);
	assert_string_equal(slurp(share, "dir/new"), "written");
	assert_int_equal(setattr(2, 0x1 /* mode */, 0600, 0), 27);
	{
		struct stat st;
		char p[512];
		snprintf(p, sizeof(p), "%s/dir/new", share);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		/* set-user-ID and set-group-ID never reach the host; owners are never changed
		 * (the request succeeds, as with QEMU's security_model=none) */
		assert_int_equal(setattr(2, 0x1, 06755, 0), 27);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0755);
		assert_int_equal(setattr_ids(2, 0x2 | 0x4, 0, 4242, 4343, 0), 27);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_uid, geteuid());
		assert_int_equal(st.st_gid, getegid());
		assert_int_equal(setattr(2, 0x1, 0600, 0), 27);
	}
	{
		struct msg m;
		start(&m, 24); /* getattr: mode, then size at 7+8+13+4+4+4+8+8 */
		put(&m, 2, 4);
		put(&m, 0x7ff, 8);
		assert_int_equal(send(&m), 25);
		assert_int_equal(unit_le(resp + 28, 4), S_IFREG | 0600);
		assert_int_equal(unit_le(resp + 56, 8), 7);
	}

	/* mkdir, rename (the fid follows), readdir, unlink */
	assert_int_equal(dir_name(72, 0, "sub", 0755, 0), 73);
	assert_int_equal(renameat9(0, "dir", 0, "dir2"), 75);
	assert_int_equal(rw(116, 2, 0, NULL, 100), 117); /* fid 2 follows: dir2/new */
	assert_int_equal(walk(2, 3, (const char *const[]){NULL}), 111); /* clone */
	assert_int_equal(clunk(2), 121);
	assert_int_equal(WALK(0, 4, "dir2"), 111);
	assert_int_equal(lopen(4, 0), 13);
	{
		struct msg m;
		start(&m, 40);
		put(&m, 4, 4);
		put(&m, 0, 8);
		put(&m, 4000, 4);
		assert_int_equal(send(&m), 41);
		assert_non_null(memmem(resp, resp_len, "new", 3));
		assert_non_null(memmem(resp, resp_len, "f", 1));
	}
	assert_int_equal(dir_name(76, 0, "sub", 0x200, 0), 77);
	assert_int_equal(unit_sh("test ! -e %s/sub", share), 0);
	assert_int_equal(clunk(3), 121);
	assert_int_equal(clunk(3), RLERROR);
	assert_int_equal(last_err, EBADF);
}

static void test_escapes(void **state)
{
	struct stat before, after;
	char p[512];

	snprintf(p, sizeof(p), "%s/secret", outside);
	assert_int_equal(stat(p, &before), 0);
	version(8192);
	attach(0);
	/* names that are not one entry */
	assert_int_equal(WALK(0, 1, ".."), RLERROR);
	assert_int_equal(last_err, EINVAL);
	assert_int_equal(WALK(0, 1, "dir", "..", ".."), 111);
	assert_int_equal(unit_le(resp + 7, 2), 1); /* stops before ".." */
	assert_int_equal(WALK(0, 1, "."), RLERROR);
	assert_int_equal(WALK(0, 1, "dir/f"), RLERROR);
	assert_int_equal(WALK(0, 1, ""), RLERROR);
	assert_int_equal(lcreate(0, "../escape", 02), RLERROR);
	assert_int_equal(dir_name(72, 0, "..", 0755, 0), RLERROR);
	assert_int_equal(renameat9(0, "hello", 0, "../moved"), RLERROR);
	assert_int_equal(unit_sh("test -e %s/hello", share), 0);

	/* symbolic links are entries, never followed */
	assert_int_equal(WALK(0, 1, "abs"), 111);
	assert_int_equal(resp[9], 0x02); /* a symlink qid */
	assert_int_equal(lopen(1, 0), RLERROR);
	assert_int_equal(last_err, ELOOP);
	assert_int_equal(simple_fid(22, 1), 23); /* readlink: the target as text */
	assert_memory_equal(resp + 9, outside, strlen(outside));
	assert_int_equal(WALK(0, 2, "abs", "secret"), 111);
	assert_int_equal(unit_le(resp + 7, 2), 1); /* no qid past the link */
	assert_int_equal(WALK(0, 2, "rel", "secret"), 111);
	assert_int_equal(unit_le(resp + 7, 2), 1);
	assert_int_equal(WALK(0, 2, "abs_file"), 111);
	assert_int_equal(lopen(2, 02), RLERROR);
	assert_int_equal(setattr(2, 0x8, 0, 0), RLERROR);      /* truncate through the link */
	assert_int_equal(setattr(2, 0x1, 0777, 0), RLERROR);   /* chmod through the link */
	assert_int_equal(lcreate(0, "abs_file", 02), RLERROR); /* create over the link */
	/* a hard link of the link is a link to the link, not to the file outside */
	assert_int_equal(link9(0, 2, "hard"), 71);
	snprintf(p, sizeof(p), "%s/hard", share);
	assert_int_equal(lstat(p, &after), 0);
	assert_true(S_ISLNK(after.st_mode));
	/* device nodes are never made */
	{
		struct msg m;
		start(&m, 18);
		put(&m, 0, 4);
		put_str(&m, "null");
		put(&m, S_IFCHR | 0666, 4);
		put(&m, 1, 4); /* major */
		put(&m, 3, 4); /* minor */
		put(&m, 0, 4); /* gid */
		assert_int_equal(send(&m), RLERROR);
		assert_int_equal(last_err, EPERM);
		m.b[4 + 1 + 2 + 4 + 2 + 4 + 1] = (S_IFIFO >> 8) & 0xff; /* a FIFO is fine */
		assert_int_equal(send(&m), 19);
	}
	snprintf(p, sizeof(p), "%s/secret", outside);
	assert_int_equal(stat(p, &after), 0);
	assert_int_equal(after.st_nlink, before.st_nlink);
	assert_int_equal(after.st_mode, before.st_mode);
	assert_int_equal(after.st_size, before.st_size);
	assert_string_equal(slurp(outside, "secret"), "outside-secret\n");
}

/* The host swaps a directory and a symbolic link to the outside under one name while the
 * client walks through it: every walk either reaches the inside file or fails. */
static volatile int swapping;
static void *swapper(void *arg)
{
	char a[512], b[512], c[512];

	snprintf(a, sizeof(a), "%s/race/d", share);
	snprintf(b, sizeof(b), "%s/race/real", share);
	snprintf(c, sizeof(c), "%s/race/link", share);
	while (swapping) {
		rename(a, b);
		rename(c, a);
		rename(a, c);
		rename(b, a);
	}
	return NULL;
}

static void test_swap_race(void **state)
{
	pthread_t t;
	unsigned inside = 0, refused = 0;

	assert_int_equal(unit_sh("mkdir -p %s/race/d && echo inside >%s/race/d/secret && "
				 "ln -s %s %s/race/link",
				 share, share, outside, share),
			 0);
	version(8192);
	attach(0);
	swapping = 1;
	assert_int_equal(pthread_create(&t, NULL, swapper, NULL), 0);
	for (int i = 0; i < 3000; i++) {
		if (WALK(0, 1, "race", "d", "secret") == 111 && unit_le(resp + 7, 2) == 3 &&
		    lopen(1, 0) == 13) {
			assert_int_equal(rw(116, 1, 0, NULL, 100), 117);
			assert_memory_equal(resp + 11, "inside\n", 7);
			inside++;
		} else {
			refused++;
		}
		clunk(1);
	}
	swapping = 0;
	pthread_join(t, NULL);
	print_message("swap race: %u walks reached the inside file, %u refused\n", inside, refused);
	assert_true(inside > 0);
}

/* Trename and Tremove, Trenameat and Tunlinkat below the root: entries move or go, fids at or
 * below a moved entry follow it, the root stays, and Tremove clunks its fid even when the
 * removal fails. */
static void test_rename_remove(void **state)
{
	version(8192);
	attach(0);
	assert_int_equal(dir_name(72, 0, "a", 0755, 0), 73);
	assert_int_equal(WALK(0, 1, "dir"), 111);
	assert_int_equal(WALK(0, 2, "a"), 111);
	assert_int_equal(WALK(0, 3, "dir", "f"), 111);
	assert_int_equal(rename9(1, 2, "moved"), 21);
	assert_int_equal(unit_sh("test -d %s/a/moved && test ! -e %s/dir", share, share), 0);
	assert_int_equal(walk(3, 4, (const char *const[]){NULL}), 111); /* fid 3 followed */
	assert_int_equal(lopen(4, 0), 13);
	assert_int_equal(rw(116, 4, 0, NULL, 100), 117);
	assert_memory_equal(resp + 11, "inner\n", 6);

	assert_int_equal(renameat9(1, "f", 2, "g"), 75);
	assert_string_equal(slurp(share, "a/g"), "inner\n");
	assert_int_equal(walk(3, 5, (const char *const[]){NULL}), 111); /* fid 3 is a/g now */
	assert_int_equal(lopen(5, 0), 13);
	assert_int_equal(rw(116, 5, 0, NULL, 100), 117);
	assert_memory_equal(resp + 11, "inner\n", 6);

	assert_int_equal(rename9(0, 2, "root"), RLERROR);
	assert_int_equal(last_err, EBUSY);
	assert_int_equal(simple_fid(122, 0), RLERROR); /* Tremove of the root */
	assert_int_equal(last_err, EBUSY);
	assert_int_equal(clunk(0), RLERROR); /* clunked all the same */

	attach(0);
	assert_int_equal(dir_name(76, 2, "g", 0, 0), 77);
	assert_int_equal(unit_sh("test ! -e %s/a/g", share), 0);
	assert_int_equal(simple_fid(122, 2), RLERROR); /* a still holds moved */
	assert_int_equal(last_err, ENOTEMPTY);
	assert_int_equal(clunk(2), RLERROR);
	assert_int_equal(last_err, EBADF);
	assert_int_equal(simple_fid(122, 1), 123); /* a/moved, empty now */
	assert_int_equal(unit_sh("test -d %s/a && test ! -e %s/a/moved", share, share), 0);
	assert_int_equal(clunk(1), RLERROR);
}

static void test_readonly(void **state)
{
	struct err e = {0};

	p9_server_close(&srv);
	assert_int_equal(p9_server_open(&srv, share, true, &e), 0);
	version(8192);
	attach(0);
	assert_int_equal(WALK(0, 1, "hello"), 111);
	assert_int_equal(lopen(1, 01), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(lopen(1, 01000 /* TRUNC */), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(setattr(1, 0x8, 0, 0), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(lcreate(0, "x", 02), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(dir_name(72, 0, "x", 0755, 0), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(dir_name(76, 0, "hello", 0, 0), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(renameat9(0, "hello", 0, "x"), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(link9(0, 1, "x"), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(simple_fid(122, 1), RLERROR); /* Tremove */
	assert_int_equal(last_err, EROFS);
	assert_int_equal(WALK(0, 1, "hello"), 111);
	assert_int_equal(lopen(1, 0), 13);
	assert_int_equal(rw(118, 1, 0, "x", 0), RLERROR);
	assert_int_equal(last_err, EROFS);
	assert_int_equal(rw(116, 1, 0, NULL, 5), 117);
	assert_string_equal(slurp(share, "hello"), "hello from the host\n");
}

static void test_malformed(void **state)
{
	struct msg m;
	uint8_t small[16];

	version(8192);
	attach(0);
	/* too short for a header: Rlerror with no tag */
	resp_len = p9_handle(&srv, (const uint8_t *)"\x05\0\0", 3, resp, sizeof(resp));
	assert_int_equal(resp_len, 11);
	assert_int_equal(resp[4], RLERROR);
	assert_int_equal(unit_le(resp + 5, 2), 0xffff);
	/* size larger than what came, or than msize */
	start(&m, 120);
	put(&m, 0, 4);
	m.b[0] = 200;
	resp_len = p9_handle(&srv, m.b, m.n, resp, sizeof(resp));
	assert_int_equal(resp[4], RLERROR);
	/* fields cut off */
	start(&m, 110);
	put(&m, 0, 4);
	put(&m, 1, 4);
	put(&m, 2, 2);
	put(&m, 40, 2); /* a 40-byte name that is not there */
	assert_int_equal(send(&m), RLERROR);
	/* unknown types, 9P2000 legacy ones included */
	start(&m, 112);
	put(&m, 0, 4);
	assert_int_equal(send(&m), RLERROR);
	assert_int_equal(last_err, EOPNOTSUPP);
	start(&m, 255);
	assert_int_equal(send(&m), RLERROR);
	/* too many walk elements */
	assert_int_equal(WALK(0, 1, "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a",
			      "a", "a", "a", "a"),
			 RLERROR);
	/* unknown fids */
	assert_int_equal(lopen(77, 0), RLERROR);
	assert_int_equal(last_err, EBADF);
	/* a name with a NUL inside */
	start(&m, 110);
	put(&m, 0, 4);
	put(&m, 1, 4);
	put(&m, 1, 2);
	put(&m, 3, 2);
	memcpy(m.b + m.n, "a\0b", 3);
	m.n += 3;
	assert_int_equal(send(&m), RLERROR);
	/* xattrs are not offered */
	start(&m, 30);
	put(&m, 0, 4);
	put(&m, 5, 4);
	put_str(&m, "user.x");
	assert_int_equal(send(&m), RLERROR);
	/* no room for a reply at all */
	assert_int_equal(p9_handle(&srv, m.b, m.n, small, 10), 0);
	/* a reply that does not fit the reply buffer becomes an Rlerror */
	assert_int_equal(WALK(0, 1, "hello"), 111);
	assert_int_equal(lopen(1, 0), 13);
	resp_len = p9_handle(&srv, m.b, m.n, small, sizeof(small));
	assert_true(resp_len <= sizeof(small));
}

static void test_fid_limit(void **state)
{
	unsigned made = 0;

	version(8192);
	attach(0);
	for (uint32_t f = 1; f < P9_MAX_FIDS + 10; f++)
		if (WALK(0, f, "hello") == 111)
			made++;
	assert_int_equal(made, P9_MAX_FIDS - 1);
	assert_int_equal(last_err, EMFILE);
	version(8192); /* Tversion forgets them all */
	attach(0);
	assert_int_equal(WALK(0, 1, "hello"), 111);
}

/* Through the virtio transport: a Twrite whose data lies in a second readable segment and an
 * Rread answered into an 11-byte header segment and a data segment, the layout of Linux's
 * zero-copy requests; a chain with no room for a reply is answered with length 0. */
static void test_virtio_chain(void **state)
{
	struct virtio_9p p = {0};
	struct vq_chain c = {0};
	struct msg m;
	uint8_t hdr[11], data[64], small[8];
	static const char text[] = "through the chain";

	p.req = malloc(P9_MSIZE_MAX);
	p.resp = malloc(P9_MSIZE_MAX);
	assert_non_null(p.req);
	assert_non_null(p.resp);
	snprintf(p.tag, sizeof(p.tag), "t");
	version(8192);
	attach(0);
	assert_int_equal(WALK(0, 1, "dir"), 111);
	assert_int_equal(lcreate(1, "z", 02), 15);
	p.srv = srv; /* the same server (fds and fids), now behind the transport */

	start(&m, 118); /* Twrite: header in one segment, data in the next */
	put(&m, 1, 4);
	put(&m, 0, 8);
	put(&m, sizeof(text) - 1, 4);
	for (int i = 0; i < 4; i++)
		m.b[i] = (uint8_t)((m.n + sizeof(text) - 1) >> (8 * i));
	c.n = 3;
	c.seg[0] = (struct vq_seg){.p = m.b, .len = (uint32_t)m.n};
	c.seg[1] = (struct vq_seg){.p = (uint8_t *)text, .len = sizeof(text) - 1};
	c.seg[2] = (struct vq_seg){.p = hdr, .len = sizeof(hdr), .write = true};
	c.out_len = m.n + sizeof(text) - 1;
	c.in_len = sizeof(hdr);
	assert_int_equal(virtio_9p_request(&p, &c), 11);
	assert_int_equal(hdr[4], 119);
	assert_int_equal(unit_le(hdr + 7, 4), sizeof(text) - 1);

	start(&m, 116); /* Tread: the reply's header and data land in their own segments */
	put(&m, 1, 4);
	put(&m, 0, 8);
	put(&m, sizeof(data), 4);
	for (int i = 0; i < 4; i++)
		m.b[i] = (uint8_t)(m.n >> (8 * i));
	c.n = 3;
	c.seg[0] = (struct vq_seg){.p = m.b, .len = (uint32_t)m.n};
	c.seg[1] = (struct vq_seg){.p = hdr, .len = sizeof(hdr), .write = true};
	c.seg[2] = (struct vq_seg){.p = data, .len = sizeof(data), .write = true};
	c.out_len = m.n;
	c.in_len = sizeof(hdr) + sizeof(data);
	assert_int_equal(virtio_9p_request(&p, &c), 11 + sizeof(text) - 1);
	assert_int_equal(hdr[4], 117);
	assert_memory_equal(data, text, sizeof(text) - 1);

	c.n = 2; /* no room for even an Rlerror */
	c.seg[1] = (struct vq_seg){.p = small, .len = sizeof(small), .write = true};
	c.in_len = sizeof(small);
	assert_int_equal(virtio_9p_request(&p, &c), 0);
	assert_int_equal(p.bad_chains, 1);
	srv = p.srv; /* teardown closes it */
	free(p.req);
	free(p.resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version_and_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fid_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtio_chain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
