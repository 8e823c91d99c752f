#!/usr/bin/env bash
# Builds the demo box: a minimal Debian 12 (debootstrap from Debian's archive) with the cloud
# kernel and its initramfs, systemd (with dbus: logind powers off on the ACPI button),
# openssh-server, sudo, rsync, a `vagrant` user trusting
# Vagrant's insecure key (as every Vagrant base box does) and GRUB on the disk with a serial
# console and no menu delay. Writes three flavours into OUTDIR:
#   demo-envup.box       envup's own format: qcow2 plus kernel, initrd and command line
#   demo-libvirt.box     Vagrant libvirt: box.img (qcow2) and metadata.json
#   demo-virtualbox.box  Vagrant VirtualBox: OVF and a streamOptimized VMDK
# Everything is cached under $XDG_CACHE_HOME/envup/demo-box/KEY (KEY: this script's and the
# key's hash), so a rerun copies three files. Needs root (debootstrap), as `make deps` does.
#
#   tests/boxes/build-demo-box.sh OUTDIR      (ENVUP_DEBIAN_MIRROR overrides the archive)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
mirror=${ENVUP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
envbox=${ENVUP_ENVBOX:-$src/build/rel/bin/envbox}
pub=$src/data/keys/vagrant.pub
key=$(cat "$0" "$pub" | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/envup/demo-box
dir=$cache/$key
flavours="envup libvirt virtualbox"

copy_out() {
	mkdir -p "$out"
	for f in $flavours; do
		# a hard link when the cache shares the file system: a rerun takes no copy at all
		ln -f "$dir/demo-$f.box" "$out/demo-$f.box" 2>/dev/null ||
			cp "$dir/demo-$f.box" "$out/demo-$f.box"
	done
	cp "$dir/SHA256SUMS" "$out/demo.SHA256SUMS"
}

if [ -f "$dir/done" ]; then
	copy_out
	echo "demo box: cached ($dir)"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "demo box: debootstrap needs root (sudo $0 $out)" >&2; exit 1; }
for t in debootstrap mkfs.ext4 sfdisk grub-mkimage; do
	command -v "$t" >/dev/null || { echo "demo box: $t is missing (make deps)" >&2; exit 1; }
done
[ -x "$envbox" ] || { echo "demo box: $envbox is missing (make)" >&2; exit 1; }
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
work=$dir.tmp
root=$work/root
start=$(date +%s)

# -- the root file system ------------------------------------------------------------------
echo "demo box: debootstrap bookworm from $mirror"
debootstrap --variant=minbase --merged-usr \
	--include=systemd-sysv,udev,dbus,openssh-server,sudo,rsync,linux-image-cloud-amd64,iproute2,ifupdown,isc-dhcp-client,netbase,procps \
	bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; exit 1; }

uuid=$(cat /proc/sys/kernel/random/uuid)
cmdline="root=UUID=$uuid ro console=ttyS0,115200 net.ifnames=0 fsck.mode=skip quiet systemd.show_status=1"
echo "envup-demo" >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tenvup-demo\n' >"$root/etc/hosts"
echo "UUID=$uuid / ext4 defaults,noatime 0 1" >"$root/etc/fstab"
# eth0 by DHCP (slirp's or libvirt's); allow-hotplug so that boot does not wait for it
cat >"$root/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
EOF
# the vagrant user, as every Vagrant base box has it: insecure key, password-less sudo
chroot "$root" useradd -m -s /bin/bash -U vagrant
echo 'vagrant:vagrant' | chroot "$root" chpasswd
echo 'root:vagrant' | chroot "$root" chpasswd
install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$pub" "$root/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
install -d -o 1000 -g 1000 "$root/vagrant"
# host keys are made on each machine's first boot: a box must not hand every machine the same
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=SSH host keys of this machine
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/ssh-hostkeys.service \
	"$root/etc/systemd/system/multi-user.target.wants/ssh-hostkeys.service"
echo 'UseDNS no' >"$root/etc/ssh/sshd_config.d/envup-demo.conf"
# tuned to boot fast: nothing periodic, no getty on tty1 (the console is the serial port)
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
	getty@tty1.service systemd-networkd-wait-online.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done
echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
: >"$root/etc/machine-id"

kernel=$(ls "$root"/boot/vmlinuz-* | head -1)
initrd=$(ls "$root"/boot/initrd.img-* | head -1)
[ -f "$kernel" ] && [ -f "$initrd" ] || { echo "demo box: no kernel or initrd in the root" >&2; exit 1; }
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
echo "$cmdline" >"$work/cmdline"

# -- GRUB: serial console, no menu delay ---------------------------------------------------
install -d "$root/boot/grub/i386-pc"
cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$root/boot/grub/i386-pc/"
cat >"$root/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
menuentry "Debian 12 (envup demo box)" {
	search --no-floppy --fs-uuid --set=root $uuid
	linux /boot/$(basename "$kernel") $cmdline
	initrd /boot/$(basename "$initrd")
}
EOF

# -- the disk: one MBR partition from 1 MiB, ext4 filled from the root without mounting ----
size_mib=2048
truncate -s ${size_mib}M "$work/disk.raw"
echo 'start=2048, type=83, bootable' | sfdisk -q "$work/disk.raw"
mkfs.ext4 -q -F -U "$uuid" -L root -d "$root" "$work/fs.raw" $((size_mib - 1))M
dd if="$work/fs.raw" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$work/fs.raw"
# GRUB's boot sector in the MBR (its first 440 bytes: the partition table stays) and its core
# image right after it, as grub-bios-setup would place them; grub-mkimage has already written
# the core's own length into its first sector's block list.
grub-mkimage -O i386-pc -o "$work/core.img" -p "(hd0,msdos1)/boot/grub" \
	biosdisk part_msdos ext2 normal linux search search_fs_uuid serial terminal configfile echo test
[ "$(stat -c %s "$work/core.img")" -lt $((2047 * 512)) ] || { echo "demo box: core.img too big" >&2; exit 1; }
dd if=/usr/lib/grub/i386-pc/boot.img of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=1 conv=notrunc status=none

# -- the three flavours --------------------------------------------------------------------
"$envbox" package --image "$work/disk.raw" --format raw --kernel "$work/vmlinuz" \
	--initrd "$work/initrd.img" --cmdline "$cmdline" --flavour envup --output "$work/demo-envup.box" >/dev/null
"$envbox" package --image "$work/disk.raw" --format raw --flavour libvirt \
	--output "$work/demo-libvirt.box" >/dev/null
"$envbox" package --image "$work/disk.raw" --format raw --flavour virtualbox \
	--output "$work/demo-virtualbox.box" >/dev/null
(cd "$work" && sha256sum demo-*.box >SHA256SUMS)
rm -rf "$root" "$work/disk.raw" "$work/core.img"
touch "$work/done"
rm -rf "$dir"
mv "$work" "$dir"
echo "demo box: built in $(($(date +%s) - start)) s ($dir)"
copy_out
