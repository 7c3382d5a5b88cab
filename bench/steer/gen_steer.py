#!/usr/bin/python3
"""Inputs for the steering benchmark (bench/run.sh step `steer`).

Writes, for N names s0..s<N-1>.steer.test:
  static.yaml   - a steerdns config serving them as plain A records (plus the bench.test zone
                  that run-peers.sh probes for readiness)
  steered.yaml  - the same names as failover record sets (primary/secondary, each member with
                  an external health check shared by many sets, all healthy), so both configs
                  give the same answers and only the steering path differs
  queries.txt   - dnsperf input: the names' A records in a fixed random order, plus 5 % NXDOMAIN

Deterministic (fixed seed); stdlib only.
Usage: gen_steer.py --out DIR --bench-zone FILE [--names 10000] [--queries 100000] [--checks 16]
"""
import argparse
import os
import random


def addr(i, base):
    return "%d.%d.%d.%d" % (base, (i >> 16) & 255, (i >> 8) & 255, i & 255)


def header(checks, bench_zone):
    lines = ["server:", "  health_state_file: ~"]
    if checks:
        lines.append("health_checks:")
        for c in range(checks):
            # External checks: healthy by default, no probe traffic; the query path is what
            # is measured, and it does not depend on the check kind.
            lines.append("  c%d: { type: external, initial: healthy }" % c)
    lines += [
        "zones:",
        # The peer harness checks readiness and sanity on the bench.test zone.
        "  - { name: bench.test., file: %s }" % bench_zone,
        "  - name: steer.test.",
        "    soa: { mname: ns1.steer.test., rname: hostmaster.steer.test., minimum: 60 }",
        "    ns: [ns1.steer.test.]",
        "    records:",
        "      - { name: ns1, type: A, ttl: 3600, values: [127.0.0.1] }",
    ]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--names", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=100000)
    ap.add_argument("--checks", type=int, default=16)
    ap.add_argument("--bench-zone", required=True, help="the peer harness's bench.test.zone")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    st = header(0, os.path.abspath(a.bench_zone))
    sd = header(a.checks, os.path.abspath(a.bench_zone))
    for i in range(a.names):
        st.append("      - { name: s%d, type: A, ttl: 60, values: [%s] }" % (i, addr(i, 10)))
        sd.append("      - name: s%d" % i)
        sd.append("        type: A")
        sd.append("        ttl: 60")
        sd.append("        policy: failover")
        sd.append("        failover_ttl: 30")
        sd.append("        members:")
        sd.append("          - { set_id: p, role: primary, values: [%s], health_check: c%d }"
                  % (addr(i, 10), i % a.checks))
        sd.append("          - { set_id: s, role: secondary, values: [%s], health_check: c%d }"
                  % (addr(i, 11), (i + 1) % a.checks))
    with open(os.path.join(a.out, "static.yaml"), "w") as f:
        f.write("\n".join(st) + "\n")
    with open(os.path.join(a.out, "steered.yaml"), "w") as f:
        f.write("\n".join(sd) + "\n")
    rng = random.Random(4)
    with open(os.path.join(a.out, "queries.txt"), "w") as f:
        for _ in range(a.queries):
            if rng.random() < 0.05:
                f.write("nx%d.steer.test A\n" % rng.randrange(1 << 30))
            else:
                f.write("s%d.steer.test A\n" % rng.randrange(a.names))
    print("names=%d checks=%d queries=%d -> %s" % (a.names, a.checks, a.queries, a.out))


if __name__ == "__main__":
    main()
