#!/usr/bin/env bash
# needs: kvm
# slow: two stock-Linux boots of about 3 minutes each in the nested lab (make test-slow-only)
# envvmm --share: Debian's stock kernel mounts envvmm's virtio-9p share with its own 9p
# client (tests/linux/init_9p) and reads a host file, writes files the host then sees
# (a 6 MiB one compared byte for byte), makes, renames, links and removes entries, lists a
# directory, and sees a host write at once; every escape fails: ".." chains, absolute and
# relative symbolic links the host placed in the share, a hard link of such a link or of a
# file outside, and a symbolic link to the outside that the host swaps in for a directory
# while the guest walks through it; a read-only share refuses every change with EROFS. Run
# with the sanitizer build (every request under ASan/UBSan) and the release build (the
# seccomp sandbox on, which must block nothing the server does).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"
. "$(dirname "$0")/vmm_linux.inc"

# Usage errors need no KVM: usage_case MESSAGE ARGS... exits 2 saying MESSAGE.
usage_case() {
	local want=$1
	shift
	"$ENVVMM" --memory 64 --kernel /dev/null "$@" 2>"$T/usage.err"
	[ $? -eq 2 ] && grep -q -- "$want" "$T/usage.err"
}
check "--share without tag= is a usage error" usage_case "tag=TAG is required" --share "$T"
check "--share of a missing directory is a usage error" \
	usage_case "is not a directory" --share "$T/nope,tag=a"
check "--share with a bad tag is a usage error" usage_case "tag must be" --share "$T,tag=a/b"
check "--share tags are unique" usage_case "used twice" --share "$T,tag=a" --share "$T,tag=a"
check "--share settings are checked" usage_case "unknown setting" --share "$T,tag=a,rw"

linux_prepare
vmm_require_kvm || finish
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	skip "9p under KVM" "SKIPPED: this KVM has no vmx/svm (PVM); tests/run.sh runs this suite in the nested KVM lab"
	finish
fi
# The 9p guest's initramfs, kept in the build folder (the lab's TCG unpacks slowly).
P9_INITRD=$ENVUP_BUILD/linux/initramfs-9p.gz
if [ ! "$P9_INITRD" -nt "$ENVUP_SRC/tests/linux/init_9p" ] ||
	[ ! "$P9_INITRD" -nt "$ENVUP_SRC/tests/linux/prepare.sh" ] ||
	[ ! "$P9_INITRD" -nt "$(ls "$ENVUP_BUILD"/linux/linux-image-*.deb | head -1)" ]; then
	# (progress lines: the lab's runner stops a lab whose suites print nothing for minutes)
	echo "# building the 9p guest's initramfs (minutes under the lab's TCG)"
	if ! bash "$ENVUP_SRC/tests/linux/prepare.sh" initramfs "$P9_INITRD" \
		"$ENVUP_SRC/tests/linux/init_9p" virtio_ring virtio virtio_pci_modern_dev \
		virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p \
		>"$T/initramfs.log" 2>&1; then
		not_ok "initramfs for the 9p guest: $(tail -2 "$T/initramfs.log")"
		finish
	fi
fi

# share_make DIR OUTSIDE: the share the guest checks.
share_make() {
	local s=$1 o=$2
	rm -rf "$s" "$o"
	mkdir -p "$s/dir" "$s/many" "$s/race/d" "$o"
	echo "hello from the host" >"$s/hello"
	echo inner >"$s/dir/f"
	echo outside-secret >"$o/secret"
	echo inside >"$s/race/d/secret"
	ln -s "$o/secret" "$s/abs_file"
	ln -s "$o" "$s/abs"
	ln -s "../$(basename "$o")" "$s/rel"
	ln -s "$o" "$s/race/link"
	(cd "$s/many" && seq -f 'file%05g' 1 300 | xargs touch)
}

# run_9p NAME ENVVMM: boots the guest with the share and the read-only share, the host
# answering its ping and swapping race/d for a link to the outside meanwhile.
run_9p() {
	local name=$1 vmm=$2 s=$T/$1/share o=$T/$1/outside ro=$T/$1/ro pid swapper
	mkdir -p "$T/$name"
	share_make "$s" "$o"
	mkdir -p "$ro"
	echo "hello from the host" >"$ro/hello"
	TOKEN=tok$RANDOM
	echo "# $name: booting Debian's kernel with the shares (at most ${ENVUP_9P_LIMIT:-200} s)"
	timeout -k 5 "${ENVUP_9P_LIMIT:-200}" "$vmm" --memory 512 --cpus 2 --kernel "$L/vmlinuz" \
		--initrd "$P9_INITRD" --log "$T/$name.log" \
		--share "$s,tag=share" --share "$ro,tag=ro,readonly" \
		--cmdline "console=ttyS0 panic=-1 envup.mode=check envup.outside=$o envup.token=$TOKEN" \
		>"$T/$name.out" 2>"$T/$name.err" </dev/null &
	pid=$!
	python3 - "$s" "$T/$name.stop" <<-'PY' &
		import os, sys, time
		s, stop = sys.argv[1], sys.argv[2]
		r = os.path.join(s, "race")
		swaps = 0
		while not os.path.exists(stop):
		    # the directory goes away and a link to the outside takes its name, and back
		    os.rename(f"{r}/d", f"{r}/real"); os.rename(f"{r}/link", f"{r}/d")
		    os.rename(f"{r}/d", f"{r}/link"); os.rename(f"{r}/real", f"{r}/d")
		    swaps += 1
		    if os.path.exists(f"{s}/ping") and not os.path.exists(f"{s}/pong"):
		        with open(f"{s}/pong.tmp", "w") as f:
		            f.write("pong\n")
		        os.rename(f"{s}/pong.tmp", f"{s}/pong")
		    if swaps % 8 == 0:  # leave the lab's CPUs to the guest too
		        time.sleep(0.002)
		open(stop + ".swaps", "w").write(str(swaps))
	PY
	swapper=$!
	wait "$pid"
	VMM_RC=$?
	touch "$T/$name.stop"
	wait "$swapper"
	# what the guest said, for the report
	grep -a '^envup-9p:' "$T/$name.out" | sed "s/^/# $name: /"
	[ "$VMM_RC" -eq 0 ] || tail -n 15 "$T/$name.out" "$T/$name.log" | sed "s/^/# $name: /"
}

# expect_9p NAME: every check of init_9p passed, and the host sees what the guest did.
expect_9p() {
	local name=$1 s=$T/$1/share o=$T/$1/outside ro=$T/$1/ro c
	for c in mount read write big-file dir-ops listing live dotdot abs-symlink-file \
		abs-symlink-dir rel-symlink hardlink-symlink hardlink-outside symlink-race ro-mount \
		ro-read ro-create ro-append ro-trunc ro-mkdir ro-rm ro-mv ro-symlink ro-chmod \
		ro-touch ro-erofs umount; do
		if grep -q "^envup-9p: $c ok" "$T/$name.out"; then
			ok "$name: guest check $c"
		else
			not_ok "$name: guest check $c: $(grep "^envup-9p: $c" "$T/$name.out" | head -c 300)"
		fi
	done
	check "$name: init ran to its end" grep -q "^envup-9p: done" "$T/$name.out"
	check "$name: guest power-off ends envvmm with 0 (rc $VMM_RC: $(tail -c 200 "$T/$name.err"))" \
		[ "$VMM_RC" -eq 0 ]
	check "$name: the host sees the guest's file" \
		grep -qx "written-by-guest $TOKEN" "$s/from-guest"
	check "$name: the host sees the guest's 6 MiB file, byte for byte" \
		bash -c "[ \"\$(md5sum <'$s/big' | cut -d' ' -f1)\" = \"\$(grep -o 'big-file ok [0-9a-f]*' '$T/$name.out' | cut -d' ' -f3)\" ]"
	check "$name: the file outside the share is untouched" \
		bash -c "[ \"\$(cat '$o/secret')\" = outside-secret ] && [ \"\$(stat -c %h '$o/secret')\" = 1 ]"
	check "$name: the guest's hard link of the host's link is a link" \
		bash -c "[ ! -e '$s/hl_of_link' ] || [ -L '$s/hl_of_link' ]"
	check "$name: the read-only share is as it was" \
		bash -c "[ \"\$(ls -A '$ro')\" = hello ] && [ \"\$(cat '$ro/hello')\" = 'hello from the host' ]"
	check "$name: the host swapped the link in during the walks ($(cat "$T/$name.stop.swaps" 2>/dev/null) swaps)" \
		[ "$(cat "$T/$name.stop.swaps" 2>/dev/null || echo 0)" -gt 10 ]
	if grep -qE "BUG:|Oops|9pnet: .*error" "$T/$name.out"; then
		not_ok "$name: linux complains: $(grep -E 'BUG:|Oops|9pnet: .*error' "$T/$name.out" | head -3 | tr '\n' ';')"
	else
		ok "$name: no oops or 9p transport error in the kernel log"
	fi
	check "$name: envvmm logged the shares" grep -q "share: .* as 9p tag ro (read-only)" "$T/$name.log"
}

run_9p san "$ENVVMM"
expect_9p san

REL=$ENVUP_BUILD/rel/bin/envvmm
if [ -x "$REL" ]; then
	run_9p rel "$REL"
	expect_9p rel
	check "rel: the seccomp sandbox was on" grep -q 'sandbox: seccomp filter on' "$T/rel.log"
	check "rel: the sandbox blocked no system call of the 9p server" \
		bash -c "! grep -q 'blocked system call' '$T/rel.log'"
else
	not_ok "release envvmm not built"
fi
finish
