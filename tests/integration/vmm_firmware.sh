#!/usr/bin/env bash
# needs: kvm
# envvmm --firmware: Debian's SeaBIOS boots the first disk through envvmm's fw_cfg, CMOS,
# 440FX/PIIX3 chipset and virtio-blk: a boot sector assembled by the repository (raw disk, and a
# qcow2 overlay on a base that envbox converted from a streamOptimized VMDK), real GRUB from
# grub-pc-bin reading grub.cfg from an ext4 partition and powering off through envvmm's ACPI
# tables, the control socket's shutdown after a firmware boot, and bad input.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

SEABIOS=/usr/share/seabios/bios.bin
BS=$ENVUP_BUILD/guest/bootsector.bin
BSP=$ENVUP_BUILD/guest/bootsector-powerbutton.bin
TOOL=$ENVUP_BUILD/san/tests/images_tool
GRUBDIR=/usr/lib/grub/i386-pc

# --- Bad input that needs no KVM ---
head -c 100000 /dev/zero >"$T/short.bin"
"$ENVVMM" --memory 64 --firmware "$T/short.bin" >"$T/short.out" 2>&1
check_sh "a firmware file of the wrong size: exit 2 naming the file and the sizes" \
	'[ $? -eq 2 ] && grep -q "short.bin: 100000 bytes; a BIOS image is 128 or 256 KiB" "$T/short.out"'
"$ENVVMM" --memory 64 --firmware --kernel "$KIT_ELF" >"$T/both.out" 2>&1
check_sh "--firmware with --kernel is a usage error" \
	'[ $? -eq 2 ] && grep -q "exclude each other" "$T/both.out"'
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
	# Hide the installed SeaBIOS in a private mount namespace.
	unshare -m sh -c "mount -t tmpfs none /usr/share/seabios && exec '$ENVVMM' --memory 64 --firmware" \
		>"$T/nofw.out" 2>&1
	rc=$?
	check_sh "--firmware with no SeaBIOS installed: one line naming the package (exit 1)" \
		'[ $rc -eq 1 ] && [ "$(wc -l <"$T/nofw.out")" -eq 1 ] && grep -q "install Debian'"'"'s seabios package" "$T/nofw.out"'
else
	skip "--firmware with no SeaBIOS installed" "needs root and unshare -m"
fi

if [ ! -f "$SEABIOS" ]; then
	skip "firmware boots" "$SEABIOS missing (make deps: seabios)"
	finish
fi
for f in "$BS" "$BSP"; do
	[ -f "$f" ] || { not_ok "$f not built (make guest)"; finish; }
done
vmm_require_kvm || finish

# fw_boot NAME DISKARGS...: boots SeaBIOS (90 s at most) with console and log in $T.
fw_boot() {
	local name=$1
	shift
	timeout 90 "$ENVVMM" --memory 128 --firmware --console "$T/$name.con" --log "$T/$name.log" \
		"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
	VMM_RC=$?
}

# bs_disk PATH TOKEN: an 8 MiB raw disk: the boot sector, then TOKEN at LBA 1.
bs_disk() {
	truncate -s 8M "$1"
	dd if="$BS" of="$1" conv=notrunc status=none
	printf '%s\0' "$2" | dd of="$1" bs=512 seek=1 conv=notrunc status=none
}

# --- (a) the boot sector from a raw disk ---
tok1=raw-$RANDOM$RANDOM
bs_disk "$T/bs.raw" "$tok1"
fw_boot raw --disk "$T/bs.raw,format=raw"
check_sh "raw: exit 0 on the boot sector's reset" '[ $VMM_RC -eq 0 ] && grep -q "guest reset (i8042)" "$T/raw.log"'
check "raw: SeaBIOS sees envvmm's 440FX (fw_cfg and CMOS found)" \
	grep -q "firmware: Running on QEMU (i440fx)" "$T/raw.log"
check "raw: SeaBIOS reads RAM from fw_cfg's e820" \
	grep -q "firmware: qemu/e820: addr 0x0000000000000000 len 0x0000000008000000 \[RAM\]" "$T/raw.log"
check "raw: SeaBIOS drives envvmm's virtio-blk in modern mode" \
	grep -q "firmware: pci dev 00:03.0 using modern (1.0) virtio mode" "$T/raw.log"
check "raw: SeaBIOS's own console goes to COM1" grep -q "Booting from Hard Disk" "$T/raw.con"
check "raw: the boot sector ran, booted as drive 0x80" grep -q "envup-bootsector: ok drive=80" "$T/raw.con"
check "raw: the boot sector read this test's token from LBA 1 through INT 13h ($(grep -a 'envup-bootsector: lba1' "$T/raw.con" | head -c 120))" \
	grep -q "envup-bootsector: lba1=$tok1" "$T/raw.con"

# --- (a) the same from a qcow2 overlay on a base converted from a streamOptimized VMDK ---
tok2=vmdk-$RANDOM$RANDOM
mkdir -p "$T/box"
bs_disk "$T/src.raw" "$tok2"
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/src.raw" "$T/box/box.vmdk"
check "vmdk: qemu-img made a streamOptimized VMDK" grep -qa 'createType="streamOptimized"' "$T/box/box.vmdk"
"$ENVCTL" box convert "$T/box/box.vmdk" "$T/box/base.qcow2" --from vmdk --to qcow2 >"$T/conv.out" 2>&1
check "vmdk: envbox convert made the qcow2 base" [ -s "$T/box/base.qcow2" ]
"$TOOL" create "$T/box/disk.qcow2" 8388608 base.qcow2 qcow2 >"$T/ov.out" 2>&1
fw_boot vmdk --disk "$T/box/disk.qcow2,format=qcow2"
check_sh "vmdk: exit 0 on the boot sector's reset" '[ $VMM_RC -eq 0 ] && grep -q "guest reset (i8042)" "$T/vmdk.log"'
check "vmdk: the boot sector ran from the overlay" grep -q "envup-bootsector: ok drive=80" "$T/vmdk.con"
check "vmdk: and read the VMDK's token through the overlay" grep -q "envup-bootsector: lba1=$tok2" "$T/vmdk.con"
check "vmdk: qemu-img check finds the overlay clean" qemu-img check -q "$T/box/disk.qcow2"

# --- the control socket's shutdown after a firmware boot ---
truncate -s 8M "$T/pwr.raw"
dd if="$BSP" of="$T/pwr.raw" conv=notrunc status=none
"$ENVVMM" --daemonize --memory 128 --firmware --disk "$T/pwr.raw,format=raw" --api "$T/ctl.sock" \
	--pidfile "$T/pwr.pid" --console "$T/pwr.con" --log "$T/pwr.log" >"$T/pwr.out" 2>&1
pid=$(cat "$T/pwr.pid" 2>/dev/null)
at_exit "kill $pid 2>/dev/null"
for _ in $(seq 1 600); do grep -q "waiting for power button" "$T/pwr.con" 2>/dev/null && break; sleep 0.1; done
check "shutdown: the boot sector waits for the power button" grep -q "waiting for power button" "$T/pwr.con"
r=$(vmm_api "$T/ctl.sock" '{"command":"shutdown"}')
check "shutdown: the power button is pressed and the guest listens ($r)" \
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["ok"] and r["guest_listening"] is True, r' "$r"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check_sh "shutdown: envvmm ends on the guest's S5 power-off" \
	'! kill -0 "$pid" 2>/dev/null && grep -q "guest power off (ACPI S5)" "$T/pwr.log"'

# --- a disk with no boot signature: SeaBIOS says so, envvmm ends with a clear error ---
truncate -s 8M "$T/blank.raw"
start=$(date +%s)
fw_boot blank --disk "$T/blank.raw,format=raw"
took=$(($(date +%s) - start))
check "blank: SeaBIOS says so on the console" grep -q "Boot failed: not a bootable disk" "$T/blank.con"
check_sh "blank: exit 1 naming the reason, within 60 s (took ${took}s)" \
	'[ $VMM_RC -eq 1 ] && [ $took -lt 60 ] && grep -q "the firmware found nothing to boot (Boot failed: not a bootable disk)" "$T/blank.err"'

# --- (b) real GRUB from an ext4 partition ---
if [ ! -f "$GRUBDIR/boot.img" ] || ! command -v grub-mkimage >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
	skip "GRUB boots" "grub-pc-bin or e2fsprogs missing (make deps)"
	finish
fi
tok3=grub-$RANDOM$RANDOM
. "$ENVUP_SRC/tests/integration/helpers/grub_disk.sh"
grub_disk "$T/g" "$tok3" </dev/null
fw_boot grub --disk "$T/g/grub.raw,format=raw"
check "grub: GRUB read grub.cfg from the ext4 partition and wrote the marker" \
	grep -q "envup-grub: $tok3 from hd0,msdos1" "$T/grub.con"
check_sh "grub: GRUB's halt powered off through envvmm's ACPI tables (exit 0)" \
	'[ $VMM_RC -eq 0 ] && grep -q "guest power off (ACPI S5)" "$T/grub.log"'
finish
