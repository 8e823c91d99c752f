#!/usr/bin/env bash
# The vmm provider's own overhead, with the direct-boot demo box (demo-envup.box: envvmm boots
# the box's kernel and initrd; tests/boxes/build-demo-box.sh), the counterpart of sections 2
# and 3 of machines.sh (the qemu provider):
#  1. each phase of envup with `provider: vmm` (resolve, clone and start envvmm, boot to
#     SSH-ready, key swap, provision) and envdestroy, from the time stamps of envup -v's lines
#     (the box installed first by envbox add, timed on its own);
#  2. side by side in the same run, the same machine by hand: a qcow2 overlay on the same
#     base.qcow2 (qemu-img create -b), then
#       - envvmm with the options a user would type (memory, vCPUs, the kernel, initrd and
#         command line of the box's metadata, the overlay, user networking with an SSH host
#         forward on 127.0.0.1), and
#       - qemu-system-x86_64 -accel kvm with the same kernel, initrd, command line, overlay and
#         memory (what a user would otherwise run),
#     each waited for with ssh and the insecure key (data/keys/vagrant) until it answers.
#     Prints envup-to-SSH-ready against envvmm by hand (the provider's overhead; target at most
#     1.05) and against qemu by hand, as ratios.
# ENVUP_BENCH_MACHINE_ROUNDS rounds (default 1), the order of the three reversed every other
# round; medians when more than one. Where the host has no hardware KVM it runs itself inside
# the nested KVM lab: absolute times there are TCG times, only the ratios mean something.
set -u
cd "$(dirname "$0")/../.." || exit 1
SRC=$PWD
BIN=$SRC/build/rel/bin
ROUNDS=${ENVUP_BENCH_MACHINE_ROUNDS:-1}
BOXES=${ENVUP_DEMO_BOXES:-$SRC/build/demo-box}
NAME="machines bench (vmm)"
skipped() { echo "$NAME: SKIPPED ($*)"; exit 0; }

if ! { [ -c /dev/kvm ] && (exec 9<>/dev/kvm) 2>/dev/null && grep -qwE 'vmx|svm' /proc/cpuinfo; }; then
	[ -n "${ENVUP_KVMLAB:-}" ] && skipped "no usable /dev/kvm even in the nested KVM lab"
	command -v qemu-system-x86_64 >/dev/null ||
		skipped "no hardware KVM and no nested lab: qemu-system-x86_64 missing (make deps)"
	# the box on the host: the lab has no network and its /root (the box's cache) is empty
	bash tests/boxes/build-demo-box.sh "$BOXES" >/dev/null 2>&1 ||
		skipped "the demo box could not be built (root and deb.debian.org needed)"
	echo "$NAME: no hardware KVM here; running in the nested KVM lab (TCG: compare ratios only)"
	exec tests/kvmlab/run.sh --timeout $((600 + 1200 * ROUNDS)) bash "$0" "$@"
fi
[ -x "$BIN/envup" ] && [ -x "$BIN/envvmm" ] || skipped "no release build in $BIN (make)"
command -v qemu-img >/dev/null || skipped "qemu-img missing (make deps)"
if [ ! -f "$BOXES/demo-envup.box" ] && ! bash tests/boxes/build-demo-box.sh "$BOXES" >/dev/null 2>&1; then
	skipped "no demo box in $BOXES and it could not be built here"
fi
have_qemu=true
command -v qemu-system-x86_64 >/dev/null || have_qemu=false
[ -n "${ENVUP_KVMLAB:-}" ] &&
	echo "$NAME: in the nested KVM lab: every time below is a TCG time (the lab's CPU is emulated); compare the ratios only"

T=$(mktemp -d "${TMPDIR:-/tmp}/envup-bench-vmm.XXXXXX")
# ended PID: the process is gone (or a zombie that its new parent has not reaped yet)
ended() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# stop_hand: kills the machine started by hand, waits until it is gone, removes its overlay
stop_hand() {
	local pid
	pid=$(cat "$T/hand.pid" 2>/dev/null)
	if [ -n "$pid" ]; then
		kill -9 "$pid" 2>/dev/null
		for _ in $(seq 100); do ended "$pid" && break; sleep 0.1; done
	fi
	rm -f "$T/hand.pid" "$T/hand.qcow2"
}
cleanup() {
	stop_hand
	(cd "$T/p" 2>/dev/null && "$BIN/envdestroy" -f >/dev/null 2>&1)
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
ms() { echo "$(($(date +%s%N) / 1000000))"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# keep NAME VALUE: one round's figure; med NAME: the median over the rounds
keep() { echo "$2" >>"$T/res.$1"; }
med() { median <"$T/res.$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "$NAME: $1"; [ -n "${2:-}" ] && tail -20 "$2" | sed 's/^/  /'; exit 1; }

t0=$(ms)
"$BIN/envbox" add "$BOXES/demo-envup.box" --name demo/envup -q >/dev/null || fail "envbox add failed"
echo "envbox add of the direct-boot demo box from a file: $(($(ms) - t0)) ms"
BASE=$(find "$XDG_DATA_HOME/envup/boxes" -name base.qcow2 | head -1)
[ -f "$BASE" ] || fail "no base.qcow2 in the installed box"
# the kernel, initrd and command line of the installed box's metadata, as the provider reads them
eval "$(python3 - "$(dirname "$BASE")" <<'PY'
import json, os, shlex, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "metadata.json")))
print("KERNEL=%s INITRD=%s CMDLINE=%s" % (shlex.quote(os.path.join(d, m["kernel"])),
      shlex.quote(os.path.join(d, m["initrd"])), shlex.quote(m["cmdline"])))
PY
)"
[ -f "$KERNEL" ] && [ -f "$INITRD" ] || fail "the box's metadata names no kernel and initrd"
MEM=512 CPUS=1
cp "$SRC/data/keys/vagrant" "$T/key" && chmod 600 "$T/key"
# Every program each side runs loaded once before the clocks start: in the lab they come from
# the host over 9p under TCG (envup's own programs were loaded by envbox add).
"$BIN/envvmm" --help >/dev/null 2>&1
qemu-img --version >/dev/null
ssh -V 2>/dev/null
if $have_qemu; then
	qemu-system-x86_64 -version >/dev/null
	find -L /usr/share/qemu /usr/share/seabios -maxdepth 1 -type f -exec cat {} + >/dev/null 2>&1
fi

mkdir -p "$T/p"
cat >"$T/p/Envfile" <<EOF
version: 1
machines:
  k:
    provider: vmm
    box: demo/envup
    box_url: $BOXES/demo-envup.box
    memory: $MEM
    cpus: $CPUS
    boot_timeout: 1200
    synced_folders: [{host: ., guest: /vagrant, disabled: true}]
    provision:
      - shell: {name: hello, inline: "echo hello from \$(hostname)"}
EOF
# stamp T0: each line of stdin with the ms since T0, stamped as it arrives (bash's
# EPOCHREALTIME: no process per line, no read-ahead)
stamp() {
	local line
	while IFS= read -r line; do
		printf '%d %s\n' "$((${EPOCHREALTIME/./} / 1000 - $1))" "$line"
	done
}
# at PATTERN FILE: the first stamp of a line matching PATTERN
at() { grep -m1 -- "$1" "$2" | cut -d' ' -f1; }

run_envup() { # ROUND
	local log=$T/up.$1.log box start wait swap ready prov end t0
	cd "$T/p" || exit 1
	t0=$(ms)
	{ "$BIN/envup" -v 2>&1; echo "envup-done $?"; } | stamp "$t0" >"$log"
	grep -q "envup-done 0" "$log" || fail "envup failed:" "$log"
	box=$(at "Box 'demo/envup'" "$log") start=$(at "Bringing machine up" "$log")
	wait=$(at "started in" "$log") swap=$(at "replacing the insecure key" "$log")
	ready=$(at "SSH ready" "$log") prov=$(at "Running provisioner" "$log") end=$(at "envup-done" "$log")
	grep -q "with provider 'vmm'" "$log" || fail "envup did not use the vmm provider:" "$log"
	echo "envup phases, vmm provider, round $1:"
	printf '  resolve (installed box)        %8d ms\n' "$box"
	printf '  clone and start envvmm         %8d ms\n' "$((wait - start))"
	printf '  boot to SSH-ready              %8d ms\n' "$((swap - wait))"
	printf '  key swap and host key pin      %8d ms\n' "$((ready - swap))"
	printf '  provision (one shell step)     %8d ms\n' "$((end - prov))"
	printf '  envup in all                   %8d ms\n' "$end"
	printf '  SSH-ready from envup'"'"'s start   %8d ms\n' "$swap"
	keep resolve "$box"
	keep start "$((wait - start))"
	keep boot "$((swap - wait))"
	keep swap "$((ready - swap))"
	keep provision "$((end - prov))"
	keep envup "$end"
	keep ready.envup "$swap"
	t0=$(ms)
	"$BIN/envdestroy" -f >/dev/null 2>&1 || fail "envdestroy failed"
	t0=$(($(ms) - t0))
	printf '  envdestroy (running machine)   %8d ms\n' "$t0"
	keep destroy "$t0"
	[ ! -e "$T/p/.envup/machines/k" ] || fail "envdestroy left .envup/machines/k behind"
	cd "$SRC" || exit 1
}

# run_hand ROUND envvmm|qemu: overlay, the VMM started by hand, ssh until it answers
run_hand() {
	local port t0 overlay started ready
	port=$(free_port)
	t0=$(ms)
	qemu-img create -q -f qcow2 -b "$BASE" -F qcow2 "$T/hand.qcow2" || fail "qemu-img create failed"
	overlay=$(($(ms) - t0))
	if [ "$2" = envvmm ]; then
		"$BIN/envvmm" --memory $MEM --cpus $CPUS --kernel "$KERNEL" --initrd "$INITRD" \
			--cmdline "$CMDLINE" --disk "${T//,/,,}/hand.qcow2,format=qcow2,backing=${BASE//,/,,}" \
			--net "user,hostfwd=tcp:127.0.0.1:$port-:22" --console "$T/hand.console" \
			--pidfile "$T/hand.pid" --daemonize >"$T/hand.start.log" 2>&1 ||
			fail "envvmm by hand did not start:" "$T/hand.start.log"
	else
		qemu-system-x86_64 -machine pc,accel=kvm -cpu host -smp $CPUS -m $MEM -nodefaults \
			-display none -kernel "$KERNEL" -initrd "$INITRD" -append "$CMDLINE" \
			-drive "file=${T//,/,,}/hand.qcow2,format=qcow2,if=virtio,cache=writeback" \
			-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
			-device virtio-rng-pci -serial "file:$T/hand.console" -pidfile "$T/hand.pid" \
			-daemonize >"$T/hand.start.log" 2>&1 || fail "qemu by hand did not start:" "$T/hand.start.log"
	fi
	started=$(($(ms) - t0))
	until ssh -q -i "$T/key" -p "$port" -o IdentitiesOnly=yes -o ConnectTimeout=5 -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null vagrant@127.0.0.1 true; do
		[ $(($(ms) - t0)) -gt 1200000 ] && fail "$2 by hand never answered SSH:" "$T/hand.console"
		sleep 0.5
	done
	ready=$(($(ms) - t0))
	stop_hand
	printf '%s by hand, round %d: overlay made after %d ms, started after %d ms, SSH-ready after %d ms\n' \
		"$2" "$1" "$overlay" "$started" "$ready"
	keep "ready.$2" "$ready"
}

for r in $(seq "$ROUNDS"); do
	order="envup envvmm qemu"
	[ $((r % 2)) -eq 0 ] && order="qemu envvmm envup"
	for what in $order; do
		case $what in
		envup) run_envup "$r" ;;
		envvmm) run_hand "$r" envvmm ;;
		qemu) $have_qemu && run_hand "$r" qemu ;;
		esac
	done
done

[ "$ROUNDS" -gt 1 ] && echo "medians of $ROUNDS rounds (the order reversed every other round):" &&
	printf '  resolve %.0f, clone and start %.0f, boot %.0f, key swap %.0f, provision %.0f, envup %.0f, envdestroy %.0f ms\n' \
		"$(med resolve)" "$(med start)" "$(med boot)" "$(med swap)" "$(med provision)" "$(med envup)" "$(med destroy)"
# ratio A B: SSH-ready of A over B, the ratio of the medians; with rounds, also each round's
# (the two ran minutes apart, not hours: less of the shared machine's drift) and their median
ratio() {
	printf '%.3f' "$(echo "$(med "ready.$1") / $(med "ready.$2")" | bc -l)"
	[ "$ROUNDS" -gt 1 ] || return 0
	paste -d' ' "$T/res.ready.$1" "$T/res.ready.$2" | awk '{print $1 / $2}' >"$T/ratios"
	printf ' (each round: %s; their median %.3f)' "$(awk '{printf "%s%.3f", (NR > 1 ? " " : ""), $1}' "$T/ratios")" \
		"$(median <"$T/ratios")"
}
ours=$(med ready.envup) vmm=$(med ready.envvmm)
printf 'SSH-ready: envup (vmm provider) %.0f ms, envvmm by hand %.0f ms: ratio %s (the provider'"'"'s overhead, target <= 1.05)\n' \
	"$ours" "$vmm" "$(ratio envup envvmm)"
if $have_qemu; then
	q=$(med ready.qemu)
	printf 'SSH-ready: envup (vmm provider) %.0f ms, qemu -accel kvm by hand %.0f ms: ratio %s\n' \
		"$ours" "$q" "$(ratio envup qemu)"
	printf 'SSH-ready: envvmm by hand %.0f ms, qemu -accel kvm by hand %.0f ms: ratio %s\n' \
		"$vmm" "$q" "$(ratio envvmm qemu)"
else
	echo "qemu -accel kvm by hand: SKIPPED (no qemu-system-x86_64: make deps)"
fi
