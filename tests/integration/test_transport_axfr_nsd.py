#!/usr/bin/python3
"""A real NSD secondary takes our zones by zone transfer (NSD asks with IXFR over TCP; we answer
with a full AXFR-style transfer), then serves exactly the records we serve."""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from test_transport import (ORIGIN, ZONE_FILE, Steerdns, dig_records, free_port, query, run,
                            wait_until, zone_file_records)

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
BIG_ORIGIN = "big.test"


def write_big_zone(path, n):
    """A zone large enough to need many 64 KB transfer messages."""
    with open(path, "w") as f:
        f.write(f"$ORIGIN {BIG_ORIGIN}.\n$TTL 600\n")
        f.write("@ IN SOA ns.big.test. admin.big.test. 42 3600 600 86400 60\n")
        f.write("@ IN NS ns\nns IN A 10.0.0.1\n")
        for i in range(n):
            f.write(f"host{i} IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
            if i % 5 == 0:
                f.write(f'host{i} IN TXT "record number {i}"\n')


def transfer_records(port, origin):
    """Records of a full AXFR from a server, in order, via dig."""
    r = run(["dig", "@127.0.0.1", "-p", str(port), "+time=5", "+tries=1", origin, "AXFR"])
    if r.returncode != 0:
        raise AssertionError(r.stdout + r.stderr)
    return dig_records(r.stdout)


def write_nsd_secondary_conf(nsd_dir, nsd_port, origins, primary_port, key=None):
    """An nsd.conf in nsd_dir for NSD as secondary of `origins` (one name or a list) from
    127.0.0.1@primary_port (AXFR/IXFR, NOTIFY accepted from loopback); returns its path.
    key=(name, algorithm, base64 secret): transfers, SOA checks and NOTIFY use TSIG with it."""
    conf = os.path.join(nsd_dir, "nsd.conf")
    zones = ""
    keyname = "NOKEY"
    if key:
        keyname = key[0]
        zones += f'key:\n  name: {key[0]}\n  algorithm: {key[1]}\n  secret: "{key[2]}"\n'
    for origin in [origins] if isinstance(origins, str) else origins:
        zones += (f"zone:\n  name: {origin}\n  zonefile: {nsd_dir}/{origin}.zone\n"
                  f"  request-xfr: 127.0.0.1@{primary_port} {keyname}\n"
                  f"  allow-notify: 127.0.0.1 {keyname}\n"
                  f"  provide-xfr: 127.0.0.1 NOKEY\n")
    with open(conf, "w") as f:
        f.write(f"""server:
  ip-address: 127.0.0.1@{nsd_port}
  port: {nsd_port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{nsd_dir}"
  database: ""
  pidfile: "{nsd_dir}/nsd.pid"
  xfrdfile: "{nsd_dir}/xfrd.state"
  xfrdir: "{nsd_dir}"
  zonelistfile: "{nsd_dir}/zone.list"
  logfile: "{nsd_dir}/nsd.log"
  server-count: 1
  verbosity: 2
remote-control:
  control-enable: no
{zones}""")
    return conf


@unittest.skipUnless(os.path.exists(NSD), "nsd is not installed")
class NsdSecondary:
    """A real NSD as secondary of the steerdns in self.d (test_transport_ixfr_nsd.py uses it
    too): started from a config file, stopped, its logs and answers read."""

    def start_nsd(self, nsd_dir, conf):
        self.nsd_log = os.path.join(nsd_dir, "nsd.log")
        self.nsd_out = open(os.path.join(nsd_dir, "nsd.stderr"), "wb")
        self.nsd = subprocess.Popen([NSD, "-d", "-c", conf], stdout=self.nsd_out,
                                    stderr=subprocess.STDOUT)

    def tearDown(self):
        if self.nsd.poll() is None:
            self.nsd.send_signal(signal.SIGTERM)
            try:
                self.nsd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nsd.kill()
                self.nsd.wait()
        self.nsd_out.close()
        code = self.d.stop()
        logs = self.d.logs()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(code, 0, logs)

    def nsd_logs(self):
        out = ""
        for p in (self.nsd_log, self.nsd_out.name):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out += f.read()
        return out

    def nsd_answers(self, name, rdtype, want):
        if self.nsd.poll() is not None:
            raise AssertionError(f"nsd exited with {self.nsd.returncode}: {self.nsd_logs()}")
        r = query(name, rdtype, port=self.nsd_port, timeout=0.5)
        got = sorted(rr.to_text() for rrset in r.answer for rr in rrset)
        return r.rcode() == dns.rcode.NOERROR and got == want


class NsdSecondaryTest(NsdSecondary, unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-nsd-")
        self.big_zone = os.path.join(self.tmp, "big.test.zone")
        write_big_zone(self.big_zone, 20000)
        self.d = Steerdns(["--zone", f"{ORIGIN}={ZONE_FILE}", "--zone",
                           f"{BIG_ORIGIN}={self.big_zone}", "--threads", "1",
                           "--axfr-allow", "127.0.0.0/8"], listen6=False, workdir=self.tmp)
        self.nsd_port = free_port()
        nsd_dir = os.path.join(self.tmp, "nsd")
        os.makedirs(nsd_dir)
        conf = write_nsd_secondary_conf(nsd_dir, self.nsd_port, (ORIGIN, BIG_ORIGIN), self.d.port)
        self.start_nsd(nsd_dir, conf)


    def test_nsd_takes_both_zones_and_serves_our_records(self):
        try:
            wait_until(lambda: self.nsd_answers("www.example.test", "A",
                                                ["192.0.2.80", "192.0.2.81"]),
                       timeout=30, interval=0.2, what="NSD to serve example.test")
            wait_until(lambda: self.nsd_answers("host19999.big.test", "A", ["10.0.78.31"]),
                       timeout=30, interval=0.2, what="NSD to serve big.test")
        except AssertionError as e:
            raise AssertionError(f"{e}\nNSD log:\n{self.nsd_logs()}\nsteerdns log:\n"
                                 f"{self.d.logs()}") from None
        # NSD's copy is record for record the zone file (and what we transfer).
        ours = transfer_records(self.d.port, ORIGIN)
        theirs = transfer_records(self.nsd_port, ORIGIN)
        self.assertEqual(set(theirs), zone_file_records(ZONE_FILE, ORIGIN))
        self.assertEqual(set(ours), set(theirs))
        big_ours = transfer_records(self.d.port, BIG_ORIGIN)
        big_theirs = transfer_records(self.nsd_port, BIG_ORIGIN)
        self.assertEqual(len(big_ours) - 1, 20000 + 4000 + 3)
        self.assertEqual(set(big_theirs), set(big_ours))
        self.assertEqual(set(big_ours), zone_file_records(self.big_zone, BIG_ORIGIN))
        # Our log names each transfer; the big zone needed several messages.
        logs = self.d.logs()
        self.assertRegex(logs, r"transfer of big\.test\. serial 42 to 127\.0\.0\.1:\d+: "
                               r"24004 records in (\d\d+|[2-9]) messages")
        # SOA serials agree.
        r = query(BIG_ORIGIN, "SOA", port=self.nsd_port)
        self.assertEqual(r.answer[0][0].serial, 42)


if __name__ == "__main__":
    unittest.main(verbosity=2)
