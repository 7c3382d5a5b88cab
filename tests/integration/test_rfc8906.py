"""RFC 8906 / ISC genreport conformance table (research/reliability.md section 2), run with real
dig (and kdig) over UDP and TCP against a running steerdns. Every query must get an answer."""
import os
import re
import shutil
import tempfile
import unittest

import harness

ZONE = "example.com"


class Dig:
    """The parts of a dig answer the table looks at."""

    def __init__(self, text):
        self.text = text
        m = re.search(r"->>HEADER<<- opcode: (\S+), status: (\S+), id", text)
        if not m:
            raise AssertionError("no answer from the server:\n" + text)
        self.opcode, self.status = m.group(1), m.group(2)
        m = re.search(r";; flags:([^;]*);.*ANSWER: (\d+), AUTHORITY: (\d+), ADDITIONAL: (\d+)",
                      text)
        self.flags = set(m.group(1).split())
        self.answer_count = int(m.group(2))
        self.mbz = re.search(r"MBZ: 0x", text) is not None
        m = re.search(r"; EDNS: version: (\d+), flags:([^;]*);(?: MBZ: (\S+),)? udp: (\d+)", text)
        self.edns = m is not None
        self.edns_version = int(m.group(1)) if m else None
        self.edns_flags = set(m.group(2).split()) if m else set()
        self.edns_mbz = bool(m and m.group(3))
        self.edns_udp = int(m.group(4)) if m else None
        self.answer = re.findall(r"^(\S+)\s+\d+\s+IN\s+(\S+)\s+(.*)$",
                                 text.split(";; ANSWER SECTION:")[1].split("\n\n")[0], re.M) \
            if ";; ANSWER SECTION:" in text else []
        self.options = [o for o in re.findall(r"^; ([A-Z-]+|OPT=\d+):", text, re.M) if o != "EDNS"]
        self.size = int(re.search(r"MSG SIZE\s+rcvd: (\d+)", text).group(1))


class Rfc8906(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.steerdns().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def dig(self, *args, tcp=False):
        cmd = ["dig", "@127.0.0.1", "-p", str(self.server.port), "+time=2", "+tries=1",
               "+ignore"] + (["+tcp"] if tcp else []) + list(args)
        return Dig(harness.run(cmd))

    def both(self, *args):
        """The same query over UDP and over TCP."""
        return [(t, self.dig(*args, tcp=t)) for t in (False, True)]

    def assert_soa_aa(self, r, what):
        self.assertEqual(r.status, "NOERROR", what)
        self.assertIn("aa", r.flags, what)
        self.assertEqual([a[1] for a in r.answer], ["SOA"], what)

    # --- the RFC 8906 section 8 table ---

    def test_plain_soa(self):
        for tcp, r in self.both("+noedns", "+noad", "+norec", "soa", ZONE):
            self.assert_soa_aa(r, "tcp=%s" % tcp)
            self.assertFalse(r.edns, "no OPT in answer to a query without one")
            self.assertNotIn("ra", r.flags)

    def test_unknown_type(self):
        for tcp, r in self.both("+noedns", "+noad", "+norec", "type1000", ZONE):
            self.assertEqual(r.status, "NOERROR")
            self.assertIn("aa", r.flags)
            self.assertEqual(r.answer_count, 0)

    def test_cd_and_ad(self):
        for tcp, r in self.both("+noedns", "+noad", "+norec", "+cd", "soa", ZONE):
            self.assert_soa_aa(r, "cd tcp=%s" % tcp)
            self.assertIn("cd", r.flags)  # CD is copied (RFC 4035 3.1.6)
        for tcp, r in self.both("+noedns", "+norec", "+ad", "soa", ZONE):
            self.assert_soa_aa(r, "ad tcp=%s" % tcp)
            self.assertNotIn("ad", r.flags)  # not a validator

    def test_zflag_not_copied(self):
        for tcp, r in self.both("+noedns", "+noad", "+norec", "+zflag", "soa", ZONE):
            self.assert_soa_aa(r, "tcp=%s" % tcp)
            self.assertFalse(r.mbz, "Z (MBZ) bit copied into the response:\n" + r.text)

    def test_opcode_15(self):
        for tcp, r in self.both("+noedns", "+noad", "+opcode=15", "+norec", "+header-only"):
            self.assertEqual(r.status, "NOTIMP", r.text)
            self.assertNotIn("aa", r.flags)
            self.assertEqual(r.answer_count, 0)

    def test_opcode_15_all_flags(self):  # genreport opcodeflg
        r = self.dig("+noedns", "+opcode=15", "+rec", "+ad", "+cd", "+zflag", "+aaflag",
                     "+tcflag", "+header-only")
        self.assertEqual(r.status, "NOTIMP", r.text)
        self.assertNotIn("aa", r.flags)
        self.assertFalse(r.mbz)

    def test_tcp(self):
        r = self.dig("+noedns", "+noad", "+norec", "soa", ZONE, tcp=True)
        self.assert_soa_aa(r, "tcp")
        self.assertIn("(TCP)", r.text)

    def test_edns0(self):
        for tcp, r in self.both("+nocookie", "+edns=0", "+noad", "+norec", "soa", ZONE):
            self.assert_soa_aa(r, "tcp=%s" % tcp)
            self.assertTrue(r.edns)
            self.assertEqual(r.edns_version, 0)
            self.assertEqual(r.edns_udp, 1232)

    def test_edns1_is_badvers(self):
        variants = [
            ("+nocookie", "+edns=1", "+noednsneg", "+noad", "+norec", "soa", ZONE),
            ("+nocookie", "+edns=1", "+noednsneg", "+ednsflags=0x40", "soa", ZONE),  # edns1 flags
            ("+nocookie", "+edns=1", "+noednsneg", "+ednsopt=100", "soa", ZONE),  # edns1opt
            ("+nocookie", "+edns=1", "+noednsneg", "+dnssec", "soa", ZONE),  # edns1do
            ("+nocookie", "+edns=1", "+noednsneg", "+nsid", "soa", ZONE),  # edns1nsid
            ("+cookie", "+edns=1", "+noednsneg", "soa", ZONE),  # edns1cookie
            ("+nocookie", "+edns=1", "+noednsneg", "+expire", "soa", ZONE),  # edns1expire
            ("+nocookie", "+edns=1", "+noednsneg", "+subnet=0.0.0.0/0", "soa", ZONE),
        ]
        for v in variants:
            for tcp, r in self.both(*v):
                what = "%s tcp=%s" % (" ".join(v), tcp)
                self.assertEqual(r.status, "BADVERS", what)
                self.assertTrue(r.edns, what)
                self.assertEqual(r.edns_version, 0, what)
                self.assertNotIn("aa", r.flags, what)
                self.assertEqual(r.answer_count, 0, what)

    def test_unknown_option_not_echoed(self):
        for tcp, r in self.both("+edns=0", "+nocookie", "+ednsopt=100", "soa", ZONE):
            self.assert_soa_aa(r, "tcp=%s" % tcp)
            self.assertEqual(r.options, [], r.text)
            self.assertNotIn("OPT=100", r.text)

    def test_unknown_edns_flag_not_copied(self):
        for tcp, r in self.both("+edns=0", "+nocookie", "+ednsflags=0x40", "soa", ZONE):
            self.assert_soa_aa(r, "tcp=%s" % tcp)
            self.assertFalse(r.edns_mbz, "unknown EDNS flag copied:\n" + r.text)
            self.assertEqual(r.edns_flags, set())

    def test_dnssec_do_bit(self):
        for tcp, r in self.both("+edns=0", "+nocookie", "+dnssec", "soa", ZONE):
            self.assert_soa_aa(r, "tcp=%s" % tcp)
            self.assertEqual(r.edns_flags, {"do"})

    def test_all_options_together(self):
        for tcp, r in self.both("+edns=0", "+cookie", "+nsid", "+expire", "+subnet=0.0.0.0/0",
                                "soa", ZONE):
            self.assert_soa_aa(r, "tcp=%s" % tcp)
            self.assertEqual(r.edns_version, 0)
            # ECS is echoed with scope 0; the others are not implemented and so not echoed.
            self.assertEqual(r.options, ["CLIENT-SUBNET"], r.text)
            self.assertIn("CLIENT-SUBNET: 0.0.0.0/0/0", r.text)

    def test_subnet_echo_scope_zero(self):
        r = self.dig("+edns=0", "+subnet=198.51.100.0/24", "www." + ZONE, "A")
        self.assertIn("CLIENT-SUBNET: 198.51.100.0/24/0", r.text)

    # --- genreport extras ---

    def test_edns_at_512_truncates_with_opt(self):  # edns@512
        r = self.dig("+edns=0", "+dnssec", "+bufsize=512", "big." + ZONE, "TXT")
        self.assertIn("tc", r.flags, r.text)
        self.assertTrue(r.edns, "OPT missing from the truncated EDNS answer")
        self.assertLessEqual(r.size, 512)
        r = self.dig("+edns=0", "+bufsize=512", "big." + ZONE, "TXT", tcp=True)
        self.assertNotIn("tc", r.flags)
        self.assertEqual(r.answer_count, 4)

    def test_no_edns_truncates_at_512(self):
        r = self.dig("+noedns", "big." + ZONE, "TXT")
        self.assertIn("tc", r.flags)
        self.assertLessEqual(r.size, 512)
        r = self.dig("+edns=0", "+bufsize=4096", "huge." + ZONE, "TXT")
        self.assertIn("tc", r.flags)  # 1800 octets: above our 1232 maximum
        self.assertLessEqual(r.size, 1232)
        r = self.dig("+edns=0", "+bufsize=1232", "big." + ZONE, "TXT")
        self.assertNotIn("tc", r.flags)
        self.assertEqual(r.answer_count, 4)

    def test_flags_rd_ra_aa_tc_in_query(self):  # genreport aa, ad, cd, ra, rd, tc
        for flag in ("+aaflag", "+adflag", "+cdflag", "+raflag", "+rec", "+tcflag"):
            for tcp, r in self.both("+noedns", flag, "soa", ZONE):
                self.assert_soa_aa(r, "%s tcp=%s" % (flag, tcp))
                self.assertNotIn("ra", r.flags, flag)
                self.assertNotIn("tc", r.flags, flag)
        self.assertIn("rd", self.dig("+noedns", "+rec", "soa", ZONE).flags)
        self.assertNotIn("rd", self.dig("+noedns", "+norec", "soa", ZONE).flags)

    def test_type666(self):
        r = self.dig("+noedns", "+norec", "type666", ZONE)
        self.assertEqual(r.status, "NOERROR")
        self.assertIn("aa", r.flags)

    def test_every_type_is_answered(self):  # genreport TYPE group
        for t in range(1, 260):
            if t in (41, 249, 250, 251, 252, 253, 254):  # OPT, TKEY, TSIG, IXFR, AXFR, MAILx
                continue
            r = self.dig("+noedns", "+norec", "type%d" % t, ZONE)
            self.assertEqual(r.status, "NOERROR", "TYPE%d:\n%s" % (t, r.text))
            self.assertIn("aa", r.flags, "TYPE%d" % t)

    def test_outside_zones_refused(self):
        for tcp, r in self.both("+noedns", "+norec", "soa", "example.org"):
            self.assertEqual(r.status, "REFUSED")
            self.assertNotIn("aa", r.flags)

    def test_0x20_case_echoed(self):
        for tcp, r in self.both("+noedns", "+norec", "wWw.ExAmple.COM", "A"):
            self.assertIn(";wWw.ExAmple.COM.", r.text)
            self.assertEqual({a[0] for a in r.answer}, {"wWw.ExAmple.COM."})

    def test_kdig(self):
        out = harness.run(["kdig", "@127.0.0.1", "-p", str(self.server.port), "+edns", "+nsid",
                           "+tcp", "+norec", "soa", ZONE])
        self.assertIn("status: NOERROR", out)
        self.assertRegex(out, r"Flags: qr aa;")
        self.assertIn("Version: 0;", out)
        self.assertIn("UDP size: 1232 B", out)
        self.assertNotIn("NSID", out)
        out = harness.run(["kdig", "@127.0.0.1", "-p", str(self.server.port), "+edns=1",
                           "+norec", "soa", ZONE])
        self.assertIn("status: BADVERS", out)
        out = harness.run(["kdig", "@127.0.0.1", "-p", str(self.server.port), "+edns",
                           "+padding=64", "+tcp", "+norec", "www." + ZONE, "A"])
        self.assertIn("status: NOERROR", out)


class Chaos(unittest.TestCase):
    """CHAOS version.bind / id.server from the YAML config (RFC 4892), and switched off."""

    def serve(self, chaos_yaml):
        d = tempfile.mkdtemp(prefix="steerdns-chaos-")
        self.addCleanup(shutil.rmtree, d, True)
        conf = os.path.join(d, "steerdns.yaml")
        with open(conf, "w") as f:
            f.write("server:\n  chaos: %s\nzones:\n  - name: example.com.\n    file: %s\n"
                    % (chaos_yaml, harness.TEST_ZONES["example.com."]))
        srv = harness.steerdns(config=conf, probe_zone="example.com.").start()
        self.addCleanup(srv.stop)
        return srv

    def dig(self, srv, *args):
        return Dig(harness.run(["dig", "@127.0.0.1", "-p", str(srv.port), "+time=2", "+tries=1"]
                               + list(args)))

    def test_version_and_id(self):
        srv = self.serve('{ version: "steerdns-test 1.0", id: node-a }')
        for tcp in ("+notcp", "+tcp"):
            for name, want in (("version.bind", "steerdns-test 1.0"),
                               ("version.server", "steerdns-test 1.0"),
                               ("id.server", "node-a"), ("hostname.bind", "node-a")):
                r = self.dig(srv, tcp, "CH", "TXT", name)
                self.assertEqual(r.status, "NOERROR", name)
                self.assertIn("aa", r.flags, name)
                self.assertIn('CH\tTXT\t"%s"' % want, r.text, name)
        self.assertEqual(self.dig(srv, "CH", "TXT", "other.bind").status, "REFUSED")

    def test_off(self):
        srv = self.serve("off")
        r = self.dig(srv, "CH", "TXT", "version.bind")
        self.assertEqual(r.status, "REFUSED")
        self.assertEqual(r.answer_count, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
