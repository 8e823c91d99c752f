#!/usr/bin/env bash
# needs: kvm
# needs: demo-box
# slow: one Debian boot in the nested KVM lab (3-5 min there)
# lab-timeout: 900
# Synced folders shared live over 9p with the vmm provider: envvmm's own virtio-9p server
# (--share). The demo box's cloud kernel has no 9p, so the machine boots the demo box's disk
# with Debian's stock kernel (stock_kernel_box in lib.sh). The project on /vagrant (type 9p)
# and a read-only folder whose host path has a comma, mounted by envup before provisioning
# (which reads /vagrant); a host file seen in the guest, a file the guest writes seen on the
# host at once and one the host writes seen in the guest at once; the read-only folder
# refusing writes; envup of the running machine mounting nothing twice; envdestroy leaving
# nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

vmm_require_kvm || finish
BOXES=${ENVUP_DEMO_BOXES:-$ENVUP_BUILD/demo-box}
if [ ! -f "$BOXES/demo-envup.box" ] &&
	! bash "$ENVUP_SRC/tests/boxes/build-demo-box.sh" "$BOXES" >"$T/box.log" 2>&1; then
	tail -5 "$T/box.log"
	not_ok "vmm provider 9p: no demo box in $BOXES and it could not be built here"
	finish
fi
export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
BIN=$(dirname "$ENVCTL")
# the release envvmm, as users run it: its seccomp sandbox is on (the sanitizer build turns it
# off; vmm_9p.sh runs the server under AddressSanitizer)
export ENVUP_ENVVMM=$ENVUP_BUILD/rel/bin/envvmm
[ -x "$ENVUP_ENVVMM" ] || { not_ok "vmm provider 9p: release envvmm not built"; finish; }
stock_kernel_box "vmm provider 9p"
project_dir
M=.envup/machines/web
mkdir -p "sha,red"
echo host-before >hello.txt
echo read-only-file >"sha,red/ro.txt"
cat >Envfile <<EOT
version: 1
machines:
  web:
    provider: vmm
    box: demo/stock
    box_url: $STOCK_BOX
    memory: 512
    boot_timeout: 600
    synced_folders:
      - {host: ., guest: /vagrant, type: 9p}
      - {host: "sha,red", guest: /srv/ro, type: 9p, mount_options: [ro]}
    provision:
      - shell: {name: reads-vagrant, inline: "echo provision sees \$(cat /vagrant/hello.txt)"}
EOT
guest() { "$BIN/envssh" web -c "$1" 2>>"$T/ssh.err"; }

start=$(date +%s)
echo "# envup (minutes in the lab)"
"$BIN/envup" >"$T/up.log" 2>&1
rc=$?
echo "# envup in the lab: $(($(date +%s) - start)) s"
check_sh "envup brings the machine up (status $rc)" '[ $rc -eq 0 ]' ||
	tail -n 30 "$T/up.log" "$M/vmm.log" "$M/console.log" 2>/dev/null | sed 's/^/#   /'
check "envup says how each folder is shared" \
	sh -c "grep -q 'web: 9p \\. -> /vagrant (tag envup0): mounted' '$T/up.log' && grep -q 'web: 9p sha,red -> /srv/ro (tag envup1): mounted' '$T/up.log'"
check "the folders are mounted before provisioning" grep -q "provision sees host-before" "$T/up.log"
pid=$(cat "$M/pid" 2>/dev/null)
check_sh "envvmm serves them with --share, the comma escaped, the second read-only" \
	'tr "\0" "\n" </proc/$pid/cmdline | grep -qx "$P,tag=envup0" &&
	 tr "\0" "\n" </proc/$pid/cmdline | grep -qx "$P/sha,,red,tag=envup1,readonly"'
check_sh "the guest mounts them with 9p over virtio, msize 512000, the second read-only" \
	'guest "grep \" /vagrant 9p \" /proc/mounts" | grep -q "trans=virtio" &&
	 guest "grep \" /vagrant 9p \" /proc/mounts" | grep -q "msize=512000" &&
	 guest "grep \" /srv/ro 9p \" /proc/mounts" | grep -q "[ ,]ro,"'
check_sh "the guest sees the host file" '[ "$(guest "cat /vagrant/hello.txt")" = host-before ]'
check_sh "a file the guest writes is on the host at once" \
	'guest "echo guest-wrote | sudo tee /vagrant/from-guest.txt >/dev/null" && [ "$(cat "$P/from-guest.txt")" = guest-wrote ]'
echo host-after >"$P/later.txt"
check_sh "a file the host writes is in the guest at once" '[ "$(guest "cat /vagrant/later.txt")" = host-after ]'
check_sh "the read-only folder: readable, and no write reaches the host" \
	'[ "$(guest "cat /srv/ro/ro.txt")" = read-only-file ] &&
	 ! guest "sudo touch /srv/ro/new.txt" && [ ! -e "$P/sha,red/new.txt" ]'
check_sh "owners stay the host's: on the host, and as the guest sees them (no chown walk)" \
	'[ "$(stat -c %u "$P/hello.txt")" = "$(id -u)" ] &&
	 [ "$(guest "stat -c %u /vagrant/hello.txt")" = "$(id -u)" ] &&
	 ! grep -q "could not all be given" "$T/up.log"'

"$BIN/envup" web >"$T/up2.log" 2>&1
rc=$?
check_sh "envup of the running machine (status $rc) mounts nothing twice" \
	'[ $rc -eq 0 ] && grep -q "/vagrant (tag envup0): mounted already" "$T/up2.log" &&
	 [ "$(guest "grep -c \" /vagrant 9p \" /proc/mounts")" = 1 ]'
check "envvmm ran sandboxed, and its sandbox blocked no call of the 9p server" \
	sh -c "grep -q 'sandbox: seccomp filter on' '$M/vmm.log' && ! grep -qE 'blocked system call|virtio-9p .*: bad' '$M/vmm.log'"

"$BIN/envdestroy" -f >"$T/destroy.log" 2>&1
check "envdestroy" sh -c "! test -e '$M'"
check "no envvmm left" sh -c "! pgrep -f '$P/[.]envup/machines' >/dev/null"
check_sh "the project's files stay on the host" \
	'[ "$(cat "$P/hello.txt")" = host-before ] && [ "$(cat "$P/from-guest.txt")" = guest-wrote ]'
finish
