#!/usr/bin/env bash
# Hostile and careless input (issue 15): special files as outputs and inputs, a registry token
# kept inside its registry, catalogs that rename boxes, terminal escapes, link chains, full
# disks, deep nesting, concurrent downloads, exit codes and messages. Each block names the
# issue item it covers.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$ENVUP_SRC/tests/integration
export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
unset ENVUP_REGISTRY ENVUP_ENVFILE
BOXES=$XDG_DATA_HOME/envup/boxes
WWW=$T/www
BIN=$(dirname "$ENVCTL")
mkdir -p "$WWW/reg/t" "$WWW/other" "$T/src" "$XDG_CONFIG_HOME/envup"
echo '{}' >"$T/rules.json"
envbox() { "$ENVCTL" box "$@"; }
mk() { python3 "$HERE/boxes_make.py" "$@"; }
rules() { printf '%s\n' "$1" >"$T/rules.json"; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }
# auths PATH: the Authorization headers the server saw for PATH, one per line
auths() { python3 -c 'import json,sys; [print(json.loads(l)["auth"]) for l in open(sys.argv[2]) if json.loads(l)["path"]==sys.argv[1]]' "$1" "$T/http.log"; }
root=false; [ "$(id -u)" = 0 ] && root=true

python3 "$HERE/boxes_server.py" --root "$WWW" --port-file "$T/http.port" --log "$T/http.log" \
	--rules "$T/rules.json" 2>"$T/http.err" &
at_exit "kill $! 2>/dev/null"
for _ in $(seq 100); do [ -s "$T/http.port" ] && break; sleep 0.05; done
HTTP=http://127.0.0.1:$(cat "$T/http.port")
qemu-img create -q -f qcow2 "$T/src/disk.qcow2" 1M
mk envup "$WWW/other/o.box" "$T/src/disk.qcow2" qcow2 amd64
cp "$WWW/other/o.box" "$WWW/reg/t/in.box"

# ---- 1: a destination that is not a regular file is never replaced ------------------------
cd "$T" || exit 1
if $root; then
	mknod "$T/node" c 1 3
	err=$(envbox convert "$T/src/disk.qcow2" "$T/node" 2>&1); rc=$?
	check_sh "1: envbox convert onto a device node is refused and the node stays" \
		'[ $rc -eq 1 ] && [ -c "$T/node" ] && grep -q "is a character device; refusing to replace it" <<<"$err"'
else
	skip "1: envbox convert onto a device node" "needs root for mknod"
fi
mkfifo "$T/outfifo"
err=$(timeout 10 "$ENVCTL" box convert "$T/src/disk.qcow2" "$T/outfifo" 2>&1); rc=$?
check_sh "1: ... and onto a FIFO" '[ $rc -eq 1 ] && [ -p "$T/outfifo" ] && grep -q FIFO <<<"$err"'
err=$(envbox convert "$T/src/disk.qcow2" "$T/nodir/out.qcow2" 2>&1); rc=$?
check_sh "19: a missing destination directory is named, not the temporary file" \
	'[ $rc -eq 1 ] && grep -q "cannot write $T/nodir/out.qcow2: directory $T/nodir" <<<"$err" && ! grep -q part <<<"$err"'

# ---- 2: the registry token stays inside the registry --------------------------------------
printf 'registries:\n  - url: %s/reg\n    token: s3cret\n' "$HTTP" >"$XDG_CONFIG_HOME/envup/config.yaml"
rules '{"/reg/t/r.box": {"redirect": "/other/o.box"}}'
n=0
for url in "$HTTP/reg/../other/o.box" "$HTTP/reg/%2e%2E/other/o.box" "../../other/o.box" \
	"$HTTP/reg/t/r.box" "$HTTP/reg/t/in.box"; do
	n=$((n + 1))
	python3 - "$WWW/reg/t/b$n" "t/b$n" "$url" <<'PY'
import json, sys
json.dump({"name": sys.argv[2], "versions": [{"version": "1.0", "providers": [
    {"name": "envup", "url": sys.argv[3], "architecture": "amd64"}]}]}, open(sys.argv[1], "w"))
PY
	ENVUP_REGISTRY= envbox add "t/b$n" -q 2>"$T/err$n"
done
check_sh "2: the catalog itself got the token" '[ "$(auths /reg/t/b1 | head -1)" = "Bearer s3cret" ]'
check_sh "2: no Bearer outside the registry: '/reg/../', '%2e%2E', '../../' and a same-host 302 ($(auths /other/o.box | sort | uniq -c | tr -s ' \n' ' '))" \
	'[ "$(auths /other/o.box | sort -u)" = "None" ] && [ "$(auths /other/o.box | wc -l)" -ge 4 ]'
check_sh "2: a box inside the registry still gets it" '[ "$(auths /reg/t/in.box)" = "Bearer s3cret" ]'
check_sh "2: the boxes outside were still installed (without the token)" \
	'[ -d "$BOXES/t-VAGRANTSLASH-b1/1.0" ] && [ -d "$BOXES/t-VAGRANTSLASH-b4/1.0" ]'

# ---- 3: a catalog may not rename the box -----------------------------------------------------
python3 - "$WWW/reg/t/innocent" "$HTTP/reg/t/in.box" <<'PY'
import json, sys
json.dump({"name": "t/ok", "versions": [{"version": "9.9.9", "providers": [
    {"name": "envup", "url": sys.argv[2], "architecture": "amd64"}]}]}, open(sys.argv[1], "w"))
PY
err=$(ENVUP_REGISTRY= envbox add t/innocent 2>&1); rc=$?
check_sh "3: a catalog named 't/ok' served for 't/innocent' is refused, nothing installed" \
	'[ $rc -eq 1 ] && grep -q "the catalog is for box '"'"'t/ok'"'"', not '"'"'t/innocent'"'"'" <<<"$err" && [ ! -e "$BOXES/t-VAGRANTSLASH-ok" ] && [ ! -e "$BOXES/t-VAGRANTSLASH-innocent" ]'
rm "$XDG_CONFIG_HOME/envup/config.yaml"

# ---- 4: escapes from Envfiles and catalogs are shown escaped -------------------------------
mkdir -p "$T/esc" && cd "$T/esc" || exit 1
# YAML's own escapes put the raw bytes into the keys (libyaml refuses them raw in the file)
printf 'version: 1\nmachines:\n  web:\n    box: x/y\n    "bad\\e[2J\\e]0;title\\akey": 1\n    "x\\rEnvfile is valid": 2\n' >Envfile
"$BIN/envvalidate" 2>"$T/err"; rc=$?
check_sh "4: envvalidate shows an ESC, BEL and CR in keys as \\x1b, \\x07 and \\r" \
	'[ $rc -eq 1 ] && ! grep -q $'"'"'[\x1b\x07\r]'"'"' "$T/err" && grep -qF "bad\\x1b[2J\\x1b]0;title\\x07key" "$T/err" && grep -qF "x\\rEnvfile is valid" "$T/err"'
python3 - "$WWW/reg/t/esc" <<'PY'
import json, sys
json.dump({"name": "t/esc", "versions": [{"version": "1.0\u001b[2J\u009b31m", "providers": []}]},
          open(sys.argv[1], "w"))
PY
cd "$T" || exit 1
err=$(envbox add "$HTTP/reg/t/esc" --box-version '>= 2' 2>&1); rc=$?
cd "$T/esc" || exit 1
check_sh "4: a catalog's version string is escaped in 'no version matching'" \
	'[ $rc -eq 1 ] && ! grep -q $'"'"'\x1b'"'"' <<<"$err" && grep -qF "1.0\\x1b[2J\\xc2\\x9b31m" <<<"$err"'
printf 'machines:\n  web:\n    box: x/y\n    hostname: "ab\\0cd"\n' >Envfile
err=$("$BIN/envvalidate" 2>&1)
check_sh "4: a NUL in a value (\"\\0\") is an error at its line" 'grep -q "Envfile:4:15: a NUL character" <<<"$err"'
printf 'machines:\n  web:\n    box: x/y\n    host\000name: a\n' >Envfile
err=$("$BIN/envvalidate" 2>&1)
check_sh "19: a raw NUL byte is reported at its line and column (4:9)" 'grep -q "Envfile:4:9: YAML syntax error: control characters" <<<"$err"'
printf 'machines:\n  web:\n    box: x/y\n\n    hostname: ab\377cd\n' >Envfile
err=$("$BIN/envvalidate" 2>&1)
check_sh "19: bad UTF-8 is reported at its line and column (5:17)" 'grep -q "Envfile:5:17: YAML syntax error: invalid leading UTF-8" <<<"$err"'

# ---- 7: deep nesting is bounded and fast ------------------------------------------------------
python3 -c 'import sys; d=100000; open("Envfile","w").write("machines:\n  web:\n    box: " + "["*d + "]"*d + "\n")'
s=$(date +%s%N)
err=$(timeout 60 "$BIN/envvalidate" 2>&1); rc=$?
ms=$((($(date +%s%N) - s) / 1000000))
check_sh "7: 100000 nested '[' are refused in ${ms} ms (was 24 s)" \
	'[ $rc -eq 1 ] && [ $ms -lt 5000 ] && grep -q "nested more than 64 levels deep" <<<"$err"'

# ---- 13: Envfile gaps ----------------------------------------------------------------------
printf 'machines:\n  web:\n    box: x/y\n---\nmachines:\n  db:\n    box: x/y\n' >Envfile
err=$("$BIN/envvalidate" 2>&1)
check_sh "13: a second YAML document is an error at its start" 'grep -q "Envfile:4:1: a second YAML document" <<<"$err"'
cat >Envfile <<'EOF'
machines:
  web:
    box: x/y
    forwarded_ports: [{guest: 80, host: 8080}, {guest: 81, host: 8080}]
  db:
    box: x/y
    forwarded_ports: [{guest: 5432, host: 8080, host_ip: 0.0.0.0}, {guest: 53, host: 8080, protocol: udp}]
EOF
err=$("$BIN/envvalidate" 2>&1)
check_sh "13: a host port forwarded twice (one machine, and across machines) is an error" \
	'grep -q "machines.web.forwarded_ports\[1\].host: port 8080/tcp is already forwarded by machine '"'"'web'"'"'" <<<"$err" && grep -q "machines.db.forwarded_ports\[0\].host: port 8080/tcp is already forwarded by machine '"'"'web'"'"'" <<<"$err" && ! grep -q "8080/udp" <<<"$err"'
printf 'version: 1\nmachines:\n  web:\n    box: ${A:-${B:-${C:-deep/box}}}\n' >Envfile
out=$(env -u A -u B -u C "$BIN/envvalidate" --json)
B=mid/box "$BIN/envstatus" --json >"$T/st" 2>&1
check_sh "13: nested defaults \${A:-\${B:-\${C:-x}}} expand" \
	'[ "$(jget "[\"valid\"]" <<<"$out")" = True ] && grep -q "\"box\":\"mid/box\"" "$T/st"'
printf 'machines:\n  web:\n    box: "a\\x1bb"\n' >Envfile
err=$("$BIN/envvalidate" 2>&1)
check_sh "13: a box value with a control character is refused as envinit --box refuses it" \
	'grep -q "machines.web.box: .*is not a box name, URL or path" <<<"$err"'
python3 -c 'open("Envfile","w").write("machines:\n  " + "a"*5000 + ":\n    box: x/y\n")'
err=$("$BIN/envvalidate" 2>&1)
check_sh "19: a 5000-character machine name says which rule it breaks" \
	'grep -q "the key on this line is 5000 characters long; YAML keys are at most 1024, machine names at most 63" <<<"$err"'

# ---- 8 and 18: special files as inputs, and exit codes ------------------------------------
mkdir -p "$T/fifo" && cd "$T/fifo" || exit 1
mkfifo Envfile
timeout 10 "$BIN/envvalidate" 2>"$T/err"; rc=$?
check_sh "8: an Envfile that is a FIFO is refused at once (exit 1)" '[ $rc -eq 1 ] && grep -q "Envfile is a FIFO" "$T/err"'
timeout 10 "$BIN/envstatus" 2>"$T/err"; rc=$?
check_sh "8: ... by envstatus too" '[ $rc -eq 1 ] && grep -q "FIFO" "$T/err"'
rm Envfile && mkdir Envfile
"$BIN/envstatus" 2>"$T/err"; rc1=$?
rmdir Envfile && printf 'machines: [\n' >Envfile
"$BIN/envstatus" 2>/dev/null; rc2=$?
check_sh "18: a directory named Envfile and an invalid Envfile both exit 1 ($rc1, $rc2)" \
	'[ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] && grep -q "Envfile is a directory" "$T/err"'
rm Envfile && ln -s missing-target Envfile
"$BIN/envstatus" 2>"$T/err"; rc=$?
check_sh "19: a dangling Envfile link says so" '[ $rc -eq 1 ] && grep -q "Envfile is a symbolic link to a missing file" "$T/err"'
rm Envfile
mkfifo img.raw
timeout 10 "$ENVCTL" box info img.raw 2>"$T/err"; rc=$?
check_sh "8: envbox info on a FIFO is refused at once" '[ $rc -eq 1 ] && grep -q "img.raw is a FIFO" "$T/err"'
timeout 10 "$ENVCTL" box add ./img.raw --name f/f 2>"$T/err"; rc=$?
check_sh "8: envbox add of a FIFO is refused at once" '[ $rc -eq 1 ] && grep -q "FIFO" "$T/err"'
qemu-img create -q -f raw back.raw 1M
qemu-img create -q -f qcow2 -b back.raw -F raw top.qcow2
rm back.raw && mkfifo back.raw
timeout 10 "$ENVCTL" box info top.qcow2 2>"$T/err"; rc=$?
check_sh "8: a qcow2 backing file that is a FIFO is refused at once" '[ $rc -eq 1 ] && grep -q "not a regular file" "$T/err"'
"$ENVCTL" box info /dev/zero 2>"$T/err"; rc=$?
check_sh "18: envbox info /dev/zero exits 1 (a failure, not a usage error)" '[ $rc -eq 1 ] && grep -q "character device" "$T/err"'
python3 - "$WWW/reg/t/crc" "$HTTP/reg/t/in.box" <<'PY'
import json, sys
json.dump({"name": "t/crc", "versions": [{"version": "1.0", "providers": [
    {"name": "envup", "url": sys.argv[2], "architecture": "amd64", "checksum": "1234",
     "checksum_type": "crc32"}]}]}, open(sys.argv[1], "w"))
PY
envbox add "$HTTP/reg/t/crc" 2>"$T/err"; rc=$?
check_sh "18: a catalog's unknown checksum_type exits 1" '[ $rc -eq 1 ] && grep -q crc32 "$T/err"'
python3 - "$WWW/reg/t/badname" "$HTTP/reg/t/in.box" <<'PY'
import json, sys
json.dump({"name": "../evil", "versions": [{"version": "1.0", "providers": [
    {"name": "envup", "url": sys.argv[2], "architecture": "amd64"}]}]}, open(sys.argv[1], "w"))
PY
envbox add "$HTTP/reg/t/badname" 2>"$T/err"; rc=$?
check_sh "18: a catalog's invalid box name exits 1" '[ $rc -eq 1 ] && grep -q "not a valid box name" "$T/err"'

# ---- 9, 11, 17, 19, 20: images ----------------------------------------------------------------
cd "$T/src" || exit 1
qemu-img create -q -f qcow2 huge.qcow2 1P
s=$(date +%s%N)
timeout 120 "$ENVCTL" box convert -q huge.qcow2 huge-out.qcow2; rc=$?
ms=$((($(date +%s%N) - s) / 1000000))
check_sh "9: an empty qcow2 of 1 PiB converts in ${ms} ms (zero runs skipped from the L1 table)" \
	'[ $rc -eq 0 ] && [ $ms -lt 10000 ] && [ "$(qemu-img info --output=json huge-out.qcow2 | jget "[\"virtual-size\"]")" = 1125899906842624 ]'
rm -f huge*.qcow2
head -c 100 /dev/urandom >small.raw
envbox convert -q small.raw small.qcow2
check_sh "11: a 100-byte raw becomes a qcow2 of 512 bytes that QEMU reads" \
	'[ "$(qemu-img info --output=json small.qcow2 | jget "[\"virtual-size\"]")" = 512 ] && [ "$(qemu-img convert -O raw small.qcow2 small.back && head -c 100 small.back | cmp - small.raw && echo same)" = same ]'
# 16384 small data extents over 16 GiB: a conversion that runs for a few seconds
python3 -c '
import os, sys
f = open(sys.argv[1], "wb"); f.truncate(16 << 30); b = os.urandom(4096)
for i in range(16 << 10):
    f.seek(i << 20); f.write(b)' slow.raw
killed=0
for sig in INT TERM HUP KILL; do
	# (an asynchronous job starts with SIGINT ignored: give it back its default)
	ENVUP_CONVERT_THREADS=1 env --default-signal=INT "$ENVCTL" box convert -q slow.raw "slow-$sig.qcow2" &
	pid=$!
	sleep 0.5
	kill -$sig $pid 2>/dev/null && killed=$((killed + 1))
	wait $pid 2>/dev/null
done
check_sh "17: a convert stopped by SIGINT, SIGTERM, SIGHUP or SIGKILL ($killed of 4 mid-way) leaves no file behind" \
	'[ $killed -eq 4 ] && [ -z "$(ls | grep "^slow-")" ]'
rm -f slow.raw
"$ENVCTL" box info --format vmdk "$T/fifo/top.qcow2" 2>"$T/err"; rc=$?
check_sh "19: --format vmdk on a qcow2 says what the file is" '[ $rc -eq 1 ] && grep -q "top.qcow2 is a qcow2 image, not vmdk" "$T/err"'
qemu-img create -q -f vmdk -o subformat=monolithicSparse zcap.vmdk 1M
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(12); f.write(b"\0"*8)' zcap.vmdk
envbox convert zcap.vmdk zcap.qcow2 2>"$T/err"; rc=$?
check_sh "20: a sparse VMDK with capacity 0 is refused" '[ $rc -eq 1 ] && grep -q "0 sectors" "$T/err" && [ ! -e zcap.qcow2 ]'
qemu-img create -q -f vmdk -o subformat=monolithicSparse dcap.vmdk 1M
python3 -c 'import sys,struct; f=open(sys.argv[1],"r+b"); f.seek(12); f.write(struct.pack("<Q", 4096))' dcap.vmdk
envbox convert dcap.vmdk dcap.qcow2 2>"$T/err"; rc=$?
check_sh "20: a sparse header and embedded descriptor that disagree are refused" \
	'[ $rc -eq 1 ] && grep -q "header says 4096 sectors but the embedded descriptor" "$T/err"'

# ---- 12 and 14: catalogs ------------------------------------------------------------------------
python3 - "$WWW/reg/t/rootrel" <<'PY'
import json, sys
json.dump({"name": "t/rootrel", "versions": [
    {"version": v, "providers": [{"name": "envup", "url": "/other/o.box", "architecture": "amd64"}]}
    for v in ("1.0", "4294967295.0", "202406011230")]}, open(sys.argv[1], "w"))
PY
out=$(envbox add "$HTTP/reg/t/rootrel" --json 2>&1)
check_sh "12, 14: a root-relative box URL resolves on the catalog's host; version 202406011230 wins" \
	'[ -d "$BOXES/t-VAGRANTSLASH-rootrel/202406011230" ] && [ "$(jget "[\"version\"]" <<<"$out")" = 202406011230 ]'
err=$(envbox add "$HTTP/reg/t/esc" 2>&1)
check_sh "19: no constraint: no \"matching ''\" in the message" \
	'grep -q "has no version envup can read" <<<"$err" && ! grep -q "matching '"''"'" <<<"$err"'

# ---- 15: resumed_from only when the server resumed ------------------------------------------
cp "$WWW/other/o.box" "$WWW/other/c.box"
key=$XDG_CACHE_HOME/envup/downloads/$(printf %s "$HTTP/other/c.box" | sha256sum | cut -c1-32)
mkdir -p "$XDG_CACHE_HOME/envup/downloads"
head -c 1000 "$WWW/other/c.box" >"$key.part"
etag=$(python3 -c 'import os,sys; st=os.stat(sys.argv[1]); print("\"%x-%x\"" % (st.st_size, st.st_mtime_ns))' "$WWW/other/c.box")
python3 -c 'import json,sys; json.dump({"url":sys.argv[1],"etag":sys.argv[2],"last_modified":"","complete":False}, open(sys.argv[3],"w"))' "$HTTP/other/c.box" "$etag" "$key.json"
rules '{"/other/c.box": {"ignore_range": true}}'
out=$(envbox add "$HTTP/other/c.box" --name t/c --json)
check_sh "15: a server that ignores Range: resumed_from is 0, not 1000" \
	'[ "$(jget "[\"resumed_from\"]" <<<"$out")" = 0 ] && [ -d "$BOXES/t-VAGRANTSLASH-c/0" ]'
rules '{}'

# ---- 10: two adds of one URL under different names at once -----------------------------------
python3 -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(5).randbytes(8<<20))' "$T/src/big.raw"
qemu-img convert -f raw -O qcow2 "$T/src/big.raw" "$T/src/big.qcow2"
mk envup "$WWW/other/big.box" "$T/src/big.qcow2" qcow2 amd64 --compress gz
# without validators the second download cannot revalidate the first's copy and starts over
rules '{"/other/big.box": {"rate": 8000000, "no_validators": true}}'
good=0
for i in 1 2 3; do
	envbox add "$HTTP/other/big.box" --name "c$i/one" -q 2>"$T/c1" & p1=$!
	envbox add "$HTTP/other/big.box" --name "c$i/two" -q 2>"$T/c2" & p2=$!
	wait $p1; r1=$?; wait $p2; r2=$?
	[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && good=$((good + 1))
done
check "10: concurrent adds of one URL under two names both succeed (3 of 3: $good)" [ $good -eq 3 ]
rules '{}'

# ---- 6: a download is bounded by the free space --------------------------------------------------
if $root && mkdir -p "$T/small" && mount -t tmpfs -o size=64m tmpfs "$T/small" 2>/dev/null; then
	at_exit "umount $T/small"
	truncate -s 200M "$WWW/other/endless.box"
	rules '{"/other/endless.box": {"chunked": true, "no_validators": true}}'
	err=$(XDG_CACHE_HOME=$T/small envbox add "$HTTP/other/endless.box" --name t/endless 2>&1); rc=$?
	check_sh "6: a download without Content-Length stops before the disk is full, and leaves no partial" \
		'[ $rc -eq 1 ] && grep -q "not enough free space" <<<"$err" && [ -z "$(ls -A "$T/small/envup/downloads")" ]'
	rules '{"/other/endless.box": {"no_validators": true}}'
	err=$(XDG_CACHE_HOME=$T/small envbox add "$HTTP/other/endless.box" --name t/endless 2>&1); rc=$?
	check_sh "6: a Content-Length larger than the free space is refused before the body" \
		'[ $rc -eq 1 ] && grep -q "not enough free space" <<<"$err" && [ "$(df --output=used -B1M "$T/small" | tail -1)" -lt 8 ]'
	rules '{}'
	rm -f "$WWW/other/endless.box"
else
	skip "6: free-space bound" "needs root to mount a small tmpfs"
fi
mkdir -p "$XDG_CACHE_HOME/envup/downloads"
head -c 300000 /dev/urandom >"$XDG_CACHE_HOME/envup/downloads/0123456789abcdef0123456789abcdef.part"
echo '{}' >"$XDG_CACHE_HOME/envup/downloads/0123456789abcdef0123456789abcdef.json"
out=$(envbox prune 2>&1)
check_sh "6: envbox prune cleans the download cache" \
	'[ -z "$(ls -A "$XDG_CACHE_HOME/envup/downloads")" ] && grep -q "removed 1 download from the cache" <<<"$out"'

# ---- 16 and 19: a store with strays; --json of remove ------------------------------------------
touch "$BOXES/x-VAGRANTSLASH-y"
mkdir -p "$BOXES/empty/1.0" "$BOXES/half/1.0/envup-amd64"
out=$(envbox list 2>"$T/err"); rc=$?
check_sh "16: a stray file and empty directories are skipped and reported; the boxes are listed" \
	'[ $rc -eq 0 ] && grep -q "^t/c " <<<"$out" && grep -q "x-VAGRANTSLASH-y: not a box name directory" "$T/err" && grep -q "empty/1.0: an empty version directory" "$T/err" && grep -q "half/1.0/envup-amd64: no envup-box.json" "$T/err" && ! grep -q "^half" <<<"$out"'
envbox prune -q; rc=$?
check "16: prune works past them" [ $rc -eq 0 ]
out=$(envbox remove t/c --json)
check_sh "19: envbox remove --json prints what was removed" '[ "$(jget "[0][\"name\"]" <<<"$out")" = t/c ]'

# ---- 19: help and version usage --------------------------------------------------------------------
out=$("$ENVCTL" version --help)
check_sh "19: envctl version --help names no envversion link" '! grep -q envversion <<<"$out" && grep -q "usage: envctl version" <<<"$out"'
out=$("$ENVCTL" help --help 2>&1); rc=$?
check_sh "19: envctl help --help shows help's usage" '[ $rc -eq 0 ] && grep -q "usage: envctl help" <<<"$out"'
mkdir -p "$T/state" && cd "$T/state" && printf 'version: 1\nmachines:\n  web:\n    box: x/y\n    provider: qemu\n' >Envfile
mkdir -p .envup/machines/web && echo '{"state":12}' >.envup/machines/web/state.json
"$BIN/envstatus" 2>"$T/err"; rc=$?
check_sh "19: a state.json with \"state\": 12 says so" '[ $rc -eq 1 ] && grep -q "\"state\" must be a string, not 12" "$T/err"'
rm -rf .envup
out=$("$BIN/envdestroy" -f --json 2>/dev/null)
check_sh "19: envdestroy --json prints a result per machine" '[ "$(jget "[0][\"machine\"]" <<<"$out")" = web ]'
finish
