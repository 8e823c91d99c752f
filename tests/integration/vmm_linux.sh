#!/usr/bin/env bash
# needs: kvm
# envvmm with a stock distribution kernel under a real KVM (hardware, or the nested lab that
# tests/run.sh boots where the host has none): Debian's own kernel through both entries (the
# bzImage's 64-bit boot protocol and the PVH note of the ELF inside it) reaches the init of
# tests/linux/ and passes every check there: vCPUs, the three virtio-pci devices through
# Linux's drivers, a disk write into an envup qcow2 overlay that qemu-img reads back, DHCP and
# TCP out through slirp, TCP in through a host forward, virtio-rng; then it powers off (ACPI
# S5) and envvmm exits 0. The same through firmware: SeaBIOS loads GRUB from a disk's MBR,
# GRUB loads the kernel and initramfs from that disk's ext4 partition (the chain a Vagrant box
# uses), and the init checks a second disk. Also: 4 vCPUs, the control socket's shutdown (the guest takes the
# ACPI power button and powers off by itself) and stop.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"
. "$(dirname "$0")/vmm_linux.inc"

linux_prepare
vmm_require_kvm || finish
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	# A KVM without VT-x/SVM (PVM) stops a stock kernel in its instruction emulator.
	skip "linux under KVM" "SKIPPED: this KVM has no vmx/svm (PVM); tests/run.sh runs this suite in the nested KVM lab"
	finish
fi

# The host's server for the guest's outbound TCP check (10.0.2.2 from inside).
vmm_tcp_server srv token
port=$SRV_PORT
GUEST_FWD_PORT=8022

# fwd_client NAME HOSTPORT: once the guest says it listens, connects to the host forward,
# sends a line and keeps the guest's answer in $T/NAME.fwd.
fwd_client() {
	python3 - "$T/$1.out" "$2" "$T/$1.fwd" <<'PY' &
import socket, sys, time
out, port, got = sys.argv[1], int(sys.argv[2]), sys.argv[3]
end = time.time() + 300
while time.time() < end:
    try:
        if b"envup-linux: fwd listening" in open(out, "rb").read():
            break
    except OSError:
        pass
    time.sleep(0.2)
data = b""
for _ in range(50):  # the guest's nc may take a moment to listen after saying so
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"envup-host-line\n")
        while True:
            d = s.recv(100)
            if not d:
                break
            data += d
        if data:
            break
    except OSError:
        pass
    time.sleep(0.2)
open(got, "wb").write(data)
PY
	at_exit "kill $! 2>/dev/null"
}

# linux_run NAME KERNEL CPUS CMDLINE_EXTRA [ENVVMM_ARGS...]: starts envvmm in the background
# on a fresh overlay with the network (a host forward to the guest's server), the initramfs
# and NAME's console in $T/NAME.out; sets VMM_PID and FWD_PORT.
linux_run() {
	local name=$1 kernel=$2 cpus=$3 extra=$4
	shift 4
	new_disk "$name"
	FWD_PORT=$(free_port)
	"$ENVVMM" --memory 512 --cpus "$cpus" --kernel "$kernel" \
		--initrd "$L/initramfs.gz" --disk "$T/$name.qcow2,format=qcow2,serial=envup-linux" \
		--net "user,hostfwd=tcp:127.0.0.1:$FWD_PORT-:$GUEST_FWD_PORT" --log "$T/$name.log" \
		--cmdline "console=ttyS0 panic=-1 envup.cpus=$cpus envup.port=$port envup.sectors=131072 envup.fwd=$GUEST_FWD_PORT $extra" \
		"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	VMM_PID=$!
	at_exit "kill $VMM_PID 2>/dev/null"
}

# linux_wait LIMIT: waits for the last linux_run's envvmm to end; its status in VMM_RC.
linux_wait() {
	local limit=$1 i
	for ((i = 0; i < limit * 5; i++)); do
		kill -0 "$VMM_PID" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$VMM_PID" 2>/dev/null && kill "$VMM_PID"
	wait "$VMM_PID"
	VMM_RC=$?
}

# wait_for FILE PATTERN SECONDS
wait_for() {
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# boot_checks NAME: every init check, the host forward both ways, a clean kernel log.
boot_checks() {
	local name=$1
	init_expect "$name" $INIT_CHECKS net-fwd
	check "$name: the host reached the guest's server through the forward" \
		grep -q envup-guest-token "$T/$name.fwd"
	check "$name: linux runs the LAPIC timer in TSC-deadline mode" \
		grep -q "TSC deadline timer available" "$T/$name.out"
	if grep -qE "APIC timer disabled|ACPI BIOS Error|ACPI Error|MP-BIOS bug|[Cc]hecksum error|BUG:|Oops" "$T/$name.out"; then
		not_ok "$name: linux complains: $(grep -E 'APIC timer disabled|ACPI BIOS Error|ACPI Error|MP-BIOS bug|[Cc]hecksum error|BUG:|Oops' "$T/$name.out" | head -3 | tr '\n' ';')"
	else
		ok "$name: no timer, ACPI, MP-table or checksum complaints, no oops"
	fi
}

linux_run bzimage "$L/vmlinuz" 2 ""
fwd_client bzimage "$FWD_PORT"
linux_wait 300
check "bzimage: kernel started" grep -q "Linux version" "$T/bzimage.out"
check "bzimage: booted through the 64-bit boot protocol" grep -q "boot: bzImage through the 64-bit boot protocol" "$T/bzimage.log"
boot_checks bzimage

linux_run pvh "$L/vmlinux" 2 ""
fwd_client pvh "$FWD_PORT"
linux_wait 300
check "pvh: booted through the PVH entry" grep -q "boot: ELF kernel through its PVH entry" "$T/pvh.log"
boot_checks pvh

# Firmware: SeaBIOS -> GRUB (MBR, ext4 partition) -> this kernel and initramfs -> init.
if [ -f /usr/share/seabios/bios.bin ] && [ -f /usr/lib/grub/i386-pc/boot.img ] &&
	command -v grub-mkimage >/dev/null && command -v mkfs.ext4 >/dev/null; then
	. "$ENVUP_SRC/tests/integration/helpers/grub_disk.sh"
	mkdir -p "$T/gd/root/boot"
	cp "$L/vmlinuz" "$L/initramfs.gz" "$T/gd/root/boot/"
	tok=grub-linux-$RANDOM
	GRUB_DISK_MB=40 grub_disk "$T/gd" "$tok" <<-EOF
		linux /boot/vmlinuz console=ttyS0 panic=-1 envup.cpus=2 envup.port=$port envup.sectors=131072 envup.fwd=$GUEST_FWD_PORT envup.disk=vdb envup.virtio=0x0001,0x0002,0x0002,0x0004
		initrd /boot/initramfs.gz
		boot
	EOF
	new_disk grub
	FWD_PORT=$(free_port)
	"$ENVVMM" --memory 512 --cpus 2 --firmware --disk "$T/gd/grub.raw,format=raw" \
		--disk "$T/grub.qcow2,format=qcow2,serial=envup-linux" \
		--net "user,hostfwd=tcp:127.0.0.1:$FWD_PORT-:$GUEST_FWD_PORT" --log "$T/grub.log" \
		>"$T/grub.out" 2>"$T/grub.err" </dev/null &
	VMM_PID=$!
	at_exit "kill $VMM_PID 2>/dev/null"
	fwd_client grub "$FWD_PORT"
	linux_wait 300
	check "grub: GRUB read grub.cfg from the ext4 partition" grep -q "envup-grub: $tok" "$T/grub.out"
	check "grub: GRUB loaded the kernel, which took GRUB's command line" \
		grep -q "Command line: BOOT_IMAGE=/boot/vmlinuz console=ttyS0" "$T/grub.out"
	boot_checks grub
else
	not_ok "grub: SeaBIOS or grub-pc-bin missing (make deps installs seabios and grub-pc-bin)"
fi

# 4 vCPUs, then the control socket's shutdown: the ACPI power button, taken by the guest.
linux_run smp4 "$L/vmlinuz" 4 "envup.after=powerbutton" --api "$T/smp4.sock"
fwd_client smp4 "$FWD_PORT"
if wait_for "$T/smp4.out" "^envup-linux: waiting for power button" 300; then
	r=$(vmm_api "$T/smp4.sock" '{"command":"shutdown"}' 2>"$T/api.err")
	check "shutdown: the guest was listening for the power button ($r $(tail -c 300 "$T/api.err"))" \
		grep -q '"method":"acpi-power-button","guest_listening":true' <<<"$r"
else
	not_ok "smp4: never waited for the power button: $(grep '^envup-linux' "$T/smp4.out" | tail -2 | tr '\n' ';')"
fi
linux_wait 60
check "smp4: all 4 vCPUs online" grep -q "^envup-linux: cpus ok 4 online" "$T/smp4.out"
check "shutdown: linux saw the power button" grep -q "^envup-linux: power button pressed" "$T/smp4.out"
check "shutdown: powered off through ACPI S5" grep -q "guest power off (ACPI S5)" "$T/smp4.log"
boot_checks smp4

# stop: ends the machine at once, whatever the guest is doing.
linux_run stop "$L/vmlinuz" 2 "envup.after=powerbutton" --api "$T/stop.sock"
if wait_for "$T/stop.out" "^envup-linux: init started" 300; then
	r=$(vmm_api "$T/stop.sock" '{"command":"stop"}')
	check "stop: ok" grep -q '"ok":true' <<<"$r"
	linux_wait 5
	# SIGTERM after 5 s would end it too, but with 1 (and "terminated by signal" in its log)
	check "stop: envvmm ended within 5 s with 0 (rc $VMM_RC)" [ "$VMM_RC" -eq 0 ]
	check "stop: logged" grep -q 'stopped through the control socket' "$T/stop.log"
else
	not_ok "stop: linux never reached init"
	linux_wait 1
fi
finish
