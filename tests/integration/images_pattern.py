#!/usr/bin/env python3
"""Writes the test pattern for the image oracle tests: random data, explicit zero runs,
holes and compressible text, with a size that is not a multiple of any cluster size."""
import os
import random
import sys

path, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
with open(path, "wb") as f:
    f.truncate(size)
    pos = 0
    while pos < size:
        kind = rng.choice(["rand", "rand", "zero", "hole", "hole", "text", "small"])
        n = rng.choice([512, 4096, 65536, 200000, 700000, 2 << 20])
        n = min(n, size - pos)
        f.seek(pos)
        if kind == "rand":
            f.write(rng.randbytes(n))
        elif kind == "zero":
            f.write(bytes(n))
        elif kind == "text":
            f.write((b"envup test pattern %d\n" % pos) * (n // 24 + 1))
        elif kind == "small":
            # one byte of data inside otherwise empty space
            f.seek(pos + n // 2)
            f.write(b"\x5a")
        pos += n
    f.truncate(size)
