#!/usr/bin/env bash
# needs: kvm
# envvmm: direct boot of the test-kit guest (bzImage and PVH ELF), boot parameters, ACPI,
# SMP, reset, triple fault and argument errors. Each boot is a few million guest instructions.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

# Usage errors need no KVM (except the last), so they come first and run everywhere.
vmm_boot u --memory 64 --firmware /nonexistent
check "a missing firmware file is a one-line error naming it" \
	vmm_rc_grep 1 'firmware /nonexistent: No such file or directory' u
vmm_boot u --kernel "$KIT_BZ"
check "missing --memory is a usage error" vmm_rc_grep 2 'memory is required' u
vmm_boot u --memory 64 --cpus 0 --kernel "$KIT_BZ"
check "--cpus 0 is a usage error" vmm_rc_grep 2 'cpus 0' u
vmm_boot u --memory 64 --kernel "$KIT_BZ" --bogus
check "unknown option is a usage error" vmm_rc_grep 2 'unknown or incomplete option --bogus' u

vmm_require_kvm || finish

vmm_boot u --memory 64 --kernel "$T/none"
check "missing kernel fails naming the file" vmm_rc_grep 1 "$T/none" u
printf 'not a kernel at all, just some bytes...........................' >"$T/junk"
vmm_boot u --memory 64 --kernel "$T/junk"
check "a non-kernel file is refused" vmm_rc_grep 2 'not a bzImage' u

# An initrd with known contents: the kit hashes it (FNV-1a) and compares.
head -c 5000 /dev/urandom >"$T/initrd"
ilen=$(stat -c %s "$T/initrd")
ihash=$(kit_fnv1a "$T/initrd")
base="kit.mem=64 kit.magic=cmdline-delivered kit.initrd=$ilen:$ihash"

vmm_boot bz --memory 64 --cpus 1 --kernel "$KIT_BZ" --initrd "$T/initrd" \
	--cmdline "$base kit.cpus=1 kit.tests=acpi,mptable,smp,timer"
check "bzImage: exits 0 on reset" [ "$VMM_RC" -eq 0 ]
kit_expect bz boot e820-sane e820-covers e820-total cmdline initrd initrd-placed initrd-max \
	acpi-rsdp acpi-xsdt acpi-ioapic-id acpi-checksums acpi-fadt acpi-madt mptable smp \
	tsc-deadline-cpuid tsc-deadline-fires
check "bzImage: mode reported" grep -q '^kit: ok boot mode=bzimage' "$T/bz.out"
check "bzImage: reset logged" grep -q 'guest reset (i8042)' "$T/bz.err"

vmm_boot pvh --memory 96 --cpus 3 --kernel "$KIT_ELF" --initrd "$T/initrd" \
	--cmdline "kit.mem=96 kit.magic=cmdline-delivered kit.initrd=$ilen:$ihash kit.cpus=3 kit.tests=acpi,mptable,smp,timer"
check "PVH: exits 0 on reset" [ "$VMM_RC" -eq 0 ]
kit_expect pvh boot e820-sane e820-covers e820-total cmdline initrd initrd-placed acpi-madt mptable smp \
	tsc-deadline-cpuid tsc-deadline-fires
check "PVH: mode reported" grep -q '^kit: ok boot mode=pvh' "$T/pvh.out"
check "PVH: all 3 vCPUs came up" grep -q '^kit: ok smp cpus=3/3 apic-ids=7' "$T/pvh.out"

vmm_boot ar --memory 32 --kernel "$KIT_ELF" --cmdline "kit.tests=acpi,acpi-reset kit.cpus=1"
check "ACPI reset register: exit 0" [ "$VMM_RC" -eq 0 ]
check "ACPI reset register is port 0xcf9, value 6" grep -q '^kit: acpi reset through port cf9 value 6' "$T/ar.out"
check "ACPI reset logged" grep -q 'guest reset (port 0xcf9)' "$T/ar.err"

vmm_boot tf --memory 32 --kernel "$KIT_ELF" --cmdline "kit.tests=triplefault"
check "triple fault: non-zero exit" [ "$VMM_RC" -ne 0 ]
check "triple fault: one-line reason" grep -q 'guest triple fault on vCPU 0' "$T/tf.err"

# Console input: stdin reaches the guest through the UART's receive FIFO.
printf 'typed on the console\n' | timeout 60 "$ENVVMM" --memory 32 --kernel "$KIT_ELF" \
	--cmdline "kit.tests=serial-in" >"$T/in.out" 2>"$T/in.err"
check "console input reaches the guest" grep -q '^kit: ok serial-in got=typed on the console$' "$T/in.out"

# Console to a file, RAM above 4 GiB (lazily mapped: the guest touches little of it).
"$ENVVMM" --memory 4096 --kernel "$KIT_ELF" --console "$T/console.log" \
	--cmdline "kit.mem=4096 kit.magic=cmdline-delivered" >"$T/f.out" 2>"$T/f.err"
check "console file: exit 0" [ $? -eq 0 ]
check "console file: guest output there" grep -q '^kit: ok e820-total' "$T/console.log"
check "console file: nothing on stdout" [ ! -s "$T/f.out" ]
check "4 GiB guest: e820 has RAM above 4 GiB" grep -q '^kit: ok e820-sane entries=5' "$T/console.log"

finish
