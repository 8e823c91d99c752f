#!/usr/bin/env bash
# envvmm's DSDT in a stock Linux under QEMU (TCG: no KVM needed). Debian's kernel and the
# checking initramfs of tests/linux/; the initrd table upgrade replaces QEMU's DSDT with ours
# (they match by OEM IDs), so Linux must find PCI through our \_SB.PCI0 and its _CRS windows,
# route through our _PRT and power off through our \_S5; the init checks run as in
# vmm_linux.sh, on an envup overlay that QEMU opens.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"
. "$(dirname "$0")/vmm_linux.inc"

linux_prepare
# The host's server for the guest's TCP check (10.0.2.2 from inside).
vmm_tcp_server srv token
port=$SRV_PORT
CMDLINE="console=ttyS0 panic=-1 envup.cpus=2 envup.port=$port envup.sectors=131072"

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
	init_expect qemu-dsdt $INIT_CHECKS
else
	skip "qemu-dsdt" "SKIPPED: qemu-system-x86_64 not installed (make deps)"
fi

finish
