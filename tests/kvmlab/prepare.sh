#!/usr/bin/env bash
# Builds the nested KVM lab's kernel and initramfs (build/linux/vmlinuz and
# build/kvmlab/initramfs.gz) from the Debian kernel package `make deps` downloads.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/kvmlab
mkdir -p "$out"
bash tests/linux/prepare.sh build
deb=$(ls build/linux/linux-image-*.deb | head -1)
if [ "$out/initramfs.gz" -nt "$deb" ] && [ "$out/initramfs.gz" -nt tests/kvmlab/init ] &&
	[ "$out/initramfs.gz" -nt tests/kvmlab/prepare.sh ]; then
	exit 0
fi
# in load order: virtio-pci and 9p for the shared folders, then KVM for AMD (SVM)
bash tests/linux/prepare.sh initramfs "$out/initramfs.gz" tests/kvmlab/init \
	virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
	netfs fscache 9pnet 9pnet_virtio 9p irqbypass ccp kvm kvm-amd
