/* The digest thread: bytes queued by copy (hashpipe_feed) or filled in place in a lent ring
 * buffer (hashpipe_get/put), in odd sizes and more than the ring holds, digest to what one
 * hash_update of the same bytes gives; drain lets the hash be reset mid-stream. */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

#include "core/hash.h"
#include "core/hashpipe.h"

#define TOTAL ((size_t)21 << 20) /* more than the ring's 8 x 1 MiB */

static unsigned char *pattern(void)
{
	unsigned char *b = malloc(TOTAL);
	uint32_t x = 12345;

	assert_non_null(b);
	for (size_t i = 0; i < TOTAL; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	return b;
}

static void expect_digest(const unsigned char *b, size_t len, const char *got)
{
	struct err e = {0};
	struct hash *h;
	char hex[HASH_HEX_MAX];

	assert_int_equal(hash_new(HASH_SHA256, &h, &e), 0);
	assert_int_equal(hash_update(h, b, len, &e), 0);
	assert_int_equal(hash_final_hex(h, hex, &e), 0);
	assert_string_equal(got, hex);
	hash_free(h);
}

static void test_feed_and_lend(void **state)
{
	unsigned char *b = pattern();
	struct err e = {0};
	struct hash *h;
	struct hashpipe *p;
	char hex[HASH_HEX_MAX];
	size_t off = 0, step = 1;

	(void)state;
	assert_int_equal(hash_new(HASH_SHA256, &h, &e), 0);
	/* Copied in, in sizes that straddle slot boundaries. */
	assert_int_equal(hashpipe_start(h, &p, &e), 0);
	while (off < TOTAL) {
		size_t n = step < TOTAL - off ? step : TOTAL - off;

		hashpipe_feed(p, b + off, n);
		off += n;
		step = step * 3 + 7;
		if (step > (3u << 20))
			step = 4099;
	}
	hashpipe_drain(p);
	assert_int_equal(hash_final_hex(h, hex, &e), 0);
	expect_digest(b, TOTAL, hex);

	/* Lent buffers, partly filled, after a reset mid-stream (as a restarted download). */
	assert_int_equal(hash_reset(h, &e), 0);
	hashpipe_put(p, 0); /* nothing queued: no effect */
	for (off = 0; off < (3u << 20);) {
		size_t cap, n;
		char *buf = hashpipe_get(p, &cap);

		assert_true(cap > 0);
		n = cap - 1000 < (3u << 20) - off ? cap - 1000 : (3u << 20) - off;
		memcpy(buf, b + off, n);
		hashpipe_put(p, n);
		off += n;
	}
	hashpipe_drain(p);
	assert_int_equal(hash_reset(h, &e), 0);
	for (off = 0; off < TOTAL;) {
		size_t cap, n;
		char *buf = hashpipe_get(p, &cap);

		n = cap - 12345 < TOTAL - off ? cap - 12345 : TOTAL - off;
		memcpy(buf, b + off, n);
		hashpipe_put(p, n);
		off += n;
	}
	hashpipe_finish(p);
	assert_int_equal(hash_final_hex(h, hex, &e), 0);
	expect_digest(b, TOTAL, hex);
	hash_free(h);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_feed_and_lend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
