#include "core/hash.h"
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct hash {
	enum hash_algo algo;
	EVP_MD_CTX *ctx;
};

static const struct {
	const char *name;
	enum hash_algo algo;
} algos[] = {
	{"md5", HASH_MD5},	 {"sha1", HASH_SHA1},	  {"sha256", HASH_SHA256},
	{"sha384", HASH_SHA384}, {"sha512", HASH_SHA512},
};

int hash_algo_from_name(const char *name, enum hash_algo *out, struct err *e)
{
	for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (name && !strcasecmp(name, algos[i].name)) {
			*out = algos[i].algo;
			return 0;
		}
	return err_set(e, ERR_USAGE,
		       "unknown checksum type '%s' (md5, sha1, sha256, sha384 or sha512)",
		       name ? name : "");
}

const char *hash_algo_name(enum hash_algo a)
{
	for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (algos[i].algo == a)
			return algos[i].name;
	return "?";
}

static const EVP_MD *md_of(enum hash_algo a)
{
	switch (a) {
	case HASH_MD5: return EVP_md5();
	case HASH_SHA1: return EVP_sha1();
	case HASH_SHA256: return EVP_sha256();
	case HASH_SHA384: return EVP_sha384();
	case HASH_SHA512: return EVP_sha512();
	}
	return NULL;
}

int hash_reset(struct hash *h, struct err *e)
{
	if (EVP_DigestInit_ex(h->ctx, md_of(h->algo), NULL) != 1)
		return err_set(e, ERR_FAIL, "cannot start %s digest", hash_algo_name(h->algo));
	return 0;
}

int hash_new(enum hash_algo a, struct hash **out, struct err *e)
{
	struct hash *h = calloc(1, sizeof(*h));

	if (!h || !(h->ctx = EVP_MD_CTX_new())) {
		free(h);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	h->algo = a;
	if (hash_reset(h, e) < 0) {
		hash_free(h);
		return -1;
	}
	*out = h;
	return 0;
}

int hash_update(struct hash *h, const void *buf, size_t len, struct err *e)
{
	if (EVP_DigestUpdate(h->ctx, buf, len) != 1)
		return err_set(e, ERR_FAIL, "%s digest failed", hash_algo_name(h->algo));
	return 0;
}

int hash_final_hex(struct hash *h, char *hex, struct err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	static const char digits[] = "0123456789abcdef";

	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1)
		return err_set(e, ERR_FAIL, "%s digest failed", hash_algo_name(h->algo));
	for (unsigned i = 0; i < n && 2 * i + 2 < HASH_HEX_MAX; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
	return 0;
}

void hash_free(struct hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int hash_file(struct hash *h, const char *path, struct err *e)
{
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	int fd = buf ? fs_open_input(path, false, e) : -1, rc = 0;

	if (!buf || fd < 0) {
		rc = buf ? -1 : err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = read(fd, buf, cap);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys(e, "cannot read %s", path);
			break;
		}
		if (n == 0)
			break;
		if (hash_update(h, buf, (size_t)n, e) < 0) {
			rc = -1;
			break;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

bool hash_hex_equal(const char *a, const char *b)
{
	return a && b && !strcasecmp(a, b);
}

int hash_key_hex(const char *s, char key[33], struct err *e)
{
	struct hash *h;
	char hex[HASH_HEX_MAX];
	int rc;

	if (hash_new(HASH_SHA256, &h, e) < 0)
		return -1;
	rc = hash_update(h, s, strlen(s), e) < 0 || hash_final_hex(h, hex, e) < 0 ? -1 : 0;
	hash_free(h);
	if (rc == 0) {
		memcpy(key, hex, 32);
		key[32] = '\0';
	}
	return rc;
}
