#!/usr/bin/python3
"""Zone transfer to a real NSD secondary (docs/zone-transfer.md): NSD takes the zone by AXFR;
a record added through the API bumps the serial, steerdns sends NOTIFY, NSD pulls an IXFR and
serves the new record; a health-driven failover (an external check set down through the API)
bumps the serial again, NOTIFY, IXFR, and NSD serves the secondary's address. `dig IXFR=N`
against steerdns gets the incremental form (RFC 1995) from the journal.

Every wait polls with a deadline. Run by ctest (STEERDNS_BIN).
"""
import json
import os
import re
import tempfile
import unittest
import urllib.request

from test_transport import Steerdns, free_port, query, run, wait_until
from test_transport_axfr_nsd import NSD, NsdSecondary, write_nsd_secondary_conf

ORIGIN = "example.test"
PRIMARY = "192.0.2.10"
SECONDARY = "198.51.100.10"

CONFIG = """\
server:
  xfr_allow: [127.0.0.0/8]
  notify: ["127.0.0.1:{nsd_port}"]
  store: sqlite:{tmp}/steerdns.db
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: 7 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - name: app
        type: A
        ttl: 60
        policy: failover
        failback: manual
        members:
          - {{ set_id: app-primary, role: primary, values: [{primary}], health_check: primary }}
          - {{ set_id: app-secondary, role: secondary, values: [{secondary}], health_check: secondary }}
health_checks:
  - {{ id: primary, type: external }}
  - {{ id: secondary, type: external }}
"""


def api_call(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
        return r.status, (json.loads(text) if r.headers.get_content_type() == "application/json"
                          else text.decode())


def dig_lines(port, *args):
    r = run(["dig", "@127.0.0.1", "-p", str(port), "+time=5", "+tries=1", "+nocmd", "+nostats",
             "+nocomments", "+noquestion", *args])
    if r.returncode != 0:
        raise AssertionError(r.stdout + r.stderr)
    out = []
    for line in r.stdout.splitlines():
        if line and not line.startswith(";"):
            f = line.split()
            out.append((f[0].lower(), f[3], " ".join(f[4:])))
    return out


def soa_serial(rdata_text):
    return int(rdata_text.split()[2])


@unittest.skipUnless(os.path.exists(NSD), "nsd is not installed")
class NsdIxfrTest(NsdSecondary, unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-ixfr-")
        self.nsd_port = free_port()
        self.api_port = free_port()
        self.config = os.path.join(self.tmp, "steerdns.yaml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(nsd_port=self.nsd_port, tmp=self.tmp, primary=PRIMARY,
                                  secondary=SECONDARY))
        self.d = Steerdns(["--config", self.config, "--threads", "1",
                           "--api-listen", f"127.0.0.1:{self.api_port}"],
                          listen6=False, workdir=self.tmp)
        nsd_dir = os.path.join(self.tmp, "nsd")
        os.makedirs(nsd_dir)
        conf = write_nsd_secondary_conf(nsd_dir, self.nsd_port, ORIGIN, self.d.port)
        self.start_nsd(nsd_dir, conf)


    def serial(self, port):
        return query(ORIGIN, "SOA", port=port).answer[0][0].serial

    def wait_nsd(self, name, rdtype, want, what):
        try:
            wait_until(lambda: self.nsd_answers(name, rdtype, want), timeout=30, interval=0.2,
                       what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\nNSD log:\n{self.nsd_logs()}\nsteerdns log:\n"
                                 f"{self.d.logs()}") from None

    def set_check(self, cid, status):
        code, body = api_call(self.api_port, "PUT", f"/v1/health/checks/{cid}/status",
                              {"status": status, "reason": "test"})
        self.assertEqual(code, 200, body)

    def test_axfr_then_ixfr_after_change_and_failover(self):
        self.set_check("primary", "healthy")
        self.set_check("secondary", "healthy")
        wait_until(lambda: [r.to_text() for r in query(f"app.{ORIGIN}", "A",
                                                       port=self.d.port).answer[0]] == [PRIMARY],
                   timeout=10, interval=0.1, what="steerdns to answer the primary")
        # 1. NSD takes the zone (a full transfer: it has nothing yet).
        self.wait_nsd(f"app.{ORIGIN}", "A", [PRIMARY], "NSD to serve the zone")
        s0 = self.serial(self.d.port)
        wait_until(lambda: self.serial(self.nsd_port) == s0, timeout=30, interval=0.2,
                   what=f"NSD at serial {s0}")
        self.assertRegex(self.d.logs(), rf"transfer of {ORIGIN}\. serial {s0} to 127\.0\.0\.1")

        # 2. A change through the API: serial up, NOTIFY, NSD pulls an IXFR and serves it.
        code, body = api_call(self.api_port, "PUT",
                              f"/v1/zones/{ORIGIN}/rrsets/www/A?wait=5",
                              {"ttl": 300, "values": ["192.0.2.80"]})
        self.assertEqual(code, 200, body)
        s1 = self.serial(self.d.port)
        self.assertGreater(s1, s0)
        self.wait_nsd(f"www.{ORIGIN}", "A", ["192.0.2.80"], "NSD to serve the added record")
        self.assertEqual(self.serial(self.nsd_port), s1)
        wait_until(lambda: re.search(rf"notify: 127\.0\.0\.1:{self.nsd_port} acknowledged "
                                     rf"{ORIGIN}\. serial {s1}", self.d.logs()),
                   timeout=10, interval=0.1, what="NOTIFY acknowledged")
        self.assertRegex(self.d.logs(),
                         rf"transfer of {ORIGIN}\.: IXFR from serial {s0} to {s1}: 1 journal steps")

        # 3. Failover by health: the primary's check goes down -> the answer moves -> serial up.
        self.set_check("primary", "unhealthy")
        wait_until(lambda: [r.to_text() for r in query(f"app.{ORIGIN}", "A",
                                                       port=self.d.port).answer[0]] == [SECONDARY],
                   timeout=10, interval=0.1, what="steerdns to fail over")
        s2 = self.serial(self.d.port)
        self.assertGreater(s2, s1)
        self.wait_nsd(f"app.{ORIGIN}", "A", [SECONDARY], "NSD to serve the secondary")
        self.assertEqual(self.serial(self.nsd_port), s2)
        self.assertRegex(self.d.logs(),
                         rf"transfer of {ORIGIN}\.: IXFR from serial {s1} to {s2}: 1 journal steps")

        # 4. dig IXFR against steerdns: the incremental form from s0, in RFC 1995 order.
        recs = dig_lines(self.d.port, ORIGIN, f"IXFR={s0}")
        soas = [soa_serial(r[2]) for r in recs if r[1] == "SOA"]
        self.assertEqual(soas, [s2, s0, s1, s1, s2, s2], recs)
        at = [i for i, r in enumerate(recs) if r[1] == "SOA"]
        # s0 -> s1: nothing removed, www added; s1 -> s2: the primary out, the secondary in.
        self.assertEqual(recs[at[1] + 1:at[2]], [], recs)
        self.assertEqual(recs[at[2] + 1:at[3]], [(f"www.{ORIGIN}.", "A", "192.0.2.80")], recs)
        self.assertEqual(recs[at[3] + 1:at[4]], [(f"app.{ORIGIN}.", "A", PRIMARY)], recs)
        self.assertEqual(recs[at[4] + 1:at[5]], [(f"app.{ORIGIN}.", "A", SECONDARY)], recs)
        # Up to date: the SOA alone.
        recs = dig_lines(self.d.port, ORIGIN, f"IXFR={s2}")
        self.assertEqual([(r[1], soa_serial(r[2])) for r in recs], [("SOA", s2)])
        # NOTIFY acknowledged for both changes, and counted.
        wait_until(lambda: re.search(rf"notify: 127\.0\.0\.1:{self.nsd_port} acknowledged "
                                     rf"{ORIGIN}\. serial {s2}", self.d.logs()),
                   timeout=10, interval=0.1, what="NOTIFY of the failover acknowledged")
        code, text = api_call(self.api_port, "GET", "/metrics")
        m = re.search(r'steerdns_notify_total\{result="ok"\} (\d+)', text)
        self.assertTrue(m, text[:2000])
        self.assertGreaterEqual(int(m.group(1)), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
