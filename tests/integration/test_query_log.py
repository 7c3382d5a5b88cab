#!/usr/bin/python3
"""The query log (docs/query-log.md) of the real daemon: real `dig` queries over UDP and TCP
logged as JSON lines (with the steering branch of a failed-over name, reopened after a rename
and SIGHUP, sampled 1 in 3), as dnstap to a file (read back with Debian's `dnstap-ldns` and a
Frame Streams/protobuf decoder here) and as dnstap to a unix socket (Debian's `fstrm_capture`,
started after the daemon: the writer connects when the collector appears), and the
steerdns_querylog_* counters on /metrics.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from harness import wait_until
from test_transport import Steerdns, free_port

CONFIG = """\
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: 1 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - {{ name: www, type: A, values: [192.0.2.1] }}
      - name: app
        type: A
        ttl: 60
        policy: failover
        members:
          - {{ set_id: app-primary, role: primary, values: [192.0.2.10], health_check: web }}
          - {{ set_id: app-secondary, role: secondary, values: [192.0.2.20] }}
      - name: w
        type: A
        ttl: 30
        policy: weighted
        members:
          - {{ set_id: blue, weight: 1, values: [192.0.2.30] }}
health_checks:
  - id: web
    url: http://127.0.0.1:{dead_port}/ok
    interval: 1s
"""


def dig(port, name, rdtype="A", tcp=False):
    cmd = ["dig", "@127.0.0.1", "-p", str(port), name, rdtype, "+tries=1", "+time=2"]
    if tcp:
        cmd.append("+tcp")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return out.stdout


def dig_short(port, name, rdtype="A"):
    return subprocess.run(["dig", "+short", "@127.0.0.1", "-p", str(port), name, rdtype,
                           "+tries=1", "+time=2"], capture_output=True, text=True,
                          timeout=10).stdout.split()


def json_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def protobuf(b):
    """Field number -> list of values (ints, or bytes for length-delimited fields)."""
    out, i = {}, 0
    while i < len(b):
        key, i = varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 5:
            v, i = struct.unpack("<I", b[i:i + 4])[0], i + 4
        elif wire == 1:
            v, i = struct.unpack("<Q", b[i:i + 8])[0], i + 8
        else:
            raise AssertionError(f"protobuf wire type {wire}")
        out.setdefault(field, []).append(v)
    return out


def dnstap_frames(path):
    """(content type, [decoded Dnstap messages]) of a Frame Streams file."""
    with open(path, "rb") as f:
        data = f.read()
    i, ctype, frames = 0, None, []
    while i + 4 <= len(data):
        (n,) = struct.unpack("!I", data[i:i + 4])
        i += 4
        if n == 0:  # control frame: its length, then type and fields
            (cl,) = struct.unpack("!I", data[i:i + 4])
            ctl = data[i + 4:i + 4 + cl]
            i += 4 + cl
            (ctl_type,) = struct.unpack("!I", ctl[:4])
            if ctl_type == 2 and len(ctl) > 12:  # START with a content type field
                ctype = ctl[12:].decode()
            continue
        d = protobuf(data[i:i + n])
        i += n
        m = protobuf(d[14][0])
        frames.append({
            "identity": d.get(1, [b""])[0].decode(),
            "extra": d.get(3, [b""])[0].decode(),
            "type": m[1][0],
            "family": m.get(2, [0])[0],
            "protocol": m.get(3, [0])[0],
            "address": m.get(4, [b""])[0],
            "port": m.get(6, [0])[0],
            "query": m.get(10, [b""])[0],
            "zone": m.get(11, [b""])[0],
            "response": m.get(14, [b""])[0],
        })
    return ctype, frames


def metrics(api_port, prefix="steerdns_querylog_"):
    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    assert r.status == 200, body
    out = {}
    for line in body.splitlines():
        if line.startswith(prefix):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


class QueryLogTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="steerdns-qlog-")
        self.cfg = os.path.join(self.dir, "steerdns.yaml")
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(dead_port=free_port()))
        self.daemons = []
        self.procs = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("KEEP_TMP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *args):
        api_port = free_port()
        d = Steerdns(["--config", self.cfg, "--store", "sqlite::memory:", "--threads", "1",
                      "--api-listen", f"127.0.0.1:{api_port}"] + list(args), workdir=self.dir)
        d.api_port = api_port
        self.daemons.append(d)
        # The check of app-primary fails (nobody listens): app is served by tier 2.
        wait_until(lambda: dig_short(d.port, "app.example.test") == ["192.0.2.20"], timeout=20,
                   what="failover of app.example.test to tier 2")
        return d

    def test_json_lines(self):
        path = os.path.join(self.dir, "queries.json")
        d = self.start("--query-log", path)
        dig(d.port, "app.example.test")
        dig(d.port, "www.example.test", tcp=True)
        dig(d.port, "nx.example.test")
        dig(d.port, "w.example.test")
        dig(d.port, "other.invalid")

        def by_name():
            # UDP and TCP have their own rings: lines are in order per transport only.
            lines = {r.get("qname"): r for r in json_lines(path)}
            names = ["app.example.test.", "www.example.test.", "nx.example.test.",
                     "w.example.test.", "other.invalid."]
            return [lines[n] for n in names] if all(n in lines for n in names) else None
        app, www, nx, w, other = wait_until(by_name, what="five dig queries in the JSON log")
        self.assertEqual(app["branch"], "failover tier 2 app-secondary")
        self.assertEqual(app["answers"], ["app.example.test. 60 IN A 192.0.2.20"])
        self.assertEqual((app["client"], app["transport"], app["rcode"], app["qtype"],
                          app["qclass"], app["zone"], app["tc"]),
                         ("127.0.0.1", "udp", "NOERROR", "A", "IN", "example.test.", False))
        self.assertRegex(app["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertGreater(app["port"], 0)
        self.assertEqual((www["transport"], www["branch"], www["answers"]),
                         ("tcp", "static", ["www.example.test. 3600 IN A 192.0.2.1"]))
        self.assertEqual((nx["rcode"], nx["answers"]), ("NXDOMAIN", []))
        self.assertEqual(w["branch"], "weighted blue")
        self.assertEqual((other["rcode"], other["zone"], other["branch"]),
                         ("REFUSED", None, None))

        # logrotate: move the file, SIGHUP; what follows goes to a new file at the same path.
        os.rename(path, path + ".1")
        d.signal(signal.SIGHUP)
        wait_until(lambda: os.path.exists(path), what="the query log reopened after SIGHUP")
        dig(d.port, "app.example.test")
        fresh = wait_until(lambda: json_lines(path), what="a query in the new file")
        self.assertEqual(fresh[-1]["qname"], "app.example.test.")
        self.assertIn("other.invalid.", [r["qname"] for r in json_lines(path + ".1")])

        m = metrics(d.api_port)
        written = len(json_lines(path)) + len(json_lines(path + ".1"))
        self.assertEqual(m['steerdns_querylog_records_total{format="json"}'], written)
        self.assertEqual(m['steerdns_querylog_dropped_total{reason="ring_full"}'], 0)
        self.assertGreater(m['steerdns_querylog_bytes_total{format="json"}'], 500)

    def test_sampling(self):
        path = os.path.join(self.dir, "sampled.json")
        d = self.start("--query-log", path, "--query-log-sample", "3")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        # www.example.test. A, 30 times over UDP (one worker thread: one sampling counter).
        query = (b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                 b"\x03www\x07example\x04test\x00\x00\x01\x00\x01")
        for _ in range(30):
            s.sendto(query, ("127.0.0.1", d.port))
            s.recv(512)

        def udp_answered():
            return sum(v for k, v in metrics(d.api_port, "steerdns_dns_queries_total").items()
                       if 'transport="udp"' in k)
        # Every 3rd UDP query of the one worker (readiness probes included) is logged.
        n = udp_answered()
        self.assertGreaterEqual(n, 30)
        wait_until(lambda: len(json_lines(path)) == int(n) // 3,
                   what=f"{int(n) // 3} lines for {int(n)} UDP queries sampled 1 in 3")
        self.assertEqual(metrics(d.api_port)['steerdns_querylog_records_total{format="json"}'],
                         int(n) // 3)

    def test_dnstap_file(self):
        path = os.path.join(self.dir, "queries.dnstap")
        d = self.start("--query-log", path, "--query-log-format", "dnstap")
        dig(d.port, "app.example.test")
        dig(d.port, "www.example.test", tcp=True)
        d.stop()  # closes the stream (STOP frame)
        out = subprocess.run(["dnstap-ldns", "-r", path], capture_output=True, text=True,
                             timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r'AR 127\.0\.0\.1 UDP \d+b "app\.example\.test\." IN A')
        self.assertRegex(out.stdout, r'AR 127\.0\.0\.1 TCP \d+b "www\.example\.test\." IN A')
        ctype, frames = dnstap_frames(path)
        self.assertEqual(ctype, "protobuf:dnstap.Dnstap")
        app = [f for f in frames if b"\x03app\x07example" in f["query"]][-1]
        self.assertEqual(app["type"], 2)  # AUTH_RESPONSE
        self.assertEqual((app["family"], app["protocol"]), (1, 1))  # INET, UDP
        self.assertEqual(app["address"], socket.inet_aton("127.0.0.1"))
        self.assertEqual(app["extra"], "branch=failover tier 2 app-secondary")
        self.assertEqual(app["zone"], b"\x07example\x04test\x00")
        self.assertIn(socket.inet_aton("192.0.2.20"), app["response"])
        self.assertEqual(app["response"][:2], app["query"][:2])  # same message id
        www = [f for f in frames if b"\x03www\x07example" in f["query"]][-1]
        self.assertEqual((www["protocol"], www["extra"]), (2, "branch=static"))

    def test_dnstap_unix_socket(self):
        sock = os.path.join(self.dir, "dnstap.sock")
        captured = os.path.join(self.dir, "captured.fstrm")
        # The daemon first: no collector yet, so records are dropped and counted.
        d = self.start("--query-log", "unix:" + sock, "--query-log-format", "dnstap")
        dig(d.port, "www.example.test")
        wait_until(lambda: metrics(d.api_port).get(
            'steerdns_querylog_dropped_total{reason="output"}', 0) >= 1,
            what="a record dropped while no collector listens")
        cap = subprocess.Popen(["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", sock,
                                "-w", captured], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        self.procs.append(cap)
        wait_until(lambda: "connected" in d.logs() and "dnstap.sock: connected" in d.logs(),
                   timeout=10, what="the writer connecting to fstrm_capture")
        dig(d.port, "app.example.test")
        wait_until(lambda: metrics(d.api_port).get(
            'steerdns_querylog_records_total{format="dnstap"}', 0) >= 1,
            what="a record written to the socket")
        d.stop()
        cap.send_signal(signal.SIGINT)
        cap.wait(timeout=10)
        out = subprocess.run(["dnstap-ldns", "-r", captured], capture_output=True, text=True,
                             timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"app.example.test." IN A', out.stdout)
        _, frames = dnstap_frames(captured)
        app = [f for f in frames if b"\x03app\x07example" in f["query"]]
        self.assertEqual(len(app), 1)
        self.assertEqual(app[0]["extra"], "branch=failover tier 2 app-secondary")
        self.assertTrue(frames[0]["identity"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
