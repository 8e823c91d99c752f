#!/usr/bin/env bash
# envvmm: virtio-net on libslirp, from inside the test-kit guest: DHCP, a TCP connection out
# to a server this test runs on 127.0.0.1 (reached as 10.0.2.2), and one in through a
# 127.0.0.1 host forward. Ports are picked free at run time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vmm_lib.sh"

vmm_require_kvm || finish

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The server: accepts one connection, records the line and answers it upper-cased.
python3 - "$T/srv.port" "$T/srv.got" <<'EOF' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
s.settimeout(60)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept()
c.settimeout(10)
d = c.recv(200)
open(sys.argv[2], "wb").write(d)
c.sendall(d.upper())
c.close()
