#!/usr/bin/env bash
# Synced folders over rsync against a real local sshd (release build), side by side with what
# a person would type: `rsync -a -e ssh` with the machine's own key and pinned host key (the
# ssh_config that envssh-config prints). A 200 MB tree of 20,000 files: the full sync, then a
# sync after touching 10 files. Each figure is the median of several runs, envup and the hand
# run interleaved. Loopback: what is measured is envup's overhead, not a network.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../integration/helpers/sshd.sh"
ENVCTL=${ENVCTL_REL:-$ENVUP_BUILD/rel/bin/envctl}
FULL_RUNS=${FULL_RUNS:-4}
TOUCH_RUNS=${TOUCH_RUNS:-8}
sshd_require "rsync bench"
command -v rsync >/dev/null || { echo "rsync bench: no rsync"; exit 1; }
sshd_user && sshd_config && sshd_start || exit 1
P="$T/project"
mkdir -p "$P" && cd "$P" || exit 1
# 200 directories of 100 files of 10,000 bytes: 200 MB, 20,000 files.
python3 - <<'PY'
import os
for d in range(200):
    os.makedirs(f"tree/d{d:03}", exist_ok=True)
    for f in range(100):
        with open(f"tree/d{d:03}/f{f:03}.bin", "wb") as fh:
            fh.write(os.urandom(10000))
PY
cat >Envfile <<EOT
version: 1
machines:
  web:
    provider: static
    static: {host: 127.0.0.1, port: $SSH_PORT}
    ssh: {user: $SSH_USER}
    synced_folders:
      - {host: ., guest: /vagrant, disabled: true}
      - {host: tree, guest: $SSH_HOME/env}
EOT
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wipe() { rm -rf "$SSH_HOME/env" "$SSH_HOME/hand"; sync; }

"$ENVCTL" up -q >/dev/null || exit 1
"$ENVCTL" ssh-config web >"$T/ssh_config" || exit 1
hand() { rsync -a -e "ssh -F $T/ssh_config" tree/ "web:$SSH_HOME/hand/"; }
diff -rq tree "$SSH_HOME/env" >/dev/null || { echo "envup's copy differs"; exit 1; }

full_env=() full_hand=()
# Which goes first alternates: the second of a pair runs while the first's writes are still
# going to disk.
timed_env() { local t0 t1; t0=$(now); "$ENVCTL" rsync -q web >/dev/null || exit 1; t1=$(now); echo "$t1 - $t0" | bc; }
timed_hand() { local t0 t1; t0=$(now); hand || exit 1; t1=$(now); echo "$t1 - $t0" | bc; }
for i in $(seq "$FULL_RUNS"); do
	wipe
	if [ $((i % 2)) = 1 ]; then
		full_env+=("$(timed_env)"); full_hand+=("$(timed_hand)")
	else
		full_hand+=("$(timed_hand)"); full_env+=("$(timed_env)")
	fi
done
diff -rq tree "$SSH_HOME/hand" >/dev/null || { echo "the hand copy differs"; exit 1; }
touch_env=() touch_hand=()
for i in $(seq "$TOUCH_RUNS"); do
	for f in $(seq 10); do echo "$i" >>"tree/d$(printf %03d $((f * 17)))/f0$((10 + f)).bin"; done
	if [ $((i % 2)) = 1 ]; then
		touch_env+=("$(timed_env)"); touch_hand+=("$(timed_hand)")
	else
		touch_hand+=("$(timed_hand)"); touch_env+=("$(timed_env)")
	fi
done
diff -rq tree "$SSH_HOME/env" >/dev/null || { echo "envrsync's copy differs"; exit 1; }

fe=$(printf '%s\n' "${full_env[@]}" | median)
fh=$(printf '%s\n' "${full_hand[@]}" | median)
te=$(printf '%s\n' "${touch_env[@]}" | median)
th=$(printf '%s\n' "${touch_hand[@]}" | median)
printf '%-52s %8s %8s %6s\n' "200 MB, 20,000 files (median s)" envup by-hand ratio
printf '%-52s %8.3f %8.3f %6.2f\n' "full sync: envrsync vs rsync -a -e ssh ($FULL_RUNS runs)" \
	"$fe" "$fh" "$(echo "scale=3; $fe / $fh" | bc)"
printf '%-52s %8.3f %8.3f %6.2f\n' "10 files changed: envrsync vs rsync ($TOUCH_RUNS runs)" \
	"$te" "$th" "$(echo "scale=3; $te / $th" | bc)"
echo "target: ratio at most 1.1"
