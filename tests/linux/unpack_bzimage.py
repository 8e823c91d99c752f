#!/usr/bin/env python3
"""Writes the ELF kernel (vmlinux) that a bzImage carries compressed, so that tests can boot
a distribution kernel through its PVH entry. The payload's place and size come from the
setup header (payload_offset, payload_length); gzip, xz and zstd payloads are handled.
usage: unpack_bzimage.py BZIMAGE OUT"""
import lzma
import struct
import subprocess
import sys
import zlib


def main():
    src, dst = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        sys.exit("%s: not a bzImage (no HdrS setup header)" % src)
    setup_sects = data[0x1F1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = data[start:start + length]
    if len(payload) != length:
        sys.exit("%s: payload runs past the end of the file" % src)
    if payload.startswith(b"\xfd7zXZ\x00"):
        # the kernel appends the uncompressed size after the stream: decode one stream only
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    elif payload.startswith(b"\x1f\x8b"):
        elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
    elif payload.startswith(b"\x28\xb5\x2f\xfd"):
        elf = subprocess.run(["zstd", "-qdc"], input=payload, capture_output=True,
                             check=True).stdout
    else:
        sys.exit("%s: payload compression %r is not handled" % (src, payload[:4]))
    if not elf.startswith(b"\x7fELF"):
        sys.exit("%s: the payload is not an ELF image" % src)
    open(dst, "wb").write(elf)


if __name__ == "__main__":
    main()
