#!/usr/bin/python3
"""`steerdns drill`: the local drill (two in-process backends, a steerdns child, failover and
failback measured) must pass with detection under 5 s and a switch to the secondary; an
impossible --rto must FAIL with a non-zero exit; bad flags exit 2 and name the flag; a live
drill forces a check down on a daemon started here, sees the answer switch, clears its
override, and records a "drill" event.

Run by ctest (STEERDNS_BIN). Runtime ~40 s: short stabilize times via flags.
"""
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest

import dns.message
import dns.query
import dns.rdatatype
from harness import Server, free_port, steerdns_bin, wait_until

PRIMARY = "192.0.2.10"
SECONDARY = "198.51.100.10"
NAME = "genai-demo.example.test."
# Local drills run with the flagship TTLs (60 -> 30): a TTL-honouring client moves about 60 s
# after the switch, so the target here is 90 s (the default 60 s cannot be met with TTL 60).
FAST = ["--interval", "1s", "--stabilize", "1s", "--approve-after", "1s", "--ramp", "2s",
        "--timeout", "30s"]


def drill(*args, timeout=120):
    p = subprocess.run([steerdns_bin(), "drill", *args], capture_output=True, text=True,
                       timeout=timeout)
    return p


def parse(p):
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise AssertionError("drill output is not JSON (%s):\nstdout:\n%s\nstderr:\n%s"
                             % (e, p.stdout, p.stderr)) from e


class LocalDrillTest(unittest.TestCase):
    def test_auto_failover_and_failback_pass(self):
        p = drill("--failback", "auto", "--json", "--rto", "90s", *FAST)
        r = parse(p)
        self.assertEqual(p.returncode, 0, r)
        self.assertEqual(r["result"], "PASS", r)
        self.assertEqual(r["mode"], "local")
        self.assertEqual(len(r["runs"]), 1)
        run = r["runs"][0]
        self.assertEqual(run["mode"], "auto")
        fo = run["failover"]
        # Detection: 1 s checks, threshold 3 with fast confirmation -> about 1 s.
        self.assertGreaterEqual(fo["detection_ms"], 0)
        self.assertLess(fo["detection_ms"], 5000, fo)
        # The answer switched after the kill, and not before the check went down (minus one
        # 50 ms sample).
        self.assertGreater(fo["switch_ms"], 0)
        self.assertGreaterEqual(fo["switch_ms"] + 100, fo["detection_ms"], fo)
        self.assertEqual(fo["ttl_before"], 60)
        self.assertLessEqual(fo["ttl_after"], 30)
        # TTL-honouring move = last primary answer + its TTL, i.e. ~60 s after the switch.
        self.assertEqual(fo["client_move_t_ms"], fo["last_primary_t_ms"] + 60_000)
        self.assertGreaterEqual(fo["client_move_ms"], 60_000 - 100)
        self.assertLessEqual(fo["client_move_ms"], fo["switch_ms"] + 60_000)
        self.assertEqual(r["client_move_ms"], fo["client_move_ms"])
        fb = run["failback"]
        self.assertGreater(fb["healthy_ms"], 0)
        # auto: back only after `stabilize` (1 s) of health.
        self.assertGreaterEqual(fb["after_healthy_ms"], 900, fb)
        self.assertGreater(fb["failback_ms"], fb["healthy_ms"])
        # The timeline is in order and names the steps.
        times = [e["t_ms"] for e in r["timeline"]]
        self.assertEqual(times, sorted(times), r["timeline"])
        text = "\n".join(e["event"] for e in r["timeline"])
        for step in ("primary backend killed", "unhealthy", "switched to " + SECONDARY,
                     "TTL-honouring clients have moved", "primary backend restored",
                     "back on the primary", "drill PASS"):
            self.assertIn(step, text)

    def test_manual_and_gradual_failback(self):
        p = drill("--failback", "manual,gradual", "--json", "--rto", "90s", *FAST)
        r = parse(p)
        self.assertEqual(p.returncode, 0, r)
        self.assertEqual([run["mode"] for run in r["runs"]], ["manual", "gradual"])
        manual, gradual = (run["failback"] for run in r["runs"])
        # manual: on the secondary until approved (--approve-after 1 s), then back at once.
        self.assertGreaterEqual(manual["approve_t_ms"] - manual["healthy_t_ms"], 1000)
        self.assertGreaterEqual(manual["back_t_ms"], manual["approve_t_ms"])
        self.assertLess(manual["after_approve_ms"], 2000, manual)
        types = [e["type"] for e in r["runs"][0]["daemon_events"]]
        self.assertIn("failback_pending_approval", types)
        self.assertIn("failback_approved", types)
        # gradual: a ramp (some answers primary, then all), after stabilize (1 s).
        self.assertGreaterEqual(gradual["ramp_start_t_ms"] - gradual["healthy_t_ms"], 900)
        shares = [x["primary_share"] for x in gradual["samples"]]
        self.assertGreater(len(shares), 1)
        self.assertLess(shares[0], 1.0)
        self.assertEqual(shares[-1], 1.0)

    def test_impossible_rto_fails_and_is_recorded(self):
        tmp = tempfile.mkdtemp(prefix="steerdns-drill-log-")
        self.addCleanup(shutil.rmtree, tmp, True)
        log = os.path.join(tmp, "steerdns-events.jsonl")
        p = drill("--failback", "auto", "--json", "--rto", "1ms", "--event-log", log, *FAST)
        r = parse(p)
        self.assertEqual(p.returncode, 1, r)
        self.assertEqual(r["result"], "FAIL")
        self.assertIn("RTO missed", r["reason"])
        self.assertEqual(r["event_logs"], [log])
        # Failed drills are recorded too: one "drill" event whose cause is the result.
        with open(log) as f:
            events = [json.loads(line) for line in f if line.strip()]
        self.assertEqual([e["type"] for e in events], ["drill"], events)
        recorded = json.loads(events[0]["cause"])
        self.assertEqual(recorded["result"], "FAIL")
        self.assertEqual(recorded["client_move_ms"], r["client_move_ms"])
        # The daemon's own failover and failback decisions are in the run, in order.
        types = [e["type"] for e in r["runs"][0]["daemon_events"]]
        self.assertIn("failover", types)
        self.assertIn("failback", types)
        self.assertLess(types.index("failover"), types.index("failback"))

    def test_wait_ttl_waits_for_the_client_move(self):
        # TTL 3 s: the drill waits until the last primary answer has expired, then checks that a
        # fresh answer is the secondary.
        p = drill("--failback", "auto", "--json", "--ttl", "3", "--failover-ttl", "2",
                  "--wait-ttl", "--rto", "20s", *FAST)
        r = parse(p)
        self.assertEqual(p.returncode, 0, r)
        fo = r["runs"][0]["failover"]
        self.assertTrue(fo["client_move_waited"])
        self.assertEqual(fo["ttl_before"], 3)
        self.assertEqual(fo["client_move_t_ms"], fo["last_primary_t_ms"] + 3000)
        waited = [e for e in r["timeline"] if "waited for the TTL" in e["event"]]
        self.assertEqual(len(waited), 1, r["timeline"])
        self.assertGreaterEqual(waited[0]["t_ms"], fo["client_move_t_ms"])
        self.assertIn(SECONDARY, waited[0]["event"])
        # The restore happens only after the wait.
        self.assertGreaterEqual(r["runs"][0]["failback"]["restore_t_ms"], fo["client_move_t_ms"])

    def test_unreachable_event_log_stops_before_anything(self):
        p = drill("--failback", "auto", "--control", "/nonexistent/steerdns.sock", timeout=10)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("cannot record the result", p.stderr)
        self.assertNotIn("backends up", p.stdout)

    def test_bad_flags_exit_2(self):
        for args, needle in ((["--failback", "sideways"], "--failback"),
                             (["--rto", "soon"], "--rto"),
                             (["--interval", "10ms"], "--interval"),
                             (["--ttl", "30", "--failover-ttl", "60"], "--failover-ttl"),
                             (["--live", "--check", "x"], "--control"),
                             (["--live", "--check", "x", "--control", "/nonexistent",
                               "--for", "31m"], "--for")):
            p = drill(*args, timeout=10)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertIn(needle, p.stderr)


class Up(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b'{"status":"UP"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


CONFIG = """\
server:
  control_socket: {control}
  health_state_file: {tmp}/health.json   # the event log is steerdns-events.jsonl beside it
health_checks:
  - {{ id: primary-app, url: "http://127.0.0.1:{p1}/actuator/health", interval: 1s }}
  - {{ id: secondary-app, url: "http://127.0.0.1:{p2}/actuator/health", interval: 1s }}
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: 1 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - name: genai-demo
        type: A
        ttl: 20
        policy: failover
        failover_ttl: 10
        failback: auto
        stabilize: 1s
        min_state: 1s
        members:
          - {{ set_id: p, role: primary, values: [{primary}], health_check: primary-app }}
          - {{ set_id: s, role: secondary, values: [{secondary}], health_check: secondary-app }}
"""


def control(path, line):
    """One control-socket request; returns the JSON after "ok "."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    text = data.decode().strip()
    if not text.startswith("ok "):
        raise AssertionError("control %r: %s" % (line, text))
    return json.loads(text[3:])


def answer(port):
    q = dns.message.make_query(NAME, dns.rdatatype.A)
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
    return sorted(rr.address for rrset in r.answer for rr in rrset)


class LiveDrillTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-drill-test-")
        self.backends = []
        for _ in range(2):
            srv = http.server.HTTPServer(("127.0.0.1", 0), Up)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self.backends.append(srv)
        self.control = os.path.join(self.tmp, "control.sock")
        cfg = os.path.join(self.tmp, "steerdns.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(control=self.control, tmp=self.tmp,
                                  p1=self.backends[0].server_address[1],
                                  p2=self.backends[1].server_address[1], primary=PRIMARY,
                                  secondary=SECONDARY))
        self.port = free_port()
        self.d = Server("steerdns", [steerdns_bin(), "serve", "--config", cfg, "--listen",
                                     "127.0.0.1:%d" % self.port, "--threads", "1"],
                        self.port, "example.test.", workdir=self.tmp)
        self.d.start()

    def tearDown(self):
        self.d.stop()
        for b in self.backends:
            b.shutdown()
            b.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_live_drill_switches_and_reverts(self):
        wait_until(lambda: answer(self.port) == [PRIMARY], timeout=15, what="primary answer")
        p = drill("--live", "--check", "primary-app", "--for", "4s", "--control", self.control,
                  "--name", NAME, "--server", "127.0.0.1:%d" % self.port, "--rto", "60s",
                  "--json", timeout=60)
        r = parse(p)
        self.assertEqual(p.returncode, 0, (r, self.d.log()))
        self.assertEqual(r["result"], "PASS", r)
        self.assertEqual(r["mode"], "live")
        fo = r["failover"]
        self.assertEqual(r["answer_before"], [PRIMARY])
        self.assertEqual(fo["answer_after"], [SECONDARY])
        self.assertLess(fo["switch_ms"], 3000, fo)
        self.assertEqual(fo["ttl_before"], 20)
        self.assertLessEqual(fo["ttl_after"], 10)
        self.assertGreaterEqual(fo["client_move_ms"], 20_000 - 100)
        self.assertTrue(r["event_recorded"], r)
        text = "\n".join(e["event"] for e in r["timeline"])
        self.assertIn("forced down", text)
        self.assertIn("cleared", text)
        # The override is gone: the answer returns to the primary (auto failback, 1 s).
        wait_until(lambda: answer(self.port) == [PRIMARY], timeout=15,
                   what="primary answer after the drill")
        # The drill is in the daemon's event log, after the override's own events.
        events = control(self.control, 'steer {"cmd":"events","last":50}')["events"]
        types = [e["type"] for e in events]
        self.assertIn("override_set", types)
        drills = [e for e in events if e["type"] == "drill"]
        self.assertEqual(len(drills), 1, events)
        self.assertEqual(drills[0]["target"], "primary-app")
        recorded = json.loads(drills[0]["cause"])
        self.assertEqual(recorded["result"], "PASS")
        self.assertEqual(recorded["failover"]["switch_ms"], fo["switch_ms"])
        # The status report shows it (the weekly DR review reads it there).
        status = control(self.control, 'steer {"cmd":"status"}')
        self.assertEqual(len(status["drills"]), 1, status)
        self.assertEqual(status["drills"][0]["result"]["result"], "PASS")
        out = subprocess.run([steerdns_bin(), "status", "--control", self.control],
                             capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"drills \(latest last\):\n .*PASS")
        # No override is left behind.
        self.assertEqual(control(self.control, 'steer {"cmd":"override-list"}')["overrides"], [])

    def test_live_drill_unknown_check_changes_nothing(self):
        p = drill("--live", "--check", "nope", "--for", "2s", "--control", self.control,
                  "--json", timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        r = parse(p)
        self.assertIn("nope", r["reason"])
        self.assertEqual(answer(self.port), [PRIMARY])


if __name__ == "__main__":
    unittest.main(verbosity=2)
