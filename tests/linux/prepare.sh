#!/usr/bin/env bash
# The stock Linux guest for tests/integration/vmm_linux.sh: Debian's own kernel package.
#   prepare.sh fetch   (from `make deps`) downloads the package linux-image-amd64 points to
#                      into build/linux/ with apt-get (nothing is installed or booted here)
#   prepare.sh build   unpacks it: build/linux/vmlinuz (bzImage), build/linux/vmlinux (the
#                      ELF inside it, for the PVH entry) and build/linux/initramfs.gz
#                      (Debian's static busybox, tests/linux/init and the virtio modules)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/linux
mkdir -p "$out"

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
	deb=$(ls "$out"/linux-image-*.deb 2>/dev/null | head -1)
	[ -n "$deb" ] || { echo "no kernel package in $out (make deps fetches it)" >&2; exit 1; }
	[ -x /bin/busybox ] && command -v cpio >/dev/null ||
		{ echo "busybox-static and cpio are needed (make deps)" >&2; exit 1; }
	if [ "$out/initramfs.gz" -nt "$deb" ] && [ "$out/initramfs.gz" -nt tests/linux/init ] &&
		[ "$out/initramfs.gz" -nt tests/linux/prepare.sh ] &&
		[ -s "$out/vmlinux" ]; then
		exit 0
	fi
	rm -rf "$out/pkg" "$out/initramfs"
	dpkg-deb -x "$deb" "$out/pkg"
	cp "$out"/pkg/boot/vmlinuz-* "$out/vmlinuz"
	python3 tests/linux/unpack_bzimage.py "$out/vmlinuz" "$out/vmlinux"
	root=$out/initramfs
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
	cp /bin/busybox "$root/bin/busybox"
	cp tests/linux/init "$root/init"
	chmod 755 "$root/init"
	# in load order (each after what it depends on); init reads this list
	modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
		virtio_blk failover net_failover virtio_net virtio-rng"
	echo $modules >"$root/lib/modules/order"
	for m in $modules; do
		f=$(find "$out/pkg/lib/modules" -name "$m.ko*" | head -1)
		[ -n "$f" ] || { echo "module $m not in $deb" >&2; exit 1; }
		case $f in
		*.ko.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$root/lib/modules/$m.ko" ;;
		*) cp "$f" "$root/lib/modules/$m.ko" ;;
		esac
	done
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$out/initramfs.gz.tmp"
	mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
	rm -rf "$out/pkg" "$root"
	;;
*)
	echo "usage: prepare.sh fetch|build" >&2
	exit 2
	;;
esac
