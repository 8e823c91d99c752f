#!/usr/bin/env bash
# make demo-static: envup without virtual machines, with nothing to download (make demo runs
# real ones: tools/demo.sh).
#  1. checks Envfile.example (every key envup knows);
#  2. starts "a machine that already exists": a real OpenSSH sshd on 127.0.0.1 with a user that
#     trusts Vagrant's well-known insecure key, exactly like a fresh Vagrant base box;
#  3. envup brings it up through the static provider: waits for SSH, swaps the insecure key for
#     a per-machine one, pins the host key, runs the provisioners; then envstatus, envssh,
#     envssh-config and envdestroy.
# Needs root (a throw-away user and sshd), as `make deps` does.
set -u
cd "$(dirname "$0")/.."
ENVCTL=$PWD/build/rel/bin/envctl
BIN=$PWD/build/rel/bin
source tests/integration/lib.sh
source tests/integration/helpers/sshd.sh
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

say "ENVUP_ENVFILE=Envfile.example envvalidate"
ENVUP_ENVFILE=$PWD/Envfile.example "$BIN/envvalidate" || exit 1

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: the rest needs root (it runs a throw-away sshd and user); run 'sudo make demo'"
	exit 1
fi
sshd_user && sshd_config && sshd_start || exit 1
mkdir -p "$T/project" && cd "$T/project"
echo "Hello from the host" >motd.txt
cat >Envfile <<YAML
version: 1
machines:
  demo:
    provider: static            # a machine that already exists: envup only provisions it
    static: {host: 127.0.0.1, port: $SSH_PORT}
    ssh: {user: $SSH_USER}
    boot_timeout: 30
    synced_folders:             # the "machine" is this host: not its /vagrant, but a home dir
      - {host: ., guest: /vagrant, disabled: true}
      - {host: ., guest: $SSH_HOME/project, exclude: ["*.tmp"]}
    provision:
      - shell: {name: synced, inline: "ls ~/project", privileged: false}
      - file: {source: motd.txt, destination: /tmp/envup-demo-motd.txt}
      - shell:
          name: hello
          inline: "echo provisioned \$(hostname) as \$(id -un); cat /tmp/envup-demo-motd.txt"
      - shell: {name: every-time, inline: "date", run: always}
YAML
say "cat Envfile"; cat Envfile
cd "$T/project/" || exit 1
run "$BIN/envup" || exit 1
run "$BIN/envstatus"
say "grep -c 'vagrant insecure public key' ~$SSH_USER/.ssh/authorized_keys"
grep -c "vagrant insecure public key" "$SSH_HOME/.ssh/authorized_keys"
echo "(0: the shared insecure key is gone; envup put a per-machine key in its place)"
run "$BIN/envssh" -c 'cat /tmp/envup-demo-motd.txt; uname -sr'
run "$BIN/envup"
echo "(a second envup runs only the 'run: always' step)"
say "echo news >news.txt; echo scratch >scratch.tmp"
echo news >news.txt; echo scratch >scratch.tmp
run "$BIN/envrsync"
run "$BIN/envssh" -c 'ls ~/project'
echo "(news.txt arrived; scratch.tmp is excluded)"
run "$BIN/envssh-config"
run "$BIN/envdestroy" -f
run "$BIN/envstatus"
echo
echo "demo: done"
