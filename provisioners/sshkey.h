/* SSH keys envup handles itself: the embedded insecure Vagrant keypair and per-machine keys. */
#ifndef ENVUP_PROVISIONERS_SSHKEY_H
#define ENVUP_PROVISIONERS_SSHKEY_H

#include "core/err.h"

/* The insecure private key (PEM), compiled in from data/keys/vagrant. */
const char *sshkey_insecure_private(void);

/* The insecure public key line "ssh-rsa BASE64 comment" from data/keys/vagrant.pub. */
const char *sshkey_insecure_public(void);

/* The second word of an OpenSSH public key line "TYPE BASE64 comment": what identifies the
 * key in authorized_keys. Heap string; NULL when the line has no second word (or no memory). */
char *sshkey_blob(const char *line);

/* Creates a new ed25519 key: path (mode 0600, OpenSSH format) and path.pub (0644, with
 * comment), both written atomically. */
int sshkey_generate(const char *path, const char *comment, struct err *e);

/* The public key line "TYPE BASE64 comment" of the private key file at path. Heap string. */
int sshkey_public_line(const char *path, const char *comment, char **out, struct err *e);

#endif
