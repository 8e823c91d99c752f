#include "core/project.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"

#define STATE_MAX_BYTES (1u << 20)

int project_peek(const struct env *env, struct project *p, struct err *e)
{
	memset(p, 0, sizeof(*p));
	p->lock_fd = -1;
	p->dir = strdup(env->dir);
	p->state_dir = fs_join(env->dir, ".envup");
	if (!p->dir || !p->state_dir) {
		project_close(p);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	return 0;
}

int project_open(const struct env *env, struct project *p, struct err *e)
{
	char *ignore;

	if (project_peek(env, p, e) < 0)
		return -1;
	if (fs_mkdir_p(p->state_dir, 0755, e) < 0) {
		project_close(p);
		return -1;
	}
	ignore = fs_join(p->state_dir, ".gitignore");
	if (!ignore) {
		project_close(p);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (!fs_exists(ignore) && fs_write_atomic(ignore, "*\n", 2, 0644, e) < 0) {
		free(ignore);
		project_close(p);
		return -1;
	}
	free(ignore);
	return 0;
}

/* The holder writes its pid into the lock file so a waiting command can name it. */
static long lock_holder(int fd)
{
	char buf[32] = {0};

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	return strtol(buf, NULL, 10);
}

int project_lock(struct project *p, bool wait, struct err *e)
{
	char *path = fs_join(p->state_dir, "lock"), pid[32];
	int fd, n;

	if (!path)
		return err_set(e, ERR_FAIL, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_sys(e, "cannot open %s", path);
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		long holder = lock_holder(fd);

		if (errno != EWOULDBLOCK) {
			close(fd);
			return err_sys(e, "cannot lock the project");
		}
		if (!wait) {
			close(fd);
			return err_set(e, ERR_BUSY, "another envup command is running on this "
				       "project (pid %ld)", holder);
		}
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				close(fd);
				return err_sys(e, "cannot lock the project");
			}
		}
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || fs_pwrite_all(fd, pid, (size_t)n, 0) < 0) {
		close(fd);
		return err_sys(e, "cannot write the project lock");
	}
	p->lock_fd = fd;
	return 0;
}

void project_close(struct project *p)
{
	if (p->lock_fd >= 0)
		close(p->lock_fd);
	p->lock_fd = -1;
	free(p->dir);
	free(p->state_dir);
	p->dir = p->state_dir = NULL;
}

char *project_machine_dir(const struct project *p, const char *machine)
{
	char *out;

	if (asprintf(&out, "%s/machines/%s", p->state_dir, machine) < 0)
		return NULL;
	return out;
}

int project_machine_dir_create(const struct project *p, const char *machine, char **out,
			       struct err *e)
{
	char *dir = project_machine_dir(p, machine);

	if (!dir)
		return err_set(e, ERR_FAIL, "out of memory");
	if (fs_mkdir_p(dir, 0700, e) < 0) {
		free(dir);
		return -1;
	}
	*out = dir;
	return 0;
}

int machine_state_load(const char *machine_dir, struct json_object **out, struct err *e)
{
	char *path = fs_join(machine_dir, "state.json"), *text;
	struct json_tokener *tok;
	struct json_object *obj;
	size_t len;

	if (!path)
		return err_set(e, ERR_FAIL, "out of memory");
	if (fs_read_file(path, STATE_MAX_BYTES, &text, &len, e) < 0) {
		if (e->sys_errno == ENOENT) {
			free(path);
			*out = json_object_new_object();
			return *out ? 0 : err_set(e, ERR_FAIL, "out of memory");
		}
		free(path);
		return -1;
	}
	tok = json_tokener_new_ex(32);
	obj = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		err_set(e, ERR_CORRUPT, "%s is not a JSON object; move it away and run the "
			"command again", path);
		obj = NULL;
	}
	/* the fields every reader relies on have their types checked once, here: a state of 12
	 * must say so, not surface later as some other failure */
	for (const char *const *k = (const char *const[]){"state", "provider", NULL}; obj && *k;
	     k++) {
		struct json_object *v;

		if (json_object_object_get_ex(obj, *k, &v) && !json_object_is_type(v, json_type_string)) {
			err_set(e, ERR_CORRUPT, "%s: \"%s\" must be a string, not %s; move the file "
				"away and run the command again", path, *k,
				json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
			json_object_put(obj);
			obj = NULL;
		}
	}
	if (tok)
		json_tokener_free(tok);
	free(text);
	free(path);
	*out = obj;
	return obj ? 0 : -1;
}

int machine_state_save(const char *machine_dir, struct json_object *state, struct err *e)
{
	char *path = fs_join(machine_dir, "state.json");
	const char *text;
	int rc;

	if (!path)
		return err_set(e, ERR_FAIL, "out of memory");
	text = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = fs_write_atomic(path, text, strlen(text), 0600, e);
	free(path);
	return rc;
}
