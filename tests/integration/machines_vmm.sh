#!/usr/bin/env bash
# needs: kvm
# needs: demo-box
# slow: two Debian boots in the nested KVM lab (4-6 min there)
# lab-timeout: 1500
# The vmm provider end to end with the direct-boot demo box (envup's own flavour: envvmm
# boots the box's kernel and initrd): envup to SSH-ready with the key swapped and the host
# key pinned, provisioning, TCP forwards on 127.0.0.1 and on another host_ip, a UDP forward,
# envstatus, envssh -c, a graceful envhalt (the ACPI power button through envvmm's control
# socket), envup keeping the disk, envhalt -f, envdestroy leaving nothing. The project lies
# in a deep folder with a comma in its name (see machines_vmm.inc).
FLAVOUR=envup BOOT_ARG=--kernel
. "$(dirname "$0")/machines_vmm.inc"
