#!/usr/bin/env python3
"""Builds box archives for the box store tests.

  boxes_make.py envup OUT DISK FMT [ARCH] [--compress gz|xz|zst|none|zip] [--kernel]
  boxes_make.py libvirt1 OUT DISK [--compress ...]           (box.img + "format")
  boxes_make.py libvirt2 OUT DISK1 DISK2 [--compress ...]    (disks[] in that order)
  boxes_make.py virtualbox OUT VMDK1 VMDK2 [--compress ...]  (box.ovf attaching VMDK2 first)
  boxes_make.py vmware OUT VMDK1 VMDK2 [EXTENT...] [--compress ...]
      (box.vmx naming VMDK1 first; EXTENTs, the files of a split VMDK1, keep their names)
  boxes_make.py hostile KIND OUT   KIND: traversal absolute symlink dotlink hardsym linkchain users hardlink device huge nometa
  boxes_make.py catalog OUT NAME BASEURL V:PROVIDER:ARCH:FILE[:default] ...
      (checksum sha256 of FILE; FILE "BAD" gives a wrong checksum for the next entry's file)
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile


def add_bytes(tf, name, data, **kw):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data))


def write_box(out, files, compress):
    """files: list of (name in archive, path on disk or bytes)."""
    if compress == "zip":
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, src in files:
                if isinstance(src, bytes):
                    z.writestr(name, src)
                else:
                    z.write(src, name)
        return
    raw = out + ".tar" if compress in ("zst",) else out
    mode = {"gz": "w:gz", "xz": "w:xz", "none": "w", "zst": "w"}[compress]
    with tarfile.open(raw, mode, format=tarfile.GNU_FORMAT) as tf:
        for name, src in files:
            if isinstance(src, bytes):
                add_bytes(tf, name, src)
            else:
                tf.add(src, name)
    if compress == "zst":
        subprocess.check_call(["zstd", "-q", "-f", "--rm", raw, "-o", out])


def opt(args, name, default=None):
    if name in args:
        i = args.index(name)
        v = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else True
        del args[i:i + (2 if v is not True else 1)]
        return v
    return default


def meta(d):
    return json.dumps(d).encode()


OVF = """<?xml version="1.0"?>
<Envelope ovf:version="1.0" xmlns="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>
    <File ovf:id="file1" ovf:href="box-disk001.vmdk"/>
    <File ovf:id="file2" ovf:href="box-disk002.vmdk"/>
  </References>
  <DiskSection>
    <Info>disks</Info>
    <Disk ovf:capacity="1" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:capacity="1" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="box">
    <VirtualHardwareSection>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:HostResource>/disk/vmdisk2</rasd:HostResource>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>1</rasd:AddressOnParent>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def hostile(kind, out):
    with tarfile.open(out, "w:gz", format=tarfile.GNU_FORMAT) as tf:
        add_bytes(tf, "metadata.json", meta({"provider": "libvirt", "format": "raw"})) \
            if kind != "nometa" else None
        add_bytes(tf, "box.img", b"\0" * 4096)
        if kind == "traversal":
            add_bytes(tf, "../escaped.txt", b"escaped\n")
        elif kind == "absolute":
            add_bytes(tf, "/tmp/envup-escaped-absolute.txt", b"escaped\n")
        elif kind == "symlink":
            ti = tarfile.TarInfo("link")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "../../.."
            tf.addfile(ti)
            add_bytes(tf, "link/escaped.txt", b"escaped\n")
        elif kind == "dotlink":
            # "d/./link" sits one level down: "../../x" climbs out of the box
            ti = tarfile.TarInfo("d")
            ti.type = tarfile.DIRTYPE
            tf.addfile(ti)
            ti = tarfile.TarInfo("d/./link")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "../../escaped-dotlink"
            tf.addfile(ti)
        elif kind == "hardsym":
            # contained where it lies (a/b), not once hard-linked to the top
            ti = tarfile.TarInfo("a/b/l")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "../../escaped-hardsym"
            tf.addfile(ti)
            ti = tarfile.TarInfo("l2")
            ti.type = tarfile.LNKTYPE
            ti.linkname = "a/b/l"
            tf.addfile(ti)
        elif kind == "linkchain":
            # each link lexically inside; through a -> . the chain climbs six levels out
            for name, target in (("a", "."), ("b", "a/a/a/a/a/a/../../../../../../victim")):
                ti = tarfile.TarInfo(name)
                ti.type = tarfile.SYMTYPE
                ti.linkname = target
                tf.addfile(ti)
        elif kind == "users":
            # the store's own record of the machines using a box: never from the archive
            add_bytes(tf, "users/planted", b"/")
        elif kind == "hardlink":
            ti = tarfile.TarInfo("passwd")
            ti.type = tarfile.LNKTYPE
            ti.linkname = "../../../../etc/passwd"
            tf.addfile(ti)
        elif kind == "device":
            ti = tarfile.TarInfo("dev-sda")
            ti.type = tarfile.BLKTYPE
            ti.devmajor, ti.devminor = 8, 0
            tf.addfile(ti)
        elif kind == "huge":
            ti = tarfile.TarInfo("huge.img")
            ti.size = 4 << 40  # 4 TiB claimed, nothing behind it
            tf.fileobj.write(ti.tobuf(tarfile.GNU_FORMAT, tf.encoding, tf.errors))
            tf.offset += tarfile.BLOCKSIZE


def catalog(out, name, base, entries):
    versions = {}
    for ent in entries:
        parts = ent.split(":")
        v, prov, arch, f = parts[:4]
        p = {"name": prov, "url": base + "/" + os.path.basename(f)}
        if arch != "-":
            p["architecture"] = arch
        if len(parts) > 4 and parts[4] == "default":
            p["default_architecture"] = True
        if os.path.exists(f):
            p["checksum_type"] = "sha256"
            p["checksum"] = hashlib.sha256(open(f, "rb").read()).hexdigest()
            if len(parts) > 4 and parts[4] == "badsum":
                p["checksum"] = "0" * 64
        versions.setdefault(v, []).append(p)
    doc = {"name": name, "description": "test box",
           "versions": [{"version": v, "providers": ps} for v, ps in versions.items()]}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)


def main():
    a = sys.argv[1:]
    compress = opt(a, "--compress", "gz")
    kernel = opt(a, "--kernel", False)
    kind = a[0]
    if kind == "envup":
        out, disk, fmt = a[1], a[2], a[3]
        arch = a[4] if len(a) > 4 else "amd64"
        m = {"provider": "envup", "architecture": arch,
             "disk": {"path": "disk." + fmt, "format": fmt}}
        files = [("metadata.json", meta(m)), ("disk." + fmt, disk)]
        if kernel:
            m.update(kernel="boot/vmlinuz", initrd="boot/initrd.img", cmdline="console=ttyS0")
            files = [("metadata.json", meta(m)), ("disk." + fmt, disk),
                     ("boot/vmlinuz", b"kernel"), ("boot/initrd.img", b"initrd")]
        write_box(out, files, compress)
    elif kind == "libvirt1":
        write_box(a[1], [("metadata.json", meta({"provider": "libvirt", "format": "qcow2",
                                                  "virtual_size": 1})), ("box.img", a[2])],
                  compress)
    elif kind == "libvirt2":
        write_box(a[1], [("metadata.json", meta({"provider": "libvirt", "format_version": 2,
                                                  "disks": [{"path": "main.qcow2", "format": "qcow2"},
                                                            {"path": "extra.qcow2", "format": "qcow2"}]})),
                         ("main.qcow2", a[2]), ("extra.qcow2", a[3])], compress)
    elif kind == "virtualbox":
        write_box(a[1], [("metadata.json", meta({"provider": "virtualbox"})),
                         ("box.ovf", OVF.encode()), ("box-disk001.vmdk", a[2]),
                         ("box-disk002.vmdk", a[3]), ("Vagrantfile", b"# empty\n")], compress)
    elif kind == "vmware":
        vmx = ('.encoding = "UTF-8"\nscsi0:0.present = "TRUE"\n'
               'scsi0:0.fileName = "disk-main.vmdk"\nscsi0:1.fileName = "disk-data.vmdk"\n')
        write_box(a[1], [("metadata.json", meta({"provider": "vmware_desktop"})),
                         ("box.vmx", vmx.encode()), ("disk-main.vmdk", a[2]),
                         ("disk-data.vmdk", a[3])] +
                  [(os.path.basename(f), f) for f in a[4:]], compress)
    elif kind == "hostile":
        hostile(a[1], a[2])
    elif kind == "catalog":
        catalog(a[1], a[2], a[3], a[4:])
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()
