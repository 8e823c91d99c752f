#!/usr/bin/env bash
# envvmm benchmarks: start-up of the test-kit guest (exec to the first COM1 byte, whole process
# to the guest's reset, CPU time, peak RSS minus the guest RAM touched) and the virtio-blk
# backend on the host side (raw vs a qcow2 overlay, 4 KiB sequential and random).
set -u
cd "$(dirname "$0")/../.."
VMM=build/rel/bin/envvmm
KIT=build/guest/kit.bzImage
BLK=build/rel/tests/bench/vmm_blkbench
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmm-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -c /dev/kvm ] && (exec 9<>/dev/kvm) 2>/dev/null; then
	python3 - "$VMM" "$KIT" "$tmp" <<'PY'
import os, re, statistics, subprocess, sys, time
vmm, kit, tmp = sys.argv[1:4]
first, total, cpu, over, rss, setup = [], [], [], [], [], []
for i in range(20):
    log = os.path.join(tmp, "log%d" % i)
    t0 = time.perf_counter()
    p = subprocess.Popen([vmm, "--memory", "256", "--kernel", kit, "--log", log,
                          "--cmdline", "kit.mem=256 kit.magic=cmdline-delivered kit.tests=acpi"],
                         stdout=subprocess.PIPE)
    p.stdout.read(1)
    t1 = time.perf_counter()
    p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    t2 = time.perf_counter()
    p.returncode = 0
    m = re.search(r"guest RAM resident at exit: (\d+) KiB, process peak RSS: (\d+) KiB",
                  open(log).read())
    guest, peak = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    m = re.search(r"setup used ([0-9.]+) CPU-ms", open(log).read())
    setup.append(float(m.group(1)) if m else 0)
    first.append((t1 - t0) * 1000)
    total.append((t2 - t0) * 1000)
    cpu.append((ru.ru_utime + ru.ru_stime) * 1000)
    # ru_maxrss would include the forked Python before exec: use envvmm's own VmHWM.
    rss.append(peak)
    over.append((peak - guest) / 1024)
md = statistics.median
print("vmm start: exec to first COM1 byte   median %6.2f ms  (min %.2f, 20 runs; target < 8 ms)" % (md(first), min(first)))
print("vmm start: exec to guest reset/exit  median %6.2f ms  (min %.2f)" % (md(total), min(total)))
print("vmm start: CPU time until vCPUs run  median %6.2f ms  (target <= 8 CPU-ms)" % md(setup))
print("vmm start: CPU time, whole run       median %6.2f ms  (guest included)" % md(cpu))
print("vmm memory: peak RSS                 median %6.2f MiB" % (md(rss) / 1024))
print("vmm memory: peak RSS minus guest RAM median %6.2f MiB  (target < 5 MiB)" % md(over))
PY
else
	echo "vmm start: SKIPPED (no usable /dev/kvm)"
fi

# The block rows move by a third from run to run on a busy host: each configuration runs
# ROUNDS times (interleaved, on fresh files) and the best of each row is compared with raw's.
if [ -x "$BLK" ]; then
	mib=${VMM_BENCH_MIB:-128}
	rounds=${VMM_BENCH_ROUNDS:-3}
	python3 -c "import os; f=open('$tmp/base.raw','wb'); [f.write(os.urandom(1<<20)) for _ in range(256)]"
	have_qemu_img=false
	if command -v qemu-img >/dev/null; then
		have_qemu_img=true
		qemu-img convert -q -f raw -O qcow2 "$tmp/base.raw" "$tmp/base.qcow2"
	else
		echo "vmm blk qcow2: SKIPPED (qemu-img not installed to make the overlay)"
	fi
	for r in $(seq "$rounds"); do
		cp "$tmp/base.raw" "$tmp/disk.raw"
		"$BLK" "$tmp/disk.raw" raw "$mib" | sed 's/^vmm blk raw  /raw/'
		if $have_qemu_img; then
			rm -f "$tmp/over.qcow2" "$tmp/over2.qcow2"
			qemu-img create -q -f qcow2 -F raw -b base.raw "$tmp/over.qcow2"
			"$BLK" "$tmp/over.qcow2" qcow2 "$mib" | sed 's/^vmm blk qcow2/overlay/'
			qemu-img create -q -f qcow2 -F qcow2 -b base.qcow2 "$tmp/over2.qcow2"
			"$BLK" "$tmp/over2.qcow2" qcow2 "$mib" | sed 's/^vmm blk qcow2/overlay-on-qcow2/'
		fi
	done >"$tmp/blk.txt"
	python3 - "$tmp/blk.txt" "$rounds" <<'PY'
import re, sys
best = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+)\s+(\S+)\s+4KiB:\s+([\d.]+) MiB/s", line)
    if m:
        k = (m.group(1), m.group(2))
        best[k] = max(best.get(k, 0), float(m.group(3)))
    if "ERRORS" in line:
        print("vmm blk: " + line.strip())
names = {"raw": "raw", "overlay": "qcow2 overlay on raw base",
         "overlay-on-qcow2": "qcow2 overlay on qcow2 base"}
for who in ("raw", "overlay", "overlay-on-qcow2"):
    for t in ("seq-read", "seq-write", "rand-read", "rand-write"):
        if (who, t) not in best:
            continue
        v, r = best[(who, t)], best.get(("raw", t), 0)
        pct = "" if who == "raw" or not r else "  %4.0f%% of raw (target >= 90%%)" % (100 * v / r)
        print("vmm blk %-27s %-10s 4KiB: %8.1f MiB/s best of %s%s" % (names[who], t, v, sys.argv[2], pct))
PY
fi
