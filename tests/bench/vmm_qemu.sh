#!/usr/bin/env bash
# envvmm side by side with QEMU under the same KVM: Debian's stock kernel and the checking
# initramfs of tests/linux/ (vCPUs, virtio blk/net/rng, DHCP, TCP, power-off), the same memory,
# vCPUs and devices, run alternately: envvmm, `qemu-system-x86_64 -accel kvm -M microvm` and
# `-M q35` (with -kernel/-initrd, virtio-pci devices, no firmware menus). Timed from exec to
# the init's first line and to the end of the process (the guest's ACPI power-off); memory as
# peak RSS minus the guest RAM the process has touched. Prints medians and envvmm/QEMU ratios.
# Where the host has no hardware KVM it runs itself inside the nested KVM lab: absolute times
# there are TCG times, only the ratios mean something.
set -u
cd "$(dirname "$0")/../.."
if ! { [ -c /dev/kvm ] && (exec 9<>/dev/kvm) 2>/dev/null && grep -qwE 'vmx|svm' /proc/cpuinfo; }; then
	if [ -n "${ENVUP_KVMLAB:-}" ] || ! command -v qemu-system-x86_64 >/dev/null; then
		echo "vmm vs qemu: SKIPPED (no hardware KVM and no nested lab: qemu-system-x86_64 missing)"
		exit 0
	fi
	echo "vmm vs qemu: no hardware KVM here; running in the nested KVM lab (TCG: compare ratios only)"
	exec tests/kvmlab/run.sh --timeout 3000 bash "$0" "$@"
fi
bash tests/linux/prepare.sh build >/dev/null || { echo "vmm vs qemu: SKIPPED (no Debian kernel: make deps)"; exit 0; }
command -v qemu-system-x86_64 >/dev/null || { echo "vmm vs qemu: SKIPPED (qemu-system-x86_64 missing: make deps)"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmm-qemu.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" "${ENVUP_BENCH_ROUNDS:-3}" <<'PY'
import os, socket, statistics, subprocess, sys, threading, time
tmp, rounds = sys.argv[1], int(sys.argv[2])
L, MEM, CPUS = "build/linux", 512, 2
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
port = srv.getsockname()[1]
def serve():
    while True:
        c, _ = srv.accept()
        c.sendall(b"envup-host-token\n")
        c.close()
threading.Thread(target=serve, daemon=True).start()
cmdline = "console=ttyS0 panic=-1 envup.cpus=%d envup.port=%d envup.sectors=131072" % (CPUS, port)

def disk(name):
    base = os.path.join(tmp, "base.raw")
    with open(base, "wb") as f:
        f.truncate(64 << 20)
        f.write(b"envup-disk-pattern")
    path = os.path.join(tmp, name + ".qcow2")
    if os.path.exists(path):
        os.unlink(path)
    subprocess.run(["build/rel/tests/images_tool" if os.path.exists("build/rel/tests/images_tool")
                    else "build/san/tests/images_tool", "create", path, "0", "base.raw", "raw"],
                   check=True, stdout=subprocess.DEVNULL)
    return path

def qemu(machine, d):
    return ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-M", machine,
            "-smp", str(CPUS), "-m", str(MEM), "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", L + "/vmlinuz", "-initrd", L + "/initramfs.gz", "-append", cmdline,
            "-drive", "file=%s,format=qcow2,if=none,id=d0" % d,
            "-device", "virtio-blk-pci,drive=d0,serial=envup-linux",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
            "-device", "virtio-rng-pci"]

CONFIGS = {
    "envvmm": lambda d: ["build/rel/bin/envvmm", "--memory", str(MEM), "--cpus", str(CPUS),
                         "--kernel", L + "/vmlinuz", "--initrd", L + "/initramfs.gz",
                         "--disk", d + ",format=qcow2,serial=envup-linux", "--net", "user",
                         "--cmdline", cmdline],
    "qemu-microvm": lambda d: qemu("microvm,pcie=on,rtc=on", d),
    "qemu-q35": lambda d: qemu("q35", d),
}

def guest_rss_kib(pid):
    """RSS of the mappings at least as large as guest RAM (the guest's memory), and in all."""
    guest = total = 0
    size = rss = 0
    try:
        for line in open("/proc/%d/smaps" % pid):
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                if size >= MEM * 1024 * 0.9:
                    guest += rss
                a, b = line.split()[0].split("-")
                size, rss = (int(b, 16) - int(a, 16)) // 1024, 0
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
                total += rss
        if size >= MEM * 1024 * 0.9:
            guest += rss
    except OSError:
        return None
    return guest, total

def run(name):
    d = disk(name)
    t0 = time.perf_counter()
    p = subprocess.Popen(CONFIGS[name](d), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first, over, out, done = None, 0, [], False
    def sample():
        nonlocal over
        while not done:
            r = guest_rss_kib(p.pid)
            if r:
                over = max(over, r[1] - r[0])
            time.sleep(0.25)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    for line in p.stdout:
        line = line.decode(errors="replace")
        out.append(line)
        if first is None and line.startswith("envup-linux: init started"):
            first = time.perf_counter() - t0
    p.wait()
    total = time.perf_counter() - t0
    done = True
    th.join()
    text = "".join(out)
    good = ("envup-linux: done" in text and "FAIL" not in text and first is not None)
    if not good:
        bad = [l.strip() for l in out if "FAIL" in l][:2] or [l.strip() for l in out[-2:]]
        print("  %s: run did not pass the init checks: %s" % (name, "; ".join(bad)))
    return good, first, total, over / 1024

res = {n: {"first": [], "total": [], "over": []} for n in CONFIGS}
for r in range(rounds):
    for n in CONFIGS:
        good, first, total, over = run(n)
        print("  round %d %-13s init %6.2f s  power-off %6.2f s  overhead %6.1f MiB%s" %
              (r + 1, n, first or 0, total, over, "" if good else "  (FAILED)"))
        if good:
            res[n]["first"].append(first)
            res[n]["total"].append(total)
            res[n]["over"].append(over)
md = lambda xs: statistics.median(xs) if xs else float("nan")
for n in CONFIGS:
    print("vmm vs qemu: %-13s exec to init %7.2f s  to power-off %7.2f s  RSS over guest RAM %6.1f MiB  (%d runs)" %
          (n, md(res[n]["first"]), md(res[n]["total"]), md(res[n]["over"]), len(res[n]["first"])))
e = res["envvmm"]
for q in ("qemu-microvm", "qemu-q35"):
    o = res[q]
    print("vmm vs qemu: envvmm/%-12s init %.2fx  power-off %.2fx  memory overhead %.2fx  (target <= 1.0)" %
          (q, md(e["first"]) / md(o["first"]), md(e["total"]) / md(o["total"]),
           md(e["over"]) / md(o["over"])))
PY
