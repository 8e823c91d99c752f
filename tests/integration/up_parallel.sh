#!/usr/bin/env bash
# envup of several machines against a real sshd (static provider): independent machines come
# up at the same time, a machine starts only after those it depends on are up, every output
# line names its machine, a failing machine leaves the others finished, its dependents not
# started, a summary and exit status 1; envreload halts and brings machines up again (run:
# once not repeated, --provision repeats it); a SIGKILLed envup leaves no process of its own.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/sshd.sh"
sshd_up "parallel envup"
project_dir
sshd_trust_key "$P/key" par-key
C="$T/times"
mkdir -p "$C"
chmod 777 "$C"
dead_port=$(free_port)
# step NAME: records when the machine's provisioning started and ended, 3 s apart
step() { echo "date +%s.%N >$C/$1.start; sleep 3; echo $1-provisioned; date +%s.%N >$C/$1.end"; }
cat >Envfile <<EOT
version: 1
defaults:
  provider: static
  static: {host: 127.0.0.1, port: $SSH_PORT}
  ssh: {user: $SSH_USER, private_key: key}
  boot_timeout: 20
  synced_folders: [{host: ., guest: /vagrant, disabled: true}]
machines:
  alpha:
    provision: [{shell: {name: s, inline: "$(step alpha)"}}]
  beta:
    provision:
      - shell: {name: s, inline: "$(step beta)"}
      - shell: {name: counted, inline: "echo x >>$C/beta.count"}
  gamma:
    depends_on: [alpha, beta]
    provision:
      - shell: {name: s, inline: "$(step gamma)"}
      - shell: {name: long, inline: "head -c 3000 /dev/zero | tr '\\\\0' x; echo"}
  broken:
    static: {host: 127.0.0.1, port: $dead_port}
    boot_timeout: 2
  after-broken:
    depends_on: [broken]
    provision: [{shell: {name: s, inline: "echo x >$C/after-broken.ran"}}]
EOT

"$ENVCTL" up >"$T/up.out" 2>"$T/up.err"
rc=$?
check_sh "envup fails when one machine fails (status $rc)" '[ $rc -eq 1 ]'
check "independent machines provision at the same time" python3 - "$C" <<'PY'
import sys
d = sys.argv[1]
t = {n: (float(open(f"{d}/{n}.start").read()), float(open(f"{d}/{n}.end").read())) for n in ("alpha", "beta")}
(a0, a1), (b0, b1) = t["alpha"], t["beta"]
sys.exit(0 if a0 < b1 and b0 < a1 else 1)
PY
check "a machine starts after those it depends on are up" python3 - "$C" <<'PY'
import sys
d = sys.argv[1]
r = lambda n, w: float(open(f"{d}/{n}.{w}").read())
sys.exit(0 if r("gamma", "start") > max(r("alpha", "end"), r("beta", "end")) else 1)
PY
check "the machines that could come up did" \
	sh -c "grep -q '^    gamma: gamma-provisioned' '$T/up.out' && '$ENVCTL' status gamma | grep -q 'gamma .*running'"
check "a dependent of the failed machine is not started" \
	sh -c "[ ! -e '$C/after-broken.ran' ] && grep -q 'after-broken: not started: depends on broken' '$T/up.out'"
check "the summary names the failure" grep -q "^    broken: FAILED after [0-9]* s: .*did not answer" "$T/up.out"
check "the summary counts the machines up" grep -q "^==> 3 of 5 machines up:" "$T/up.out"
check "the error goes to stderr, named" grep -q "^broken: error: machine 'broken'" "$T/up.err"
check "every output line names its machine" sh -c "! grep -vE '^(==> |    )?(alpha|beta|gamma|broken|after-broken): |^==> 3 of 5 machines up:' '$T/up.out'"
check_sh "a line longer than a pipe read arrives whole, in named pieces" \
	'[ "$(grep -E "^(    )?gamma: x+$" "$T/up.out" | sed -E "s/^ *gamma: //" | tr -d "\n" | wc -c)" -eq 3000 ]'
check "the remote output of each machine is prefixed" grep -q "^    alpha: alpha-provisioned" "$T/up.out"

"$ENVCTL" up alpha beta >"$T/up2.out" 2>&1
check "envup of running machines succeeds" [ $? -eq 0 ]
check "the summary lists both" sh -c "grep -q '^    alpha: up' '$T/up2.out' && grep -q '^    beta: up' '$T/up2.out'"

"$ENVCTL" reload beta >"$T/reload.out" 2>&1
rc=$?
check_sh "envreload (status $rc)" '[ $rc -eq 0 ]'
check "envreload halts, then brings up" \
	sh -c "grep -n 'beta: Halting' '$T/reload.out' | cut -d: -f1 | head -1 >'$T/h'; grep -n 'beta: Bringing machine up' '$T/reload.out' | cut -d: -f1 >'$T/u'; [ \$(cat '$T/h') -lt \$(cat '$T/u') ]"
check "envreload does not repeat run: once steps" sh -c "[ \$(wc -l <'$C/beta.count') -eq 1 ]"
check "envreload of one machine leaves the others alone" sh -c "! grep -q alpha '$T/reload.out'"
"$ENVCTL" reload beta --provision >"$T/reload2.out" 2>&1
check "envreload --provision repeats them" sh -c "[ \$(wc -l <'$C/beta.count') -eq 2 ]"
"$ENVCTL" halt alpha >/dev/null 2>&1
"$ENVCTL" reload alpha >"$T/reload3.out" 2>&1
check "envreload of a halted machine brings it up" sh -c "'$ENVCTL' status alpha | grep -q 'alpha .*running'"
"$ENVCTL" reload nosuch >"$T/reload4.out" 2>&1
rc=$?
check_sh "envreload of an unknown machine is an error naming it (status $rc)" \
	'[ $rc -ne 0 ] && grep -q nosuch "$T/reload4.out"'
check "envreload is in the command list" sh -c "'$ENVCTL' help | grep -q '^  reload '"

# SIGKILL of a parallel envup takes its machines' processes with it; the next envup finishes.
"$ENVCTL" up --provision alpha beta >"$T/kill.out" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ "$(grep -c 'Running provisioner: s ' "$T/kill.out")" -ge 2 ] && break
	sleep 0.1
done
kids=$(pgrep -P "$pid" | tr '\n' ' ')
kill -9 "$pid"
wait "$pid" 2>/dev/null
sleep 1
# alive PID...: one of them runs (a zombie is not running: its parent may reap it later)
alive() { for k in "$@"; do [ -e /proc/$k ] && [ "$(awk '{print $3}' /proc/$k/stat 2>/dev/null)" != Z ] && return 0; done; return 1; }
check_sh "a killed envup had a process per machine ($kids), and none is left" \
	'[ "$(echo $kids | wc -w)" -eq 2 ] && ! alive $kids'
"$ENVCTL" up alpha beta >"$T/after-kill.out" 2>&1
check "envup after the kill finishes" grep -q "^==> 2 of 2 machines up:" "$T/after-kill.out"
"$ENVCTL" destroy -f >/dev/null 2>&1
finish
