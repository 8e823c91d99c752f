/* A machine's SSH files in its machine directory: the pinned host key (known_host, one
 * OpenSSH known_hosts line) and envup's key for it (SSHFILES_KEY), or the Envfile's. */
#ifndef ENVUP_PROVISIONERS_SSHFILES_H
#define ENVUP_PROVISIONERS_SSHFILES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/envfile.h"
#include "core/err.h"

#define SSHFILES_KEY "id_ed25519" /* the machine's own private key, made at its first login */

/* The private key file a plain `ssh` should use for machine m (heap path); fails when envup
 * has not logged in yet and the Envfile names no key. */
int sshfiles_identity(const struct machine *m, const char *machine_dir, char **out, struct err *e);

/* machine_dir/known_host (heap), the pinned host key file. */
char *sshfiles_known_host_path(const char *machine_dir);

/* Reads a pinned host key file, one OpenSSH known_hosts line "ALIAS TYPE BASE64" (comments
 * and blank lines skipped): the key type into type and the base64 key (heap) into *b64.
 * *found is false when the file does not exist; ERR_CORRUPT when it holds no such line. */
int sshfiles_pinned_read(const char *path, char *type, size_t tlen, char **b64, bool *found,
			 struct err *e);

/* The host key algorithms (libssh's and ssh_config's HostKeyAlgorithms) that offer a key of
 * this type, so that a pinned key's type is the one negotiated again: a server with several
 * host keys could otherwise offer another. */
const char *sshfiles_hostkey_algorithms(const char *type);

#endif
