#!/usr/bin/env bash
# envvmm with a stock distribution kernel: Debian's linux-image package (fetched by
# `make deps`, unpacked by tests/linux/prepare.sh) and an initramfs whose PID 1
# (tests/linux/init) checks the machine through Linux's own drivers: vCPUs, virtio-pci
# blk/net/rng, a disk write into an envup qcow2 overlay, DHCP and TCP through slirp; then it
# powers off (ACPI S5) and envvmm must exit 0.
#
# Without KVM too: the same kernel and checks under QEMU (TCG) with envvmm's DSDT in place of
# QEMU's, so that a real Linux reads our AML (PCI root bridge, _CRS, _PRT, _S5).
#
# With hardware KVM (vmx/svm) both entries boot to init: the bzImage (64-bit boot protocol)
# and the ELF inside it (PVH). A KVM that runs ordinary guests through its instruction
# emulator (PVM) stops a stock kernel at the first instruction the emulator lacks (int3 in
# the alternatives self-test; xrstor and cmpxchg16b before it, avoided with noxsave and
# clearcpuid): there the PVH entry is booted (no decompressor to emulate) and what the kernel
# reports of envvmm's boot data is checked; init is reported SKIPPED unless reached.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

if ! bash "$ENVUP_SRC/tests/linux/prepare.sh" build >"$T/prepare.log" 2>&1; then
	skip "linux boot" "SKIPPED: no Debian kernel ($(tail -1 "$T/prepare.log")); make deps fetches it"
	finish
fi
L=$ENVUP_BUILD/linux
TOOL=$ENVUP_BUILD/san/tests/images_tool
hardware=false
grep -qwE 'vmx|svm' /proc/cpuinfo && hardware=true

# The host's server for the guest's TCP check (10.0.2.2 from inside).
vmm_tcp_server srv token
port=$SRV_PORT

CMDLINE="console=ttyS0 panic=-1 envup.cpus=2 envup.port=$port envup.sectors=131072"

# new_disk NAME: a fresh envup overlay ($T/NAME.qcow2) on a base whose first bytes are a
# pattern.
new_disk() {
	python3 -c "
f = open('$T/base.raw', 'wb'); f.truncate(64 << 20); f.write(b'envup-disk-pattern')"
	rm -f "$T/$1.qcow2"
	"$TOOL" create "$T/$1.qcow2" 0 base.raw raw
}

# linux_boot NAME KERNEL TIMEOUT EXTRA_CMDLINE: boots envvmm with 2 vCPUs, 512 MiB, a fresh
# disk, the network and the initramfs.
linux_boot() {
	local name=$1 kernel=$2 limit=$3 extra=$4
	new_disk "$name"
	timeout "$limit" "$ENVVMM" --memory 512 --cpus 2 --kernel "$kernel" \
		--initrd "$L/initramfs.gz" --disk "$T/$name.qcow2,format=qcow2,serial=envup-linux" \
		--net user --log "$T/$name.log" \
		--cmdline "$CMDLINE $extra" \
		>"$T/$name.out" 2>"$T/$name.err" </dev/null
	VMM_RC=$?
}

# init_expect NAME: every check of tests/linux/init passed, the power-off ended the VMM with
# 0 ($VMM_RC), and the guest's write is in the overlay (qemu-img as the judge).
init_expect() {
	local name=$1 c
	for c in cpus virtio-devices blk-read blk-write net-dhcp net-tcp rng; do
		if grep -q "^envup-linux: $c ok" "$T/$name.out"; then
			ok "$name: linux init check $c"
		else
			not_ok "$name: linux init check $c: $(grep "^envup-linux: $c" "$T/$name.out" | head -c 300)"
		fi
	done
	if grep -q "^envup-linux: .*FAIL" "$T/$name.out"; then
		not_ok "$name: $(grep '^envup-linux: .*FAIL' "$T/$name.out" | tr '\n' ';' | head -c 400)"
	fi
	check "$name: guest power-off ends the VMM with 0 (rc $VMM_RC: $(tail -c 200 "$T/$name.err"))" \
		[ "$VMM_RC" -eq 0 ]
	check "$name: overlay written by Linux checks clean" qemu-img check -q "$T/$name.qcow2"
	qemu-img convert -O raw "$T/$name.qcow2" "$T/$name.raw" 2>/dev/null
	check "$name: the guest's write is in the overlay, the base's bytes beside it" python3 -c "
import sys
d = open('$T/$name.raw', 'rb').read(8192)
sys.exit(d[:18] != b'envup-disk-pattern' or d[4096:4112] != b'written-by-linux')"
}

# envvmm's DSDT in a stock Linux under QEMU (TCG: no KVM needed). The initrd table upgrade
# replaces QEMU's DSDT with ours (they match by OEM IDs), so Linux must find PCI through our
# \_SB.PCI0 and its _CRS windows, route through our _PRT and power off through our \_S5; the
# init checks run as above, on an envup overlay that QEMU opens.
if command -v qemu-system-x86_64 >/dev/null; then
	mkdir -p "$T/early/kernel/firmware/acpi"
	"$ENVUP_BUILD/san/tests/vmm_dsdt" BOCHS BXPC >"$T/early/kernel/firmware/acpi/DSDT.aml"
	(cd "$T/early" && find kernel | cpio -o -H newc --quiet) >"$T/qemu-initrd"
	cat "$L/initramfs.gz" >>"$T/qemu-initrd"
	new_disk qemu-dsdt
	timeout 300 qemu-system-x86_64 -M pc -cpu max -smp 2 -m 512 -nodefaults -display none \
		-serial stdio -no-reboot -kernel "$L/vmlinuz" -initrd "$T/qemu-initrd" \
		-append "$CMDLINE" \
		-drive "file=$T/qemu-dsdt.qcow2,format=qcow2,if=none,id=d0" \
		-device virtio-blk-pci,drive=d0,serial=envup-linux \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0 -device virtio-rng-pci \
		>"$T/qemu-dsdt.out" 2>"$T/qemu-dsdt.err" </dev/null
	VMM_RC=$?
	out=$T/qemu-dsdt.out
	check "qemu-dsdt: linux took envvmm's DSDT" grep -q "Table Upgrade: override \[DSDT" "$out"
	check "qemu-dsdt: linux found the root bridge PCI0" \
		grep -q "ACPI: PCI Root Bridge \[PCI0\] (domain 0000 \[bus 00-ff\])" "$out"
	check "qemu-dsdt: linux took the BAR window from _CRS" \
		grep -q "root bus resource \[mem 0xe0000000-0xfebfffff window\]" "$out"
	check "qemu-dsdt: linux routes PCI interrupts through ACPI" \
		grep -q "PCI: Using ACPI for IRQ routing" "$out"
	if grep -qE "ACPI BIOS Error|ACPI Error|ACPI Warning" "$out"; then
		not_ok "qemu-dsdt: ACPICA complains: $(grep -E 'ACPI BIOS Error|ACPI Error|ACPI Warning' "$out" | head -3 | tr '\n' ';')"
	else
		ok "qemu-dsdt: ACPICA has no complaint about the AML"
	fi
	init_expect qemu-dsdt
else
	skip "qemu-dsdt" "SKIPPED: qemu-system-x86_64 not installed (make deps)"
fi

vmm_require_kvm || finish
if $hardware; then
	linux_boot bzimage "$L/vmlinuz" 180 ""
	check "bzimage: kernel started" grep -q "Linux version" "$T/bzimage.out"
	init_expect bzimage
	linux_boot pvh "$L/vmlinux" 180 ""
	init_expect pvh
	finish
fi

# Emulated KVM: the PVH entry, as far as the emulator lets a stock kernel go.
linux_boot pvh "$L/vmlinux" 480 \
	"earlyprintk=serial,ttyS0,115200 acpi_force_table_verification clearcpuid=141 noxsave"
out=$T/pvh.out
expect_line() { # NAME REGEX
	if grep -qE -- "$2" "$out"; then ok "pvh: linux reports $1"; else not_ok "pvh: linux reports $1 (no /$2/)"; fi
}
expect_line "its version" "Linux version [0-9]"
expect_line "our command line (hvm_start_info)" "Command line: console=ttyS0 panic=-1 envup.cpus=2 envup.port=$port"
expect_line "e820: low RAM" "BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable"
expect_line "e820: RAM from 1 MiB to 512 MiB" "BIOS-e820: \[mem 0x0000000000100000-0x000000001fffffff\] usable"
expect_line "e820: the IOAPIC/LAPIC hole reserved" "BIOS-e820: \[mem 0x00000000fec00000-0x00000000ffffffff\] reserved"
expect_line "the MP table" "found SMP MP-table at"
expect_line "ACPI RSDP" "ACPI: RSDP 0x[0-9A-F]+ 000024 \(v02 ENVUP"
expect_line "ACPI FADT" "ACPI: FACP 0x[0-9A-F]+ [0-9A-F]+ \(v06 ENVUP"
expect_line "ACPI DSDT" "ACPI: DSDT 0x"
expect_line "ACPI MADT" "ACPI: APIC 0x"
expect_line "SMP from the MADT" "ACPI: Using ACPI \(MADT\) for SMP configuration information"
expect_line "2 vCPUs" "smpboot: Allowing 2 CPUs, 0 hotplug CPUs"
expect_line "the IOAPIC" "IOAPIC\[0\]: apic_id 0, version [0-9]+, address 0xfec00000, GSI 0-23"
expect_line "the SCI override" "INT_SRC_OVR \(bus 0 bus_irq 9 global_irq 9 high level\)"
expect_line "KVM from CPUID" "Hypervisor detected: KVM"
expect_line "a console on our 8250" "printk: console \[ttyS0\] enabled"
check "pvh: the FACS is listed once" [ "$(grep -c 'ACPI: FACS' "$out")" -eq 1 ]
complaints="ACPI BIOS Error|ACPI Error|ACPI Warning|MP-BIOS bug|[Cc]hecksum error|Incorrect checksum"
if grep -qE "$complaints" "$out"; then
	not_ok "pvh: linux complains: $(grep -E "$complaints" "$out" | head -3 | tr '\n' ';')"
else
	ok "pvh: no ACPI, MP-table or checksum complaints"
fi
if grep -q "^envup-linux: init started" "$out"; then
	init_expect pvh
elif grep -q "KVM internal error.*instruction emulation failed" "$T/pvh.err"; then
	# the emulator's limit, not ours: anything else (a hang, a triple fault) fails below
	skip "pvh: linux init checks" "SKIPPED: this KVM's instruction emulator stopped the stock kernel after '$(grep -v '^$' "$out" | tail -1 | cut -c1-90)': $(tail -1 "$T/pvh.err" | cut -c1-160)"
else
	not_ok "pvh: the kernel stopped before init, not in the emulator (rc $VMM_RC): $(tail -1 "$T/pvh.err" | cut -c1-200)"
fi
finish
