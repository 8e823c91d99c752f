#!/usr/bin/env python3
"""Sends HMP commands to a QEMU monitor socket and prints the answers (tests/kvmlab/run.sh's
freeze report). A QEMU that does not answer within a few seconds is reported as such."""
import re
import socket
import sys
import time


def read_for(sock, seconds):
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        out += data
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode(errors="replace"))
    # the first line is the monitor's echo of the command, redrawn key by key
    return "\n".join(l for l in text.splitlines()[1:] if not l.startswith("(qemu)"))


def main():
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.connect(sys.argv[1])
    except OSError as e:
        print(f"monitor: cannot connect to {sys.argv[1]}: {e}")
        return 1
    read_for(sock, 1.0)  # the banner
    for cmd in sys.argv[2:]:
        sock.sendall((cmd + "\n").encode())
        answer = read_for(sock, 3.0)
        print(f"== {cmd}")
        print(answer if answer.strip() else "(no answer within 3 s: QEMU's main loop is stuck)")
        time.sleep(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
