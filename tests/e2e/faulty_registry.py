#!/usr/bin/env python3
"""A deliberately faulty registry for tests/e2e/registry_faults.sh.

Usage: faulty_registry.py PORT UPSTREAM PORTFILE

Listens on 127.0.0.1:PORT (0: any free port, written to PORTFILE) and proxies the
distribution API to the plain-http registry UPSTREAM (host:port). The first repository
component chooses a fault: /v2/MODE-TAG/REPO/... is UPSTREAM's /v2/REPO/..., and
MODE is one of

  ok          no fault
  drop        the first 2 manifest requests: connection closed without an answer
  err500      the first 2 requests (any kind): HTTP 500
  r429        the first manifest request: 429 with Retry-After: 1
  baddigest   every blob GET: one byte of the body changed (same size)
  dropblob    the first layer GET: half of the body, then the connection is closed
  bigblob     every blob GET: the body with extra bytes appended
  liedigest   manifest GETs: a wrong Docker-Content-Digest header
  hugemanifest manifest GETs: a 5 MiB body (more than the client's limit)
  stall       manifest GETs: headers, a few bytes, then nothing for 60 s

TAG lets each test have fresh counters. Only the standard library is used.
"""
import http.client
import http.server
import socket
import sys
import threading
import time

UPSTREAM = ""
COUNTS = {}
LOCK = threading.Lock()
BIG_MANIFEST = 5 * 1024 * 1024


def bump(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def split(self):
        """(mode, tag-key, upstream path) for /v2/MODE-TAG/..., else (None, None, path)."""
        path = self.path
        if not path.startswith("/v2/") or path == "/v2/":
            return None, None, path
        rest = path[4:]
        first, _, tail = rest.partition("/")
        mode = first.split("-", 1)[0]
        return mode, first, "/v2/" + tail

    def send_plain(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def upstream(self, path):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(UPSTREAM, timeout=30)
        hdrs = {}
        for k in ("Accept", "Content-Type", "Content-Range"):
            if self.headers.get(k):
                hdrs[k] = self.headers.get(k)
        if body is not None:
            hdrs["Content-Length"] = str(len(body))
        conn.request(self.command, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        headers = resp.getheaders()
        conn.close()
        return resp.status, headers, data

    def handle_any(self):
        mode, key, path = self.split()
        kind = "manifest" if "/manifests/" in path else "blob" if "/blobs/" in path else "other"
        if "/blobs/uploads" in path:
            kind = "upload"
        if mode == "drop" and kind == "manifest" and bump(key + kind) <= 2:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "err500" and bump(key) <= 2:
            self.send_plain(500, b'{"errors":[{"code":"UNKNOWN","message":"injected 500"}]}',
                            [("Content-Type", "application/json")])
            return
        if mode == "r429" and kind == "manifest" and bump(key + kind) <= 1:
            self.send_plain(429, b"slow down", [("Retry-After", "1")])
            return
        if mode == "stall" and kind == "manifest" and self.command == "GET":
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"{")
            self.wfile.flush()
            time.sleep(60)
            self.close_connection = True
            return
        if mode == "hugemanifest" and kind == "manifest" and self.command == "GET":
            self.send_plain(200, b"{" + b" " * BIG_MANIFEST + b"}",
                            [("Content-Type", "application/vnd.oci.image.manifest.v1+json")])
            return

        status, headers, data = self.upstream(path)
        out = []
        for k, v in headers:
            lk = k.lower()
            if lk in ("content-length", "connection", "transfer-encoding", "keep-alive"):
                continue
            if lk == "location" and key:
                # keep the client on this server and under this fault's name
                v = v.replace("http://" + UPSTREAM, "")
                if v.startswith("/v2/"):
                    v = "/v2/" + key + "/" + v[4:]
            if lk == "docker-content-digest" and mode == "liedigest" and kind == "manifest":
                v = "sha256:" + "0" * 64
            out.append((k, v))

        if self.command == "GET" and kind == "blob" and status == 200:
            is_layer = len(data) > 4096 or not data.lstrip().startswith(b"{")
            if mode == "baddigest" and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            elif mode == "bigblob":
                data = data + b"extra bytes"
            elif mode == "dropblob" and is_layer and bump(key + "layer") <= 1:
                self.send_response(200)
                for k, v in out:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        self.send_plain(status, data, out)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    global UPSTREAM
    port, UPSTREAM, portfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    srv = Server(("127.0.0.1", port), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
