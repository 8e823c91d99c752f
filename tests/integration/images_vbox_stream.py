#!/usr/bin/env python3
"""Builds a streamOptimized VMDK the way VirtualBox writes it, which qemu-img cannot:
grain directory offset GD_AT_END in the header, compressed grains with markers, grain
tables after their grains (with GT markers), then the grain directory (GD marker), a footer
(footer marker + header copy with the real GD offset) and an end-of-stream marker."""
import struct
import sys
import zlib

SECTOR = 512
GD_AT_END = 0xFFFFFFFFFFFFFFFF


def header(capacity, grain, desc_sectors, gd_offset, overhead):
    flags = 1 | (1 << 16) | (1 << 17)
    h = b"KDMV" + struct.pack("<IIQQQQIQQQB4sH", 3, flags, capacity, grain, 1, desc_sectors,
                              512, 0, gd_offset, overhead, 0, b"\n \r\n", 1)
    return h.ljust(SECTOR, b"\0")


def marker(val, typ):
    return struct.pack("<QII", val, 0, typ).ljust(SECTOR, b"\0")


def pad(b):
    return b + b"\0" * (-len(b) % SECTOR)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    grain = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    data = open(src, "rb").read()
    capacity = (len(data) + SECTOR - 1) // SECTOR
    gbytes = grain * SECTOR
    ngrains = (capacity + grain - 1) // grain
    ngt = (ngrains + 511) // 512
    desc = ('# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n'
            'createType="streamOptimized"\n\n# Extent description\n'
            'RDONLY %d SPARSE "test.vmdk"\n\n# The Disk Data Base\n#DDB\n\n'
            'ddb.adapterType = "ide"\n' % capacity).encode()
    desc = pad(desc)
    desc_sectors = len(desc) // SECTOR
    overhead = 1 + desc_sectors
    out = bytearray(header(capacity, grain, desc_sectors, GD_AT_END, overhead) + desc)
    gd = [0] * ngt
    for t in range(ngt):
        gt = [0] * 512
        for i in range(512):
            g = t * 512 + i
            if g >= ngrains:
                break
            chunk = data[g * gbytes:(g + 1) * gbytes].ljust(gbytes, b"\0")
            if chunk.count(0) == len(chunk):
                continue
            comp = zlib.compress(chunk, 6)
            gt[i] = len(out) // SECTOR
            out += pad(struct.pack("<QI", g * grain, len(comp)) + comp)
        if any(gt):
            out += marker(4, 1)
            gd[t] = len(out) // SECTOR
            out += struct.pack("<512I", *gt)
    gd_sectors = (ngt * 4 + SECTOR - 1) // SECTOR
    out += marker(gd_sectors, 2)
    gd_off = len(out) // SECTOR
    out += pad(struct.pack("<%dI" % ngt, *gd))
    out += marker(1, 3)
    out += header(capacity, grain, desc_sectors, gd_off, overhead)
    out += marker(0, 0)
    open(dst, "wb").write(out)


main()
