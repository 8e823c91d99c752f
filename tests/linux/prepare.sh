#!/usr/bin/env bash
# The stock Linux guest for tests/integration/vmm_linux.sh: Debian's own kernel package.
#   prepare.sh fetch   (from `make deps`) downloads the package linux-image-amd64 points to
#                      into build/linux/ with apt-get (nothing is installed or booted here)
#   prepare.sh build   unpacks it: build/linux/vmlinuz (bzImage), build/linux/vmlinux (the
#                      ELF inside it, for the PVH entry) and build/linux/initramfs.gz
#                      (Debian's static busybox, tests/linux/init and the virtio modules)
#   prepare.sh initramfs OUT INIT MODULE...
#                      any other initramfs of busybox, INIT and the package's modules
#                      (the nested KVM lab's, tests/kvmlab/prepare.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/linux
mkdir -p "$out"

# kernel_deb: the downloaded kernel package (fails with a message when there is none)
kernel_deb() {
	local deb
	deb=$(ls "$out"/linux-image-*.deb 2>/dev/null | head -1)
	[ -n "$deb" ] || { echo "no kernel package in $out (make deps fetches it)" >&2; return 1; }
	echo "$deb"
}

# make_initramfs OUT INIT MODULE...: a gzipped cpio with Debian's static busybox, INIT as
# /init and the kernel package's MODULEs (in the order given, which /lib/modules/order keeps).
make_initramfs() {
	local dst=$1 init=$2 deb root m f
	shift 2
	deb=$(kernel_deb)
	[ -x /bin/busybox ] && command -v cpio >/dev/null ||
		{ echo "busybox-static and cpio are needed (make deps)" >&2; return 1; }
	root=$(mktemp -d "$out/initramfs.XXXXXX")
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules} "$root/pkg"
	cp /bin/busybox "$root/bin/busybox"
	cp "$init" "$root/init"
	chmod 755 "$root/init"
	echo "$@" >"$root/lib/modules/order"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root/pkg" --wildcards './lib/modules/*'
	for m in "$@"; do
		f=$(find "$root/pkg/lib/modules" -name "$m.ko*" | head -1)
		[ -n "$f" ] || { echo "module $m not in $deb" >&2; rm -rf "$root"; return 1; }
		case $f in
		*.ko.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$root/lib/modules/$m.ko" ;;
		*) cp "$f" "$root/lib/modules/$m.ko" ;;
		esac
	done
	rm -rf "$root/pkg"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$dst.tmp"
	mv "$dst.tmp" "$dst"
	rm -rf "$root"
}

case ${1:-} in
fetch)
	ls "$out"/linux-image-*.deb >/dev/null 2>&1 && exit 0
	kernel_pkg() {
		apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
	}
	pkg=$(kernel_pkg)
	if [ -z "$pkg" ]; then # no package lists yet on this machine
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		$sudo apt-get update -qq || true
		pkg=$(kernel_pkg)
	fi
	if [ -z "$pkg" ]; then
		echo "prepare.sh: apt knows no linux-image-amd64; the Linux boot test will be skipped" >&2
		exit 0
	fi
	(cd "$out" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
	ls "$out"/linux-image-*.deb >/dev/null 2>&1 ||
		echo "prepare.sh: could not download $pkg; the Linux boot test will be skipped" >&2
	;;
build)
	deb=$(kernel_deb)
	if [ "$out/initramfs.gz" -nt "$deb" ] && [ "$out/initramfs.gz" -nt tests/linux/init ] &&
		[ "$out/initramfs.gz" -nt tests/linux/prepare.sh ] &&
		[ -s "$out/vmlinux" ] && [ -s "$out/vmlinuz" ]; then
		exit 0
	fi
	rm -rf "$out/pkg"
	mkdir -p "$out/pkg"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$out/pkg" --wildcards './boot/vmlinuz-*'
	cp "$out"/pkg/boot/vmlinuz-* "$out/vmlinuz"
	python3 tests/linux/unpack_bzimage.py "$out/vmlinuz" "$out/vmlinux"
	rm -rf "$out/pkg"
	# in load order (each after what it depends on); init reads this list
	make_initramfs "$out/initramfs.gz" tests/linux/init virtio_ring virtio virtio_pci_modern_dev \
		virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net virtio-rng \
		button evdev
	;;
initramfs)
	shift
	make_initramfs "$@"
	;;
*)
	echo "usage: prepare.sh fetch|build|initramfs OUT INIT MODULE..." >&2
	exit 2
	;;
esac
