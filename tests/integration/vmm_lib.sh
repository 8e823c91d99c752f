# Helpers for the envvmm integration tests (sourced after lib.sh).
KIT_BZ=$ENVUP_BUILD/guest/kit.bzImage
KIT_ELF=$ENVUP_BUILD/guest/kit.elf
# Boot-check arguments for a 64 MiB machine.
KIT64="kit.mem=64 kit.magic=cmdline-delivered"

# vmm_require_kvm: true when /dev/kvm can be opened; else prints a skip line.
vmm_require_kvm() {
	if [ ! -f "$KIT_BZ" ] || [ ! -f "$KIT_ELF" ]; then
		not_ok "test-kit guest not built (make guest)"
		return 1
	fi
	if ! (exec 9<>/dev/kvm) 2>/dev/null; then
		skip "envvmm boots" "SKIPPED: no usable /dev/kvm"
		return 1
	fi
	return 0
}

# vmm_boot NAME ARGS...: runs envvmm (60 s at most), stdout in $T/NAME.out, stderr in
# $T/NAME.err, status in VMM_RC.
vmm_boot() {
	local name=$1
	shift
	timeout 60 "$ENVVMM" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
	VMM_RC=$?
}

# vmm_rc_grep RC PATTERN NAME: the last vmm_boot NAME exited RC and said PATTERN on stderr.
vmm_rc_grep() {
	[ "$VMM_RC" -eq "$1" ] && grep -q -- "$2" "$T/$3.err"
}

# kit_expect NAME CHECK...: one ok line per check that the kit reported it passed, and one
# failure for any "not ok" line.
kit_expect() {
	local name=$1 c
	shift
	for c in "$@"; do
		if grep -q "^kit: ok $c\( \|$\)" "$T/$name.out"; then
			ok "$name: kit check $c"
		else
			not_ok "$name: kit check $c ($(grep "^kit: .* $c " "$T/$name.out" | head -1))"
		fi
	done
	if grep -q '^kit: not ok' "$T/$name.out"; then
		not_ok "$name: kit reported failures: $(grep '^kit: not ok' "$T/$name.out" | tr '\n' ';')"
	fi
	check "$name: kit finished" grep -q '^kit: done' "$T/$name.out"
}

# kit_fnv1a FILE: the 32-bit FNV-1a hash as 0x... (what the kit computes).
kit_fnv1a() {
	python3 -c '
import sys
h = 2166136261
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 16777619) & 0xffffffff
print(hex(h))' "$1"
}
