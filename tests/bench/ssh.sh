#!/usr/bin/env bash
# SSH figures against a real local sshd (release build): first envup (login, key replacement,
# host key pin), envup of a provisioned machine, envssh -c round trip, SFTP upload and exec
# output throughput. Loopback numbers: they show envup's own overhead, not a network's.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../integration/helpers/sshd.sh"
ENVCTL=${ENVCTL_REL:-$ENVUP_BUILD/rel/bin/envctl}
sshd_require "ssh bench"
sshd_user && sshd_config && sshd_start || exit 1
P="$T/project"
mkdir -p "$P" && cd "$P" || exit 1
head -c $((64 << 20)) /dev/urandom >big.bin
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
    provision:
      - file: {name: upload, source: big.bin, destination: big.bin, run: never}
EOT
now() { date +%s.%N; }
ms() { echo "scale=1; ($2 - $1) * 1000 / 1" | bc; }

t0=$(now); "$ENVCTL" up -q >/dev/null || exit 1; t1=$(now)
echo "first envup (connect, insert key, pin host key):  $(ms "$t0" "$t1") ms"
t0=$(now); "$ENVCTL" up -q >/dev/null || exit 1; t1=$(now)
echo "envup of a running, provisioned machine:          $(ms "$t0" "$t1") ms"
t0=$(now)
for _ in $(seq 10); do "$ENVCTL" ssh -c true || exit 1; done
t1=$(now)
echo "envssh -c true (connect, auth, exec), mean of 10: $(echo "scale=1; ($t1 - $t0) * 100 / 1" | bc) ms"
t0=$(now); "$ENVCTL" provision -q --provision-with upload >/dev/null || exit 1; t1=$(now)
cmp -s big.bin "$SSH_HOME/big.bin" || { echo "upload differs"; exit 1; }
echo "SFTP upload of 64 MiB:                             $(echo "scale=1; 64 / ($t1 - $t0)" | bc) MiB/s"
t0=$(now); "$ENVCTL" ssh -c 'head -c 268435456 /dev/zero' | wc -c >/dev/null; t1=$(now)
echo "exec output streamed to envssh, 256 MiB:           $(echo "scale=1; 256 / ($t1 - $t0)" | bc) MiB/s"
