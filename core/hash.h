/* Streaming message digests (OpenSSL libcrypto EVP) for box checksums. */
#ifndef ENVUP_CORE_HASH_H
#define ENVUP_CORE_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

enum hash_algo { HASH_MD5, HASH_SHA1, HASH_SHA256, HASH_SHA384, HASH_SHA512 };

/* Longest hex digest (sha512) plus NUL. */
#define HASH_HEX_MAX 129

struct hash;

/* "md5", "sha1", "sha256", "sha384", "sha512" (case-insensitive) to the enum. */
int hash_algo_from_name(const char *name, enum hash_algo *out, struct err *e);

/* The algorithm's lower-case name. */
const char *hash_algo_name(enum hash_algo a);

/* Starts a digest. */
int hash_new(enum hash_algo a, struct hash **out, struct err *e);

/* Feeds len bytes. */
int hash_update(struct hash *h, const void *buf, size_t len, struct err *e);

/* Starts over (after a download restarts from byte 0). */
int hash_reset(struct hash *h, struct err *e);

/* Writes the lower-case hex digest of everything fed so far into hex (HASH_HEX_MAX bytes). */
int hash_final_hex(struct hash *h, char *hex, struct err *e);

/* A file-name key for the string s: the first 32 hex digits (128 bits) of its SHA-256,
 * written into key (33 bytes). */
int hash_key_hex(const char *s, char key[33], struct err *e);

/* Frees h. NULL is fine. */
void hash_free(struct hash *h);

/* Feeds the whole file at path to h (streaming, bounded memory). */
int hash_file(struct hash *h, const char *path, struct err *e);

/* True when the hex strings are equal ignoring case (checksums in catalogs vary). */
bool hash_hex_equal(const char *a, const char *b);

#endif
