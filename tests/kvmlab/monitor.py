#!/usr/bin/env python3
"""QEMU's view of a frozen lab (tests/kvmlab/run.sh's freeze watch).

  monitor.py SOCKET CMD...           sends HMP commands to QEMU's monitor, prints the answers
  monitor.py --summary KALLSYMS LOG  one line per vCPU from the "info registers -a" answers
                                     in LOG: RIP (with the lab kernel's symbol), CPL, HLT

A QEMU that does not answer within a few seconds is reported as such."""
import bisect
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


def ask(path, commands):
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.connect(path)
    except OSError as e:
        print(f"monitor: cannot connect to {path}: {e}")
        return 1
    read_for(sock, 1.0)  # the banner
    for cmd in commands:
        sock.sendall((cmd + "\n").encode())
        answer = read_for(sock, 3.0)
        print(f"== {cmd}")
        print(answer if answer.strip() else "(no answer within 3 s: QEMU's main loop is stuck)")
        time.sleep(1.0)
    return 0


def load_symbols(path):
    addrs, names = [], []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in "tTwW":
                    mod = f" {parts[3]}" if len(parts) > 3 else ""
                    addrs.append(int(parts[0], 16))
                    names.append(parts[2] + mod)
    except OSError:
        pass
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def summary(syms_path, log_path):
    addrs, names = load_symbols(syms_path)
    cpu = None
    with open(log_path, errors="replace") as f:
        for line in f:
            m = re.match(r"CPU#(\d+)", line)
            if m:
                cpu = m.group(1)
            m = re.search(r"RIP=([0-9a-f]+) .*CPL=(\d) .*HLT=(\d)", line)
            if m and cpu is not None:
                rip = int(m.group(1), 16)
                i = bisect.bisect_right(addrs, rip) - 1
                if i >= 0 and rip - addrs[i] < 0x10000:
                    sym = names[i] + f"+{rip - addrs[i]:#x}"
                else:
                    sym = "not in the lab kernel: inside a nested guest"
                print(f"  vCPU {cpu}: RIP {rip:#x} ({sym}) CPL {m.group(2)} halted {m.group(3)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--summary":
        sys.exit(summary(sys.argv[2], sys.argv[3]))
    sys.exit(ask(sys.argv[1], sys.argv[2:]))
