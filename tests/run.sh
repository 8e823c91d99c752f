#!/usr/bin/env bash
# Runs every unit test (cmocka, in TAP mode) and every integration script, and ends with one
# summary line. Integration scripts print TAP-style lines through tests/integration/lib.sh:
#   ok - NAME | not ok - NAME | ok - NAME # SKIP reason
# A script that exits non-zero without reporting a failure counts as one failure.
set -u
cd "$(dirname "$0")/.."
export ENVUP_SRC=$PWD
export ENVUP_BUILD=$PWD/build
export PATH="$PWD/build/san/bin:$PATH"
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0 fail=0 skip=0
failed=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/envup-tests.XXXXXX")

# $1: name, rest: command. Counts its TAP lines.
run_one() {
	local name=$1; shift
	local log="$logdir/$(echo "$name" | tr '/' '_').log" rc start end
	start=$(date +%s)
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	end=$(date +%s)
	local p f s
	s=$(grep -cE '^(not )?ok .*# SKIP' "$log")
	p=$(grep -E '^ok ' "$log" | grep -vc '# SKIP')
	f=$(grep -E '^not ok ' "$log" | grep -vc '# SKIP')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited $rc" >>"$log"
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	printf '%-44s %3d passed %3d failed %3d skipped  (%ss)\n' "$name" "$p" "$f" "$s" "$((end - start))"
	grep -E '^(not )?ok .*# SKIP' "$log" | sed -E 's/^(not )?ok [0-9]* ?-? ?/    SKIPPED: /'
	if [ "$f" -ne 0 ]; then
		failed+=("$name")
		sed 's/^/    | /' "$log" | tail -n 60
	fi
}

for t in build/san/tests/unit/test_*; do
	case "$t" in *.o | *.d) continue ;; esac
	[ -x "$t" ] || continue
	run_one "unit/${t##*/}" "$t"
done
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	case "${t##*/}" in lib.sh) continue ;; esac
	if grep -q '^# slow' "$t" && [ -z "${ENVUP_SLOW:-}" ]; then
		continue
	fi
	run_one "integration/${t##*/}" bash "$t"
done

echo
[ ${#failed[@]} -gt 0 ] && echo "failed suites: ${failed[*]}"
echo "logs: $logdir"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
