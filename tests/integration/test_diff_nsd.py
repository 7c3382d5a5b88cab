"""Differential test: the same test zones served by Debian's NSD and by steerdns, a few thousand
generated queries (fixed seed) sent to both, answers compared (rcode, AA, TC, sections as sets).
Every allowed difference is a named rule below and is written down in docs/differences.md; any
other difference fails the test, which prints the first few."""
import collections
import os
import random
import sys
import unittest

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone

import harness

SEED = 20240101
N_QUERIES = 3000
TCP_SAMPLE = 300  # of those, also sent over TCP

TYPES = ["A", "AAAA", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "SRV", "CAA", "DNAME", "HINFO",
         "NAPTR", "SSHFP", "TLSA", "SVCB", "HTTPS", "DS", "ANY", "TYPE65280", "TYPE1000",
         "DNSKEY", "SPF", "LOC"]
OUT_OF_ZONE = ["example.org.", "www.example.org.", "com.", ".", "example.co.", "net."]


# ---------------------------------------------------------------------------------------------
# Query generation

def load_names():
    """Owner names of the test zones, plus names derived from them that exercise wildcards,
    DNAMEs, delegations and empty non-terminals."""
    owners, wild_parents, dnames, cuts = set(), set(), set(), set()
    for origin, path in harness.TEST_ZONES.items():
        z = dns.zone.from_file(path, origin=origin, relativize=False, check_origin=False)
        for name, node in z.nodes.items():
            owners.add(name)
            for parent in _ancestors(name, dns.name.from_text(origin)):
                owners.add(parent)  # empty non-terminals
            if name.labels[0] == b"*":
                wild_parents.add(name.parent())
            for rds in node.rdatasets:
                if rds.rdtype == dns.rdatatype.DNAME:
                    dnames.add(name)
                if rds.rdtype == dns.rdatatype.NS and name != dns.name.from_text(origin):
                    cuts.add(name)
    return sorted(owners), sorted(wild_parents), sorted(dnames), sorted(cuts)


def _ancestors(name, origin):
    n = name
    while n != origin and len(n) > len(origin):
        n = n.parent()
        yield n


def random_label(rng):
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-") for _ in
                   range(rng.randint(1, 12))).strip("-") or "x"


def random_case(rng, text):
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.4 else c for c in text)


def generate(rng, n):
    owners, wild_parents, dnames, cuts = load_names()
    zones = [dns.name.from_text(o) for o in harness.TEST_ZONES]
    queries = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.45:
            name = rng.choice(owners)
        elif kind < 0.60:  # wildcard expansion, maybe several labels deep
            name = rng.choice(wild_parents)
            for _ in range(rng.randint(1, 2)):
                name = dns.name.Name((random_label(rng).encode(),) + name.labels)
        elif kind < 0.70:  # below a DNAME or a delegation
            name = rng.choice(dnames + cuts)
            for _ in range(rng.randint(1, 2)):
                name = dns.name.Name((random_label(rng).encode(),) + name.labels)
        elif kind < 0.95:  # nonexistent: below an existing name or a zone apex
            base = rng.choice(owners) if rng.random() < 0.6 else rng.choice(zones)
            name = dns.name.Name((random_label(rng).encode(),) + base.labels)
        else:
            name = dns.name.from_text(rng.choice(OUT_OF_ZONE))
        if len(name.to_wire()) > 255:
            name = rng.choice(owners)
        qtype = rng.choice(TYPES)
        if rng.random() < 0.25:  # weight the common types
            qtype = rng.choice(["A", "AAAA", "TXT", "MX"])
        text = random_case(rng, name.to_text())
        q = dns.message.make_query(text, qtype, use_edns=False)
        if rng.random() < 0.5:
            q.use_edns(0, dns.flags.DO if rng.random() < 0.3 else 0,
                       rng.choice([512, 1232, 4096]))
        if rng.random() < 0.3:
            q.flags &= ~dns.flags.RD
        queries.append(q)
    # Edge cases the random mix may miss: DNAME overflow, truncation, DS at cuts.
    yx = ".".join([("a" * 63), ("b" * 63), ("c" * 63), ("d" * 30), "yx.example.com."])
    fixed = [(yx, "A", None), (yx, "TXT", 1232), ("big.example.com.", "TXT", None),
             ("big.example.com.", "TXT", 512), ("big.example.com.", "TXT", 1232),
             ("huge.example.com.", "TXT", 4096), ("huge.example.com.", "TXT", None),
             ("sub.example.com.", "DS", None), ("other.example.com.", "DS", 1232),
             ("x.sub.example.com.", "DS", None), ("example.com.", "ANY", 1232),
             ("tosub.example.com.", "A", None), ("foo.dnin.example.com.", "CNAME", None)]
    for name, qtype, payload in fixed:
        q = dns.message.make_query(name, qtype, use_edns=False)
        if payload:
            q.use_edns(0, 0, payload)
        queries.append(q)
    return queries


# ---------------------------------------------------------------------------------------------
# Normalised answers

RR = collections.namedtuple("RR", "name ttl rdtype rdata")


def rrs(section):
    out = set()
    for rrset in section:
        for rd in rrset:
            out.add(RR(rrset.name.to_text().lower(), rrset.ttl,
                       dns.rdatatype.to_text(rrset.rdtype), rd.to_text().lower()))
    return out


class Answer:
    def __init__(self, msg):
        self.msg = msg
        self.rcode = msg.rcode()
        self.aa = bool(msg.flags & dns.flags.AA)
        self.tc = bool(msg.flags & dns.flags.TC)
        self.edns = msg.edns
        self.an = rrs(msg.answer)
        self.ns = rrs(msg.authority)
        self.ar = rrs(msg.additional)

    def key(self):
        return (dns.rcode.to_text(self.rcode), self.aa, self.tc, self.edns, self.an, self.ns,
                self.ar)


# ---------------------------------------------------------------------------------------------
# Allowed differences. Each rule gets the query, NSD's and steerdns' normalised answers, and may
# rewrite them (returning the name of the rule when it applied). Documented in
# docs/differences.md under the same names.

def apex_ns_records(zone_origin, ans):
    return {r for r in ans.ns if r.rdtype == "NS" and r.name == zone_origin}


def zone_of(qname):
    best = None
    for o in harness.TEST_ZONES:
        on = dns.name.from_text(o)
        if qname.is_subdomain(on) and (best is None or len(on) > len(best)):
            best = on
    return best


def rule_nsd_apex_ns_in_authority(q, nsd, sd, tcp, ask_nsd):
    """NSD (minimal-responses: no) adds the zone's apex NS RRset to the authority section of
    positive answers, and the addresses of those name servers to the additional section."""
    z = zone_of(q.question[0].name)
    if z is None or nsd.rcode != 0 or not nsd.an:
        return None
    extra = apex_ns_records(z.to_text().lower(), nsd)
    if not extra or sd.ns & extra:
        return None
    nsd.ns -= extra
    targets = {r.rdata for r in extra}
    nsd.ar = {r for r in nsd.ar if not (r.name in targets and r.rdtype in ("A", "AAAA")
                                        and r not in sd.ar)}
    return "nsd-apex-ns-in-authority"


def groups(records):
    out = collections.defaultdict(set)
    for r in records:
        out[(r.name, r.rdtype)].add(r)
    return out


def rule_minimal_any(q, nsd, sd, tcp, ask_nsd):
    """RFC 8482: NSD answers ANY with one RRset of the name over UDP and TCP (the SOA at an
    apex); steerdns sends one RRset (the first in type order) over UDP and all over TCP. Each
    RRset steerdns sends must equal NSD's answer for that name and type."""
    if q.question[0].rdtype != dns.rdatatype.ANY or sd.rcode != 0 or nsd.rcode != 0:
        return None
    nsd_groups, sd_groups = groups(nsd.an), groups(sd.an)
    if len(nsd_groups) != 1 or not sd_groups:
        return None
    if not tcp and len(sd_groups) != 1:
        return None
    if tcp and not set(nsd_groups) <= set(sd_groups):
        return None
    for (owner, rdtype), recs in sd_groups.items():
        direct = Answer(ask_nsd(q.question[0].name, rdtype, tcp))
        if recs != {r for r in direct.an if r.name == owner and r.rdtype == rdtype}:
            return None
    nsd.an = set(sd.an)
    nsd.ar = set(sd.ar)
    return "minimal-any"


def rule_nsd_follows_into_other_zones(q, nsd, sd, tcp, ask_nsd):
    """A CNAME (or DNAME-synthesised CNAME) whose target lies in another zone both servers
    serve: NSD goes on answering from that zone (answer, authority, additional and rcode come
    from there); steerdns stops at the zone's edge, as Knot does, and the client follows."""
    if sd.rcode != 0 or not sd.an or sd.ns:
        return None
    qzone = zone_of(q.question[0].name)
    owners = {r.name for r in sd.an}
    targets = [r.rdata for r in sd.an if r.rdtype == "CNAME" and r.rdata not in owners]
    if len(targets) != 1:
        return None
    tzone = zone_of(dns.name.from_text(targets[0]))
    if tzone is None or tzone == qzone or not sd.an <= nsd.an:
        return None
    extra_an = nsd.an - sd.an
    extra = extra_an | (nsd.ns - sd.ns) | (nsd.ar - sd.ar)
    for r in extra:
        in_tzone = dns.name.from_text(r.name).is_subdomain(tzone)
        if not in_tzone and not (r in nsd.ar and r.rdtype in ("A", "AAAA")):
            return None
    if sd.ar - nsd.ar:
        return None
    # What NSD added must be its own answer for the target name.
    direct = Answer(ask_nsd(dns.name.from_text(targets[0]), q.question[0].rdtype, tcp))
    if {r for r in extra_an if r.name == targets[0]} != \
            {r for r in direct.an if r.name == targets[0]}:
        return None
    nsd.an, nsd.ns, nsd.ar, nsd.rcode = set(sd.an), set(sd.ns), set(sd.ar), sd.rcode
    return "nsd-follows-into-other-zones"


def rule_truncated(q, nsd, sd, tcp, ask_nsd):
    """Both truncated: only rcode and flags are compared. NSD may keep the records that fit;
    steerdns sends the header, question and OPT only."""
    if not (nsd.tc and sd.tc):
        return None
    nsd.an = nsd.ns = nsd.ar = set()
    sd.an = sd.ns = sd.ar = set()
    return "truncated"


RULES = [rule_truncated, rule_minimal_any, rule_nsd_follows_into_other_zones,
         rule_nsd_apex_ns_in_authority]


def compare(q, nsd_msg, sd_msg, tcp, used, ask_nsd):
    nsd, sd = Answer(nsd_msg), Answer(sd_msg)
    for rule in RULES:
        name = rule(q, nsd, sd, tcp, ask_nsd)
        if name:
            used[name] += 1
    if nsd.key() == sd.key():
        return None
    lines = ["%s %s %s edns=%s rd=%s" % ("TCP" if tcp else "UDP", q.question[0].name,
                                         dns.rdatatype.to_text(q.question[0].rdtype),
                                         q.edns, bool(q.flags & dns.flags.RD))]
    for label, a, b in (("rcode", dns.rcode.to_text(nsd.rcode), dns.rcode.to_text(sd.rcode)),
                        ("aa", nsd.aa, sd.aa), ("tc", nsd.tc, sd.tc),
                        ("edns", nsd.edns, sd.edns)):
        if a != b:
            lines.append("  %s: nsd=%s steerdns=%s" % (label, a, b))
    for label, a, b in (("answer", nsd.an, sd.an), ("authority", nsd.ns, sd.ns),
                        ("additional", nsd.ar, sd.ar)):
        for r in sorted(a - b):
            lines.append("  %s only nsd:      %s" % (label, " ".join(map(str, r))))
        for r in sorted(b - a):
            lines.append("  %s only steerdns: %s" % (label, " ".join(map(str, r))))
    return "\n".join(lines)


class DiffNsd(unittest.TestCase):
    def test_same_answers_as_nsd(self):
        rng = random.Random(SEED)
        queries = generate(rng, N_QUERIES)
        used = collections.Counter()
        seen = collections.Counter()  # what kinds of answers were compared
        diffs = []
        with harness.nsd() as nsd, harness.steerdns() as sd:
            def ask_nsd(name, rdtype, tcp):
                m = dns.message.make_query(name, rdtype, use_edns=0)
                m.flags &= ~dns.flags.RD
                send = dns.query.tcp if tcp else dns.query.udp
                return send(m, nsd.host, port=nsd.port, timeout=2)

            for i, q in enumerate(queries):
                for tcp in ((False, True) if i < TCP_SAMPLE else (False,)):
                    send = dns.query.tcp if tcp else dns.query.udp
                    a = send(q, nsd.host, port=nsd.port, timeout=2)
                    b = send(q, sd.host, port=sd.port, timeout=2)
                    seen[(dns.rcode.to_text(b.rcode()),
                          "aa" if b.flags & dns.flags.AA else "noaa",
                          "tc" if b.flags & dns.flags.TC else "")] += 1
                    d = compare(q, a, b, tcp, used, ask_nsd)
                    if d:
                        diffs.append(d)
        print("queries: %d (+%d over TCP); allowed differences applied: %s"
              % (len(queries), TCP_SAMPLE, dict(used)), file=sys.stderr)
        print("answers seen (rcode, aa, tc): %s" % dict(seen), file=sys.stderr)
        # The generator must reach every kind of answer, or the comparison proves little.
        kinds = {k[0] for k in seen} | {k[1] for k in seen} | {k[2] for k in seen}
        for kind in ("NOERROR", "NXDOMAIN", "REFUSED", "YXDOMAIN", "aa", "noaa", "tc"):
            self.assertIn(kind, kinds, "no %s answer among the generated queries" % kind)
        if diffs:
            self.fail("%d answers differ from NSD; first ones:\n%s"
                      % (len(diffs), "\n".join(diffs[:int(os.environ.get("DIFF_SHOW", "8"))])))


if __name__ == "__main__":
    unittest.main(verbosity=2)
