#!/usr/bin/env bash
# needs: kvm
# needs: demo-box
# slow: two Debian boots in the nested KVM lab (4-6 min there)
# lab-timeout: 1500
# Kills through the vmm provider with the direct-boot demo box, as machines_qemu_kill.sh does
# through the qemu provider: envup SIGKILLed while the overlay is made, while it waits for SSH
# and between adding the machine's own key and removing the insecure one; envvmm SIGKILLed (a
# crashed VMM). Each time the next envup resumes or envdestroy cleans, and envdestroy leaves no
# process, socket, port or state.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

vmm_require_kvm || finish
BOXES=${ENVUP_DEMO_BOXES:-$ENVUP_BUILD/demo-box}
if [ ! -f "$BOXES/demo-envup.box" ] &&
	! bash "$ENVUP_SRC/tests/boxes/build-demo-box.sh" "$BOXES" >"$T/box.log" 2>&1; then
	tail -5 "$T/box.log"
	not_ok "vmm kill tests: no demo box in $BOXES and it could not be built here"
	finish
fi
export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
BIN=$(dirname "$ENVCTL")
P=$T/project
mkdir -p "$P" && cd "$P" || exit 1
M=.envup/machines/k
web_port=$(free_port)
cat >Envfile <<EOT
version: 1
machines:
  k:
    provider: vmm
    box: demo/envup
    box_url: $BOXES/demo-envup.box
    memory: 512
    boot_timeout: 900
    synced_folders: [{host: ., guest: /vagrant, disabled: true}]
    forwarded_ports: [{guest: 8080, host: $web_port}]
    provision:
      - shell: {name: once, inline: "echo ran >>/root/once.count; echo once-ran"}
EOT
at_exit "cd '$P' && '$BIN/envdestroy' -f >/dev/null 2>&1 </dev/null"
vmms() { pgrep -f "$P/[.]envup/machines/" || true; }
ssh_port() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['ssh_port'])" "$M/state.json"; }
ssh_with() { # KEY: log in with that key only, as plain ssh would
	ssh -q -i "$1" -p "$(ssh_port)" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=20 \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null vagrant@127.0.0.1 true
}
cp "$ENVUP_SRC/data/keys/vagrant" "$T/insecure" && chmod 600 "$T/insecure"

# ---- SIGKILL while the overlay is made ------------------------------------------------------
ENVUP_TEST_STOP=clone "$BIN/envup" >"$T/u1.log" 2>&1 &
pid=$!
wait_for 300 "stopped $pid"
kill -9 "$pid"
wait "$pid" 2>/dev/null
check_sh "killed with the overlay made but not in place, no envvmm" \
	'[ -e $M/disk.qcow2.tmp ] && [ ! -e $M/disk.qcow2 ] && [ -z "$(vmms)" ]'
check_sh "envstatus: not created" '[ "$(state_of)" = not_created ]'

# ---- SIGKILL while waiting for SSH ------------------------------------------------------------
echo "# booting the machine (minutes under the lab's TCG)"
"$BIN/envup" >"$T/u2.log" 2>&1 &
pid=$!
wait_for 120 '[ -n "$(vmms)" ] && grep -q "waiting for SSH\|Bringing machine up" "$T/u2.log"'
sleep 3
check_sh "envup resumed after the kill during the clone: envvmm runs on the overlay" \
	'[ -n "$(vmms)" ] && [ -e $M/disk.qcow2 ] && [ ! -e $M/disk.qcow2.tmp ]'
check_sh "still waiting for SSH when killed" '! grep -q "SSH ready" "$T/u2.log"'
kill -9 "$pid"
wait "$pid" 2>/dev/null
check_sh "envvmm runs on after envup was killed ($(state_of)), even if killed before it recorded so" \
	'[ "$(state_of)" = running ] && [ -n "$(vmms)" ]'

# ---- SIGKILL between adding the machine's key and removing the insecure one ---------------------
ENVUP_TEST_STOP=key-added "$BIN/envup" >"$T/u3.log" 2>&1 &
pid=$!
wait_for 900 "stopped $pid"
kill -9 "$pid"
wait "$pid" 2>/dev/null
check_sh "killed in the key swap: both keys log in" 'ssh_with "$M/id_ed25519" && ssh_with "$T/insecure"'
"$BIN/envup" >"$T/u4.log" 2>&1
rc=$?
check_sh "the next envup finishes the swap and provisions (status $rc)" \
	'[ $rc -eq 0 ] && grep -q "finishing the key swap" "$T/u4.log" && grep -q "once-ran" "$T/u4.log"'
[ $rc -eq 0 ] || tail -20 "$T/u4.log" | sed 's/^/#   /'
check_sh "only the machine's key logs in now" '! ssh_with "$T/insecure" && ssh_with "$M/id_ed25519"'

# ---- a crashed VMM ---------------------------------------------------------------------------
"$BIN/envssh" k -c 'echo kept | sudo tee /root/kept.txt >/dev/null; sync' >/dev/null 2>&1
sport=$(ssh_port)
kill -9 "$(cat $M/pid)"
check_sh "a SIGKILLed envvmm is aborted" 'wait_for 10 "[ \"\$(state_of)\" = aborted ]"'
echo "# booting the machine again after the crash"
"$BIN/envup" >"$T/u5.log" 2>&1
rc=$?
check_sh "envup brings the crashed machine back (status $rc)" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || tail -20 "$T/u5.log" "$M/vmm.log" 2>/dev/null | sed 's/^/#   /'
check "on the same disk" sh -c "'$BIN/envssh' k -c 'sudo cat /root/kept.txt' 2>/dev/null | grep -qx kept"
check "run: once was not repeated" sh -c "'$BIN/envssh' k -c 'sudo cat /root/once.count' 2>/dev/null | wc -l | grep -qx 1"

# ---- envdestroy leaves nothing ------------------------------------------------------------------
sport=$(ssh_port)
"$BIN/envdestroy" -f >"$T/d.log" 2>&1
check_sh "envdestroy: no envvmm, no directory" '[ -z "$(vmms)" ] && [ ! -e $M ]'
check_sh "every port is free" 'port_free $sport && port_free $web_port'
finish
