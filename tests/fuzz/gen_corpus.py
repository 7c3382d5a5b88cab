#!/usr/bin/python3
"""Writes the stored seed corpora tests/fuzz/corpus/{fuzz_message,fuzz_zone}/.

Deterministic; run it again after changing a seed (it rewrites only its own files).
Uses Debian's python3-dnspython for real queries; the malformed ones are built by hand.
Usage: /usr/bin/python3 tests/fuzz/gen_corpus.py
"""
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = os.path.dirname(os.path.abspath(__file__))
Z = "fuzz.test."


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def q(qname, qtype="A", qclass="IN", **kw):
    m = dns.message.make_query(qname, qtype, qclass, **kw)
    m.id = 0x1234
    return m.to_wire()


def header(qd=1, an=0, ns=0, ar=0, flags=0x0100, ident=0xBEEF):
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def wname(text):
    return dns.name.from_text(text).to_wire()


def messages():
    m = {}
    # Real queries, one per kind of answer the fuzz zones give.
    for label, name, t in [
        ("a", "www." + Z, "A"), ("aaaa", "www." + Z, "AAAA"), ("mx", Z, "MX"),
        ("soa", Z, "SOA"), ("ns", Z, "NS"), ("caa", Z, "CAA"), ("https", Z, "HTTPS"),
        ("txt_apex", Z, "TXT"), ("sshfp", "www." + Z, "SSHFP"),
        ("tlsa", "_443._tcp.www." + Z, "TLSA"), ("srv", "_sip._udp." + Z, "SRV"),
        ("srvout", "srvout." + Z, "SRV"), ("hinfo", "host." + Z, "HINFO"),
        ("naptr", "naptr." + Z, "NAPTR"), ("svcb", "svc." + Z, "SVCB"), ("ptr", "ptr." + Z, "PTR"),
        ("unknown_type", "unk." + Z, "TYPE65280"), ("cname_chain", "c1." + Z, "A"),
        ("cname_loop", "loop1." + Z, "A"), ("cname_self", "self." + Z, "A"),
        ("cname_ext", "ext." + Z, "A"), ("cname_to_child", "tochild." + Z, "A"),
        ("cname_qtype", "c1." + Z, "CNAME"), ("wild_a", "foo.wild." + Z, "A"),
        ("wild_deep", "a.b.wild." + Z, "TXT"), ("wild_nodata", "foo.wild." + Z, "AAAA"),
        ("wild_cname", "x.cw." + Z, "A"), ("wild_mx", "x.wmx." + Z, "MX"),
        ("ent", "y.ent." + Z, "A"), ("ent_nx_below", "nope.y.ent." + Z, "A"),
        ("nxdomain", "nx." + Z, "A"), ("nodata", "www." + Z, "TXT"),
        ("dname", "a.dn." + Z, "A"), ("dname_owner", "dn." + Z, "DNAME"),
        ("dname_ext", "host.dnx." + Z, "A"), ("dname_loop", "a.dnloop." + Z, "A"),
        ("referral", "www.sub." + Z, "A"), ("referral_deep", "deep.sub." + Z, "A"),
        ("ds_at_cut", "sub." + Z, "DS"), ("ds_child_apex", "child." + Z, "DS"),
        ("child_zone", "www.child." + Z, "A"), ("child_wild", "q.child." + Z, "TXT"),
        ("many_a_tc", "many." + Z, "A"), ("big_txt", "big." + Z, "TXT"),
        ("bigns_referral", "x.bigns." + Z, "A"), ("any", "www." + Z, "ANY"),
        ("any_apex", Z, "ANY"), ("axfr", Z, "AXFR"), ("ixfr", Z, "IXFR"),
        ("other_zone", "example.", "A"), ("refused", "outside.org.", "A"),
        ("root", ".", "NS"), ("mixed_case", "WwW.FuZz.TeSt.", "A"),
        ("rrsig", "www." + Z, "RRSIG"), ("maila", "www." + Z, "MAILA"),
        ("qtype_opt", "www." + Z, "OPT"), ("qtype_tsig", "www." + Z, "TSIG"),
    ]:
        m["q_" + label] = q(name, t)
    m["q_class_any"] = q("www." + Z, "A", "ANY")
    m["q_class_none"] = q("www." + Z, "A", "NONE")
    m["q_class_hs"] = q("www." + Z, "A", "HS")
    m["ch_version_bind"] = q("version.bind.", "TXT", "CH")
    m["ch_id_server"] = q("id.server.", "TXT", "CH")
    m["ch_hostname_bind"] = q("hostname.bind.", "ANY", "CH")
    m["ch_other"] = q("authors.bind.", "TXT", "CH")
    # EDNS variants.
    m["edns_1232"] = q("big." + Z, "TXT", use_edns=0, payload=1232)
    m["edns_4096_many"] = q("many." + Z, "A", use_edns=0, payload=4096)
    m["edns_small_payload"] = q("many." + Z, "A", use_edns=0, payload=100)
    m["edns_do"] = q("www." + Z, "A", use_edns=0, want_dnssec=True)
    m["edns_version1"] = q("www." + Z, "A", use_edns=1)
    ecs4 = dns.edns.ECSOption("192.0.2.0", 24)
    ecs6 = dns.edns.ECSOption("2001:db8::", 56)
    m["edns_ecs_v4"] = q("www." + Z, "A", use_edns=0, options=[ecs4])
    m["edns_ecs_v6"] = q("www." + Z, "AAAA", use_edns=0, options=[ecs6])
    m["edns_ecs_zero"] = q("www." + Z, "A", use_edns=0,
                           options=[dns.edns.ECSOption("0.0.0.0", 0)])
    # Steered names (steer.test., fuzz_common.cc kSteerConfig), with and without a client subnet.
    S = "steer.test."
    for label, name, t in [("fo", "fo." + S, "A"), ("lat", "lat." + S, "AAAA"),
                           ("w", "w." + S, "A"), ("sub", "sub." + S, "TXT"),
                           ("dead", "dead." + S, "A"), ("nod", "nod." + S, "A"),
                           ("cn", "cn." + S, "A"), ("apex", S, "A"), ("mx", S, "MX"),
                           ("any", "fo." + S, "ANY")]:
        m["steer_" + label] = q(name, t)
        m["steer_%s_ecs4" % label] = q(name, t, use_edns=0,
                                       options=[dns.edns.ECSOption("203.0.113.0", 24)])
        m["steer_%s_ecs6" % label] = q(name, t, use_edns=0,
                                       options=[dns.edns.ECSOption("2001:db8::", 48)])
    cookie = dns.edns.GenericOption(10, bytes(range(8)))
    unknown = dns.edns.GenericOption(65001, b"hello")
    m["edns_cookie_unknown"] = q("www." + Z, "A", use_edns=0, options=[cookie, unknown])
    m["edns_nsid_padding"] = q("www." + Z, "A", use_edns=0,
                               options=[dns.edns.GenericOption(3, b""),
                                        dns.edns.GenericOption(12, bytes(16))])
    qb = wname("www." + Z) + struct.pack("!HH", 1, 1)
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    # ECS with a non-zero scope, with address bits beyond the prefix, with a bad family.
    for label, ecs in [("ecs_scope", struct.pack("!HBB", 1, 24, 8) + bytes([192, 0, 2])),
                       ("ecs_extra_bits", struct.pack("!HBB", 1, 23, 0) + bytes([192, 0, 3])),
                       ("ecs_family9", struct.pack("!HBB", 9, 8, 0) + bytes([10])),
                       ("ecs_too_long", struct.pack("!HBB", 1, 8, 0) + bytes([10, 0]))]:
        rd = struct.pack("!HH", 8, len(ecs)) + ecs
        m["bad_" + label] = header(ar=1) + qb + b"\x00" + struct.pack("!HHIH", 41, 1232, 0,
                                                                      len(rd)) + rd
    m["bad_two_opt"] = header(ar=2) + qb + opt + opt
    m["bad_opt_owner"] = header(ar=1) + qb + wname("x.") + struct.pack("!HHIH", 41, 1232, 0, 0)
    m["bad_opt_rdlen_short"] = header(ar=1) + qb + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 3) + b"\x00\x08\x00"
    m["bad_opt_option_overrun"] = (header(ar=1) + qb + b"\x00" +
                                   struct.pack("!HHIH", 41, 1232, 0, 6) + struct.pack("!HH", 8, 40) + b"\x00\x01")
    m["opt_in_answer"] = header(an=1) + qb + opt
    # Malformed headers, counts and names.
    m["bad_short"] = header()[:7]
    m["bad_header_only"] = header()
    m["bad_qd0"] = header(qd=0)
    m["bad_qd2"] = header(qd=2) + qb + qb
    m["bad_truncated_question"] = header() + qb[:-3]
    m["bad_counts_an5"] = header(an=5) + qb
    m["bad_counts_ar65535"] = header(ar=65535) + qb
    m["bad_qr_set"] = header(flags=0x8100) + qb
    m["bad_pointer_loop"] = header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    m["bad_pointer_forward"] = header() + b"\xc0\x20" + struct.pack("!HH", 1, 1) + bytes(20)
    m["bad_label_64"] = header() + b"\x40" + b"a" * 64 + b"\x00" + struct.pack("!HH", 1, 1)
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x00"  # 257 octets
    m["bad_name_257"] = header() + long_name + struct.pack("!HH", 1, 1)
    m["bad_label_type_0x40"] = header() + b"\x41abc\x00" + struct.pack("!HH", 1, 1)
    m["bad_compressed_qname"] = header() + b"\x03www\xc0\x0c" + struct.pack("!HH", 1, 1)
    m["bad_binary_label"] = header() + b"\x03w\x00w\x04fuzz\x04test\x00" + struct.pack("!HH", 1, 1)
    m["opcode_notify"] = header(flags=0x2000) + qb
    m["opcode_update"] = header(flags=0x2800) + qb
    m["opcode_3"] = header(flags=0x1800) + qb
    m["opcode_15"] = header(flags=0x7800) + qb
    m["flags_all"] = header(flags=0x07F0) + qb
    # A query carrying records of every described type in answer/authority, with compression
    # (exercises the generic decoders and every rdata description).
    msg = dns.message.make_query("www." + Z, "A")
    msg.id = 0x4242
    texts = [
        ("A", "192.0.2.1"), ("AAAA", "2001:db8::1"), ("NS", "ns1." + Z), ("CNAME", "www." + Z),
        ("SOA", "ns1.%s host.%s 1 2 3 4 5" % (Z, Z)), ("PTR", "www." + Z),
        ("MX", "10 mail." + Z), ("TXT", '"a" "b\\"c" "\\010"'), ("SRV", "1 2 3 www." + Z),
        ("CAA", '128 issuewild "ca.example"'), ("DNAME", "target." + Z),
        ("HINFO", '"x86" "Linux"'), ("NAPTR", '1 2 "u" "E2U+sip" "!^.*$!sip:a@b!" .'),
        ("SSHFP", "4 2 " + "ab" * 32), ("TLSA", "3 1 1 " + "cd" * 32),
        ("SVCB", "1 svc.%s mandatory=alpn alpn=h2,h3 no-default-alpn port=53 "
                 "ipv4hint=192.0.2.1,192.0.2.2 ech=AAAA ipv6hint=2001:db8::1 key65000=xyz" % Z),
        ("HTTPS", "0 www." + Z), ("DS", "1 8 2 " + "ef" * 32), ("TYPE65280", "\\# 3 010203"),
    ]
    for t, text in texts:
        rr = dns.rrset.from_text("r.%s" % Z, 300, "IN", t, text)
        msg.answer.append(rr)
    msg.authority.append(dns.rrset.from_text(Z, 300, "IN", "NS", "ns1." + Z))
    m["records_every_type"] = msg.to_wire()
    # The same, cut short in the middle of the records.
    m["records_truncated"] = m["records_every_type"][:150]
    # A response-shaped message with the QR bit cleared, from the fuzz zone's point of view.
    resp = dns.message.make_response(dns.message.make_query("c1." + Z, "A"))
    resp.flags &= ~dns.flags.QR
    resp.answer.append(dns.rrset.from_text("c1." + Z, 60, "IN", "CNAME", "c2." + Z))
    resp.answer.append(dns.rrset.from_text("c2." + Z, 60, "IN", "CNAME", "c3." + Z))
    m["response_qr_clear"] = resp.to_wire()
    return m


ZONES = {
    "every_type": """$ORIGIN fuzz.test.
$TTL 300
@ IN SOA ns1 hostmaster ( 2024010101 ; serial
            7200 3600 1209600 300 )
@ NS ns1
@ MX 10 mail
@ TXT "v=spf1 -all" "second string" "esc\\"aped \\010"
@ CAA 0 issue "letsencrypt.org"
@ CAA 128 iodef "mailto:sec@fuzz.test"
@ HTTPS 1 . alpn=h2,h3 port=443 ipv4hint=192.0.2.1 ech=AAAA ipv6hint=2001:db8::1
ns1 A 192.0.2.53
ns1 AAAA 2001:db8::53
mail A 192.0.2.25
www A 192.0.2.1
www SSHFP 4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_443._tcp.www TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_sip._udp SRV 10 60 5060 www
host HINFO "PC" "Linux"
naptr NAPTR 100 10 "S" "SIP+D2U" "!^.*$!sip:info@fuzz.test!" _sip._udp
svc SVCB 1 www mandatory=alpn alpn=h2 no-default-alpn port=8443 key65000=abc
ptr PTR www
ds DS 12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
unk TYPE65280 \\# 4 DEADBEEF
empty TYPE65281 \\# 0
dn DNAME target
c1 CNAME www
*.wild A 192.0.2.80
sub NS ns.sub
ns.sub A 192.0.2.200
""",
    "minimal": "@ 60 IN SOA a b 1 2 3 4 5\n@ NS a\na A 1.2.3.4\n",
    "relative_and_absolute": "$TTL 1h\nfuzz.test. SOA ns.fuzz.test. h.fuzz.test. 1 1h 1h 1w 1h\n"
                             "fuzz.test. NS ns\nns.fuzz.test. A 192.0.2.1\n$ORIGIN sub.fuzz.test.\n"
                             "x A 192.0.2.2\n",
    "wildcards": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n*.w A 192.0.2.2\n"
                 "*.cw CNAME www\nwww A 192.0.2.3\n*.*.x A 192.0.2.4\nsub.*.w A 192.0.2.5\n",
    "cname_chains": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\na CNAME b\nb CNAME c\n"
                    "c CNAME a\nd CNAME out.example.\ne CNAME d\n",
    "dnames": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nd1 DNAME d2\nd2 DNAME d1\n"
              "d3 DNAME example.\nx.d4 A 192.0.2.9\nd4 DNAME fuzz.test.\n",
    "delegation_glue": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nsub NS ns.sub\n"
                       "sub NS ns.other.example.\nns.sub A 192.0.2.2\nns.sub AAAA 2001:db8::2\n"
                       "occluded.sub A 192.0.2.3\nsub DS 1 8 2 " + "ab" * 32 + "\n"
                       "a.b.c.sub NS x.example.\n",
    "ent": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\na.b.c.d.e A 192.0.2.1\n",
    # Classic errors: each must be rejected (or warned about), never crash.
    "err_cname_and_data": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nx CNAME ns\nx A 1.2.3.4\n",
    "err_two_cnames": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nx CNAME a\nx CNAME b\n",
    "err_out_of_zone": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww.example. A 1.2.3.4\n",
    "err_no_soa": "@ NS ns\nns A 192.0.2.1\n",
    "err_two_soa": "@ SOA ns h 1 2 3 4 5\n@ SOA ns h 2 2 3 4 5\n@ NS ns\n",
    "err_no_ns": "@ SOA ns h 1 2 3 4 5\nns A 192.0.2.1\n",
    "err_soa_not_apex": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nx SOA ns h 1 2 3 4 5\n",
    "err_bad_ipv4": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.256\n",
    "err_bad_ipv6": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns AAAA 2001:db8:::1\n",
    "err_bad_ttl": "@ 99999999999 SOA ns h 1 2 3 4 5\n",
    "err_unclosed_paren": "@ SOA ns h ( 1 2 3 4 5\n@ NS ns\n",
    "err_unclosed_quote": '@ SOA ns h 1 2 3 4 5\n@ NS ns\n@ TXT "abc\n',
    "err_label_64": "@ SOA ns h 1 2 3 4 5\n@ NS ns\n" + "a" * 64 + " A 1.2.3.4\n",
    "err_name_too_long": "@ SOA ns h 1 2 3 4 5\n@ NS ns\n" + ".".join(["a" * 63] * 4) + " A 1.2.3.4\n",
    "err_dname_with_children": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nd DNAME x\na.d A 1.2.3.4\n",
    "err_two_dnames": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nd DNAME x\nd DNAME y\n",
    "err_class_ch": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nx CH TXT \"hi\"\n",
    "err_meta_type": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nx TYPE255 \\# 0\nx TYPE41 \\# 0\n",
    "err_generic_bad_len": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nx TYPE65280 \\# 4 DEAD\n",
    "err_generic_a_bad": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nx A \\# 3 010203\n",
    "err_unknown_directive": "$FOO bar\n@ SOA ns h 1 2 3 4 5\n",
    "err_bad_origin": "$ORIGIN ..\n@ SOA ns h 1 2 3 4 5\n",
    "err_svcb_keys_unordered": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nx SVCB 1 . port=1 alpn=h2\n",
    # A value from the generic keyN= form that is malformed for its key (found by fuzz_zone:
    # served, it printed as "ipv6hint=" and did not read back).
    "err_svcb_bad_value": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nx SVCB 1 . key6=000=abc\n",
    "svcb_alpn_escapes": "@ SOA ns h 1 2 3 4 5\n@ NS ns\n"
                         "x SVCB 1 . alpn=\"h\\\\,2,h3,a\\\\\\\\b\" port=1 key3000=\"v\"\n",
    "err_binary": "\x00\x01\x02\xff\xfe\n@ SOA ns h 1 2 3 4 5\n",
    "ttl_mismatch": "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns 60 A 192.0.2.1\nns 120 A 192.0.2.2\n",
    "escapes": "@ SOA ns h 1 2 3 4 5\n@ NS ns\na\\.b A 192.0.2.1\n\\065\\032x TXT \"\\255\\000\"\n"
               "\\@ A 192.0.2.2\n",
}


def main():
    for name, data in messages().items():
        write("fuzz_message", name, data)
    for name, text in ZONES.items():
        write("fuzz_zone", name, text)
    print("wrote %d message and %d zone seeds" % (len(messages()), len(ZONES)))


if __name__ == "__main__":
    main()
