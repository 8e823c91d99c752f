#!/usr/bin/env bash
# needs: demo-box
# slow: boots two Debian machines, one of them twice, under QEMU's TCG (minutes on 2 cores)
# Synced folders shared live over 9p with the qemu provider (QEMU's own -virtfs). The demo
# box's kernel (linux-image-cloud-amd64) is built without 9p, so machine web boots the demo
# box's disk with Debian's stock kernel (the package tests/linux/prepare.sh fetches) and an
# initramfs that loads virtio, ext4 and 9p (tests/linux/init_root). On web: the project on
# /vagrant (type 9p) and a read-only folder whose host path has a comma, mounted by envup
# before provisioning (which reads /vagrant); a host file seen in the guest, a file the
# guest's SSH user writes seen on the host at once and one the host writes seen in the guest
# at once; the files given to the SSH user in the guest while the host files keep their owner
# (mapped-xattr attributes); envup of the running machine mounting nothing twice; a folder the
# running machine does not share failing with the machine, the folder and the guest's message;
# envreload mounting again; envdestroy leaving nothing. On cloud (the demo box as it is): the
# default /vagrant (type auto) falls back to rsync with a warning, and a type 9p folder is
# refused naming the missing 9p.
source "$(dirname "$0")/lib.sh"
qemu_demo_setup "qemu provider 9p"
stock_kernel_box "qemu provider 9p"
project_dir
M=.envup/machines/web
mkdir -p "sha,red"
echo host-before >hello.txt
echo read-only-file >"sha,red/ro.txt"
envfile() { # envfile [WEB_EXTRA_FOLDER [CLOUD_EXTRA_FOLDER]]
	cat >Envfile <<EOT
version: 1
machines:
  web:
    provider: qemu
    box: demo/stock
    box_url: $STOCK_BOX
    memory: 512
    boot_timeout: 900
    synced_folders:
      - {host: ., guest: /vagrant, type: 9p, fstab: true}
      - {host: "sha,red", guest: /srv/ro, type: 9p, mount_options: [ro]}
${1:-}
    provision:
      - shell: {name: reads-vagrant, inline: "echo provision sees \$(cat /vagrant/hello.txt)"}
  cloud:
    provider: qemu
    box: demo/envup
    box_url: $BOXES/demo-envup.box
    memory: 512
    boot_timeout: 900
${2:+    synced_folders:}
${2:-}
EOT
}
envfile
guest() { "$BIN/envssh" "${2:-web}" -c "$1" 2>>"$T/ssh.err"; }

start=$(date +%s)
"$BIN/envup" >"$T/up.log" 2>&1
rc=$?
echo "# envup of two machines under TCG: $(($(date +%s) - start)) s"
check_sh "envup brings both machines up (status $rc)" '[ $rc -eq 0 ]' || true
[ $rc -eq 0 ] || tail -n 30 "$T/up.log" "$M/qemu.log" "$M/console.log" 2>/dev/null | sed 's/^/#   /'
check "envup says how each folder is shared" \
	sh -c "grep -q 'web: 9p \\. -> /vagrant (tag envup0): mounted' '$T/up.log' && grep -q 'web: 9p sha,red -> /srv/ro (tag envup1): mounted' '$T/up.log'"
check "the folders are mounted before provisioning" grep -q "provision sees host-before" "$T/up.log"
pid=$(cat "$M/pid" 2>/dev/null)
check_sh "qemu shares them with -virtfs, mapped-xattr, the comma escaped, the second read-only" \
	'tr "\0" "\n" </proc/$pid/cmdline | grep -qx "local,path=$P,mount_tag=envup0,security_model=mapped-xattr" &&
	 tr "\0" "\n" </proc/$pid/cmdline | grep -qx "local,path=$P/sha,,red,mount_tag=envup1,security_model=mapped-xattr,readonly=on"'
check_sh "the guest mounts them with 9p over virtio, msize 512000" \
	'guest "grep \" /vagrant 9p \" /proc/mounts" | grep -q "trans=virtio" &&
	 guest "grep \" /vagrant 9p \" /proc/mounts" | grep -q "msize=512000" &&
	 guest "grep \" /srv/ro 9p \" /proc/mounts" | grep -q "[ ,]ro,"'
check_sh "the guest sees the host file" '[ "$(guest "cat /vagrant/hello.txt")" = host-before ]'
check_sh "the guest's files are the SSH user's, the host's keep their owner" \
	'[ "$(guest "stat -c %U:%G /vagrant /vagrant/hello.txt" | sort -u)" = vagrant:vagrant ] &&
	 [ "$(stat -c %u "$P/hello.txt")" = "$(id -u)" ]'
check_sh "a file the guest's user writes is on the host at once" \
	'guest "echo guest-wrote >/vagrant/from-guest.txt" && [ "$(cat "$P/from-guest.txt")" = guest-wrote ]'
check_sh "mapped-xattr: on the host the guest's owner is an attribute, its file mode 0600" \
	'[ "$(python3 -c "import os,struct,sys; print(struct.unpack(\"<I\", os.getxattr(sys.argv[1], \"user.virtfs.uid\"))[0])" "$P/hello.txt")" = "$(guest "id -u")" ] &&
	 [ "$(stat -c %a "$P/from-guest.txt")" = 600 ]'
echo host-after >"$P/later.txt"
check_sh "a file the host writes is in the guest at once" '[ "$(guest "cat /vagrant/later.txt")" = host-after ]'
check_sh "the read-only folder: readable, and no write reaches the host" \
	'[ "$(guest "cat /srv/ro/ro.txt")" = read-only-file ] &&
	 ! guest "sudo touch /srv/ro/new.txt" && [ ! -e "$P/sha,red/new.txt" ]'
check_sh "fstab: true: one /etc/fstab line for /vagrant, with nofail; the read-only folder has none" \
	'[ "$(guest "grep -c \"^envup0 /vagrant 9p trans=virtio,version=9p2000.L,msize=512000,nofail 0 0\$\" /etc/fstab")" = 1 ] &&
	 ! guest "grep -q \" /srv/ro \" /etc/fstab"'
check_sh "... and mount reads it: /vagrant unmounted, then mounted by its mount point alone" \
	'guest "sudo umount /vagrant && sudo mount /vagrant && cat /vagrant/hello.txt" | grep -qx host-before'
check_sh "the machine's own .envup is not given to the guest user" \
	'[ "$(guest "stat -c %u /vagrant/.envup")" = "$(stat -c %u "$P/.envup")" ]'

# cloud: the demo box's own kernel has no 9p
check "cloud: the default /vagrant (auto) falls back to rsync, with a warning" \
	sh -c "grep -q 'cloud: the guest kernel has no 9p file system: /vagrant (type auto)' '$T/up.log' && grep -q 'cloud: rsync \\. -> /vagrant' '$T/up.log'"
check_sh "cloud: /vagrant holds the copy" '[ "$(guest "cat /vagrant/hello.txt" cloud)" = host-before ]'
check "cloud: the choice is kept: envrsync syncs /vagrant by rsync" \
	sh -c "'$BIN/envrsync' cloud 2>&1 | grep -q 'rsync \\. -> /vagrant'"

"$BIN/envup" web >"$T/up2.log" 2>&1
rc=$?
check_sh "envup of the running machine (status $rc) mounts nothing twice" \
	'[ $rc -eq 0 ] && grep -q "/vagrant (tag envup0): mounted already" "$T/up2.log" &&
	 [ "$(guest "grep -c \" /vagrant 9p \" /proc/mounts")" = 1 ]'

# a folder added while the machine runs: QEMU does not share it, the mount fails clearly
mkdir -p "$P/extra"
envfile "      - {host: extra, guest: /srv/extra, type: 9p}" \
	"      - {host: extra, guest: /srv/extra, type: 9p}"
"$BIN/envup" cloud >"$T/up-cloud.log" 2>&1
rc=$?
check_sh "cloud: a type 9p folder fails (status $rc), naming the missing 9p" \
	'[ $rc -ne 0 ] && grep -q "machine .cloud.: synced folder /srv/extra has type 9p, but the guest kernel has no 9p file system" "$T/up-cloud.log"' ||
	sed 's/^/#   /' "$T/up-cloud.log"
"$BIN/envup" web >"$T/up3.log" 2>&1
rc=$?
grep -o "mounting synced folder.*" "$T/up3.log" | head -1 | sed 's/^/# the error: /'
check_sh "a folder the running machine does not share: envup fails (status $rc)" '[ $rc -ne 0 ]'
check_sh "... naming the machine, the folder, the tag and the guest's message" \
	'grep -q "machine .web.: mounting synced folder /srv/extra (9p, tag envup2) failed (status 1): .*mount" "$T/up3.log" &&
	 grep -q "envreload web" "$T/up3.log"' || sed 's/^/#   /' "$T/up3.log"

start=$(date +%s)
"$BIN/envreload" web >"$T/reload.log" 2>&1
rc=$?
echo "# envreload under TCG: $(($(date +%s) - start)) s"
check_sh "envreload (status $rc) shares the added folder too" \
	'[ $rc -eq 0 ] && grep -q "/srv/extra (tag envup2): mounted" "$T/reload.log"' || tail -20 "$T/reload.log" | sed 's/^/#   /'
check_sh "after envreload /vagrant is mounted again, with the guest's file" \
	'[ "$(guest "cat /vagrant/from-guest.txt")" = guest-wrote ] && [ "$(guest "grep -c \" /vagrant 9p \" /proc/mounts")" = 1 ]'
check_sh "after envup again and envreload, /etc/fstab still has one line for /vagrant" \
	'[ "$(guest "grep -c \"^envup0 /vagrant 9p \" /etc/fstab")" = 1 ]'
"$BIN/envdestroy" -f >"$T/destroy.log" 2>&1
check "envdestroy" sh -c "! test -e '$M'"
check "no qemu left" sh -c "! pgrep -f '$P/[.]envup/machines' >/dev/null"
check_sh "the project's files stay on the host, with their host owner" \
	'[ "$(cat "$P/hello.txt")" = host-before ] && [ "$(stat -c %u "$P/hello.txt")" = "$(id -u)" ]'
finish
