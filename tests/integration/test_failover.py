#!/usr/bin/python3
"""Failover orchestration in `steerdns serve`, end to end on loopback with real HTTP backends
and `dig`: the flagship shape (a failover A record, ttl 60, failover_ttl 30, 1 s checks, a
calculated primary-region check), the switch to the secondary with the lower TTL when the
primary dies, the on_failover webhook and command actions, automatic failback after
stabilize, manual failback that waits for `steerdns failback approve` (also across a daemon
restart), an override with an expiry, `steerdns explain`, `simulate`, `status` and `events`,
and a check override on a child of the calculated check moving the answer.

Every wait polls with a deadline. Run by ctest (STEERDNS_BIN).
"""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from health_servers import Handler, HTTPServer
from test_transport import Steerdns, steerdns_bin, wait_until

PRIMARY = "192.0.2.10"
SECONDARY = "198.51.100.10"
NAME = "app.example.test."
SET = "app.example.test./A"

CONFIG = """\
server:
  control_socket: {control}
  health_state_file: state/health.json
  checker_id: itest
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: 1 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - name: app
        type: A
        ttl: 60
        policy: failover
        failover_ttl: 30
        failback: {failback}
        stabilize: 2s
        min_state: 1s
        members:
          - {{ set_id: app-primary, role: primary, values: [{primary}], health_check: primary-region }}
          - {{ set_id: app-secondary, role: secondary, values: [{secondary}], health_check: secondary-app }}
health_checks:
  - id: primary-app
    url: http://127.0.0.1:{primary_port}/ok
    interval: 1s
    timeout: 500ms
    failure_threshold: 2
    success_threshold: 2
  - id: primary-db
    url: http://127.0.0.1:{db_port}/ok
    interval: 1s
    timeout: 500ms
    failure_threshold: 2
    success_threshold: 2
  - id: secondary-app
    url: http://127.0.0.1:{secondary_port}/ok
    interval: 1s
    timeout: 500ms
    failure_threshold: 2
    success_threshold: 2
  - {{ id: primary-region, type: calculated, children: [primary-app, primary-db], healthy_threshold: 2 }}
actions:
  on_failover:
    - {{ webhook: "http://127.0.0.1:{hook_port}/scale?deployment=app-dr&replicas=6", timeout: 5s, retries: 2, backoff: 100ms }}
    - {{ exec: ["/bin/sh", "-c", "echo \\"$STEERDNS_EVENT $STEERDNS_SET $STEERDNS_FROM_TIER $STEERDNS_TO_TIER\\" >> {marker}"], timeout: 5s }}
  on_failback:
    - {{ webhook: "http://127.0.0.1:{hook_port}/failback" }}
"""


class Backend:
    """The health_servers.py HTTP handler on a fixed port: killed (connection refused) and
    started again on the same port."""

    def __init__(self, port=0):
        self.port = port
        self.start()

    def start(self):
        self.srv = HTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def kill(self):
        self.srv.shutdown()
        self.srv.server_close()


class HookHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.server.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class HookServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), HookHandler)
        self.received = []
        threading.Thread(target=self.serve_forever, daemon=True).start()


def dig(port, name=NAME, rdtype="A"):
    """(values, ttl) of the answer, by dig."""
    p = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), name, rdtype, "+noall", "+answer",
                        "+norec", "+time=1", "+tries=1"],
                       capture_output=True, text=True, timeout=5)
    if p.returncode != 0:
        raise AssertionError(f"dig failed: {p.stdout}{p.stderr}")
    values, ttl = [], None
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[3] == rdtype:
            values.append(parts[4])
            ttl = int(parts[1])
    return sorted(values), ttl


class FailoverTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-failover-")
        os.mkdir(os.path.join(self.tmp, "state"))
        self.control = os.path.join(self.tmp, "control.sock")
        self.config = os.path.join(self.tmp, "steerdns.yaml")
        self.marker = os.path.join(self.tmp, "actions.log")
        self.primary = Backend()
        self.secondary = Backend()
        self.db = Backend()
        self.hooks = HookServer()
        self.d = None
        self.port = None

    def tearDown(self):
        if self.d:
            self.d.stop()
        for b in (self.primary, self.secondary, self.db):
            try:
                b.kill()
            except OSError:
                pass
        self.hooks.shutdown()
        self.hooks.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_config(self, failback="auto"):
        with open(self.config, "w") as f:
            f.write(CONFIG.format(control=self.control, failback=failback, primary=PRIMARY,
                                  secondary=SECONDARY, primary_port=self.primary.port,
                                  secondary_port=self.secondary.port, db_port=self.db.port,
                                  hook_port=self.hooks.server_address[1], marker=self.marker))

    def start(self):
        self.d = Steerdns(["--config", self.config, "--threads", "1", "--api-listen", "off"],
                          port=self.port, listen6=False, workdir=self.tmp)
        self.port = self.d.port

    def cli(self, *args, check=True):
        p = subprocess.run([steerdns_bin(), *args, "--control", self.control],
                           capture_output=True, text=True, timeout=10)
        # `status` exits 3 when something needs attention (a failover): an answer, not a failure.
        if check and p.returncode != 0 and not (args[0] == "status" and p.returncode == 3):
            raise AssertionError(f"steerdns {args} failed ({p.returncode}): {p.stderr}\n"
                                 f"{self.d.logs() if self.d else ''}")
        return p

    def status(self):
        s = json.loads(self.cli("status", "--json").stdout)
        return {x["set"]: x for x in s["sets"]}[SET]

    def wait_answer(self, value, timeout, max_ttl=None, min_ttl=None):
        def ok():
            values, ttl = dig(self.port)
            if values != [value]:
                return None
            if max_ttl is not None and ttl > max_ttl:
                return None
            if min_ttl is not None and ttl < min_ttl:
                return None
            return ttl
        try:
            return wait_until(ok, timeout=timeout, interval=0.05, what=f"answer {value}")
        except AssertionError as e:
            raise AssertionError(f"{e}; last answer {dig(self.port)}\n{self.d.logs()}")

    def assert_answer_holds(self, value, seconds):
        """The answer stays `value` for the whole window (polled, not slept through)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            values, _ = dig(self.port)
            self.assertEqual(values, [value], self.d.logs())
            time.sleep(0.1)

    def test_auto_failover_actions_and_failback(self):
        self.write_config("auto")
        self.start()
        # Every check probed healthy first: with primary-db still unknown the cause below
        # would count 0 of 2 healthy children instead of 1 (seen on a loaded machine).
        self.wait_checks_healthy()
        self.assertEqual(dig(self.port), ([PRIMARY], 60))
        self.assertEqual(self.status()["phase"], "normal")

        # The primary dies: 2 failed 1 s probes, then the answer moves with the lower TTL.
        t0 = time.monotonic()
        self.primary.kill()
        ttl = self.wait_answer(SECONDARY, timeout=10, max_ttl=30)
        moved = time.monotonic() - t0
        self.assertLessEqual(ttl, 30)
        self.assertLess(moved, 10)
        st = self.status()
        self.assertEqual(st["phase"], "failed_over")
        self.assertEqual(st["active_tier"], 2)

        # The runbook's actions: the webhook got the event as JSON, the command ran with the
        # event in its environment.
        wait_until(lambda: any(p.startswith("/scale") for p, _ in self.hooks.received),
                   timeout=10, what="on_failover webhook")
        path, body = [r for r in self.hooks.received if r[0].startswith("/scale")][0]
        self.assertEqual(path, "/scale?deployment=app-dr&replicas=6")
        self.assertEqual(body["event"], "failover")
        self.assertEqual(body["set"], SET)
        self.assertEqual((body["from_tier"], body["to_tier"]), (1, 2))
        # The cause names the member's check, where its status came from, and why.
        self.assertIn("check primary-region unhealthy (calculated): 1 of 2 children healthy",
                      body["cause"])
        self.assertIn("tier 2 healthy", body["cause"])
        wait_until(lambda: os.path.exists(self.marker), timeout=10, what="exec action")
        with open(self.marker) as f:
            self.assertEqual(f.read(), f"failover {SET} 1 2\n")

        # explain names the tier and where the health came from.
        ex = json.loads(self.cli("explain", "app.example.test", "A", "--json").stdout)
        self.assertEqual(ex["tier_chosen"], 2)
        self.assertEqual(ex["answer"]["values"], [SECONDARY])
        primary = [m for m in ex["members"] if m["set_id"] == "app-primary"][0]
        self.assertFalse(primary["healthy"])
        self.assertEqual(primary["check"]["id"], "primary-region")
        self.assertEqual(primary["check"]["source"], "calculated")
        self.assertEqual(primary["check"]["spec"]["kind"], "calculated")
        self.assertEqual(primary["check"]["spec"]["healthy_threshold"], 2)
        self.assertEqual(ex["orchestration"]["phase"], "failed_over")
        text = self.cli("explain", "app.example.test", "A").stdout
        self.assertIn("tier chosen: 2", text)
        self.assertIn("health source: calculated", text)

        # The primary comes back: failback after stabilize (2 s), and the TTL returns to 60.
        self.primary.start()
        self.wait_answer(PRIMARY, timeout=20, min_ttl=60)
        self.assertEqual(self.status()["phase"], "normal")
        wait_until(lambda: any(p == "/failback" for p, _ in self.hooks.received),
                   timeout=10, what="on_failback webhook")

        # Every transition and action result is an event.
        ev = json.loads(self.cli("events", "--last", "50", "--json").stdout)
        types = [e["type"] for e in ev["events"]]
        for t in ("failover", "failback", "action_succeeded"):
            self.assertIn(t, types)
        self.assertEqual(ev["source"], "sqlite:steerdns.db [events]")
        text = self.cli("events").stdout
        self.assertIn("failover", text)
        self.assertIn("tier 1 -> 2", text)

    def test_manual_failback_waits_for_approval_across_restart(self):
        self.write_config("manual")
        self.start()
        self.assertEqual(dig(self.port)[0], [PRIMARY])
        self.primary.kill()
        self.wait_answer(SECONDARY, timeout=10, max_ttl=30)
        self.primary.start()
        wait_until(lambda: self.status()["awaiting_approval"], timeout=15,
                   what="awaiting approval")
        self.assert_answer_holds(SECONDARY, 3)
        human = self.cli("status").stdout
        self.assertIn("awaiting-approval", human)

        # A restart keeps the hold (the store's steering state).
        self.d.stop()
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "steerdns.db")))
        self.start()
        self.assertEqual(dig(self.port)[0], [SECONDARY])
        wait_until(lambda: self.status()["awaiting_approval"], timeout=15,
                   what="awaiting approval after restart")
        self.assert_answer_holds(SECONDARY, 2)

        # Approval errors are clear; then the operator approves and traffic returns.
        bad = self.cli("failback", "approve", "nope.example.test", "--author", "alice",
                       check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no steered record set", bad.stderr)
        out = self.cli("failback", "approve", "app.example.test/A", "--author", "alice").stdout
        self.assertIn("approved by alice", out)
        self.wait_answer(PRIMARY, timeout=5, min_ttl=60)
        ev = json.loads(self.cli("events", "--last", "20", "--json").stdout)["events"]
        approved = [e for e in ev if e["type"] == "failback_approved"]
        self.assertEqual(approved[-1]["actor"], "alice")

    def test_override_with_expiry_and_simulate(self):
        self.write_config("auto")
        self.start()
        # Probes have run once the check is healthy by probe (not just "unknown").
        wait_until(lambda: json.loads(self.cli("health", "--json").stdout)["checks"][0]["status"]
                   == "healthy", timeout=10, what="primary-app healthy")
        self.assertEqual(dig(self.port)[0], [PRIMARY])

        # simulate shows the move and changes nothing.
        sim = json.loads(self.cli("simulate", "--down", "primary-region", "--json").stdout)
        s = [x for x in sim["sets"] if x["set"] == SET][0]
        self.assertTrue(s["changed"])
        self.assertEqual(s["before"]["values"], [PRIMARY])
        self.assertEqual(s["after"]["values"], [SECONDARY])
        self.assertEqual(s["after_tier"], 2)
        self.assertIn("CHANGED", self.cli("simulate", "--down", "primary-region").stdout)
        self.assertEqual(dig(self.port), ([PRIMARY], 60))
        self.assertEqual(self.status()["phase"], "normal")
        bad = self.cli("simulate", "--down", "no-such-check", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no health check 'no-such-check'", bad.stderr)

        # Bad overrides are refused with the reason and change nothing.
        bad = self.cli("override", "set", "--check", "primary-app", "--action", "down",
                       "--reason", "x", "--author", "bob", "--expires", "soon", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--expires 'soon'", bad.stderr)
        bad = self.cli("override", "set", "--member", "app.example.test/A#nope", "--action",
                       "down", "--reason", "x", "--author", "bob", "--expires", "1m", check=False)
        self.assertIn("has no member 'nope'", bad.stderr)
        self.assertEqual(json.loads(self.cli("override", "list", "--json").stdout)["overrides"],
                         [])

        # Force the primary's check down for 4 s: the answer moves at once, and back after the
        # override expires (and the primary has been healthy for stabilize).
        out = self.cli("override", "set", "--check", "primary-region", "--action", "down",
                       "--reason", "maintenance", "--author", "bob", "--expires", "4s").stdout
        self.assertIn("forced down by bob (maintenance)", out)
        self.wait_answer(SECONDARY, timeout=2, max_ttl=30)
        st = self.status()
        self.assertEqual(st["phase"], "failed_over")
        self.assertEqual(st["overrides"][0]["target"], "primary-region")
        self.assertEqual(st["overrides"][0]["author"], "bob")
        ex = json.loads(self.cli("explain", "app.example.test", "A", "--json").stdout)
        primary = [m for m in ex["members"] if m["set_id"] == "app-primary"][0]
        self.assertFalse(primary["healthy"])
        self.wait_answer(PRIMARY, timeout=20, min_ttl=60)
        types = [e["type"] for e in
                 json.loads(self.cli("events", "--json").stdout)["events"]]
        self.assertIn("override_set", types)
        self.assertIn("override_expired", types)

    def wait_checks_healthy(self):
        def healthy():
            checks = json.loads(self.cli("health", "--json").stdout)["checks"]
            return all(c["status"] == "healthy" for c in checks)
        wait_until(healthy, timeout=10, what="every check healthy by probe")

    def test_forcing_a_child_of_the_calculated_check_fails_over(self):
        # primary-region needs both primary-app and primary-db: forcing the direct child
        # primary-app down takes the calculated parent down, and the answer moves.
        self.write_config("auto")
        self.start()
        self.wait_checks_healthy()
        self.assertEqual(dig(self.port), ([PRIMARY], 60))

        sim = json.loads(self.cli("simulate", "--down", "primary-app", "--json").stdout)
        s = [x for x in sim["sets"] if x["set"] == SET][0]
        self.assertTrue(s["changed"], sim)
        self.assertEqual(s["after"]["values"], [SECONDARY])
        self.assertEqual(s["after_tier"], 2)
        self.assertEqual(dig(self.port), ([PRIMARY], 60))  # simulate changed nothing

        self.cli("override", "set", "--check", "primary-app", "--action", "down", "--reason",
                 "drill", "--author", "carol", "--expires", "10m")
        self.wait_answer(SECONDARY, timeout=3, max_ttl=30)
        st = self.status()
        self.assertEqual(st["phase"], "failed_over")
        self.assertEqual([o["target"] for o in st["overrides"]], ["primary-app"])

        ex = json.loads(self.cli("explain", "app.example.test", "A", "--json").stdout)
        primary = [m for m in ex["members"] if m["set_id"] == "app-primary"][0]
        self.assertFalse(primary["healthy"])
        self.assertEqual(primary["check"]["id"], "primary-region")
        self.assertEqual(primary["check"]["source"], "override")
        self.assertIn("child 'primary-app' is unhealthy (override)", primary["why"])
        self.assertEqual([o["target"] for o in ex["overrides"]], ["primary-app"])

        ev = json.loads(self.cli("events", "--json").stdout)["events"]
        failover = [e for e in ev if e["type"] == "failover"]
        self.assertEqual(len(failover), 1, ev)
        self.assertTrue(failover[0]["cause"].startswith(
            "check primary-region unhealthy (override): 1 of 2 children healthy, need 2; "
            "child 'primary-app' is unhealthy (override)"), failover[0]["cause"])
        self.assertTrue(failover[0]["cause"].endswith("; tier 2 healthy"), failover[0]["cause"])

        # Cleared: the probes say healthy again, and the answer returns after stabilize.
        self.cli("override", "clear", "--check", "primary-app", "--author", "carol")
        self.wait_answer(PRIMARY, timeout=20, min_ttl=60)


if __name__ == "__main__":
    unittest.main()
