#!/usr/bin/env bash
# Box download and import: a 1 GiB box (tar holding metadata.json and a 1 GiB qcow2 disk of
# incompressible data, sha256 in its catalog) served over loopback by the test HTTP server
# (sendfile, so that the server costs little of the two cores). `curl -o` of the same file and
# `envbox add` run RUNS times (default 3), interleaved; the medians are compared: download MiB/s
# (envbox computes the sha256 while streaming and fsyncs; curl does neither) and the ratio
# (target >= 0.9x), then the steps of the median envbox run: download, verify, extract,
# convert. BOX_MIB overrides the size, RUNS the number of rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
bin=$src/build/rel/bin/envctl
mib=${BOX_MIB:-1024}
runs=${RUNS:-3}
dir=$(mktemp -d "${TMPDIR:-/tmp}/envup-bench-boxes.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
export XDG_CONFIG_HOME=$dir/config
mkdir -p "$dir/www/bench" "$dir/build"

t0=$(date +%s.%N)
python3 -c 'import random,sys
r=random.Random(1); f=open(sys.argv[1],"wb")
for _ in range(int(sys.argv[2])): f.write(r.randbytes(1<<20))' "$dir/build/disk.raw" "$mib"
qemu-img convert -f raw -O qcow2 "$dir/build/disk.raw" "$dir/build/disk.qcow2"
rm "$dir/build/disk.raw"
echo '{"provider":"envup","architecture":"amd64","disk":{"path":"disk.qcow2","format":"qcow2"}}' \
	>"$dir/build/metadata.json"
tar -C "$dir/build" -cf "$dir/www/bench/big.box" metadata.json disk.qcow2
rm -rf "$dir/build"
size=$(stat -c %s "$dir/www/bench/big.box")
sum=$(sha256sum "$dir/www/bench/big.box" | cut -d' ' -f1)
printf '{"name":"bench/big","versions":[{"version":"1.0","providers":[{"name":"envup","url":"big.box","architecture":"amd64","checksum_type":"sha256","checksum":"%s"}]}]}\n' \
	"$sum" >"$dir/www/bench/big"
printf 'built a %d MiB box in %.1f s\n' $((size >> 20)) "$(echo "$(date +%s.%N) - $t0" | bc)"

echo '{}' >"$dir/rules.json"
python3 tests/integration/boxes_server.py --root "$dir/www" --port-file "$dir/port" \
	--log "$dir/log" --rules "$dir/rules.json" &
pid=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
url=http://127.0.0.1:$(cat "$dir/port")

# Same file, same server, same run, page cache warm for both; the machine is shared, so the
# two sides alternate and each one's median counts. Dirty pages of one side are written back
# before the other starts, so neither pays for the other's writeback.
curl -s -o /dev/null "$url/bench/big.box"
for i in $(seq "$runs"); do
	t0=$(date +%s.%N)
	curl -s -o "$dir/curl.box" "$url/bench/big.box"
	echo "$(date +%s.%N) - $t0" | bc >>"$dir/curl.times"
	rm -f "$dir/curl.box"
	sync
	rm -rf "$dir/data" "$dir/cache"
	t0=$(date +%s.%N)
	XDG_DATA_HOME=$dir/data XDG_CACHE_HOME=$dir/cache ENVUP_REGISTRY=$url \
		"$bin" box add bench/big --json >"$dir/add.$i.json"
	echo "$(date +%s.%N) - $t0" | bc >"$dir/add.$i.total"
	rm -rf "$dir/data" "$dir/cache"
	sync
done
python3 - "$dir" "$runs" "$size" <<'PY'
import json, statistics, sys
d, runs, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mib = size / 1048576
curl = [float(x) for x in open(d + "/curl.times").read().split()]
adds = []
for i in range(1, runs + 1):
    r = json.load(open("%s/add.%d.json" % (d, i)))
    r["total"] = float(open("%s/add.%d.total" % (d, i)).read())
    adds.append(r)
dls = [r["seconds"]["download"] for r in adds]
print("curl -o      runs  " + " ".join("%6.2f" % t for t in curl) + " s")
print("envbox add   runs  " + " ".join("%6.2f" % t for t in dls) + " s (download)")
c = statistics.median(curl)
med = sorted(adds, key=lambda r: r["seconds"]["download"])[(runs - 1) // 2]
s = med["seconds"]
print("curl -o (median of %d)   %6.2f s  %7.1f MiB/s" % (runs, c, mib / c))
print("envbox add: download    %6.2f s  %7.1f MiB/s (sha256 while streaming, fsync)" % (s["download"], mib / s["download"]))
print("ratio (median envbox / median curl, MiB/s): %.2fx [target >= 0.9x]" % (c / s["download"]))
for k in ("verify", "extract", "convert"):
    print("            %-11s %6.2f s" % (k, s[k]))
print("            total       %6.2f s  (resolve %.3f s; fetched %d bytes)" % (med["total"], s["resolve"], med["fetched"]))
PY
