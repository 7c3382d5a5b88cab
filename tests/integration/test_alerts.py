#!/usr/bin/python3
"""Alert routing end to end: a real daemon with real HTTP backends, the four channel kinds
against local receivers started here (generic webhook, Slack incoming-webhook format, a
PagerDuty Events API v2 stand-in, an SMTP sink speaking real SMTP to libcurl), repeat and
escalation, acknowledgement by the CLI, resolve on failback; the durable outbox across kill -9
(a receiver that is down, and one that takes the request and never answers); availability
(SLO) through /v1/slo, /metrics and the slo_below alert; and `steerdns status` exiting 3 while
something needs attention and 0 when all is clear.

Every wait polls with a deadline. Run by ctest (STEERDNS_BIN).
"""
import http.server
import json
import os
import shutil
import signal
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from harness import free_port
from test_failover import Backend
from test_transport import Steerdns, steerdns_bin, wait_until

PRIMARY = "192.0.2.10"
SECONDARY = "198.51.100.10"
SET = "app.example.test./A"

CONFIG = """\
server:
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
        failback: auto
        stabilize: 1s
        min_state: 1s
        members:
          - {{ set_id: app-primary, role: primary, values: [{primary}], health_check: primary-app }}
          - {{ set_id: app-secondary, role: secondary, values: [{secondary}], health_check: secondary-app }}
health_checks:
  - {{ id: primary-app, url: "http://127.0.0.1:{primary_port}/ok", interval: 1s, timeout: 500ms, failure_threshold: 1, success_threshold: 1 }}
  - {{ id: secondary-app, url: "http://127.0.0.1:{secondary_port}/ok", interval: 1s, timeout: 500ms, failure_threshold: 1, success_threshold: 1 }}
alerts:
  retry: {{ min: 200ms, max: 1s }}
  routes:
    - {{ events: [check_unhealthy], severity: warning }}
    - {{ events: [failover, all_down], severity: critical }}
    - {{ events: [slo_below], severity: emergency }}
    - {{ events: [failback], severity: info }}
  severities:
    info:      {{ channels: [slack] }}
    warning:   {{ channels: [slack, mail] }}
    critical:  {{ channels: [{critical}], repeat: {repeat}, escalate_after: {escalate} }}
    emergency: {{ channels: [pagerduty-high, hook] }}
  channels:
    slack:          {{ type: slack, url: "http://127.0.0.1:{recv}/hooks/slack" }}
    hook:           {{ type: webhook, url: "{hook_url}", headers: {{ X-Team: sre }}, timeout: {hook_timeout} }}
    pagerduty:      {{ type: pagerduty, routing_key_env: STEERDNS_TEST_PD_KEY, url: "http://127.0.0.1:{recv}/v2/enqueue" }}
    pagerduty-high: {{ type: pagerduty, routing_key: high-key, url: "http://127.0.0.1:{recv}/v2/enqueue" }}
    mail:           {{ type: smtp, url: "smtp://127.0.0.1:{smtp}", from: steerdns@example.test, to: [oncall@example.test] }}
slo:
  default: {{ objective: 99.9, alert_below: 99, alert_window: 1m }}
"""


class Receiver(http.server.ThreadingHTTPServer):
    """Records every POST as (path, headers, json body). PagerDuty's path answers 202 like
    the Events API v2; `hold` makes requests wait (never answered while set)."""
    daemon_threads = True

    def __init__(self, port=0):
        self.received = []
        self.hold = threading.Event()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), ReceiverHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def bodies(self, path_prefix):
        with self.lock:
            return [b for p, h, b in self.received if p.startswith(path_prefix)]

    def stop(self):
        self.hold.clear()
        self.shutdown()
        self.server_close()


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        with self.server.lock:
            self.server.received.append((self.path, dict(self.headers), body))
        if self.server.hold.is_set():
            # Took the request, never answers: the sender's timeout or death ends it.
            while self.server.hold.is_set():
                time.sleep(0.05)
            return
        if self.path.startswith("/v2/enqueue"):
            reply = json.dumps({"status": "success", "dedup_key": body.get("dedup_key")}).encode()
            self.send_response(202)
        else:
            reply = b"ok"
            self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class SmtpSink(socketserver.ThreadingTCPServer):
    """A minimal SMTP server (RFC 5321 subset libcurl uses): records (from, rcpts, message)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.mails = []
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 sink ESMTP")
        mail_from, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode(errors="replace").strip()
            up = cmd.upper()
            if up.startswith("EHLO") or up.startswith("HELO"):
                self.reply("250 sink")
            elif up.startswith("MAIL FROM:"):
                mail_from, rcpts = cmd[10:].strip(), []
                self.reply("250 ok")
            elif up.startswith("RCPT TO:"):
                rcpts.append(cmd[8:].strip())
                self.reply("250 ok")
            elif up == "DATA":
                self.reply("354 go ahead")
                data = []
                while True:
                    l = self.rfile.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    data.append(l.decode(errors="replace"))
                self.server.mails.append((mail_from, rcpts, "".join(data)))
                self.reply("250 queued")
            elif up == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


def api_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        body = r.read().decode()
        return json.loads(body) if r.headers.get_content_type() == "application/json" else body


class AlertsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-alerts-")
        os.mkdir(os.path.join(self.tmp, "state"))
        self.config = os.path.join(self.tmp, "steerdns.yaml")
        self.primary = Backend()
        self.secondary = Backend()
        self.recv = Receiver()
        self.smtp = SmtpSink()
        self.api_port = free_port()
        self.d = None
        self.port = None
        os.environ["STEERDNS_TEST_PD_KEY"] = "routing-key-1"

    def tearDown(self):
        if self.d:
            self.d.stop()
        for b in (self.primary, self.secondary):
            try:
                b.kill()
            except OSError:
                pass
        self.recv.stop()
        self.smtp.shutdown()
        self.smtp.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_config(self, hook_url=None, repeat="2s", escalate="5s",
                     critical="pagerduty, hook", hook_timeout="2s"):
        with open(self.config, "w") as f:
            f.write(CONFIG.format(primary=PRIMARY, secondary=SECONDARY,
                                  primary_port=self.primary.port,
                                  secondary_port=self.secondary.port,
                                  recv=self.recv.server_address[1],
                                  smtp=self.smtp.server_address[1],
                                  hook_url=hook_url or
                                  f"http://127.0.0.1:{self.recv.server_address[1]}/generic",
                                  repeat=repeat, escalate=escalate, critical=critical,
                                  hook_timeout=hook_timeout))

    def start(self):
        self.d = Steerdns(["--config", self.config, "--threads", "1",
                           "--api-listen", f"127.0.0.1:{self.api_port}",
                           "--store", f"sqlite:{self.tmp}/steerdns.db"],
                          port=self.port, listen6=False, workdir=self.tmp)
        self.port = self.d.port
        wait_until(lambda: self.api("/v1/alerts") is not None, timeout=10, what="the API")

    def api(self, path):
        try:
            return api_get(self.api_port, path)
        except OSError:
            return None

    def cli(self, *args, check=True):
        p = subprocess.run([steerdns_bin(), *args, "--api", f"http://127.0.0.1:{self.api_port}"],
                           capture_output=True, text=True, timeout=30)
        if check and p.returncode != 0:
            raise AssertionError(f"steerdns {args} failed ({p.returncode}): {p.stdout}{p.stderr}\n"
                                 f"{self.d.logs() if self.d else ''}")
        return p

    def pd(self, action=None, key=None):
        out = self.recv.bodies("/v2/enqueue")
        return [b for b in out if (action is None or b["event_action"] == action) and
                (key is None or b["routing_key"] == key)]

    def open_alert(self, event):
        for a in self.api("/v1/alerts")["alerts"]:
            if a["event"] == event:
                return a
        return None

    def test_channels_repeat_escalate_ack_resolve_status(self):
        self.write_config()
        self.start()
        wait_until(lambda: self.cli("status", check=False).returncode == 0, timeout=15,
                   what="status all clear at start")
        self.primary.kill()
        # check_unhealthy (warning): Slack and email.
        slack = wait_until(lambda: [b for b in self.recv.bodies("/hooks/slack")
                                    if "check_unhealthy primary-app" in b["text"]],
                           timeout=10, what="the Slack message")
        self.assertTrue(slack[0]["text"].startswith("[WARNING] check_unhealthy primary-app"))
        mail = wait_until(lambda: self.smtp.mails, timeout=10, what="the email")
        self.assertEqual(mail[0][1], ["<oncall@example.test>"])
        self.assertIn("Subject: [WARNING] check_unhealthy primary-app", mail[0][2])
        # failover (critical): PagerDuty trigger with the alert id as dedup key, and the webhook.
        trig = wait_until(lambda: self.pd("trigger", "routing-key-1"), timeout=10,
                          what="the PagerDuty trigger")
        alert = self.open_alert("failover")
        self.assertEqual(trig[0]["dedup_key"], alert["id"])
        self.assertEqual(trig[0]["payload"]["severity"], "critical")
        self.assertEqual(trig[0]["payload"]["component"], SET)
        hooks = wait_until(lambda: [b for b in self.recv.bodies("/generic")
                                    if b["alert"]["event"] == "failover"], timeout=10,
                           what="the webhook")
        self.assertEqual(hooks[0]["kind"], "trigger")
        headers = [h for p, h, b in self.recv.received if p == "/generic"][0]
        self.assertEqual(headers.get("X-Team"), "sre")
        self.assertEqual(headers.get("X-Steerdns-Dedup-Key"), hooks[0]["dedup_key"])
        # Status needs attention while failed over.
        st = self.cli("status", check=False)
        self.assertEqual(st.returncode, 3, st.stdout + st.stderr)
        self.assertIn("NEEDS ATTENTION", st.stdout)
        self.assertIn(f"{SET} is failed over (tier 2)", st.stdout)
        self.assertIn(SECONDARY, st.stdout)  # the answer now
        # Unacknowledged: repeats every 2 s, then escalates to emergency at 5 s.
        wait_until(lambda: len(self.pd("trigger", "routing-key-1")) >= 2, timeout=10,
                   what="a repeat")
        esc = wait_until(lambda: self.pd("trigger", "high-key"), timeout=15, what="escalation")
        self.assertEqual(esc[0]["dedup_key"], alert["id"])
        self.assertTrue(esc[0]["payload"]["summary"].startswith("[EMERGENCY] escalated: failover"))
        self.assertEqual(self.open_alert("failover")["severity"], "emergency")
        # An acknowledgement without a reason is refused and changes nothing.
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}/v1/alerts/{alert['id']}/ack", data=b"{}",
            method="POST", headers={"Content-Type": "application/json"})
        with self.assertRaises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(refused.exception.code, 400)
        self.assertIn("reason", refused.exception.read().decode())
        self.assertEqual(self.open_alert("failover")["state"], "open")
        # Acknowledge by the CLI: PagerDuty hears it, repeats stop.
        out = self.cli("alerts", "ack", alert["id"], "--reason", "oncall is on it")
        self.assertIn("acknowledged " + alert["id"], out.stdout)
        wait_until(lambda: self.pd("acknowledge"), timeout=10, what="the PagerDuty acknowledge")
        n = len(self.pd("trigger"))
        t_end = time.time() + 3  # more than one repeat interval: no repeat may come
        while time.time() < t_end:
            self.assertEqual(len(self.pd("trigger")), n, "a repeat after the acknowledgement")
            time.sleep(0.2)
        bad = self.cli("alerts", "ack", "Anosuch", "--reason", "x", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no open alert 'Anosuch'", bad.stderr)
        # Failback: the incident resolves with the same dedup key; `failback` info to Slack.
        self.primary.start()
        res = wait_until(lambda: [b for b in self.pd("resolve") if b["dedup_key"] == alert["id"]],
                         timeout=20, what="the PagerDuty resolve")
        self.assertGreaterEqual(len(res), 1)
        wait_until(lambda: [b for b in self.recv.bodies("/hooks/slack")
                            if b["text"].startswith(f"[INFO] failback {SET}")], timeout=10,
                   what="the failback notice")
        wait_until(lambda: self.api("/v1/alerts")["alerts"] == [], timeout=10,
                   what="no open alerts")
        # Everything in the outbox delivered, with its history.
        ob = self.api("/v1/alerts/outbox?limit=1000")["outbox"]
        self.assertTrue(ob)
        self.assertEqual({r["status"] for r in ob}, {"delivered"}, ob)
        wait_until(lambda: self.cli("status", check=False).returncode == 0, timeout=15,
                   what="status all clear")
        # The outbox figures are read off the scrape path, at most every 5 s.
        wait_until(lambda: 'steerdns_outbox_depth{status="pending"} 0'
                   in api_get(self.api_port, "/metrics"), timeout=15,
                   what="the outbox depth metric at 0")
        metrics = api_get(self.api_port, "/metrics")
        self.assertIn('steerdns_notifications_total{channel="pagerduty",result="delivered"}',
                      metrics)
        self.assertIn('steerdns_slo_availability_ratio{name="app.example.test.",window="1h"}',
                      metrics)

    def test_outbox_survives_kill_9(self):
        # The webhook receiver takes the request and never answers; the daemon is killed mid-send.
        hung = Receiver()
        hung.hold.set()
        hook_port = hung.server_address[1]
        self.write_config(hook_url=f"http://127.0.0.1:{hook_port}/hook")
        self.start()
        self.primary.kill()
        first = wait_until(lambda: [b for b in hung.bodies("/hook")
                                    if b["alert"]["event"] == "failover"], timeout=15,
                           what="the webhook request (unanswered)")
        key = first[0]["dedup_key"]
        row = [r for r in self.api("/v1/alerts/outbox?limit=1000")["outbox"]
               if r["dedup_key"] == key][0]
        self.assertEqual(row["status"], "pending")
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait(timeout=10)
        hung.stop()
        # The receiver is down while the daemon comes back: attempts fail and are retried.
        self.d = None
        self.start()
        wait_until(lambda: [r for r in self.api("/v1/alerts/outbox?limit=1000")["outbox"]
                            if r["dedup_key"] == key and r["attempts"] >= 1
                            and r["status"] == "pending"],
                   timeout=15, what="a failed retry after the restart")
        back = Receiver(port=hook_port)
        try:
            again = wait_until(lambda: [b for b in back.bodies("/hook") if b["dedup_key"] == key],
                               timeout=20, what="the same notification delivered after restart")
            self.assertEqual(again[0]["alert"]["event"], "failover")
            row = wait_until(lambda: [r for r in self.api("/v1/alerts/outbox?limit=1000")["outbox"]
                                      if r["dedup_key"] == key and r["status"] == "delivered"],
                             timeout=10, what="the row delivered")[0]
            self.assertFalse(row["history"][0]["ok"])
            self.assertTrue(row["history"][-1]["ok"])
            # The failover alert was not opened twice across the restart.
            alerts = self.api("/v1/alerts?all=1")["alerts"]
            self.assertEqual(len([a for a in alerts if a["event"] == "failover"]), 1)
        finally:
            back.stop()

    def test_a_hanging_channel_does_not_hold_back_the_page(self):
        # The webhook comes first for critical and its receiver never answers (timeout 8s): the
        # page goes out at once all the same, and the daemon stops without waiting for it.
        hung = Receiver()
        hung.hold.set()
        self.write_config(hook_url=f"http://127.0.0.1:{hung.server_address[1]}/hook",
                          critical="hook, pagerduty", hook_timeout="8s", repeat="1h",
                          escalate="1h")
        try:
            self.start()
            self.primary.kill()
            wait_until(lambda: [b for b in hung.bodies("/hook")
                                if b["alert"]["event"] == "failover"], timeout=15,
                       what="the webhook request (unanswered)")
            held = time.monotonic()
            wait_until(lambda: self.pd("trigger"), timeout=4,
                       what="the PagerDuty trigger while the webhook hangs")
            self.assertLess(time.monotonic() - held, 4)
            hook = [r for r in self.api("/v1/alerts/outbox?limit=1000")["outbox"]
                    if r["channel"] == "hook"]
            self.assertEqual([r["attempts"] for r in hook], [0])  # still in its first send
            t0 = time.monotonic()
            self.assertEqual(self.d.stop(), 0)
            self.assertLess(time.monotonic() - t0, 4, "stop waited for the hanging webhook")
        finally:
            hung.stop()

    def test_slo_below_alerts_and_is_reported(self):
        self.write_config(repeat="1h", escalate="1h")
        self.start()
        # Both down: no healthy answer; the 1-minute window falls below 99 % within seconds.
        self.primary.kill()
        self.secondary.kill()
        wait_until(lambda: self.open_alert("all_down"), timeout=15, what="all_down")
        slo = wait_until(lambda: self.open_alert("slo_below"), timeout=15, what="slo_below")
        self.assertEqual(slo["severity"], "emergency")
        self.assertEqual(slo["target"], "app.example.test.")
        report = self.api("/v1/slo")["names"]
        app = [n for n in report if n["name"] == "app.example.test."][0]
        self.assertEqual(app["objective"], 99.9)
        self.assertFalse(app["healthy"])
        self.assertLess(app["windows"]["1h"]["availability"], 0.99)
        self.assertLess(app["windows"]["1h"]["budget_left"], 0)
        self.assertEqual(app["sets"], [SET])
        wait_until(lambda: self.pd("trigger", "high-key"), timeout=10, what="the emergency page")
        st = self.cli("status", check=False)
        self.assertEqual(st.returncode, 3)
        self.assertIn("AVAILABILITY", st.stdout)
        self.assertIn("app.example.test.", st.stdout)
        # The history survives a restart (saved in the store on stop).
        before = app["windows"]["1h"]["unhealthy_s"]
        self.d.stop()
        self.d = None
        self.start()
        after = wait_until(lambda: [n for n in self.api("/v1/slo")["names"]
                                    if n["name"] == "app.example.test."], timeout=10,
                           what="the SLO report after restart")[0]
        self.assertGreaterEqual(after["windows"]["1h"]["unhealthy_s"], before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
