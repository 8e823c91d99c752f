#!/usr/bin/env bash
# needs: kvm
# envvmm: PCI enumeration, virtio-rng and virtio-blk (raw, read-only, qcow2 overlay) checked
# from inside the test-kit guest, then the disk files checked from the host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

vmm_require_kvm || finish

# A 1 MiB disk whose sectors are labelled, so that reads at the wrong offset show.
mkdisk() {
	python3 -c '
import sys
d = bytearray(1 << 20)
for i in range(0, len(d), 512):
    d[i:i + 16] = ("sector %08d\n" % (i // 512)).encode()
open(sys.argv[1], "wb").write(d)' "$1"
}
mkdisk "$T/d0.raw"
mkdisk "$T/d1.raw"
head -c 4096 "$T/d0.raw" >"$T/first4k"
h=$(kit_fnv1a "$T/first4k")
cp "$T/d1.raw" "$T/d1.orig"

vmm_boot blk --memory 64 --kernel "$KIT_BZ" \
	--disk "$T/d0.raw,format=raw,serial=data0" --disk "$T/d1.raw,format=raw,readonly" \
	--cmdline "$KIT64 kit.tests=pci,rng,blk kit.pcidevs=4 kit.disks=2 kit.blkhash0=$h kit.blkhash1=$h"
check "blk: exit 0" [ "$VMM_RC" -eq 0 ]
kit_expect blk pci-bar pci-enum pci-cfg-window rng rng-msix rng-intx blk-id blk-read blk-msix blk-range \
	blk-write blk-flush blk-readback blk-readonly blk-unsupported blk-bad-addr blk-cycle \
	blk-alive blk-count
check "blk: serial given on the command line" grep -q '^kit: ok blk-id 0 id=data0$' "$T/blk.out"
check "blk: default serial" grep -q '^kit: ok blk-id 1 id=envvmm-disk1$' "$T/blk.out"
# blk-capacity is a report (the kit cannot know the size); its values are checked here
check "blk: capacity in sectors" grep -q '^kit: ok blk-capacity 0 sectors=2048 ro=0' "$T/blk.out"
check "blk: read-only flag offered" grep -q '^kit: ok blk-capacity 1 sectors=2048 ro=1' "$T/blk.out"
check "blk: host sees the guest's write at sector 2" \
	grep -q 'written by the envup test kit0' <(dd if="$T/d0.raw" bs=512 skip=2 count=1 2>/dev/null)
check "blk: read-only disk unchanged" cmp -s "$T/d1.raw" "$T/d1.orig"
check "blk: bad chains logged" grep -q 'bad descriptor chain: chain loops' "$T/blk.err"
check "blk: out-of-RAM buffer logged" grep -q 'descriptor buffer outside guest RAM' "$T/blk.err"

# qcow2 overlay over a raw base (qemu-img makes it; the kit's write lands in the overlay).
if command -v qemu-img >/dev/null; then
	mkdisk "$T/base.raw"
	cp "$T/base.raw" "$T/base.orig"
	qemu-img create -q -f qcow2 -F raw -b base.raw "$T/over.qcow2"
	vmm_boot q --memory 64 --kernel "$KIT_ELF" --disk "$T/over.qcow2,format=qcow2,serial=ov" \
		--cmdline "$KIT64 kit.tests=blk kit.disks=1 kit.blkhash0=$h"
	check "qcow2: exit 0" [ "$VMM_RC" -eq 0 ]
	kit_expect q blk-read blk-write blk-flush blk-readback blk-alive
	check "qcow2: base untouched" cmp -s "$T/base.raw" "$T/base.orig"
	check "qcow2: qemu-img check is clean" qemu-img check -q "$T/over.qcow2"
	qemu-img convert -O raw "$T/over.qcow2" "$T/over.raw"
	check "qcow2: write visible through qemu-img" \
		grep -q 'written by the envup test kit0' <(dd if="$T/over.raw" bs=512 skip=2 count=1 2>/dev/null)
	check "qcow2: other sectors come from the base" \
		cmp -s <(dd if="$T/over.raw" bs=512 skip=3 2>/dev/null) <(dd if="$T/base.raw" bs=512 skip=3 2>/dev/null)
	# A machine's overlay names its box base in another directory by absolute path: followed
	# only when --disk names that exact path as backing=.
	mkdir -p "$T/store" "$T/machine"
	qemu-img convert -q -f raw -O qcow2 "$T/base.orig" "$T/store/base.qcow2"
	qemu-img create -q -f qcow2 -F qcow2 -b "$T/store/base.qcow2" "$T/machine/over.qcow2"
	vmm_boot tb --memory 64 --kernel "$KIT_ELF" \
		--disk "$T/machine/over.qcow2,format=qcow2,backing=$T/store/base.qcow2" \
		--cmdline "$KIT64 kit.tests=blk kit.disks=1 kit.blkhash0=$h"
	check "qcow2 trusted backing: exit 0" [ "$VMM_RC" -eq 0 ]
	kit_expect tb blk-read blk-write blk-flush blk-readback blk-alive
	check "qcow2 trusted backing: qemu-img check is clean" qemu-img check -q "$T/machine/over.qcow2"
	check "qcow2 trusted backing: base untouched" \
		qemu-img compare -q -f qcow2 -F raw "$T/store/base.qcow2" "$T/base.orig"
	vmm_boot tbno --memory 64 --kernel "$KIT_ELF" --disk "$T/machine/over.qcow2,format=qcow2" \
		--cmdline "$KIT64 kit.tests=blk kit.disks=1 kit.blkhash0=$h"
	check "qcow2 backing outside the directory without backing=: refused" \
		vmm_rc_grep 1 "reference '$T/store/base.qcow2'.*leaves its directory" tbno
	vmm_boot tbno --memory 64 --kernel "$KIT_ELF" \
		--disk "$T/machine/over.qcow2,format=qcow2,backing=$T/store/other.qcow2" \
		--cmdline "$KIT64 kit.tests=blk kit.disks=1 kit.blkhash0=$h"
	check "qcow2 backing= naming another path: refused" \
		vmm_rc_grep 1 "reference '$T/store/base.qcow2'.*leaves its directory" tbno
	vmm_boot bad --memory 64 --kernel "$KIT_ELF" \
		--disk "$T/machine/over.qcow2,format=qcow2,backing=store/base.qcow2"
	check "backing= relative: usage error" vmm_rc_grep 2 'backing= must be an absolute path' bad
else
	skip "qcow2 overlay" "qemu-img not installed"
fi

vmm_boot bad --memory 64 --kernel "$KIT_ELF" --disk "$T/missing.raw,format=raw"
check "missing disk image: failure naming it" vmm_rc_grep 1 "missing.raw" bad
vmm_boot bad --memory 64 --kernel "$KIT_ELF" --disk "$T/d0.raw"
check "disk without format: usage error" vmm_rc_grep 2 'format=raw or format=qcow2 is required' bad
vmm_boot bad --memory 64 --kernel "$KIT_ELF" --disk "$T/d0.raw,format=vmdk"
check "disk with other format: usage error" vmm_rc_grep 2 'format must be raw or qcow2' bad

finish
