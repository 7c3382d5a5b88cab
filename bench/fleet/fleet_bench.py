#!/usr/bin/python3
"""Fleet benchmark (issue 7 targets): a 3-member etcd cluster and 3 steerdns nodes on loopback.

Not a test: it measures and reports (report.md, results.json in --out). Python with dnspython,
dnsperf, taskset and Debian's etcd (tests/testlib/etcd_cluster.py starts the members).

1. Change propagation: --changes record-set writes through node A's API, one at a time; for
   each, the time from the API's answer (the commit is durable) until each node answers the
   new value (every node polled over UDP in turn, ~0.2 ms per round). p50/p99/max per node.
   Target: p99 <= 1 s on every node.
2. Health consensus: --health-rounds times the backend goes down for every checker, then up;
   for each switch, the spread between the first and the last node answering the new way (the
   first node to switch has just made the deciding observation, or learnt of it; the others
   follow through etcd). Target: <= 1 s.
3. Throughput: one node of the fleet (etcd store, heartbeats, the peers running) against a
   single node (in-memory SQLite store) serving the same bench zone, same flags, each pinned
   to --server-cpus with dnsperf on --client-cpus; runs interleaved (--rounds each), flat out
   (-c 10 -q 100). Target: per-node QPS equal to single-node QPS (ratio ~1).
"""
import argparse
import datetime
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "testlib"))
from etcd_cluster import EtcdCluster  # noqa: E402

import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402


def query_a_txt(name, rdtype, port, timeout):
    """Sorted answer values (A addresses, TXT strings), or None on no answer."""
    q = dns.message.make_query(name, rdtype)
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)
    except (OSError, dns.exception.Timeout):
        return None
    out = []
    for rrset in r.answer:
        for rr in rrset:
            if rr.rdtype == dns.rdatatype.TXT:
                out.append(b"".join(rr.strings).decode())
            elif rr.rdtype == dns.rdatatype.A:
                out.append(rr.address)
            else:
                out.append(rr.to_text())
    return sorted(out)

CONFIG = """\
server:
  cluster: {{ lease_ttl: 5s, heartbeat: 500ms, stale_after: 2s }}
zones:
  - name: fleet.test.
    soa: {{ mname: ns1.fleet.test., rname: hostmaster.fleet.test., serial: 1 }}
    ns: [ns1.fleet.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - {{ name: bench, type: TXT, ttl: 60, values: ['"start"'] }}
      - name: app
        type: A
        ttl: 60
        policy: multivalue
        members:
          - {{ set_id: a, values: [192.0.2.1], health_check: app }}
          - {{ set_id: b, values: [192.0.2.2] }}
health_checks:
  - {{ id: app, url: "http://127.0.0.1:{port}/ok", interval: 500ms, timeout: 300ms,
       failure_threshold: 2, success_threshold: 2 }}
"""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Backend(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.down = False
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(503 if self.server.down else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


class Node:
    def __init__(self, steerdns, args, workdir, cpus=None):
        self.port, self.api = free_port(), free_port()
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        cmd = ([] if cpus is None else ["taskset", "-c", cpus]) + [
            steerdns, "serve", "--listen", f"127.0.0.1:{self.port}", "--threads", "1",
            "--api-listen", f"127.0.0.1:{self.api}"] + args
        self.log = open(os.path.join(workdir, "steerdns.log"), "wb")
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir)

    def wait(self, name, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise SystemExit(f"steerdns exited: {self.dir}/steerdns.log")
            if query_a_txt(name, "SOA", self.port, 0.3) is not None:
                return
            time.sleep(0.05)
        raise SystemExit(f"steerdns did not answer in {timeout} s: {self.dir}/steerdns.log")

    def put(self, path, body):
        req = urllib.request.Request(f"http://127.0.0.1:{self.api}{path}", method="PUT",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def summary(values):
    return {"n": len(values), "p50_ms": 1000 * pct(values, 0.5), "p99_ms": 1000 * pct(values, 0.99),
            "max_ms": 1000 * max(values), "mean_ms": 1000 * statistics.mean(values)}


def propagation(nodes, changes):
    a = nodes[0]
    delays = {n: [] for n in range(len(nodes))}
    commits = []
    for i in range(changes):
        want = f"v{i}"
        t0 = time.monotonic()
        a.put("/v1/zones/fleet.test./rrsets/bench/TXT", {"ttl": 60, "values": [f'"{want}"']})
        t1 = time.monotonic()
        commits.append(t1 - t0)
        pending = set(range(len(nodes)))
        deadline = t1 + 10
        while pending and time.monotonic() < deadline:
            for n in list(pending):
                if query_a_txt("bench.fleet.test.", "TXT", nodes[n].port, 0.2) == [want]:
                    delays[n].append(time.monotonic() - t1)
                    pending.discard(n)
        for n in pending:
            delays[n].append(10.0)  # not seen within 10 s: counted as 10 s
    return {"commit": summary(commits),
            "nodes": {f"node-{'abc'[n]}": summary(d) for n, d in delays.items()}}


def consensus(nodes, backend, rounds):
    spreads, totals = [], []
    for r in range(rounds * 2):
        backend.down = r % 2 == 0
        want = ["192.0.2.2"] if backend.down else ["192.0.2.1", "192.0.2.2"]
        t0 = time.monotonic()
        seen = {}
        deadline = t0 + 30
        while len(seen) < len(nodes) and time.monotonic() < deadline:
            for n, node in enumerate(nodes):
                if n not in seen and query_a_txt("app.fleet.test.", "A", node.port, 0.2) == want:
                    seen[n] = time.monotonic()
        if len(seen) < len(nodes):
            raise SystemExit(f"round {r}: only {len(seen)} nodes switched within 30 s")
        spreads.append(max(seen.values()) - min(seen.values()))
        totals.append(max(seen.values()) - t0)
    return {"spread": summary(spreads), "backend_change_to_last_node": summary(totals)}


def dnsperf(args, port, name):
    out = subprocess.run(["taskset", "-c", args.client_cpus, "dnsperf", "-s", "127.0.0.1", "-p",
                          str(port), "-d", args.queries, "-l", str(args.duration), "-c", "10",
                          "-q", "100", "-t", "2"], capture_output=True, text=True,
                         timeout=args.duration + 60)
    with open(os.path.join(args.out, f"dnsperf-{name}.txt"), "w") as f:
        f.write(out.stdout + out.stderr)
    for line in out.stdout.splitlines():
        if line.strip().startswith("Queries per second:"):
            return float(line.split()[3])
    raise SystemExit(f"dnsperf gave no QPS: {out.stdout}{out.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steerdns", default=os.path.join(REPO, "build", "steerdns"))
    ap.add_argument("--zone", default=os.path.join(REPO, "bench/results/data/zone/bench.test.zone"))
    ap.add_argument("--queries", default=os.path.join(REPO, "bench/results/data/queries.txt"))
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--health-rounds", type=int, default=10)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--client-cpus", default="1")
    ap.add_argument("--out", default=os.path.join(
        REPO, "bench/results", "fleet-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    args = ap.parse_args()
    args.steerdns = os.path.abspath(args.steerdns)
    for path in (args.steerdns, args.zone, args.queries):
        if not os.path.exists(path):
            sys.exit(f"fleet_bench: {path} missing (build steerdns; bench/run.sh makes the bench "
                     "zone and queries with ../shared/bench/gen_zone.py)")
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="steerdns-fleet-bench-")
    backend = Backend()
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    cfg = os.path.join(tmp, "fleet.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(port=backend.server_address[1]))
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds")}
    etcd = EtcdCluster(n=3, extra_args=["--max-request-bytes", "33554432"])
    nodes = []
    try:
        for name in ("node-a", "node-b", "node-c"):
            nodes.append(Node(args.steerdns, ["--config", cfg, "--store", etcd.spec(),
                                              "--node-id", name], os.path.join(tmp, name)))
        for n in nodes:
            n.wait("fleet.test.")
        print("propagation ...", flush=True)
        results["propagation"] = propagation(nodes, args.changes)
        print(json.dumps(results["propagation"], indent=1), flush=True)
        print("consensus ...", flush=True)
        results["consensus"] = consensus(nodes, backend, args.health_rounds)
        print(json.dumps(results["consensus"], indent=1), flush=True)
    finally:
        for n in nodes:
            n.stop()
        etcd.close()

    # Throughput: a fresh fleet on the bench zone (seeded through etcd) and a single node.
    etcd = EtcdCluster(n=3, extra_args=["--max-request-bytes", "33554432"])
    fleet, single = [], None
    try:
        for i, name in enumerate(("node-a", "node-b", "node-c")):
            fleet.append(Node(args.steerdns, ["--zone", f"bench.test={args.zone}", "--store",
                                              etcd.spec(), "--node-id", name],
                              os.path.join(tmp, "q-" + name),
                              cpus=args.server_cpus if i == 0 else None))
            fleet[-1].wait("bench.test.", timeout=120)
        single = Node(args.steerdns, ["--zone", f"bench.test={args.zone}"],
                      os.path.join(tmp, "q-single"), cpus=args.server_cpus)
        single.wait("bench.test.")
        runs = {"single": [], "fleet": []}
        for r in range(args.rounds):
            for kind, node in (("single", single), ("fleet", fleet[0])):
                q = dnsperf(args, node.port, f"{kind}-{r + 1}")
                runs[kind].append(q)
                print(f"{kind} run {r + 1}: {q:,.0f} qps", flush=True)
        results["throughput"] = {
            "runs": runs,
            "single_median_qps": statistics.median(runs["single"]),
            "fleet_node_median_qps": statistics.median(runs["fleet"]),
            "ratio": statistics.median(runs["fleet"]) / statistics.median(runs["single"]),
        }
    finally:
        for n in fleet + ([single] if single else []):
            n.stop()
        etcd.close()
        backend.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    p, c, t = results["propagation"], results["consensus"], results["throughput"]
    lines = [f"# Fleet benchmark {results['date']}", "",
             f"3-member etcd (loopback), 3 nodes; {args.changes} changes through node A, "
             f"{args.health_rounds} down/up health rounds, {args.rounds} x {args.duration} s "
             "dnsperf runs per variant.", "",
             "| change visible (after the API's answer) | p50 | p99 | max |", "|---|---|---|---|"]
    for name, s in p["nodes"].items():
        lines.append(f"| {name} | {s['p50_ms']:.1f} ms | {s['p99_ms']:.1f} ms | {s['max_ms']:.1f} ms |")
    lines += [f"| (the commit itself: API call) | {p['commit']['p50_ms']:.1f} ms | "
              f"{p['commit']['p99_ms']:.1f} ms | {p['commit']['max_ms']:.1f} ms |", "",
              f"Health consensus: first-to-last node spread p50 {c['spread']['p50_ms']:.1f} ms, "
              f"p99 {c['spread']['p99_ms']:.1f} ms, max {c['spread']['max_ms']:.1f} ms "
              f"(backend change to the last node: p50 "
              f"{c['backend_change_to_last_node']['p50_ms']:.0f} ms, 500 ms checks, threshold 2).",
              "",
              f"Throughput: single node {t['single_median_qps']:,.0f} qps, fleet node "
              f"{t['fleet_node_median_qps']:,.0f} qps (medians), ratio {t['ratio']:.3f}; runs "
              f"single {[round(x) for x in t['runs']['single']]}, fleet "
              f"{[round(x) for x in t['runs']['fleet']]}."]
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
