#!/usr/bin/python3
"""Soak: a backend that fails 10 % of probes at random must cause no transition.

Starts a loopback HTTP backend whose every response is a 503 with probability --fail-rate
(drawn from random.Random(--seed) in arrival order, so a run is reproducible) and a 200
"healthy" otherwise, and a `steerdns serve` with one http check on it (interval 1 s, timeout
1 s, default thresholds: failure 3, success 2, recheck 200 ms, confirm_probes 2: each recheck
is a pair of probes counted as one observation). After the check is healthy it
runs for --seconds (600) and then reports:
  - transitions counted by the daemon after the check first became healthy (the report's
    `transitions` counter, and the transition lines in the daemon log), expected 0;
  - every status other than healthy seen while polling `steerdns health --json` once a second;
  - the backend's probe count, 503 count and longest run of consecutive 503s, and how the
    requests group into observations (pairs arrive within 50 ms; probes are >= 200 ms apart).
    With confirm_probes 1, a run of 3 rightly brings the check down (probability ~0.45 per
    10 minutes at p = 0.1); with pairs a false down needs 1 + 2 + 2 failures (~1e-5 per probe);
  - the transitions the thresholds call for when replayed on the backend's outcome sequence,
    which the daemon's count must equal.

Usage: soak_random.py [--seconds 600] [--seed 1] [--fail-rate 0.1] [--confirm-probes N]
                      [--steerdns PATH]
Exit status 0 when no transition happened, 1 otherwise, 2 on setup errors.
"""
import argparse
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "testlib"))
from harness import free_port, wait_until  # noqa: E402 - the tests' loopback helpers
DEFAULT_BIN = os.path.join(HERE, "..", "..", "build", "steerdns")

CONFIG = """\
server:
  control_socket: {control}
  health_state_file: ""
health_checks:
  - id: web
    url: http://127.0.0.1:{port}/ok
    interval: 1s
    timeout: 1s
{extra}"""


class Backend:
    """Answers 503 with probability `rate` (seeded), 200 otherwise; records each outcome."""

    def __init__(self, seed, rate):
        self.rng = random.Random(seed)
        self.rate = rate
        self.lock = threading.Lock()
        self.outcomes = []  # (unix time, ok) per request, in arrival order
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with backend.lock:
                    ok = backend.rng.random() >= backend.rate
                    backend.outcomes.append((time.time(), ok))
                body = b"healthy\n" if ok else b"down\n"
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.srv = Server(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    def stats(self, since=0.0, fail_streak0=0):
        with self.lock:
            timed = [(t, ok) for t, ok in self.outcomes if t >= since]
        seq = [ok for _, ok in timed]
        groups = group_pairs(timed)
        longest = run = 0
        streaks = {}
        for ok in seq + [True]:
            if ok:
                if run:
                    streaks[run] = streaks.get(run, 0) + 1
                run = 0
            else:
                run += 1
                longest = max(longest, run)
        return {"probes": len(seq), "failed": seq.count(False), "longest_fail_streak": longest,
                "fail_streaks": dict(sorted(streaks.items())),
                "observations": len(groups),
                "pairs": sum(1 for g in groups if len(g) == 2),
                "split_pairs": sum(1 for g in groups if len(g) == 2 and g[0] != g[1]),
                "replayed_transitions": replay(groups, fail_streak0)}


def group_pairs(timed, gap=0.05):
    """Groups requests into observations: a confirmation pair's two probes start together,
    while distinct probes are at least a recheck (200 ms) apart."""
    groups, last_t = [], None
    for t, ok in timed:
        if last_t is not None and t - last_t < gap and len(groups[-1]) == 1:
            groups[-1].append(ok)
        else:
            groups.append([ok])
        last_t = t
    return groups


def replay(groups, fails, failure_threshold=3, success_threshold=2):
    """Transitions the thresholds call for on this sequence of observations (single probes or
    pairs), from healthy with `fails` consecutive failures already counted: what a correct
    engine must report. A pair counts as the result agreeing with the status if either does."""
    healthy, oks, transitions = True, 0, 0
    for g in groups:
        ok = any(g) if healthy else all(g)
        if ok:
            oks, fails = oks + 1, 0
            if not healthy and oks >= success_threshold:
                healthy, transitions = True, transitions + 1
        else:
            oks, fails = 0, fails + 1
            if healthy and fails >= failure_threshold:
                healthy, transitions = False, transitions + 1
    return transitions


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fail-rate", type=float, default=0.1)
    ap.add_argument("--confirm-probes", type=int, default=0,
                    help="set confirm_probes (1 or 2); default: the engine's default (2)")
    ap.add_argument("--steerdns", default=os.environ.get("STEERDNS_BIN", DEFAULT_BIN))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="steerdns-soak-")
    control = os.path.join(tmp, "control.sock")
    config = os.path.join(tmp, "steerdns.yaml")
    backend = Backend(args.seed, args.fail_rate)
    with open(config, "w") as f:
        extra = f"    confirm_probes: {args.confirm_probes}\n" if args.confirm_probes else ""
        f.write(CONFIG.format(control=control, port=backend.port, extra=extra))
    log_path = os.path.join(tmp, "steerdns.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([args.steerdns, "serve", "--config", config, "--threads", "1",
                             "--listen", f"127.0.0.1:{free_port()}"],
                            stdout=log, stderr=subprocess.STDOUT)

    def check():
        p = subprocess.run([args.steerdns, "health", "--control", control, "--json", "web"],
                           capture_output=True, text=True, timeout=10)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip())
        return json.loads(p.stdout)["checks"][0]

    def logs():
        log.flush()
        with open(log_path, errors="replace") as f:
            return f.read()

    rc = 2
    try:
        first = wait_until(lambda: (c := check())["status"] == "healthy" and c, timeout=30,
                           what="check 'web' healthy")
        t_start = time.time()
        base_transitions = first["transitions"]
        base_log = len(re.findall(r"health: check 'web' \S+ -> ", logs()))
        not_healthy = []  # (seconds into the run, status) while polling
        polls = 0
        end = time.monotonic() + args.seconds
        next_report = time.monotonic() + 60
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"steerdns exited with {proc.returncode}: {logs()}")
            c = check()
            polls += 1
            if c["status"] != "healthy":
                not_healthy.append((round(time.time() - t_start, 1), c["status"]))
            if time.monotonic() >= next_report:
                s = backend.stats(t_start)
                print(f"  t={time.time() - t_start:5.0f}s probes {s['probes']} failed "
                      f"{s['failed']} longest streak {s['longest_fail_streak']} transitions "
                      f"{c['transitions'] - base_transitions}", flush=True)
                next_report += 60
            time.sleep(1.0)
        last = check()
        elapsed = time.time() - t_start
        s = backend.stats(t_start, first["consecutive_fail"])
        trans_lines = re.findall(r"^.*health: check 'web' \S+ -> .*$", logs(), re.M)[base_log:]
        transitions = last["transitions"] - base_transitions
        print(json.dumps({
            "seconds": round(elapsed, 1), "seed": args.seed, "fail_rate": args.fail_rate,
            "confirm_probes": args.confirm_probes or "default",
            "backend": s, "daemon_probes_ok": last["probes_ok"],
            "daemon_probes_failed": last["probes_failed"],
            "transitions": transitions, "transition_log_lines": trans_lines,
            "polls": polls, "not_healthy_polls": not_healthy[:20],
            "final_status": last["status"]}, indent=1))
        print(f"RESULT: {elapsed:.0f} s, {s['probes']} probes ({s['observations']} observations, "
              f"{s['pairs']} pairs, {s['split_pairs']} split), {s['failed']} failed "
              f"({100.0 * s['failed'] / max(1, s['probes']):.1f} %), longest failure streak "
              f"{s['longest_fail_streak']}, transitions {transitions} "
              f"({len(trans_lines)} in the log), non-healthy polls {len(not_healthy)}")
        print(f"target (0 transitions): {'met' if transitions == 0 else 'NOT met'}; the "
              f"thresholds replayed on the backend's outcomes call for "
              f"{s['replayed_transitions']}: engine "
              f"{'agrees' if s['replayed_transitions'] == transitions else 'DISAGREES'}")
        rc = 0 if transitions == 0 and not trans_lines and not not_healthy else 1
    except Exception as e:  # noqa: BLE001 - report any setup failure with the daemon log
        print(f"error: {e}\n{logs()}", file=sys.stderr)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        backend.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
