#!/usr/bin/env bash
# Oracle matrix for the disk image library: images built by qemu-img (and a VirtualBox-style
# stream VMDK built by a script) from one pattern; our raw output must be byte-identical to
# qemu-img's, our qcow2 output must pass qemu-img check and compare equal to the source.
. "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null || ! command -v python3 >/dev/null; then
	skip images-oracle "qemu-img (qemu-utils) or python3 missing"
	finish
fi
HERE=$(cd "$(dirname "$0")" && pwd)
SIZE=$((5 * 1048576 + 69632 + 512)) # not a multiple of any cluster or grain size
python3 "$HERE/images_pattern.py" "$T/pattern.raw" "$SIZE" 7

# oracle NAME FILE [QEMU_FMT]: FILE converted by us to raw equals qemu-img's raw; to qcow2
# passes qemu-img check and equals FILE.
oracle() {
	local name=$1 img=$2 qfmt=${3:-} fopt=()
	[ -n "$qfmt" ] && fopt=(-f "$qfmt")
	rm -f "$T/ref.raw" "$T/ours.raw" "$T/ours.qcow2"
	if ! qemu-img convert "${fopt[@]}" -O raw "$img" "$T/ref.raw"; then
		not_ok "$name: qemu-img could not read it"
		return
	fi
	if "$ENVCTL" box convert -q "$img" "$T/ours.raw" --to raw && cmp -s "$T/ref.raw" "$T/ours.raw"; then
		ok "$name -> raw identical to qemu-img"
	else
		not_ok "$name -> raw identical to qemu-img"
	fi
	if "$ENVCTL" box convert -q "$img" "$T/ours.qcow2" &&
		qemu-img check -q "$T/ours.qcow2" &&
		qemu-img compare -q "${fopt[@]}" -F qcow2 "$img" "$T/ours.qcow2"; then
		ok "$name -> qcow2 checks clean and compares equal"
	else
		not_ok "$name -> qcow2 checks clean and compares equal"
	fi
}

P=$T/pattern.raw
oracle "raw" "$P"
for o in compat=0.10 compat=1.1,cluster_size=512 compat=1.1,cluster_size=4k \
	compat=1.1,cluster_size=64k cluster_size=2M refcount_bits=1 refcount_bits=16 \
	refcount_bits=64,cluster_size=4k extended_l2=on,cluster_size=64k \
	extended_l2=on,cluster_size=2M; do
	qemu-img convert -O qcow2 -o "$o" "$P" "$T/q.qcow2"
	oracle "qcow2 $o" "$T/q.qcow2"
done
for c in zlib zstd; do
	for cs in 4k 64k 2M; do
		qemu-img convert -c -O qcow2 -o compression_type=$c,cluster_size=$cs "$P" "$T/q.qcow2"
		oracle "qcow2 compressed $c $cs" "$T/q.qcow2"
	done
done
qemu-img convert -c -O qcow2 -o compat=0.10 "$P" "$T/q.qcow2"
oracle "qcow2 v2 compressed" "$T/q.qcow2"

# overlays: writes over a backing file, partial clusters, zero writes, a short backing file
mkdir -p "$T/ov"
qemu-img convert -O qcow2 "$P" "$T/ov/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$T/ov/mid.qcow2"
qemu-io -c "write -P 0x11 1000 70000" -c "write -z 1048576 200000" \
	-c "write -P 0x22 4194304 4096" "$T/ov/mid.qcow2" >/dev/null
qemu-img create -q -f qcow2 -o extended_l2=on -b mid.qcow2 -F qcow2 "$T/ov/top.qcow2" 8M
qemu-io -c "write -P 0x33 2048 1024" -c "write -P 0x44 $((SIZE - 512)) 4096" \
	-c "write -z 3000000 5000" "$T/ov/top.qcow2" >/dev/null
oracle "qcow2 overlay chain (extended L2 top, longer than its backing)" "$T/ov/top.qcow2"
cp "$P" "$T/ov/base.raw"
qemu-img create -q -f qcow2 -b base.raw -F raw "$T/ov/onraw.qcow2"
qemu-io -c "write -P 0x55 65000 100000" "$T/ov/onraw.qcow2" >/dev/null
oracle "qcow2 overlay on raw" "$T/ov/onraw.qcow2"
info=$("$ENVCTL" box info --json "$T/ov/top.qcow2")
case $info in
*'"backing_chain":[{"path":'*mid.qcow2*base.qcow2*) ok "info lists the backing chain" ;;
*) not_ok "info lists the backing chain: $info" ;;
esac

for sf in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat streamOptimized; do
	rm -rf "$T/v"
	mkdir "$T/v"
	qemu-img convert -O vmdk -o subformat=$sf "$P" "$T/v/d.vmdk"
	oracle "vmdk $sf" "$T/v/d.vmdk"
done
rm -rf "$T/v" && mkdir "$T/v"
qemu-img convert -O vmdk -o subformat=monolithicSparse,zeroed_grain=on "$P" "$T/v/d.vmdk"
qemu-io -f vmdk -c "write -z 0 1048576" "$T/v/d.vmdk" >/dev/null
oracle "vmdk zeroed grains" "$T/v/d.vmdk"
qemu-img create -q -f vmdk -b d.vmdk -F vmdk "$T/v/child.vmdk"
qemu-io -f vmdk -c "write -P 0x66 70000 300000" "$T/v/child.vmdk" >/dev/null
oracle "vmdk delta disk over its parent" "$T/v/child.vmdk"
python3 "$HERE/images_vbox_stream.py" "$P" "$T/v/vbox.vmdk"
oracle "vmdk VirtualBox stream (GD at end, footer, EOS)" "$T/v/vbox.vmdk"

for o in static=off static=on; do
	qemu-img convert -O vdi -o $o "$P" "$T/d.vdi"
	oracle "vdi $o" "$T/d.vdi"
done
for o in subformat=dynamic subformat=fixed subformat=dynamic,force_size=on subformat=fixed,force_size=on; do
	qemu-img convert -O vpc -o $o "$P" "$T/d.vhd"
	oracle "vhd $o" "$T/d.vhd" vpc
done
finish
