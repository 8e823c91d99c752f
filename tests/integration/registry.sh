#!/usr/bin/env bash
# Team registries against a real nginx (Debian's nginx-light: WebDAV PUT/DELETE/MKCOL) on
# 127.0.0.1: envbox package (envup, libvirt, virtualbox flavours checked by qemu-img and by
# envup's own importer), publish of two versions and add with a constraint, 20 rounds of two
# concurrent publishers, the catalog lookup past a static server's redirect/403/HTML, private
# registries with tokens (config.yaml token_env/token_file, ENVUP_REGISTRY_TOKEN, 0644 token
# file refused, wrong token, -v masking, a redirect to 127.0.0.2 that must not carry the
# token), and envbox index over a tree served by nginx.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$ENVUP_SRC/tests/integration
export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
unset ENVUP_REGISTRY ENVUP_REGISTRY_TOKEN
mkdir -p "$XDG_CONFIG_HOME/envup" "$T/www/reg" "$T/www/private" "$T/www/static" "$T/www/noetag" "$T/other" "$T/ngx"
envbox() { "$ENVCTL" box "$@"; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }
installed() { envbox list --json | python3 -c 'import json,sys; print(" ".join(sorted("%s@%s:%s" % (b["name"],b["version"],b["provider"]) for b in json.load(sys.stdin))))'; }
clean_store() { rm -rf "$XDG_DATA_HOME" "$XDG_CACHE_HOME"; }

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	skip "registry tests" "nginx is not installed (make deps installs nginx-light)"
	finish
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
P1=$(free_port)
P2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0)); print(s.getsockname()[1])')
TOKEN=tok-$RANDOM-s3cret-$RANDOM
# The worker must be able to write the scratch tree: as root it runs as root.
[ "$(id -u)" = 0 ] && user_line="user root;" || user_line=""
cat >"$T/ngx/nginx.conf" <<EOF
$user_line
daemon on;
worker_processes 2;
pid $T/ngx/nginx.pid;
error_log $T/ngx/error.log;
events { worker_connections 256; }
http {
  log_format auth '\$server_addr \$request_method \$uri "\$http_authorization"';
  client_body_temp_path $T/ngx/body;
  proxy_temp_path $T/ngx/proxy; fastcgi_temp_path $T/ngx/fcgi;
  uwsgi_temp_path $T/ngx/uwsgi; scgi_temp_path $T/ngx/scgi;
  map \$http_authorization \$bad_token { "Bearer $TOKEN" 0; default 1; }
  server {
    listen 127.0.0.1:$P1;
    root $T/www;
    access_log $T/ngx/access.log auth;
    client_max_body_size 0;
    location /reg/ {
      dav_methods PUT DELETE MKCOL;
      create_full_put_path on;
    }
    location /static/ { autoindex on; }
    location /noetag/ {
      etag off;
      dav_methods PUT DELETE;
      create_full_put_path on;
    }
    location /private/ {
      if (\$bad_token) { return 401; }
      dav_methods PUT DELETE MKCOL;
      create_full_put_path on;
    }
    location /private/moved/ {
      if (\$bad_token) { return 401; }
      return 302 http://127.0.0.2:$P2/elsewhere/\$uri;
    }
  }
  server {
    listen 127.0.0.2:$P2;
    root $T/other;
    access_log $T/ngx/other.log auth;
  }
}
EOF
if ! "$NGINX" -c "$T/ngx/nginx.conf" -p "$T/ngx" 2>"$T/ngx/start.err"; then
	not_ok "nginx did not start: $(cat "$T/ngx/start.err")"
	finish
fi
at_exit 'kill $(cat "$T/ngx/nginx.pid") 2>/dev/null'
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$P1/" && break; sleep 0.05; done
U=http://127.0.0.1:$P1

# ---- envbox package -----------------------------------------------------------------------
python3 "$HERE/images_pattern.py" "$T/disk.raw" $((8 << 20)) 5
qemu-img convert -f raw -O qcow2 "$T/disk.raw" "$T/disk.qcow2"
out=$(envbox package --image "$T/disk.qcow2" --output "$T/e.box" 2>&1)
sum=$(sha256sum "$T/e.box" | cut -d' ' -f1)
check_sh "package --image writes an envup box and prints its sha256" 'grep -q "sha256 $sum" <<<"$out"'
envbox package --image "$T/disk.raw" --flavour libvirt --output "$T/lv.box" -q >/dev/null
mkdir "$T/lv" && tar -C "$T/lv" -xf "$T/lv.box"
check "libvirt flavour: box.img is accepted by qemu-img check" qemu-img check -q "$T/lv/box.img"
check "libvirt flavour: box.img holds the disk (qemu-img compare)" qemu-img compare -q "$T/lv/box.img" "$T/disk.raw"
check "libvirt flavour: metadata as vagrant-libvirt documents it (provider, format, virtual_size in GB)" \
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["provider"]=="libvirt" and m["format"]=="qcow2" and isinstance(m["virtual_size"],int) and m["virtual_size"]*2**30>=8<<20' "$T/lv/metadata.json"
envbox package --image "$T/disk.qcow2" --flavour virtualbox --output "$T/vb.box" -q >/dev/null
mkdir "$T/vb" && tar -C "$T/vb" -xf "$T/vb.box"
check "virtualbox flavour: an OVF naming a streamOptimized VMDK" \
	grep -q 'box-disk001.vmdk.*\|streamOptimized' "$T/vb/box.ovf"
check "virtualbox flavour: the VMDK is accepted by qemu-img check" qemu-img check -q "$T/vb/box-disk001.vmdk"
check_sh "virtualbox flavour: qemu-img reads it as streamOptimized with the disk's data" \
	'qemu-img info "$T/vb/box-disk001.vmdk" | grep -q streamOptimized && qemu-img compare -q "$T/vb/box-disk001.vmdk" "$T/disk.raw"'
# A mostly empty 600 GiB disk: zero runs are skipped whole, not read grain by grain (the timeout
# only guards against a hang; reading 600 GiB of zeroes would take many minutes).
qemu-img create -q -f qcow2 "$T/huge.qcow2" 600G
qemu-io -c 'write -P 0x5a 300G 64k' "$T/huge.qcow2" >/dev/null
rc=0
timeout 120 envbox package --image "$T/huge.qcow2" --flavour virtualbox --output "$T/huge.box" -q >/dev/null || rc=$?
mkdir "$T/huge" && tar -C "$T/huge" -xf "$T/huge.box" 2>/dev/null
check_sh "virtualbox flavour of a 600 GiB sparse disk: written without reading its zeroes, same data" \
	'[ $rc -eq 0 ] && qemu-img compare -q "$T/huge/box-disk001.vmdk" "$T/huge.qcow2"'
rm -rf "$T/huge" "$T/huge.box" "$T/huge.qcow2"
dir=$(envbox add "$T/vb.box" --name t/vb --json | jget '["dir"]')
check "virtualbox flavour: envup's own importer reads the OVF and its VMDK" \
	qemu-img compare -q "$dir/base.qcow2" "$T/disk.raw"
# --machine without a VM (tests/integration/package_machine.sh packages a real one): a machine
# never brought up, and one that is not in the Envfile, are refused by name.
mkdir -p "$T/proj"
printf 'version: 1\nmachines:\n  web:\n    provider: qemu\n    box: t/vb\n' >"$T/proj/Envfile"
err=$(cd "$T/proj" && envbox package --machine web --output "$T/m.box" 2>&1); rc=$?
check_sh "package --machine refuses a machine not created, saying what to do" \
	'[ $rc -eq 1 ] && grep -q "machine .web. is not created.*envup web" <<<"$err" && [ ! -e "$T/m.box" ]'
err=$(cd "$T/proj" && envbox package --machine nosuch --output "$T/m.box" 2>&1); rc=$?
check_sh "package --machine names a machine the Envfile lacks" '[ $rc -ne 0 ] && grep -q "nosuch" <<<"$err"'
err=$(envbox package --image "$T/disk.qcow2" --flavour libvirt --kernel /etc/hostname --output "$T/x.box" 2>&1); rc=$?
check_sh "--kernel is refused for a flavour that boots from its disk" '[ $rc -ne 0 ] && grep -q "envup flavour" <<<"$err"'
envbox repackage t/vb 0 virtualbox --flavour libvirt --output "$T/re.box" -q >/dev/null
mkdir "$T/re" && tar -C "$T/re" -xf "$T/re.box"
check "repackage writes an installed box back out (its disk intact)" qemu-img compare -q "$T/re/box.img" "$T/disk.raw"

# ---- publish to nginx, add with a constraint --------------------------------------------------
clean_store
python3 "$HERE/images_pattern.py" "$T/disk2.raw" $((8 << 20)) 9
envbox package --image "$T/disk2.raw" --output "$T/e2.box" -q >/dev/null
envbox publish "$T/e.box" --registry "$U/reg" --name team/base --box-version 1.0.0 --description "team base" -q
envbox publish "$T/e2.box" --registry "$U/reg" --name team/base --box-version 1.2.0 -q
envbox publish "$T/e.box" --registry "$U/reg" --name team/base --box-version 2.0.0 -q
check "publish PUTs the box where envbox index would look (org/name/VERSION/PROVIDER-ARCH.box)" \
	cmp -s "$T/e2.box" "$T/www/reg/team/base/1.2.0/envup-amd64.box"
check "the catalog holds every version with URL, sha256 and size" \
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); p={v["version"]:v["providers"][0] for v in c["versions"]}; assert sorted(p)==["1.0.0","1.2.0","2.0.0"] and c["description"]=="team base" and all(x["checksum_type"]=="sha256" and len(x["checksum"])==64 and x["size"]>0 and x["url"].startswith("http") for x in p.values())' "$T/www/reg/team/base.json"
check "no lock is left behind" test ! -e "$T/www/reg/team/base.json.lock"
envbox publish "$T/e.box" --registry "$U/noetag" --name team/base --box-version 1.0.0 -q
rc=0
err=$(envbox publish "$T/e2.box" --registry "$U/noetag" --name team/base --box-version 1.1.0 -q 2>&1) || rc=$?
check_sh "a server with neither ETags nor a lock (MKCOL): the catalog is not rewritten blindly, the error says why" \
	'[ $rc -eq 1 ] && grep -q "no ETag" <<<"$err" && grep -q "1.0.0" "$T/www/noetag/team/base.json" && ! grep -q "1.1.0" "$T/www/noetag/team/base.json"'
ENVUP_REGISTRY=$U/reg envbox add team/base --box-version "~> 1.0" -q
dir=$(envbox list --json | jget '[0]["dir"]')
check_sh "add '~> 1.0' from a clean store gets 1.2.0, its checksum verified" \
	'[ "$(installed)" = "team/base@1.2.0:envup" ] && grep -q "\"checksum\": *\"$(sha256sum "$T/e2.box" | cut -d" " -f1)\"" "$dir/envup-box.json" && qemu-img compare -q "$dir/base.qcow2" "$T/disk2.raw"'
err=$(envbox publish "$T/e.box" --registry "$U/reg" --name team/base --box-version 1.2 2>&1); rc=$?
check_sh "publishing a version that exists is refused (1.2 is 1.2.0), naming --force" \
	'[ $rc -eq 1 ] && grep -q -- "--force" <<<"$err" && cmp -s "$T/e2.box" "$T/www/reg/team/base/1.2.0/envup-amd64.box"'
check "with --force it is replaced" envbox publish "$T/e.box" --registry "$U/reg" --name team/base --box-version 1.2.0 --force -q
out=$(ENVUP_REGISTRY=$U/reg envbox outdated --json)
check_sh "outdated follows the published catalog (2.0.0 is newer)" 'grep -q "\"latest\":\"2.0.0\"" <<<"$out"'

# ---- concurrent publishers ----------------------------------------------------------------
lost=0 retried=0
for i in $(seq 20); do
	envbox publish "$T/vb.box" --registry "$U/reg" --name team/race --box-version "1.$i.0" --json >"$T/a.json" 2>"$T/a.err" &
	a=$!
	envbox publish "$T/vb.box" --registry "$U/reg" --name team/race --box-version "2.$i.0" --json >"$T/b.json" 2>"$T/b.err" &
	b=$!
	wait $a || { lost=$((lost + 1)); cat "$T/a.err"; }
	wait $b || { lost=$((lost + 1)); cat "$T/b.err"; }
done
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["versions"]))' "$T/www/reg/team/race.json")
check_sh "20 rounds of two concurrent publishers: every publish succeeds and the catalog has all 40 versions ($n)" \
	'[ $lost -eq 0 ] && [ "$n" -eq 40 ]'
check "the publishers took the registry's lock (MKCOL)" grep -q '"locked":true' "$T/a.json"

# ---- lookups past what a static server answers --------------------------------------------
mkdir -p "$T/www/static/team"
cp -r "$T/www/reg/team/base" "$T/www/static/team/"
sed "s#$U/reg/#$U/static/#g" "$T/www/reg/team/base.json" >"$T/www/static/team/base.json"
cp -r "$T/www/reg/team/race" "$T/www/static/team/race"
sed "s#$U/reg/#$U/static/#g" "$T/www/reg/team/race.json" >"$T/www/static/team/race.json"
curl -s -o /dev/null -w '%{http_code}' "$U/static/team/race" >"$T/code"
clean_store
ENVUP_REGISTRY=$U/static envbox add team/race --box-version 2.3.0 -q
check_sh "GET org/name redirected to the directory's HTML listing: org/name.json is tried next ($(cat "$T/code"))" \
	'[ "$(installed)" = "team/race@2.3.0:virtualbox" ]'
clean_store
# nginx without autoindex answers a directory with 403 after its 301: /reg/team/base
code=$(curl -s -o /dev/null -w '%{http_code}' -L "$U/reg/team/base")
ENVUP_REGISTRY=$U/reg envbox add team/base --box-version 1.0.0 -q
check_sh "GET org/name redirected to a directory that answers 403 ($code): org/name.json is tried next" \
	'[ "$code" = 403 ] && [ "$(installed)" = "team/base@1.0.0:envup" ]'
err=$(ENVUP_REGISTRY=$U/reg envbox add team/nothing 2>&1); rc=$?
check_sh "a box that is nowhere: the error names every URL tried" \
	'[ $rc -eq 1 ] && grep -q "$U/reg/team/nothing (HTTP 404)" <<<"$err" && grep -q "$U/reg/team/nothing.json (HTTP 404)" <<<"$err"'

# ---- index -------------------------------------------------------------------------------
mkdir -p "$T/www/idx/acme/tool/0.9/" "$T/www/idx/acme/tool/1.1/" "$T/www/idx/acme/tool/notes"
cp "$T/e.box" "$T/www/idx/acme/tool/0.9/envup-amd64.box"
cp "$T/lv.box" "$T/www/idx/acme/tool/1.1/libvirt-amd64.box"
cp "$T/e2.box" "$T/www/idx/acme/tool/1.1/envup-amd64.box"
echo hi >"$T/www/idx/acme/tool/1.1/README"
out=$(envbox index "$T/www/idx" --base-url "$U/idx/" 2>&1)
check_sh "index writes the catalog with every box and skips what does not fit, saying so" \
	'grep -q "indexed 3 box files into 1 catalog" <<<"$out" && grep -q "skipped .*README" <<<"$out" && grep -q "skipped .*notes" <<<"$out"'
clean_store
ENVUP_REGISTRY=$U/idx envbox add acme/tool --provider libvirt -q
dir=$(envbox list --json | jget '[0]["dir"]')
check_sh "an indexed tree served by nginx is a registry (add picks 1.1 libvirt, checksum verified)" \
	'[ "$(installed)" = "acme/tool@1.1:libvirt" ] && grep -q "\"checksum\": *\"$(sha256sum "$T/lv.box" | cut -d" " -f1)\"" "$dir/envup-box.json"'
envbox index "$T/www/idx" -q
check "without --base-url the catalog's URLs are relative (the tree can move)" \
	grep -q '"url": "tool/1.1/envup-amd64.box"' "$T/www/idx/acme/tool.json"
clean_store
envbox add "$T/www/idx/acme/tool.json" --box-version 0.9 -q
check "a relative index is read by the existing catalog code from a directory too" \
	[ "$(installed)" = "acme/tool@0.9:envup" ]

# ---- publishing to a directory ------------------------------------------------------------
envbox publish "$T/e.box" --registry "$T/share" --name team/dir --box-version 1.0 -q
envbox publish "$T/e2.box" --registry "$T/share" --name team/dir --box-version 1.1 -q
for i in $(seq 10); do
	envbox publish "$T/vb.box" --registry "$T/share" --name team/drace --box-version "1.$i" -q &
	envbox publish "$T/vb.box" --registry "$T/share" --name team/drace --box-version "2.$i" -q &
	wait
done
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["versions"]))' "$T/share/team/drace.json")
check "concurrent publishers into a directory lose no version ($n of 20)" [ "$n" -eq 20 ]
clean_store
ENVUP_REGISTRY=$T/share envbox add team/dir -q
check "a directory registry is read by add (1.1)" [ "$(installed)" = "team/dir@1.1:envup" ]
err=$(envbox publish "$T/e.box" --registry "$T/share" --name team/dir --box-version 1.1 2>&1); rc=$?
check_sh "directory: an existing version is refused" '[ $rc -eq 1 ] && grep -q -- "--force" <<<"$err"'

# ---- private registries --------------------------------------------------------------------
export REG_TOKEN=$TOKEN
printf 'registries:\n  - url: %s/private\n    token_env: REG_TOKEN\n' "$U" >"$XDG_CONFIG_HOME/envup/config.yaml"
envbox publish "$T/e.box" --registry "$U/private" --name sec/box --box-version 1.0 -q
check "publish to a private registry with token_env" test -f "$T/www/private/sec/box.json"
clean_store
out=$(envbox add sec/box -v 2>&1)
check_sh "add from it with the token (-v shows 'Authorization: Bearer ****', never the token)" \
	'[ "$(installed)" = "sec/box@1.0:envup" ] && grep -q "Authorization: Bearer \*\*\*\*" <<<"$out" && ! grep -q "$TOKEN" <<<"$out"'
check "the token is written nowhere in the store, cache or download records" \
	bash -c '! grep -rq "$0" "$1" "$2"' "$TOKEN" "$XDG_DATA_HOME" "$XDG_CACHE_HOME"
check "nginx saw the token on the catalog and on the box" \
	grep -q "GET /private/sec/box/1.0/envup-amd64.box \"Bearer $TOKEN\"" "$T/ngx/access.log"
unset REG_TOKEN
clean_store
err=$(envbox add sec/box 2>&1); rc=$?
check_sh "token_env unset: a clear error naming the registry and the variable" \
	'[ $rc -eq 1 ] && grep -q "registry $U/private refused access (HTTP 401)" <<<"$err" && grep -q "REG_TOKEN (not set)" <<<"$err"'
export REG_TOKEN=wrong
err=$(envbox add sec/box 2>&1); rc=$?
check_sh "a wrong token: exit 1, 'refused access', never the token" \
	'[ $rc -eq 1 ] && grep -q "refused access (HTTP 401) with the token from token_env REG_TOKEN" <<<"$err" && ! grep -q wrong <<<"$err"'
err=$(envbox publish "$T/e.box" --registry "$U/private" --name sec/box --box-version 3.0 2>&1); rc=$?
check_sh "publish with a wrong token: the same clear error" '[ $rc -eq 1 ] && grep -q "refused access" <<<"$err"'
unset REG_TOKEN
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"
printf 'registries:\n  - url: %s/private/\n    token_file: %s\n' "$U" "$T/token" >"$XDG_CONFIG_HOME/envup/config.yaml"
check "token_file with mode 0600 is used" envbox add sec/box -q
chmod 644 "$T/token"
err=$(envbox add sec/box --force 2>&1); rc=$?
check_sh "token_file readable by others (0644) is refused, naming config.yaml's line and chmod 600" \
	'[ $rc -ne 0 ] && grep -q "config.yaml:3:.*token file $T/token is accessible by others (mode 0644); run chmod 600" <<<"$err"'
rm "$XDG_CONFIG_HOME/envup/config.yaml"
clean_store
ENVUP_REGISTRY=$U/private ENVUP_REGISTRY_TOKEN=$TOKEN envbox add sec/box -q
check "ENVUP_REGISTRY_TOKEN goes with ENVUP_REGISTRY" [ "$(installed)" = "sec/box@1.0:envup" ]
check "ENVUP_REGISTRY_TOKEN goes with publish --registry" \
	env ENVUP_REGISTRY_TOKEN="$TOKEN" "$ENVCTL" box publish "$T/e2.box" --registry "$U/private" --name sec/box --box-version 1.1 -q

# A catalog on the private registry whose box redirects to another host (127.0.0.2).
mkdir -p "$T/other/elsewhere/private/moved" "$T/www/private/sec"
cp "$T/e.box" "$T/other/elsewhere/private/moved/x.box"
s=$(sha256sum "$T/e.box" | cut -d' ' -f1)
printf '{"name":"sec/moved","versions":[{"version":"1.0","providers":[{"name":"envup","url":"%s/private/moved/x.box","checksum_type":"sha256","checksum":"%s"}]}]}' \
	"$U" "$s" >"$T/www/private/sec/moved.json"
: >"$T/ngx/other.log"
clean_store
ENVUP_REGISTRY=$U/private ENVUP_REGISTRY_TOKEN=$TOKEN envbox add sec/moved -q
check_sh "a redirect to 127.0.0.2 is followed without the token" \
	'[ "$(installed)" = "sec/moved@1.0:envup" ] && grep -q "GET /elsewhere/private/moved/x.box \"-\"" "$T/ngx/other.log" && ! grep -q "$TOKEN" "$T/ngx/other.log"'
check "... while 127.0.0.1 got it with the request that redirected" \
	grep -q "GET /private/moved/x.box \"Bearer $TOKEN\"" "$T/ngx/access.log"
printf '{"name":"sec/abs","versions":[{"version":"1.0","providers":[{"name":"envup","url":"http://127.0.0.2:%s/elsewhere/private/moved/x.box","checksum_type":"sha256","checksum":"%s"}]}]}' \
	"$P2" "$s" >"$T/www/private/sec/abs.json"
: >"$T/ngx/other.log"
ENVUP_REGISTRY=$U/private ENVUP_REGISTRY_TOKEN=$TOKEN envbox add sec/abs -q
check_sh "a box URL on another host in a private catalog gets no token" \
	'grep -q "GET /elsewhere/private/moved/x.box \"-\"" "$T/ngx/other.log"'
finish
