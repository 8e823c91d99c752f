#!/usr/bin/env bash
# slow: boots Debian machines under QEMU's TCG (minutes on 2 cores)
# Kills through the qemu provider with the demo box: envup SIGKILLed while it downloads the box
# (from a real nginx on 127.0.0.1, slowed down), while the overlay is made, while it waits for
# SSH, between adding the machine's own key and removing the insecure one, while rsync syncs a
# folder and while a step provisions; the qemu process SIGKILLed (a crashed hypervisor). Each
# time the next envup resumes or envdestroy cleans, and envhalt/envdestroy leave no process,
# socket, port, overlay or state. Two projects with a machine of the same name and the same
# forwarded port run side by side without sharing a port, socket or disk (one project's path
# has a comma).
source "$(dirname "$0")/lib.sh"
qemu_demo_setup "qemu kill tests"
source "$ENVUP_SRC/tests/bench/nginx.inc"
[ -x "$(command -v nginx || echo /usr/sbin/nginx)" ] || { skip "qemu kill tests" "no nginx (make deps)"; finish; }
nginx_require
# Project A's box comes from nginx at 40 MiB/s: a download long enough to be killed in.
mkdir -p "$T/ngx/www"
ln -s "$BOXES/demo-libvirt.box" "$T/ngx/www/demo-libvirt.box"
nginx_start "$T/ngx" "
  log_format ranges '\$status \$http_range';" "
    access_log $T/ngx/access.log ranges;
    location / { limit_rate 40m; }"
at_exit "nginx_stop '$T/ngx'"
A=$T/a B=$T/b,2 # a comma: QEMU's option lists need it doubled
web_port=$(free_port)
for d in "$A" "$B"; do
	mkdir -p "$d"
	url=$BOXES/demo-libvirt.box folder="{host: ., guest: /vagrant, disabled: true}"
	if [ "$d" = "$A" ]; then
		url=http://127.0.0.1:$NGINX_PORT/demo-libvirt.box
		folder="$folder, {host: tree, guest: /home/vagrant/tree}"
	fi
	cat >"$d/Envfile" <<EOT
version: 1
machines:
  k:
    provider: qemu
    box: demo/libvirt
    box_url: $url
    memory: 384
    boot_timeout: 900
    synced_folders: [$folder]
    forwarded_ports:
      - {guest: 8080, host: $web_port, auto_correct: true}
    provision:
      - shell: {name: slow, inline: "echo slow-started; sleep 15; echo slow-done"}
      - shell: {name: once, inline: "echo ran >>/root/once.count; echo once-ran"}
EOT
done
at_exit "'$BIN/envdestroy' -f >/dev/null 2>&1 </dev/null; cd '$A' && '$BIN/envdestroy' -f >/dev/null 2>&1 </dev/null"
# qemu processes of project dir $1
qemus() { pgrep -f "$1/[.]envup/machines/" || true; }
M=.envup/machines/k
sshp() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['ssh_port'])" "$1/$M/state.json"; }
fwdp() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['forwarded_ports'][0]['host'])" "$1/$M/state.json"; }
# Project A's rsync folder: 64 MiB in 256 files, seconds of rsync under TCG.
python3 -c 'import os,sys
for i in range(256):
    d = os.path.join(sys.argv[1], "d%02d" % (i % 16)); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "f%03d" % i), "wb").write(os.urandom(256 << 10))' "$A/tree"
parts() { find "$XDG_CACHE_HOME/envup/downloads" -name '*.part' -size +"$1"M 2>/dev/null; }

# ---- SIGKILL while the box downloads ---------------------------------------------------------
cd "$A" || exit 1
"$BIN/envup" >"$T/a0.log" 2>&1 &
pid=$!
wait_for 60 '[ -n "$(parts 64)" ]'
kill -9 "$pid"
wait "$pid" 2>/dev/null
check_sh "killed while the box downloaded: part of it kept, the box store untouched" \
	'[ -n "$(parts 64)" ] && ! "$BIN/envbox" list | grep -q demo/libvirt && [ ! -e $M/disk.qcow2 ]'

# ---- SIGKILL while the overlay is made ------------------------------------------------------
ENVUP_TEST_STOP=clone "$BIN/envup" >"$T/a1.log" 2>&1 &
pid=$!
wait_for 300 "stopped $pid"
kill -9 "$pid"
wait "$pid" 2>/dev/null
check_sh "the next envup resumed the download (a Range request answered 206)" \
	'grep -q "^206 bytes=[1-9]" "$T/ngx/access.log" && "$BIN/envbox" list | grep -q demo/libvirt'
check_sh "killed with the overlay made but not in place" \
	'[ -e $M/disk.qcow2.tmp ] && [ ! -e $M/disk.qcow2 ] && [ -z "$(qemus "$A")" ]'
check_sh "envstatus: not created" '[ "$(state_of)" = not_created ]'
"$BIN/envdestroy" -f >"$T/a1d.log" 2>&1
check_sh "envdestroy cleans what the killed envup left" '[ ! -e .envup/machines/k ]'
"$BIN/envbox" remove demo/libvirt >"$T/rm.log" 2>&1
check "the box is used by nobody after that (envbox remove without --force)" \
	sh -c "! '$BIN/envbox' list | grep -q demo/libvirt"
ENVUP_TEST_STOP=clone "$BIN/envup" >"$T/a2.log" 2>&1 &
pid=$!
wait_for 300 "stopped $pid"
kill -9 "$pid"
wait "$pid" 2>/dev/null

# ---- SIGKILL while waiting for SSH; project B comes up at the same time -------------------
"$BIN/envup" >"$T/a3.log" 2>&1 &
pid=$!
(cd "$B" && exec "$BIN/envup" >"$T/b1.log" 2>&1) &
bpid=$!
wait_for 120 '[ -n "$(qemus "$A")" ] && grep -q "waiting for SSH\|Bringing machine up" "$T/a3.log"'
sleep 3
check_sh "envup resumed after a kill during the clone, the machine boots" \
	'[ -n "$(qemus "$A")" ] && [ -e $M/disk.qcow2 ] && [ ! -e $M/disk.qcow2.tmp ]'
check_sh "still waiting for SSH when killed" '! grep -q "SSH ready" "$T/a3.log"'
kill -9 "$pid"
wait "$pid" 2>/dev/null
check_sh "the machine runs on after envup was killed" '[ "$(state_of)" = running ] && [ -n "$(qemus "$A")" ]'

# ---- SIGKILL between adding the machine's own key and removing the insecure one ---------------
ENVUP_TEST_STOP=key-added "$BIN/envup" >"$T/a3k.log" 2>&1 &
pid=$!
wait_for 900 "stopped $pid"
kill -9 "$pid"
wait "$pid" 2>/dev/null
ssh_with() { # KEY: log in to A's machine with that key only, as plain ssh would
	ssh -q -i "$1" -p "$(sshp "$A")" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null vagrant@127.0.0.1 true
}
cp "$ENVUP_SRC/data/keys/vagrant" "$T/insecure" && chmod 600 "$T/insecure"
check_sh "killed with both keys in authorized_keys" 'ssh_with "$A/$M/id_ed25519" && ssh_with "$T/insecure"'

# ---- SIGKILL while rsync syncs a folder -----------------------------------------------------
"$BIN/envup" >"$T/a3r.log" 2>&1 &
pid=$!
rsyncs() { pgrep -f "rsync .*$A/tree/" || true; }
wait_for 900 '[ -n "$(rsyncs)" ]'
check "the next envup logged in and started rsync" [ -n "$(rsyncs)" ]
kill -9 "$pid"
wait "$pid" 2>/dev/null
check_sh "the killed envup's rsync ends with it" 'wait_for 10 "[ -z \"\$(rsyncs)\" ]"'

# ---- SIGKILL during provisioning -------------------------------------------------------------
"$BIN/envup" >"$T/a4.log" 2>&1 &
pid=$!
wait_for 900 'grep -q slow-started "$T/a4.log"'
check "the next envup reaches provisioning on the same machine" grep -q "slow-started" "$T/a4.log"
kill -9 "$pid"
wait "$pid" 2>/dev/null
"$BIN/envup" >"$T/a5.log" 2>&1
rc=$?
check_sh "envup after a kill in a step finishes (status $rc)" '[ $rc -eq 0 ] && grep -q "^slow-done" "$T/a5.log"'
[ $rc -eq 0 ] || tail -30 "$T/a5.log"
check "the killed step runs again, the rest once" \
	sh -c "'$BIN/envssh' k -c 'sudo cat /root/once.count' 2>/dev/null | wc -l | grep -qx 1"
check_sh "the key swap finished after its kill: the insecure key refused, the own key works" \
	'! ssh_with "$T/insecure" && ssh_with "$A/$M/id_ed25519"'
check_sh "the folder synced whole after the rsync kill" \
	'[ "$("$BIN/envssh" k -c "cd tree && find . -type f | sort | xargs md5sum" 2>/dev/null | md5sum)" = \
	   "$(cd tree && find . -type f | sort | xargs md5sum | md5sum)" ]'

# ---- two projects side by side ---------------------------------------------------------------
wait "$bpid"
brc=$?
check_sh "project B's machine of the same name came up alongside (status $brc)" '[ $brc -eq 0 ]'
[ $brc -eq 0 ] || tail -30 "$T/b1.log"
check_sh "different SSH ports ($(sshp "$A"), $(sshp "$B"))" '[ "$(sshp "$A")" != "$(sshp "$B")" ]'
check_sh "the same forwarded port auto-corrected in one ($(fwdp "$A"), $(fwdp "$B"))" \
	'[ "$(fwdp "$A")" != "$(fwdp "$B")" ] && grep -q "auto_correct" "$T/b1.log" "$T/a3.log"'
check_sh "each qemu uses its own project's disk and QMP socket" \
	'tr "\0" " " </proc/$(cat $A/$M/pid)/cmdline | grep -q "file=$A/$M/disk.qcow2.*path=$A/$M/qmp.sock" &&
	 tr "\0" " " </proc/$(cat "$B/$M/pid")/cmdline | grep -q "file=${B//,/,,}/$M/disk.qcow2.*path=${B//,/,,}/$M/qmp.sock" &&
	 ! tr "\0" " " </proc/$(cat $B/$M/pid)/cmdline | grep -q "$A/"'
check_sh "the disks are two overlays on one base" \
	'[ "$(stat -c %i $A/$M/disk.qcow2)" != "$(stat -c %i $B/$M/disk.qcow2)" ] &&
	 [ "$(qemu-img info -U --output=json $A/$M/disk.qcow2 | grep -o "\"backing-filename\": *\"[^\"]*\"")" = "$(qemu-img info -U --output=json $B/$M/disk.qcow2 | grep -o "\"backing-filename\": *\"[^\"]*\"")" ]'

# ---- a crashed hypervisor ------------------------------------------------------------------
cd "$B" || exit 1
"$BIN/envssh" k -c 'echo kept | sudo tee /root/kept.txt >/dev/null; sync' >/dev/null 2>&1
bport=$(sshp "$B")
kill -9 "$(cat $M/pid)"
check_sh "a SIGKILLed qemu is aborted" 'wait_for 10 "[ \"\$(state_of)\" = aborted ]"'
"$BIN/envup" >"$T/b2.log" 2>&1
rc=$?
check_sh "envup brings the crashed machine back (status $rc)" '[ $rc -eq 0 ]'
check "on the same disk" sh -c "'$BIN/envssh' k -c 'sudo cat /root/kept.txt' 2>/dev/null | grep -qx kept"
check "project A's machine ran on throughout" sh -c "cd '$A' && '$BIN/envstatus' k | grep -q 'k .*running'"

# ---- envhalt and envdestroy leave nothing ---------------------------------------------------
cd "$A" || exit 1
aport=$(sshp "$A") afwd=$(fwdp "$A")
"$BIN/envhalt" >"$T/ah.log" 2>&1
check_sh "envhalt: no process, pidfile or socket; the disk kept" \
	'[ -z "$(qemus "$A")" ] && [ ! -e $M/pid ] && [ ! -e $M/qmp.sock ] && [ -e $M/disk.qcow2 ] && [ "$(state_of)" = halted ]'
check_sh "envhalt: its ports are free" 'port_free $aport && port_free $afwd'
"$BIN/envdestroy" -f >"$T/ad.log" 2>&1
cd "$B" && "$BIN/envdestroy" -f >"$T/bd.log" 2>&1
check_sh "envdestroy (running and halted): no process, no directory" \
	'[ -z "$(qemus "$A")$(qemus "$B")" ] && [ ! -e "$A/$M" ] && [ ! -e "$B/$M" ]'
check_sh "every port is free" 'port_free $aport && port_free $bport && port_free $web_port && port_free $afwd'
check_sh "no qemu of either project anywhere" '! pgrep -af qemu-system | grep -q "$T/"'
finish
