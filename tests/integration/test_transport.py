#!/usr/bin/python3
"""UDP and TCP transports of the real daemon on loopback: dig/kdig over UDP, TCP and IPv6,
truncation, RFC 7766 framing (pipelining, split length prefix, zero length, half-close),
slowloris and idle timeouts, the client limit, and AXFR/IXFR out with its ACL.

Run by ctest with STEERDNS_BIN set; the helpers here (Steerdns, free_port, query) are reused by
the other test_transport_*.py files.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
from harness import wait_until

SOURCE_DIR = os.environ.get(
    "STEERDNS_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
DATA_DIR = os.path.join(SOURCE_DIR, "tests", "data", "transport")
ZONE_FILE = os.path.join(DATA_DIR, "example.test.zone")
ORIGIN = "example.test"


def _have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_IPV6 = _have_ipv6()
needs_ipv6 = unittest.skipUnless(HAVE_IPV6, "no IPv6 on the loopback interface")


def steerdns_bin():
    b = os.environ.get("STEERDNS_BIN")
    if not b:
        raise unittest.SkipTest("STEERDNS_BIN is not set")
    return b


def free_port():
    """A port that is free for UDP and TCP on both 127.0.0.1 and ::1 right now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        socks = []
        try:
            fams = [(socket.AF_INET, "127.0.0.1")]
            if HAVE_IPV6:
                fams.append((socket.AF_INET6, "::1"))
            for fam, host in fams:
                for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    t = socket.socket(fam, typ)
                    socks.append(t)
                    t.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise RuntimeError("no free port")


def query(name, rdtype="A", host="127.0.0.1", port=53, tcp=False, timeout=2.0, **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    if tcp:
        return dns.query.tcp(q, host, port=port, timeout=timeout)
    return dns.query.udp(q, host, port=port, timeout=timeout)


class Steerdns:
    """The real daemon on a random loopback port; stderr goes to a log file."""

    def __init__(self, args, port=None, listen6=True, ready_name=None, workdir=None):
        self.port = port or free_port()
        self.workdir = workdir or tempfile.mkdtemp(prefix="steerdns-transport-")
        self.log_path = os.path.join(self.workdir, "steerdns.log")
        cmd = [steerdns_bin(), "serve", "--listen", f"127.0.0.1:{self.port}"]
        if listen6 and HAVE_IPV6:
            cmd += ["--listen", f"[::1]:{self.port}"]
        cmd += args
        self.cmd = cmd
        self.log = open(self.log_path, "wb")
        # cwd: the default store (steerdns.db) lands in the daemon's own directory.
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        ready_name = ready_name or ORIGIN
        wait_until(lambda: self._ready(ready_name), timeout=15, what=f"steerdns on {self.port}")

    def _ready(self, name):
        if self.proc.poll() is not None:
            raise AssertionError(f"steerdns exited with {self.proc.returncode}: {self.logs()}")
        r = query(name, "SOA", port=self.port, timeout=0.5)
        return r.rcode() == dns.rcode.NOERROR

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def tcp_connect(port, host="127.0.0.1", timeout=5.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def frame(msg):
    wire = msg.to_wire()
    return struct.pack("!H", len(wire)) + wire


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_msg(s):
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return dns.message.from_wire(recv_exact(s, n), one_rr_per_rrset=True)


def closed_within(s, seconds):
    """Seconds until the peer closed the connection (recv returns b'' or reset), or None."""
    t0 = time.monotonic()
    s.settimeout(seconds)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return time.monotonic() - t0
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - t0
    except socket.timeout:
        return None


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)


def zone_file_records(path, origin):
    """{(name, type, ttl, rdata text)} of a master file, via dnspython's parser."""
    z = dns.zone.from_file(path, origin=origin, relativize=False, check_origin=False)
    out = set()
    for name, ttl, rdata in z.iterate_rdatas():
        out.add((name.to_text().lower(), dns.rdatatype.to_text(rdata.rdtype), ttl,
                 rdata.to_text()))
    return out


def dig_records(text):
    """Records printed by dig (presentation format), normalised through dnspython."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        parts = line.split(None, 4)
        name, ttl, cls, rdtype = parts[0], int(parts[1]), parts[2], parts[3]
        rd = dns.rdata.from_text(dns.rdataclass.from_text(cls), dns.rdatatype.from_text(rdtype),
                                 parts[4] if len(parts) > 4 else "")
        out.append((name.lower(), rdtype, ttl, rd.to_text()))
    return out


class TransportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Steerdns(["--zone", f"{ORIGIN}={ZONE_FILE}", "--threads", "2",
                          "--axfr-allow", "127.0.0.1/32", "--tcp-max-clients", "8",
                          "--tcp-idle-timeout-ms", "1500"])
        cls.port = cls.d.port

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        logs = cls.d.logs()
        shutil.rmtree(cls.d.workdir, ignore_errors=True)
        assert code == 0, f"steerdns exited with {code}: {logs}"

    def dig(self, *args, host="127.0.0.1"):
        r = run(["dig", f"@{host}", "-p", str(self.port), "+time=2", "+tries=1", *args])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    # --- dig / kdig over UDP, TCP and IPv6 ---

    def test_dig_udp_and_tcp(self):
        for extra in ([], ["+tcp"]):
            out = self.dig("www.example.test", "A", "+short", *extra)
            self.assertEqual(sorted(out.split()), ["192.0.2.80", "192.0.2.81"], extra)
            full = self.dig("example.test", "SOA", *extra)
            self.assertIn("status: NOERROR", full)
            self.assertRegex(full, r"flags: qr aa")
            self.assertIn("2026112501", full)

    @needs_ipv6
    def test_dig_ipv6(self):
        for extra in ([], ["+tcp"]):
            out = self.dig("www.example.test", "AAAA", "+short", *extra, host="::1")
            self.assertEqual(out.split(), ["2001:db8::80"], extra)

    def test_kdig_udp_tcp_ipv6(self):
        for host in ["127.0.0.1"] + (["::1"] if HAVE_IPV6 else []):
            for extra in ([], ["+tcp"]):
                r = run(["kdig", f"@{host}", "-p", str(self.port), "+short", "api.example.test",
                         "A", *extra])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.split(),
                                 ["www.example.test.", "192.0.2.80", "192.0.2.81"], (host, extra))

    def test_nxdomain_and_refused_over_both(self):
        for tcp in (False, True):
            r = query("nope.example.test", "A", port=self.port, tcp=tcp)
            self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
            r = query("example.org", "A", port=self.port, tcp=tcp)
            self.assertEqual(r.rcode(), dns.rcode.REFUSED)

    def test_truncated_over_udp_full_over_tcp(self):
        out = self.dig("big.example.test", "TXT", "+ignore", "+noedns")
        self.assertRegex(out, r"flags: qr aa tc")
        self.assertIn("ANSWER: 0", out)
        r = query("big.example.test", "TXT", port=self.port, tcp=True)
        self.assertEqual(len(r.answer[0]), 4)
        # dig retries over TCP by itself and gets everything.
        out = self.dig("big.example.test", "TXT", "+noedns")
        self.assertIn("ANSWER: 4", out)

    def test_many_udp_queries_all_answered(self):
        # Spread over the worker threads by using several source ports.
        names = ["www", "mail", "ns1", "ns2", "sip", "api"]
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        try:
            want = {}
            qid = 0
            for burst in range(25):
                for s in socks:
                    qid += 1
                    q = dns.message.make_query(f"{names[qid % len(names)]}.example.test", "A")
                    q.id = qid
                    want[qid] = q
                    s.sendto(q.to_wire(), ("127.0.0.1", self.port))
                got = 0
                for s in socks:
                    s.settimeout(2)
                    r = dns.message.from_wire(s.recv(4096))
                    self.assertIn(r.id, want)
                    self.assertEqual(r.question[0].name, want[r.id].question[0].name)
                    self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                    got += 1
                self.assertEqual(got, len(socks))
        finally:
            for s in socks:
                s.close()

    # --- RFC 7766 framing ---

    def test_pipelined_100_queries_on_one_connection(self):
        names = ["www", "mail", "ns1", "ns2", "sip", "nope", "api", "x.wild"]
        queries = {}
        blob = b""
        for i in range(100):
            q = dns.message.make_query(f"{names[i % len(names)]}.example.test", "A")
            q.id = 1000 + i
            queries[q.id] = q
            blob += frame(q)
        with tcp_connect(self.port) as s:
            s.sendall(blob)  # all at once: many queries per segment
            seen = set()
            for _ in range(100):
                r = recv_msg(s)
                self.assertIn(r.id, queries)
                self.assertNotIn(r.id, seen)
                seen.add(r.id)
                q = queries[r.id]
                self.assertEqual(r.question[0].name, q.question[0].name)
                if q.question[0].name.to_text().startswith("nope."):
                    self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
                else:
                    self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                    self.assertTrue(r.answer)
            self.assertEqual(len(seen), 100)
            # The connection stays usable afterwards.
            q = dns.message.make_query("www.example.test", "AAAA")
            s.sendall(frame(q))
            self.assertEqual(recv_msg(s).id, q.id)

    def test_length_prefix_and_message_split_byte_by_byte(self):
        q = dns.message.make_query("www.example.test", "A")
        data = frame(q) * 2
        with tcp_connect(self.port) as s:
            for b in data:
                s.send(bytes([b]))
                time.sleep(0.002)
            for _ in range(2):
                r = recv_msg(s)
                self.assertEqual(r.id, q.id)
                self.assertEqual(sum(len(rrset) for rrset in r.answer), 2)

    def test_length_prefix_split_from_message(self):
        q = dns.message.make_query("mail.example.test", "A")
        data = frame(q)
        with tcp_connect(self.port) as s:
            s.send(data[:1])
            time.sleep(0.1)
            s.send(data[1:2])
            time.sleep(0.1)
            s.send(data[2:])
            r = recv_msg(s)
            self.assertEqual(r.id, q.id)
            self.assertEqual(r.answer[0][0].to_text(), "192.0.2.25")

    def test_zero_length_closes_after_answering_what_came_before(self):
        q = dns.message.make_query("www.example.test", "A")
        with tcp_connect(self.port) as s:
            s.sendall(frame(q) + b"\x00\x00" + frame(q))
            self.assertEqual(recv_msg(s).id, q.id)
            self.assertIsNotNone(closed_within(s, 2.0), "connection not closed after length 0")

    def test_half_close_still_gets_answers(self):
        q = dns.message.make_query("ns1.example.test", "A")
        with tcp_connect(self.port) as s:
            s.sendall(frame(q) + frame(q))
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_msg(s).id, q.id)
            self.assertEqual(recv_msg(s).id, q.id)
            self.assertIsNotNone(closed_within(s, 2.0))

    def test_short_message_then_close(self):
        with tcp_connect(self.port) as s:
            s.sendall(b"\x00\x30\x12\x34\x00")  # promises 48 bytes, sends 3, closes
            s.shutdown(socket.SHUT_WR)
            self.assertIsNotNone(closed_within(s, 2.0))
        # The server is fine afterwards.
        self.assertEqual(query("www.example.test", port=self.port, tcp=True).rcode(), 0)

    def test_garbage_message_closes(self):
        with tcp_connect(self.port) as s:
            s.sendall(b"\x00\x05hello")  # shorter than a DNS header: dropped, connection closed
            self.assertIsNotNone(closed_within(s, 2.0))

    # --- timeouts and limits ---

    def test_slowloris_closed_within_io_timeout(self):
        # Default per-message I/O timeout: 500 ms from the first byte of a message.
        with tcp_connect(self.port) as s:
            s.send(b"\x00\x40")  # a 64-byte message that never completes
            t0 = time.monotonic()
            closed = None
            s.settimeout(0.1)
            while time.monotonic() - t0 < 3.0:
                try:
                    s.send(b"\x00")  # one byte every 100 ms keeps the connection "active"
                except (BrokenPipeError, ConnectionResetError):
                    closed = time.monotonic() - t0
                    break
                try:
                    if s.recv(16) == b"":
                        closed = time.monotonic() - t0
                        break
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    closed = time.monotonic() - t0
                    break
            self.assertIsNotNone(closed, "slowloris connection was not closed")
            self.assertGreater(closed, 0.3)
            self.assertLess(closed, 1.5)

    def test_idle_timeout(self):
        with tcp_connect(self.port) as s:
            # Activity keeps it open past the idle timeout (1500 ms here)...
            for _ in range(4):
                q = dns.message.make_query("www.example.test", "A")
                s.sendall(frame(q))
                self.assertEqual(recv_msg(s).id, q.id)
                time.sleep(0.6)
            # ...silence closes it.
            t = closed_within(s, 5.0)
            self.assertIsNotNone(t, "idle connection not closed")
            self.assertGreater(t, 0.5)
            self.assertLess(t, 3.0)

    def test_max_clients_accepts_and_closes_beyond(self):
        # This daemon allows 8 clients. Other tests may run in parallel processes but not in
        # this class, so the 8 slots are ours.
        held = []
        try:
            def take_slot():
                # Connections of earlier tests may still be closing on the server side: retry.
                s = tcp_connect(self.port)
                try:
                    q = dns.message.make_query("www.example.test", "A")
                    s.sendall(frame(q))
                    if recv_msg(s).id == q.id:
                        held.append(s)
                        return True
                except (EOFError, ConnectionResetError, BrokenPipeError):
                    pass
                s.close()
                return False
            for _ in range(8):
                wait_until(take_slot, timeout=5, what="a TCP slot")
            extra = tcp_connect(self.port)
            self.assertIsNotNone(closed_within(extra, 2.0), "9th client was not closed")
            extra.close()
            held.pop().close()
            # A slot frees up once the server has seen the close.
            def works():
                with tcp_connect(self.port) as s2:
                    q2 = dns.message.make_query("www.example.test", "A")
                    s2.sendall(frame(q2))
                    return recv_msg(s2).id == q2.id
            wait_until(works, timeout=5, what="a free TCP slot")
        finally:
            for s in held:
                s.close()

    # --- zone transfers ---

    def test_dig_axfr_matches_zone_file(self):
        out = self.dig("example.test", "AXFR")
        recs = dig_records(out)
        self.assertGreater(len(recs), 3, out)
        self.assertEqual(recs[0][1], "SOA")
        self.assertEqual(recs[-1][1], "SOA")
        self.assertEqual(recs[0], recs[-1])
        self.assertEqual(set(recs[:-1]), zone_file_records(ZONE_FILE, ORIGIN))
        self.assertEqual(len(recs) - 1, len(zone_file_records(ZONE_FILE, ORIGIN)))

    def test_kdig_axfr(self):
        r = run(["kdig", "@127.0.0.1", "-p", str(self.port), "example.test", "AXFR", "+nocomments"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(set(dig_records(r.stdout)), zone_file_records(ZONE_FILE, ORIGIN))

    def test_ixfr_over_tcp_gets_full_transfer(self):
        out = self.dig("example.test", "IXFR=2026112400")
        recs = dig_records(out)
        self.assertEqual(recs[0][1], "SOA")
        self.assertEqual(recs[-1][1], "SOA")
        self.assertEqual(set(recs[:-1]), zone_file_records(ZONE_FILE, ORIGIN))

    @needs_ipv6
    def test_axfr_refused_outside_acl(self):
        # ::1 is not in --axfr-allow 127.0.0.1/32.
        q = dns.message.make_query("example.test", "AXFR")
        with tcp_connect(self.port, host="::1") as s:
            s.sendall(frame(q))
            r = recv_msg(s)
            self.assertEqual(r.rcode(), dns.rcode.REFUSED)
            self.assertEqual(r.question[0].name.to_text(), "example.test.")
            self.assertFalse(r.answer)
            # The connection stays open for normal queries.
            q2 = dns.message.make_query("www.example.test", "A")
            s.sendall(frame(q2))
            self.assertEqual(recv_msg(s).rcode(), dns.rcode.NOERROR)
        out = self.dig("example.test", "AXFR", host="::1")
        self.assertIn("Transfer failed", out)

    def test_axfr_of_non_apex_is_notauth(self):
        q = dns.message.make_query("www.example.test", "AXFR")
        with tcp_connect(self.port) as s:
            s.sendall(frame(q))
            self.assertEqual(recv_msg(s).rcode(), dns.rcode.NOTAUTH)

    def test_axfr_over_udp_is_formerr(self):
        r = query("example.test", "AXFR", port=self.port)
        self.assertEqual(r.rcode(), dns.rcode.FORMERR)

    def test_queries_pipelined_behind_a_transfer_are_answered(self):
        axfr = dns.message.make_query("example.test", "AXFR")
        axfr.id = 1
        q = dns.message.make_query("www.example.test", "A")
        q.id = 2
        with tcp_connect(self.port) as s:
            s.sendall(frame(axfr) + frame(q))
            ids = []
            soa = 0
            while True:
                r = recv_msg(s)
                ids.append(r.id)
                if r.id == 2:
                    break
                soa += sum(1 for rr in r.answer if rr.rdtype == dns.rdatatype.SOA)
            self.assertEqual(soa, 2)
            self.assertEqual(ids[-1], 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
