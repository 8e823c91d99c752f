#!/usr/bin/env bash
# Machines through the qemu provider with the demo box (tests/boxes/build-demo-box.sh):
#  1. linked clone: a machine's disk on a 2 GiB and a 20 GiB box: image_create_qcow2 (what
#     envup runs) timed inside its process (target: under 10 ms, the same for both sizes), and
#     as a process (tests/tools/images_tool) against `qemu-img create -b`; medians of 20;
#  2. each phase of envup (resolve, clone and start, boot to SSH-ready, key swap, provision)
#     and envdestroy, from the time stamps of envup -v's lines (the box installed first, by
#     envbox add, timed on its own);
#  3. the provider's overhead: envup to SSH-ready (first login) against qemu-system-x86_64
#     started by hand with the same options on an overlay of the same base and waited for with
#     ssh, side by side in one run; ratio envup/by hand (target at most 1.05).
# Without hardware KVM both boot under TCG: minutes, and noisy on a shared machine.
set -u
cd "$(dirname "$0")/../.."
SRC=$PWD
BIN=$SRC/build/rel/bin
TOOL=$SRC/build/rel/tests/images_tool
ROUNDS=${ENVUP_BENCH_MACHINE_ROUNDS:-1}
command -v qemu-system-x86_64 >/dev/null || { echo "machines bench: no qemu-system-x86_64 (make deps)"; exit 0; }
BOXES=${ENVUP_DEMO_BOXES:-$SRC/build/demo-box}
if ! bash tests/boxes/build-demo-box.sh "$BOXES" >/dev/null 2>&1; then
	echo "machines bench: SKIPPED: the demo box could not be built (root and deb.debian.org needed)"
	exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/envup-bench-machines.XXXXXX")
cleanup() {
	[ -f "$T/hand.pid" ] && kill -9 "$(cat "$T/hand.pid")" 2>/dev/null
	(cd "$T/p" 2>/dev/null && "$BIN/envdestroy" -f >/dev/null 2>&1)
	rm -rf "$T"
}
trap cleanup EXIT
export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
ms() { echo "$(($(date +%s%N) / 1000000))"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# ---- 1. linked clone -------------------------------------------------------------------------
echo "linked clone, median of 20:"
for gib in 2 20; do
	qemu-img create -q -f qcow2 "$T/base$gib.qcow2" "${gib}G"
	# 256 MiB of data at the start and the end: a box with content, not an empty header
	qemu-io -f qcow2 -c "write -P 7 0 128M" -c "write -P 9 $((gib * 1024 - 128))M 128M" \
		"$T/base$gib.qcow2" >/dev/null
	inproc=$("$TOOL" create-timed "$T/o.qcow2" "$T/base$gib.qcow2" qcow2 20)
	for tool in envup qemu-img; do
		for i in $(seq 20); do
			rm -f "$T/o.qcow2"
			t0=$(date +%s%N)
			if [ $tool = envup ]; then
				"$TOOL" create "$T/o.qcow2" 0 "$T/base$gib.qcow2" qcow2 >/dev/null
			else
				qemu-img create -q -f qcow2 -b "$T/base$gib.qcow2" -F qcow2 "$T/o.qcow2"
			fi
			echo $((($(date +%s%N) - t0) / 1000))
		done | median >"$T/clone.$tool.$gib"
	done
	printf '  %2d GiB box: in envup %.2f ms (target < 10); as a process: envup %.2f ms, qemu-img create -b %.2f ms, ratio %.2f\n' \
		"$gib" "$(echo "$inproc / 1000" | bc -l)" \
		"$(echo "$(cat "$T/clone.envup.$gib") / 1000" | bc -l)" \
		"$(echo "$(cat "$T/clone.qemu-img.$gib") / 1000" | bc -l)" \
		"$(echo "$(cat "$T/clone.envup.$gib") / $(cat "$T/clone.qemu-img.$gib")" | bc -l)"
done

# ---- 2. envup's phases -------------------------------------------------------------------------
mkdir -p "$T/p"
cd "$T/p" || exit 1
cat >Envfile <<EOF
version: 1
machines:
  k:
    provider: qemu
    box: demo/libvirt
    box_url: $BOXES/demo-libvirt.box
    memory: 512
    boot_timeout: 1200
    synced_folders: [{host: ., guest: /vagrant, disabled: true}]
    provision:
      - shell: {name: hello, inline: "echo hello from \$(hostname)"}
EOF
# stamp T0: each line of stdin with the ms since T0 (ms), stamped as it arrives (bash's
# EPOCHREALTIME: no process per line, no read-ahead)
stamp() {
	local line
	while IFS= read -r line; do
		printf '%d %s\n' "$((${EPOCHREALTIME/./} / 1000 - $1))" "$line"
	done
}
# at PATTERN FILE: the first stamp of a line matching PATTERN
at() { grep -m1 -- "$1" "$2" | cut -d' ' -f1; }
phases() { # LOG
	local box start wait swap ready prov end
	box=$(at "Box 'demo/libvirt'" "$1") start=$(at "Bringing machine up" "$1")
	wait=$(at "started in" "$1") swap=$(at "replacing the insecure key" "$1")
	ready=$(at "SSH ready" "$1") prov=$(at "Running provisioner" "$1") end=$(at "envup-done" "$1")
	printf '  resolve (installed box)        %8d ms\n' "$box"
	printf '  clone and start qemu           %8d ms\n' "$((wait - start))"
	printf '  boot to SSH-ready              %8d ms\n' "$((swap - wait))"
	printf '  key swap and host key pin      %8d ms\n' "$((ready - swap))"
	printf '  provision (one shell step)     %8d ms\n' "$((end - prov))"
	printf '  envup in all                   %8d ms\n' "$end"
}
t0=$(ms)
"$BIN/envbox" add "$BOXES/demo-libvirt.box" --name demo/libvirt -q >/dev/null || exit 1
echo "envbox add of the libvirt demo box from a file: $(($(ms) - t0)) ms"
for r in $(seq "$ROUNDS"); do
	t0=$(ms)
	{ "$BIN/envup" -v 2>&1; echo "envup-done $?"; } | stamp "$t0" >"$T/up.$r.log"
	grep -q "envup-done 0" "$T/up.$r.log" || { echo "machines bench: envup failed:"; tail -20 "$T/up.$r.log"; exit 1; }
	echo "envup phases, qemu provider ($(grep -q 'software (TCG)' "$T/up.$r.log" && echo TCG || echo KVM)), round $r:"
	phases "$T/up.$r.log"
	base=$(python3 -c 'import json; print(json.load(open(".envup/machines/k/state.json"))["box_dir"])')/base.qcow2
	t0=$(ms)
	"$BIN/envdestroy" -f >/dev/null 2>&1
	printf '  envdestroy (running machine)   %8d ms\n' "$(($(ms) - t0))"

	# ---- 3. the same machine by hand: overlay, qemu, ssh until it answers ------------------
	cp "$SRC/data/keys/vagrant" "$T/key" && chmod 600 "$T/key"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	accel=tcg cpu=max
	[ -w /dev/kvm ] && grep -qE 'vmx|svm' /proc/cpuinfo && accel=kvm cpu=host
	t0=$(ms)
	rm -f "$T/hand.qcow2"
	qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$T/hand.qcow2"
	qemu-system-x86_64 -name hand -machine pc,accel=$accel -cpu $cpu -smp 1 -m 512 -nodefaults \
		-display none -drive "file=$T/hand.qcow2,format=qcow2,if=virtio,cache=writeback,discard=unmap" \
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
		-device virtio-rng-pci -serial "file:$T/hand.console" -pidfile "$T/hand.pid" -daemonize
	until ssh -q -i "$T/key" -p "$port" -o ConnectTimeout=5 -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null vagrant@127.0.0.1 true; do
		[ $(($(ms) - t0)) -gt 1200000 ] && { echo "machines bench: the hand-started qemu never answered"; exit 1; }
		sleep 0.5
	done
	hand=$(($(ms) - t0))
	kill -9 "$(cat "$T/hand.pid")"
	rm -f "$T/hand.pid"
	ours=$(at "replacing the insecure key" "$T/up.$r.log")
	printf 'SSH-ready: envup %d ms, qemu by hand %d ms: ratio %.3f (target <= 1.05)\n' \
		"$ours" "$hand" "$(echo "$ours / $hand" | bc -l)"
	cd "$T/p" || exit 1
done
