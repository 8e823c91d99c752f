#include "boxes/follow.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct follow {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;		/* our own descriptor of the download's file; -1 before its first bytes */
	uint64_t avail; /* bytes written from byte 0 without a gap */
	uint64_t pos;	/* bytes the unpacking has read (its thread only) */
	bool ended;	/* no more bytes come */
	bool broken;	/* the bytes did not come in order from byte 0 */
	pthread_t thread;
	const char *dir, *name;
	struct extract_hook hook;
	struct err e;
	int rc;
};

static void arrived(void *ctx, int fd, uint64_t start, uint64_t end)
{
	struct follow *f = ctx;

	pthread_mutex_lock(&f->mu);
	if (f->fd < 0 && start == 0 && !f->broken)
		f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (f->fd < 0 || start != f->avail)
		f->broken = true;
	else
		f->avail = end;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static ssize_t follow_read(void *ctx, void *buf, size_t len)
{
	struct follow *f = ctx;
	uint64_t avail;
	ssize_t n;

	pthread_mutex_lock(&f->mu);
	while (!f->broken && !f->ended && f->avail == f->pos)
		pthread_cond_wait(&f->cv, &f->mu);
	avail = f->broken ? 0 : f->avail;
	n = f->broken ? -1 : 0;
	pthread_mutex_unlock(&f->mu);
	if (n < 0 || avail == f->pos)
		return n; /* broken, or the end of what came */
	if (len > avail - f->pos)
		len = (size_t)(avail - f->pos);
	n = pread(f->fd, buf, len, (off_t)f->pos);
	if (n <= 0)
		return -1;
	f->pos += (uint64_t)n;
	return n;
}

static void *unpack(void *arg)
{
	struct follow *f = arg;
	struct extract_source src = {follow_read, f, f->name};

	f->rc = extract_archive_from(&src, f->dir, NULL, f->hook.suffix ? &f->hook : NULL, &f->e);
	return NULL;
}

int follow_start(const char *dir, const char *name, const struct extract_hook *hook,
		 struct http_opts *o, struct follow **out, struct err *e)
{
	struct follow *f = calloc(1, sizeof(*f));

	if (!f)
		return err_set(e, ERR_FAIL, "out of memory");
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->fd = -1;
	f->dir = dir;
	f->name = name;
	if (hook)
		f->hook = *hook;
	if (pthread_create(&f->thread, NULL, unpack, f) != 0) {
		free(f);
		return err_set(e, ERR_FAIL, "cannot start the unpacking thread");
	}
	o->arrived = arrived;
	o->arrived_ctx = f;
	*out = f;
	return 0;
}

int follow_finish(struct follow *f, bool downloaded, struct err *why)
{
	int rc;

	pthread_mutex_lock(&f->mu);
	f->ended = true;
	f->broken |= !downloaded;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	rc = f->rc;
	if (rc < 0)
		*why = f->e;
	if (f->fd >= 0)
		close(f->fd);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return rc;
}
