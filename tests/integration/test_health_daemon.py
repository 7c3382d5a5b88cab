#!/usr/bin/python3
"""Health checks inside `steerdns serve`: an http check against a loopback server that is
killed and restarted (down with "connection refused" within a bound, then back), a tcp check,
an external check set with `steerdns health set`, a calculated check over them, the table and
JSON of `steerdns health`, transition log lines, persisted state used after a restart, and a
reload whose bad health section changes nothing (zones and checks stay as they were).

Every wait polls `steerdns health --json` with a deadline. Run by ctest (STEERDNS_BIN).
"""
import json
import os
import shutil
import subprocess
import tempfile
import sqlite3
import threading
import time
import unittest

from health_servers import Handler, HTTPServer, PongHandler, TCPServer
from test_transport import ORIGIN, Steerdns, query, steerdns_bin, wait_until

CONFIG = """\
server:
  control_socket: {control}
  health_state_file: state/health.json
  checker_id: itest-1
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: {serial} }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
health_checks:
  - id: web
    url: http://127.0.0.1:{http_port}/ok
    interval: 1s
    failure_threshold: 3
  - id: redis
    type: tcp
    host: 127.0.0.1
    port: {tcp_port}
    send: "PING\\r\\n"
    expect: PONG
    interval: 1s
  - {{ id: lag, type: external }}
  - {{ id: site, type: calculated, children: [{children}], healthy_threshold: {need} }}
{extra}"""


class LoopbackHttp:
    """The health_servers.py HTTP handler on a fixed port, so it can be killed (connection
    refused) and started again on the same port."""

    def __init__(self, port=0):
        self.srv = HTTPServer(("127.0.0.1", port), Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def kill(self):
        self.srv.shutdown()
        self.srv.server_close()


class HealthDaemonTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-health-")
        os.mkdir(os.path.join(self.tmp, "state"))
        self.control = os.path.join(self.tmp, "control.sock")
        self.config = os.path.join(self.tmp, "steerdns.yaml")
        self.http = LoopbackHttp()
        self.pong = TCPServer(("127.0.0.1", 0), PongHandler)
        threading.Thread(target=self.pong.serve_forever, daemon=True).start()
        self.write_config()
        self.d = None

    def tearDown(self):
        if self.d:
            self.d.stop()
        self.http.kill()
        self.pong.shutdown()
        self.pong.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_config(self, serial=1, children="web, redis, lag", need=3, extra=""):
        with open(self.config, "w") as f:
            f.write(CONFIG.format(control=self.control, serial=serial, http_port=self.http.port,
                                  tcp_port=self.pong.server_address[1], children=children,
                                  need=need, extra=extra))

    def start(self):
        self.d = Steerdns(["--config", self.config, "--threads", "1"], workdir=self.tmp)

    def cli(self, *args, check=True):
        p = subprocess.run([steerdns_bin(), "health", *args, "--control", self.control],
                           capture_output=True, text=True, timeout=10)
        if check and p.returncode != 0:
            raise AssertionError(f"steerdns health {args} failed: {p.stderr}\n{self.d.logs()}")
        return p

    def report(self):
        return json.loads(self.cli("--json").stdout)

    def checks(self):
        return {c["id"]: c for c in self.report()["checks"]}

    def wait_check(self, cid, timeout=10, **want):
        def match():
            c = self.checks()[cid]
            return c if all(c.get(k) == v for k, v in want.items()) else None
        return wait_until(match, timeout=timeout, interval=0.02, what=f"check {cid} {want}")

    def serial(self):
        return query(ORIGIN, "SOA", port=self.d.port, timeout=1).answer[0][0].serial

    def test_checks_in_the_daemon(self):
        self.start()
        r = self.report()
        self.assertEqual(r["checker_id"], "itest-1")
        self.assertEqual(r["state_file"], "sqlite:steerdns.db [health]")
        self.assertEqual([c["id"] for c in r["checks"]], ["lag", "redis", "site", "web"])

        # Probing starts with the daemon, before any query needs it.
        web = self.wait_check("web", status="healthy", source="probe")
        self.assertIsNone(web["last_failure_reason"])
        self.assertEqual(web["recent"][-1]["http_status"], 200)
        self.assertIsNotNone(web["recent"][-1]["timings"]["total_ms"])
        self.assertEqual(web["checkers"][0]["checker"], "itest-1")
        self.wait_check("redis", status="healthy")

        # External check: set through the CLI; the calculated one follows its children.
        self.assertNotEqual(self.checks()["site"]["status"], "healthy")
        out = self.cli("set", "lag", "healthy", "--reason", "lag 3s").stdout
        self.assertIn("health check 'lag' set healthy", out)
        lag = self.wait_check("lag", status="healthy", source="external")
        self.assertEqual(lag["recent"][-1]["reason"], "lag 3s")
        self.wait_check("site", status="healthy", source="calculated")

        # The human table: one line per check with its status and checker view.
        table = self.cli().stdout
        self.assertIn("checker itest-1: 4 checks, 4 healthy, 0 unhealthy, 0 unknown", table)
        lines = {line.split()[0]: line for line in table.splitlines()[1:]}
        self.assertIn("STATUS", lines["ID"])
        self.assertRegex(lines["web"], r"^web\s+http\s+healthy\s+probe\s+\d+s ago\s+\d+/0")
        self.assertIn("itest-1=healthy", lines["web"])
        only = self.cli("web", "--json").stdout
        self.assertEqual([c["id"] for c in json.loads(only)["checks"]], ["web"])
        bad = self.cli("nosuch", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no such health check: 'nosuch'", bad.stderr)
        bad = self.cli("set", "web", "unhealthy", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("only external checks can be set", bad.stderr)

        # Kill the backend: down with "connection refused" after 3 failures, fast-confirmed.
        t0 = time.monotonic()
        self.http.kill()
        web = self.wait_check("web", timeout=5, status="unhealthy")
        took = time.monotonic() - t0
        self.assertLess(took, 3.0, "interval/2 + 2 x recheck should be well under 3 s")
        self.assertEqual(web["last_failure_reason"], "connection refused")
        self.assertEqual(web["consecutive_fail"], 3)
        self.wait_check("site", status="unhealthy")
        wait_until(lambda: "health: check 'web' healthy -> unhealthy: 3 consecutive failures: "
                   "connection refused" in self.d.logs(), what="the transition log line")
        self.assertIn("health: check 'site' healthy -> unhealthy", self.d.logs())

        # Back on the same port: healthy again after 2 successes.
        self.http = LoopbackHttp(self.http.port)
        self.wait_check("web", timeout=5, status="healthy")
        self.wait_check("site", status="healthy")

        out = self.cli("set", "lag", "unhealthy", "--reason", "replication lag 7m").stdout
        self.assertIn("set unhealthy", out)
        lag = self.wait_check("lag", status="unhealthy")
        self.assertEqual(lag["last_failure_reason"], "replication lag 7m")
        web_transitions = self.checks()["web"]["transitions"]
        self.assertGreaterEqual(web_transitions, 3)

        # SIGTERM persists the state; a restart starts from it.
        self.assertEqual(self.d.stop(), 0, self.d.logs())
        self.assertIn("health: state saved to", self.d.logs())
        # The state is in the store (the daemon's working directory's steerdns.db).
        with sqlite3.connect(os.path.join(self.tmp, "steerdns.db")) as db:
            saved = db.execute("SELECT value FROM state WHERE key = 'health'").fetchone()[0]
        self.assertIn("replication lag 7m", saved)
        self.start()
        first = self.checks()
        self.assertEqual(first["lag"]["status"], "unhealthy")
        self.assertEqual(first["lag"]["source"], "persisted")
        self.assertEqual(first["lag"]["last_failure_reason"], "replication lag 7m")
        self.assertIn(first["web"]["source"], ("persisted", "probe"))
        self.assertEqual(first["web"]["status"], "healthy")
        self.assertGreaterEqual(first["web"]["transitions"], web_transitions,
                                "the transition count comes from the state file")
        self.wait_check("web", status="healthy", source="probe")

    def test_reload_with_bad_health_section_changes_nothing(self):
        self.start()
        self.wait_check("web", status="healthy")
        self.assertEqual(self.serial(), 1)

        # New zone serial AND a broken check list: the reload fails as a whole.
        self.write_config(serial=2, children="web, redis, lgx")
        p = subprocess.run([steerdns_bin(), "reload", "--control", self.control],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stderr, r"steerdns\.yaml:\d+: health check 'site': children: "
                         r"unknown check 'lgx'")
        self.assertEqual(self.serial(), 1, "zones must not change when checks are invalid")
        self.assertEqual(list(self.checks()), ["lag", "redis", "site", "web"])
        self.assertEqual(self.checks()["web"]["status"], "healthy")

        # A good reload applies both: zones and a changed check list, unchanged checks keep state.
        before = self.checks()["web"]
        self.write_config(serial=3, children="web, redis", need=2,
                          extra="  - { id: web2, url: \"http://127.0.0.1:%d/status/503\", "
                                "interval: 1s }\n" % self.http.port)
        p = subprocess.run([steerdns_bin(), "reload", "--control", self.control],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("5 health checks", p.stdout)
        self.assertEqual(self.serial(), 3)
        after = self.checks()
        self.assertEqual(list(after), ["lag", "redis", "site", "web", "web2"])
        self.assertEqual(after["web"]["status"], "healthy")
        self.assertEqual(after["web"]["since_ms"], before["since_ms"], "web kept its state")
        self.wait_check("site", status="healthy")
        web2 = self.wait_check("web2", status="unhealthy")
        self.assertIn("503", web2["last_failure_reason"])


if __name__ == "__main__":
    unittest.main()
