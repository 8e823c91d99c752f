#!/usr/bin/env python3
"""Seed inputs for tests/fuzz/fuzz_vmm_p9.c: short sessions of the messages Linux's v9fs
client sends (fid 0 is the attached root). Usage: p9_seeds.py OUTDIR"""
import os
import struct
import sys


def msg(t, body):
    return struct.pack("<IBH", 7 + len(body), t, 1) + body


def s(x):
    x = x.encode()
    return struct.pack("<H", len(x)) + x


def walk(fid, new, *names):
    return msg(110, struct.pack("<IIH", fid, new, len(names)) + b"".join(s(n) for n in names))


def lopen(fid, fl):
    return msg(12, struct.pack("<II", fid, fl))


def read(fid, off, n):
    return msg(116, struct.pack("<IQI", fid, off, n))


def write(fid, off, data):
    return msg(118, struct.pack("<IQI", fid, off, len(data)) + data)


def clunk(fid):
    return msg(120, struct.pack("<I", fid))


seeds = {
    "read": walk(0, 1, "f") + lopen(1, 0) + read(1, 0, 100) + clunk(1),
    "create": walk(0, 1, "d") + msg(14, struct.pack("<I", 1) + s("n") + struct.pack("<III", 2, 0o644, 0))
    + write(1, 0, b"data") + msg(50, struct.pack("<II", 1, 0))
    + msg(26, struct.pack("<IIIIIQQQQQ", 1, 0x1 | 0x8 | 0x30, 0o600, 0, 0, 2, 0, 0, 0, 0)),
    "readdir": walk(0, 1, "d") + lopen(1, 0o200000) + msg(40, struct.pack("<IQI", 1, 0, 4000)),
    "getattr": walk(0, 1, "d", "g") + msg(24, struct.pack("<IQ", 1, 0x7FF)) + msg(8, struct.pack("<I", 0)),
    "dirops": msg(72, struct.pack("<I", 0) + s("m") + struct.pack("<II", 0o755, 0))
    + msg(74, struct.pack("<I", 0) + s("m") + struct.pack("<I", 0) + s("m2"))
    + msg(76, struct.pack("<I", 0) + s("m2") + struct.pack("<I", 0x200)),
    "links": walk(0, 1, "abs") + msg(22, struct.pack("<I", 1))
    + msg(16, struct.pack("<I", 0) + s("sl") + s("/etc/passwd") + struct.pack("<I", 0))
    + walk(0, 2, "f") + msg(70, struct.pack("<II", 0, 2) + s("hl"))
    + msg(20, struct.pack("<II", 2, 0) + s("f2")) + msg(122, struct.pack("<I", 2)),
    "escape": walk(0, 1, "abs", "secret") + walk(0, 2, "rel", "secret") + walk(0, 3, "..")
    + walk(0, 4, "absf") + lopen(4, 2),
    "lock": walk(0, 1, "f") + lopen(1, 2)
    + msg(52, struct.pack("<IBIQQI", 1, 1, 0, 0, 0, 7) + s("c"))
    + msg(54, struct.pack("<IBQQI", 1, 0, 0, 0, 7) + s("c")),
    "xattr": msg(30, struct.pack("<II", 0, 9) + s("user.x")) + msg(108, struct.pack("<H", 1)),
    "mknod": msg(18, struct.pack("<I", 0) + s("p") + struct.pack("<IIII", 0o10644, 0, 0, 0)),
}
os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    open(os.path.join(sys.argv[1], name), "wb").write(data)
