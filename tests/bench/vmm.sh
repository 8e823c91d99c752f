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

# The start-up figures need a KVM: where the host has none, they are measured in the nested
# KVM lab (TCG times, so only comparable with each other), and the host goes on with the rest.
if [ "${1:-}" != --startup-only ] && ! { [ -c /dev/kvm ] && (exec 9<>/dev/kvm) 2>/dev/null; } &&
	command -v qemu-system-x86_64 >/dev/null; then
	echo "vmm start: no /dev/kvm here; measured in the nested KVM lab (TCG times)"
	tests/kvmlab/run.sh --timeout 900 bash "$0" --startup-only
elif [ -c /dev/kvm ] && (exec 9<>/dev/kvm) 2>/dev/null; then
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
	echo "vmm start: SKIPPED (no usable /dev/kvm and no qemu-system-x86_64 for the nested lab)"
fi
[ "${1:-}" = --startup-only ] && exit 0

# The block rows move by a third from run to run on a busy host: every configuration runs
# once per round (interleaved, on fresh files), each figure is divided by raw's figure of the
# same round, and the medians of those ratios are reported.
# Configurations: raw written in place (a full copy of the base: its blocks exist), raw into
# fresh space (a sparse file: the file system allocates, as it must for any overlay), the
# overlay envup creates (qcow2, 128 KiB clusters of 4 KiB subclusters) on a raw and on a qcow2
# base, and qemu-img's default overlay (64 KiB clusters, no subclusters: a small write into a
# new cluster copies the whole cluster from the base) for comparison.
if [ -x "$BLK" ]; then
	mib=${VMM_BENCH_MIB:-128}
	rounds=${VMM_BENCH_ROUNDS:-5}
	TOOL=build/rel/tests/images_tool
	python3 -c "import os; f=open('$tmp/base.raw','wb'); [f.write(os.urandom(1<<20)) for _ in range(256)]"
	have_qemu_img=false
	if command -v qemu-img >/dev/null; then
		have_qemu_img=true
		qemu-img convert -q -f raw -O qcow2 "$tmp/base.raw" "$tmp/base.qcow2"
	else
		echo "vmm blk qcow2 on a qcow2 base and qemu-img's overlay: SKIPPED (no qemu-img)"
	fi
	# this host drops page cache early: read the bases again before each run
	warm() { cat "$tmp"/base.* >/dev/null; }
	for r in $(seq "$rounds"); do
		rm -f "$tmp"/disk.* "$tmp"/over*.qcow2
		cp "$tmp/base.raw" "$tmp/disk.raw"
		warm
		"$BLK" "$tmp/disk.raw" raw "$mib" | sed "s/^vmm blk raw  /$r raw/"
		truncate -s 256M "$tmp/disk.fresh"
		warm
		"$BLK" "$tmp/disk.fresh" raw "$mib" | sed "s/^vmm blk raw  /$r raw-fresh/"
		"$TOOL" create "$tmp/over.qcow2" 0 base.raw raw
		warm
		"$BLK" "$tmp/over.qcow2" qcow2 "$mib" | sed "s/^vmm blk qcow2/$r overlay/"
		if $have_qemu_img; then
			"$TOOL" create "$tmp/over2.qcow2" 0 base.qcow2 qcow2
			warm
			"$BLK" "$tmp/over2.qcow2" qcow2 "$mib" | sed "s/^vmm blk qcow2/$r overlay-on-qcow2/"
			qemu-img create -q -f qcow2 -F raw -b base.raw "$tmp/over3.qcow2"
			warm
			"$BLK" "$tmp/over3.qcow2" qcow2 "$mib" | sed "s/^vmm blk qcow2/$r qemu-overlay/"
		fi
	done >"$tmp/blk.txt"
	python3 - "$tmp/blk.txt" "$rounds" <<'PY'
import re, statistics, sys
fig = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\d+) (\S+)\s+(\S+)\s+4KiB:\s+([\d.]+) MiB/s", line)
    if m:
        fig[(int(m.group(1)), m.group(2), m.group(3))] = float(m.group(4))
    if "ERRORS" in line:
        print("vmm blk: " + line.strip())
rounds = sorted({k[0] for k in fig})
names = {"raw": "raw, in place", "raw-fresh": "raw, fresh space",
         "overlay": "envup overlay, raw base", "overlay-on-qcow2": "envup overlay, qcow2 base",
         "qemu-overlay": "qemu-img overlay, raw base"}
def med(who, t, base=None):
    v = [fig[(r, who, t)] / (fig[(r, base, t)] if base else 1)
         for r in rounds if (r, who, t) in fig and (not base or fig.get((r, base, t)))]
    return statistics.median(v) if v else None
for who in names:
    for t in ("seq-read", "seq-write", "rand-read", "rand-write"):
        v = med(who, t)
        if v is None or (who == "raw-fresh" and "read" in t):
            continue  # reads of a sparse file are reads of holes
        line = "vmm blk %-26s %-10s 4KiB: %8.1f MiB/s" % (names[who], t, v)
        if who not in ("raw", "raw-fresh"):
            line += "  %4.0f%% of raw in place" % (100 * med(who, t, "raw"))
            if "write" in t:
                line += ", %4.0f%% of raw into fresh space" % (100 * med(who, t, "raw-fresh"))
            if who != "qemu-overlay":
                line += " (target >= 90%)"
        print(line)
print("vmm blk: medians over %d interleaved rounds; ratios are per round" % len(rounds))
PY
fi
