#!/usr/bin/python3
"""TSIG (RFC 8945) for zone transfers, SOA checks and NOTIFY (docs/zone-transfer.md).

A real NSD secondary configured with a key (`request-xfr: ... xfr-key`, `allow-notify: ...
xfr-key`) takes the zone by a signed AXFR (its SOA checks are signed too), then after an API
change gets a signed NOTIFY (steerdns verifies NSD's signed answer) and pulls a signed IXFR.
kdig -y and dnspython (dns.query.xfr with a keyring) verify every message of a transfer large
enough to need several; unsigned, wrong-key, wrong-secret and out-of-time requests get the
RFC 8945 answers and the log says why. A reload changes the secret without a restart.

Every wait polls with a deadline. Run by ctest (STEERDNS_BIN).
"""
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring

from test_transport import Steerdns, free_port, query, recv_exact, tcp_connect, wait_until
from test_transport_axfr_nsd import (BIG_ORIGIN, NSD, NsdSecondary, write_big_zone,
                                     write_nsd_secondary_conf)
from test_transport_ixfr_nsd import api_call

ORIGIN = "example.test"
KEY = "xfr-key"
SECRET = "c3RlZXJkbnMgdHNpZyB0ZXN0IGtleSAzMiBieXRlcyE="  # openssl rand -base64 32 in real life
NEW_SECRET = "bmV3IHNlY3JldCBhZnRlciB0aGUgcmVsb2FkISEhISE="
OTHER = "other-key"
OTHER_SECRET = "b3RoZXIga2V5IHNlY3JldCBvZiAzMiBieXRlcyEhISE="
BIG_HOSTS = 20000

CONFIG = """\
server:
  tsig_keys:
    - {{ name: {key}, algorithm: hmac-sha256, secret_file: xfr-key.b64 }}
    - {{ name: {other}, secret: "{other_secret}" }}
  xfr_allow:
    - {{ from: 127.0.0.0/8, key: {key} }}
  notify:
    - {{ to: "127.0.0.1:{nsd_port}", key: {key} }}
  store: sqlite:{tmp}/steerdns.db
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: 7 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - {{ name: app, type: A, values: [192.0.2.10] }}
  - name: {big}.
    file: {big_zone}
"""


def keyring(name=KEY, secret=SECRET):
    return dns.tsigkeyring.from_text({name: ("hmac-sha256", secret)})


def signed_query(zone, rdtype, name=KEY, secret=SECRET, **kw):
    q = dns.message.make_query(zone, rdtype)
    q.use_tsig(keyring(name, secret), keyname=name, **kw)
    return q


def exchange_raw(port, wire):
    """One message over TCP, the first response as bytes (not parsed: dnspython would raise on
    the TSIG errors this test wants to look at)."""
    s = tcp_connect(port)
    try:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        return recv_exact(s, struct.unpack("!H", recv_exact(s, 2))[0])
    finally:
        s.close()


def rcode_of(wire):
    return wire[3] & 0x0F


def tsig_of(wire):
    """(error, MAC size, other data) of the message's TSIG record, read field by field."""
    qd, an, ns, ar = struct.unpack("!HHHH", wire[4:12])
    off = 12
    for _ in range(qd):
        off += dns.name.from_wire(wire, off)[1] + 4
    for _ in range(an + ns + ar):
        off += dns.name.from_wire(wire, off)[1]
        rtype, _, _, rdlen = struct.unpack("!HHIH", wire[off:off + 10])
        off += 10
        if rtype == dns.rdatatype.TSIG:
            rd = dns.rdata.from_wire(dns.rdataclass.ANY, rtype, wire, off, rdlen)
            return rd.error, len(rd.mac), rd.other
        off += rdlen
    raise AssertionError("no TSIG record")


@unittest.skipUnless(os.path.exists(NSD), "nsd is not installed")
class TsigTransferTest(NsdSecondary, unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-tsig-")
        self.nsd_port = free_port()
        self.api_port = free_port()
        self.big_zone = os.path.join(self.tmp, "big.test.zone")
        write_big_zone(self.big_zone, BIG_HOSTS)
        # The secret in a file, out of the config, as `openssl rand -base64 32 >` writes it.
        with open(os.path.join(self.tmp, "xfr-key.b64"), "w") as f:
            f.write(SECRET + "\n")
        self.config = os.path.join(self.tmp, "steerdns.yaml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(key=KEY, other=OTHER, other_secret=OTHER_SECRET,
                                  nsd_port=self.nsd_port, tmp=self.tmp, big=BIG_ORIGIN,
                                  big_zone=self.big_zone))
        self.d = Steerdns(["--config", self.config, "--threads", "1",
                           "--api-listen", f"127.0.0.1:{self.api_port}"],
                          listen6=False, workdir=self.tmp)
        nsd_dir = os.path.join(self.tmp, "nsd")
        os.makedirs(nsd_dir)
        conf = write_nsd_secondary_conf(nsd_dir, self.nsd_port, ORIGIN, self.d.port,
                                        key=(KEY, "hmac-sha256", SECRET))
        self.start_nsd(nsd_dir, conf)

    def wait_nsd(self, name, rdtype, want, what):
        try:
            wait_until(lambda: self.nsd_answers(name, rdtype, want), timeout=30, interval=0.2,
                       what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\nNSD log:\n{self.nsd_logs()}\nsteerdns log:\n"
                                 f"{self.d.logs()}") from None

    def tsig_failures(self):
        """steerdns_dns_tsig_failures_total's non-zero series: {(reason, transport): n}."""
        _, text = api_call(self.api_port, "GET", "/metrics")
        out = {}
        for m in re.finditer(r'^steerdns_dns_tsig_failures_total\{reason="(\w+)",'
                             r'transport="(\w+)"\} (\S+)$', text, re.M):
            if float(m.group(3)):
                out[(m.group(1), m.group(2))] = int(float(m.group(3)))
        self.assertIn("steerdns_dns_tsig_failures_total{", text)
        return out

    def serial(self, port):
        return query(ORIGIN, "SOA", port=port).answer[0][0].serial

    def test_nsd_signed_axfr_then_signed_notify_and_ixfr(self):
        # 1. NSD takes the zone: signed SOA check, signed AXFR (NSD rejects unsigned answers).
        self.wait_nsd(f"app.{ORIGIN}", "A", ["192.0.2.10"], "NSD to serve the zone")
        s0 = self.serial(self.d.port)
        self.assertEqual(self.serial(self.nsd_port), s0)
        self.assertRegex(self.d.logs(), rf"transfer of {ORIGIN}\. serial {s0} to 127\.0\.0\.1:\d+"
                                        rf": \d+ records in 1 messages, TSIG-signed")
        # 2. A change through the API: the NOTIFY is signed (NSD accepts NOTIFY only with the
        # key) and its signed answer verifies; NSD pulls a signed IXFR and serves the change.
        code, body = api_call(self.api_port, "PUT", f"/v1/zones/{ORIGIN}/rrsets/www/A?wait=5",
                              {"ttl": 300, "values": ["192.0.2.80"]})
        self.assertEqual(code, 200, body)
        s1 = self.serial(self.d.port)
        self.assertGreater(s1, s0)
        self.wait_nsd(f"www.{ORIGIN}", "A", ["192.0.2.80"], "NSD to serve the added record")
        wait_until(lambda: re.search(rf"notify: 127\.0\.0\.1:{self.nsd_port} acknowledged "
                                     rf"{ORIGIN}\. serial {s1}", self.d.logs()),
                   timeout=10, interval=0.1, what="the signed NOTIFY acknowledged")
        logs = self.d.logs()
        self.assertRegex(logs, rf"transfer of {ORIGIN}\.: IXFR from serial {s0} to {s1}")
        self.assertRegex(logs, rf"transfer of {ORIGIN}\. serial {s1} to 127\.0\.0\.1:\d+: "
                               rf"\d+ records in \d+ messages, TSIG-signed")
        # NSD's answer to the NOTIFY verified (else "fails TSIG verification") and was NOERROR
        # (else "answered the NOTIFY ... with rcode"); none of NSD's requests was refused.
        self.assertNotIn("fails TSIG verification", logs)
        self.assertNotIn("answered the NOTIFY", logs)
        self.assertNotIn("TSIG: ", logs)
        self.assertNotIn(SECRET, logs)
        # NSD's side: both transfers verified with the key, the NOTIFY accepted.
        nsd = self.nsd_logs()
        for s in (s0, s1):
            self.assertRegex(nsd, rf"received update to serial {s} .* TSIG verified with key {KEY}")
        self.assertRegex(nsd, rf"notify for {ORIGIN}\. from 127\.0\.0\.1\n")
        self.assertNotRegex(nsd, r"(?i)refused|bad ?sig|bad ?key|tsig.*fail")

    def test_kdig_dnspython_and_the_refusals(self):
        port = self.d.port
        # kdig verifies the TSIG of every message of a transfer that needs several.
        p = subprocess.run(["kdig", "-y", f"hmac-sha256:{KEY}:{SECRET}", "@127.0.0.1", "-p",
                            str(port), "+time=10", BIG_ORIGIN, "AXFR"],
                           capture_output=True, text=True, timeout=60)
        tail = p.stdout[-600:] + p.stderr
        self.assertEqual(p.returncode, 0, tail)
        self.assertFalse(re.search(r"(?i)warning|;; error|failed", p.stdout + p.stderr), tail)
        m = re.search(r";; Received \d+ B \((\d+) messages, (\d+) records\)", p.stdout)
        self.assertTrue(m, tail)
        self.assertGreater(int(m.group(1)), 1)
        self.assertEqual(int(m.group(2)), BIG_HOSTS + BIG_HOSTS // 5 + 4)
        # dnspython's xfr checks the chain of MACs message by message as well.
        records = 0
        messages = 0
        for msg in dns.query.xfr("127.0.0.1", BIG_ORIGIN, port=port, keyring=keyring(),
                                 keyname=KEY, lifetime=60):
            messages += 1
            self.assertTrue(msg.had_tsig)
            records += sum(len(rrset) for rrset in msg.answer)
        self.assertGreater(messages, 1)
        self.assertEqual(records, BIG_HOSTS + BIG_HOSTS // 5 + 4)
        # SOA checks as a secondary sends them, over UDP and TCP: answered signed (dnspython
        # verifies the answer with the request's MAC).
        for tcp in (False, True):
            q = signed_query(ORIGIN, "SOA")
            r = (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", port=port, timeout=5)
            self.assertTrue(r.had_tsig)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            self.assertEqual(r.answer[0][0].serial, self.serial(port))

        # Unsigned: the ACL entry for loopback requires the key -> REFUSED, and logged why.
        wire = exchange_raw(port, dns.message.make_query(BIG_ORIGIN, "AXFR").to_wire())
        self.assertEqual(rcode_of(wire), dns.rcode.REFUSED)
        wait_until(lambda: re.search(rf"transfer of {BIG_ORIGIN}\. refused to 127\.0\.0\.1:\d+: "
                                     r"unsigned, and the ACL requires a TSIG key",
                                     self.d.logs()), what="the unsigned refusal logged")
        # Signed with a valid key that no ACL entry names: REFUSED, signed.
        q = signed_query(BIG_ORIGIN, "AXFR", name=OTHER, secret=OTHER_SECRET)
        wire = exchange_raw(port, q.to_wire())
        self.assertEqual(rcode_of(wire), dns.rcode.REFUSED)
        r = dns.message.from_wire(wire, keyring=q.keyring, request_mac=q.mac)  # verifies
        self.assertTrue(r.had_tsig)
        wait_until(lambda: re.search(rf"signed with key {OTHER}\., which no ACL entry", 
                                     self.d.logs()), what="the wrong-key refusal logged")
        # The right key name, a wrong secret: NOTAUTH with BADSIG, unsigned; logged with the
        # client, the zone and the reason (never a secret).
        wrong = "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZyE="
        wire = exchange_raw(port, signed_query(BIG_ORIGIN, "AXFR", secret=wrong).to_wire())
        self.assertEqual(rcode_of(wire), dns.rcode.NOTAUTH)
        self.assertEqual(tsig_of(wire)[:2], (dns.rcode.BADSIG, 0))
        wait_until(lambda: re.search(rf"TSIG: {BIG_ORIGIN}\./AXFR from 127\.0\.0\.1:\d+ refused, "
                                     rf"key {KEY}\.: BADSIG", self.d.logs()),
                   what="the BADSIG logged")
        # An unknown key: BADKEY, unsigned.
        wire = exchange_raw(port, signed_query(BIG_ORIGIN, "AXFR", name="nokey").to_wire())
        self.assertEqual(rcode_of(wire), dns.rcode.NOTAUTH)
        self.assertEqual(tsig_of(wire)[:2], (dns.rcode.BADKEY, 0))
        # Signed 1000 s ago: BADTIME, signed, our clock in the other data (RFC 8945 5.2.3).
        real = time.time
        try:
            time.time = lambda: real() - 1000
            wire_q = signed_query(BIG_ORIGIN, "SOA").to_wire()
        finally:
            time.time = real
        wire = exchange_raw(port, wire_q)
        self.assertEqual(rcode_of(wire), dns.rcode.NOTAUTH)
        error, mac_size, other = tsig_of(wire)
        self.assertEqual((error, mac_size), (dns.rcode.BADTIME, 32))
        self.assertLess(abs(int.from_bytes(other, "big") - time.time()), 30)
        # An unknown key over UDP too (a secondary's SOA check): BADKEY.
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.settimeout(5)
            sock.sendto(signed_query(ORIGIN, "SOA", name="nokey").to_wire(), ("127.0.0.1", port))
            wire = sock.recv(65535)
        finally:
            sock.close()
        self.assertEqual(tsig_of(wire)[:2], (dns.rcode.BADKEY, 0))
        # Each failure counted by reason and transport; the others stay at zero.
        failures = self.tsig_failures()
        self.assertEqual(failures, {("badsig", "tcp"): 1, ("badkey", "tcp"): 1,
                                    ("badtime", "tcp"): 1, ("badkey", "udp"): 1}, failures)
        logs = self.d.logs()
        for s in (SECRET, OTHER_SECRET, wrong):
            self.assertNotIn(s, logs)

        # A reload with a new secret in the file: the old one gets BADSIG, the new one works,
        # no restart.
        with open(os.path.join(self.tmp, "xfr-key.b64"), "w") as f:
            f.write(NEW_SECRET + "\n")
        self.d.signal(signal.SIGHUP)
        wait_until(lambda: "tsig_keys applied" in self.d.logs(), timeout=15,
                   what="the reload to apply the new key")

        def rejects_old():
            w = exchange_raw(port, signed_query(ORIGIN, "SOA").to_wire())
            return rcode_of(w) == dns.rcode.NOTAUTH and tsig_of(w)[0] == dns.rcode.BADSIG

        wait_until(rejects_old, what="the old secret to get BADSIG")
        r = dns.query.tcp(signed_query(ORIGIN, "SOA", secret=NEW_SECRET), "127.0.0.1",
                          port=port, timeout=5)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertTrue(r.had_tsig)


if __name__ == "__main__":
    unittest.main(verbosity=2)
