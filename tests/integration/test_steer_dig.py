#!/usr/bin/python3
"""Steered records answered by the real daemon, asked with real `dig`: a latency record
answered by client subnet (`dig +subnet`, the scope checked in the reply), a weighted split
over a few hundred queries, subnet routing by ECS, and a simple alias at the zone apex.
Run by ctest (STEERDNS_BIN)."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import steerdns

CONFIG = """\
zones:
  - name: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - name: lat
        type: A
        ttl: 60
        policy: latency
        members:
          - { set_id: taipei, region: ap-east-2, values: [192.0.2.10] }
          - { set_id: tokyo, region: ap-northeast-1, values: [198.51.100.10] }
      - name: w
        type: A
        ttl: 30
        policy: weighted
        members:
          - { set_id: big, weight: 3, values: [192.0.2.1] }
          - { set_id: small, weight: 1, values: [192.0.2.2] }
          - { set_id: standby, weight: 0, values: [192.0.2.3] }
      - name: net
        type: A
        policy: subnet
        members:
          - { set_id: office, subnets: [10.1.0.0/16], values: [192.0.2.100] }
          - { set_id: rest, default: true, values: [192.0.2.200] }
      - name: app
        type: A
        ttl: 60
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [192.0.2.50] }
          - { set_id: sec, role: secondary, values: [198.51.100.50] }
      - name: "@"
        type: A
        members:
          - alias: { name: app }
latency_map:
  - { cidr: 203.0.113.0/24, rtt_ms: { ap-east-2: 12, ap-northeast-1: 38 } }
  - { cidr: 0.0.0.0/0, rtt_ms: { ap-east-2: 60, ap-northeast-1: 20 } }
"""


def dig(port, *args):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=2"] +
                         list(args), capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError("dig failed: %s %s" % (out.stdout, out.stderr))
    return out.stdout


def answers(text):
    """A records of the answer sections in dig's output, in order."""
    return re.findall(r"^\S+\s+\d+\s+IN\s+A\s+(\S+)$", text, re.M)


class SteerDig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("dig") is None:
            raise unittest.SkipTest("dig is not installed")
        cls.dir = tempfile.mkdtemp(prefix="steer-dig-")
        path = os.path.join(cls.dir, "steer.yaml")
        with open(path, "w") as f:
            f.write(CONFIG)
        cls.server = steerdns(config=path, probe_zone="example.test.",
                              extra_args=["--api-listen", "off"])
        cls.server.start()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_latency_by_client_subnet_with_scope(self):
        near = dig(self.port, "lat.example.test", "A", "+subnet=203.0.113.7/24")
        self.assertEqual(answers(near), ["192.0.2.10"], near)
        # dig prints the reply's ECS as ADDRESS/SOURCE/SCOPE: the decision used the /24.
        m = re.search(r"CLIENT-SUBNET: ([0-9.]+)/(\d+)/(\d+)", near)
        self.assertIsNotNone(m, near)
        self.assertEqual((m.group(1), m.group(2), m.group(3)), ("203.0.113.0", "24", "24"))
        far = dig(self.port, "lat.example.test", "A", "+subnet=198.51.100.0/24")
        self.assertEqual(answers(far), ["198.51.100.10"], far)
        m = re.search(r"CLIENT-SUBNET: ([0-9.]+)/(\d+)/(\d+)", far)
        self.assertIsNotNone(m, far)
        self.assertEqual(m.group(2), "24")
        # The catch-all 0.0.0.0/0 entry decided: scope 0 (valid for every client).
        self.assertEqual(m.group(3), "0")
        # A client-independent answer echoes ECS with scope 0.
        fixed = dig(self.port, "app.example.test", "A", "+subnet=203.0.113.7/24")
        self.assertRegex(fixed, r"CLIENT-SUBNET: 203\.0\.113\.0/24/0")

    def test_weighted_split(self):
        n = 400
        args = []
        for _ in range(n):
            args += ["w.example.test", "A", "+short"]
        got = dig(self.port, *args).split()
        self.assertEqual(len(got), n, got[:20])
        big, small = got.count("192.0.2.1"), got.count("192.0.2.2")
        self.assertEqual(got.count("192.0.2.3"), 0, "a weight-0 standby answered while others are up")
        self.assertEqual(big + small, n)
        # 3:1 -> 300 expected; the bounds are ~6 standard deviations (sd ~8.7).
        self.assertGreater(big, 250, (big, small))
        self.assertLess(big, 350, (big, small))

    def test_subnet_policy_by_ecs(self):
        office = dig(self.port, "net.example.test", "A", "+subnet=10.1.2.0/24")
        self.assertEqual(answers(office), ["192.0.2.100"], office)
        rest = dig(self.port, "net.example.test", "A", "+subnet=10.2.0.0/24")
        self.assertEqual(answers(rest), ["192.0.2.200"], rest)
        # Without ECS the source address (127.0.0.1) decides: the default member.
        self.assertEqual(dig(self.port, "net.example.test", "A", "+short").split(),
                         ["192.0.2.200"])

    def test_simple_alias_at_the_apex(self):
        out = dig(self.port, "example.test", "A", "+norecurse")
        self.assertEqual(answers(out), ["192.0.2.50"], out)
        self.assertIn("flags: qr aa", out)
        # The apex keeps its SOA and NS beside the alias.
        self.assertIn("IN\tSOA", dig(self.port, "example.test", "SOA"))


if __name__ == "__main__":
    unittest.main()
