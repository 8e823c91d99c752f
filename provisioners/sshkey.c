/* Key handling: the insecure keypair compiled in from data/keys/ (mk/ssh.mk generates the
 * header) and per-machine ed25519 keys written with safe modes from the start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/libssh.h>

#include "core/fsutil.h"
#include "envup_insecure_key.h"
#include "provisioners/sshkey.h"

const char *sshkey_insecure_private(void)
{
	return insecure_private_pem;
}

const char *sshkey_insecure_public(void)
{
	return insecure_public_line;
}

char *sshkey_blob(const char *line)
{
	const char *b = strchr(line, ' ');

	return b ? strndup(b + 1, strcspn(b + 1, " \n")) : NULL;
}

static int public_line(ssh_key key, const char *comment, char **out, struct err *e)
{
	char *b64 = NULL;
	int r;

	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
		return err_set(e, ERR_FAIL, "cannot encode a public key");
	r = asprintf(out, "%s %s%s%s", ssh_key_type_to_char(ssh_key_type(key)), b64,
		     comment ? " " : "", comment ? comment : "");
	ssh_string_free_char(b64);
	if (r < 0) {
		*out = NULL;
		return err_set(e, ERR_FAIL, "out of memory");
	}
	return 0;
}

int sshkey_generate(const char *path, const char *comment, struct err *e)
{
	ssh_key key = NULL;
	char *priv = NULL, *pub = NULL, *line = NULL, *pubpath = NULL;
	int rc = -1;

	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
		return err_set(e, ERR_FAIL, "cannot generate an ed25519 key");
	/* Exported to memory and written by us, so the file is 0600 from its first byte. */
	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &priv) != SSH_OK) {
		err_set(e, ERR_FAIL, "cannot encode the new private key");
		goto out;
	}
	if (public_line(key, comment, &pub, e) < 0)
		goto out;
	if (asprintf(&pubpath, "%s.pub", path) < 0) {
		pubpath = NULL;
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (asprintf(&line, "%s\n", pub) < 0) {
		line = NULL;
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (fs_write_atomic(path, priv, strlen(priv), 0600, e) < 0 ||
	    fs_write_atomic(pubpath, line, strlen(line), 0644, e) < 0)
		goto out;
	rc = 0;
out:
	free(line);
	free(pubpath);
	free(pub);
	ssh_string_free_char(priv);
	ssh_key_free(key);
	return rc;
}

int sshkey_public_line(const char *path, const char *comment, char **out, struct err *e)
{
	ssh_key key = NULL;
	int rc;

	*out = NULL;
	if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK)
		return err_set(e, ERR_USAGE, "cannot read the private key %s", path);
	rc = public_line(key, comment, out, e);
	ssh_key_free(key);
	return rc;
}
