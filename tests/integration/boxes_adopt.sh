#!/usr/bin/env bash
# How envbox add turns a box's disk into base.qcow2 without a second copy. A plain qcow2 is
# kept as it is (adopted) only after the image library's whole-file check: a valid one is
# adopted byte for byte; one with a backing file, compressed clusters, snapshots, a data
# cluster on metadata or a wrong refcount is converted; every hostile qcow2 of
# images_hostile.py, put into a libvirt box, is refused and leaves nothing in the store.
# A streamOptimized VMDK (virtualbox boxes: QEMU's and VirtualBox's layouts) is converted
# while the archive is read, never written out as a VMDK; a broken stream is refused, a killed
# streaming add leaves the store as it was. qemu-img is the oracle for the results.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$ENVUP_SRC/tests/integration
export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
unset ENVUP_REGISTRY
BOXES=$XDG_DATA_HOME/envup/boxes
envbox() { "$ENVCTL" box "$@"; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get(sys.argv[1], ""))' "$1"; }
mkdir -p "$T/src" "$T/b"

# libvirt_box OUT DIR: a libvirt box of DIR's files (DIR/box.img is the disk).
libvirt_box() {
	echo '{"provider":"libvirt","format":"qcow2","virtual_size":1}' >"$2/metadata.json"
	tar -C "$2" -cf "$1" .
}
# add NAME BOX: envbox add --json into $T/NAME.json, stderr into $T/NAME.err; the exit status.
add() {
	envbox add "$2" --name "t/$1" --json >"$T/$1.json" 2>"$T/$1.err"
}
base_of() { find "$BOXES/t-VAGRANTSLASH-$1" -name base.qcow2 2>/dev/null | head -1; }

python3 "$HERE/images_pattern.py" "$T/src/pattern.raw" $((6 << 20)) 11

# ---- a plain qcow2 is adopted -------------------------------------------------------------
mkdir "$T/b/plain"
qemu-img convert -f raw -O qcow2 "$T/src/pattern.raw" "$T/b/plain/box.img"
libvirt_box "$T/plain.box" "$T/b/plain"
if add plain "$T/plain.box"; then
	base=$(base_of plain)
	check_sh "plain qcow2: adopted" '[ "$(jget adopted <"$T/plain.json")" = True ]'
	check_sh "plain qcow2: base.qcow2 holds the box's disk byte for byte" \
		'cmp -s "$base" "$T/b/plain/box.img"'
	check_sh "plain qcow2: qemu-img check passes" 'qemu-img check -q "$base"'
	check_sh "plain qcow2: qemu-img compare finds the source disk" \
		'qemu-img compare -q -f raw -F qcow2 "$T/src/pattern.raw" "$base"'
	check_sh "plain qcow2: the extracted disk is gone (renamed, not copied)" \
		'[ ! -e "$(dirname "$base")/box.img" ] && [ "$(stat -c %h "$base")" = 1 ]'
else
	not_ok "plain qcow2 box refused: $(cat "$T/plain.err")"
fi
# v2 (compat 0.10), 512-byte and 2 MiB clusters, 1-bit and 64-bit refcounts: all plain
for v in "compat=0.10" "cluster_size=512" "cluster_size=2M" "refcount_bits=1" \
	"refcount_bits=64"; do
	n=opt${v//[^a-z0-9]/}
	mkdir "$T/b/$n"
	qemu-img convert -f raw -O qcow2 -o "$v" "$T/src/pattern.raw" "$T/b/$n/box.img"
	libvirt_box "$T/$n.box" "$T/b/$n"
	if add "$n" "$T/$n.box" && [ "$(jget adopted <"$T/$n.json")" = True ] &&
		cmp -s "$(base_of "$n")" "$T/b/$n/box.img" && qemu-img check -q "$(base_of "$n")"; then
		ok "qcow2 with $v: adopted, same bytes, qemu-img check passes"
	else
		not_ok "qcow2 with $v: $(cat "$T/$n.json" "$T/$n.err")"
	fi
done

# ---- what is not plain is converted -------------------------------------------------------
# converted NAME WHY: added, not adopted for WHY, base passes check and equals the pattern
converted() {
	local base
	if ! add "$1" "$T/$1.box"; then
		not_ok "$1: refused: $(cat "$T/$1.err")"
		return
	fi
	base=$(base_of "$1")
	if [ "$(jget adopted <"$T/$1.json")" = False ] &&
		jget not_adopted <"$T/$1.json" | grep -qF -- "$2" &&
		qemu-img check -q "$base" &&
		qemu-img compare -q -f raw -F qcow2 "$T/src/pattern.raw" "$base" &&
		! cmp -s "$base" "$T/b/$1/box.img"; then
		ok "$1: converted, not adopted ($2)"
	else
		not_ok "$1: wanted a conversion for '$2': $(cat "$T/$1.json" "$T/$1.err")"
	fi
}
mkdir "$T/b/backing"
qemu-img convert -f raw -O qcow2 "$T/src/pattern.raw" "$T/b/backing/base.img"
qemu-img create -q -f qcow2 -b base.img -F qcow2 "$T/b/backing/box.img"
libvirt_box "$T/backing.box" "$T/b/backing"
converted backing "backing file"

mkdir "$T/b/compressed"
qemu-img convert -c -f raw -O qcow2 "$T/src/pattern.raw" "$T/b/compressed/box.img"
libvirt_box "$T/compressed.box" "$T/b/compressed"
converted compressed "compressed clusters"

mkdir "$T/b/snapshot"
qemu-img convert -f raw -O qcow2 "$T/src/pattern.raw" "$T/b/snapshot/box.img"
qemu-img snapshot -c s1 "$T/b/snapshot/box.img"
libvirt_box "$T/snapshot.box" "$T/b/snapshot"
converted snapshot "internal snapshots"

# Broken in ways the reader does not notice (it reads through them): adoption must.
python3 - "$T/b" "$T/src/pattern.raw" <<'PY'
import os, shutil, struct, subprocess, sys
root, raw = sys.argv[1], sys.argv[2]
def make(name):
    d = os.path.join(root, name); os.makedirs(d)
    p = os.path.join(d, "box.img")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, p], check=True)
    return p
def be64(p, off):
    with open(p, "rb") as f:
        f.seek(off); return struct.unpack(">Q", f.read(8))[0]
def put64(p, off, v):
    with open(p, "r+b") as f:
        f.seek(off); f.write(struct.pack(">Q", v))
# a refcount of 2 on the header cluster: inconsistent refcounts
p = make("refcount")
rt = be64(p, 48); block = be64(p, rt) & ~0x1ff
with open(p, "r+b") as f:
    f.seek(block); f.write(struct.pack(">H", 2))
# a leaked cluster: one more cluster at the end with refcount 1 that nothing references
p = make("leak")
size = os.path.getsize(p); cs = 65536
with open(p, "ab") as f:
    f.write(b"\0" * ((-size) % cs) + b"L" * cs)
idx = (size + cs - 1) // cs
block = be64(p, be64(p, 48)) & ~0x1ff
with open(p, "r+b") as f:
    f.seek(block + idx * 2); f.write(struct.pack(">H", 1))
PY
libvirt_box "$T/refcount.box" "$T/b/refcount"
converted refcount "refcount"
libvirt_box "$T/leak.box" "$T/b/leak"
converted leak "refcount 1 but 0 references"

# A data cluster pointing at the L1 table: the reader reads metadata as guest data (and the
# conversion keeps exactly that), adoption refuses a cluster used twice.
mkdir "$T/b/overlap"
qemu-img convert -f raw -O qcow2 "$T/src/pattern.raw" "$T/b/overlap/box.img"
python3 - "$T/b/overlap/box.img" <<'PY'
import struct, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(40); l1 = struct.unpack(">Q", f.read(8))[0]
    f.seek(l1); l2 = struct.unpack(">Q", f.read(8))[0] & 0x00FFFFFFFFFFFE00
    f.seek(l2); f.write(struct.pack(">Q", (1 << 63) | l1))
PY
libvirt_box "$T/overlap.box" "$T/b/overlap"
if add overlap "$T/overlap.box" && [ "$(jget adopted <"$T/overlap.json")" = False ] &&
	jget not_adopted <"$T/overlap.json" | grep -q "already used" &&
	qemu-img check -q "$(base_of overlap)"; then
	ok "data cluster on the L1 table: converted, not adopted (already used)"
else
	not_ok "data cluster on the L1 table: $(cat "$T/overlap.json" "$T/overlap.err")"
fi

# ---- stream VMDKs are converted straight from the archive ---------------------------------
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/src/pattern.raw" "$T/src/s.vmdk"
python3 "$HERE/images_vbox_stream.py" "$T/src/pattern.raw" "$T/src/vbox.vmdk"
qemu-img create -q -f vmdk -o subformat=streamOptimized "$T/src/empty.vmdk" 1M
for v in s vbox; do
	# the OVF attaches the second VMDK first: that one is the main disk
	python3 "$HERE/boxes_make.py" virtualbox "$T/vb-$v.box" "$T/src/empty.vmdk" "$T/src/$v.vmdk" \
		--compress none
	if add "vb$v" "$T/vb-$v.box"; then
		base=$(base_of "vb$v")
		d=$(dirname "$base")
		check_sh "stream VMDK ($v): converted while extracted, then adopted" \
			'[ "$(jget streamed <"$T/vb$v.json")" = True ] && [ "$(jget adopted <"$T/vb$v.json")" = True ]'
		check_sh "stream VMDK ($v): qemu-img compare finds base.qcow2 identical to the source" \
			'qemu-img compare -q -f vmdk -F qcow2 "$T/src/$v.vmdk" "$base" && qemu-img check -q "$base"'
		check_sh "stream VMDK ($v): no copy of the main disk is left in the box" \
			'[ ! -e "$d/box-disk002.vmdk" ] && [ "$(find "$d" -type f | wc -l)" -eq 6 ]'
	else
		not_ok "stream VMDK ($v): refused: $(cat "$T/vb$v.err")"
	fi
done
# an envup box that calls a stream VMDK raw: refused, not read as something else
mkdir "$T/b/declared"
cp "$T/src/s.vmdk" "$T/b/declared/d.vmdk"
echo '{"provider":"envup","architecture":"amd64","disk":{"path":"d.vmdk","format":"raw"}}' \
	>"$T/b/declared/metadata.json"
tar -C "$T/b/declared" -cf "$T/declared.box" metadata.json d.vmdk
add declared "$T/declared.box"
rc=$?
check_sh "a stream VMDK declared raw: refused, nothing in the store" \
	'[ $rc -eq 1 ] && grep -q "metadata says raw, but it is a stream VMDK" "$T/declared.err" && [ ! -e "$BOXES/t-VAGRANTSLASH-declared" ]'
# a stream cut short, and one with an unknown marker: refused, nothing left behind
head -c $(($(stat -c %s "$T/src/vbox.vmdk") - 4096)) "$T/src/vbox.vmdk" >"$T/src/cut.vmdk"
python3 - "$T/src/s.vmdk" "$T/src/badmarker.vmdk" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
pos = struct.unpack("<Q", d[64:72])[0] * 512
size = struct.unpack("<I", d[pos + 8:pos + 12])[0]
pos = (pos + 12 + size + 511) // 512 * 512  # the second marker becomes metadata of type 9
d[pos:pos + 16] = struct.pack("<QII", 0, 0, 9)
open(sys.argv[2], "wb").write(d)
PY
for v in cut badmarker; do
	python3 "$HERE/boxes_make.py" virtualbox "$T/vb-$v.box" "$T/src/empty.vmdk" "$T/src/$v.vmdk" \
		--compress none
	add "vb$v" "$T/vb-$v.box"
	rc=$?
	check_sh "broken stream VMDK ($v): refused, nothing in the store" \
		'[ $rc -eq 1 ] && grep -q "box-disk002.vmdk" "$T/vb$v.err" && [ ! -e "$BOXES/t-VAGRANTSLASH-vb$v" ] && [ -z "$(ls -A "$BOXES/.tmp" 2>/dev/null)" ]'
done
grep -h "error" "$T/vbcut.err" "$T/vbbadmarker.err" | sed 's/^/# /'
# killed while streaming a bigger disk: the store is as it was, the next add sweeps the rest
python3 -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(9).randbytes(192<<20))' "$T/src/big.raw"
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/src/big.raw" "$T/src/big.vmdk"
rm "$T/src/big.raw"
python3 "$HERE/boxes_make.py" virtualbox "$T/vb-big.box" "$T/src/empty.vmdk" "$T/src/big.vmdk" \
	--compress none
rm "$T/src/big.vmdk"
before=$(envbox list --json)
"$ENVCTL" box add "$T/vb-big.box" --name t/vbkill -q &
pid=$!
work=$BOXES/.tmp/t-VAGRANTSLASH-vbkill.work
for _ in $(seq 4000); do [ -s "$work/box-disk002.vmdk" ] && break; sleep 0.005; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -d "$work" ]; then
	check_sh "killed while streaming: the store lists what it listed before" \
		'[ "$(envbox list --json)" = "$before" ] && [ ! -e "$BOXES/t-VAGRANTSLASH-vbkill" ]'
	add again "$T/plain.box"
	check "the next add sweeps the killed add's work directory" [ ! -e "$work" ]
else
	skip "killed while streaming" "the add finished before it could be killed"
fi

# ---- every hostile qcow2 of the image suite, inside a box, is refused -----------------------
mkdir -p "$T/h"
python3 "$HERE/images_hostile.py" "$T/h" >/dev/null || { not_ok "building the hostile images"; finish; }
n=0
while read -r c; do
	[ -n "$c" ] || continue
	d=$T/h/$c
	[ "$(head -c 4 "$d/img" | od -An -tx1 | tr -d ' ')" = 514649fb ] || continue
	n=$((n + 1))
	rm -rf "$T/hb" && mkdir "$T/hb"
	# the case's own files (images it names, links) travel with it, under their names
	cp -P "$d"/* "$T/hb/" && rm "$T/hb/expect"
	echo '{"provider":"libvirt","format":"qcow2","disks":[{"path":"img","format":"qcow2"}]}' \
		>"$T/hb/metadata.json"
	tar -C "$T/hb" -cf "$T/hostile.box" .
	expect=$(cat "$d/expect")
	add "h$n" "$T/hostile.box"
	rc=$?
	if [ $rc -eq 1 ] && ! grep -q Sanitizer "$T/h$n.err" && [ -z "$(base_of "h$n")" ] &&
		[ ! -d "$BOXES/t-VAGRANTSLASH-h$n" ]; then
		if grep -qF -- "$expect" "$T/h$n.err"; then
			ok "hostile $c in a box: refused ($expect)"
		else
			ok "hostile $c in a box: refused ($(head -1 "$T/h$n.err" | tail -c 120))"
		fi
	else
		not_ok "hostile $c in a box: wanted a refusal, got $rc: $(head -c 400 "$T/h$n.err")"
	fi
done <"$T/h/cases"
if [ "$n" -ge 15 ]; then ok "at least 15 hostile qcow2 cases ($n)"; else not_ok "only $n hostile qcow2 cases"; fi
check_sh "no work directory left behind" '[ -z "$(ls -A "$BOXES/.tmp" 2>/dev/null)" ]'
finish
