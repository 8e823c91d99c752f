#!/usr/bin/env bash
# needs: kvm
# envvmm: --daemonize, --pidfile, --log and the --api control socket (status, pause, resume,
# shutdown through the ACPI power button, stop), with the test-kit guest waiting for the button.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

vmm_require_kvm || finish

# api SOCKET JSON: one request, prints the reply line.
# wait_for FILE PATTERN: up to 20 s.
wait_for() {
	for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

# gone PID: the process ended within 10 s.
gone() {
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

start() {
	"$ENVVMM" --daemonize --memory 64 --kernel "$KIT_ELF" --api "$T/ctl.sock" \
		--pidfile "$T/pid" --console "$T/$1.console" --log "$T/$1.log" \
		--cmdline "$KIT64 kit.tests=powerbutton" >"$T/$1.out" 2>&1
}

# A permissive umask must not open the control socket to other users, even for a moment.
(umask 000 && start a)
check "daemonize: parent exits 0 once the machine runs" [ $? -eq 0 ]
pid=$(cat "$T/pid" 2>/dev/null)
at_exit "kill $pid 2>/dev/null"
check "pidfile names a live process" kill -0 "$pid"
check "control socket is there" [ -S "$T/ctl.sock" ]
check "control socket is 0600 whatever the umask" [ "$(stat -c %a "$T/ctl.sock")" = 600 ]
check "guest waits for the power button" wait_for "$T/a.console" '^kit: waiting for power button'

r=$(vmm_api "$T/ctl.sock" '{"command":"status"}')
check "status: running, 1 vCPU, 64 MiB" \
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["ok"] and r["state"]=="running" and r["vcpus"]==1 and r["memory_mib"]==64 and r["uptime_s"]>0, r' "$r"
r=$(vmm_api "$T/ctl.sock" '{"command":"pause"}')
check "pause: paused" grep -q '"state":"paused"' <<<"$r"
r=$(vmm_api "$T/ctl.sock" '{"command":"status"}')
check "status while paused" grep -q '"state":"paused"' <<<"$r"
r=$(vmm_api "$T/ctl.sock" '{"command":"resume"}')
check "resume: running" grep -q '"state":"running"' <<<"$r"
r=$(vmm_api "$T/ctl.sock" '{"command":"reboot"}')
check "unknown command: error naming the known ones" \
	grep -q '"ok":false.*unknown command .reboot. (status, stop, shutdown, pause, resume)' <<<"$r"
r=$(vmm_api "$T/ctl.sock" 'not json')
check "malformed request: error" grep -q '"ok":false' <<<"$r"
r=$(vmm_api "$T/ctl.sock" '{"command":"status"}\0junk\n{"command":"status"}' 2)
check "a NUL byte in a line: that line refused, the next one answered" \
	grep -q '"ok":false,"error":"NUL byte in request line".*"state":"running"' <<<"$r"
r=$(vmm_api "$T/ctl.sock" '{"command":"shutdown"}')
check "shutdown: guest was listening for the power button" \
	grep -q '"method":"acpi-power-button","guest_listening":true' <<<"$r"
check "shutdown: process ends" gone "$pid"
check "shutdown: guest saw the button" grep -q '^kit: ok powerbutton' "$T/a.console"
check "shutdown: guest powered off through ACPI S5" grep -q 'guest power off (ACPI S5)' "$T/a.log"
check "pidfile removed" [ ! -e "$T/pid" ]
check "socket removed" [ ! -e "$T/ctl.sock" ]

start b
pid=$(cat "$T/pid" 2>/dev/null)
at_exit "kill $pid 2>/dev/null"
wait_for "$T/b.console" '^kit: waiting for power button'
# A client that writes requests but never reads the replies must not stall the VMM's device
# thread in send(): another client is still answered while it holds its connection open.
python3 - "$T/ctl.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
try:
    for _ in range(20000):
        s.sendall(b'{"command":"status"}\n' * 10)
except OSError:
    pass
time.sleep(8)
PY
hog=$!
at_exit "kill $hog 2>/dev/null"
sleep 3
r=$(vmm_api "$T/ctl.sock" '{"command":"status"}')
check "a client that never reads its replies does not stall the control socket" \
	grep -q '"state":"running"' <<<"$r"
kill $hog 2>/dev/null
r=$(vmm_api "$T/ctl.sock" '{"command":"stop"}')
check "stop: ok" grep -q '"ok":true' <<<"$r"
check "stop: process ends" gone "$pid"
check "stop: logged" grep -q 'stopped through the control socket' "$T/b.log"

start s
pid=$(cat "$T/pid" 2>/dev/null)
at_exit "kill $pid 2>/dev/null"
wait_for "$T/s.console" '^kit: waiting for power button'
kill -TERM "$pid"
check "SIGTERM: process ends" gone "$pid"
check "SIGTERM: orderly exit logged" grep -q 'terminated by signal 15' "$T/s.log"
check "SIGTERM: pidfile and socket removed" test ! -e "$T/pid" -a ! -e "$T/ctl.sock"

# A control socket deeper than sun_path holds (107 bytes: a deep project folder) and a disk
# whose path has commas (",," in --disk).
deep=$T/$(printf 'deep-folder-%.0s' $(seq 8))/with,comma
mkdir -p "$deep"
head -c 1048576 /dev/zero >"$deep/d,isk.raw"
"$ENVVMM" --daemonize --memory 64 --kernel "$KIT_ELF" --api "$deep/ctl.sock" \
	--pidfile "$deep/pid" --console "$T/l.console" --log "$T/l.log" \
	--disk "${deep//,/,,}/d,,isk.raw,format=raw" --cmdline "$KIT64 kit.tests=powerbutton" \
	>"$T/l.out" 2>&1
rc=$?
check "a control socket path of $(printf %s "$deep/ctl.sock" | wc -c) bytes: envvmm starts" [ $rc -eq 0 ]
pid=$(cat "$deep/pid" 2>/dev/null)
at_exit "kill $pid 2>/dev/null"
check "the socket is at the long path" [ -S "$deep/ctl.sock" ]
check "the disk with commas in its path is open" \
	sh -c "ls -l /proc/$pid/fd | grep -qF '$deep/d,isk.raw'"
# clients reach it through the directory, as envup does
deep_api() {
	python3 - "$deep" "$1" <<'PY'
import os, socket, sys
d = os.open(sys.argv[1], os.O_PATH | os.O_DIRECTORY)
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect("/proc/self/fd/%d/ctl.sock" % d)
s.sendall(sys.argv[2].encode() + b"\n")
print(s.recv(4096).decode().strip())
PY
}
r=$(deep_api '{"command":"status"}')
check "status through the long path" grep -q '"state":"running"' <<<"$r"
deep_api '{"command":"stop"}' >/dev/null
check "stop: process ends" gone "$pid"
check "the long-path socket is removed at exit" [ ! -e "$deep/ctl.sock" ]

"$ENVVMM" --daemonize --memory 64 --kernel "$T/missing" --console "$T/c.console" \
	--log "$T/c.log" >"$T/c.out" 2>&1
rc=$?
check "daemonize: start failure reported by the parent" [ $rc -eq 1 ]
check "daemonize: failure message names the file" grep -q "$T/missing" "$T/c.out"
"$ENVVMM" --daemonize --memory 64 --kernel "$KIT_ELF" >"$T/d.out" 2>&1
check "daemonize without a console file: usage error" [ $? -eq 2 ]

finish
