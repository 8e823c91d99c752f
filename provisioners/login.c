/* The first login replaces the insecure key; every login checks the pinned host key. The
 * order (add the new key, prove it works with a second login, only then remove the insecure
 * one) means an interruption never locks envup out of a machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "core/fsutil.h"
#include "core/project.h"
#include "core/strutil.h"
#include "core/testpoint.h"
#include "provisioners/login.h"
#include "provisioners/sshfiles.h"
#include "provisioners/sshkey.h"

#define SCRIPT_OUT_MAX 4096

static void say(const struct login_params *p, const char *msg)
{
	if (p->info)
		p->info(p->ctx, msg);
}

/* Runs a small maintenance script; fails with its stderr when it exits non-zero. */
static int run_script(struct comm *c, const char *what, const char *script, struct err *e)
{
	char *errout = NULL;
	int status, rc;

	if (comm_capture(c, script, NULL, &errout, SCRIPT_OUT_MAX, &status, e) < 0)
		return err_wrap(e, "%s", what);
	rc = status ? err_set(e, ERR_FAIL, "%s failed (exit status %d)%s%s", what, status,
			      *errout ? ": " : "", errout)
		    : 0;
	free(errout);
	return rc;
}

static int add_key_script(char **out, const char *line, const char *blob)
{
	char *ql = str_shell_quote(line), *qb = str_shell_quote(blob);
	int r = -1;

	if (ql && qb)
		r = asprintf(out,
			     "umask 077; mkdir -p ~/.ssh && chmod 700 ~/.ssh && "
			     "f=~/.ssh/authorized_keys && touch \"$f\" && "
			     "if ! grep -qF %s \"$f\"; then "
			     "if [ -s \"$f\" ] && [ -n \"$(tail -c1 \"$f\")\" ]; then echo "
			     ">>\"$f\"; fi; "
			     "printf '%%s\\n' %s >>\"$f\"; fi",
			     qb, ql);
	free(ql);
	free(qb);
	return r;
}

/* Drops every line with the insecure key, but replaces the file only when the new key is
 * still in the result, so a surprise never leaves authorized_keys without our key. */
static int remove_key_script(char **out, const char *insecure_blob, const char *new_blob)
{
	char *qi = str_shell_quote(insecure_blob), *qn = str_shell_quote(new_blob);
	int r = -1;

	if (qi && qn)
		r = asprintf(
			out,
			"f=~/.ssh/authorized_keys; t=\"$f.envup-new\"; "
			"grep -vF %s \"$f\" >\"$t\"; r=$?; "
			"if [ $r -le 1 ] && grep -qF %s \"$t\"; then "
			"chmod 600 \"$t\" && mv -f \"$t\" \"$f\"; "
			"else rm -f \"$t\"; echo 'authorized_keys left unchanged' >&2; exit 3; fi",
			qi, qn);
	free(qi);
	free(qn);
	return r;
}

static void fill_target(const struct login_params *p, struct comm_target *t, const char *known_host,
			const struct comm_identity *ids, size_t nids, int timeout)
{
	memset(t, 0, sizeof(*t));
	t->host = p->host;
	t->port = p->port;
	t->user = p->m->ssh.user;
	t->known_host = known_host;
	t->host_alias = p->m->name;
	t->ids = ids;
	t->nids = nids;
	t->timeout_s = timeout;
	t->waiting = p->waiting;
	t->ctx = p->ctx;
}

/* Drops the insecure key from authorized_keys over c, keeping the machine's own (blob). */
static int remove_insecure(struct comm *c, const char *blob, struct err *e)
{
	char *insecure = sshkey_blob(sshkey_insecure_public()), *script = NULL;
	int rc;

	if (!insecure || remove_key_script(&script, insecure, blob) < 0)
		rc = err_set(e, ERR_FAIL, "out of memory");
	else
		rc = run_script(c, "removing the insecure key from ~/.ssh/authorized_keys", script,
				e);
	free(script);
	free(insecure);
	return rc;
}

/* Whether state.json records the insecure key as removed (the swap below finished). */
static bool swap_finished(const char *machine_dir)
{
	struct json_object *st = NULL, *ssh, *v;
	struct err ignored = {0};
	bool done;

	if (machine_state_load(machine_dir, &st, &ignored) < 0)
		return false;
	done = json_object_object_get_ex(st, "ssh", &ssh) &&
	       json_object_object_get_ex(ssh, "insecure_key_removed", &v) &&
	       json_object_get_boolean(v);
	json_object_put(st);
	return done;
}

/* Logged in with the machine's own key after an envup was killed between adding it and
 * removing the insecure key: the insecure key is removed now. */
static int finish_swap(const struct login_params *p, struct comm *c, const char *keypath,
		       struct err *e)
{
	char *line = NULL, *blob = NULL, comment[300];
	int rc = -1;

	snprintf(comment, sizeof(comment), "envup-%s", p->m->name);
	if (sshkey_public_line(keypath, comment, &line, e) < 0)
		return -1;
	blob = sshkey_blob(line);
	if (!blob)
		err_set(e, ERR_FAIL, "out of memory");
	else {
		say(p, "finishing the key swap an interrupted envup left");
		rc = remove_insecure(c, blob, e);
	}
	free(blob);
	free(line);
	return rc;
}

/* Adds the machine key over the insecure login, logs in again with it, removes the insecure
 * key over that second login. On success *c is the new connection. */
static int insert_key(const struct login_params *p, struct comm **c, const char *keypath,
		      const char *known_host, struct err *e)
{
	struct comm_identity id = {keypath, keypath, NULL};
	struct comm_target t;
	struct comm *fresh = NULL;
	char *line = NULL, *blob = NULL, *script = NULL, comment[300];
	int rc = -1;

	snprintf(comment, sizeof(comment), "envup-%s", p->m->name);
	if (!fs_exists(keypath) && sshkey_generate(keypath, comment, e) < 0)
		return err_wrap(e, "machine '%s'", p->m->name);
	if (sshkey_public_line(keypath, comment, &line, e) < 0)
		return -1;
	blob = sshkey_blob(line);
	if (!blob || add_key_script(&script, line, blob) < 0) {
		script = NULL;
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	say(p, "replacing the insecure key with a key of its own");
	if (run_script(*c, "adding the machine's key to ~/.ssh/authorized_keys", script, e) < 0)
		goto out;
	free(script);
	script = NULL;
	testpoint_stop("key-added");
	fill_target(p, &t, known_host, &id, 1, 30);
	if (comm_connect(&t, &fresh, NULL, e) < 0) {
		err_wrap(e, "logging in with the new key");
		goto out;
	}
	if (remove_insecure(fresh, blob, e) < 0)
		goto out;
	comm_close(*c);
	*c = fresh;
	fresh = NULL;
	rc = 0;
out:
	comm_close(fresh);
	free(script);
	free(blob);
	free(line);
	return rc;
}

static int record_login(const struct login_params *p, struct comm *c, const char *key,
			bool insecure_removed, struct err *e)
{
	struct json_object *st = NULL, *old, *ssh = json_object_new_object();
	int rc;

	if (!ssh)
		return err_set(e, ERR_FAIL, "out of memory");
	if (machine_state_load(p->machine_dir, &st, e) < 0) {
		json_object_put(ssh);
		return -1;
	}
	json_object_object_add(ssh, "user", json_object_new_string(p->m->ssh.user));
	json_object_object_add(ssh, "key", json_object_new_string(key));
	json_object_object_add(ssh, "host_key",
			       json_object_new_string(comm_host_key_fingerprint(c)));
	json_object_object_add(ssh, "insecure_key_removed",
			       json_object_new_boolean(insecure_removed));
	/* envssh does not take the project lock: write only when something changed, so that a
	 * login never races an envup's own state update for nothing. */
	if (json_object_object_get_ex(st, "ssh", &old) && json_object_equal(old, ssh)) {
		json_object_put(ssh);
		json_object_put(st);
		return 0;
	}
	json_object_object_add(st, "ssh", ssh);
	rc = machine_state_save(p->machine_dir, st, e);
	json_object_put(st);
	return rc;
}

int login_connect(const struct login_params *p, struct comm **out, struct err *e)
{
	struct comm_identity ids[2];
	struct comm_target t;
	char *known_host = sshfiles_known_host_path(p->machine_dir);
	char *keypath = fs_join(p->machine_dir, SSHFILES_KEY);
	size_t nids = 0, used = 0;
	bool own_key = false, insecure_removed = !p->m->ssh.private_key;
	int rc = -1;

	*out = NULL;
	if (!known_host || !keypath) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (p->m->ssh.private_key) {
		ids[nids++] =
			(struct comm_identity){p->m->ssh.private_key, p->m->ssh.private_key, NULL};
	} else {
		/* A key from an interrupted replacement is tried first and reused. */
		own_key = fs_exists(keypath);
		if (own_key)
			ids[nids++] = (struct comm_identity){keypath, keypath, NULL};
		ids[nids++] = (struct comm_identity){"the insecure Vagrant key", NULL,
						     sshkey_insecure_private()};
	}
	fill_target(p, &t, known_host, ids, nids, p->timeout_s);
	if (comm_connect(&t, out, &used, e) < 0) {
		bool changed = e->code == ERR_CORRUPT;
		size_t n;

		err_wrap(e, "machine '%s'", p->m->name);
		n = strlen(e->msg);
		if (changed)
			snprintf(e->msg + n, sizeof(e->msg) - n,
				 ". If it was rebuilt on purpose, forget the old key with "
				 "'envdestroy %s' or 'rm %s'",
				 p->m->name, known_host);
		goto out;
	}
	if (!p->m->ssh.private_key && !ids[used].path) {
		if (insert_key(p, out, keypath, known_host, e) < 0) {
			err_wrap(e, "machine '%s'", p->m->name);
			goto out;
		}
	} else if (!p->m->ssh.private_key && !swap_finished(p->machine_dir)) {
		struct err why = {0};

		/* Logging in works either way: a failure is said, and tried again next time. */
		if (finish_swap(p, *out, keypath, &why) < 0) {
			say(p, why.msg);
			insecure_removed = false;
		}
	}
	rc = record_login(p, *out, p->m->ssh.private_key ? "envfile" : SSHFILES_KEY,
			  insecure_removed, e);
out:
	if (rc < 0) {
		comm_close(*out);
		*out = NULL;
	}
	free(keypath);
	free(known_host);
	return rc;
}
