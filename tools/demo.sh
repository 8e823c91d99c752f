#!/usr/bin/env bash
# make demo: envup's main path on this machine with real virtual machines, nothing from the
# internet but Debian's archive (once, for the demo box).
#  1. checks Envfile.example (every key envup knows);
#  2. builds the demo box (tests/boxes/build-demo-box.sh: debootstrap Debian 12; cached, so a
#     rerun takes seconds) and serves its libvirt and VirtualBox flavours as a team registry
#     from nginx on 127.0.0.1 (envbox index turns the tree of boxes into catalogs);
#  3. runs Envfile.example's environment (db, and web that depends on it, a forwarded port, a
#     synced folder, provisioning) through the qemu provider: envup fetches both boxes from the
#     registry, makes linked-clone disks, boots, provisions; then the forwarded port from the
#     host, envstatus, envssh -c, envhalt, envup again (disk kept, run: once steps not
#     repeated), envdestroy. Each step is printed with its time.
# Without hardware KVM qemu emulates the CPU (TCG): the boots take minutes.
# Needs root (debootstrap for the box, as `make deps` does).
set -u
cd "$(dirname "$0")/.."
SRC=$PWD
BIN=$SRC/build/rel/bin
export PATH=$BIN:$PATH # the commands as a person types them
W=$SRC/build/demo
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
now() { date +%s.%N; }
times=()
# run CMD...: prints the command, runs it, prints and records how long it took
run() {
	local t0 rc a shown=""
	for a in "$@"; do # as typed: words with spaces or ';' in single quotes
		[[ $a =~ [[:space:]\;\$] ]] && a="'$a'"
		shown+="${shown:+ }$a"
	done
	bold "\$ $shown"
	t0=$(now)
	"$@"
	rc=$?
	local took
	took=$(printf '%.1f' "$(echo "$(now) - $t0" | bc)")
	echo "    ($took s)"
	times+=("$(printf '%7s s  %s' "$took" "$shown")")
	return $rc
}
fail() { echo "demo: $*" >&2; exit 1; }

run env ENVUP_ENVFILE="$SRC/Envfile.example" envvalidate || fail "Envfile.example is not valid"
[ "$(id -u)" -eq 0 ] || fail "the rest needs root (debootstrap for the demo box); run 'sudo make demo'"
command -v qemu-system-x86_64 >/dev/null || fail "no qemu-system-x86_64: 'make deps' installs it"

# A previous run's machines go first (a demo stopped half-way leaves them).
if [ -d "$W/project/.envup" ]; then
	(cd "$W/project" && XDG_DATA_HOME=$W/data "$BIN/envdestroy" -f >/dev/null 2>&1)
fi
[ -f "$W/ngx/nginx.pid" ] && kill "$(cat "$W/ngx/nginx.pid")" 2>/dev/null
rm -rf "$W/project" "$W/registry" "$W/ngx" "$W/data"
mkdir -p "$W/project" "$W/ngx" "$W/registry/demo/bookworm/12.0.0" "$W/registry/demo/bookworm-ovf/12.0.0"

bold "== the demo box (Debian 12 from Debian's archive; about 11 minutes the first time)"
run bash tests/boxes/build-demo-box.sh "$W/boxes" || fail "the demo box could not be built"
ln -f "$W/boxes/demo-libvirt.box" "$W/registry/demo/bookworm/12.0.0/libvirt-amd64.box"
ln -f "$W/boxes/demo-virtualbox.box" "$W/registry/demo/bookworm-ovf/12.0.0/virtualbox-amd64.box"
run envbox index "$W/registry" || fail "envbox index failed"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$W/ngx/nginx.conf" <<EOF
user root;
daemon on;
worker_processes 1;
pid $W/ngx/nginx.pid;
error_log $W/ngx/error.log;
events { worker_connections 64; }
http {
  access_log $W/ngx/access.log;
  client_body_temp_path $W/ngx/body; proxy_temp_path $W/ngx/proxy;
  fastcgi_temp_path $W/ngx/fcgi; uwsgi_temp_path $W/ngx/uwsgi; scgi_temp_path $W/ngx/scgi;
  server { listen 127.0.0.1:$PORT; root $W/registry; }
}
EOF
run "$NGINX" -c "$W/ngx/nginx.conf" -p "$W/ngx" || fail "nginx did not start"
trap 'kill $(cat "$W/ngx/nginx.pid") 2>/dev/null' EXIT

# The project: Envfile.example's machines, its boxes from the registry above. The box store
# is the demo's own (XDG_DATA_HOME), so the demo fetches and leaves yours alone.
export XDG_DATA_HOME=$W/data
cd "$W/project" || exit 1
cp "$SRC/tools/demo-web/"* .
cat >Envfile <<EOF
version: 1
registries: [http://127.0.0.1:$PORT]
defaults:
  provider: qemu                # the box flavours below boot under QEMU (KVM, else TCG)
  memory: 512
  boot_timeout: 1200
  provision:
    - shell: "echo common first step on \$(hostname)"
machines:
  db:
    box: demo/bookworm-ovf      # the VirtualBox flavour: OVF and a streamOptimized VMDK
    box_version: ">= 12.0, < 13"
    hostname: db.local
    synced_folders: [{host: ., guest: /vagrant, disabled: true}]
    provision:
      - shell:
          name: install-db
          inline: "mkdir -p /srv/db && date >/srv/db/created && echo ran >>/root/once.count"
          run: once
  web:
    primary: true
    depends_on: [db]
    box: demo/bookworm          # the libvirt flavour: box.img (qcow2)
    hostname: web.local
    forwarded_ports:
      - {guest: 80, host: 8080, auto_correct: true}
    synced_folders:
      - {host: ., guest: /vagrant, disabled: true}
      - {host: ., guest: /srv/project, exclude: [Envfile]}
    provision:
      - shell:
          name: app-setup       # a web server on port 80: systemd socket activation
          inline: "cp /srv/project/hello.socket /srv/project/hello@.service /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now hello.socket && echo ran >>/root/once.count"
      - shell: {name: every-time, inline: "echo up since \$(uptime -s)", run: always}
EOF
bold "\$ cat Envfile"
cat Envfile

run envup || fail "envup failed"
run envstatus
fwd=$(python3 -c 'import json; print(json.load(open(".envup/machines/web/state.json"))["forwarded_ports"][0]["host"])')
run curl -sS "http://127.0.0.1:$fwd/" || fail "the forwarded port does not answer"
echo "(the guest's port 80 on the host's 127.0.0.1:$fwd)"
run envssh -c 'hostname; ls /srv/project; sudo cat /root/once.count' ||
	fail "envssh failed"
run envssh db -c 'hostname; cat /srv/db/created'
run envhalt
run envstatus
run envup || fail "the second envup failed"
echo "(the disks were kept; run: once steps did not run again, run: always did)"
run envssh -c 'sudo cat /root/once.count; uptime -s'
run envdestroy -f
run envstatus
bold "== the steps and their times"
printf '%s\n' "${times[@]}"
echo
echo "demo: done"
