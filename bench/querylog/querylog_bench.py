#!/usr/bin/python3
"""Query log benchmark (issue 6.3): what logging every query costs the query path.

Not a test: it measures and reports. Standard library only, plus dnsperf and taskset.

steerdns serves the 10k bench zone (bench/results/data, made by ../shared/bench/gen_zone.py)
with one UDP thread, pinned to --server-cpus; dnsperf runs pinned to --client-cpus. Runs, each
--duration s, interleaved so that drift and other load hit every variant alike (the spread of
the "off" runs is the noise):

  flat out (dnsperf -c 10 -q 100):  --rounds x (off, json, dnstap), then off once more
  fixed rate (dnsperf -Q --qps):    json, dnstap   (no drops expected)

For each run: dnsperf's QPS and lost queries, the server's CPU over the dnsperf window (process,
the query thread sd-udp, the writer sd-querylog from /proc/PID/task), and the log's
records/dropped/bytes from /metrics. Log files go to --runroot (on disk) and are deleted after
each run. Writes report.md and results.json to --out.
"""
import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def thread_cpu(pid):
    """comm -> CPU seconds for every thread of pid, and the process total."""
    out, total = {}, 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        fields = s[s.rindex(")") + 2:].split()
        secs = (int(fields[11]) + int(fields[12])) / TICK
        out[comm] = out.get(comm, 0.0) + secs
        total += secs
    return out, total


def scrape(api_port):
    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    m = {}
    for line in body.splitlines():
        if line.startswith("steerdns_querylog_") or line.startswith("steerdns_dns_dropped"):
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    return m


def parse_dnsperf(text):
    r = {}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Queries sent:"):
            r["sent"] = int(s.split()[2])
        elif s.startswith("Queries completed:"):
            r["completed"] = int(s.split()[2])
        elif s.startswith("Queries lost:"):
            r["lost"] = int(s.split()[2])
        elif s.startswith("Queries per second:"):
            r["qps"] = float(s.split()[3])
        elif s.startswith("Average Latency (s):"):
            v = [float(x) for x in re.findall(r"\d+\.\d+", s)]
            r["avg_ms"] = 1000 * v[0]
    return r


def run_one(args, name, log_format, rate):
    port, api_port = free_port(), free_port()
    rundir = os.path.join(args.runroot, name)
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(rundir)
    cmd = ["taskset", "-c", args.server_cpus, args.steerdns, "serve", "--listen",
           f"127.0.0.1:{port}", "--zone", f"bench.test={args.zone}", "--threads", "1",
           "--api-listen", f"127.0.0.1:{api_port}"]
    log_path = None
    if log_format:
        log_path = os.path.join(rundir, "queries." + ("json" if log_format == "json" else "dnstap"))
        cmd += ["--query-log", log_path, "--query-log-format", log_format]
    err = open(os.path.join(rundir, "steerdns.log"), "wb")
    p = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT, cwd=rundir)
    try:
        deadline = time.monotonic() + 20
        while True:
            if p.poll() is not None:
                raise SystemExit(f"steerdns exited: see {rundir}/steerdns.log")
            r = subprocess.run(["dig", "+short", "+tries=1", "+time=1", "@127.0.0.1", "-p",
                                str(port), "bench.test", "SOA"], capture_output=True, text=True)
            if r.stdout.strip():
                try:
                    scrape(api_port)
                    break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise SystemExit("steerdns did not answer in 20 s")
            time.sleep(0.1)
        m0 = scrape(api_port)
        dp = ["taskset", "-c", args.client_cpus, "dnsperf", "-s", "127.0.0.1", "-p", str(port),
              "-d", args.queries, "-l", str(args.duration), "-t", "2"]
        dp += ["-Q", str(rate), "-c", "4", "-q", "200"] if rate else ["-c", "10", "-q", "100"]
        c0, t0 = thread_cpu(p.pid)
        w0 = time.monotonic()
        out = subprocess.run(dp, capture_output=True, text=True, timeout=args.duration + 60)
        w1 = time.monotonic()
        c1, t1 = thread_cpu(p.pid)
        # What the writer still drains after dnsperf stopped is not counted as a drop.
        time.sleep(1.0)
        m1 = scrape(api_port)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        err.close()
    d = parse_dnsperf(out.stdout)
    with open(os.path.join(args.out, f"dnsperf-{name}.txt"), "w") as f:
        f.write(out.stdout + out.stderr)

    def delta(key):
        return m1.get(key, 0) - m0.get(key, 0)
    fmt = log_format or "json"
    res = {
        "name": name, "format": log_format or "off", "rate": rate, "dnsperf": d,
        "wall": w1 - w0,
        "cpu_process": t1 - t0,
        "cpu_udp": c1.get("sd-udp", 0) - c0.get("sd-udp", 0),
        "cpu_writer": c1.get("sd-querylog", 0) - c0.get("sd-querylog", 0),
        "records": delta(f'steerdns_querylog_records_total{{format="{fmt}"}}'),
        "dropped_full": delta('steerdns_querylog_dropped_total{reason="ring_full"}'),
        "dropped_output": delta('steerdns_querylog_dropped_total{reason="output"}'),
        "bytes": delta(f'steerdns_querylog_bytes_total{{format="{fmt}"}}'),
        "log_size": os.path.getsize(log_path) if log_path and os.path.exists(log_path) else 0,
    }
    shutil.rmtree(rundir, ignore_errors=True)
    completed = d.get("completed", 0) or 1
    res["us_per_query_process"] = 1e6 * res["cpu_process"] / completed
    res["us_per_query_udp"] = 1e6 * res["cpu_udp"] / completed
    logged = res["records"] + res["dropped_full"] + res["dropped_output"]
    res["drop_share"] = (res["dropped_full"] + res["dropped_output"]) / logged if logged else 0
    print(f"{name}: qps {d.get('qps', 0):,.0f} lost {d.get('lost')} "
          f"udp {res['us_per_query_udp']:.2f} µs/q process {res['us_per_query_process']:.2f} "
          f"µs/q writer {res['cpu_writer']:.2f} s records {res['records']:.0f} "
          f"dropped {res['dropped_full']:.0f}+{res['dropped_output']:.0f} "
          f"({100 * res['drop_share']:.1f} %)", flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steerdns", default=os.path.join(REPO, "build", "steerdns"))
    ap.add_argument("--zone", default=os.path.join(REPO, "bench/results/data/zone/bench.test.zone"))
    ap.add_argument("--queries", default=os.path.join(REPO, "bench/results/data/queries.txt"))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--qps", type=int, default=20000, help="the fixed-rate runs")
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--client-cpus", default="1")
    ap.add_argument("--runroot", default="/tmp/steerdns-bench-querylog")
    ap.add_argument("--out", default=os.path.join(
        REPO, "bench/results", "querylog-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    args = ap.parse_args()
    args.steerdns, args.zone, args.queries = (os.path.abspath(p) for p in (args.steerdns, args.zone, args.queries))
    for path in (args.steerdns, args.zone, args.queries):
        if not os.path.exists(path):
            sys.exit(f"querylog_bench: {path} missing (build steerdns; bench/run.sh makes the "
                     "bench zone and queries with ../shared/bench/gen_zone.py)")
    os.makedirs(args.out, exist_ok=True)
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    plan = []
    for i in range(1, args.rounds + 1):
        plan += [(f"off-{i}", None, None), (f"json-{i}", "json", None),
                 (f"dnstap-{i}", "dnstap", None)]
    plan += [(f"off-{args.rounds + 1}", None, None),
             (f"json-Q{args.qps}", "json", args.qps), (f"dnstap-Q{args.qps}", "dnstap", args.qps)]
    results = [run_one(args, *p) for p in plan]
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"results": results, "load_before": load_before, "load_after": load_after,
                   "args": vars(args)}, f, indent=1)

    flat = [r for r in results if not r["rate"]]

    def mean(rs, f):
        return sum(f(r) for r in rs) / len(rs) if rs else 0
    offs = [r for r in flat if r["format"] == "off"]
    off_qps = mean(offs, lambda r: r["dnsperf"].get("qps", 0))
    off_udp = mean(offs, lambda r: r["us_per_query_udp"])
    L = [f"# Query log benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n",
         f"steerdns `{args.steerdns}`, 1 UDP thread pinned to CPU {args.server_cpus} (the writer "
         f"thread shares it, at SCHED_IDLE); dnsperf pinned to CPU {args.client_cpus}; "
         f"{args.duration} s per run; load average before {' '.join(load_before)}, after "
         f"{' '.join(load_after)}.\n",
         "| run | dnsperf | QPS | QPS / mean off | lost | µs/query sd-udp | µs/query process "
         "| writer CPU s | records | dropped (ring full + output) | drop share |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        d = r["dnsperf"]
        L.append(f"| {r['name']} | {'-Q ' + str(r['rate']) if r['rate'] else 'flat out'} "
                 f"| {d.get('qps', 0):,.0f} | {d.get('qps', 0) / off_qps:.3f} | {d.get('lost')} "
                 f"| {r['us_per_query_udp']:.2f} | {r['us_per_query_process']:.2f} "
                 f"| {r['cpu_writer']:.2f} | {r['records']:,.0f} "
                 f"| {r['dropped_full']:,.0f} + {r['dropped_output']:,.0f} "
                 f"| {100 * r['drop_share']:.1f} % |")
    L.append("")
    L.append("Flat out, means over the rounds (ratios to the mean of the runs without a log; "
             "the off runs' own spread is the noise):\n")
    L.append("| log | QPS | QPS ratio | µs/query sd-udp | ratio | writer CPU per written record "
             "| drop share |")
    L.append("|---|---|---|---|---|---|---|")
    for fmt in ("off", "json", "dnstap"):
        rs = [r for r in flat if r["format"] == fmt]
        q = mean(rs, lambda r: r["dnsperf"].get("qps", 0))
        u = mean(rs, lambda r: r["us_per_query_udp"])
        rec = sum(r["records"] for r in rs)
        w = 1e6 * sum(r["cpu_writer"] for r in rs) / rec if rec else 0
        spread = ""
        if fmt == "off" and rs:
            qs = [r["dnsperf"].get("qps", 0) for r in rs]
            spread = f" (runs {min(qs) / q:.3f}..{max(qs) / q:.3f})"
        L.append(f"| {fmt} | {q:,.0f}{spread} | {q / off_qps:.3f} | {u:.2f} | {u / off_udp:.3f} "
                 f"| {w:.2f} µs | {100 * mean(rs, lambda r: r['drop_share']):.1f} % |")
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))
    print(f"\nreport: {args.out}/report.md")


if __name__ == "__main__":
    main()
