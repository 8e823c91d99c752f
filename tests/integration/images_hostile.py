#!/usr/bin/env python3
"""Builds hostile disk images for images_hostile.sh: each case is a directory CASE/ with
the image `img` (and whatever it references) and `expect`, a piece of the error message the
reader must give. Starts from small valid images made by qemu-img and breaks one thing."""
import os
import struct
import subprocess
import sys
import zlib

root = sys.argv[1]
cases = []


def qimg(*args):
    subprocess.run(["qemu-img", *args], check=True, stdout=subprocess.DEVNULL)


def case(name, expect):
    d = os.path.join(root, name)
    os.makedirs(d)
    cases.append(name)
    with open(os.path.join(d, "expect"), "w") as f:
        f.write(expect)
    return d


def patch(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def qcow2(d, size="4M", extra=(), data=True, name="img"):
    p = os.path.join(d, name)
    qimg("create", "-q", "-f", "qcow2", *extra, p, size)
    if data:
        subprocess.run(["qemu-io", "-c", "write -P 0x61 0 131072", p], check=True,
                       stdout=subprocess.DEVNULL)
    return p


def be64(v):
    return struct.pack(">Q", v)


def be32(v):
    return struct.pack(">I", v)


def rd(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def set_backing(p, name, fmt=None):
    """Rewrites the backing file name (and format extension) of a fresh qcow2 v3 image."""
    hdr = bytearray(rd(p, 0, 65536))
    pos = 112
    ext = b""
    if fmt:
        f = fmt.encode()
        ext = be32(0xE2792ACA) + be32(len(f)) + f.ljust((len(f) + 7) & ~7, b"\0")
    ext += b"\0" * 8
    hdr[pos:pos + len(ext)] = ext
    off = pos + len(ext)
    hdr[off:off + len(name)] = name
    hdr[8:16] = be64(off)
    hdr[16:20] = be32(len(name))
    patch(p, 0, bytes(hdr[:off + len(name)]))


def l1_entry_off(p):
    return struct.unpack(">Q", rd(p, 40, 8))[0]


def l2_off(p):
    return struct.unpack(">Q", rd(p, l1_entry_off(p), 8))[0] & 0x00FFFFFFFFFFFE00


# --- qcow2 header fields
d = case("qcow2-cluster-bits", "cluster_bits 30 is outside")
patch(qcow2(d), 20, be32(30))
d = case("qcow2-l1-size-huge", "above the limit")
patch(qcow2(d), 36, be32(0x10000000))
d = case("qcow2-l1-size-small", "too small for the virtual size")
patch(qcow2(d, "4G"), 36, be32(1))
d = case("qcow2-l1-past-eof", "past the end of the file")
patch(qcow2(d), 40, be64(1 << 40))
d = case("qcow2-l1-overlaps-header", "overlaps the header")
patch(qcow2(d), 40, be64(0))
d = case("qcow2-l1-overlaps-refcount-table", "overlaps the refcount table")
p = qcow2(d)
patch(p, 40, rd(p, 48, 8))
d = case("qcow2-size-overflow", "virtual size")
patch(qcow2(d), 24, be64(1 << 63))
d = case("qcow2-unknown-feature", "unknown incompatible qcow2 features: bit 40")
patch(qcow2(d), 72, be64(1 << 40))
d = case("qcow2-encrypted", "encrypted qcow2")
patch(qcow2(d), 32, be32(1))
d = case("qcow2-data-file", "external data files")
patch(qcow2(d), 72, be64(1 << 2))
d = case("qcow2-refcount-order", "refcount_order 7")
patch(qcow2(d), 96, be32(7))
d = case("qcow2-snapshots", "nb_snapshots")
patch(qcow2(d), 60, be32(0x7FFFFFFF))
d = case("qcow2-truncated", "truncated")
p = qcow2(d)
os.truncate(p, 50)
d = case("qcow2-backing-name-long", "longer than 1023")
p = qcow2(d)
patch(p, 8, be64(512) + be32(5000))
# --- qcow2 tables and entries (caught while reading: use convert)
d = case("qcow2-l2-past-eof", "L2 table at")
p = qcow2(d)
patch(p, l1_entry_off(p), be64((1 << 63) | (1 << 40)))
d = case("qcow2-data-past-eof", "past the end of the file")
p = qcow2(d)
patch(p, l2_off(p), be64((1 << 63) | (1 << 40)))
d = case("qcow2-data-unaligned", "not aligned")
p = qcow2(d)
patch(p, l2_off(p), be64((1 << 63) | (3 * 65536 + 512)))
d = case("qcow2-compressed-garbage", "compressed data is invalid")
p = qcow2(d)
# a compressed entry (bit 62) pointing at the header: not a deflate stream
patch(p, l2_off(p), be64((1 << 62) | (1 << 54) | 8))
d = case("qcow2-compressed-too-long", "inflates past")
p = qcow2(d, extra=("-o", "cluster_size=4096"))
co = zlib.compressobj(9, zlib.DEFLATED, -15)
blob = co.compress(b"A" * 16384) + co.flush()
end = os.path.getsize(p)
patch(p, end, blob)
nsec = (len(blob) + 511) // 512 - 1
# 4 KiB clusters: x = 62 - (12 - 8) = 58
patch(p, l2_off(p), be64((1 << 62) | (nsec << 58) | end))
d = case("qcow2-zstd-garbage", "zstd data is invalid")
p = qcow2(d, extra=("-o", "compression_type=zstd"))
patch(p, l2_off(p), be64((1 << 62) | (1 << 54) | 65536 * 3))
# --- references
secret = os.path.join(root, "secret.raw")
with open(secret, "wb") as f:
    f.write(b"SECRET-OUTSIDE!\n" * 4096)
d = case("qcow2-backing-absolute", "leaves its directory")
set_backing(qcow2(d, data=False), secret.encode(), "raw")
d = case("qcow2-backing-dotdot", "leaves its directory")
set_backing(qcow2(d, data=False), b"../secret.raw", "raw")
d = case("qcow2-backing-symlink-out", "leaves its directory through a link")
os.symlink("../secret.raw", os.path.join(d, "link.raw"))
set_backing(qcow2(d, data=False), b"link.raw", "raw")
d = case("qcow2-backing-loop", "loops back")
a = qcow2(d, data=False)
b = qcow2(d, data=False, name="b.qcow2")
set_backing(a, b"b.qcow2", "qcow2")
set_backing(b, b"img", "qcow2")
d = case("qcow2-backing-self", "loops back")
set_backing(qcow2(d, data=False), b"img", "qcow2")
d = case("qcow2-backing-too-deep", "deeper than 16")
prev = None
for i in range(20):
    n = "img" if i == 19 else "l%02d.qcow2" % i
    p = qcow2(d, data=False, name=n)
    if prev:
        set_backing(p, prev.encode(), "qcow2")
    prev = n
d = case("qcow2-backing-format-unknown", "backing format 'bochs' is not supported")
qimg("create", "-q", "-f", "raw", os.path.join(d, "base.raw"), "4M")
set_backing(qcow2(d, data=False), b"base.raw", "bochs")
# --- VMDK
def vmdk(d, sub="monolithicSparse"):
    p = os.path.join(d, "img")
    qimg("create", "-q", "-f", "vmdk", "-o", "subformat=" + sub, p, "4M")
    if sub != "streamOptimized":
        subprocess.run(["qemu-io", "-f", "vmdk", "-c", "write -P 0x62 0 131072", p],
                       check=True, stdout=subprocess.DEVNULL)
    return p


d = case("vmdk-grain-size", "grainSize 3 sectors is invalid")
patch(vmdk(d), 20, struct.pack("<Q", 3))
d = case("vmdk-gd-past-eof", "grain directory at sector")
patch(vmdk(d), 56, struct.pack("<Q", 1 << 30))
d = case("vmdk-gtes", "numGTEsPerGT 100000")
patch(vmdk(d), 44, struct.pack("<I", 100000))
d = case("vmdk-capacity", "capacity")
patch(vmdk(d), 12, struct.pack("<Q", 1 << 60))
d = case("vmdk-gd-entries-wrap", "grain directory of 4294967304 entries is too large")
p = vmdk(d)
patch(p, 12, struct.pack("<Q", (1 << 32) + 8))  # capacity in sectors
patch(p, 20, struct.pack("<Q", 1))  # one-sector grains
patch(p, 44, struct.pack("<I", 1))  # one entry per grain table
d = case("vmdk-gd-at-end-no-footer", "footer")
patch(vmdk(d), 56, struct.pack("<Q", 0xFFFFFFFFFFFFFFFF))
d = case("vmdk-extent-short", "extent img-s001 holds 8192 sectors, the descriptor says 16384")
p = vmdk(d, "twoGbMaxExtentSparse")
with open(p) as f:
    desc = f.read()
with open(p, "w") as f:
    f.write(desc.replace('RW 8192 SPARSE', 'RW 16384 SPARSE'))
d = case("vmdk-extent-dotdot", "leaves its directory")
with open(os.path.join(d, "img"), "w") as f:
    f.write('# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n'
            'createType="monolithicFlat"\nRW 128 FLAT "../secret.raw" 0\n')
d = case("vmdk-extent-absolute", "leaves its directory")
with open(os.path.join(d, "img"), "w") as f:
    f.write('# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n'
            'createType="monolithicFlat"\nRW 128 FLAT "%s" 0\n' % secret)
d = case("vmdk-parent-outside", "leaves its directory")
p = os.path.join(d, "img")
with open(p, "w") as f:
    f.write('# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=12345678\n'
            'parentFileNameHint="/etc/hostname"\ncreateType="monolithicFlat"\n'
            'RW 128 ZERO\n')
d = case("vmdk-extent-type", "extent type VMFSRDM is not supported")
with open(os.path.join(d, "img"), "w") as f:
    f.write('# Disk DescriptorFile\nversion=1\nRW 128 VMFSRDM "x.raw"\n')
d = case("vmdk-stream-inflates-past-grain", "inflates past")
p = os.path.join(d, "img")
subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__),
                "images_vbox_stream.py"), secret, p], check=True)
# replace the first grain's data with a stream that inflates to two grains
big = zlib.compress(b"B" * 131072)
data = bytearray(open(p, "rb").read())
first = data.find(struct.pack("<QI", 0, 0)[:8], 512 * 2)
hdr_sectors = 1 + struct.unpack("<Q", data[36:44])[0]
g = hdr_sectors * 512
data[g + 8:g + 12] = struct.pack("<I", len(big))
data[g + 12:g + 12 + len(big)] = big
open(p, "wb").write(bytes(data))
# --- VDI
def vdi(d, static="off"):
    p = os.path.join(d, "img")
    qimg("create", "-q", "-f", "vdi", "-o", "static=" + static, p, "4M")
    subprocess.run(["qemu-io", "-f", "vdi", "-c", "write -P 0x63 0 131072", p], check=True,
                   stdout=subprocess.DEVNULL)
    return p


d = case("vdi-blocks-huge", "block count")
patch(vdi(d), 384, struct.pack("<I", 0x7FFFFFFF))
d = case("vdi-map-past-eof", "block map at")
patch(vdi(d), 340, struct.pack("<I", 1 << 30))
d = case("vdi-map-entry", "out of range")
p = vdi(d)
boff = struct.unpack("<I", rd(p, 340, 4))[0]
patch(p, boff, struct.pack("<I", 1000))
d = case("vdi-block-size", "block size")
patch(vdi(d), 376, struct.pack("<I", 12345))
d = case("vdi-disk-size", "larger than its")
patch(vdi(d), 368, struct.pack("<Q", 1 << 50))
# --- VHD
def vhd(d):
    p = os.path.join(d, "img")
    qimg("create", "-q", "-f", "vpc", p, "4M")
    subprocess.run(["qemu-io", "-f", "vpc", "-c", "write -P 0x64 0 131072", p], check=True,
                   stdout=subprocess.DEVNULL)
    return p


def vhd_fix_footer(p, fields):
    size = os.path.getsize(p)
    for off in (0, size - 512):
        f = bytearray(rd(p, off, 512))
        for o, v in fields:
            f[o:o + len(v)] = v
        f[64:68] = b"\0\0\0\0"
        f[64:68] = struct.pack(">I", ~sum(f) & 0xFFFFFFFF)
        patch(p, off, bytes(f))


def vhd_fix_dyn(p, fields):
    f = bytearray(rd(p, 512, 1024))
    for o, v in fields:
        f[o:o + len(v)] = v
    f[36:40] = b"\0\0\0\0"
    f[36:40] = struct.pack(">I", ~sum(f) & 0xFFFFFFFF)
    patch(p, 512, bytes(f))


d = case("vhd-checksum", "footer checksum mismatch")
patch(vhd(d), 48, be64(1 << 40))
d = case("vhd-bat-past-eof", "BAT at")
vhd_fix_dyn(vhd(d), [(16, be64(1 << 40))])
d = case("vhd-bat-huge", "max table entries")
vhd_fix_dyn(vhd(d), [(28, be32(0x7FFFFFFF))])
d = case("vhd-bat-overlaps-header", "overlaps the dynamic header")
vhd_fix_dyn(vhd(d), [(16, be64(512))])
d = case("vhd-block-size", "block size")
vhd_fix_dyn(vhd(d), [(32, be32(3000))])
d = case("vhd-truncated", "too small for a VHD footer")
with open(os.path.join(d, "img"), "wb") as f:
    f.write(b"conectix")
d = case("vhd-bat-entry-past-eof", "past the end of the file")
p = vhd(d)
toff = struct.unpack(">Q", rd(p, 512 + 16, 8))[0]
patch(p, toff, be32(0x7FFFFFF0))

# --- truncated files: every table must be inside the file
d = case("qcow2-truncated-tables", "past the end of the file")
p = qcow2(d)
os.truncate(p, 65536 + 4096)
d = case("vmdk-truncated", "embedded descriptor (sector 1, 20 sectors) is misplaced")
p = vmdk(d)
os.truncate(p, 512 * 3)
d = case("vmdk-truncated-gd", "past the end of the file")
p = vmdk(d)
gd = struct.unpack("<Q", rd(p, 56, 8))[0]
os.truncate(p, gd * 512 + 2)
d = case("vdi-truncated", "past the end of the file")
p = vdi(d)
os.truncate(p, 400)
d = case("vhd-dynamic-truncated", "dynamic header")
p = vhd(d)
data = rd(p, 0, 512)
with open(p, "wb") as f:
    f.write(data)

with open(os.path.join(root, "cases"), "w") as f:
    f.write("\n".join(cases) + "\n")
