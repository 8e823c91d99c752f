#!/usr/bin/env bash
# A live shared folder from inside a guest: envvmm's own 9p server (--share) side by side with
# QEMU's -virtfs (security_model=none, QEMU's fastest), both under the same KVM with the same
# Debian kernel, initramfs (tests/linux/init_9p, envup.mode=bench), memory and vCPUs, the
# guest mounting with trans=virtio,version=9p2000.L,msize=512000 (cache=none, the default).
# The guest times writing a 256 MiB file (dd, conv=fsync), reading it back after dropping its
# caches, and `ls -l` of a directory of 10,000 files; rounds alternate envvmm and QEMU.
# Prints medians and envvmm/QEMU ratios (throughput: higher is better for envvmm; listing
# time: lower is better). Where the host has no hardware KVM it runs itself inside the nested
# KVM lab, where both machines run under the lab's KVM (QEMU with -accel kvm, not TCG), so
# both pay the same nested-virtualisation cost per exit; absolute times there are TCG times,
# only the ratios mean something.
set -u
cd "$(dirname "$0")/../.."
if ! { [ -c /dev/kvm ] && (exec 9<>/dev/kvm) 2>/dev/null && grep -qwE 'vmx|svm' /proc/cpuinfo; }; then
	if [ -n "${ENVUP_KVMLAB:-}" ] || ! command -v qemu-system-x86_64 >/dev/null; then
		echo "vmm 9p: SKIPPED (no hardware KVM and no nested lab: qemu-system-x86_64 missing)"
		exit 0
	fi
	echo "vmm 9p: no hardware KVM here; running in the nested KVM lab (TCG: compare ratios only)"
	exec tests/kvmlab/run.sh --timeout 3000 --memory 3072 bash "$0" "$@"
fi
bash tests/linux/prepare.sh build >/dev/null || { echo "vmm 9p: SKIPPED (no Debian kernel: make deps)"; exit 0; }
command -v qemu-system-x86_64 >/dev/null || { echo "vmm 9p: SKIPPED (qemu-system-x86_64 missing: make deps)"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmm-9p.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The initramfs of tests/integration/vmm_9p.sh, made again only when stale (the lab's TCG
# unpacks the kernel package slowly).
initrd=build/linux/initramfs-9p.gz
if [ ! "$initrd" -nt tests/linux/init_9p ] || [ ! "$initrd" -nt tests/linux/prepare.sh ] ||
	[ ! "$initrd" -nt "$(ls build/linux/linux-image-*.deb | head -1)" ]; then
	bash tests/linux/prepare.sh initramfs "$initrd" tests/linux/init_9p virtio_ring virtio \
		virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet \
		9pnet_virtio 9p || { echo "vmm 9p: FAILED to build the initramfs"; exit 1; }
fi
python3 - "$tmp" "${ENVUP_BENCH_ROUNDS:-2}" <<'PY'
import os, re, statistics, subprocess, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
L, MEM, CPUS = "build/linux", 1024, 2
share = os.path.join(tmp, "share")
os.makedirs(os.path.join(share, "many"))
for i in range(10000):
    open(os.path.join(share, "many", "file%05d" % i), "w").close()
cmdline = "console=ttyS0 panic=-1 quiet envup.mode=bench"
initrd = "build/linux/initramfs-9p.gz"
CONFIGS = {
    "envvmm": ["build/rel/bin/envvmm", "--memory", str(MEM), "--cpus", str(CPUS),
               "--kernel", L + "/vmlinuz", "--initrd", initrd, "--cmdline", cmdline,
               "--share", share + ",tag=share"],
    "qemu": ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-M", "q35",
             "-smp", str(CPUS), "-m", str(MEM), "-nodefaults", "-no-user-config",
             "-display", "none", "-serial", "stdio", "-no-reboot",
             "-kernel", L + "/vmlinuz", "-initrd", initrd, "-append", cmdline,
             "-virtfs", "local,path=%s,mount_tag=share,security_model=none" % share],
}
pat = re.compile(rb"envup-9p: bench write_ms=(\d+) read_ms=(\d+) list_ms=(\d+) listed=(\d+)")
res = {k: {"write": [], "read": [], "list": []} for k in CONFIGS}
for r in range(rounds):
    for name, argv in CONFIGS.items():
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=1200)
        m = pat.search(p.stdout)
        fails = re.findall(rb"envup-9p: \S+ FAIL[^\n]*", p.stdout)
        if not m or fails:
            sys.stdout.write("vmm 9p: %s round %d FAILED (rc %d): %s\n%s\n" % (
                name, r + 1, p.returncode, b";".join(fails).decode(errors="replace"),
                p.stdout[-1500:].decode(errors="replace")))
            sys.exit(1)
        w, rd, ls, n = (int(x) for x in m.groups())
        res[name]["write"].append(256 / (max(w, 1) / 1000))
        res[name]["read"].append(256 / (max(rd, 1) / 1000))
        res[name]["list"].append(ls / 1000)
        print("vmm 9p: round %d %-6s write %7.1f MiB/s  read %7.1f MiB/s  ls -l of %d files %6.2f s"
              % (r + 1, name, res[name]["write"][-1], res[name]["read"][-1], n, ls / 1000))
        sys.stdout.flush()
med = {k: {m: statistics.median(v) for m, v in d.items()} for k, d in res.items()}
e, q = med["envvmm"], med["qemu"]
print("vmm 9p: write 256 MiB: envvmm %.1f MiB/s, qemu -virtfs %.1f MiB/s, ratio %.2f (>= 1: envvmm faster)"
      % (e["write"], q["write"], e["write"] / q["write"]))
print("vmm 9p: read 256 MiB:  envvmm %.1f MiB/s, qemu -virtfs %.1f MiB/s, ratio %.2f (>= 1: envvmm faster)"
      % (e["read"], q["read"], e["read"] / q["read"]))
print("vmm 9p: ls -l 10,000 files: envvmm %.2f s, qemu -virtfs %.2f s, ratio %.2f (<= 1: envvmm faster)"
      % (e["list"], q["list"], e["list"] / q["list"]))
PY
