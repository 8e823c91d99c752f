#!/usr/bin/env bash
# envbox add against what a Vagrant user would otherwise run, side by side in one run, over
# loopback from a real nginx (Debian's nginx-light, sendfile on) on 127.0.0.1:
#   libvirt box (tar of metadata.json + a 1 GiB qcow2 of incompressible data):
#     envbox add  vs  curl -o + tar -xf                      [target <= 1.1x]
#   virtualbox box (tar of box.ovf + a 1 GiB streamOptimized VMDK, made by qemu-img):
#     envbox add  vs  curl -o + tar -xf + qemu-img convert -O qcow2   [target <= 1.0x]
#   download phase of envbox add (sha256 computed while streaming, and the box unpacked
#     behind it on another thread: boxes/follow.c) vs curl -o: throughput
#     ratio                                                   [target >= 0.95x]
#   and, to tell where that ratio goes: the CPUs busy (from /proc/stat) during curl -o and
#     during envbox add (the whole add: its adoption check and fdatasync included), the
#     libvirt box added from a catalog entry without a checksum, and both tools through a
#     link that nginx limits to LINK_MIB MiB/s (default 200, faster than 1 GbE), where the
#     network and not the CPU is the limit, as it is for a box server that is not loopback.
# After an untimed round, RUNS rounds (default 3) alternate the tools, each from a fresh
# store and cache with the box in nginx's page cache; `sync` between tools so that no one
# pays for another's writeback. Medians are compared. envbox fdatasyncs base.qcow2 before it
# enters the store (curl, tar and qemu-img sync nothing); its phases (download, verify,
# unpack, convert: the adoption check, or the stream conversion during unpack) are printed for
# the median run.
# BOX_MIB overrides the size.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
bin=$src/build/rel/bin/envctl
mib=${BOX_MIB:-1024}
runs=${RUNS:-3}
link_mib=${LINK_MIB:-200}
source tests/bench/nginx.inc
nginx_require
dir=$(mktemp -d "${TMPDIR:-/tmp}/envup-bench-boxes.XXXXXX")
trap 'nginx_stop "$dir"; rm -rf "$dir"' EXIT
export XDG_CONFIG_HOME=$dir/config
mkdir -p "$dir/www/bench" "$dir/build"

t0=$(date +%s.%N)
python3 -c 'import random,sys
r=random.Random(1); f=open(sys.argv[1],"wb")
for _ in range(int(sys.argv[2])): f.write(r.randbytes(1<<20))' "$dir/build/disk.raw" "$mib"
mkdir "$dir/build/lv"
qemu-img convert -f raw -O qcow2 "$dir/build/disk.raw" "$dir/build/lv/box.img"
echo '{"provider":"libvirt","format":"qcow2","virtual_size":'$(((mib + 1023) / 1024))'}' \
	>"$dir/build/lv/metadata.json"
tar -C "$dir/build/lv" -cf "$dir/www/bench/libvirt.box" metadata.json box.img
rm -rf "$dir/build/lv"
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$dir/build/disk.raw" \
	"$dir/build/disk.vmdk"
rm "$dir/build/disk.raw"
qemu-img create -q -f vmdk -o subformat=streamOptimized "$dir/build/empty.vmdk" 1M
# the OVF attaches the second VMDK first: box-disk002.vmdk (the big one) is the main disk
python3 tests/integration/boxes_make.py virtualbox "$dir/www/bench/virtualbox.box" \
	"$dir/build/empty.vmdk" "$dir/build/disk.vmdk" --compress none
rm -rf "$dir/build"
for f in libvirt virtualbox; do
	sum=$(sha256sum "$dir/www/bench/$f.box" | cut -d' ' -f1)
	printf '{"name":"bench/%s","versions":[{"version":"1.0","providers":[{"name":"%s","url":"%s.box","architecture":"amd64","checksum_type":"sha256","checksum":"%s"}]}]}\n' \
		"$f" "$f" "$f" "$sum" >"$dir/www/bench/$f"
done
printf '{"name":"bench/nosum","versions":[{"version":"1.0","providers":[{"name":"libvirt","url":"libvirt.box","architecture":"amd64"}]}]}\n' \
	>"$dir/www/bench/nosum"
lv_size=$(stat -c %s "$dir/www/bench/libvirt.box")
vb_size=$(stat -c %s "$dir/www/bench/virtualbox.box")
printf 'built the boxes (libvirt %d MiB, virtualbox %d MiB) in %.1f s\n' $((lv_size >> 20)) \
	$((vb_size >> 20)) "$(echo "$(date +%s.%N) - $t0" | bc)"

nginx_start "$dir" '
  sendfile on;
  default_type application/octet-stream;' '
    location /bench/ { types { } default_type application/json; }
    location ~ \.box$ { types { } default_type application/octet-stream; }
    location ^~ /link/ { alias '"$dir"'/www/; limit_rate '"$link_mib"'m; }'
url=http://127.0.0.1:$NGINX_PORT

# now: seconds since the epoch; since T0: seconds since T0.
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
fresh() { rm -rf "$dir/data" "$dir/cache" "$dir/x" "$dir/dl.box" "$dir/out.qcow2"; sync; }
envbox_add() { # NAME N [REGISTRY]
	XDG_DATA_HOME=$dir/data XDG_CACHE_HOME=$dir/cache ENVUP_REGISTRY=${3:-$url} \
		"$bin" box add "bench/$1" --json >"$dir/add.$1.$2.json"
}
# busy_jiffies: CPU time (1/100 s, all CPUs) the machine has spent busy since boot.
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# timed_busy TIMES BUSY CMD...: CMD's seconds appended to TIMES, and the CPUs the machine kept
# busy meanwhile to BUSY.
timed_busy() {
	local times=$1 busy=$2 b t s
	shift 2
	b=$(busy_jiffies) t=$(now)
	"$@"
	s=$(since "$t")
	echo "$s" >>"$times"
	echo "($(busy_jiffies) - $b) / 100 / $s" | bc -l >>"$busy"
}

curl -s -o /dev/null "$url/bench/libvirt.box"
curl -s -o /dev/null "$url/bench/virtualbox.box"
fresh
# an untimed round of each tool first: the first 1 GiB written after the boxes were built ran
# up to twice as slow, and it was always curl's
curl -sf -o "$dir/dl.box" "$url/bench/libvirt.box"
mkdir "$dir/x"
tar -C "$dir/x" -xf "$dir/dl.box"
fresh
envbox_add libvirt 0
fresh
for i in $(seq "$runs"); do
	# libvirt: curl -o + tar -xf, then envbox add
	t=$(now)
	timed_busy "$dir/curl.lv" "$dir/busy.lv" curl -sf -o "$dir/dl.box" "$url/bench/libvirt.box"
	mkdir "$dir/x"
	tar -C "$dir/x" -xf "$dir/dl.box"
	since "$t" >>"$dir/curltar.lv"
	fresh
	timed_busy "$dir/add.lv" "$dir/busy.add.lv" envbox_add libvirt "$i"
	fresh
	# virtualbox: curl -o + tar -xf + qemu-img convert, then envbox add
	t=$(now)
	curl -sf -o "$dir/dl.box" "$url/bench/virtualbox.box"
	since "$t" >>"$dir/curl.vb"
	mkdir "$dir/x"
	tar -C "$dir/x" -xf "$dir/dl.box"
	qemu-img convert -O qcow2 "$dir/x/box-disk002.vmdk" "$dir/out.qcow2"
	since "$t" >>"$dir/curltarconv.vb"
	fresh
	t=$(now)
	envbox_add virtualbox "$i"
	since "$t" >>"$dir/add.vb"
	fresh
	# the libvirt box again without a checksum, then both tools through the limited link
	envbox_add nosum "$i"
	fresh
	t=$(now)
	curl -sf -o "$dir/dl.box" "$url/link/bench/libvirt.box"
	since "$t" >>"$dir/curl.link"
	fresh
	envbox_add libvirt "link$i" "$url/link"
	fresh
done

python3 - "$dir" "$runs" "$lv_size" "$vb_size" "$link_mib" <<'PY'
import json, os, statistics, sys
d, runs, lv_size, vb_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
link_mib = int(sys.argv[5])
def times(name):
    return [float(x) for x in open("%s/%s" % (d, name)).read().split()]
def med(v):
    return statistics.median(v)
def runs_line(label, v):
    print("  %-34s" % label + " ".join("%6.2f" % t for t in v) + " s   median %6.2f s" % med(v))
def adds(kind, prefix=""):
    r = [json.load(open("%s/add.%s.%s%d.json" % (d, kind, prefix, i)))
         for i in range(1, runs + 1)]
    for x in r:
        assert not x["already_installed"]
    return r
lv, vb = adds("libvirt"), adds("virtualbox")
print("libvirt box, %.0f MiB (qcow2 disk):" % (lv_size / 1048576))
runs_line("curl -o + tar -xf", times("curltar.lv"))
runs_line("envbox add", times("add.lv"))
print("  ratio envbox add / (curl + tar):   %.2fx [target <= 1.1x]" %
      (med(times("add.lv")) / med(times("curltar.lv"))))
print("virtualbox box, %.0f MiB (streamOptimized VMDK):" % (vb_size / 1048576))
runs_line("curl -o + tar -xf + qemu-img conv.", times("curltarconv.vb"))
runs_line("envbox add", times("add.vb"))
print("  ratio envbox add / (curl + tar + qemu-img): %.2fx [target <= 1.0x]" %
      (med(times("add.vb")) / med(times("curltarconv.vb"))))
curl = times("curl.lv") + times("curl.vb")
dl = [x["seconds"]["download"] for x in lv + vb]
sizes = [lv_size] * runs + [vb_size] * runs
cr = [s / t / 1048576 for s, t in zip(sizes, curl)]
er = [s / t / 1048576 for s, t in zip(sizes, dl)]
print("download (both boxes, MiB/s):")
print("  %-34s" % "curl -o" + " ".join("%6.0f" % r for r in cr) + "   median %6.0f" % med(cr))
print("  %-34s" % "envbox add: download (+sha256, unpack)" + " ".join("%6.0f" % r for r in er) +
      "   median %6.0f" % med(er))
print("  ratio envbox / curl (throughput):  %.2fx [target >= 0.95x]" % (med(er) / med(cr)))
for label, name in (("curl -o", "busy.lv"), ("envbox add", "busy.add.lv")):
    print("  %-34s" % ("CPUs busy, %s (libvirt)" % label) +
          " ".join("%6.2f" % b for b in times(name)) + " of %d" % os.cpu_count())
clv = [lv_size / t / 1048576 for t in times("curl.lv")]
ns = [lv_size / x["seconds"]["download"] / 1048576 for x in adds("nosum")]
print("  %-34s" % "envbox add, no checksum (libvirt)" + " ".join("%6.0f" % r for r in ns) +
      "   median %6.0f   %.2fx of curl -o (libvirt)" % (med(ns), med(ns) / med(clv)))
cl = [lv_size / t / 1048576 for t in times("curl.link")]
el = [lv_size / x["seconds"]["download"] / 1048576 for x in adds("libvirt", "link")]
print("download through a link limited to %d MiB/s (libvirt box, MiB/s):" % link_mib)
print("  %-34s" % "curl -o" + " ".join("%6.0f" % r for r in cl) + "   median %6.0f" % med(cl))
print("  %-34s" % "envbox add: download (+sha256, unpack)" + " ".join("%6.0f" % r for r in el) +
      "   median %6.0f" % med(el))
print("  ratio envbox / curl (throughput):  %.2fx" % (med(el) / med(cl)))
for name, r in (("libvirt", lv), ("virtualbox", vb)):
    m = sorted(r, key=lambda x: sum(x["seconds"].values()))[(runs - 1) // 2]
    s = m["seconds"]
    print("envbox add %s, phases of the median run: download %.2f, verify %.2f, unpack %.2f, "
          "convert %.2f s (adopted %s, streamed %s, unpacked while downloading %s)" %
          (name, s["download"], s["verify"], s["extract"], s["convert"], m["adopted"],
           m["streamed"], m.get("unpacked_while_downloading")))
PY
