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

if [ -x "$BLK" ]; then
	mib=${VMM_BENCH_MIB:-128}
	python3 -c "import os; f=open('$tmp/base.raw','wb'); [f.write(os.urandom(1<<20)) for _ in range(256)]"
	"$BLK" "$tmp/base.raw" raw "$mib"
	if command -v qemu-img >/dev/null; then
		qemu-img create -q -f qcow2 -F raw -b base.raw "$tmp/over.qcow2"
		"$BLK" "$tmp/over.qcow2" qcow2 "$mib"
	else
		echo "vmm blk qcow2: SKIPPED (qemu-img not installed to make the overlay)"
	fi
fi
