#!/usr/bin/env bash
# needs: kvm
# Firmware boot: time from exec to the repository's boot sector's marker on COM1, and to GRUB's
# marker (GRUB from an ext4 partition), envvmm --firmware against qemu-system-x86_64 -accel kvm
# -M pc with the same SeaBIOS (/usr/share/seabios/bios.bin), the same disk on virtio-blk and
# the same RAM, side by side, 5 interleaved rounds; medians and the ratio (target <= 1.0).
set -u
cd "$(dirname "$0")/../.."
VMM=build/rel/bin/envvmm
BIOS=/usr/share/seabios/bios.bin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fw-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if ! [ -c /dev/kvm ] || ! (exec 9<>/dev/kvm) 2>/dev/null; then
	echo "vmm firmware: SKIPPED (no usable /dev/kvm)"
	exit 0
fi
for need in "$BIOS" build/guest/bootsector.bin /usr/lib/grub/i386-pc/boot.img; do
	[ -f "$need" ] || { echo "vmm firmware: SKIPPED ($need missing: make deps guest)"; exit 0; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "vmm firmware: SKIPPED (no qemu-system-x86_64)"; exit 0; }

truncate -s 8M "$tmp/bs.raw"
dd if=build/guest/bootsector.bin of="$tmp/bs.raw" conv=notrunc status=none
. tests/integration/helpers/grub_disk.sh
grub_disk "$tmp/g" bench </dev/null || exit 1

python3 - "$VMM" "$BIOS" "$tmp" <<'PY'
import os, statistics, subprocess, sys, time
vmm, bios, tmp = sys.argv[1:4]
disks = {"boot sector": (os.path.join(tmp, "bs.raw"), b"envup-bootsector: ok"),
         "GRUB": (os.path.join(tmp, "g", "grub.raw"), b"envup-grub: bench")}

def run(kind, disk, marker, i):
    con = os.path.join(tmp, "con-%s-%d" % (kind, i))
    open(con, "wb").close()
    if kind == "envvmm":
        cmd = [vmm, "--memory", "256", "--firmware", bios, "--disk", disk + ",format=raw",
               "--console", con, "--log", "/dev/null"]
    else:
        cmd = ["qemu-system-x86_64", "-accel", "kvm", "-M", "pc", "-m", "256", "-bios", bios,
               "-nodefaults", "-nographic", "-monitor", "none", "-serial", "file:" + con,
               "-drive", "file=%s,format=raw,if=virtio" % disk, "-no-reboot"]
    t0 = time.perf_counter()
    err = open(con + ".err", "wb")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    t = None
    while time.perf_counter() - t0 < 120:
        with open(con, "rb") as f:
            if marker in f.read():
                t = time.perf_counter() - t0
                break
        if p.poll() is not None:
            break
        time.sleep(0.002)
    p.kill()
    p.wait()
    return t

for name, (disk, marker) in disks.items():
    res = {"envvmm": [], "qemu": []}
    for i in range(5):
        for kind in ("envvmm", "qemu"):
            t = run(kind, disk, marker, i)
            if t is None:
                con = os.path.join(tmp, "con-%s-%d" % (kind, i))
                print("vmm firmware: %s: %s never showed the marker: %s" %
                      (name, kind, open(con + ".err").read().strip()[-300:]))
                sys.exit(1)
            res[kind].append(t)
    e, q = statistics.median(res["envvmm"]), statistics.median(res["qemu"])
    print("vmm firmware: exec to %-12s marker  envvmm %7.1f ms  qemu -M pc %7.1f ms  "
          "ratio %.2f (target <= 1.0)" % (name, e * 1e3, q * 1e3, e / q))
PY
