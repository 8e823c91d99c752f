#!/usr/bin/env bash
# Kills a process writing into qcow2 images (a standalone one and an overlay) at random
# moments; qemu-img check must then find no errors (leaked clusters are allowed).
. "$(dirname "$0")/lib.sh"

TOOL=$ENVUP_BUILD/san/tests/images_tool
if ! command -v qemu-img >/dev/null || [ ! -x "$TOOL" ]; then
	skip images-kill "qemu-img or build/san/tests/images_tool missing"
	finish
fi
qemu-img create -q -f raw "$T/base.raw" 64M
qemu-io -f raw -c "write -P 0x7e 0 32M" "$T/base.raw" >/dev/null
"$TOOL" create "$T/ov.qcow2" 0 base.raw raw || not_ok "create overlay"
"$TOOL" create "$T/solo.qcow2" $((3 << 30)) || not_ok "create standalone"
# 512-byte clusters: the refcount table must grow (move) while the writer runs
qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=16 "$T/small.qcow2" 256M
# compressed clusters: writes move them out and drop references to shared host clusters
qemu-img convert -c -O qcow2 -o cluster_size=4k "$T/base.raw" "$T/comp.qcow2"
for img in ov.qcow2 solo.qcow2 small.qcow2 comp.qcow2; do
	for i in 1 2 3 4 5; do
		"$TOOL" write "$T/$img" "$i$RANDOM" 0 2>"$T/err" &
		pid=$!
		sleep "0.$((RANDOM % 6 + 2))"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		if [ -s "$T/err" ]; then
			not_ok "$img kill $i: writer failed before the kill: $(head -c 300 "$T/err")"
			continue
		fi
		qemu-img check "$T/$img" >"$T/check" 2>&1
		rc=$?
		# 0: clean, 3: leaked clusters only
		if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then
			ok "$img killed mid-write ($i): qemu-img check exit $rc"
		else
			not_ok "$img killed mid-write ($i): qemu-img check exit $rc: $(head -c 600 "$T/check")"
		fi
	done
done
# the data written before the kills is readable, and the image still converts
if "$ENVCTL" box convert -q "$T/ov.qcow2" "$T/ov.raw" --to raw &&
	qemu-img compare -q -F raw "$T/ov.qcow2" "$T/ov.raw"; then
	ok "overlay converts after the kills and matches qemu-img's view"
else
	not_ok "overlay converts after the kills and matches qemu-img's view"
fi
finish
