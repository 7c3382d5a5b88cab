#!/usr/bin/python3
"""Control-plane benchmark for issue 5 (standard library only, plus dnsperf and taskset).

Targets:
  (a) a 1,000-record change batch is validated, durable and served (INSYNC) in under 1 s;
  (b) 200 small change batches per second sustained through the API without slowing queries
      by more than 5 %.

What it does, all on loopback, every figure from this one invocation:
  1. Writes a config with one inline zone (bench.test., --hosts A records) to a temp dir and
     starts `steerdns serve` on it with a SQLite store on disk (the durable case), pinned to
     --server-cpus; waits until it answers DNS and /healthz.
  2. (a) --rounds times: POST /v1/changes?wait=10 with --batch CREATEs of new record sets, then
     UPSERTs of the same sets, then DELETEs. Time: request sent -> response with insync=true;
     then GET /v1/changes/{id} must say INSYNC and a UDP query must see the change (the new
     address, or NXDOMAIN after DELETE). A ?dry_run=true of each batch first gives the
     validation cost alone.
  3. (b) dnsperf at a fixed rate (--qps, below saturation) for --duration s, twice: alone, and
     while --writers keep-alive HTTP clients send --batch-rate single-UPSERT batches per second
     (paced on a shared schedule). Query latency (avg, p50/p99/p99.9 from dnsperf -v), lost
     queries, server CPU per query and per thread; batch rate (overall and worst 1 s window),
     batch errors and latency. Optionally (--saturation S) dnsperf flat out for S s without
     and with the writer, and (--perf S) a perf profile of the server under the writer.
  4. Writes $OUT/report.md and prints it.
The writer's threads run SCHED_IDLE (--writer-idle 1, the default) on the client CPUs (or
--writer-cpus): dnsperf shares that core, and a load generator that delays dnsperf would show
up as query latency the server did not cause. A second alone run after the writer run gives the
run-to-run noise the ratios must be read against: the (b) verdict takes the writer run as not
slower when its average and p99 latency are within 5 % of the slower of the two alone runs
(A/B/A), and the report also gives the ratios to the first alone run.
--api-threads N sets server.api_threads (the API handler pool, which bounds how many batches
can wait for one group commit); --hosts sets the catalog size; both move the batch rate.

Usage: bench/control/control_bench.py --steerdns build/steerdns [--out DIR] [--duration 20]
"""
import argparse
import http.client
import itertools
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ZONE = "bench.test"
VALUE_SEQ = itertools.count(256)  # writer values, unique across runs
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- DNS over UDP (one query)

def dns_query(port, qname, qtype=1, timeout=1.0):
    """Returns (rcode, [A addresses as strings]) or None on timeout."""
    qid = random.randint(0, 0xFFFF)
    msg = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in qname.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    msg += b"\x00" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(msg, ("127.0.0.1", port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(4096)
            except socket.timeout:
                return None
            if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                return parse_response(data)
    return None


def skip_name(m, off):
    while True:
        ln = m[off]
        if ln == 0:
            return off + 1
        if ln & 0xC0 == 0xC0:
            return off + 2
        off += ln + 1


def parse_response(m):
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", m[:12])
    off = 12
    for _ in range(qd):
        off = skip_name(m, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(m, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", m[off:off + 10])
        rd = m[off + 10:off + 10 + rdlen]
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(rd))
        off += 10 + rdlen
    return flags & 0xF, addrs


# ---------------------------------------------------------------- HTTP API

class Api:
    """One keep-alive connection to the API."""

    def __init__(self, port, timeout=30):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                # A keep-alive connection the server closed: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode(errors="replace")
        return resp.status, doc

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- process accounting

def proc_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        p = f.read().rsplit(")", 1)[1].split()
    return int(p[11]) + int(p[12])  # utime + stime (fields 14, 15)


def task_files(pid, name):
    """(tid, text of /proc/PID/task/TID/NAME) for every thread that is still there."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/{name}") as f:
                yield int(tid), f.read()
        except (OSError, ValueError):
            pass


def thread_ticks(pid):
    out = {}
    for tid, raw in task_files(pid, "stat"):
        try:
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            p = raw.rsplit(")", 1)[1].split()
            out[tid] = (comm, int(p[11]) + int(p[12]))
        except (ValueError, IndexError):
            pass
    return out


def sched_waits(pid):
    """Per thread: (ns on the CPU, ns runnable but waiting for a CPU, timeslices)."""
    out = {}
    for tid, raw in task_files(pid, "schedstat"):
        try:
            out[tid] = tuple(int(x) for x in raw.split()[:3])
        except ValueError:
            pass
    return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[int(tid)] = tuple(int(x) for x in f.read().split()[:3])
        except (OSError, ValueError):
            pass
    return out


def cpu_times():
    """Per-core (busy, total) jiffies from /proc/stat."""
    res = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                p = line.split()
                v = [int(x) for x in p[1:]]
                idle = v[3] + v[4]
                res[p[0]] = (sum(v) - idle, sum(v))
    return res


def core_busy(a, b):
    return {k: 100.0 * (b[k][0] - a[k][0]) / max(1, b[k][1] - a[k][1]) for k in b if k in a}


# ---------------------------------------------------------------- setup

def write_config(d, hosts, nq, api_threads=0):
    cfg = os.path.join(d, "bench.yaml")
    with open(cfg, "w") as f:
        if api_threads:
            f.write(f"server:\n  api_threads: {api_threads}\n")
        f.write("zones:\n")
        f.write(f"  - name: {ZONE}\n    ttl: 300\n")
        f.write("    soa: {mname: ns1, rname: hostmaster, serial: 1, minimum: 60}\n")
        f.write("    ns: [ns1, ns2]\n    records:\n")
        f.write("      - {name: ns1, type: A, values: [192.0.2.53]}\n")
        f.write("      - {name: ns2, type: A, values: [192.0.2.54]}\n")
        for i in range(hosts):
            f.write(f"      - {{name: h{i}, type: A, values: [10.{(i >> 16) & 255}."
                    f"{(i >> 8) & 255}.{i & 255}]}}\n")
    # The writer's record sets exist from the start, so every write is an UPSERT of a change.
    qf = os.path.join(d, "queries.txt")
    rnd = random.Random(42)
    with open(qf, "w") as f:
        for _ in range(nq):
            r = rnd.random()
            if r < 0.90:
                f.write(f"h{rnd.randrange(hosts)}.{ZONE} A\n")
            elif r < 0.95:
                f.write(f"nx{rnd.randrange(hosts)}.{ZONE} A\n")
            else:
                f.write(f"{ZONE} SOA\n")
    return cfg, qf


class Server:
    def __init__(self, args, workdir, cfg):
        self.args = args
        self.db = os.path.join(workdir, "steerdns.db")
        self.stdout = os.path.join(workdir, "steerdns.log")
        cmd = [args.steerdns, "serve", "--config", cfg, "--listen", f"127.0.0.1:{args.port}",
               "--api-listen", f"127.0.0.1:{args.api_port}", "--store", f"sqlite:{self.db}",
               "--threads", str(args.threads)]
        if args.server_cpus:
            cmd = ["taskset", "-c", args.server_cpus] + cmd
        env = dict(os.environ)
        for k in ("STEERDNS_API_TOKEN", "STEERDNS_API_READ_TOKEN"):
            env.pop(k, None)  # loopback without credentials
        self.cmd = cmd
        self.log = open(self.stdout, "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     cwd=workdir)
        self.pid = self.proc.pid
        deadline = t0 + args.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"steerdns exited with {self.proc.returncode} at startup; "
                                 f"log: {self.stdout}:\n{self.tail()}")
            r = dns_query(args.port, f"h1.{ZONE}", timeout=0.2)
            if r and r[0] == 0 and r[1]:
                try:
                    st, _ = Api(args.api_port, timeout=2).request("GET", "/healthz")
                    if st == 200:
                        self.ready_ms = 1000 * (time.monotonic() - t0)
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"steerdns not ready after {args.ready_timeout}s; log: {self.stdout}")

    def tail(self, n=20):
        try:
            with open(self.stdout, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- target (a)

def big_batch(action, rnd_id, n, gen):
    changes = []
    for i in range(n):
        key = f"b{rnd_id}-{i}/A"
        c = {"action": action, "zone": ZONE, "key": key}
        if action != "DELETE":
            c["body"] = {"ttl": 60, "values": [f"10.{100 + gen}.{i >> 8}.{i & 255}"]}
        changes.append(c)
    return {"comment": f"bench {action} {n} round {rnd_id}", "changes": changes}


def target_a(args, api):
    rows = []  # dicts per batch
    for r in range(args.rounds):
        for gen, action in enumerate(("CREATE", "UPSERT", "DELETE")):
            body = big_batch(action, r, args.batch, gen)
            t = time.monotonic()
            st, doc = api.request("POST", "/v1/changes?dry_run=true", body)
            dry_ms = 1000 * (time.monotonic() - t)
            if st != 200:
                raise SystemExit(f"(a) dry run of {action} round {r}: HTTP {st}: {doc}")
            t0 = time.monotonic()
            st, doc = api.request("POST", "/v1/changes?wait=10", body)
            t1 = time.monotonic()
            if st not in (200, 201) or not isinstance(doc, dict) or not doc.get("change"):
                raise SystemExit(f"(a) {action} round {r}: HTTP {st}: {str(doc)[:500]}")
            cid = doc["change"]["id"]
            insync = bool(doc.get("insync"))
            st2, row = api.request("GET", f"/v1/changes/{cid}")
            status = row.get("change", row).get("status") if isinstance(row, dict) else None
            # A record of the batch, as a client sees it over DNS now (no retry: it must
            # already be served when the API says INSYNC).
            i = random.randrange(args.batch)
            want = None if action == "DELETE" else f"10.{100 + gen}.{i >> 8}.{i & 255}"
            ans = dns_query(args.port, f"b{r}-{i}.{ZONE}")
            t2 = time.monotonic()
            if want is None:
                dns_ok = ans is not None and ans[0] == 3
            else:
                dns_ok = ans is not None and ans[0] == 0 and ans[1] == [want]
            rows.append({"round": r, "action": action, "dry_ms": dry_ms,
                         "wait_ms": 1000 * (t1 - t0), "dns_ms": 1000 * (t2 - t0),
                         "insync": insync, "status": status, "dns_ok": dns_ok,
                         "revision": doc["change"].get("revision"), "id": cid,
                         "answer": ans})
            log(f"(a) round {r} {action} x{args.batch}: dry run {dry_ms:.0f} ms, "
                f"INSYNC in {1000 * (t1 - t0):.0f} ms (insync={insync}, GET says {status}), "
                f"DNS {'ok' if dns_ok else 'WRONG ' + str(ans)}")
    return rows


# ---------------------------------------------------------------- target (b)

class Writer:
    """--writers threads, each a keep-alive connection, sending single-UPSERT batches on a
    shared schedule of --batch-rate per second (a late thread catches up, so the offered rate
    holds as long as the server keeps up)."""

    def __init__(self, args):
        self.args = args
        self.counter = itertools.count()
        self.no_ops = 0
        self.lock = threading.Lock()
        self.results = []  # (t_send, latency_s, ok, status)
        self.errors = []
        self.stop_at = None
        self.t0 = None
        self.threads = []
        self.last_id = None

    def start(self, seconds):
        self.t0 = time.monotonic() + 0.05
        self.stop_at = self.t0 + seconds
        for _ in range(self.args.writers):
            th = threading.Thread(target=self.run, daemon=True)
            th.start()
            self.threads.append(th)

    def run(self):
        # The writer shares the client core with dnsperf: as SCHED_IDLE it uses only what
        # dnsperf leaves, so what the queries measure is the server, not this script.
        if self.args.writer_idle:
            try:
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            except (AttributeError, OSError):
                pass
        if self.args.writer_cpus:
            os.sched_setaffinity(0, {int(c) for c in self.args.writer_cpus.split(",")})
        api = Api(self.args.api_port, timeout=10)
        rate = self.args.batch_rate
        try:
            while True:
                k = next(self.counter)
                due = self.t0 + k / rate
                # Stop at the end of the window even when behind schedule (a slow server).
                if due >= self.stop_at or time.monotonic() >= self.stop_at:
                    return
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
                # A value no earlier run used (the global sequence), so no batch is a no-op.
                v = next(VALUE_SEQ)
                body = {"comment": "bench writer",
                        "changes": [{"action": "UPSERT", "zone": ZONE, "key": f"w{k % 1000}/A",
                                     "body": {"ttl": 60, "values": [
                                         f"10.{200 + ((v >> 16) & 31)}.{(v >> 8) & 255}."
                                         f"{v & 255}"]}}]}
                t = time.monotonic()
                try:
                    st, doc = api.request("POST", "/v1/changes", body)
                    ok = st in (200, 201) and isinstance(doc, dict) and bool(doc.get("change"))
                    err = None if ok else f"HTTP {st}: {str(doc)[:200]}"
                    if isinstance(doc, dict) and doc.get("no_op"):
                        with self.lock:
                            self.no_ops += 1
                except OSError as e:
                    ok, st, err, doc = False, None, f"{type(e).__name__}: {e}", None
                lat = time.monotonic() - t
                with self.lock:
                    self.results.append((t, lat, ok, st))
                    if err and len(self.errors) < 20:
                        self.errors.append(err)
                    if ok:
                        self.last_id = doc["change"]["id"]
        finally:
            api.close()

    def join(self):
        for th in self.threads:
            th.join(timeout=60)

    def summary(self, window=None):
        res = sorted(self.results)
        if window:
            res = [x for x in res if window[0] <= x[0] < window[1]]
        ok = [x for x in res if x[2]]
        if not res:
            return {"sent": 0, "ok": 0}
        span = (window[1] - window[0]) if window else (res[-1][0] - res[0][0])
        start = window[0] if window else res[0][0]
        secs = {}
        for x in ok:
            secs[int(x[0] - start)] = secs.get(int(x[0] - start), 0) + 1
        full = [secs.get(s, 0) for s in range(int(span))]  # whole seconds only
        lats = sorted(1000 * x[1] for x in ok)
        return {"scheduled": int(self.args.batch_rate * span), "sent": len(res), "ok": len(ok),
                "errors": len(res) - len(ok),
                "rate": len(ok) / span if span > 0 else 0.0,
                "min_1s": min(full) if full else 0, "max_1s": max(full) if full else 0,
                "lat_p50": pct(lats, 50), "lat_p99": pct(lats, 99),
                "lat_max": lats[-1] if lats else 0.0}


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def run_dnsperf(args, qf, seconds, outfile, rate=None, clients=None, verbose=True):
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(args.port), "-d", qf, "-l", str(seconds),
           "-t", "2"]
    if rate:
        cmd += ["-Q", str(rate), "-c", str(clients or 4), "-q", "200"]
    else:
        cmd += ["-c", str(clients or 10), "-q", "100"]
    if verbose:
        cmd.append("-v")
    if args.client_cpus:
        cmd = ["taskset", "-c", args.client_cpus] + cmd
    with open(outfile, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=seconds + 60)
    return parse_dnsperf(outfile, verbose), p.returncode


def parse_dnsperf(path, verbose):
    r = {}
    lats = []
    timeouts = 0
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(">"):
                p = line.split()
                if len(p) >= 2 and p[1] == "T":
                    timeouts += 1
                    continue
                try:
                    lats.append(float(p[-1]))
                except ValueError:
                    pass
                continue
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
                # "Average Latency (s):  0.000123 (min 0.000012, max 0.002340)"
                v = [float(x) for x in re.findall(r"\d+\.\d+", s)]
                if len(v) >= 3:
                    r["avg_ms"], r["min_ms"], r["max_ms"] = (1000 * x for x in v[:3])
            elif s.startswith("Latency StdDev (s):"):
                r["sd_ms"] = 1000 * float(s.split()[3])
    if verbose and lats:
        lats.sort()
        r["p50_ms"] = 1000 * pct(lats, 50)
        r["p90_ms"] = 1000 * pct(lats, 90)
        r["p99_ms"] = 1000 * pct(lats, 99)
        r["p999_ms"] = 1000 * pct(lats, 99.9)
        r["n_lat"] = len(lats)
    r["timeouts_v"] = timeouts
    # The per-query lines are large; keep the summary only.
    with open(path, errors="replace") as f:
        keep = [ln for ln in f if not ln.startswith(">")]
    with open(path, "w") as f:
        f.writelines(keep)
    return r


def measured_run(args, server, qf, name, seconds, writer_on, rate, verbose=True):
    """One dnsperf run (fixed rate or flat out), optionally with the writer; with server CPU,
    per-thread CPU and per-core busy over the dnsperf window."""
    writer = None
    if writer_on:
        writer = Writer(args)
        writer.start(seconds + 2.0)
        time.sleep(1.0)  # the writer is at its rate before queries start
    r0, s0 = resource.getrusage(resource.RUSAGE_CHILDREN), os.times()
    c0, t0, th0 = cpu_times(), proc_ticks(server.pid), thread_ticks(server.pid)
    sw0 = sched_waits(server.pid)
    w0 = time.monotonic()
    dp, rc = run_dnsperf(args, qf, seconds, os.path.join(args.out, f"dnsperf-{name}.txt"),
                         rate=rate)
    w1 = time.monotonic()
    c1, t1, th1 = cpu_times(), proc_ticks(server.pid), thread_ticks(server.pid)
    sw1 = sched_waits(server.pid)
    r1, s1 = resource.getrusage(resource.RUSAGE_CHILDREN), os.times()
    client = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) + \
        (s1.user + s1.system - s0.user - s0.system)
    res = {"name": name, "dnsperf": dp, "rc": rc, "wall": w1 - w0,
           "client_cpu_pct": 100.0 * client / (w1 - w0),
           "server_cpu_pct": 100.0 * (t1 - t0) / CLK_TCK / (w1 - w0),
           "cores": core_busy(c0, c1)}
    threads = []
    for tid, (comm, ticks) in th1.items():
        d = ticks - th0.get(tid, (comm, 0))[1]
        threads.append((100.0 * d / CLK_TCK / (w1 - w0), tid, comm))
    res["threads"] = sorted(threads, reverse=True)[:6]
    # Run-queue wait of every thread (schedstat): a query thread that is runnable but not
    # running is what CPU contention on the server's core costs the queries.
    res["sched"] = {}
    for tid, (run1, wait1, n1) in sw1.items():
        run0, wait0, n0 = sw0.get(tid, (0, 0, 0))
        res["sched"][tid] = {"run_ms": (run1 - run0) / 1e6, "wait_ms": (wait1 - wait0) / 1e6,
                             "slices": n1 - n0}
    # CPU other processes used meanwhile (a shared machine): all cores' busy time minus the
    # server, dnsperf and this script.
    res["foreign_pct"] = max(0.0, sum(res["cores"].values()) - res["server_cpu_pct"]
                             - res["client_cpu_pct"])
    if dp.get("completed"):
        res["cpu_us_per_q"] = 1e6 * (t1 - t0) / CLK_TCK / dp["completed"]
    if writer:
        writer.join()
        res["writer"] = writer.summary()
        res["writer_window"] = writer.summary((w0, w1))
        res["writer_errors"] = writer.errors
        res["writer_no_ops"] = writer.no_ops
        res["groups"] = group_sizes(writer)
        res["writer_last_id"] = writer.last_id
    log(f"(b) {name}: {fmt_dp(dp)} server CPU {res['server_cpu_pct']:.0f}%"
        + (f"; writer {res['writer']['ok']} ok / {res['writer']['errors']} errors, "
           f"{res['writer']['rate']:.1f}/s (worst 1 s: {res['writer']['min_1s']})"
           if writer else ""))
    return res


def group_sizes(writer):
    """Batches per group commit, seen from the clients: the plane answers every batch of a
    group at once, so their acknowledgements arrive within a few ms of each other while
    groups are a compile apart (tens of ms or more)."""
    acks = sorted(t + lat for t, lat, ok, _ in writer.results if ok)
    groups, last = [], None
    for t in acks:
        if last is not None and t - last <= 0.005:
            groups[-1] += 1
        else:
            groups.append(1)
        last = t
    if not groups:
        return {}
    return {"groups": len(groups), "mean": statistics.mean(groups), "max": max(groups)}


def fmt_dp(dp):
    return (f"qps {dp.get('qps', 0):,.0f}, avg {dp.get('avg_ms', 0):.3f} ms, "
            f"p99 {dp.get('p99_ms', 0):.3f} ms, lost {dp.get('lost', '?')},")


def perf_profile(args, server, qf, seconds):
    """perf record of the server while the writer and fixed-rate queries run."""
    if not shutil.which("perf"):
        return "perf not installed"
    data = os.path.join(args.work, "perf.data")
    writer = Writer(args)
    writer.start(seconds + 3.0)
    time.sleep(1.0)
    dp_out = os.path.join(args.out, "dnsperf-perf.txt")
    dpp = subprocess.Popen(
        (["taskset", "-c", args.client_cpus] if args.client_cpus else []) +
        ["dnsperf", "-s", "127.0.0.1", "-p", str(args.port), "-d", qf, "-l", str(seconds + 1),
         "-Q", str(args.qps), "-c", "4", "-q", "200", "-t", "2"],
        stdout=open(dp_out, "w"), stderr=subprocess.STDOUT)
    # DWARF unwinding: the Release build has no frame pointers, so -g alone gives no stacks.
    pr = subprocess.run(["perf", "record", "-F", "200", "--call-graph", "dwarf,16384", "-o", data,
                         "-p", str(server.pid),
                         "--", "sleep", str(seconds)], capture_output=True, text=True,
                        timeout=seconds + 60)
    dpp.wait(timeout=seconds + 60)
    writer.join()
    if pr.returncode != 0:
        return f"perf record failed: {pr.stderr.strip()[-300:]}"
    out = []
    for sort, title in (("dso,sym", "by symbol (self)"),):
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                              "--sort", sort, "-g", "none", "--percent-limit", "1"],
                             capture_output=True, text=True, timeout=300)
        lines = [ln[:160] for ln in rep.stdout.splitlines()
                 if ln.strip() and not ln.startswith("#")]
        out.append(f"### perf, {title}\n\n```\n" + "\n".join(lines[:40]) + "\n```\n")
    rep = subprocess.run(["perf", "report", "-i", data, "--children", "--stdio", "--sort", "sym",
                          "-g", "none", "--percent-limit", "2"],
                         capture_output=True, text=True, timeout=300)
    # User-space frames only, long template names cut: where the server's time goes.
    lines = [ln[:160] for ln in rep.stdout.splitlines()
             if ln.strip() and not ln.startswith("#") and "[k]" not in ln]
    out.append("### perf, inclusive (children), user space\n\n```\n" + "\n".join(lines[:60])
               + "\n```\n")
    with open(os.path.join(args.out, "perf.txt"), "w") as f:
        f.write("\n".join(out))
    return "\n".join(out)


# ---------------------------------------------------------------- report

def stats3(vals):
    return (min(vals), statistics.median(vals), max(vals)) if vals else (0, 0, 0)


def report(args, server, rows_a, runs, sat, prof, meta):
    L = []
    L.append(f"# Control-plane benchmark (issue 5), {meta['date']}\n")
    L.append(f"steerdns `{args.steerdns}` ({meta['version']}), git {meta['git']}; "
             f"{os.cpu_count()} CPUs, load average at start {meta['load']}. "
             f"Zone `{ZONE}.`: {args.hosts:,} A record sets (+ writer's sets), inline in the "
             f"config, seeded into a SQLite store on disk (`synchronous=FULL`, WAL). "
             f"Server: `--threads {args.threads}`, api_threads "
             f"{args.api_threads or 'default (64)'}, pinned to CPUs {args.server_cpus or 'none'}; "
             f"dnsperf and this script pinned to CPUs {args.client_cpus or 'none'}. "
             f"Ready (exec to first answer + /healthz) {server.ready_ms:.0f} ms. "
             f"All figures from this one invocation.\n")
    # (a)
    L.append(f"## (a) {args.batch:,}-record change batch: validated, durable, served\n")
    L.append("Each row: POST /v1/changes?wait=10 of one batch, timed from sending the request "
             "to the answer with `insync: true`; then GET /v1/changes/{id} and a UDP query for a "
             "random record of the batch (`DNS` = same start, to that answer). `dry run` = "
             "the same batch with ?dry_run=true (validation alone: apply + compile).\n")
    L.append("| action | n | INSYNC ms min / median / max | to DNS answer ms (max) | "
             "dry run ms (median) | all INSYNC (API + GET) | DNS shows it | < 1000 ms |")
    L.append("|---|---|---|---|---|---|---|---|")
    all_ok = True
    for action in ("CREATE", "UPSERT", "DELETE"):
        rs = [r for r in rows_a if r["action"] == action]
        if not rs:
            continue
        w = stats3([r["wait_ms"] for r in rs])
        dmax = max(r["dns_ms"] for r in rs)
        dry = statistics.median([r["dry_ms"] for r in rs])
        ins = all(r["insync"] and r["status"] == "INSYNC" for r in rs)
        dns = all(r["dns_ok"] for r in rs)
        ok = ins and dns and dmax < 1000
        all_ok &= ok
        L.append(f"| {action} | {len(rs)} | {w[0]:.0f} / {w[1]:.0f} / {w[2]:.0f} | {dmax:.0f} | "
                 f"{dry:.0f} | {'yes' if ins else 'NO'} | {'yes' if dns else 'NO'} | "
                 f"{'PASS' if ok else 'FAIL'} |")
    L.append(f"\n**Target (a): {'PASS' if all_ok else 'FAIL'}** "
             f"(every batch INSYNC and visible over DNS in under 1,000 ms).\n")
    # (b)
    L.append(f"## (b) {args.batch_rate:g} small batches/s through the API vs query latency\n")
    L.append(f"dnsperf `-Q {args.qps} -c 4 -q 200 -l {args.duration}` (fixed rate, below "
             f"saturation), once alone and once while {args.writers} keep-alive HTTP clients "
             f"send {args.batch_rate:g} batches/s (each one UPSERT of an A record set, POST "
             f"/v1/changes without ?wait: acknowledged when durable), paced on one schedule. "
             f"Latency percentiles from `dnsperf -v` (every query).\n")
    base = next((r for r in runs if r["name"] == "fixed-alone"), None)
    withw = next((r for r in runs if r["name"] == "fixed-writer"), None)
    L.append("| run | qps | avg ms | p50 ms | p99 ms | p99.9 ms | max ms | lost | server CPU % "
             "of a core | server CPU µs/query | cores busy % | other processes' CPU % |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        d = r["dnsperf"]
        cores = " ".join(f"{k[3:]}:{v:.0f}" for k, v in sorted(r["cores"].items()))
        L.append(f"| {r['name']} | {d.get('qps', 0):,.0f} | {d.get('avg_ms', 0):.3f} | "
                 f"{d.get('p50_ms', 0):.3f} | {d.get('p99_ms', 0):.3f} | "
                 f"{d.get('p999_ms', 0):.3f} | {d.get('max_ms', 0):.2f} | {d.get('lost', '?')} "
                 f"of {d.get('sent', '?'):,} | {r['server_cpu_pct']:.1f} | "
                 f"{r.get('cpu_us_per_q', 0):.2f} | {cores} | {r['foreign_pct']:.0f} |")
    verdict_b = "not measured"
    if base and withw:
        b, w = base["dnsperf"], withw["dnsperf"]
        ws = withw["writer"]
        ww = withw["writer_window"]
        ratio_avg = w.get("avg_ms", 0) / max(1e-9, b.get("avg_ms", 0))
        ratio_p50 = w.get("p50_ms", 0) / max(1e-9, b.get("p50_ms", 0))
        ratio_p99 = w.get("p99_ms", 0) / max(1e-9, b.get("p99_ms", 0))
        # Sustained: every whole second of the query window acknowledged the rate, and every
        # batch due on the schedule was acknowledged without error (the window's average dips
        # at its edges: the writer starts with dnsperf and acks trail sends by a group).
        rate_ok = (ww["min_1s"] >= args.batch_rate * 0.99 and ws["errors"] == 0
                   and ws["ok"] >= ws["scheduled"])
        # A/B/A: the writer run lies between two alone runs; it is "not slower" when it is
        # within 5 % of the slower alone run (two alone runs differ by more than 5 % at p99 on
        # this machine, so a ratio to one alone run alone would measure noise).
        again_run = next((r for r in runs if r["name"] == "fixed-alone-again"), None)
        a2 = again_run["dnsperf"] if again_run else b
        worst_avg = max(b.get("avg_ms", 0), a2.get("avg_ms", 0))
        worst_p99 = max(b.get("p99_ms", 0), a2.get("p99_ms", 0))
        lat_ok = (w.get("avg_ms", 0) <= 1.05 * worst_avg and
                  w.get("p99_ms", 0) <= 1.05 * worst_p99)
        lost_ok = w.get("lost", 1) <= b.get("lost", 0)
        verdict_b = ("PASS" if rate_ok and lat_ok and lost_ok else "FAIL")
        L.append("")
        L.append("| writer | value |")
        L.append("|---|---|")
        L.append(f"| batches acknowledged / sent / due on the schedule (whole writer run) | "
                 f"{ws['ok']:,} / {ws['sent']:,} / {ws['scheduled']:,} ({ws['errors']} errors) |")
        L.append(f"| achieved rate during the dnsperf window | {ww['rate']:.1f}/s "
                 f"(worst whole second {ww['min_1s']}, best {ww['max_1s']}) |")
        L.append(f"| batch latency (send to durable ack) p50 / p99 / max | "
                 f"{ws['lat_p50']:.1f} / {ws['lat_p99']:.1f} / {ws['lat_max']:.1f} ms |")
        L.append(f"| last batch INSYNC after the run | {meta.get('writer_last_insync')} |")
        g = withw.get("groups") or {}
        if g:
            L.append(f"| batches per group commit (from ack times), mean / max | "
                     f"{g['mean']:.1f} / {g['max']} over {g['groups']} groups |")
        L.append(f"| no-op answers (not counted as batches) | {withw.get('writer_no_ops', 0)} |")
        if withw.get("writer_errors"):
            L.append(f"| first errors | {'; '.join(withw['writer_errors'][:3])} |")
        L.append("")
        L.append("| query slowdown with the writer (with / without) | ratio |")
        L.append("|---|---|")
        L.append(f"| average latency | {ratio_avg:.3f} |")
        L.append(f"| p50 latency | {ratio_p50:.3f} |")
        L.append(f"| p99 latency | {ratio_p99:.3f} |")
        again = next((r for r in runs if r["name"] == "fixed-alone-again"), None)
        if again:
            a = again["dnsperf"]
            L.append(f"| noise: alone again / alone, average latency | "
                     f"{a.get('avg_ms', 0) / max(1e-9, b.get('avg_ms', 0)):.3f} |")
            L.append(f"| noise: alone again / alone, p99 latency | "
                     f"{a.get('p99_ms', 0) / max(1e-9, b.get('p99_ms', 0)):.3f} |")
        if base.get("cpu_us_per_q") and withw.get("cpu_us_per_q"):
            L.append(f"| server CPU per query (includes the API and plane work) | "
                     f"{withw['cpu_us_per_q'] / base['cpu_us_per_q']:.3f} |")
        L.append("")
        L.append("Busiest server threads (CPU % of a core over the dnsperf window):\n")
        for r in (base, withw):
            L.append(f"- {r['name']}: " + ", ".join(f"tid {t} {c} {p:.1f}%"
                                                   for p, t, c in r["threads"]))
        # The query thread: the busiest one without the writer (one UDP worker).
        qtid = base["threads"][0][1] if base["threads"] else None
        if qtid is not None:
            L.append("\nThe query thread (tid {}) waiting for a CPU while runnable "
                     "(/proc/…/schedstat):\n".format(qtid))
            for r in (base, withw):
                st = r.get("sched", {}).get(qtid)
                if st:
                    per = 1000 * st["wait_ms"] / max(1, st["slices"])
                    L.append(f"- {r['name']}: {st['wait_ms'] / r['wall']:.1f} ms per second "
                             f"runnable but not running, {per:.1f} µs per wake-up "
                             f"({st['slices']:,} wake-ups)")
        L.append(f"\n**Target (b): {verdict_b}** (batch rate ≥ {args.batch_rate:g}/s with no "
                 f"error in every whole second, all due batches acknowledged: "
                 f"{'yes' if rate_ok else 'NO'}; average and p99 query latency within "
                 f"5 % of the slower of the two alone runs: {'yes' if lat_ok else 'NO'} (avg "
                 f"{w.get('avg_ms', 0):.3f} vs {worst_avg:.3f} ms, p99 {w.get('p99_ms', 0):.3f} "
                 f"vs {worst_p99:.3f} ms; against the first alone run only: avg "
                 f"{100 * (ratio_avg - 1):+.1f} %, p99 {100 * (ratio_p99 - 1):+.1f} %); no more "
                 f"queries lost than without the writer: {'yes' if lost_ok else 'NO'}).\n")
    if sat:
        L.append("### Saturation (dnsperf flat out, `-c 10 -q 100`)\n")
        L.append("| run | qps | avg ms | lost | server CPU % | writer batches/s (errors) | "
                 "other processes' CPU % |")
        L.append("|---|---|---|---|---|---|---|")
        for r in sat:
            d = r["dnsperf"]
            wtxt = (f"{r['writer_window']['rate']:.1f} ({r['writer']['errors']})"
                    if "writer" in r else "–")
            L.append(f"| {r['name']} | {d.get('qps', 0):,.0f} | {d.get('avg_ms', 0):.3f} | "
                     f"{d.get('lost', '?')} | {r['server_cpu_pct']:.0f} | {wtxt} | "
                     f"{r['foreign_pct']:.0f} |")
        if len(sat) == 2:
            q0, q1 = sat[0]["dnsperf"].get("qps", 0), sat[1]["dnsperf"].get("qps", 0)
            L.append(f"\nPeak qps with / without the writer: {q1 / max(1, q0):.3f}.\n")
    if prof:
        L.append("## Profile of the server under the writer (perf record --call-graph dwarf, "
                 f"{args.perf} s, fixed-rate queries + writer)\n")
        L.append(prof)
    L.append("## Raw\n")
    L.append(f"Output in `{args.out}`: dnsperf-*.txt (summaries), results.json, "
             f"server.log (the daemon's log){', perf.txt' if prof else ''}.\n")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steerdns", default=os.environ.get("STEERDNS", "build/steerdns"))
    ap.add_argument("--out", default=os.environ.get("OUT"))
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5, help="(a): CREATE+UPSERT+DELETE rounds")
    ap.add_argument("--batch", type=int, default=1000, help="(a): record sets per batch")
    ap.add_argument("--duration", type=int, default=20, help="(b): seconds per dnsperf run")
    ap.add_argument("--qps", type=int, default=20000, help="(b): fixed query rate")
    ap.add_argument("--batch-rate", type=float, default=200.0)
    ap.add_argument("--writer-idle", type=int, default=1,
                    help="1: writer threads run SCHED_IDLE (never take CPU from dnsperf)")
    ap.add_argument("--writer-cpus", default="",
                    help="CPUs for the writer threads (default: this script's, --client-cpus)")
    ap.add_argument("--writers", type=int, default=64,
                    help="concurrent HTTP clients (as many as the daemon's API handler pool)")
    ap.add_argument("--saturation", type=int, default=8,
                    help="seconds of flat-out dnsperf without/with writer (0: skip)")
    ap.add_argument("--perf", type=int, default=10, help="seconds of perf record (0: skip)")
    ap.add_argument("--api-threads", type=int, default=0,
                    help="server.api_threads (API handler pool; 0 = the daemon's default, 64)")
    ap.add_argument("--port", type=int, default=5340)
    ap.add_argument("--api-port", type=int, default=8093)
    ap.add_argument("--threads", type=int, default=1, help="steerdns UDP worker threads")
    two = (os.cpu_count() or 1) >= 2
    ap.add_argument("--server-cpus", default="0" if two else "",
                    help="taskset list for steerdns ('' = unpinned)")
    ap.add_argument("--client-cpus", default="1" if two else "",
                    help="taskset list for dnsperf and this script ('' = unpinned)")
    ap.add_argument("--ready-timeout", type=float, default=120)
    ap.add_argument("--skip", default="", help="comma list of a,b to skip")
    args = ap.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not args.out:
        args.out = os.path.join(repo, "bench", "results",
                                "control-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(args.out, exist_ok=True)
    args.steerdns = os.path.abspath(args.steerdns)
    args.out = os.path.abspath(args.out)
    if not os.access(args.steerdns, os.X_OK):
        raise SystemExit(f"control_bench: steerdns binary not found: {args.steerdns}")
    for tool in ("dnsperf",) + (("taskset",) if args.server_cpus or args.client_cpus else ()):
        if not shutil.which(tool):
            raise SystemExit(f"control_bench: {tool} missing (apt-get install {tool})")
    for port, what in ((args.port, "DNS"), (args.api_port, "API")):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"control_bench: {what} port {port} is in use; pick another "
                                 f"(--port/--api-port)")
    if args.client_cpus:
        os.sched_setaffinity(0, {int(c) for c in args.client_cpus.split(",")})
    skip = set(args.skip.split(","))

    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "load": open("/proc/loadavg").read().split()[0]}
    meta["version"] = subprocess.run([args.steerdns, "--version"], capture_output=True,
                                     text=True).stdout.strip().splitlines()[0:1]
    meta["version"] = meta["version"][0] if meta["version"] else "?"
    meta["git"] = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"],
                                 capture_output=True, text=True).stdout.strip() or "?"
    args.work = tempfile.mkdtemp(prefix="steerdns-control-bench-")
    log(f"work dir {args.work}, results in {args.out}")
    cfg, qf = write_config(args.work, args.hosts, 100000, args.api_threads)
    server = Server(args, args.work, cfg)
    log(f"steerdns ready in {server.ready_ms:.0f} ms (pid {server.pid})")
    rows_a, runs, sat, prof = [], [], [], None
    try:
        api = Api(args.api_port)
        # The writer's 1,000 record sets, created once so the writer only UPSERTs.
        body = {"comment": "bench writer sets", "changes": [
            {"action": "UPSERT", "zone": ZONE, "key": f"w{j}/A",
             "body": {"ttl": 60, "values": ["10.200.0.1"]}} for j in range(1000)]}
        st, doc = api.request("POST", "/v1/changes?wait=30", body)
        if st not in (200, 201):
            raise SystemExit(f"creating the writer's record sets: HTTP {st}: {str(doc)[:300]}")
        if "a" not in skip:
            rows_a = target_a(args, api)
        if "b" not in skip:
            runs.append(measured_run(args, server, qf, "fixed-alone", args.duration, False,
                                     args.qps))
            runs.append(measured_run(args, server, qf, "fixed-writer", args.duration, True,
                                     args.qps))
            # Alone once more: the run-to-run noise the ratios above must be read against.
            runs.append(measured_run(args, server, qf, "fixed-alone-again", args.duration, False,
                                     args.qps))
            lid = next((r.get("writer_last_id") for r in runs if r["name"] == "fixed-writer"),
                       None)
            if lid:
                ok = False
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not ok:
                    st, row = api.request("GET", f"/v1/changes/{lid}")
                    ok = isinstance(row, dict) and row.get("change", row).get("status") == "INSYNC"
                    if not ok:
                        time.sleep(0.05)
                meta["writer_last_insync"] = "yes" if ok else "NO (after 10 s)"
            if args.saturation:
                sat.append(measured_run(args, server, qf, "flat-alone", args.saturation, False,
                                        None, verbose=False))
                sat.append(measured_run(args, server, qf, "flat-writer", args.saturation, True,
                                        None, verbose=False))
            if args.perf:
                log(f"perf profile for {args.perf} s")
                prof = perf_profile(args, server, qf, args.perf)
        api.close()
        if not server.alive():
            raise SystemExit(f"steerdns died during the benchmark:\n{server.tail()}")
    finally:
        server.stop()
        shutil.copy(server.stdout, os.path.join(args.out, "server.log"))
        shutil.rmtree(args.work, ignore_errors=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "a": rows_a, "b": runs, "saturation": sat}, f, indent=1,
                  default=str)
    text = report(args, server, rows_a, runs, sat, prof, meta)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
