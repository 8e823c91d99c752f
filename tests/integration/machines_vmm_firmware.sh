#!/usr/bin/env bash
# needs: kvm
# needs: demo-box
# slow: two Debian boots in the nested KVM lab (4-6 min there)
# lab-timeout: 1500
# The vmm provider end to end with the libvirt-flavoured demo box, which has no kernel of its
# own: envvmm boots it through firmware (SeaBIOS, then GRUB from the disk's MBR), the rest of
# the lifecycle as in machines_vmm.sh (see machines_vmm.inc).
FLAVOUR=libvirt BOOT_ARG=--firmware
. "$(dirname "$0")/machines_vmm.inc"
