#!/usr/bin/env bash
# slow: boots two Debian machines under QEMU's TCG (minutes on 2 cores)
# The qemu provider end to end with the demo box (tests/boxes/build-demo-box.sh): two machines
# from the libvirt- and the virtualbox-flavoured box, linked-clone disks, provisioning over
# SSH, a forwarded port reachable from the host, the hostname, a file kept across envhalt and
# envup (run: once not repeated), envstatus's live state, a hard halt, a SIGKILLed machine
# seen as aborted and brought back, and nothing left after envdestroy.
source "$(dirname "$0")/lib.sh"
qemu_demo_setup "qemu provider"
project_dir
web_port=$(free_port)
cat >Envfile <<EOT
version: 1
defaults:
  synced_folders: [{host: ., guest: /vagrant, disabled: true}]
machines:
  web:
    provider: qemu
    box: demo/libvirt
    box_url: $BOXES/demo-libvirt.box
    hostname: web-one
    memory: 512
    boot_timeout: 600
    forwarded_ports:
      - {guest: 8080, host: $web_port}
    provision:
      - shell:
          name: hello-socket
          inline: |
            printf '[Socket]\nListenStream=8080\nAccept=yes\n[Install]\nWantedBy=sockets.target\n' >/etc/systemd/system/hello.socket
            printf '[Service]\nExecStart=/bin/echo hello from %%H\nStandardOutput=socket\n' >/etc/systemd/system/hello@.service
            systemctl daemon-reload && systemctl enable --now hello.socket
            echo provisioned-web \$(hostname)
      - shell: {name: once, inline: "echo ran >>/root/once.count; echo once-ran"}
  db:
    provider: qemu
    box: demo/virtualbox
    box_url: $BOXES/demo-virtualbox.box
    memory: 512
    boot_timeout: 600
    provision:
      - shell: {name: db, inline: "echo provisioned-db; uname -r"}
EOT
start=$(date +%s)
"$BIN/envup" >"$T/up.log" 2>&1
rc=$?
echo "# envup of two machines under TCG: $(($(date +%s) - start)) s"
check_sh "envup brings both machines up (status $rc)" '[ $rc -eq 0 ]' || true
[ $rc -eq 0 ] || tail -40 "$T/up.log"
check_sh "independent machines come up at the same time" \
	'[ "$(grep -n "db: Bringing machine up" "$T/up.log" | cut -d: -f1)" -lt "$(grep -n "web: SSH ready" "$T/up.log" | cut -d: -f1)" ]'
check "a summary of both" grep -q "^==> 2 of 2 machines up:" "$T/up.log"
check "provisioning output of web" grep -q "provisioned-web web-one" "$T/up.log"
check "provisioning output of db" grep -q "provisioned-db" "$T/up.log"
check "the disks are qcow2 overlays on the box" \
	sh -c "qemu-img info -U .envup/machines/web/disk.qcow2 | grep -q 'backing file:'"
check_sh "the forwarded port answers from the guest" \
	'[ "$(python3 -c "import socket;s=socket.create_connection((\"127.0.0.1\",$web_port),10);print(s.recv(100).decode().strip())")" = "hello from web-one" ]'
"$BIN/envstatus" >"$T/status.log" 2>&1
check "envstatus: running, with the SSH endpoint" grep -q "web .*running (qemu), ssh 127.0.0.1:22" "$T/status.log"
"$BIN/envssh" web -c 'echo kept | sudo tee /root/kept.txt' >/dev/null 2>&1
"$BIN/envhalt" web >"$T/halt.log" 2>&1
check "envhalt: graceful power-off" sh -c "! grep -q 'did not power off' '$T/halt.log'"
check "envstatus: halted" sh -c "'$BIN/envstatus' web | grep -q 'web .*halted'"
check "no qemu left for web" sh -c "! pgrep -f '$P/[.]envup/machines/web/' >/dev/null"
"$BIN/envup" web >"$T/up2.log" 2>&1
check "envup of a halted machine" grep -q "SSH ready" "$T/up2.log"
check "the file is kept across halt and up" sh -c "'$BIN/envssh' web -c 'sudo cat /root/kept.txt' 2>/dev/null | grep -q kept"
check "run: once is not repeated" sh -c "'$BIN/envssh' web -c 'sudo cat /root/once.count' 2>/dev/null | wc -l | grep -qx 1"
# a crashed hypervisor: aborted, then brought back on the same disk
kill -9 "$(cat .envup/machines/db/pid)"
sleep 1
check "a killed qemu shows as aborted" sh -c "'$BIN/envstatus' db | grep -q 'db .*aborted'"
"$BIN/envhalt" -f db >/dev/null 2>&1
check "envhalt -f of an aborted machine" sh -c "'$BIN/envstatus' db | grep -q 'db .*halted'"
"$BIN/envdestroy" -f >"$T/destroy.log" 2>&1
check "envdestroy" sh -c "! test -e .envup/machines/web && ! test -e .envup/machines/db"
check "no process left" sh -c "! pgrep -f '$P/[.]envup/machines' >/dev/null"
check "the forwarded port is free again" port_free "$web_port"
check "the boxes stay installed, used by nobody" sh -c "'$BIN/envbox' list | grep -q demo/libvirt && ! ls $XDG_DATA_HOME/envup/boxes/*/*/*/users/* 2>/dev/null | grep -q ."
finish
