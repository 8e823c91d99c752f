#!/usr/bin/env bash
# envbox convert and envbox info: options, formats, exit codes, JSON, atomic output.
. "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null; then
	skip images-cli "qemu-img (qemu-utils) missing"
	finish
fi
HERE=$(cd "$(dirname "$0")" && pwd)
python3 "$HERE/images_pattern.py" "$T/p.raw" $((3 * 1048576 + 512)) 11
qemu-img convert -O vdi "$T/p.raw" "$T/d.vdi"
BOX() { "$ENVCTL" box "$@"; }

BOX convert >/dev/null 2>&1
check "convert without arguments is a usage error (2)" test $? -eq 2
BOX convert "$T/d.vdi" "$T/x" --to vmdk >/dev/null 2>&1
check "convert --to vmdk is a usage error" test $? -eq 2
BOX convert "$T/d.vdi" "$T/x" --from bogus >"$T/log" 2>&1
rc=$?
check "unknown --from format is a usage error" test $rc -eq 2
BOX convert "$T/missing.vdi" "$T/x" >"$T/log" 2>&1
rc=$?
check "missing source fails (1) and names it" sh -c "[ $rc -eq 1 ] && grep -q missing.vdi '$T/log'"
check "no output left behind by a failed convert" sh -c "! ls '$T'/x* >/dev/null 2>&1"
BOX convert "$T/d.vdi" "$T/x" --from qcow2 >"$T/log" 2>&1
rc=$?
check "a forced wrong format says what the file is" sh -c "[ $rc -eq 1 ] && grep -q 'd.vdi is a vdi image, not qcow2' '$T/log'"
out=$(BOX convert --json "$T/d.vdi" "$T/d.qcow2")
check "convert --json reports the output" sh -c "echo '$out' | grep -q '\"format\":\"qcow2\"'"
check "detected vdi converts to a clean qcow2" qemu-img compare -q "$T/p.raw" "$T/d.qcow2"
BOX convert -q --from vdi --to raw "$T/d.vdi" "$T/d.raw"
check "explicit --from/--to raw output is identical" cmp -s "$T/p.raw" "$T/d.raw"
check "raw output is sparse" sh -c "[ \$(du -k '$T/d.raw' | cut -f1) -lt \$(( \$(stat -c %s '$T/d.raw') / 1024 )) ]"
BOX convert -q "$T/d.qcow2" "$T/d.qcow2.again"
check "qcow2 to qcow2" qemu-img compare -q "$T/d.qcow2" "$T/d.qcow2.again"
txt=$(BOX info "$T/d.vdi")
check "info names format and size" sh -c "echo '$txt' | grep -q 'format: vdi (dynamic' && echo '$txt' | grep -q '3146240 bytes'"
js=$(BOX info --json "$T/d.qcow2")
check "info --json is JSON with the virtual size" python3 -c "
import json,sys; d=json.loads(sys.argv[1]); assert d['format']=='qcow2' and d['virtual_size']==3146240 and d['backing_chain']==[] and d['allocated']>0" "$js"
BOX info --format raw "$T/d.qcow2" | grep -q 'format: raw'
check "info --format overrides detection" test $? -eq 0
BOX info >/dev/null 2>&1
check "info without an image is a usage error" test $? -eq 2
BOX info --help | grep -q 'usage: envbox info'
check "info --help" test $? -eq 0
BOX help | grep -q convert
check "envbox help lists convert" test $? -eq 0
finish
