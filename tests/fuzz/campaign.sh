#!/usr/bin/env bash
# A long fuzz campaign: each named harness of `make fuzz` in turn (never two at once), for
# ENVUP_FUZZ_SECONDS (default 600) each, seeded as the short integration runs seed them, with
# a log, the grown corpus and any crash artifact kept under OUTDIR. Meant for `nice -n 19` in
# the background; prints one summary line per harness (runs, seconds, finding or not).
#   tests/fuzz/campaign.sh OUTDIR [HARNESS...]   (default: every harness in build/fuzz/)
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ENVUP_BUILD:-$SRC/build}
SECS=${ENVUP_FUZZ_SECONDS:-600}
OUT=${1:?usage: campaign.sh OUTDIR [HARNESS...]}
shift
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ $# -eq 0 ]; then
	set -- $(cd "$BUILD/fuzz" && ls fuzz_* | sed 's/^fuzz_//')
fi

# seed_images DIR FORMAT: small valid images of FORMAT from qemu-img (as images_fuzz.sh).
seed_images() {
	local dir=$1 fmt=$2 p=$OUT/pattern.raw
	[ -f "$p" ] || python3 "$SRC/tests/integration/images_pattern.py" "$p" $((256 * 1024 + 4608)) 5
	mk() { qemu-img convert "${@:2}" "$p" "$dir/$1" >/dev/null 2>&1; }
	case $fmt in
	qcow2 | qcow2w)
		mk v3 -O qcow2 -o cluster_size=4k
		mk v2 -O qcow2 -o compat=0.10,cluster_size=512
		mk zlib -c -O qcow2 -o cluster_size=4k
		mk zstd -c -O qcow2 -o compression_type=zstd,cluster_size=4k
		mk extl2 -O qcow2 -o extended_l2=on,cluster_size=16k
		;;
	vmdk)
		mk sparse -O vmdk -o subformat=monolithicSparse
		mk stream -O vmdk -o subformat=streamOptimized
		python3 "$SRC/tests/integration/images_vbox_stream.py" "$p" "$dir/vbox" 8
		;;
	vdi)
		mk dynamic -O vdi
		mk static -O vdi -o static=on
		;;
	vhd)
		mk dynamic -O vpc -o subformat=dynamic
		mk fixed -O vpc -o subformat=fixed
		;;
	esac
}

for h in "$@"; do
	bin=$BUILD/fuzz/fuzz_$h
	if [ ! -x "$bin" ]; then
		echo "$h: not built (make fuzz)"
		continue
	fi
	work=$OUT/$h
	mkdir -p "$work/corpus" "$work/seed" "$work/tmp"
	args=(-max_total_time="$SECS" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1
		-artifact_prefix="$work/")
	case $h in
	box_*)
		cp "$SRC/tests/fuzz/corpus/$h/"* "$work/seed/"
		args+=(-max_len=65536)
		;;
	image_*)
		seed_images "$work/seed" "${h#image_}"
		args+=(-max_len=262144)
		;;
	vmm_boot)
		cp "$BUILD/guest/kit.elf" "$BUILD/guest/kit.bzImage" "$work/seed/" 2>/dev/null
		args+=(-max_len=200000)
		;;
	esac
	start=$(date +%s)
	(cd "$work" && TMPDIR=$work/tmp "$bin" "${args[@]}" "$work/corpus" "$work/seed" \
		>"$work/log" 2>&1)
	rc=$?
	end=$(date +%s)
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | awk '{print $2}')
	if [ $rc -eq 0 ]; then
		result="no finding"
	else
		result="FINDING (exit $rc; $(ls "$work" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -3 | tr '\n' ' '))"
	fi
	echo "$h: $((end - start)) s, ${runs:-?} runs, $result ($(date -u +%H:%M) UTC)"
done
