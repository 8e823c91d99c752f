#!/usr/bin/env python3
"""Writes a BIOS-bootable disk image the way grub-install lays one out, without a loop device:
GRUB's boot.img as the MBR's code (it loads the sector at LBA 1, as its default says), the core
image from grub-mkimage at LBA 1 (its blocklist already names LBA 2 onwards), one primary
partition of type 0x83 (Linux) at 1 MiB holding the given filesystem image, and the 0x55AA
signature.

usage: mbr_disk.py OUT BOOT_IMG CORE_IMG PART_IMG
"""
import struct
import sys

SECTOR = 512
PART_START = 2048  # LBA of the partition: 1 MiB


def main():
    out, boot_img, core_img, part_img = sys.argv[1:5]
    boot = open(boot_img, "rb").read()
    core = open(core_img, "rb").read()
    part = open(part_img, "rb").read()
    if len(boot) != SECTOR:
        sys.exit(f"{boot_img}: {len(boot)} bytes, not one sector")
    if len(core) > (PART_START - 1) * SECTOR:
        sys.exit(f"{core_img}: {len(core)} bytes do not fit before the partition")
    if len(part) % SECTOR:
        sys.exit(f"{part_img}: not a whole number of sectors")
    mbr = bytearray(boot[:440]) + bytes(6)
    sectors = len(part) // SECTOR
    # status (bootable), CHS start (unused: LBA), type 0x83, CHS end (unused), LBA, count
    mbr += struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                       PART_START, sectors)
    mbr += bytes(48) + b"\x55\xaa"
    assert len(mbr) == SECTOR
    with open(out, "wb") as f:
        f.write(mbr)
        f.write(core)
        f.seek(PART_START * SECTOR)
        f.write(part)


if __name__ == "__main__":
    main()
