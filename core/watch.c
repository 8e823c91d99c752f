/* inotify watches one directory each: a tree is one watch per directory (symlinks are not
 * followed, so no loops), added as directories appear. Events only say where to look; the
 * caller's rsync finds what actually changed, so a lost event (queue overflow) costs a full
 * sync, never a missed one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/watch.h"

#define WATCH_MASK                                                                          \
	(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM |   \
	 IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

struct watch {
	int fd;
	char **dirs; /* by watch descriptor */
	size_t ndirs;
	watch_skip_fn skip;
	void *ctx;
};

int watch_open(struct watch **out, watch_skip_fn skip, void *ctx, struct err *e)
{
	struct watch *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return err_set(e, ERR_FAIL, "out of memory");
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		free(w);
		return err_sys(e, "inotify_init1");
	}
	w->skip = skip;
	w->ctx = ctx;
	*out = w;
	return 0;
}

void watch_close(struct watch *w)
{
	if (!w)
		return;
	close(w->fd);
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i]);
	free(w->dirs);
	free(w);
}

static int remember(struct watch *w, int wd, const char *dir, struct err *e)
{
	char *copy = strdup(dir);

	if (!copy)
		return err_set(e, ERR_FAIL, "out of memory");
	if ((size_t)wd >= w->ndirs) {
		size_t n = (size_t)wd * 2 + 16;
		char **d = realloc(w->dirs, n * sizeof(*d));

		if (!d) {
			free(copy);
			return err_set(e, ERR_FAIL, "out of memory");
		}
		memset(d + w->ndirs, 0, (n - w->ndirs) * sizeof(*d));
		w->dirs = d;
		w->ndirs = n;
	}
	free(w->dirs[wd]);
	w->dirs[wd] = copy;
	return 0;
}

int watch_add_tree(struct watch *w, const char *root, struct err *e)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	int wd, rc = 0;

	if (w->skip && w->skip(w->ctx, root))
		return 0;
	wd = inotify_add_watch(w->fd, root, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0; /* gone already: its parent's event covers it */
		if (errno == ENOSPC)
			return err_set(e, ERR_FAIL,
				       "cannot watch %s: too many directories for inotify (raise "
				       "the sysctl fs.inotify.max_user_watches)",
				       root);
		return err_sys(e, "cannot watch %s", root);
	}
	if (remember(w, wd, root, e) < 0)
		return -1;
	d = opendir(root);
	if (!d)
		return 0;
	while (rc == 0 && (de = readdir(d))) {
		char *sub;

		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		sub = fs_join(root, de->d_name);
		if (!sub) {
			rc = err_set(e, ERR_FAIL, "out of memory");
			break;
		}
		if (de->d_type == DT_DIR || (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)))
			rc = watch_add_tree(w, sub, e);
		free(sub);
	}
	closedir(d);
	return rc;
}

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drains the queue: reports each event's directory, watches new directories. */
static int drain(struct watch *w, watch_changed_fn changed, void *ctx, struct err *e)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			const char *dir = ev->wd >= 0 && (size_t)ev->wd < w->ndirs
						  ? w->dirs[ev->wd] : NULL;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				changed(ctx, NULL);
				continue;
			}
			if (!dir)
				continue;
			changed(ctx, dir);
			if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
			    ev->len) {
				char *sub = fs_join(dir, ev->name);

				if (!sub)
					return err_set(e, ERR_FAIL, "out of memory");
				if (watch_add_tree(w, sub, e) < 0) {
					free(sub);
					return -1;
				}
				free(sub);
			}
			if (ev->mask & IN_IGNORED) {
				free(w->dirs[ev->wd]);
				w->dirs[ev->wd] = NULL;
			}
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return err_sys(e, "reading inotify events");
	return 0;
}

int watch_wait(struct watch *w, int quiet_ms, int max_ms, watch_changed_fn changed, void *ctx,
	       volatile sig_atomic_t *stop, struct err *e)
{
	struct pollfd pfd = {w->fd, POLLIN, 0};
	long long first = -1, last = 0;

	for (;;) {
		int timeout = -1, r;

		if (*stop)
			return 0;
		if (first >= 0) {
			long long t = ms_now(), until = last + quiet_ms;

			if (until > first + max_ms)
				until = first + max_ms;
			if (t >= until)
				return 1;
			timeout = (int)(until - t);
		}
		r = poll(&pfd, 1, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(e, "poll");
		}
		if (r == 0)
			continue;
		if (drain(w, changed, ctx, e) < 0)
			return -1;
		last = ms_now();
		if (first < 0)
			first = last;
	}
}
