#!/usr/bin/env python3
"""HTTP(S) server for the box store tests, on 127.0.0.1 with a port picked by the kernel.

Serves files under --root with ETag/Last-Modified, Range and If-Range, If-None-Match.
Per-path behaviour comes from the JSON file --rules (re-read on every request), e.g.
  {"/a.box": {"drop_after": 1000, "drop_times": 1},   # close the connection after N bytes
   "/b.box": {"status": 404},                         # "status_times": N: only N times
   "/old":   {"redirect": "/new"},
   "/slow.box": {"rate": 200000},                     # bytes per second
   "/big.box": {"content_length": 5000000000},        # announce that, send the file, close
   "/chunk.box": {"chunked": true},                   # no Content-Length
   "/org/x": {"bearer": "SECRET"},                    # 401 without that token
   "/c.box": {"ignore_range": true}}                  # always the whole file (200)
Every request is logged as one JSON line in --log: path, range, status, bytes sent, auth."""
import argparse
import email.utils
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ARGS = None
LOCK = threading.Lock()
DROPS = {}


def rules():
    try:
        with open(ARGS.rules) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def log(entry):
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def finish_log(self, status, sent):
        log({"path": self.path_only, "range": self.headers.get("Range"),
             "if_range": self.headers.get("If-Range"), "status": status, "bytes": sent,
             "auth": self.headers.get("Authorization"), "accept": self.headers.get("Accept")})

    def simple(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.finish_log(status, len(body))

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.path_only = unquote(urlsplit(self.path).path)
        rule = rules().get(self.path_only, {})
        if "bearer" in rule and self.headers.get("Authorization") != "Bearer " + rule["bearer"]:
            return self.simple(401, b"token required\n")
        if "status" in rule:
            with LOCK:
                done = DROPS.get(("status", self.path_only), 0)
                DROPS[("status", self.path_only)] = done + 1
            if "status_times" not in rule or done < rule["status_times"]:
                return self.simple(rule["status"], b"rule\n")
        if "redirect" in rule:
            return self.simple(302, b"", [("Location", rule["redirect"])])
        full = os.path.realpath(os.path.join(ARGS.root, self.path_only.lstrip("/")))
        if not full.startswith(os.path.realpath(ARGS.root) + "/") or not os.path.isfile(full):
            return self.simple(404, b"not found\n")
        st = os.stat(full)
        size = st.st_size
        etag = '"%x-%x"' % (size, st.st_mtime_ns)
        lm = email.utils.formatdate(st.st_mtime, usegmt=True)
        validators = [] if rule.get("no_validators") else [("ETag", etag), ("Last-Modified", lm)]
        if self.headers.get("If-None-Match") == etag and validators:
            return self.simple(304, b"", validators)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        ifr = self.headers.get("If-Range")
        if rng and rng.startswith("bytes=") and (ifr is None or ifr in (etag, lm)) \
                and not rule.get("ignore_range"):
            a, _, b = rng[6:].partition("-")
            start = int(a)
            end = int(b) if b else size - 1
            if start >= size:
                return self.simple(416, b"", [("Content-Range", "bytes */%d" % size)])
            status = 206
        length = end - start + 1
        chunked = rule.get("chunked", False)
        self.send_response(status)
        for k, v in validators:
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(rule.get("content_length", length)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if self.command == "HEAD":
            return self.finish_log(status, 0)
        drop = None
        with LOCK:
            done = DROPS.get(self.path_only, 0)
            if "drop_after" in rule and done < rule.get("drop_times", 1):
                DROPS[self.path_only] = done + 1
                drop = rule["drop_after"]
        rate = rule.get("rate")
        sent = 0
        with open(full, "rb") as f:
            f.seek(start)
            try:
                if drop is None and not rate and not chunked and length > 0:
                    # Plain transfers go through sendfile(2): the server then costs little CPU
                    # and a benchmark on two cores measures the client, not this script.
                    sent = self.connection.sendfile(f, start, length)
                while sent < length:
                    n = min(1 << 20, length - sent)
                    if drop is not None:
                        n = min(n, drop - sent)
                    if rate:
                        n = min(n, max(1, rate // 20))
                    if n <= 0:
                        break
                    buf = f.read(n)
                    if not buf:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(buf), buf) if chunked else buf)
                    sent += len(buf)
                    if rate:
                        time.sleep(len(buf) / rate)
                if chunked and sent == length:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        self.finish_log(status, sent)
        if sent < length or "content_length" in rule:
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--rules", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if ARGS.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.cert, ARGS.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
