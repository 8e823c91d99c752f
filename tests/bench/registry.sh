#!/usr/bin/env bash
# Publishing a box: `envbox publish` of a 1 GiB box (incompressible) to nginx (WebDAV PUT) on
# loopback against `curl -T` of the same file to the same server, side by side. envbox also
# computes the box's sha256 (on its own thread, while the bytes go out) and updates the
# catalog (lock, GET, conditional PUT); curl only uploads. RUNS rounds (default 3),
# alternating; medians compared: ratio = envbox / curl seconds [target <= 1.1x].
# BOX_MIB overrides the size.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${ENVCTL:-$PWD/build/rel/bin/envctl}
mib=${BOX_MIB:-1024}
runs=${RUNS:-3}
source tests/bench/nginx.inc
nginx_require
dir=$(mktemp -d "${TMPDIR:-/tmp}/envup-bench-registry.XXXXXX")
trap 'nginx_stop "$dir"; rm -rf "$dir"' EXIT
export XDG_CONFIG_HOME=$dir/config
mkdir -p "$dir/www/reg" "$dir/body"
mkdir -p "$dir/www/reg/.tmp"
nginx_start "$dir" "
  client_body_temp_path $dir/www/reg/.tmp;" '
    client_max_body_size 0;
    client_body_buffer_size 1m;
    location /reg/ { dav_methods PUT DELETE MKCOL; create_full_put_path on; }'
url=http://127.0.0.1:$NGINX_PORT/reg

python3 -c 'import random,sys
r=random.Random(1); f=open(sys.argv[1],"wb")
for _ in range(int(sys.argv[2])): f.write(r.randbytes(1<<20))' "$dir/disk.raw" "$mib"
"$bin" box package --image "$dir/disk.raw" --format raw --output "$dir/big.box" -q >/dev/null
rm "$dir/disk.raw"
size=$(stat -c %s "$dir/big.box")
echo "box: $((size >> 20)) MiB"

# Page cache warm for both; nginx's written file removed and synced between runs so that
# neither side pays for the other's writeback.
cat "$dir/big.box" >/dev/null
for i in $(seq "$runs"); do
	t0=$(date +%s.%N)
	curl -sf -T "$dir/big.box" "$url/curl/big.box" -o /dev/null
	echo "$(date +%s.%N) - $t0" | bc >>"$dir/curl.times"
	rm -rf "$dir/www/reg/curl"; sync
	t0=$(date +%s.%N)
	"$bin" box publish "$dir/big.box" --registry "$url" --name bench/big --box-version "1.$i" --json >"$dir/pub.$i.json"
	echo "$(date +%s.%N) - $t0" | bc >>"$dir/pub.times"
	rm -rf "$dir/www/reg/bench"; sync
done
python3 - "$dir" "$runs" "$size" <<'PY'
import json, statistics, sys
d, runs, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mib = size / 1048576
curl = [float(x) for x in open(d + "/curl.times").read().split()]
pub = [float(x) for x in open(d + "/pub.times").read().split()]
up = [json.load(open("%s/pub.%d.json" % (d, i)))["upload_seconds"] for i in range(1, runs + 1)]
print("curl -T         runs  " + " ".join("%6.2f" % t for t in curl) + " s")
print("envbox publish  runs  " + " ".join("%6.2f" % t for t in pub) + " s (whole command)")
print("  of which upload     " + " ".join("%6.2f" % t for t in up) + " s (sha256 alongside)")
c, p = statistics.median(curl), statistics.median(pub)
print("curl -T (median of %d)         %6.2f s  %7.1f MiB/s" % (runs, c, mib / c))
print("envbox publish (median of %d)  %6.2f s  %7.1f MiB/s (sha256, catalog update)" % (runs, p, mib / p))
print("ratio (median envbox / median curl, seconds): %.2fx [target <= 1.1x]" % (p / c))
PY
