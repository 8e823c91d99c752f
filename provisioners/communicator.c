/* The SSH connection to a machine (libssh). Connecting retries while the machine boots; the
 * host key is pinned on the first login and must match on every later one. Commands over the
 * connection are in comm_exec.c, uploads in comm_upload.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "core/fsutil.h"
#include "provisioners/comm_priv.h"
#include "provisioners/communicator.h"
#include "provisioners/sshfiles.h"

#define TRY_TIMEOUT_MAX 10 /* seconds one connection attempt may take */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fingerprint_of(ssh_key key, char *out, size_t len)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp;

	snprintf(out, len, "%s ?", ssh_key_type_to_char(ssh_key_type(key)));
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) < 0)
		return;
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	if (fp)
		snprintf(out, len, "%s %s", ssh_key_type_to_char(ssh_key_type(key)), fp);
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
}

/* Fingerprint of a pinned key given as type and base64. */
static void fingerprint_of_b64(const char *type, const char *b64, char *out, size_t len)
{
	ssh_key key = NULL;

	snprintf(out, len, "%s (unreadable)", type);
	if (ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type), &key) == SSH_OK)
		fingerprint_of(key, out, len);
	ssh_key_free(key);
}

/* Compares the server's key with the pin. *pin_line is set (heap) when there is no pin yet:
 * the caller writes it once the login has succeeded. */
static int host_key_check(struct comm *c, const struct comm_target *t, char **pin_line,
			  struct err *e)
{
	char ptype[64], *pb64 = NULL, *b64 = NULL, pinned_fp[200];
	const char *type;
	ssh_key key = NULL;
	bool found;
	int rc = -1;

	*pin_line = NULL;
	if (ssh_get_server_publickey(c->s, &key) != SSH_OK)
		return err_set(e, ERR_NET, "%s: no host key from the server: %s", c->where,
			       ssh_get_error(c->s));
	type = ssh_key_type_to_char(ssh_key_type(key));
	fingerprint_of(key, c->fingerprint, sizeof(c->fingerprint));
	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
		err_set(e, ERR_FAIL, "%s: cannot encode the host key", c->where);
		goto out;
	}
	if (sshfiles_pinned_read(t->known_host, ptype, sizeof(ptype), &pb64, &found, e) < 0)
		goto out;
	if (!found) {
		if (asprintf(pin_line, "%s %s %s\n", t->host_alias, type, b64) < 0) {
			*pin_line = NULL;
			err_set(e, ERR_FAIL, "out of memory");
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (strcmp(ptype, type) || strcmp(pb64, b64)) {
		fingerprint_of_b64(ptype, pb64, pinned_fp, sizeof(pinned_fp));
		err_set(e, ERR_CORRUPT,
			"the host key of %s has changed: it offered %s but %s pins %s. Someone may "
			"be intercepting the connection, or the machine was rebuilt",
			c->where, c->fingerprint, t->known_host, pinned_fp);
		goto out;
	}
	rc = 0;
out:
	ssh_string_free_char(b64);
	free(pb64);
	ssh_key_free(key);
	return rc;
}

static int load_identity(const struct comm_identity *id, ssh_key *key, struct err *e)
{
	int r;

	if (id->pem)
		r = ssh_pki_import_privkey_base64(id->pem, NULL, NULL, NULL, key);
	else
		r = ssh_pki_import_privkey_file(id->path, NULL, NULL, NULL, key);
	if (r != SSH_OK)
		return err_set(e, ERR_USAGE, "cannot read the private key %s (%s)", id->label,
			       r == SSH_EOF ? "missing or unreadable" : "not a key libssh reads");
	return 0;
}

/* Logs in with the first identity that works. fatal: the server refused every key. */
static int authenticate(struct comm *c, const struct comm_target *t, size_t *used, bool *fatal,
			struct err *e)
{
	char tried[600] = "";
	size_t off = 0;
	int r;

	r = ssh_userauth_none(c->s, NULL);
	if (r == SSH_AUTH_SUCCESS) {
		if (used)
			*used = 0;
		return 0;
	}
	if (r == SSH_AUTH_ERROR)
		return err_set(e, ERR_NET, "%s: %s", c->where, ssh_get_error(c->s));
	for (size_t i = 0; i < t->nids; i++) {
		ssh_key key = NULL;

		if (load_identity(&t->ids[i], &key, e) < 0) {
			*fatal = true;
			return -1;
		}
		r = ssh_userauth_publickey(c->s, NULL, key);
		ssh_key_free(key);
		if (r == SSH_AUTH_SUCCESS) {
			if (used)
				*used = i;
			return 0;
		}
		if (r == SSH_AUTH_ERROR)
			return err_set(e, ERR_NET, "%s: %s", c->where, ssh_get_error(c->s));
		off += (size_t)snprintf(tried + off, sizeof(tried) - off, "%s%s", i ? ", " : "",
					t->ids[i].label);
		if (off >= sizeof(tried))
			off = sizeof(tried) - 1;
	}
	*fatal = true;
	return err_set(e, ERR_FAIL, "%s refused the login with %s", c->where,
		       t->nids ? tried : "no key");
}

static int set_options(struct comm *c, const struct comm_target *t, long timeout, const char *algs)
{
	unsigned int port = (unsigned int)t->port;
	int verbosity = SSH_LOG_NOLOG;
	bool no = false;
	int one = 1;

	if (ssh_options_set(c->s, SSH_OPTIONS_HOST, t->host) < 0 ||
	    ssh_options_set(c->s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(c->s, SSH_OPTIONS_USER, t->user) < 0 ||
	    ssh_options_set(c->s, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
	    ssh_options_set(c->s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) < 0 ||
	    ssh_options_set(c->s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    /* Request/response traffic (SFTP writes, exec start) stalls on Nagle plus delayed
	     * ACKs otherwise: ~40 ms per SFTP write on loopback. */
	    ssh_options_set(c->s, SSH_OPTIONS_NODELAY, &one) < 0 ||
	    /* Our pin is the only trust store: never read or write the user's known_hosts. */
	    ssh_options_set(c->s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(c->s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0)
		return -1;
	if (algs && ssh_options_set(c->s, SSH_OPTIONS_HOSTKEYS, algs) < 0)
		return -1;
	return 0;
}

/* One attempt. *fatal tells the retry loop to stop. */
static int connect_once(struct comm *c, const struct comm_target *t, long timeout, const char *algs,
			size_t *used, bool *fatal, struct err *e)
{
	char *pin_line = NULL;

	*fatal = false;
	c->s = ssh_new();
	if (!c->s) {
		*fatal = true;
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (set_options(c, t, timeout, algs) < 0) {
		*fatal = true;
		return err_set(e, ERR_USAGE, "%s: bad SSH options: %s", c->where,
			       ssh_get_error(c->s));
	}
	if (ssh_connect(c->s) != SSH_OK) {
		const char *msg = ssh_get_error(c->s);

		/* A failed negotiation will not fix itself by waiting (a network error might). */
		if (!strstr(msg, "no match for method"))
			return err_set(e, ERR_NET, "%s", msg);
		*fatal = true;
		if (algs)
			return err_set(e, ERR_CORRUPT,
				       "%s no longer offers a host key of the type pinned in %s "
				       "(%s): %s",
				       c->where, t->known_host, algs, msg);
		return err_set(e, ERR_NET, "%s: %s", c->where, msg);
	}
	if (host_key_check(c, t, &pin_line, e) < 0) {
		*fatal = e->code != ERR_NET;
		return -1;
	}
	if (authenticate(c, t, used, fatal, e) < 0) {
		free(pin_line);
		return -1;
	}
	if (pin_line) {
		int r = fs_write_atomic(t->known_host, pin_line, strlen(pin_line), 0644, e);

		free(pin_line);
		if (r < 0) {
			*fatal = true;
			return err_wrap(e, "pinning the host key");
		}
	}
	return 0;
}

static void drop_session(struct comm *c)
{
	if (c->s) {
		ssh_disconnect(c->s);
		ssh_free(c->s);
		c->s = NULL;
	}
}

int comm_connect(const struct comm_target *t, struct comm **out, size_t *used, struct err *e)
{
	double deadline = now_s() + (t->timeout_s > 0 ? t->timeout_s : 1);
	char ptype[64], *pb64 = NULL, last[ERR_MSG_MAX] = "";
	const char *algs = NULL;
	struct comm *c;
	bool found;

	*out = NULL;
	if (sshfiles_pinned_read(t->known_host, ptype, sizeof(ptype), &pb64, &found, e) < 0)
		return -1;
	free(pb64);
	if (found)
		algs = sshfiles_hostkey_algorithms(ptype);
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(e, ERR_FAIL, "out of memory");
	snprintf(c->where, sizeof(c->where), "%s@%s:%d", t->user, t->host, t->port);
	for (;;) {
		double left = deadline - now_s();
		long timeout = left > TRY_TIMEOUT_MAX ? TRY_TIMEOUT_MAX : left < 1 ? 1 : (long)left;
		bool fatal;

		if (connect_once(c, t, timeout, algs, used, &fatal, e) == 0) {
			*out = c;
			return 0;
		}
		drop_session(c);
		left = deadline - now_s();
		if (fatal)
			break;
		if (left <= 0) {
			err_wrap(e, "gave up waiting for SSH on %s after %d s", c->where,
				 t->timeout_s);
			e->code = ERR_TIMEOUT;
			break;
		}
		if (t->waiting && strcmp(last, e->msg)) {
			snprintf(last, sizeof(last), "%s", e->msg);
			t->waiting(t->ctx, e->msg, (int)left);
		}
		usleep(left > 0.5 ? 500000 : (useconds_t)(left * 1e6));
	}
	free(c);
	return -1;
}

void comm_close(struct comm *c)
{
	if (!c)
		return;
	drop_session(c);
	free(c);
}

const char *comm_host_key_fingerprint(const struct comm *c)
{
	return c->fingerprint;
}
