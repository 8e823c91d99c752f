#!/usr/bin/env bash
# A short libFuzzer run over each parser of untrusted box input (catalog JSON, OVF, archives:
# nothing may be created outside the box directory); longer
# runs: build/fuzz/fuzz_box_catalog -max_total_time=600 tests/fuzz/corpus/box_catalog
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${ENVUP_FUZZ_SECS:-8}
for f in box_catalog box_ovf box_extract; do
	bin=$ENVUP_BUILD/fuzz/fuzz_$f
	if [ ! -x "$bin" ]; then
		skip "fuzz_$f" "not built (make fuzz needs clang with libFuzzer)"
		continue
	fi
	mkdir -p "$T/$f"
	cp "$ENVUP_SRC/tests/fuzz/corpus/$f/"* "$T/$f/"
	if TMPDIR=$T "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 -artifact_prefix="$T/" \
		"$T/$f" >"$T/$f.log" 2>&1; then
		ok "fuzz_$f ran ${secs}s without a crash ($(grep -o 'Done [0-9]* runs' "$T/$f.log"))"
	else
		not_ok "fuzz_$f found a crash:"
		tail -30 "$T/$f.log"
	fi
done
finish
