#!/usr/bin/python3
"""Failover time: how fast a killed backend is marked down, and a restarted one up again.

Each trial starts a fresh loopback HTTP backend (a child process of this script, on a port the
kernel picks) and a fresh `steerdns serve` with one http check on it: interval 1 s, timeout
1 s, failure threshold 3, success threshold 2, recheck and confirm_probes at their defaults
(200 ms; 2, i.e. each recheck is a pair of probes counted as one observation). Once the check
is healthy, the script waits a random 1-2 s (so the kill lands at a random phase of the probe
interval), SIGKILLs the backend (connection refused from then on), and waits for the check to
be unhealthy. Then, after another random 0-1 s, it starts the backend again on the same port
and waits for healthy.

Times are measured on the wall clock (CLOCK_REALTIME, shared by this script and the daemon):
  - kill: just before kill(2); restart: when the new backend's socket is listening (the child
    reports time.time() right after listen);
  - transition: the check's `since_ms` in `steerdns health --json`, which the engine stamps
    when the deciding probe completes (1 ms resolution). This is the precise number reported.
  - polled: when a poll of `steerdns health --json` (every 20 ms) first showed the new status;
    an upper bound that includes the CLI's process start (shown for comparison).
  - phase: the kill time minus the last probe before it (0 = just after a probe).

Usage: failover_time.py [--trials 10] [--seed N] [--steerdns PATH]
Prints each trial and min/median/max. Every wait has a deadline (10 s).
"""
import argparse
import http.server
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "testlib"))
from harness import free_port  # noqa: E402 - the tests' loopback port picker
DEFAULT_BIN = os.path.join(HERE, "..", "..", "build", "steerdns")
WAIT = 10.0

CONFIG = """\
server:
  control_socket: {control}
  health_state_file: ""
health_checks:
  - id: web
    url: http://127.0.0.1:{port}/ok
    interval: 1s
    timeout: 1s
    failure_threshold: 3
    success_threshold: 2
"""


def serve(port):
    """Child mode: answer 200 "healthy" on 127.0.0.1:port until killed."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "8")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"healthy\n")
            self.close_connection = True

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", port), Handler)
    print(json.dumps({"port": srv.server_address[1], "listening": time.time()}), flush=True)
    srv.serve_forever()


class Backend:
    def __init__(self, port=0):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve",
                                      str(port)], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # bounded: the child prints right after bind+listen
        if not line:
            raise RuntimeError(f"backend on port {port} did not start")
        info = json.loads(line)
        self.port, self.listening = info["port"], info["listening"]

    def kill(self):
        t = time.time()
        self.proc.kill()
        self.proc.wait(timeout=WAIT)
        return t


class Daemon:
    def __init__(self, binary, backend_port):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="steerdns-failover-")
        self.control = os.path.join(self.tmp, "control.sock")
        config = os.path.join(self.tmp, "steerdns.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(control=self.control, port=backend_port))
        self.log_path = os.path.join(self.tmp, "steerdns.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "serve", "--config", config, "--threads", "1",
                                      "--listen", f"127.0.0.1:{free_port()}"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def check(self):
        p = subprocess.run([self.binary, "health", "--control", self.control, "--json", "web"],
                           capture_output=True, text=True, timeout=WAIT)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip())
        return json.loads(p.stdout)["checks"][0]

    def wait_status(self, status, interval=0.02):
        """Polls until the check has `status`; returns (report, wall time of that poll)."""
        deadline = time.monotonic() + WAIT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"steerdns exited with {self.proc.returncode}: {self.logs()}")
            try:
                c = self.check()
                if c["status"] == status:
                    return c, time.time()
            except (RuntimeError, ValueError) as e:
                last = e
            time.sleep(interval)
        raise RuntimeError(f"timed out waiting for check 'web' {status} (last error: {last!r})")

    def logs(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def trial(binary, rng):
    backend = Backend()
    daemon = Daemon(binary, backend.port)
    try:
        daemon.wait_status("healthy")
        time.sleep(rng.uniform(1.0, 2.0))  # a random phase of the 1 s interval
        pre = daemon.check()
        if pre["status"] != "healthy":
            raise RuntimeError(f"check not steadily healthy before the kill: {pre}")
        t_kill = backend.kill()
        down, t_down_polled = daemon.wait_status("unhealthy")
        probes_before = [o["time_ms"] for o in down["recent"] if o["time_ms"] <= t_kill * 1000]
        failures = [o["time_ms"] for o in down["recent"]
                    if o["time_ms"] > t_kill * 1000 and not o["ok"]]
        time.sleep(rng.uniform(0.0, 1.0))  # restart at a random phase too
        backend = Backend(backend.port)
        up, t_up_polled = daemon.wait_status("healthy")
        oks = [o["time_ms"] for o in up["recent"] if o["time_ms"] > backend.listening * 1000]
        return {
            "phase_ms": round(t_kill * 1000 - probes_before[-1]) if probes_before else None,
            "down_ms": down["since_ms"] - t_kill * 1000,
            "down_polled_ms": (t_down_polled - t_kill) * 1000,
            "down_reason": down["last_failure_reason"],
            "fail_probes_ms": [round(t - t_kill * 1000) for t in failures],
            "up_ms": up["since_ms"] - backend.listening * 1000,
            "up_polled_ms": (t_up_polled - backend.listening) * 1000,
            "ok_probes_ms": [round(t - backend.listening * 1000) for t in oks],
        }
    finally:
        daemon.stop()
        if backend.proc.poll() is None:
            backend.kill()


def summary(name, values):
    return (f"{name:<22} min {min(values):7.0f}  median {statistics.median(values):7.0f}  "
            f"max {max(values):7.0f} ms")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--steerdns", default=os.environ.get("STEERDNS_BIN", DEFAULT_BIN))
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}; interval 1s, timeout 1s, failure_threshold 3, success_threshold 2, "
          f"recheck default (200ms)")
    print(f"{'trial':>5} {'phase':>6} {'down':>6} {'down(poll)':>10} {'up':>6} {'up(poll)':>9}"
          f"  failing probes after kill / ok probes after restart (ms)")
    rows = []
    for i in range(args.trials):
        r = trial(args.steerdns, rng)
        rows.append(r)
        print(f"{i + 1:>5} {r['phase_ms'] if r['phase_ms'] is not None else '-':>6} "
              f"{r['down_ms']:>6.0f} {r['down_polled_ms']:>10.0f} {r['up_ms']:>6.0f} "
              f"{r['up_polled_ms']:>9.0f}  {r['fail_probes_ms']} / {r['ok_probes_ms']}  "
              f"({r['down_reason']})", flush=True)
    print(summary("down (since_ms)", [r["down_ms"] for r in rows]))
    print(summary("down (polled)", [r["down_polled_ms"] for r in rows]))
    print(summary("up (since_ms)", [r["up_ms"] for r in rows]))
    print(summary("up (polled)", [r["up_polled_ms"] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
