#!/usr/bin/env bash
# Runs each image reader's libFuzzer harness (and the qcow2 writer's) briefly (ENVUP_FUZZ_SECONDS, default 10), seeded
# with small valid images from qemu-img. A crash, leak or sanitizer report fails the test.
. "$(dirname "$0")/lib.sh"

secs=${ENVUP_FUZZ_SECONDS:-10}
if ! command -v qemu-img >/dev/null; then
	skip images-fuzz "qemu-img (qemu-utils) missing"
	finish
fi
HERE=$(cd "$(dirname "$0")" && pwd)
python3 "$HERE/images_pattern.py" "$T/p.raw" $((256 * 1024 + 4608)) 5
mk() { # FORMAT NAME qemu-img-args...
	local fmt=$1 name=$2
	shift 2
	mkdir -p "$T/seed_$fmt"
	qemu-img convert "$@" "$T/p.raw" "$T/seed_$fmt/$name" >/dev/null 2>&1
}
mk qcow2 v3 -O qcow2 -o cluster_size=4k
mk qcow2 v2 -O qcow2 -o compat=0.10,cluster_size=512
mk qcow2 zlib -c -O qcow2 -o cluster_size=4k
mk qcow2 zstd -c -O qcow2 -o compression_type=zstd,cluster_size=4k
mk qcow2 extl2 -O qcow2 -o extended_l2=on,cluster_size=16k
mk vmdk sparse -O vmdk -o subformat=monolithicSparse
mk vmdk stream -O vmdk -o subformat=streamOptimized
python3 "$HERE/images_vbox_stream.py" "$T/p.raw" "$T/seed_vmdk/vbox" 8
printf '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 64 ZERO\nRW 64 FLAT "img" 0\n' >"$T/seed_vmdk/desc"
mk vdi dynamic -O vdi
mk vdi static -O vdi -o static=on
mk vhd dynamic -O vpc -o subformat=dynamic
mk vhd fixed -O vpc -o subformat=fixed
cp -r "$T/seed_qcow2" "$T/seed_qcow2w"
for f in qcow2 vmdk vdi vhd qcow2w; do
	bin=$ENVUP_BUILD/fuzz/fuzz_image_$f
	if [ ! -x "$bin" ]; then
		skip "fuzz $f" "harness not built (make fuzz; needs clang)"
		continue
	fi
	mkdir -p "$T/corpus_$f"
	if TMPDIR=$T "$bin" -max_total_time="$secs" -max_len=262144 -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="$T/" \
		"$T/corpus_$f" "$T/seed_$f" >"$T/fuzz_$f.log" 2>&1; then
		ok "fuzz $f ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$T/fuzz_$f.log" | awk '{print $2}') runs in ${secs}s)"
	else
		not_ok "fuzz $f"
		tail -n 40 "$T/fuzz_$f.log"
	fi
done
finish
