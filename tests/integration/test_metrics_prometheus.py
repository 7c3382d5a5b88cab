#!/usr/bin/python3
"""GET /metrics scraped by a real Prometheus (Debian `prometheus`): the daemon answers queries
over UDP and TCP, Prometheus scrapes it every second, and its query API returns the series of
docs/metrics.md with the values the queries made. Also checks the exposition itself (content
type, one TYPE line per family, histogram buckets) and that /metrics needs no token while the
rest of the API does.
"""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest
import urllib.parse

import dns.rcode

from harness import env_vars
from health_servers import Handler, HTTPServer
from test_transport import Steerdns, free_port, query, wait_until

CONFIG = """\
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: 1 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - {{ name: www, type: A, values: [192.0.2.1] }}
      - {{ name: mail, type: MX, values: ["10 ns1.example.test."] }}
      - name: app
        type: A
        ttl: 60
        policy: failover
        members:
          - {{ set_id: app-primary, role: primary, values: [192.0.2.10], health_check: web }}
          - {{ set_id: app-secondary, role: secondary, values: [192.0.2.20] }}
health_checks:
  - id: web
    url: http://127.0.0.1:{http_port}/ok
    interval: 1s
"""

PROM_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: steerdns
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{api_port}"]
"""


def http_get(port, path, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": "Bearer " + token} if token else {}
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, r.getheader("Content-Type"), body


class Prometheus:
    """A real Prometheus on a random loopback port, its data in a temp dir."""

    def __init__(self, workdir, api_port):
        binary = shutil.which("prometheus")
        if binary is None:
            raise AssertionError("prometheus not found: install the Debian package `prometheus` "
                                 "(make deps-test)")
        self.port = free_port()
        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(PROM_CONFIG.format(api_port=api_port))
        self.log = open(os.path.join(workdir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={workdir}/tsdb",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir)
        wait_until(self._ready, timeout=60, what="prometheus ready")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}")
        try:
            status, _, _ = http_get(self.port, "/-/ready")
            return status == 200
        except OSError:
            return False

    def query(self, promql):
        status, _, body = http_get(self.port, "/api/v1/query?query=" + urllib.parse.quote(promql))
        if status != 200:
            raise AssertionError(f"prometheus query {promql}: HTTP {status}: {body}")
        doc = json.loads(body)
        return doc["data"]["result"]

    def value(self, promql):
        """The single value of an instant vector, or None when it is empty."""
        r = self.query(promql)
        return float(r[0]["value"][1]) if r else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="steerdns-metrics-")
        cls.http = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=cls.http.serve_forever, daemon=True).start()
        cfg = os.path.join(cls.workdir, "steerdns.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(http_port=cls.http.server_address[1]))
        cls.api_port = free_port()
        # A token for the API: /metrics must still answer without one.
        cls.token = "metrics-test-token-0123456789"
        with env_vars(("STEERDNS_API_TOKEN", "STEERDNS_API_READ_TOKEN"),
                      STEERDNS_API_TOKEN=cls.token):
            cls.d = Steerdns(["--config", cfg, "--api-listen", f"127.0.0.1:{cls.api_port}"],
                             workdir=cls.workdir)
        cls.prom = None

    @classmethod
    def tearDownClass(cls):
        if cls.prom:
            cls.prom.stop()
        cls.d.cleanup()
        cls.http.shutdown()
        cls.http.server_close()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def send_queries(self):
        for _ in range(7):
            self.assertEqual(query("www.example.test.", "A", port=self.d.port).rcode(),
                             dns.rcode.NOERROR)
        for _ in range(3):
            self.assertEqual(query("nope.example.test.", "A", port=self.d.port).rcode(),
                             dns.rcode.NXDOMAIN)
        for _ in range(2):
            self.assertEqual(
                query("mail.example.test.", "MX", port=self.d.port, tcp=True).rcode(),
                dns.rcode.NOERROR)
        self.assertEqual(query("www.elsewhere.test.", "A", port=self.d.port).rcode(),
                         dns.rcode.REFUSED)

    def test_exposition_format_and_access(self):
        self.send_queries()
        status, ctype, body = http_get(self.api_port, "/metrics")  # no token
        self.assertEqual(status, 200, body)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        types = [l for l in body.splitlines() if l.startswith("# TYPE ")]
        names = [l.split()[2] for l in types]
        self.assertEqual(len(names), len(set(names)), "one TYPE line per family")
        self.assertIn("# TYPE steerdns_dns_queries_total counter", body)
        self.assertIn("# TYPE steerdns_dns_response_duration_seconds histogram", body)
        self.assertIn('steerdns_dns_response_duration_seconds_bucket{transport="udp",le="+Inf"}',
                      body)
        self.assertRegex(body, r'steerdns_build_info\{version="[^"]+"\} 1')
        # The rest of the API still wants the token.
        status, _, _ = http_get(self.api_port, "/v1/zones")
        self.assertEqual(status, 401)

    def test_prometheus_scrapes_the_series(self):
        self.send_queries()
        self.__class__.prom = Prometheus(self.workdir, self.api_port)
        prom = self.prom
        www = ('steerdns_dns_queries_total{job="steerdns",zone="example.test.",qtype="A",'
               'rcode="NOERROR",transport="udp"}')
        # Other tests of this class may have queried too: at least what this one sent.
        wait_until(lambda: (prom.value(www) or 0) >= 7, timeout=60,
                   what="prometheus sees the UDP A queries")
        self.assertGreaterEqual(prom.value(
            'steerdns_dns_queries_total{zone="example.test.",rcode="NXDOMAIN"}'), 3)
        self.assertGreaterEqual(prom.value(
            'steerdns_dns_queries_total{zone="example.test.",qtype="MX",transport="tcp"}'), 2)
        self.assertGreaterEqual(prom.value(
            'steerdns_dns_queries_total{zone="none",rcode="REFUSED"}'), 1)
        self.assertEqual(prom.value('up{job="steerdns"}'), 1)
        self.assertEqual(prom.value("steerdns_build_info"), 1)
        # The histogram works with histogram_quantile (a latency below the last bound).
        q = prom.value('histogram_quantile(0.5, sum by (le) '
                       '(steerdns_dns_response_duration_seconds_bucket{transport="udp"}))')
        self.assertIsNotNone(q)
        self.assertGreater(q, 0)
        self.assertLess(q, 0.1)
        # The other subsystems' families (docs/metrics.md), through the same scrape.
        wait_until(lambda: prom.value('steerdns_health_check_healthy{check="web"}') == 1,
                   timeout=60, what="the web check healthy in prometheus")
        self.assertEqual(prom.value(
            'steerdns_health_check_status{check="web",status="healthy"}'), 1)
        self.assertGreater(prom.value(
            'sum(steerdns_health_probe_duration_seconds_count{check="web",phase="total"})'), 0)
        self.assertEqual(prom.value(
            'steerdns_steering_active_tier{record_set="app.example.test./A"}'), 1)
        self.assertEqual(prom.value('steerdns_steering_member_active{record_set='
                                    '"app.example.test./A",member="app-primary"}'), 1)
        self.assertGreaterEqual(prom.value(
            'steerdns_change_batches_total{result="committed"}'), 1)
        self.assertGreaterEqual(prom.value("steerdns_catalog_revision"), 1)
        self.assertGreater(prom.value('steerdns_api_requests_total{code="2xx"}'), 0)
        # A new query shows up at the next scrapes: the counter moves.
        before = prom.value(www)
        for _ in range(5):
            query("www.example.test.", "A", port=self.d.port)
        wait_until(lambda: prom.value(www) >= before + 5, timeout=30,
                   what="prometheus sees 5 more queries")


if __name__ == "__main__":
    unittest.main()
