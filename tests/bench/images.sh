#!/usr/bin/env bash
# Conversion benchmark: a 2 GiB disk (half compressible data, half holes) as streamOptimized
# VMDK, compressed qcow2 and VDI, converted to qcow2 and raw by envbox and by qemu-img in the
# same run. Prints MiB/s (of virtual disk) and the ratio ours/qemu-img (above 1: we are faster).
set -u
cd "$(dirname "$0")/../.."
ENVCTL=${ENVCTL:-$PWD/build/rel/bin/envctl}
SIZE_MIB=${ENVUP_BENCH_SIZE_MIB:-2048}
if ! command -v qemu-img >/dev/null; then
	echo "images bench: qemu-img missing (apt-get install qemu-utils)"
	exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/envup-bench-images.XXXXXX")
trap 'rm -rf "$T"' EXIT

python3 - "$T/src.raw" "$SIZE_MIB" <<'PY'
import random, sys
path, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
         for _ in range(4096)]
base = b" ".join(rng.choice(words) for _ in range(2 << 20))[:8 << 20]
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for i in range(0, mib, 2):          # 1 MiB of data, then a 1 MiB hole
        f.seek(i << 20)
        o = (i * 7919 * 4096) % (7 << 20)
        f.write(b"%016d" % i + base[o:o + (1 << 20) - 16])
PY

now() { date +%s.%N; }
RUNS=${ENVUP_BENCH_RUNS:-2}
# timeit OUT command...: the best of RUNS timings of the command plus a sync (the machine is
# shared; the best run is the one least disturbed by others)
timeit() {
	local out=$1 s e t best=
	shift
	for ((r = 0; r < RUNS; r++)); do
		rm -f "$out"
		s=$(now)
		"$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; return 1; }
		sync
		e=$(now)
		t=$(echo "$e - $s" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
	done
	echo "$best"
}

echo "building inputs (${SIZE_MIB} MiB virtual, half data, half holes)..."
qemu-img convert -O vmdk -o subformat=streamOptimized "$T/src.raw" "$T/in.vmdk"
qemu-img convert -c -O qcow2 "$T/src.raw" "$T/in.qcow2"
qemu-img convert -O vdi "$T/src.raw" "$T/in.vdi"
rm -f "$T/src.raw"
sync
printf '%-22s %-6s %12s %12s %8s\n' input output "ours MiB/s" "qemu MiB/s" ratio
for in in in.vmdk in.qcow2 in.vdi; do
	for out in qcow2 raw; do
		rm -f "$T/o.$out"
		ours=$(timeit "$T/o.$out" "$ENVCTL" box convert -q "$T/$in" "$T/o.$out" --to "$out") || exit 1
		rm -f "$T/o.$out"
		theirs=$(timeit "$T/o.$out" qemu-img convert -O "$out" "$T/$in" "$T/o.$out") || exit 1
		rm -f "$T/o.$out"
		printf '%-22s %-6s %12.1f %12.1f %7.2fx\n' "$in" "$out" \
			"$(echo "$SIZE_MIB / $ours" | bc -l)" "$(echo "$SIZE_MIB / $theirs" | bc -l)" \
			"$(echo "$theirs / $ours" | bc -l)"
	done
done
