#!/usr/bin/env bash
# Box download and import: a 1 GiB box (tar holding metadata.json and a 1 GiB qcow2 disk of
# incompressible data, sha256 in its catalog) served over loopback by the test HTTP server.
# Prints `curl -o` of the same file in the same run, then envbox add's steps: download (with the
# checksum computed while streaming), verify, extract, convert, and the download ratio to curl
# (target >= 0.9x). BOX_MIB overrides the size.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
bin=$src/build/rel/bin/envctl
mib=${BOX_MIB:-1024}
dir=$(mktemp -d "${TMPDIR:-/tmp}/envup-bench-boxes.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
export XDG_DATA_HOME=$dir/data XDG_CACHE_HOME=$dir/cache XDG_CONFIG_HOME=$dir/config
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

# Same file, same server, same run; the page cache is warm for both. The machine is shared, so
# curl runs twice and its better time counts (the comparison is against curl at its best).
curl -s -o /dev/null "$url/bench/big.box"
curl_s=
for _ in 1 2; do
	t0=$(date +%s.%N)
	curl -s -o "$dir/curl.box" "$url/bench/big.box"
	t=$(echo "$(date +%s.%N) - $t0" | bc)
	rm -f "$dir/curl.box"
	sync
	if [ -z "$curl_s" ] || [ "$(echo "$t < $curl_s" | bc)" = 1 ]; then curl_s=$t; fi
done
curl_mibs=$(echo "$size / 1048576 / $curl_s" | bc -l)
printf 'curl -o (best of 2)      %6.2f s  %7.1f MiB/s\n' "$curl_s" "$curl_mibs"

t0=$(date +%s.%N)
ENVUP_REGISTRY=$url "$bin" box add bench/big --json >"$dir/add.json"
total=$(echo "$(date +%s.%N) - $t0" | bc)
python3 - "$dir/add.json" "$size" "$curl_mibs" "$total" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
size, curl, total = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = r["seconds"]
dl = size / 1048576 / s["download"]
print("envbox add: download    %6.2f s  %7.1f MiB/s (sha256 while streaming)  %.2fx curl [target >= 0.9x]"
      % (s["download"], dl, dl / curl))
for k in ("verify", "extract", "convert"):
    print("            %-11s %6.2f s" % (k, s[k]))
print("            total       %6.2f s  (resolve %.3f s; fetched %d bytes)" % (total, s["resolve"], r["fetched"]))
PY
