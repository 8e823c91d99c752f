#!/usr/bin/env bash
# needs: kvm
# envvmm: virtio-net on libslirp, from inside the test-kit guest: DHCP, a TCP connection out
# to a server this test runs on 127.0.0.1 (reached as 10.0.2.2), and one in through a
# 127.0.0.1 host forward. Ports are picked free at run time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.inc"

vmm_require_kvm || finish

# The server records the guest's line and answers it upper-cased.
vmm_tcp_server srv upper
sport=$SRV_PORT
hport=$(free_port)

timeout 60 "$ENVVMM" --memory 64 --kernel "$KIT_ELF" \
	--net "user,hostfwd=tcp:127.0.0.1:$hport-:8080" \
	--cmdline "$KIT64 kit.tests=pci,net kit.pcidevs=3 kit.netsrv=$sport kit.netfwd=8080" \
	>"$T/net.out" 2>"$T/net.err" </dev/null &
vmm=$!
at_exit "kill $vmm 2>/dev/null"
for _ in $(seq 1 150); do grep -q '^kit: listening' "$T/net.out" && break; sleep 0.1; done
python3 - "$hport" >"$T/host.got" 2>&1 <<'PY'
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
print(c.recv(100).decode().strip())
c.sendall(b"host says hi\n")
time.sleep(0.3)
c.close()
PY
wait $vmm
VMM_RC=$?
check "net: exit 0" [ "$VMM_RC" -eq 0 ]
kit_expect net pci-enum net-config net-dhcp net-tcp-out net-tcp-in
check "net: DHCP lease 10.0.2.15 via 10.0.2.2, DNS 10.0.2.3" \
	grep -q '^kit: ok net-dhcp ip=10.0.2.15 router=10.0.2.2 dns=10.0.2.3' "$T/net.out"
check "net: server got the guest's line" grep -q 'hello from the kit' "$T/srv.got"
check "net: guest got the server's answer" \
	grep -q '^kit: ok net-tcp-out reply=HELLO FROM THE KIT' "$T/net.out"
check "net: host got the guest's banner through the forward" grep -q '^kit says hi$' "$T/host.got"
check "net: guest got the host's line" grep -q '^kit: ok net-tcp-in got=host says hi' "$T/net.out"

# UDP and another host address: slirp listens there (envvmm logs each forward it set up)
uport=$(free_port)
vmm_boot fwds --memory 64 --kernel "$KIT_ELF" --cmdline "$KIT64" --log "$T/fwds.log" \
	--net "user,hostfwd=udp:127.0.0.2:$uport-:9,hostfwd=tcp::$hport-10.0.2.15:22"
check "net: a UDP forward on 127.0.0.2" grep -q "net: 127.0.0.2:$uport/udp -> guest port 9" "$T/fwds.log"
check "net: no address means 127.0.0.1" grep -q "net: 127.0.0.1:$hport/tcp -> guest port 22" "$T/fwds.log"
vmm_boot bad --memory 64 --kernel "$KIT_ELF" --net "user,hostfwd=tcp:127.0.0.300:$hport-:22"
check "net: a bad host address is refused" vmm_rc_grep 2 "'127.0.0.300' is no IPv4 address" bad
vmm_boot bad --memory 64 --kernel "$KIT_ELF" --net "user,hostfwd=sctp::$hport-:22"
check "net: only tcp and udp forwards" vmm_rc_grep 2 'want hostfwd=tcp|udp' bad
fwds=user
for i in $(seq 129); do fwds+=",hostfwd=tcp::$((20000 + i))-:$i"; done
vmm_boot bad --memory 64 --kernel "$KIT_ELF" --net "$fwds"
check "net: at most 128 forwards" vmm_rc_grep 2 'at most 128 forwards' bad
vmm_boot bad --memory 64 --kernel "$KIT_ELF" --net tap0
check "net: only user networking" vmm_rc_grep 2 "only 'user' networking" bad

finish
