#!/usr/bin/env bash
# The SSH login against a real OpenSSH sshd on 127.0.0.1: waiting for an sshd that starts late,
# the insecure-key replacement in the authorized_keys sshd reads (and its end after an envup
# killed midway), host key pinning, envssh exit statuses, envssh-config used by a real
# `ssh -F`, halt and destroy with the static provider.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/sshd.sh"
sshd_require "ssh login"

sshd_user || { not_ok "create a test user"; finish; }
sshd_config
P="$T/project"
mkdir -p "$P"
cd "$P" || exit 1
cat >Envfile <<EOT
version: 1
machines:
  web:
    provider: static
    static: {host: 127.0.0.1, port: $SSH_PORT}
    ssh: {user: $SSH_USER}
    boot_timeout: 30
    # The "guest" is this host: no project copy on its /vagrant (tests/integration/rsync.sh).
    synced_folders: [{host: ., guest: /vagrant, disabled: true}]
EOT
M="$P/.envup/machines/web"
BLOB=$(awk '{print $2}' "$ENVUP_SRC/data/keys/vagrant.pub")

# 1. sshd comes up two seconds after envup starts: envup waits and reports it.
sshd_start 2
"$ENVCTL" up >"$T/up.out" 2>&1
rc=$?
check "envup waits for an sshd that starts late" [ "$rc" -eq 0 ]
check "envup reports what it waits for" grep -q "waiting for" "$T/up.out"
[ "$rc" -eq 0 ] || cat "$T/up.out"

# 2. The insecure key is replaced in the file sshd reads.
AK="$SSH_HOME/.ssh/authorized_keys"
check "insecure key removed from authorized_keys" bash -c "! grep -qF '$BLOB' '$AK'"
check "machine key added to authorized_keys" grep -q "envup-web" "$AK"
check "per-machine key is mode 0600" [ "$(stat -c %a "$M/id_ed25519")" = 600 ]
check "authorized_keys is still mode 0600" [ "$(stat -c %a "$AK")" = 600 ]
check "state.json records the inserted key" grep -q '"insecure_key_removed":true' "$M/state.json"
cp "$ENVUP_SRC/data/keys/vagrant" "$T/insecure" && chmod 600 "$T/insecure"
SSHOPTS=(-o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no
	-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p "$SSH_PORT")
check "real ssh with the insecure key is refused" \
	bash -c "! ssh ${SSHOPTS[*]} -i '$T/insecure' '$SSH_USER@127.0.0.1' true 2>/dev/null"
check "real ssh with the machine key works" \
	ssh "${SSHOPTS[@]}" -i "$M/id_ed25519" "$SSH_USER@127.0.0.1" true

out=$("$ENVCTL" up --provider qemu 2>&1)
rc=$?
check "envup --provider other on a made machine is refused" [ "$rc" -eq 2 ]
check "  ... naming the provider that made it" grep -q "was made by provider 'static'" <<<"$out"

# 3. envssh -c: the remote exit status becomes envssh's; output comes through.
out=$("$ENVCTL" ssh -c 'echo hello; exit 7' 2>&1)
check "envssh -c passes exit status 7" [ $? -eq 7 ]
check "envssh -c shows the output" [ "$out" = hello ]
"$ENVCTL" ssh web -c 'true'
check "envssh -c passes exit status 0" [ $? -eq 0 ]
out=$("$ENVCTL" ssh -- printf '%s|' 'a b' "it's")
check "envssh -- ARGS runs the words quoted" [ "$out" = "a b|it's|" ]
out=$(echo piped | "$ENVCTL" ssh -c 'cat; exit 3')
rc=$?
check "envssh -c forwards stdin and status" [ "$rc.$out" = 3.piped ]
out=$("$ENVCTL" ssh -c 'yes' | head -n 2 | tr '\n' ,)
check "envssh -c ends when its output pipe closes" [ "$out" = "y,y," ]
out=$("$ENVCTL" ssh -t -c 'tty')
check "envssh -t -c runs on a remote pty" grep -q "^/dev/pts/" <<<"$out"
out=$("$ENVCTL" ssh -c 'tty')
check "envssh -c without -t has no pty" grep -q "not a tty" <<<"$out"
"$ENVCTL" ssh -c 'kill -9 $$'
check "envssh -c: a command killed by a signal gives 255" [ $? -eq 255 ]

# Interactive: a pty, raw mode, window-size changes, exit status (driven through a real pty).
python3 "$ENVUP_SRC/tests/integration/helpers/pty_session.py" "$ENVCTL" 2>&1 | tee "$T/pty.out"
[ "$(grep -c '^ok - envssh interactive' "$T/pty.out")" -eq 5 ] || not_ok "envssh interactive session"

# 4. envssh-config is usable by OpenSSH as is (strict host key checking on the pinned key).
"$ENVCTL" ssh-config >"$T/ssh_config"
check "envssh-config succeeds" [ $? -eq 0 ]
check "envssh-config pins host key checking" grep -q "StrictHostKeyChecking yes" "$T/ssh_config"
out=$(ssh -F "$T/ssh_config" -o BatchMode=yes web 'echo via-openssh' 2>&1)
check "ssh -F with envssh-config logs in" [ "$out" = via-openssh ]

# 5. A changed host key is refused, says so and says how to reset; the pin is unchanged.
cp "$M/known_host" "$T/pin.before"
sshd_stop
sshd_config
sshd_start
out=$("$ENVCTL" ssh -c true 2>&1)
rc=$?
echo "$out"
check "changed host key: envssh fails" [ "$rc" -eq 1 ]
check "changed host key: the error says so" grep -q "host key .* has changed" <<<"$out"
check "changed host key: the error says how to reset" grep -q "envdestroy web" <<<"$out"
check "changed host key: the pin is unchanged" cmp -s "$T/pin.before" "$M/known_host"
check "changed host key: real ssh -F refuses too" \
	bash -c "! ssh -F '$T/ssh_config' -o BatchMode=yes web true 2>/dev/null"
"$ENVCTL" up >/dev/null 2>&1
check "changed host key: envup fails too" [ $? -eq 1 ]
# The server now offers only another type of host key: refused at once, not waited for.
sshd_stop
sshd_config ecdsa
sshd_start
out=$("$ENVCTL" ssh -c true 2>&1)
rc=$?
echo "$out"
check "host key of another type: refused" [ "$rc" -eq 1 ]
check "host key of another type: the error says so, without waiting" \
	grep -q "no longer offers a host key of the type pinned" <<<"$out"

# 6. halt records it; ssh to a halted machine is refused; destroy forgets keys and state.
"$ENVCTL" halt >/dev/null
check "envhalt succeeds" [ $? -eq 0 ]
check "envstatus shows halted" bash -c "'$ENVCTL' status | grep -q 'web .*halted'"
out=$("$ENVCTL" ssh -c true 2>&1); echo "$out"
check "envssh to a halted machine is refused" grep -q "is halted" <<<"$out"
"$ENVCTL" destroy </dev/null >/dev/null 2>&1
check "envdestroy without -f and without a terminal is a usage error" [ $? -eq 2 ]
"$ENVCTL" destroy -f >/dev/null
check "envdestroy -f succeeds" [ $? -eq 0 ]
check "envdestroy removes keys, pin and state" [ ! -e "$M" ]
check "envstatus shows not created" bash -c "'$ENVCTL' status | grep -q 'web .*not created'"

# 7. envup killed between adding the machine's key and removing the insecure one (the
# "key-added" stop point): the next envup logs in with the machine's key and removes the
# insecure key then, instead of leaving it trusted for good.
cp "$ENVUP_SRC/data/keys/vagrant.pub" "$AK" && chown "$SSH_USER:" "$AK" && chmod 600 "$AK"
ENVUP_TEST_STOP=key-added "$ENVCTL" up >"$T/kill.out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && break; sleep 0.1; done
kill -9 "$pid"
wait "$pid" 2>/dev/null
cat "$T/kill.out"
check_sh "killed with both keys in authorized_keys" \
	'grep -qF "$BLOB" "$AK" && grep -q "envup-web" "$AK" && ! grep -q "insecure_key_removed\":true" "$M/state.json"'
"$ENVCTL" up >"$T/resume.out" 2>&1
rc=$?
cat "$T/resume.out"
check_sh "the next envup finishes the swap it left" \
	'[ $rc -eq 0 ] && grep -q "finishing the key swap" "$T/resume.out" && ! grep -qF "$BLOB" "$AK"'
check "  ... and records it" grep -q '"insecure_key_removed":true' "$M/state.json"
check "  ... the insecure key is refused, the machine's works" bash -c \
	"! ssh ${SSHOPTS[*]} -i '$T/insecure' '$SSH_USER@127.0.0.1' true 2>/dev/null && ssh ${SSHOPTS[*]} -i '$M/id_ed25519' '$SSH_USER@127.0.0.1' true"
"$ENVCTL" up >"$T/again.out" 2>&1
check "  ... once: a later envup does not say it again" bash -c "! grep -q 'finishing the key swap' '$T/again.out'"
"$ENVCTL" destroy -f >/dev/null

# 8. Provider choice: auto is vmm with hardware KVM, else qemu (with a notice).
cat >"$T/Envfile.auto" <<EOT
version: 1
machines:
  box1:
    box: debian/bookworm64
EOT
out=$(ENVUP_ENVFILE="$T/Envfile.auto" "$ENVCTL" up 2>&1); echo "$out"
check "provider auto: a box that is not installed and has no registry is a clear error naming it" \
	grep -q "error: box 'debian/bookworm64': no registry to look it up in" <<<"$out"
if ! { [ -c /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; }; then
	check "provider auto without hardware KVM: qemu, with the one-line notice that it is slow" \
		grep -q "box1: no hardware virtualization here: qemu emulates in software, which is slow" <<<"$out"
fi
finish
