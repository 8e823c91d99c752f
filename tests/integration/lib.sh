# Sourced by integration scripts. Prints TAP-style lines that tests/run.sh counts.
# Every script gets its own scratch directory, removed on exit.
set -u
ENVUP_SRC=${ENVUP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ENVUP_BUILD=${ENVUP_BUILD:-$ENVUP_SRC/build}
ENVCTL=${ENVCTL:-$ENVUP_BUILD/san/bin/envctl}
ENVVMM=${ENVVMM:-$ENVUP_BUILD/san/bin/envvmm}
T=$(mktemp -d "${TMPDIR:-/tmp}/envup-it.XXXXXX")
_cleanups=()
at_exit() { _cleanups+=("$1"); }
_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
	rm -rf "$T"
}
trap _run_cleanups EXIT
_failures=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; _failures=$((_failures + 1)); }
skip() { echo "ok - $1 # SKIP ${2:-}"; }
# check NAME COMMAND...: ok when the command succeeds. It and check_sh return 1 on a failure,
# so that "check ... || print what went wrong" prints it.
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name"; return 1; fi
}
# check_sh NAME 'CONDITION': ok when the shell condition holds. CONDITION is evaluated here,
# whole, so it may join tests with && and || (check would run only the part before them).
check_sh() {
	if eval "$2"; then ok "$1"; else not_ok "$1"; return 1; fi
}
# finish: exit status for the script.
finish() { [ "$_failures" -eq 0 ]; exit $?; }
# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# project_dir [DIR]: makes the project directory P (default $T/project) and enters it.
project_dir() {
	P=${1:-$T/project}
	mkdir -p "$P" && cd "$P" || exit 1
}
# qemu_demo_setup NAME: what the qemu provider's suites on the demo box need first:
# qemu-system-x86_64 and the box's flavours in $BOXES (tests/boxes/build-demo-box.sh builds
# them, or copies them from its cache in seconds), else a skip line for NAME and the end of the
# script; then XDG directories of the script's own, and BIN, the folder of the envNAME commands.
qemu_demo_setup() {
	command -v qemu-system-x86_64 >/dev/null || { skip "$1" "no qemu-system-x86_64 (make deps)"; finish; }
	BOXES=${ENVUP_DEMO_BOXES:-$ENVUP_BUILD/demo-box}
	if ! bash "$ENVUP_SRC/tests/boxes/build-demo-box.sh" "$BOXES" >"$T/box.log" 2>&1; then
		tail -5 "$T/box.log"
		skip "$1" "the demo box could not be built (root and deb.debian.org needed)"
		finish
	fi
	export XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache XDG_CONFIG_HOME=$T/config
	BIN=$(dirname "$ENVCTL")
}

# stock_kernel_box NAME: STOCK_BOX, the direct-boot demo box (demo-envup.box in $BOXES) with
# Debian's stock kernel (the package tests/linux/prepare.sh fetches into $ENVUP_BUILD/linux)
# and an initramfs that loads virtio, ext4 and 9p (tests/linux/init_root) instead of the
# box's cloud kernel, which is built without 9p. Kept beside the demo box and made again only
# when one of its inputs is newer: the lab's TCG takes minutes to make it, the host seconds,
# and the qemu suite (on the host) runs before the vmm suite (in the lab). Without the
# package: a skip line for NAME and the end of the script.
stock_kernel_box() {
	local deb sb=$T/stockbox f
	STOCK_BOX=$BOXES/demo-stock.box
	deb=$(ls "$ENVUP_BUILD"/linux/linux-image-*.deb 2>/dev/null | head -1)
	if [ -z "$deb" ]; then
		skip "$1" "no Debian kernel package in $ENVUP_BUILD/linux (make deps fetches it)"
		finish
	fi
	for f in "$BOXES/demo-envup.box" "$deb" "$ENVUP_SRC/tests/linux/init_root" \
		"$ENVUP_SRC/tests/linux/prepare.sh" ""; do
		[ -n "$f" ] || return 0 # every input older: the kept box is current
		[ "$STOCK_BOX" -nt "$f" ] || break
	done
	echo "# building the demo box with Debian's stock kernel (minutes under the lab's TCG)"
	mkdir -p "$sb" && tar -xf "$BOXES/demo-envup.box" -C "$sb" &&
		dpkg-deb --fsys-tarfile "$deb" | tar -x -O --wildcards './boot/vmlinuz-*' >"$sb/boot/vmlinuz" &&
		bash "$ENVUP_SRC/tests/linux/prepare.sh" initramfs "$sb/boot/initrd.img" \
			"$ENVUP_SRC/tests/linux/init_root" virtio_ring virtio virtio_pci_modern_dev \
			virtio_pci_legacy_dev virtio_pci virtio_blk crc16 mbcache jbd2 crc32c_generic ext4 \
			failover net_failover virtio_net virtio-rng button evdev netfs fscache 9pnet \
			9pnet_virtio 9p >"$T/initramfs.log" 2>&1 &&
		(cd "$sb" && tar -cf "$STOCK_BOX.tmp$$" metadata.json disk.qcow2 boot) &&
		mv "$STOCK_BOX.tmp$$" "$STOCK_BOX" ||
		{ rm -f "$STOCK_BOX.tmp$$"; not_ok "the stock-kernel demo box: $(tail -2 "$T/initramfs.log")"; finish; }
	rm -rf "$sb"
}

# The kill suites' (machines_qemu_kill.sh, machines_vmm_kill.sh) helpers.
# wait_for SECONDS 'CONDITION': 0 once CONDITION holds, 1 after SECONDS.
wait_for() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		eval "$2" && return 0
		sleep 0.2
	done
	return 1
}
# stopped PID: the process stopped itself (ENVUP_TEST_STOP).
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }
# port_free PORT [IP [udp]]: nothing listens on PORT at IP (127.0.0.1), TCP or UDP. A closed
# forward's TIME_WAIT on the port does not count: envup and slirp bind with SO_REUSEADDR too
# (without it, a guest server that closed a connection first held the port for 60 s).
port_free() {
	python3 - "$1" "${2:-127.0.0.1}" "${3:-tcp}" 2>/dev/null <<'PY'
import socket, sys
port, ip, udp = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "udp"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
if not udp:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
PY
}
# state_of: envstatus's state of the Envfile's first machine ($BIN: the envNAME commands).
state_of() { "$BIN/envstatus" --json 2>/dev/null | python3 -c "import json,sys;print(json.load(sys.stdin)['machines'][0]['state'])"; }
