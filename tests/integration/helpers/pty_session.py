#!/usr/bin/env python3
"""Drives `envctl ssh` on a pseudo-terminal as a person would: checks raw mode, the remote
pty size, a window-size change (SIGWINCH), and the exit status. Prints ok/not ok lines."""
import fcntl, os, pty, select, struct, sys, termios, time

envctl = sys.argv[1]


def setsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


pid, fd = pty.fork()
if pid == 0:
    setsize(0, 40, 120)
    os.execv(envctl, [envctl, "ssh"])

buf = b""


def expect(token, timeout=15):
    global buf
    end = time.time() + timeout
    while token not in buf:
        left = end - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            buf += data
    buf = buf[buf.index(token) + len(token):]
    return True


def report(ok, name):
    print(("ok - " if ok else "not ok - ") + name, flush=True)


os.write(fd, b"echo READY-$((6*7))\n")
report(expect(b"READY-42"), "envssh interactive: a shell answers on a pty")
lflag = termios.tcgetattr(fd)[3]
report(not (lflag & termios.ICANON) and not (lflag & termios.ECHO),
       "envssh interactive: local terminal in raw mode")
os.write(fd, b"echo SIZE-$(stty size | tr ' ' x)\n")
report(expect(b"SIZE-40x120"), "envssh interactive: remote pty has the window size")
setsize(fd, 50, 132)  # the kernel sends SIGWINCH to envssh
time.sleep(0.3)
os.write(fd, b"echo SIZE-$(stty size | tr ' ' x)\n")
report(expect(b"SIZE-50x132"), "envssh interactive: window-size change passed on")
os.write(fd, b"exit 5\n")
_, status = os.waitpid(pid, 0)
report(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 5,
       "envssh interactive: the shell's exit status is envssh's (%r)" % status)
