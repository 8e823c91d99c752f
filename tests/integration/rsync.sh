#!/usr/bin/env bash
# Synced folders over rsync against a real sshd on loopback (the static provider; the "guest"
# is this host, seen through a throw-away user): the initial sync by envup, a change synced by
# envrsync, envrsync-auto picking a new file up within 2 s, excludes and .envup/ skipped,
# --delete only inside the guest folder, owner/group, create, a folder made with sudo, a guest
# without rsync, type 9p refused, a changed host key refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/sshd.sh"
sshd_require "rsync synced folders"
command -v rsync >/dev/null || { skip "rsync synced folders" "no rsync (Debian rsync)"; finish; }

sshd_user || { not_ok "create a test user"; finish; }
sshd_config
# For the guest-without-rsync case: ~/.ssh/environment sets a PATH without rsync.
echo "PermitUserEnvironment yes" >>"$SSHD_DIR/sshd_config"
sshd_start || { not_ok "start sshd"; finish; }
P="$T/project"
G="$SSH_HOME/app"	# the guest folder
mkdir -p "$P/src/sub/deep" "$P/src/node_modules/pkg" "$T/rootowned"
cd "$P" || exit 1
echo one >src/a.txt
echo two >src/sub/b.txt
head -c 300000 /dev/urandom >src/sub/deep/blob.bin
chmod 640 src/sub/b.txt
ln -s a.txt src/link
echo noise >src/build.log
echo dep >src/node_modules/pkg/index.js
# Next to the guest folder, sharing its name's prefix: --delete must not reach either.
mkdir -p "$SSH_HOME/app2"
echo keep >"$SSH_HOME/app2/keep.txt"
echo keep >"$SSH_HOME/outside.txt"
chown -R "$SSH_USER:" "$SSH_HOME/app2" "$SSH_HOME/outside.txt"

cat >Envfile <<EOT
version: 1
machines:
  web:
    provider: static
    static: {host: 127.0.0.1, port: $SSH_PORT}
    ssh: {user: $SSH_USER}
    boot_timeout: 20
    synced_folders:
      - {host: ., guest: /vagrant, disabled: true}
      - {host: src, guest: $G, exclude: ["*.log", node_modules/]}
      - {host: ., guest: $SSH_HOME/whole}
      - {host: src/sub, guest: $SSH_HOME/owned, owner: nobody, group: nogroup}
      - {host: made, guest: $SSH_HOME/made, create: true}
      - {host: src/sub, guest: $T/rootowned/vagrant}
    provision:
      - shell: {name: sees, inline: "ls $G/a.txt", privileged: false}
EOT
chown root: "$T/rootowned"
chmod 755 "$T/rootowned"

"$ENVCTL" up >"$T/up.out" 2>&1
rc=$?
cat "$T/up.out"
check "envup syncs the folders and provisions" [ "$rc" -eq 0 ]
check "the folders are synced before provisioning" grep -q "^$G/a.txt" "$T/up.out"
check "envup prints one line per folder" [ "$(grep -c 'rsync .* -> .*: [0-9]* files\? sent' "$T/up.out")" -eq 5 ]
# Same tree, modes and symlink, apart from what is excluded.
check "initial sync: the tree arrives whole" \
	diff -r --no-dereference --exclude=build.log --exclude=node_modules "$P/src" "$G"
check "initial sync: modes kept" [ "$(stat -c %a "$G/sub/b.txt")" = 640 ]
check "initial sync: symlinks stay symlinks" [ "$(readlink "$G/link")" = a.txt ]
check "files belong to the SSH user" [ -z "$(find "$G" ! -user "$SSH_USER")" ]
check_sh "excludes honoured (a pattern and a directory)" \
	'[ ! -e "$G/build.log" ] && [ ! -e "$G/node_modules" ]'
check_sh ".envup/ is never sent" '[ ! -e "$SSH_HOME/whole/.envup" ] && [ -e "$SSH_HOME/whole/Envfile" ]'
check "owner and group given: files belong to them" \
	[ "$(stat -c %U:%G "$SSH_HOME/owned/b.txt")" = nobody:nogroup ]
check_sh "create: true makes the host folder and syncs it" '[ -d "$P/made" ] && [ -d "$SSH_HOME/made" ]'
check_sh "a guest folder under a root-owned directory is made with sudo, for the SSH user" \
	'[ "$(stat -c %U "$T/rootowned/vagrant")" = "$SSH_USER" ] && [ -f "$T/rootowned/vagrant/b.txt" ]'

# envrsync: a change, an addition, a deletion.
echo changed >src/a.txt
echo new >src/new.txt
rm src/sub/b.txt
echo guest-only >"$G/guest-only.txt"
echo excluded-in-guest >"$G/kept.log"
chown "$SSH_USER:" "$G/guest-only.txt" "$G/kept.log"
"$ENVCTL" rsync web >"$T/rs.out" 2>&1
rc=$?
cat "$T/rs.out"
check "envrsync succeeds" [ "$rc" -eq 0 ]
check "envrsync: a change arrives" [ "$(cat "$G/a.txt")" = changed ]
check "envrsync: a new file arrives" [ -f "$G/new.txt" ]
check "envrsync: a file deleted on the host goes in the guest folder" [ ! -e "$G/sub/b.txt" ]
check "envrsync: a file only in the guest folder goes (--delete)" [ ! -e "$G/guest-only.txt" ]
check "envrsync: excluded files in the guest are kept" [ -f "$G/kept.log" ]
check_sh "--delete stays inside the guest folder" \
	'[ -f "$SSH_HOME/app2/keep.txt" ] && [ -f "$SSH_HOME/outside.txt" ]'
check "envrsync reports the counts" grep -q "src -> $G: 2 files sent, 2 deleted" "$T/rs.out"

# envrsync-auto: a new file within 2 s; a burst of files is one sync.
"$ENVCTL" rsync-auto web >"$T/auto.out" 2>&1 &
apid=$!
for _ in $(seq 100); do grep -q "watching" "$T/auto.out" && break; sleep 0.1; done
check "envrsync-auto starts watching" grep -q "watching 5 folders" "$T/auto.out"
before=$(grep -c "src -> $G:" "$T/auto.out")
t0=$(date +%s%N)
echo fresh >src/sub/deep/fresh.txt
seen=0
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000 ]; do
	[ -f "$G/sub/deep/fresh.txt" ] && { seen=1; break; }
	sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# new file seen in the guest after $ms ms"
check "envrsync-auto: a new file arrives within 2 s" [ "$seen" -eq 1 ]
sleep 1
n1=$(grep -c "src -> $G:" "$T/auto.out")
for i in $(seq 50); do echo "$i" >"src/burst$i.txt"; done
mkdir -p src/newdir/inner
echo inner >src/newdir/inner/x.txt
for _ in $(seq 40); do [ -f "$G/newdir/inner/x.txt" ] && [ -f "$G/burst50.txt" ] && break; sleep 0.1; done
sleep 1
echo later >src/newdir/inner/y.txt
for _ in $(seq 40); do [ -f "$G/newdir/inner/y.txt" ] && break; sleep 0.1; done
check_sh "envrsync-auto: a burst of 50 files arrives" '[ -f "$G/burst1.txt" ] && [ -f "$G/burst50.txt" ]'
check "envrsync-auto: a directory made while watching is watched" [ -f "$G/newdir/inner/y.txt" ]
n2=$(grep -c "src -> $G:" "$T/auto.out")
echo "# syncs of src: $before at start, $n1 after one file, $n2 after the burst and one more"
check_sh "envrsync-auto: one line per sync, bursts coalesced" \
	'[ "$((n1 - before))" -eq 1 ] && [ "$((n2 - n1))" -le 3 ]'
check "envrsync-auto: a folder where nothing changed is not synced again" \
	[ "$(grep -c "made -> " "$T/auto.out")" -eq 1 ]
kill -INT "$apid"
wait "$apid"
rc=$?
check "envrsync-auto stops on Ctrl-C with status 0" [ "$rc" -eq 0 ]
check "envrsync-auto says it stopped" grep -q "stopped watching" "$T/auto.out"

# A guest without rsync: refused naming the machine, by envup and by envrsync.
mkdir -p "$T/norsync"
for c in sh bash id mkdir sudo chown cat ls; do ln -s "$(command -v $c)" "$T/norsync/$c"; done
echo "PATH=$T/norsync" >"$SSH_HOME/.ssh/environment"
chown "$SSH_USER:" "$SSH_HOME/.ssh/environment"
"$ENVCTL" rsync >"$T/nr.out" 2>&1
rc=$?
cat "$T/nr.out"
check "envrsync: no rsync in the guest fails" [ "$rc" -eq 1 ]
check "envrsync: the error names the machine and rsync__install" \
	grep -q "machine 'web': rsync is not installed in the guest.*rsync__install: true" "$T/nr.out"
"$ENVCTL" up >"$T/nr2.out" 2>&1
rc=$?
check_sh "envup: no rsync in the guest fails, naming the machine" \
	'[ "$rc" -eq 1 ] && grep -q "machine .web.: rsync is not installed in the guest" "$T/nr2.out"'

# rsync__install through envrsync: the light envctl (no SSH library) hands the command to
# envctl-full, which installs rsync over SSH with the guest's package manager, then syncs. The
# guest is this host, so its package manager is the test's own apt-get, which sudo finds first
# (secure_path for the test user only): it puts the host's rsync on the SSH user's PATH.
mkdir -p "$T/pkg"
printf '#!/bin/sh\nln -sf %s %s/rsync\n' "$(command -v rsync)" "$T/norsync" >"$T/pkg/apt-get"
chmod 755 "$T/pkg/apt-get"
echo "Defaults:$SSH_USER secure_path=$T/pkg:/usr/sbin:/usr/bin:/sbin:/bin" \
	>"/etc/sudoers.d/envup-test-$SSH_USER-path"
chmod 0440 "/etc/sudoers.d/envup-test-$SSH_USER-path"
at_exit "rm -f /etc/sudoers.d/envup-test-$SSH_USER-path"
cp Envfile "$T/Envfile.before-install"
sed -i "s|{host: src, guest: $G,|{host: src, guest: $G, rsync__install: true,|" Envfile
echo installed >src/after-install.txt
"$ENVCTL" rsync web >"$T/inst.out" 2>&1
rc=$?
cat "$T/inst.out"
check_sh "envrsync with rsync__install: rsync installed over SSH, then the folders synced" \
	'[ "$rc" -eq 0 ] && grep -q "installing rsync in the guest" "$T/inst.out" && [ -L "$T/norsync/rsync" ] && [ -f "$G/after-install.txt" ]'
check "envrsync with rsync__install: said once, not again after the hand-over" \
	[ "$(grep -c "installing rsync in the guest" "$T/inst.out")" -eq 1 ]
cp "$T/Envfile.before-install" Envfile
rm -f "$SSH_HOME/.ssh/environment" "$T/norsync/rsync"

# type 9p on a provider that cannot share live: refused before anything starts.
cat >"$T/Envfile.9p" <<EOT
version: 1
machines:
  web:
    provider: static
    static: {host: 127.0.0.1, port: $SSH_PORT}
    ssh: {user: $SSH_USER}
    synced_folders: [{host: ., guest: /vagrant, type: 9p}]
EOT
out=$(ENVUP_ENVFILE="$T/Envfile.9p" "$ENVCTL" up 2>&1)
rc=$?
echo "$out"
check "type 9p without a live share is refused" [ "$rc" -ne 0 ]
check "the refusal names machine, folder and provider" \
	grep -q "machine 'web': synced folder /vagrant has type 9p, but provider 'static' cannot share folders live" <<<"$out"
out=$(ENVUP_ENVFILE="$T/Envfile.9p" "$ENVCTL" validate 2>&1)
check "envvalidate explains the 9p entry" grep -q "/vagrant: refused: .*cannot share folders live" <<<"$out"
out=$("$ENVCTL" validate 2>&1)
echo "$out"
check "envvalidate explains each entry" \
	grep -q "src -> $G: auto: rsync, the provider cannot share live (provider 'static'); rsync skips \*.log, node_modules/" <<<"$out"
check "envvalidate shows the disabled default" grep -q ". -> /vagrant: disabled" <<<"$out"

# A changed host key: OpenSSH under rsync refuses it (envrsync does not log in through libssh
# first), and nothing is synced.
sshd_stop
sshd_config
echo "PermitUserEnvironment yes" >>"$SSHD_DIR/sshd_config"
sshd_start || { not_ok "restart sshd"; finish; }
echo after-key-change >src/a.txt
"$ENVCTL" rsync >"$T/hk.out" 2>&1
rc=$?
cat "$T/hk.out"
check "envrsync refuses a changed host key" [ "$rc" -eq 1 ]
check "the refusal names the machine and the pin" \
	grep -q "machine 'web': its SSH host key SHA256:[^ ]* is not the one pinned in .*known_host" "$T/hk.out"
check "nothing synced after a host key change" [ "$(cat "$G/a.txt")" = changed ]
check "the pinned key is left alone" grep -q "^web " "$P/.envup/machines/web/known_host"
finish
