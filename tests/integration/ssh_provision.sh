#!/usr/bin/env bash
# Provisioning over SSH against a real sshd: a multi-MiB upload checked byte for byte, a tree
# uploaded with its modes, streamed output, sudo, run: once/always/never, --provision-with,
# a failing step that stops the run and is named, two machines with prefixed output.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/sshd.sh"
sshd_up "ssh provisioning"
project_dir
mkdir -p "$P/tree/sub"

# A second machine on the same sshd logs in with a key the Envfile names (the insecure key is
# gone once the first machine replaced it).
sshd_trust_key "$P/db_key" db-key
head -c $((6 * 1024 * 1024 + 12345)) /dev/urandom >"$P/big.bin"
printf '#!/bin/sh\necho tool\n' >"$P/tree/tool.sh"
chmod 750 "$P/tree/tool.sh"
echo secret >"$P/tree/sub/conf"
chmod 640 "$P/tree/sub/conf"
chmod 2750 "$P/tree/sub"
printf '#!/bin/sh\necho "script args: $1 $2"\n' >"$P/script.sh"
C="$T/counts"
mkdir -p "$C"
chmod 777 "$C"

cat >Envfile <<EOT
version: 1
# The "guest" is this host: no project copy on its /vagrant (tests/integration/rsync.sh).
defaults:
  synced_folders: [{host: ., guest: /vagrant, disabled: true}]
machines:
  web:
    provider: static
    static: {host: 127.0.0.1, port: $SSH_PORT}
    ssh: {user: $SSH_USER}
    depends_on: [db, extra]
    boot_timeout: 20
    provision:
      - file: {name: big, source: big.bin, destination: up/big.bin}
      - file: {name: tree, source: tree, destination: "~/up/tree"}
      - shell:
          name: whoami
          inline: "echo privileged=\$(id -un)"
      - shell:
          name: plain
          inline: "echo plain=\$(id -un) \$GREETING"
          privileged: false
          env: {GREETING: "hi there"}
      - shell: {name: script, path: script.sh, args: [x, "y z"]}
      - shell:
          name: stream
          inline: |
            echo stream-start
            for i in \$(seq 150); do [ -e $T/go ] && { echo streamed-ok; exit 0; }; sleep 0.1; done
            echo not-streamed; exit 1
      - shell:
          name: long
          inline: "seq 1 100000"
      - shell: {name: once-step, inline: "echo x >>$C/once", run: once}
      - shell: {name: always-step, inline: "echo x >>$C/always", run: always}
      - shell: {name: never-step, inline: "echo x >>$C/never", run: never}
      - shell: {name: failing, inline: "echo about to fail; exit 3", run: never}
      - shell: {name: after-failing, inline: "echo x >>$C/after", run: never}
  db:
    provider: static
    static: {host: 127.0.0.1, port: $SSH_PORT}
    ssh: {user: $SSH_USER, private_key: db_key}
    provision:
      - shell: "echo db-step-ran"
  extra:
    provider: static
    static: {host: 127.0.0.1, port: $SSH_PORT}
    ssh: {user: $SSH_USER, private_key: db_key}
    autostart: false
    provision:
      - shell: "echo extra-step-ran"
EOT
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

# envup in the background; the stream step waits for us to see its first line.
"$ENVCTL" up >"$T/up.out" 2>&1 &
upid=$!
for _ in $(seq 150); do
	grep -q "stream-start" "$T/up.out" && break
	sleep 0.1
done
touch "$T/go"
wait "$upid"
rc=$?
check "envup provisions both machines" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -20 "$T/up.out"
check "output streams while a step runs" grep -q "web: streamed-ok" "$T/up.out"
check "db comes up before web (depends_on)" \
	[ "$(grep -n 'db-step-ran' "$T/up.out" | cut -d: -f1)" -lt "$(grep -n 'privileged=' "$T/up.out" | cut -d: -f1)" ]
check "a dependency with autostart: false still comes up first" \
	[ "$(grep -n 'extra-step-ran' "$T/up.out" | cut -d: -f1)" -lt "$(grep -n 'privileged=' "$T/up.out" | cut -d: -f1)" ]
check "output is prefixed with the machine name" grep -q "^    db: db-step-ran" "$T/up.out"
check "multi-MiB upload is byte for byte equal" cmp -s "$P/big.bin" "$SSH_HOME/up/big.bin"
check "uploaded file belongs to the SSH user" [ "$(stat -c %U "$SSH_HOME/up/big.bin")" = "$SSH_USER" ]
check "tree upload keeps file modes" \
	[ "$(stat -c %a "$SSH_HOME/up/tree/tool.sh"):$(stat -c %a "$SSH_HOME/up/tree/sub/conf")" = 750:640 ]
check "tree upload keeps directory modes" [ "$(stat -c %a "$SSH_HOME/up/tree/sub")" = 2750 ]
check "tree upload content" cmp -s "$P/tree/sub/conf" "$SSH_HOME/up/tree/sub/conf"
check "privileged steps run through sudo" grep -q "web: privileged=root" "$T/up.out"
check "privileged: false runs as the SSH user, env passed" grep -q "web: plain=$SSH_USER hi there" "$T/up.out"
check "path script uploaded and run with args" grep -q "web: script args: x y z" "$T/up.out"
check "long output arrives whole, every line prefixed" \
	[ "$(grep -c '^    web: [0-9]*$' "$T/up.out")" -eq 100000 ]
check "scripts are removed after running" \
	[ -z "$(find /tmp -maxdepth 1 -name 'envup-shell-*' -user "$SSH_USER")" ]
check "first envup: once and always ran, never did not" \
	[ "$(lines "$C/once"):$(lines "$C/always"):$(lines "$C/never")" = 1:1:0 ]
check "state.json records what ran" \
	grep -q '"once-step":{"kind":"shell","runs":1' <(tr -d ' \n' <"$P/.envup/machines/web/state.json")

"$ENVCTL" up web >"$T/up2.out" 2>&1
check "second envup succeeds" [ $? -eq 0 ]
check "second envup: run: once not repeated, run: always repeated" \
	[ "$(lines "$C/once"):$(lines "$C/always")" = 1:2 ]
check "second envup: file steps (once) not repeated" bash -c "! grep -q 'provisioner: big' '$T/up2.out'"
touch "$T/go"
"$ENVCTL" up --provision web --provision-with once-step >/dev/null 2>&1
check "envup --provision-with runs just the named step" \
	[ "$(lines "$C/once"):$(lines "$C/always")" = 2:2 ]

"$ENVCTL" provision web --provision-with never-step,always-step >"$T/p.out" 2>&1
check "envprovision --provision-with runs named steps, run: never included" \
	[ "$(lines "$C/never"):$(lines "$C/always"):$(lines "$C/once")" = 1:3:2 ]
"$ENVCTL" provision web --provision-with always-stpe >"$T/p.out" 2>&1
rc=$?
check "envprovision --provision-with an unknown step is a usage error" [ "$rc" -eq 2 ]
check "unknown step: suggestion offered" grep -q "did you mean 'always-step'" "$T/p.out"

"$ENVCTL" provision web --provision-with failing,after-failing >"$T/f.out" 2>&1
rc=$?
cat "$T/f.out"
check "a failing step fails envprovision" [ "$rc" -eq 1 ]
check "the error names machine, step and exit status" \
	grep -q "machine 'web': provision step 'failing' failed with exit status 3" "$T/f.out"
check "steps after the failing one do not run" [ "$(lines "$C/after")" = 0 ]
check "the failure is recorded" \
	grep -q '"failing":{"kind":"shell","runs":1,"last_run":"[^"]*","exit_status":3' \
	<(tr -d ' \n' <"$P/.envup/machines/web/state.json")

"$ENVCTL" halt >"$T/halt.out" 2>&1
check "envhalt stops dependents first" \
	[ "$(grep -n 'web: Halting' "$T/halt.out" | cut -d: -f1)" -lt "$(grep -n 'db: Halting' "$T/halt.out" | cut -d: -f1)" ]
"$ENVCTL" up db >/dev/null 2>&1
"$ENVCTL" provision db >"$T/db.out" 2>&1
check "envprovision on a single machine does not prefix" grep -q "^db-step-ran" "$T/db.out"
check "a key named in the Envfile is used as is" [ ! -e "$P/.envup/machines/db/id_ed25519" ]
finish
