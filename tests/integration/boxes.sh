#!/usr/bin/env bash
# The box store end to end: registries and catalogs, version constraints, provider and
# architecture choice, resumable verified downloads over a real HTTP(S) server on 127.0.0.1,
# safe import of every box flavour and of hostile archives, concurrent and killed adds, prune.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$ENVUP_SRC/tests/integration
export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
unset ENVUP_REGISTRY
BOXES=$XDG_DATA_HOME/envup/boxes
WWW=$T/www
mkdir -p "$WWW/test" "$T/src" "$XDG_CONFIG_HOME/envup"
echo '{}' >"$T/rules.json"
envbox() { "$ENVCTL" box "$@"; }
mk() { python3 "$HERE/boxes_make.py" "$@"; }
rules() { printf '%s\n' "$1" >"$T/rules.json"; }
# served PATH LOG: total bytes the server sent for PATH; requests PATH LOG: how many requests.
served() { python3 -c 'import json,sys; print(sum(json.loads(l)["bytes"] for l in open(sys.argv[2]) if json.loads(l)["path"]==sys.argv[1]))' "$1" "$2"; }
requests() { python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[2]) if json.loads(l)["path"]==sys.argv[1]))' "$1" "$2"; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }
installed() { envbox list --json | python3 -c 'import json,sys; print(" ".join(sorted("%s@%s:%s:%s" % (b["name"],b["version"],b["provider"],b["architecture"]) for b in json.load(sys.stdin))))'; }

# start_server NAME [--cert C --key K]: a server whose port lands in $T/NAME.port
start_server() {
	local name=$1; shift
	python3 "$HERE/boxes_server.py" --root "$WWW" --port-file "$T/$name.port" \
		--log "$T/$name.log" --rules "$T/rules.json" "$@" 2>"$T/$name.err" &
	at_exit "kill $! 2>/dev/null"
	for _ in $(seq 100); do [ -s "$T/$name.port" ] && break; sleep 0.05; done
	[ -s "$T/$name.port" ] || { not_ok "server $name did not start: $(cat "$T/$name.err")"; finish; }
}

# ---- boxes and catalogs the tests serve --------------------------------------------------
python3 "$HERE/images_pattern.py" "$T/src/pattern.raw" $((4 << 20)) 7
# Incompressible data in the first 3 MiB so that box files are big enough to cut mid-way.
python3 -c 'import random,sys; f=open(sys.argv[1],"r+b"); f.write(random.Random(3).randbytes(3<<20))' "$T/src/pattern.raw"
qemu-img convert -f raw -O qcow2 "$T/src/pattern.raw" "$T/src/disk.qcow2"
qemu-img create -q -f qcow2 "$T/src/extra.qcow2" 1M
mk envup "$WWW/test/envup-amd64.box" "$T/src/disk.qcow2" qcow2 amd64
mk envup "$WWW/test/envup-arm64.box" "$T/src/disk.qcow2" qcow2 arm64 --compress xz
mk libvirt1 "$WWW/test/libvirt.box" "$T/src/disk.qcow2" --compress xz
mk envup "$WWW/test/envup-old.box" "$T/src/disk.qcow2" qcow2 amd64 --compress zst
start_server http
HTTP=http://127.0.0.1:$(cat "$T/http.port")
LOG=$T/http.log
H=$HTTP/test
# Versions out of order; 2.0.0 has only arm64, 1.10.0 has libvirt and envup.
mk catalog "$WWW/test/multi" test/multi "$H" \
	1.2.0:envup:amd64:$WWW/test/envup-old.box \
	1.10.0:libvirt:amd64:$WWW/test/libvirt.box 1.10.0:envup:amd64:$WWW/test/envup-amd64.box \
	1.9.0:envup:amd64:$WWW/test/envup-amd64.box \
	2.0.0:envup:arm64:$WWW/test/envup-arm64.box
mk catalog "$WWW/test/suffixed.json" test/suffixed "$H" 1.0:envup:-:$WWW/test/envup-amd64.box

# ---- resolution by name and constraint --------------------------------------------------
export ENVUP_REGISTRY=$HTTP
out=$(envbox add test/multi --json 2>&1)
check "name resolves to the newest usable version (1.10.0 > 1.9.0 > 1.2.0; 2.0.0 is arm64 only)" \
	[ "$(installed)" = "test/multi@1.10.0:envup:amd64" ]
dir=$(echo "$out" | jget '["dir"]')
check "base.qcow2 holds the box's disk (qemu-img compare)" \
	qemu-img compare -q "$dir/base.qcow2" "$T/src/pattern.raw"
check "a fresh download is unpacked while it arrives (boxes/follow.c)" \
	[ "$(jget '["unpacked_while_downloading"]' <<<"$out")" = True ]
check "the box's metadata and envup's record are installed, the source disk is not" \
	test -f "$dir/metadata.json" -a -f "$dir/envup-box.json" -a ! -e "$dir/disk.qcow2"
accept=$(python3 -c 'import json,sys; print(set(json.loads(l)["accept"] for l in open(sys.argv[1]) if json.loads(l)["path"]=="/test/multi"))' "$LOG")
check "catalogs are asked for as application/json, as Vagrant does ($accept)" [ "$accept" = "{'application/json'}" ]
check "catalog checksum verified while streaming (record keeps it)" \
	grep -q '"checksum_type": *"sha256"' "$dir/envup-box.json"
blocks=$(python3 -c 'import os,sys; print(sum(os.lstat(os.path.join(r,f)).st_blocks*512 for r,_,fs in os.walk(sys.argv[1]) for f in fs))' "$dir")
check_sh "add and list report the bytes the box takes on disk ($blocks)" \
	'[ "$(jget "[\"size\"]" <<<"$out")" = "$blocks" ] && [ "$(envbox list --json | jget "[0][\"size\"]")" = "$blocks" ]'
envbox add test/multi --box-version '< 1.10' -q
envbox add test/multi --box-version '~> 1.2.0' -q
check "constraints '< 1.10' and '~> 1.2.0' pick 1.9.0 and 1.2.0" \
	[ "$(installed)" = "test/multi@1.10.0:envup:amd64 test/multi@1.2.0:envup:amd64 test/multi@1.9.0:envup:amd64" ]
envbox list | grep -q '^test/multi *1.2.0 .*envup *amd64' && ok "envbox list shows name, version, provider, arch" || not_ok "envbox list"
err=$(envbox add test/multi --box-version '>= 3, != 3.1' 2>&1); rc=$?
want="no version matching '>= 3, != 3.1'.*1.10.0"
check_sh "no matching version: exit 1 and the versions offered" '[ $rc -eq 1 ] && grep -q "$want" <<<"$err"'
err=$(envbox add test/multi --box-version '>> 1' 2>&1); rc=$?
check "a malformed constraint is a usage error (exit 2)" [ $rc -eq 2 ]
envbox add test/suffixed -q
check "registry lookup falls back to <registry>/<org>/<box>.json" \
	[ -n "$(installed | grep -o 'test/suffixed@1.0:envup:unknown')" ]

# The Envfile's registries come before ENVUP_REGISTRY; a registry may be a local directory.
mkdir -p "$T/proj" "$T/localreg/local"
mk catalog "$T/localreg/local/box" local/box "$H" 3.0:envup:amd64:$WWW/test/envup-amd64.box
printf 'version: 1\nregistries:\n  - %s\nmachines:\n  web:\n    box: local/box\n' "$T/localreg" >"$T/proj/Envfile"
(cd "$T/proj" && "$ENVCTL" box add local/box -q)
check "the Envfile's registries are searched (local directory registry)" \
	[ -d "$BOXES/local-VAGRANTSLASH-box/3.0/envup-amd64" ]

# ---- provider and architecture choice -------------------------------------------------------
envbox add test/multi --provider libvirt -q
check "--provider libvirt installs the libvirt box (box.img v1) of 1.10.0" \
	[ -f "$BOXES/test-VAGRANTSLASH-multi/1.10.0/libvirt-amd64/base.qcow2" ]
envbox add test/multi --arch arm64 -q
check "--arch arm64 picks 2.0.0" [ -d "$BOXES/test-VAGRANTSLASH-multi/2.0.0/envup-arm64" ]
err=$(envbox add test/multi --provider vmware_desktop 2>&1); rc=$?
check_sh "a provider the catalog lacks: exit 1 listing what is offered" \
	'[ $rc -eq 1 ] && grep -q "offered:.*libvirt/amd64" <<<"$err"'
mk catalog "$WWW/test/defarch" test/defarch "$H" \
	1.0:envup:arm64:$WWW/test/envup-arm64.box:default 1.0:envup:s390x:$WWW/test/envup-arm64.box
envbox add test/defarch -q
check "without a host-arch build, default_architecture wins" \
	[ -d "$BOXES/test-VAGRANTSLASH-defarch/1.0/envup-arm64" ]

# ---- checksum mismatch, 404, redirects --------------------------------------------------------
mk catalog "$WWW/test/badsum" test/badsum "$H" 1.0:envup:amd64:$WWW/test/envup-amd64.box:badsum
err=$(envbox add test/badsum 2>&1); rc=$?
sum=$(sha256sum "$WWW/test/envup-amd64.box" | cut -d' ' -f1)
check_sh "checksum mismatch: exit 1, names expected and actual, installs nothing" \
	'[ $rc -eq 1 ] && grep -q "expected sha256 0000000000000000.*got $sum" <<<"$err" &&
	[ ! -e "$BOXES/test-VAGRANTSLASH-badsum" ] && [ -z "$(ls "$XDG_CACHE_HOME/envup/downloads/" | grep part)" ]'
err=$(envbox add "$H/envup-amd64.box" --name file/md5 --checksum "$(md5sum "$WWW/test/envup-amd64.box" | cut -d' ' -f1)" --checksum-type md5 -q 2>&1)
check "--checksum with md5 on a box URL" [ -d "$BOXES/file-VAGRANTSLASH-md5/0/envup-amd64" ]
# On a terminal: one bar, whose label says that a remote box is unpacked as it arrives (a
# local one is only unpacked). script(1) gives envbox a pty.
script -qec "'$ENVCTL' box add '$H/envup-amd64.box' --name bar/remote" /dev/null >"$T/bar-remote.out" 2>&1
script -qec "'$ENVCTL' box add '$WWW/test/envup-amd64.box' --name bar/local" /dev/null >"$T/bar-local.out" 2>&1
check_sh "a remote add's bar says download+unpack, a local add's says unpack" \
	'grep -q "\[1+2/3\] download+unpack \[#* *\] 100%" "$T/bar-remote.out" && ! grep -q "\[2/3\]" "$T/bar-remote.out" &&
	 grep -q "\[2/3\] unpack   *\[#* *\] 100%" "$T/bar-local.out" && ! grep -q download "$T/bar-local.out"' ||
	tr '\r' '\n' <"$T/bar-remote.out" | cat -v | sed 's/^/#   /'
# envup fetching a machine's box shows the same bar. The box has no system: the machine then
# fails to answer SSH within its boot_timeout, which is not what this checks.
mkdir -p "$T/upbar"
printf 'version: 1\nmachines:\n  web:\n    provider: qemu\n    box: bar/up\n    box_url: %s\n    boot_timeout: 3\n' \
	"$H/envup-amd64.box" >"$T/upbar/Envfile"
(cd "$T/upbar" && script -qec "'$(dirname "$ENVCTL")/envup'" /dev/null >"$T/bar-up.out" 2>&1
 "$(dirname "$ENVCTL")/envdestroy" -f >/dev/null 2>&1)
check_sh "envup shows the bar while it fetches the machine's box" \
	'grep -q "\[1+2/3\] download+unpack \[#* *\] 100%" "$T/bar-up.out" && grep -q "Box .bar/up. .*: added" "$T/bar-up.out"' ||
	tr '\r' '\n' <"$T/bar-up.out" | cat -v | sed 's/^/#   /'
err=$(envbox add "$H/missing.box" --name x/missing 2>&1); rc=$?
check_sh "404: exit 1 with 'not found (HTTP 404)'" '[ $rc -eq 1 ] && grep -q "not found (HTTP 404)" <<<"$err"'
mk catalog "$WWW/test/localref" test/localref "file://$WWW/test" 1.0:envup:amd64:$WWW/test/envup-amd64.box
err=$(envbox add test/localref 2>&1); rc=$?
check_sh "a remote catalog naming a local file is refused" \
	'[ $rc -eq 1 ] && grep -q "is a local file" <<<"$err" && [ ! -e "$BOXES/test-VAGRANTSLASH-localref" ]'
err=$(envbox add nosuch/box 2>&1); rc=$?
check_sh "unknown box name: exit 1 naming the places tried" \
	'[ $rc -eq 1 ] && grep -q "nosuch/box.json" <<<"$err"'
# A server announcing more than any box may hold (2 TiB, what extraction accepts) is refused.
cp "$WWW/test/envup-amd64.box" "$WWW/test/huge.box"
rules '{"/test/huge.box": {"content_length": 3298534883328}}'
err=$(envbox add "$H/huge.box" --name huge/box 2>&1); rc=$?
key=$XDG_CACHE_HOME/envup/downloads/$(printf %s "$H/huge.box" | sha256sum | cut -c1-32)
check_sh "a download announced as 3 TiB is refused naming the 2 TiB limit, nothing kept" \
	'[ $rc -eq 1 ] && grep -q "$H/huge.box: the file is larger (3298534883328 bytes) than the download limit of 2199023255552 bytes" <<<"$err" &&
	[ ! -e "$key.part" ] && [ ! -e "$key.json" ] && [ ! -e "$BOXES/huge-VAGRANTSLASH-box" ]'
rules '{"/old/location.box": {"redirect": "/test/envup-amd64.box"}}'
envbox add "$HTTP/old/location.box" --name redir/box -q
check "redirects are followed" [ -d "$BOXES/redir-VAGRANTSLASH-box/0/envup-amd64" ]

# ---- private registry with a token --------------------------------------------------------
mkdir -p "$WWW/private/team"
cp "$WWW/test/envup-amd64.box" "$WWW/private/team/"
mk catalog "$WWW/private/team/box" team/box "$HTTP/private/team" 1.0:envup:amd64:$WWW/private/team/envup-amd64.box
rules '{"/private/team/box": {"bearer": "s3cret"}, "/private/team/envup-amd64.box": {"bearer": "s3cret"}}'
err=$(ENVUP_REGISTRY=$HTTP/private envbox add team/box 2>&1); rc=$?
check_sh "private registry without a token: refused with a hint" '[ $rc -eq 1 ] && grep -q token <<<"$err"'
printf 'registries:\n  - url: %s/private/\n    token: s3cret\n' "$HTTP" >"$XDG_CONFIG_HOME/envup/config.yaml"
ENVUP_REGISTRY= envbox add team/box -q
check "config.yaml registry token sent as Bearer to the catalog and the box" \
	[ -d "$BOXES/team-VAGRANTSLASH-box/1.0/envup-amd64" ]
err=$(envbox add "$HTTP/private/team/box" --name team/direct 2>&1); rc=$?
check_sh "a catalog may not be installed under another name (--name), as in Vagrant" \
	'[ $rc -eq 1 ] && grep -q "the catalog is for box '"'"'team/box'"'"', not '"'"'team/direct'"'"'" <<<"$err"'
envbox remove team/box -q
envbox add "$HTTP/private/team/box" -q
check "the token also goes with a catalog URL under that registry (as envbox update uses)" \
	[ -d "$BOXES/team-VAGRANTSLASH-box/1.0/envup-amd64" ]
rm "$XDG_CONFIG_HOME/envup/config.yaml"
rules '{}'

# ---- drop mid-transfer, resume --------------------------------------------------------------
cp "$WWW/test/envup-amd64.box" "$WWW/test/drop.box"
size=$(stat -c %s "$WWW/test/drop.box")
rules "{\"/test/drop.box\": {\"drop_after\": 1000000, \"drop_times\": 1}}"
out=$(envbox add "$H/drop.box" --name drop/box --json 2>&1)
check "connection dropped after 1000000 bytes: retried, resumed and installed" \
	[ -d "$BOXES/drop-VAGRANTSLASH-box/0/envup-amd64" ]
second=$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["path"]=="/test/drop.box"]; print(r[1]["range"], r[1]["status"], r[1]["bytes"], len(r))' "$LOG")
check "second request asked Range bytes=1000000- and got only the rest ($second)" \
	[ "$second" = "bytes=1000000- 206 $((size - 1000000)) 2" ]
check "  ... and unpacking went on across the retry" \
	[ "$(jget '["unpacked_while_downloading"]' <<<"$out")" = True ]

# A killed add leaves no trace in the store; the next add resumes the partial download.
cp "$WWW/test/envup-amd64.box" "$WWW/test/slow.box"
rules '{"/test/slow.box": {"rate": 400000}}'
"$ENVCTL" box add "$H/slow.box" --name slow/box -q &
pid=$!
# The partial is keyed by the URL (docs/boxes.md).
part=$XDG_CACHE_HOME/envup/downloads/$(printf %s "$H/slow.box" | sha256sum | cut -c1-32).part
for _ in $(seq 100); do
	[ -f "$part" ] && [ "$(stat -c %s "$part")" -gt 300000 ] && break
	sleep 0.05
done
kill -9 $pid; wait $pid 2>/dev/null
have=$(stat -c %s "$part")
check_sh "a killed add leaves nothing in the store" \
	'[ ! -e "$BOXES/slow-VAGRANTSLASH-box" ] && ! installed | grep -q slow/box'
rules '{}'
before=$(served /test/slow.box "$LOG")
out=$(envbox add "$H/slow.box" --name slow/box --json)
after=$(served /test/slow.box "$LOG")
check_sh "the next add resumes from the partial ($have bytes) and fetches only the rest" \
	'[ "$(jget "[\"resumed_from\"]" <<<"$out")" = "$have" ] && [ $((after - before)) -eq $((size - have)) ]'
check_sh "  ... and, its first bytes not arriving, unpacks the file after the download" \
	'[ "$(jget "[\"unpacked_while_downloading\"]" <<<"$out")" = False ] &&
	 qemu-img compare -q "$(jget "[\"dir\"]" <<<"$out")/base.qcow2" "$T/src/pattern.raw"'
check "no download is left in the cache once installed or failed" [ -z "$(ls -A "$XDG_CACHE_HOME/envup/downloads/")" ]

# Cache states left by earlier runs (docs/boxes.md: KEY.part + KEY.json): a complete copy is
# revalidated (304, nothing fetched); a partial whose ETag no longer matches is replaced.
cp "$WWW/test/envup-amd64.box" "$WWW/test/cached.box"
key=$XDG_CACHE_HOME/envup/downloads/$(printf %s "$H/cached.box" | sha256sum | cut -c1-32)
etag=$(python3 -c 'import os,sys; st=os.stat(sys.argv[1]); print("\"%x-%x\"" % (st.st_size, st.st_mtime_ns))' "$WWW/test/cached.box")
cp "$WWW/test/cached.box" "$key.part"
python3 -c 'import json,sys; json.dump({"url":sys.argv[1],"etag":sys.argv[2],"last_modified":"","complete":True}, open(sys.argv[3],"w"))' "$H/cached.box" "$etag" "$key.json"
out=$(envbox add "$H/cached.box" --name cache/complete --checksum "$sum" --checksum-type sha256 --json)
last=$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["path"]=="/test/cached.box"]; print(r[-1]["status"], r[-1]["bytes"], len(r))' "$LOG")
check_sh "a complete cached copy is revalidated: 304, 0 bytes fetched, checksum still verified" \
	'[ "$last" = "304 0 1" ] && [ "$(jget "[\"fetched\"]" <<<"$out")" = 0 ]'
# An add killed after its download leaves the whole file, not marked complete (the archive is
# never synced, so never marked): the next add asks for the bytes past its end, the server
# answers 416 with the validator matching, and the copy is used without fetching it again.
cp "$WWW/test/cached.box" "$key.part"
python3 -c 'import json,sys; json.dump({"url":sys.argv[1],"etag":sys.argv[2],"last_modified":"","complete":False}, open(sys.argv[3],"w"))' "$H/cached.box" "$etag" "$key.json"
out=$(envbox add "$H/cached.box" --name cache/killed --checksum "$sum" --checksum-type sha256 --json)
last=$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["path"]=="/test/cached.box"]; print(r[-1]["range"], r[-1]["status"], r[-1]["bytes"])' "$LOG")
check_sh "a whole partial not marked complete: 416 past its end, used as it is, checksum verified ($last)" \
	'[ "$last" = "bytes=$size- 416 0" ] && [ "$(jget "[\"fetched\"]" <<<"$out")" = 0 ] && [ -d "$BOXES/cache-VAGRANTSLASH-killed/0/envup-amd64" ]'
head -c 500000 /dev/urandom >"$key.part"
python3 -c 'import json,sys; json.dump({"url":sys.argv[1],"etag":"\"stale\"","last_modified":"","complete":False}, open(sys.argv[2],"w"))' "$H/cached.box" "$key.json"
envbox add "$H/cached.box" --name cache/changed --checksum "$sum" --checksum-type sha256 -q
last=$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["path"]=="/test/cached.box"]; print(r[-1]["range"], r[-1]["if_range"], r[-1]["status"], r[-1]["bytes"])' "$LOG")
check_sh "a partial of a changed file is replaced: If-Range mismatch gives the whole file ($last)" \
	'[ "$last" = "bytes=500000- \"stale\" 200 $size" ] && [ -d "$BOXES/cache-VAGRANTSLASH-changed/0/envup-amd64" ]'
head -c 500000 /dev/urandom >"$key.part"
printf '{"url": null, "etag": "\\"stale\\"", "complete": false}' >"$key.json"
check "a damaged cache record (\"url\": null) is ignored: the box is fetched again" \
	envbox add "$H/cached.box" --name cache/nullurl --checksum "$sum" --checksum-type sha256 -q

# Transient server errors are retried with backoff.
cp "$WWW/test/envup-amd64.box" "$WWW/test/flaky.box"
rules '{"/test/flaky.box": {"status": 503, "status_times": 2}}'
envbox add "$H/flaky.box" --name flaky/box -q
codes=$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["status"]) for l in open(sys.argv[1]) if json.loads(l)["path"]=="/test/flaky.box"))' "$LOG")
check_sh "HTTP 503 twice, then served: retried and installed ($codes)" \
	'[ "$codes" = "503 503 200" ] && [ -d "$BOXES/flaky-VAGRANTSLASH-box/0/envup-amd64" ]'
rules '{}'

# Killed while importing: the work directory is the only trace, and the next add removes it.
python3 -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(5).randbytes(96<<20))' "$T/src/big.raw"
qemu-img create -q -f qcow2 "$T/src/huge.qcow2" 100T
mk envup "$T/huge.box" "$T/src/huge.qcow2" qcow2 amd64 --compress none
err=$(envbox add "$T/huge.box" --name hostile/hugedisk 2>&1); rc=$?
check_sh "a disk claiming more than 64 TiB is refused before conversion" \
	'[ $rc -eq 1 ] && grep -q "over the limit of 64 TiB" <<<"$err" && [ ! -e "$BOXES/hostile-VAGRANTSLASH-hugedisk" ]'
mk envup "$T/big.box" "$T/src/big.raw" raw amd64 --compress none
rm "$T/src/big.raw"
"$ENVCTL" box add "$T/big.box" --name kill/import -q &
pid=$!
work=$BOXES/.tmp/kill-VAGRANTSLASH-import.work
for _ in $(seq 2000); do [ -e "$work/metadata.json" ] && break; sleep 0.005; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -d "$work" ]; then
	check_sh "killed during import: nothing in the store, only the work directory" \
		'[ ! -e "$BOXES/kill-VAGRANTSLASH-import" ] && ! installed | grep -q kill/import'
	envbox add "$WWW/test/envup-amd64.box" --name other/box -q
	check "the next add sweeps the killed add's work directory" [ ! -e "$work" ]
else
	skip "killed during import" "the add finished before it could be killed"
fi
rm -f "$T/big.box"

# ---- concurrent adds do the work once ------------------------------------------------------
cp "$WWW/test/envup-amd64.box" "$WWW/test/conc.box"
rules '{"/test/conc.box": {"rate": 3000000}}'
envbox add "$H/conc.box" --name conc/box --json >"$T/c1" 2>&1 & p1=$!
envbox add "$H/conc.box" --name conc/box --json >"$T/c2" 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
check_sh "two concurrent adds both succeed, one finds it installed" \
	'[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$(cat "$T/c1" "$T/c2" | grep -c "\"already_installed\":true")" = 1 ]'
check "and the box was downloaded once" [ "$(served /test/conc.box "$LOG")" = "$size" ]
rules '{}'

# ---- TLS ------------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=envup-test-ca \
	-keyout "$T/ca.key" -out "$T/ca.pem" -addext basicConstraints=critical,CA:true 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/ext" -out "$T/srv.pem" 2>/dev/null
start_server tls --cert "$T/srv.pem" --key "$T/srv.key"
HTTPS=https://127.0.0.1:$(cat "$T/tls.port")
err=$(envbox add "$HTTPS/test/envup-amd64.box" --name tls/box 2>&1); rc=$?
check_sh "TLS from an unknown CA is refused, with a --cacert hint" \
	'[ $rc -eq 1 ] && grep -q -- --cacert <<<"$err"'
envbox add "$HTTPS/test/envup-amd64.box" --name tls/box --cacert "$T/ca.pem" -q
check "TLS with --cacert" [ -d "$BOXES/tls-VAGRANTSLASH-box/0/envup-amd64" ]
envbox add "$HTTPS/test/envup-amd64.box" --name tls/insecure --insecure -q
check "TLS with --insecure" [ -d "$BOXES/tls-VAGRANTSLASH-insecure/0/envup-amd64" ]

# ---- box flavours -----------------------------------------------------------------------------
mk libvirt2 "$T/lv2.box" "$T/src/disk.qcow2" "$T/src/extra.qcow2" --compress zst
envbox add "$T/lv2.box" --name flavour/libvirt2 -q
d=$BOXES/flavour-VAGRANTSLASH-libvirt2/0/libvirt-unknown
check_sh "libvirt v2 (tar.zst): disks[0] becomes base.qcow2, the others stay" \
	'qemu-img compare -q "$d/base.qcow2" "$T/src/pattern.raw" && [ -f "$d/extra.qcow2" ]'
mk envup "$T/zip.box" "$T/src/disk.qcow2" qcow2 amd64 --compress zip --kernel
envbox add "file://$T/zip.box" --name flavour/zip -q
d=$BOXES/flavour-VAGRANTSLASH-zip/0/envup-amd64
check_sh "envup box as zip with kernel, initrd and cmdline recorded" \
	'grep -q "\"kernel\": *\"boot/vmlinuz\"" "$d/envup-box.json" && grep -q "\"cmdline\": *\"console=ttyS0\"" "$d/envup-box.json"'
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/src/pattern.raw" "$T/src/d1.vmdk"
qemu-img create -q -f raw "$T/src/small.raw" 2M
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/src/small.raw" "$T/src/d2.vmdk"
# box.ovf attaches disk002 first: the main disk is d1 only if the OVF order were ignored.
mk virtualbox "$T/vbox.box" "$T/src/d2.vmdk" "$T/src/d1.vmdk" --compress none
if err=$(envbox add "$T/vbox.box" --name flavour/vbox 2>&1); then
	d=$BOXES/flavour-VAGRANTSLASH-vbox/0/virtualbox-unknown
	check "virtualbox box: OVF attachment order picks the main streamOptimized VMDK" \
		qemu-img compare -q "$d/base.qcow2" "$T/src/pattern.raw"
else
	not_ok "virtualbox box: $err"
fi

qemu-img convert -f raw -O vmdk "$T/src/pattern.raw" "$T/src/sparse.vmdk"
mk vmware "$T/vmware.box" "$T/src/sparse.vmdk" "$T/src/d2.vmdk"
envbox add "$T/vmware.box" --name flavour/vmware -q
check "vmware_desktop box: the .vmx's first monolithicSparse VMDK becomes base.qcow2" \
	qemu-img compare -q "$BOXES/flavour-VAGRANTSLASH-vmware/0/vmware_desktop-unknown/base.qcow2" "$T/src/pattern.raw"
# A split VMDK (descriptor + extent files) past 4 GiB, with data in its second extent.
cp --sparse=always "$T/src/pattern.raw" "$T/src/split.raw"
truncate -s 4608M "$T/src/split.raw"
printf 'in the second extent' | dd of="$T/src/split.raw" bs=1M seek=3072 conv=notrunc 2>/dev/null
qemu-img convert -f raw -O vmdk -o subformat=twoGbMaxExtentSparse "$T/src/split.raw" "$T/src/split.vmdk"
mk vmware "$T/vmsplit.box" "$T/src/split.vmdk" "$T/src/d2.vmdk" "$T"/src/split-s00?.vmdk
err=$(envbox add "$T/vmsplit.box" --name flavour/vmsplit 2>&1); rc=$?
[ $rc -eq 0 ] || echo "# $err"
check_sh "vmware_desktop box with a split VMDK (3 extent files) is imported (qemu-img compare)" \
	'[ $rc -eq 0 ] && qemu-img compare -q "$BOXES/flavour-VAGRANTSLASH-vmsplit/0/vmware_desktop-unknown/base.qcow2" "$T/src/split.raw"'
check "the split VMDK's extent files are removed with its descriptor once converted" \
	[ -z "$(ls "$BOXES/flavour-VAGRANTSLASH-vmsplit/0/vmware_desktop-unknown/" | grep '^split')" ]
rm -f "$T"/src/split*

# ---- hostile archives -------------------------------------------------------------------------
for kind in traversal absolute symlink dotlink hardsym linkchain users hardlink device huge nometa; do
	mk hostile $kind "$T/h-$kind.box"
done
mkdir -p "$T/deep/a/b"
cp "$T"/h-*.box "$T/deep/a/b/"
(
	cd "$T/deep/a/b" || exit 1
	expect() { # KIND PATTERN
		local err rc
		err=$("$ENVCTL" box add "h-$1.box" --name hostile/$1 2>&1); rc=$?
		if [ $rc -eq 1 ] && echo "$err" | grep -q "$2" && [ ! -e "$BOXES/hostile-VAGRANTSLASH-$1" ]; then
			echo "ok - hostile archive '$1' refused: $(echo "$err" | grep -m1 "error:" | cut -c1-140)"
		else
			echo "not ok - hostile archive '$1' (rc $rc): $err"
		fi
	}
	expect traversal "leaves the box"
	expect absolute "absolute path"
	expect symlink "points outside the box"
	expect dotlink "link 'd/./link' -> '../../escaped-dotlink' points outside"
	expect hardsym "link 'l2' -> '../../escaped-hardsym' points outside"
	expect linkchain "link 'b' -> 'a/a/a/a/a/a/../../../../../../victim' leads outside the box"
	expect users "the box holds 'users'"
	expect hardlink "hard link 'passwd' -> '../../../../etc/passwd' points outside"
	expect device "device node"
	expect huge "over the limit"
	expect nometa "no metadata.json"
) | tee "$T/hostile.out"
_failures=$((_failures + $(grep -c '^not ok' "$T/hostile.out")))
check "nothing escaped the work directory" \
	[ ! -e "$T/deep/escaped.txt" -a ! -e "$T/escaped.txt" -a ! -e "$T/deep/a/escaped.txt" -a ! -e /tmp/envup-escaped-absolute.txt ]
check "no work directory left behind" [ -z "$(ls -A "$BOXES/.tmp" 2>/dev/null)" ]

# ---- outdated, update, remove, prune ------------------------------------------------------------
rm -rf "$BOXES/test-VAGRANTSLASH-multi"
envbox add test/multi --box-version 1.2.0 -q
check "outdated names the newer version" \
	sh -c "'$ENVCTL' box outdated test/multi | grep -q 'test/multi 1.2.0 (envup, amd64): outdated, 1.10.0 is available'"
envbox update test/multi -q
check "update installs it" [ -d "$BOXES/test-VAGRANTSLASH-multi/1.10.0/envup-amd64" ]
envbox add test/multi --box-version 1.9.0 -q
# A machine uses 1.2.0: the record a provider writes (docs/boxes.md).
mkdir -p "$T/project/.envup/machines/web" "$BOXES/test-VAGRANTSLASH-multi/1.2.0/envup-amd64/users"
echo -n "$T/project/.envup/machines/web" >"$BOXES/test-VAGRANTSLASH-multi/1.2.0/envup-amd64/users/web"
err=$(envbox remove test/multi --box-version 1.2.0 2>&1); rc=$?
check_sh "remove refuses a version a machine uses" '[ $rc -eq 1 ] && grep -q "used by 1 machine" <<<"$err"'
err=$(envbox remove test/multi 2>&1); rc=$?
check "remove with several versions asks which (exit 2)" [ $rc -eq 2 ]
envbox prune -q
check "prune keeps the newest and the one in use, removes the rest" \
	[ -d "$BOXES/test-VAGRANTSLASH-multi/1.10.0" -a -d "$BOXES/test-VAGRANTSLASH-multi/1.2.0" -a ! -e "$BOXES/test-VAGRANTSLASH-multi/1.9.0" ]
rm -rf "$T/project"
envbox prune -q
check "once the machine is gone, prune removes its version" \
	[ ! -e "$BOXES/test-VAGRANTSLASH-multi/1.2.0" -a -d "$BOXES/test-VAGRANTSLASH-multi/1.10.0" ]
envbox remove slow/box -q
check "remove" [ ! -e "$BOXES/slow-VAGRANTSLASH-box" ]
finish
