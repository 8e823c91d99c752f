#!/usr/bin/env bash
# envvmm: a short run of the device-layer fuzzer (make fuzz builds it with clang/libFuzzer):
# random configuration-space writes, BAR accesses and descriptor chains, no KVM needed.
. "$(dirname "$0")/lib.sh"

FUZZER=$ENVUP_BUILD/fuzz/fuzz_vmm_devices
if [ ! -x "$FUZZER" ]; then
	skip "vmm device fuzzer" "SKIPPED: not built (needs clang with libFuzzer: make fuzz)"
	finish
fi
mkdir -p "$T/corpus"
(cd "$T" && "$FUZZER" -max_total_time=${ENVUP_FUZZ_SECONDS:-10} -rss_limit_mb=1024 \
	-print_final_stats=1 "$T/corpus" >"$T/fuzz.log" 2>&1)
rc=$?
check "fuzzer: no crash, hang or sanitizer report in ${ENVUP_FUZZ_SECONDS:-10} s" [ $rc -eq 0 ]
[ $rc -eq 0 ] || tail -n 30 "$T/fuzz.log"
check "fuzzer: ran many inputs" grep -qE 'stat::number_of_executed_units: *[0-9]{4,}' "$T/fuzz.log"

# The kernel loaders, seeded with the test-kit guest as ELF and as bzImage.
BOOT_FUZZER=$ENVUP_BUILD/fuzz/fuzz_vmm_boot
if [ -x "$BOOT_FUZZER" ]; then
	mkdir -p "$T/boot"
	cp "$ENVUP_BUILD/guest/kit.elf" "$ENVUP_BUILD/guest/kit.bzImage" "$T/boot/" 2>/dev/null
	(cd "$T" && "$BOOT_FUZZER" -max_total_time=${ENVUP_FUZZ_SECONDS:-5} -rss_limit_mb=1024 \
		-max_len=200000 -print_final_stats=1 "$T/boot" >"$T/boot.log" 2>&1)
	rc=$?
	check "boot fuzzer: no crash or sanitizer report on malformed kernels" [ $rc -eq 0 ]
	[ $rc -eq 0 ] || tail -n 30 "$T/boot.log"
	check "boot fuzzer: ran many inputs" \
		grep -qE 'stat::number_of_executed_units: *[0-9]{4,}' "$T/boot.log"
else
	skip "vmm boot fuzzer" "SKIPPED: not built (needs clang with libFuzzer: make fuzz)"
fi
# The 9p server, seeded with short sessions of Linux's messages (tests/fuzz/p9_seeds.py).
P9_FUZZER=$ENVUP_BUILD/fuzz/fuzz_vmm_p9
if [ -x "$P9_FUZZER" ]; then
	mkdir -p "$T/p9"
	python3 "$ENVUP_SRC/tests/fuzz/p9_seeds.py" "$T/p9"
	(cd "$T" && "$P9_FUZZER" -max_total_time=${ENVUP_FUZZ_SECONDS:-5} -rss_limit_mb=1024 \
		-print_final_stats=1 "$T/p9" >"$T/p9.log" 2>&1)
	rc=$?
	check "9p fuzzer: no crash, sanitizer report or escape from the share" [ $rc -eq 0 ]
	[ $rc -eq 0 ] || tail -n 30 "$T/p9.log"
	check "9p fuzzer: ran many inputs" \
		grep -qE 'stat::number_of_executed_units: *[0-9]{4,}' "$T/p9.log"
else
	skip "vmm 9p fuzzer" "SKIPPED: not built (needs clang with libFuzzer: make fuzz)"
fi
finish
