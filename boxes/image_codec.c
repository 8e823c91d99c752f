/* Decompression of one cluster or grain, with the output bounded to exactly its size.
 * libdeflate (whole-buffer, about twice as fast as zlib) where the build found it, zlib
 * otherwise. */
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#ifdef ENVUP_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include "boxes/image_impl.h"

int image_inflate(const void *in, size_t inlen, void *out, size_t outlen, bool zlib_header,
		  struct err *e)
{
	return image_inflate_range(in, inlen, out, outlen, outlen, zlib_header, e);
}

#ifdef ENVUP_HAVE_LIBDEFLATE
int image_inflate_range(const void *in, size_t inlen, void *out, size_t minlen, size_t outlen,
			bool zlib_header, struct err *e)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	enum libdeflate_result r;
	size_t used = 0, got = 0;

	if (!d)
		return err_set(e, ERR_FAIL, "out of memory (libdeflate)");
	/* the _ex forms accept bytes after the end of the stream (sector padding) */
	if (zlib_header)
		r = libdeflate_zlib_decompress_ex(d, in, inlen, out, outlen, &used, &got);
	else
		r = libdeflate_deflate_decompress_ex(d, in, inlen, out, outlen, &used, &got);
	libdeflate_free_decompressor(d);
	if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
		return err_set(e, ERR_CORRUPT, "compressed data inflates past %zu bytes", outlen);
	if (r != LIBDEFLATE_SUCCESS)
		return err_set(e, ERR_CORRUPT, "compressed data is invalid (%s)",
			       r == LIBDEFLATE_BAD_DATA ? "bad data" : "truncated");
	if (got != outlen && got != minlen)
		return err_set(e, ERR_CORRUPT, "compressed data inflates to %zu bytes, not %zu",
			       got, outlen);
	return 0;
}
#else
int image_inflate_range(const void *in, size_t inlen, void *out, size_t minlen, size_t outlen,
			bool zlib_header, struct err *e)
{
	z_stream zs;
	uint8_t extra;
	int rc;

	if (inlen > UINT32_MAX || outlen > UINT32_MAX)
		return err_set(e, ERR_CORRUPT, "compressed block too large");
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, zlib_header ? 15 : -15) != Z_OK)
		return err_set(e, ERR_FAIL, "out of memory (zlib)");
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)inlen;
	zs.next_out = out;
	zs.avail_out = (uInt)outlen;
	rc = inflate(&zs, Z_FINISH);
	if (rc != Z_STREAM_END && zs.avail_out == 0 && (rc == Z_OK || rc == Z_BUF_ERROR)) {
		/* the output is full: the stream must end here, not produce more */
		zs.next_out = &extra;
		zs.avail_out = 1;
		rc = inflate(&zs, Z_FINISH);
		if (zs.avail_out == 0) {
			inflateEnd(&zs);
			return err_set(e, ERR_CORRUPT, "compressed data inflates past %zu bytes",
				       outlen);
		}
		if (rc == Z_BUF_ERROR)
			rc = Z_STREAM_END; /* full output, stream end not in the bytes given */
	}
	inflateEnd(&zs);
	if (rc != Z_STREAM_END)
		return err_set(e, ERR_CORRUPT, "compressed data is invalid (%s)",
			       zs.msg ? zs.msg : "truncated");
	if (zs.total_out != outlen && zs.total_out != minlen)
		return err_set(e, ERR_CORRUPT, "compressed data inflates to %lu bytes, not %zu",
			       zs.total_out, outlen);
	return 0;
}
#endif

int image_unzstd(const void *in, size_t inlen, void *out, size_t outlen, struct err *e)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	ZSTD_inBuffer ib = {in, inlen, 0};
	ZSTD_outBuffer ob = {out, outlen, 0};
	size_t rc;
	uint8_t extra;

	if (!dc)
		return err_set(e, ERR_FAIL, "out of memory (zstd)");
	/* a bounded window: no frame may ask for more memory than a large cluster needs */
	ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 23);
	for (;;) {
		rc = ZSTD_decompressStream(dc, &ob, &ib);
		if (ZSTD_isError(rc)) {
			ZSTD_freeDCtx(dc);
			return err_set(e, ERR_CORRUPT, "zstd data is invalid (%s)",
				       ZSTD_getErrorName(rc));
		}
		if (rc == 0 || ob.pos == ob.size || ib.pos == ib.size)
			break;
	}
	if (rc != 0 && ob.pos == ob.size && ib.pos < ib.size) {
		/* output full before the frame ended: one more byte means it overflows */
		ZSTD_outBuffer ob2 = {&extra, 1, 0};

		rc = ZSTD_decompressStream(dc, &ob2, &ib);
		if (!ZSTD_isError(rc) && ob2.pos) {
			ZSTD_freeDCtx(dc);
			return err_set(e, ERR_CORRUPT, "zstd data inflates past %zu bytes", outlen);
		}
	}
	ZSTD_freeDCtx(dc);
	if (ob.pos != outlen)
		return err_set(e, ERR_CORRUPT, "zstd data decompresses to %zu bytes, not %zu",
			       ob.pos, outlen);
	return 0;
}
