#!/usr/bin/env bash
# Hostile images: each must fail with its specific error (exit 1), without a sanitizer
# report, and without any output appearing (nothing from outside the image's directory).
. "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null || ! command -v python3 >/dev/null; then
	skip images-hostile "qemu-img (qemu-utils) or python3 missing"
	finish
fi
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$T/h"
python3 "$HERE/images_hostile.py" "$T/h" || { not_ok "building the hostile images"; finish; }
n=0
while read -r c; do
	[ -n "$c" ] || continue
	n=$((n + 1))
	d=$T/h/$c
	expect=$(cat "$d/expect")
	# convert detects the format and reads every byte; info opens (and so checks headers)
	"$ENVCTL" box convert -q "$d/img" "$T/out.raw" --to raw >"$T/log" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && grep -qF -- "$expect" "$T/log" && ! grep -q Sanitizer "$T/log" &&
		[ ! -e "$T/out.raw" ] && ! ls "$T"/out.raw.part-* >/dev/null 2>&1; then
		ok "hostile $c: $expect"
	else
		not_ok "hostile $c: wanted exit 1 and '$expect', got $rc: $(head -c 400 "$T/log")"
	fi
	rm -f "$T/out.raw"
done <"$T/h/cases"
if [ "$n" -ge 20 ]; then ok "at least 20 hostile cases ($n)"; else not_ok "only $n hostile cases"; fi
# the secret never reaches any output
if grep -rl "SECRET-OUTSIDE" "$T" --exclude=secret.raw --exclude-dir=h >/dev/null 2>&1; then
	not_ok "bytes from outside an image's directory reached an output"
else
	ok "no bytes from outside an image's directory reached an output"
fi
# references are refused unless the caller allows them (envbox info opens with refs allowed;
# a plain read of the VMDK descriptor through the ZERO extent works)
finish
