#!/usr/bin/python3
"""The web dashboard (docs/dashboard.md) in headless Chromium, driven by chromedriver through
python3-selenium, against the real daemon with real HTTP backends on loopback and `dig`:

- the asset routes without a browser: /dashboard redirects, index.html / app.js / style.css
  with their content types, no-cache and a self-only Content-Security-Policy, public even with
  tokens configured; /dashboard/whoami needs a token and tells read-only from read-write;
- the page loads with a read-write token: checks healthy with a latency sparkline, the
  failover set on tier 1 with the primary's answer;
- the primary backend is killed: the page shows the failover (tier 2, the secondary's answer,
  the event in the timeline) within seconds of the daemon detecting it; its alert is
  acknowledged with the page's Ack button (reason required);
- the primary comes back: the page shows "awaiting approval" (failback: manual); the approve
  button fails back, and the page and `dig` give the primary again;
- the manual failover form refuses a missing reason (nothing sent), then fails over with a
  reason and expiry (page and dig), and the fail-back button plus approval undo it;
- with the read-only token the override button shows the API's 403 and changes nothing;
- only the daemon's origin was ever fetched (performance log and resource timing);
- without any token configured the page works for a loopback client with no token.

Skipped when chromium, chromedriver or selenium are missing. Run by ctest (STEERDNS_BIN).
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import env_vars, free_port, steerdns, wait_until
from health_servers import Handler, HTTPServer

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

PRIMARY = "192.0.2.10"
SECONDARY = "198.51.100.10"
NAME = "app.example.test."
SET = "app.example.test./A"
RW = "dash-rw-4c1f9a"
RO = "dash-ro-8e27b0"

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
        failover_ttl: 30
        failback: manual
        stabilize: 2s
        min_state: 1s
        members:
          - {{ set_id: app-primary, role: primary, values: [{primary}], health_check: primary-app }}
          - {{ set_id: app-secondary, role: secondary, values: [{secondary}], health_check: secondary-app }}
health_checks:
  - id: primary-app
    url: http://127.0.0.1:{primary_port}/ok
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
alerts:                      # listed on the page (no channels: nothing is sent)
  routes: [{{ events: [failover], severity: critical }}]
"""

CREDENTIAL_ENV = ("STEERDNS_API_TOKEN", "STEERDNS_API_READ_TOKEN")


class Backend:
    """An HTTP backend for a health check on a fixed port: killed (connection refused) and
    started again on the same port."""

    def __init__(self):
        self.port = 0
        self.start()

    def start(self):
        self.srv = HTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def kill(self):
        self.srv.shutdown()
        self.srv.server_close()


def dig(port):
    """The sorted A values for NAME from `dig` against the daemon."""
    p = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), NAME, "A", "+noall", "+answer",
                        "+norec", "+time=1", "+tries=1"],
                       capture_output=True, text=True, timeout=5)
    if p.returncode != 0:
        raise AssertionError(f"dig failed: {p.stdout}{p.stderr}")
    return sorted(line.split()[4] for line in p.stdout.splitlines()
                  if len(line.split()) >= 5 and line.split()[3] == "A")


def http_call(port, method, path, token=None, body=None):
    """(status, headers with lower-case names, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {}
    if token:
        h["Authorization"] = "Bearer " + token
    if body is not None:
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def start_daemon(tmp, cfg_text, env):
    cfg = os.path.join(tmp, "steerdns.yaml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    api_port = free_port()
    with env_vars(CREDENTIAL_ENV, **env):
        d = steerdns(config=cfg, probe_zone="example.test.",
                     extra_args=["--api-listen", "127.0.0.1:%d" % api_port]).start()
    token = env.get("STEERDNS_API_TOKEN")
    wait_until(lambda: http_call(api_port, "GET", "/v1/status", token)[0] == 200, timeout=15,
               what="the API to answer")
    return d, api_port


def browser(tmp):
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--user-data-dir=" + os.path.join(tmp, "chrome")):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@unittest.skipUnless(HAVE_SELENIUM and os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
                     and shutil.which("dig"), "needs chromium, chromedriver, selenium and dig")
class DashboardTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="steerdns-dashboard-")
        os.mkdir(os.path.join(cls.tmp, "state"))
        cls.primary = Backend()
        cls.secondary = Backend()
        cls.driver = None
        cls.d, cls.api_port = start_daemon(
            cls.tmp, CONFIG.format(primary=PRIMARY, secondary=SECONDARY,
                                   primary_port=cls.primary.port,
                                   secondary_port=cls.secondary.port),
            {"STEERDNS_API_TOKEN": RW, "STEERDNS_API_READ_TOKEN": RO})
        cls.origin = "http://127.0.0.1:%d" % cls.api_port

    @classmethod
    def tearDownClass(cls):
        if cls.driver:
            cls.driver.quit()
        cls.d.stop()
        for b in (cls.primary, cls.secondary):
            try:
                b.kill()
            except OSError:
                pass
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------

    def api(self, method, path, body=None, token=RW):
        status, _, data = http_call(self.api_port, method, path, token, body)
        self.assertLess(status, 300, f"{method} {path} -> {status} {data!r}")
        return json.loads(data)

    def status(self):
        return {s["set"]: s for s in self.api("GET", "/v1/status")["sets"]}[SET]

    def card(self):
        return self.driver.find_element(By.CSS_SELECTOR, 'article.set[data-set="%s"]' % SET)

    def card_text(self, cls):
        return self.card().find_element(By.CSS_SELECTOR, "." + cls).text

    def message(self):
        m = self.driver.find_element(By.ID, "message")
        return m.get_attribute("class"), m.text

    def wait_page(self, pred, timeout, what):
        def ok():
            return pred()
        try:
            return wait_until(ok, timeout=timeout, interval=0.1, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\npage: {self.driver.find_element(By.TAG_NAME, 'main').text}"
                                 f"\nmessage: {self.message()}\nlog tail: {self.d.log()[-3000:]}")

    def use_token(self, token):
        t = self.driver.find_element(By.ID, "token")
        t.clear()
        t.send_keys(token)
        self.driver.find_element(By.ID, "token-save").click()

    def check_row(self, check_id):
        return self.driver.find_element(By.CSS_SELECTOR, 'tr[data-check="%s"]' % check_id)

    # --- tests ---------------------------------------------------------------------------

    def test_assets_without_browser(self):
        st, h, _ = http_call(self.api_port, "GET", "/dashboard")
        self.assertEqual(st, 301)
        self.assertEqual(h["location"], "/dashboard/")
        for path, ctype, marker in (("/dashboard/", "text/html; charset=utf-8", b"<!DOCTYPE html>"),
                                    ("/dashboard/index.html", "text/html; charset=utf-8",
                                     b"app.js"),
                                    ("/dashboard/app.js", "text/javascript; charset=utf-8",
                                     b"\"use strict\""),
                                    ("/dashboard/style.css", "text/css; charset=utf-8", b":root"),
                                    ("/dashboard/favicon.svg", "image/svg+xml", b"<svg")):
            # Public: no token, although tokens are configured.
            st, h, body = http_call(self.api_port, "GET", path)
            self.assertEqual(st, 200, path)
            self.assertEqual(h["content-type"], ctype, path)
            self.assertIn(marker, body, path)
            self.assertEqual(h["cache-control"], "no-cache", path)
            csp = h["content-security-policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertIn("connect-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertNotIn("http", csp)
            self.assertEqual(h["x-content-type-options"], "nosniff")
            st, h, body = http_call(self.api_port, "HEAD", path)
            self.assertEqual((st, body), (200, b""), path)
        # Nothing in the assets refers to another origin (CDN, web fonts).
        for f in ("index.html", "app.js", "style.css", "favicon.svg"):
            body = http_call(self.api_port, "GET", "/dashboard/" + f)[2].decode()
            body = body.replace("http://www.w3.org/2000/svg", "")  # a namespace, not fetched
            self.assertIsNone(re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", body, re.I), f)
        st, _, body = http_call(self.api_port, "GET", "/dashboard/secret.txt")
        self.assertEqual(st, 404)
        self.assertIn(b"no file 'secret.txt'", body)
        st, _, _ = http_call(self.api_port, "GET", "/dashboard/../v1/status")
        self.assertIn(st, (400, 401, 404))
        # whoami needs a token and tells the two apart.
        self.assertEqual(http_call(self.api_port, "GET", "/dashboard/whoami")[0], 401)
        self.assertEqual(http_call(self.api_port, "GET", "/dashboard/whoami", "wrong")[0], 401)
        self.assertEqual(self.api("GET", "/dashboard/whoami", token=RO),
                         {"principal": "env-read", "can_write": False})
        self.assertEqual(self.api("GET", "/dashboard/whoami", token=RW),
                         {"principal": "env", "can_write": True})

    def test_browser_failover_failback_and_read_only(self):
        cls = type(self)
        cls.driver = self.driver = browser(self.tmp)
        self.driver.set_page_load_timeout(15)
        self.driver.get(self.origin + "/dashboard")  # the redirect, as a user would type it
        self.assertTrue(self.driver.current_url.endswith("/dashboard/"), self.driver.current_url)
        self.assertEqual(self.driver.title, "steerdns dashboard")

        # Without a token the API refuses (tokens are configured): the page says so.
        self.wait_page(lambda: "401" in self.driver.find_element(By.ID, "conn").text, 10,
                       "the page to report the missing token")
        self.use_token(RW)

        # Loads: both checks healthy with a sparkline; the set on tier 1 with the primary.
        self.wait_page(lambda: self.check_row("primary-app").find_element(
            By.CSS_SELECTOR, ".status").text == "healthy" and self.check_row(
            "secondary-app").find_element(By.CSS_SELECTOR, ".status").text == "healthy", 15,
            "both checks healthy on the page")
        self.assertIn("env (read-write)", self.driver.find_element(By.ID, "whoami").text)
        self.wait_page(lambda: self.card_text("tier").startswith("1") and
                       self.card_text("answer") == PRIMARY, 10, "tier 1 and the primary answer")
        self.assertEqual(self.card_text("failback"), "manual")
        self.wait_page(lambda: len(self.check_row("primary-app").find_elements(
            By.CSS_SELECTOR, "svg.spark polyline")) == 1, 10, "a latency sparkline")
        for b in ("button.approve", "button.failback-btn"):
            self.assertTrue(self.card().find_element(By.CSS_SELECTOR, b).get_attribute(
                "disabled"), b + " is enabled with nothing to do")

        # Kill the primary: the daemon fails over; the page follows within seconds.
        killed = time.monotonic()
        self.primary.kill()
        wait_until(lambda: self.status()["active_tier"] == 2, timeout=15, interval=0.05,
                   what="the daemon to fail over")
        detected = time.monotonic()
        self.wait_page(lambda: self.card_text("tier").startswith("2") and
                       self.card_text("answer") == SECONDARY, 10,
                       "the page to show the failover")
        shown = time.monotonic()
        self.wait_page(lambda: any("failover" in e.text and SET in e.text for e in
                                   self.driver.find_elements(By.CSS_SELECTOR, "#events li")), 5,
                       "the failover in the timeline")
        self.assertEqual(self.check_row("primary-app").find_element(
            By.CSS_SELECTOR, ".status").text, "unhealthy")
        self.assertNotEqual(self.check_row("primary-app").find_element(
            By.CSS_SELECTOR, ".reason").text, "")
        self.assertEqual(dig(self.d.port), [SECONDARY])
        print(f"\nfailover: detected {detected - killed:.2f}s after the kill, on the page "
              f"{shown - detected:.2f}s later")

        # The failover alert is on the page; Ack (with a reason) acknowledges it.
        alert = self.wait_page(lambda: [li for li in self.driver.find_elements(
            By.CSS_SELECTOR, "#alerts li") if "failover" in li.text and SET in li.text], 10,
            "the failover alert on the page")[0]
        alert_id = alert.get_attribute("data-alert")
        alert.find_element(By.CSS_SELECTOR, "input.ack-reason").send_keys("on it from the page")
        alert.find_element(By.CSS_SELECTOR, "button.ack").click()
        wait_until(lambda: [a for a in self.api("GET", "/v1/alerts")["alerts"]
                            if a["id"] == alert_id and a["state"] == "acknowledged"],
                   timeout=10, what="the alert acknowledged through the page")
        self.wait_page(lambda: any("acked by" in li.text for li in self.driver.find_elements(
            By.CSS_SELECTOR, "#alerts li")), 10, "the acknowledgement on the page")

        # The primary comes back: manual failback waits for approval; the button approves.
        self.primary.start()
        self.wait_page(lambda: "awaiting approval" in self.card_text("flags"), 20,
                       "awaiting approval on the page")
        self.assertEqual(dig(self.d.port), [SECONDARY])
        approve = self.card().find_element(By.CSS_SELECTOR, ".approve")
        self.assertIsNone(approve.get_attribute("disabled"))
        approve.click()
        self.wait_page(lambda: self.message()[0] == "success", 10, "the approval to succeed")
        self.wait_page(lambda: self.card_text("tier").startswith("1") and
                       self.card_text("answer") == PRIMARY, 10, "tier 1 again on the page")
        wait_until(lambda: dig(self.d.port) == [PRIMARY], timeout=5, what="dig: the primary")
        self.wait_page(lambda: any("approved" in e.text or "failback" in e.text for e in
                                   self.driver.find_elements(By.CSS_SELECTOR, "#events li")), 5,
                       "the failback in the timeline")

        # Manual failover form: a missing reason is refused by the page; nothing is sent.
        self.wait_page(lambda: len(self.card().find_elements(
            By.CSS_SELECTOR, ".to-tier option")) >= 2, 10, "the tier choices")
        form = self.card().find_element(By.CSS_SELECTOR, ".failover-form")
        Select(form.find_element(By.CSS_SELECTOR, ".to-tier")).select_by_value("2")
        form.find_element(By.CSS_SELECTOR, ".expires").send_keys("10m")
        form.find_element(By.CSS_SELECTOR, ".failover").click()
        self.wait_page(lambda: self.message()[0] == "error" and "reason" in self.message()[1], 5,
                       "the page to ask for a reason")
        self.assertEqual(self.api("GET", "/v1/overrides")["overrides"], [])
        form.find_element(By.CSS_SELECTOR, ".reason-input").send_keys("dashboard test drill")
        form.find_element(By.CSS_SELECTOR, ".failover").click()
        self.wait_page(lambda: self.card_text("tier").startswith("2") and
                       self.card_text("answer") == SECONDARY, 15, "the manual failover")
        ov = self.api("GET", "/v1/overrides")["overrides"]
        self.assertEqual([(o["target"], o["action"], o["author"]) for o in ov],
                         [(SET + "#app-primary", "down", "env")], ov)
        self.assertIn("dashboard test drill", ov[0]["reason"])
        self.assertGreater(ov[0]["expires_in_ms"], 9 * 60 * 1000)
        wait_until(lambda: dig(self.d.port) == [SECONDARY], timeout=5, what="dig: secondary")

        # Fail back: the set's override is cleared, and as the primary has been healthy for
        # longer than stabilize, the manual failback it then waits for is approved too.
        self.card().find_element(By.CSS_SELECTOR, "button.failback-btn").click()
        self.wait_page(lambda: self.message()[0] == "success", 10, "the fail back")
        self.assertEqual(self.api("GET", "/v1/overrides")["overrides"], [])
        self.wait_page(lambda: self.card_text("tier").startswith("1") and
                       self.card_text("answer") == PRIMARY, 10, "tier 1 after the drill")
        wait_until(lambda: dig(self.d.port) == [PRIMARY], timeout=5, what="dig: the primary")
        events = self.api("GET", "/v1/events?last=5")["events"]
        self.assertIn(("override_cleared", "env"), [(e["type"], e["actor"]) for e in events])
        self.assertIn(("failback_approved", "env"), [(e["type"], e["actor"]) for e in events])

        # Read-only token: the page says so; a button's write shows the 403 and changes nothing.
        self.use_token(RO)
        self.wait_page(lambda: "read-only" in self.driver.find_element(By.ID, "whoami").text, 10,
                       "the read-only token on the page")
        self.driver.find_element(By.ID, "ov-target").send_keys(SET + "#app-primary")
        self.driver.find_element(By.ID, "ov-expires").send_keys("5m")
        self.driver.find_element(By.ID, "ov-reason").send_keys("should be refused")
        self.driver.find_element(By.ID, "ov-set").click()
        self.wait_page(lambda: self.message()[0] == "error" and "403" in self.message()[1], 10,
                       "the 403 on the page")
        self.assertIn("read-only", self.message()[1])
        self.assertEqual(self.api("GET", "/v1/overrides")["overrides"], [])
        self.assertEqual(self.status()["active_tier"], 1)
        self.assertEqual(dig(self.d.port), [PRIMARY])

        # Only the daemon's origin was fetched, by the performance log and resource timing.
        # Chromium's own start page (chrome://, data:) loads before ours: from it only network
        # fetches count; from our page every request, whatever its scheme.
        urls = set()
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                url = msg["params"]["request"]["url"]
                ours = msg["params"].get("documentURL", "").startswith(self.origin + "/")
                if ours or re.match(r"(https?|wss?)://", url):
                    urls.add(url)
        urls |= set(self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat([location.href]);"))
        self.assertTrue(any(u.endswith("/dashboard/app.js") for u in urls), urls)
        self.assertTrue(any("/v1/status" in u for u in urls), urls)
        foreign = sorted(u for u in urls if not u.startswith(self.origin + "/"))
        self.assertEqual(foreign, [], "requests to other origins")
        # And no CSP violations or script errors in the console.
        severe = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE" and
                  not re.search(r"\b40[13]\b", e["message"])]
        self.assertEqual(severe, [])


@unittest.skipUnless(HAVE_SELENIUM and os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
                     "needs chromium, chromedriver and selenium")
class DashboardWithoutTokensTest(unittest.TestCase):
    """No token configured: the API serves loopback clients as "loopback"; so does the page."""

    def test_page_works_without_a_token(self):
        tmp = tempfile.mkdtemp(prefix="steerdns-dashboard-open-")
        os.mkdir(os.path.join(tmp, "state"))
        primary, secondary = Backend(), Backend()
        d = driver = None
        try:
            d, api_port = start_daemon(
                tmp, CONFIG.format(primary=PRIMARY, secondary=SECONDARY,
                                   primary_port=primary.port, secondary_port=secondary.port), {})
            driver = browser(tmp)
            driver.get("http://127.0.0.1:%d/dashboard/" % api_port)

            def loaded():
                who = driver.find_element(By.ID, "whoami").text
                rows = driver.find_elements(By.CSS_SELECTOR, "#checks tr[data-check]")
                card = driver.find_elements(By.CSS_SELECTOR, 'article.set[data-set="%s"]' % SET)
                return ("loopback (read-write)" in who and len(rows) == 2 and card and
                        card[0].find_element(By.CSS_SELECTOR, ".answer").text == PRIMARY)
            wait_until(loaded, timeout=15, interval=0.1, what="the page without a token")
        finally:
            if driver:
                driver.quit()
            if d:
                d.stop()
            primary.kill()
            secondary.kill()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
