#!/usr/bin/env bash
# slow: boots one Debian machine under QEMU's TCG (minutes on 2 cores)
# envbox package --machine end to end: a machine from the demo box (libvirt flavour) on the
# qemu provider, refused while it runs; a file written in it, the machine halted, packaged
# (its overlay flattened with the box's base.qcow2, the sha256 printed), the packaged box
# installed, and the file read back from the new box's disk with debugfs (the ext4 of its
# raw conversion), where the original box has no such file.
source "$(dirname "$0")/lib.sh"
command -v debugfs >/dev/null || { skip "package --machine" "no debugfs (e2fsprogs)"; finish; }
qemu_demo_setup "package --machine"
project_dir
cat >Envfile <<EOT
version: 1
defaults:
  synced_folders: [{host: ., guest: /vagrant, disabled: true}]
machines:
  web:
    provider: qemu
    box: demo/libvirt
    box_url: $BOXES/demo-libvirt.box
    memory: 512
    boot_timeout: 600
EOT
at_exit '"$BIN/envdestroy" -f >/dev/null 2>&1'

# read_root_file DISK PATH: PATH from the ext4 root partition (the first) of the qcow2 DISK.
read_root_file() {
	local raw=$T/read.raw start size
	rm -f "$raw" "$T/root.img"
	qemu-img convert -O raw "$1" "$raw" || return 1
	start=$(sfdisk -J "$raw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"])')
	size=$(sfdisk -J "$raw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["size"])')
	dd if="$raw" of="$T/root.img" bs=1M iflag=skip_bytes,count_bytes skip=$((start * 512)) \
		count=$((size * 512)) conv=sparse status=none || return 1
	rm -f "$raw"
	debugfs -R "cat $2" "$T/root.img" 2>/dev/null
	rm -f "$T/root.img"
}

start=$(date +%s)
"$BIN/envup" web >"$T/up.log" 2>&1
rc=$?
echo "# envup under TCG: $(($(date +%s) - start)) s"
check_sh "envup brings the machine up (status $rc)" '[ $rc -eq 0 ]' || true
[ $rc -eq 0 ] || tail -30 "$T/up.log"

out=$("$BIN/envbox" package --machine web --output "$T/running.box" 2>&1)
rc=$?
check_sh "package --machine refuses a running machine, saying to halt it" \
	'[ $rc -eq 1 ] && grep -q "machine .web. is running.*envhalt web" <<<"$out" && ! ls "$T" | grep -q "^running.box"'
check "the refusal left the machine running" sh -c "'$BIN/envstatus' web | grep -q 'web .*running'"

marker="packaged-$RANDOM-$RANDOM"
"$BIN/envssh" web -c "echo $marker | sudo tee /root/marker.txt >/dev/null && sync" >"$T/ssh.log" 2>&1
check "a file written in the machine" [ $? -eq 0 ]
"$BIN/envhalt" web >"$T/halt.log" 2>&1
check "envhalt" sh -c "'$BIN/envstatus' web | grep -q 'web .*halted'"

start=$(date +%s)
"$BIN/envbox" package --machine web --output "$T/web.box" --json >"$T/pkg.json" 2>"$T/pkg.err"
rc=$?
echo "# package --machine: $(($(date +%s) - start)) s"
check_sh "package --machine of the halted machine (status $rc)" '[ $rc -eq 0 ]' || cat "$T/pkg.err"
sum=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["checksum"])' "$T/pkg.json" 2>/dev/null)
check_sh "the sha256 printed is the box file's" '[ -n "$sum" ] && [ "$sum" = "$(sha256sum "$T/web.box" | cut -d" " -f1)" ]'
mkdir -p "$T/pkg" && tar -C "$T/pkg" -xf "$T/web.box"
check "the machine's box flavour (libvirt) is kept: vagrant-libvirt metadata" \
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["provider"]=="libvirt" and m["format"]=="qcow2" and m["virtual_size"]>=2' "$T/pkg/metadata.json"
check "box.img is one qcow2 without a backing file" \
	sh -c "qemu-img check -q '$T/pkg/box.img' && ! qemu-img info '$T/pkg/box.img' | grep -q 'backing file'"
check "box.img reads as the machine's disk (overlay on base)" \
	qemu-img compare -q "$T/pkg/box.img" "$P/.envup/machines/web/disk.qcow2"
rm -rf "$T/pkg"

dir=$("$BIN/envbox" add "$T/web.box" --name test/packaged --json 2>"$T/add.err" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["dir"])')
check_sh "the packaged box installs" '[ -f "$dir/base.qcow2" ]' || cat "$T/add.err"
got=$(read_root_file "$dir/base.qcow2" /root/marker.txt)
check_sh "the file written in the machine is in the new box's disk" '[ "$got" = "$marker" ]'
orig=$(ls -d "$XDG_DATA_HOME"/envup/boxes/demo-VAGRANTSLASH-libvirt/*/*/ | head -1)
got=$(read_root_file "$orig/base.qcow2" /root/marker.txt)
check_sh "and not in the box the machine was made from (control)" '[ -z "$got" ]'
finish
