#!/usr/bin/env bash
# The nested KVM lab: runs a command inside a Linux that has a real /dev/kvm, on hosts that
# have none (or only PVM). Debian's own kernel boots under QEMU's TCG with AMD SVM and nested
# paging emulated (-cpu EPYC,+svm,+npt), loads kvm-amd, sees the host's root read-only and the
# checkout (and every --rw folder) read-write over virtio-9p, so the project's binaries and
# the host's tools run there unchanged.
#
#   tests/kvmlab/run.sh [--rw DIR]... [--timeout SECS] [--memory MiB] [--cpus N] CMD [ARG...]
#
# CMD runs in the current directory with the current environment (less what names the host
# only); its output is this script's output and its exit status is this script's. The lab's
# start-up time goes to stderr as "kvmlab: ready in N.NN s". Status 125: the lab itself failed
# (its kernel console is kept in build/kvmlab/last-console.log).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${ENVUP_BUILD:-$src/build}
rw=("$src")
limit=1800 memory=3072 cpus=2
while [ $# -gt 0 ]; do
	case $1 in
	--rw) rw+=("$(cd "$2" && pwd)"); shift 2 ;;
	--timeout) limit=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--) shift; break ;;
	-*) echo "kvmlab: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: tests/kvmlab/run.sh [--rw DIR]... [--timeout S] CMD [ARG...]" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "kvmlab: qemu-system-x86_64 is missing (make deps)" >&2; exit 125; }
for p in "${rw[@]}" "$PWD"; do
	case $p in *[\ ,=]*) echo "kvmlab: path '$p' has a space, comma or '=' (not shareable)" >&2; exit 125 ;; esac
done

bash "$src/tests/kvmlab/prepare.sh" || exit 125
mkdir -p "$build/kvmlab/runs"
rm -f "$build/kvmlab/last-console.log" # this boot's, or none
dir=$(mktemp -d "$build/kvmlab/runs/run.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# The command file: the caller's environment (less the shell's own and host-only names),
# its directory, then the command.
{
	export -p | grep -vE '^declare -x (BASH_[A-Z_]*|SHLVL|OLDPWD|PWD|_|TMPDIR|DISPLAY|SSH_[A-Z_]*|XDG_RUNTIME_DIR|TERM)='
	echo "export ENVUP_KVMLAB=1 TMPDIR=/tmp HOME=\${HOME:-/root}"
	printf 'cd %q || exit 125\n' "$PWD"
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$dir/cmd.sh"

rwlist=$(IFS=,; echo "${rw[*]}")
# (the monitor's socket in /tmp: a checkout's path may be longer than a socket's 107 bytes)
monitor=$(mktemp -u /tmp/kvmlab-monitor.XXXXXX)
# nokaslr: a frozen lab's instruction pointers read against one kallsyms (kvmlab.syms)
syms=$build/kvmlab/kallsyms-$(basename "$(ls "$build"/linux/linux-image-*.deb | head -1)" .deb)
args=(-accel tcg,thread=multi -cpu EPYC,+svm,+npt -smp "$cpus" -m "$memory"
	-machine q35 -display none -no-reboot -nodefaults -name kvmlab,debug-threads=on
	-monitor "unix:$monitor,server=on,wait=off" -pidfile "$dir/qemu.pid"
	-kernel "$build/linux/vmlinuz" -initrd "$build/kvmlab/initramfs.gz"
	-append "console=ttyS0 panic=-1 nokaslr printk.time=1 kvmlab.dir=$dir kvmlab.rw=$rwlist kvmlab.syms=$syms"
	-serial "file:$dir/console.log" -serial stdio
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
i=0
for p in "${rw[@]}"; do
	args+=(-virtfs "local,path=$p,mount_tag=rw$i,security_model=none,multidevs=remap")
	i=$((i + 1))
done

# The freeze watch: the lab's init rewrites $dir/heartbeat every 5 s. When it has not for
# ENVUP_KVMLAB_FREEZE seconds (90; a loaded lab beats at most a few seconds late), the lab's
# kernel froze (seen under QEMU TCG's nested SVM, docs/notes/vmm.md): what QEMU says about
# its vCPUs goes to build/kvmlab/last-freeze.log, an NMI asks the kernel for a backtrace on
# the console, and QEMU is stopped.
# "TID TICKS STATE NAME WCHAN" for each of QEMU's threads, sorted for join
qemu_threads() {
	local t rest
	for t in /proc/"$(cat "$dir/qemu.pid")"/task/*; do
		read -r rest <"$t/stat" || continue
		rest=${rest##*) }
		# shellcheck disable=SC2086 # the fields of stat after "(comm) "
		set -- $rest
		echo "${t##*/} $((${12} + ${13})) $1 $(tr ' ' _ <"$t/comm") $(cat "$t/wchan" 2>/dev/null)"
	done | sort
}
freeze_watch() {
	local grace=${ENVUP_KVMLAB_FREEZE:-90} now beat
	set +e # a report that cannot be made must not keep a frozen lab running
	while sleep 5; do
		[ -f "$dir/heartbeat" ] && [ -f "$dir/qemu.pid" ] || continue
		now=$(date +%s) beat=$(stat -c %Y "$dir/heartbeat")
		[ $((now - beat)) -ge "$grace" ] || continue
		{
			echo "kvmlab: no heartbeat for $((now - beat)) s at $(date -u +%T); QEMU's view:"
			python3 "$src/tests/kvmlab/monitor.py" "$monitor" \
				"info cpus" "info registers -a" "info registers -a" nmi
			# which of QEMU's threads burn CPU (a vCPU spinning) and which wait, and where
			echo "QEMU's threads: TID, name, CPU ticks in 2 s, state, kernel wait channel"
			qemu_threads >"$dir/threads.1"
			sleep 2
			qemu_threads | join "$dir/threads.1" - |
				awk '{print "  " $1, $8, $6 - $2, $7, $9}'
			sleep 5
			echo "console tail after the NMI:"
			tail -n 60 "$dir/console.log"
			[ -f "$syms" ] && echo "symbols: $syms (nokaslr); modules at freeze:" && cat "$dir/modules"
		} >"$build/kvmlab/last-freeze.log" 2>&1
		touch "$dir/frozen"
		kill "$(cat "$dir/qemu.pid")" 2>/dev/null
		return
	done
}
freeze_watch &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true; rm -rf "$dir" "$monitor"' EXIT

start=$EPOCHREALTIME
set +e
# (TCG lacks a few of the EPYC model's features, none that kvm-amd needs: those warnings go)
# (--foreground: QEMU stays in this script's process group, so that whoever stops the group
# stops the lab; plain timeout would move it to a group of its own)
# (in the background: bash runs a trap only once the foreground command ends, so a TERM to
# this script alone would have left QEMU running until its timeout)
{
	timeout --foreground "$limit" qemu-system-x86_64 "${args[@]}" </dev/null \
		2> >(grep -v "TCG doesn't support requested feature" >&2) | {
		ready=false
		while IFS= read -r line || [ -n "$line" ]; do
			if ! $ready && [ "$line" = kvmlab-ready ]; then
				ready=true
				printf 'kvmlab: ready in %.2f s\n' "$(echo "$EPOCHREALTIME - $start" | bc)" >&2
				continue
			fi
			printf '%s\n' "$line"
		done
	}
	echo "${PIPESTATUS[0]}" >"$dir/qrc"
} &
lab_pid=$! stopped_by=
# a TERM or INT stops the lab: timeout passes it on to QEMU
trap 'stopped_by=143; pkill -TERM -P $lab_pid' TERM
trap 'stopped_by=130; pkill -TERM -P $lab_pid' INT
while kill -0 "$lab_pid" 2>/dev/null; do
	wait "$lab_pid"
done
qrc=$(cat "$dir/qrc" 2>/dev/null || echo 125)
set -e
if [ -n "$stopped_by" ]; then
	echo "kvmlab: stopped by a signal" >&2
	exit "$stopped_by"
fi
cp "$dir/console.log" "$build/kvmlab/last-console.log" 2>/dev/null || true
if [ -f "$dir/rc" ]; then
	exit "$(cat "$dir/rc")"
fi
if [ -f "$dir/frozen" ]; then
	echo "kvmlab: the lab's kernel froze (no heartbeat for ${ENVUP_KVMLAB_FREEZE:-90} s): stopped; QEMU's view in $build/kvmlab/last-freeze.log:" >&2
	python3 "$src/tests/kvmlab/monitor.py" --summary "$syms" "$build/kvmlab/last-freeze.log" >&2 || true
	echo "kvmlab: the console's last lines:" >&2
	tail -n 8 "$dir/console.log" >&2 || true
elif [ "$qrc" -eq 124 ]; then
	echo "kvmlab: the command did not finish within $limit s" >&2
else
	echo "kvmlab: the lab stopped without the command's status (qemu exited $qrc); console: $build/kvmlab/last-console.log" >&2
	tail -n 20 "$dir/console.log" >&2 || true
fi
exit 125
