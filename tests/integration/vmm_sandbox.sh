#!/usr/bin/env bash
# needs: kvm
# envvmm's seccomp sandbox, with the release build (the sanitizer build runs without it): a
# machine using every device and the control socket must work with the filter on and never
# hit a blocked system call.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

vmm_require_kvm || finish
REL=$ENVUP_BUILD/rel/bin/envvmm
if [ ! -x "$REL" ]; then
	not_ok "release envvmm not built"
	finish
fi

vmm_tcp_server srv upper

head -c 1048576 /dev/zero >"$T/base.raw"
head -c 4096 "$T/base.raw" >"$T/first4k"
h=$(kit_fnv1a "$T/first4k")
if command -v qemu-img >/dev/null; then
	qemu-img create -q -f qcow2 -F raw -b base.raw "$T/disk"
	fmt=qcow2
else
	cp "$T/base.raw" "$T/disk"
	fmt=raw
fi

"$REL" --daemonize --memory 64 --kernel "$KIT_ELF" --api "$T/ctl.sock" --pidfile "$T/pid" \
	--console "$T/console" --log "$T/log" --disk "$T/disk,format=$fmt" --net user \
	--cmdline "$KIT64 kit.tests=pci,rng,blk,net,powerbutton kit.pcidevs=4 kit.disks=1 kit.blkhash0=$h kit.netsrv=$SRV_PORT"
check "sandboxed machine starts" [ $? -eq 0 ]
pid=$(cat "$T/pid" 2>/dev/null)
at_exit "kill $pid 2>/dev/null"
for _ in $(seq 1 200); do grep -q '^kit: waiting for power button' "$T/console" && break; sleep 0.1; done
check "seccomp filter is on in the running process" grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status"
vmm_api "$T/ctl.sock" '{"command":"status"}\n{"command":"shutdown"}' 2 >"$T/reply"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "control socket answers under the sandbox" grep -q '"state":"running"' "$T/reply"
check "machine powered off" grep -q 'guest power off (ACPI S5)' "$T/log"
kit_expect_file() {
	cp "$T/console" "$T/sb.out"
	kit_expect sb "$@"
}
kit_expect_file pci-enum rng rng-msix blk-read blk-write blk-flush blk-readback blk-bad-addr \
	blk-cycle net-dhcp net-tcp-out powerbutton
check "sandbox was on" grep -q 'sandbox: seccomp filter on' "$T/log"
check "no blocked system call" bash -c "! grep -q 'blocked system call' '$T/log'"

finish
