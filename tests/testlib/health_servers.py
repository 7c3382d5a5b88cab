#!/usr/bin/python3
"""Loopback servers for health-probe tests (Python standard library only).

Usage: health_servers.py WORKDIR
Makes test certificates in WORKDIR with the `openssl` command (a CA; leaves that are valid,
expired, not yet valid, for the wrong name; a self-signed one), starts the servers on
127.0.0.1 with ports chosen by the kernel, prints ONE JSON line with the ports and the CA file,
then serves until stdin closes (the test's end) or it is killed.

HTTP(S) paths (every HTTPS server serves the same paths):
  /ok                200, body "healthy host=<Host> ua=<User-Agent> x-probe=<X-Probe>"
  /status/NNN        status NNN
  /wrong             200 with a body that lacks the expected string
  /hang              reads the request, never answers
  /close             closes the connection without a response
  /endless           200, then body bytes forever ("healthy" only after 10,000 bytes)
  /marker-at/N       200, N filler bytes then "healthy", then end
  /big/N             200 with Content-Length N and N bytes ("healthy" first)
  /big-stream/N      200 without Content-Length: N bytes ("healthy" first), then close
  /trickle           200 and headers at once, then 100 body bytes every 100 ms, forever
  /slowloris         a valid response, one byte per second
  /garbage           non-HTTP bytes, then close
  /endless-headers   a status line, then header lines forever
  /flap/PATTERN      the Nth request to this path answers by PATTERN[N % len]: u = 200,
                     d = 503, h = hang, c = close (a flapping backend, e.g. /flap/uuudd)
TCP: answers "+PONG\\r\\n" to a line starting with PING, "-ERR unknown\\r\\n" otherwise.
DNS (UDP and TCP, same port): app.test. A 192.0.2.1 and 192.0.2.2; big.app.test. has 100 A
records (truncated over UDP); every other name is NXDOMAIN.
"""
import http.server
import json
import os
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time


def run(*args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def make_certs(d):
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    if os.path.exists(os.path.join(d, "done")):
        return
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt,
        "-subj", "/CN=steerdns test CA", "-days", "3650")
    os.makedirs(os.path.join(d, "newcerts"), exist_ok=True)
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "index.txt.attr"), "w") as f:
        f.write("unique_subject = no\n")
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as f:
        f.write(f"""[ca]
default_ca = test_ca
[test_ca]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/newcerts
serial = {d}/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
""")
    # name -> (subjectAltName, startdate, enddate); dates in the past or future are the point.
    leaves = {
        "valid": ("DNS:app.test,IP:127.0.0.1", None, None),
        "expired": ("DNS:app.test,IP:127.0.0.1", "20200101000000Z", "20200201000000Z"),
        "notyet": ("DNS:app.test,IP:127.0.0.1", "20900101000000Z", "20910101000000Z"),
        "wrongname": ("DNS:other.test", None, None),
    }
    for name, (san, start, end) in leaves.items():
        key, csr, crt = (os.path.join(d, name + s) for s in (".key", ".csr", ".crt"))
        ext = os.path.join(d, name + ".ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        run("openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=app.test")
        dates = ["-startdate", start, "-enddate", end] if start else ["-days", "365"]
        run("openssl", "ca", "-batch", "-notext", "-config", cnf, "-cert", ca_crt,
            "-keyfile", ca_key, "-in", csr, "-out", crt, "-extfile", ext, *dates)
    run("openssl", "req", "-x509", *ec, "-keyout", os.path.join(d, "selfsigned.key"),
        "-out", os.path.join(d, "selfsigned.crt"), "-subj", "/CN=app.test",
        "-addext", "subjectAltName=DNS:app.test,IP:127.0.0.1", "-days", "365")
    open(os.path.join(d, "done"), "w").close()


FLAP_LOCK = threading.Lock()
FLAP_COUNT = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    def raw(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.do_GET()

    def do_GET(self):
        p = self.path
        try:
            if p == "/ok":
                self.send_body(200, "healthy host=%s ua=%s x-probe=%s method=%s\n" % (
                    self.headers.get("Host"), self.headers.get("User-Agent"),
                    self.headers.get("X-Probe"), self.command))
            elif p.startswith("/status/"):
                self.send_body(int(p[len("/status/"):]), "status page\n")
            elif p == "/wrong":
                self.send_body(200, "something else entirely\n")
            elif p == "/hang":
                time.sleep(120)
            elif p == "/close":
                self.close_connection = True
            elif p == "/endless":
                self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Connection: close\r\n\r\n")
                self.raw(b"x" * 10000 + b"healthy")
                while True:
                    self.raw(b"x" * 16384)
            elif p.startswith("/big/") or p.startswith("/big-stream/"):
                n = int(p.rsplit("/", 1)[1])
                length = b"Content-Length: %d\r\n" % n if p.startswith("/big/") else b""
                self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + length +
                         b"Connection: close\r\n\r\n")
                body = (b"healthy" + b"x" * n)[:n]
                for i in range(0, n, 65536):
                    self.wfile.write(body[i:i + 65536])
                self.wfile.flush()
                self.close_connection = True
            elif p == "/trickle":
                self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Connection: close\r\n\r\n")
                while True:
                    self.raw(b"x" * 100)
                    time.sleep(0.1)
            elif p.startswith("/marker-at/"):
                self.send_body(200, "x" * int(p[len("/marker-at/"):]) + "healthy")
            elif p == "/slowloris":
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhealthy":
                    self.raw(bytes([b]))
                    time.sleep(1)
            elif p == "/garbage":
                self.raw(b"\x00\xffSSH-2.0-not-http\x01\x02\x03\r\n\r\n\xde\xad\xbe\xef" * 4)
                self.close_connection = True
            elif p.startswith("/flap/") and len(p) > len("/flap/"):
                pattern = p[len("/flap/"):]
                with FLAP_LOCK:
                    n = FLAP_COUNT.get(p, 0)
                    FLAP_COUNT[p] = n + 1
                step = pattern[n % len(pattern)]
                if step == "u":
                    self.send_body(200, "healthy\n")
                elif step == "d":
                    self.send_body(503, "down\n")
                elif step == "h":
                    time.sleep(120)
                else:
                    self.close_connection = True
            elif p == "/endless-headers":
                self.raw(b"HTTP/1.1 200 OK\r\n")
                while True:
                    self.raw(b"X-Junk: " + b"j" * 1000 + b"\r\n")
            else:
                self.send_body(404, "no such test path\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


class HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients that reject our certificates or hang up are the point of these tests


class PongHandler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(4096)
        self.wfile.write(b"+PONG\r\n" if line.startswith(b"PING") else b"-ERR unknown\r\n")


class TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def dns_answer(query):
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    if qd != 1:
        return None
    pos, labels = 12, []
    while pos < len(query) and query[pos] != 0:
        n = query[pos]
        labels.append(query[pos + 1:pos + 1 + n].decode("ascii", "replace").lower())
        pos += 1 + n
    qend = pos + 5
    qname, qtype = ".".join(labels) + ".", struct.unpack("!H", query[pos + 1:pos + 3])[0]
    addrs = {"app.test.": ["192.0.2.1", "192.0.2.2"],
             "big.app.test.": ["198.51.100.%d" % i for i in range(1, 101)]}.get(qname)
    rcode = 0 if addrs is not None else 3
    answers = []
    if addrs and qtype == 1:
        for a in addrs:
            answers.append(struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(a))
    out_flags = 0x8400 | (flags & 0x0100) | rcode
    return qid, out_flags, query[12:qend], answers


def dns_wire(parts, limit=None):
    qid, flags, question, answers = parts
    if limit is not None and 12 + len(question) + sum(map(len, answers)) > limit:
        flags |= 0x0200
        answers = []
    return struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0) + question + b"".join(answers)


class DnsUdp(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        parts = dns_answer(data)
        if parts:
            sock.sendto(dns_wire(parts, 512), self.client_address)


class DnsTcp(socketserver.StreamRequestHandler):
    def handle(self):
        hdr = self.rfile.read(2)
        if len(hdr) < 2:
            return
        parts = dns_answer(self.rfile.read(struct.unpack("!H", hdr)[0]))
        if parts:
            wire = dns_wire(parts)
            self.wfile.write(struct.pack("!H", len(wire)) + wire)


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def dns_servers():
    for _ in range(50):
        udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), DnsUdp)
        try:
            tcp = TCPServer(("127.0.0.1", udp.server_address[1]), DnsTcp)
        except OSError:
            udp.server_close()
            continue
        serve(tcp)
        return serve(udp)
    raise RuntimeError("no port free for both UDP and TCP")


def main():
    d = os.path.abspath(sys.argv[1])
    os.makedirs(d, exist_ok=True)
    make_certs(d)
    ports = {"http": serve(HTTPServer(("127.0.0.1", 0), Handler)), "https": {}}
    for name in ("valid", "expired", "notyet", "wrongname", "selfsigned"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, name + ".crt"), os.path.join(d, name + ".key"))
        srv = HTTPServer(("127.0.0.1", 0), Handler)
        # The handshake happens in the handler thread, so a stuck client blocks nobody.
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
        ports["https"][name] = serve(srv)
    ports["tcp"] = serve(TCPServer(("127.0.0.1", 0), PongHandler))
    ports["dns"] = dns_servers()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ports["refused"] = s.getsockname()[1]  # nothing listens there once closed
    s.close()
    ports["ca"] = os.path.join(d, "ca.crt")
    print(json.dumps(ports), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
