#!/usr/bin/python3
"""The HTTP API of the real daemon (docs/api.md): /healthz, the health-check endpoints, bearer
tokens (none = loopback only; read-only tokens get 403 on writes; writes audited with the
token's name), bad clients (slowloris cut at the header timeout, garbage answered 400, a body
over the limit 413) while the server keeps serving, and the --api-listen startup rules.

The daemon runs from a config file with an external check and an http check against a loopback
server started here. Plain http.client, no curl. Run by ctest (STEERDNS_BIN).
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from health_servers import Handler, HTTPServer
from harness import env_vars
from test_transport import Steerdns, free_port, steerdns_bin, wait_until

CONFIG = """\
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: 1 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
health_checks:
  - {{ id: lag, type: external }}
  - id: web
    url: http://127.0.0.1:{http_port}/ok
    interval: 1s
"""

TOKEN_VARS = ("STEERDNS_API_TOKEN", "STEERDNS_API_READ_TOKEN")


def api_env(**values):
    """The token variables as given (others unset) while the daemon starts."""
    return env_vars(TOKEN_VARS, **values)


class Api:
    """A keep-alive connection to the daemon's API."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def call(self, method, path, body=None, token=None, content_type="application/json"):
        headers = {}
        token = token or self.token
        if token:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        ctype = r.getheader("Content-Type", "")
        return r.status, (json.loads(data) if ctype.startswith("application/json") else data)

    def close(self):
        self.conn.close()


class ApiHealthTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-api-")
        self.http = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.config = os.path.join(self.tmp, "steerdns.yaml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(http_port=self.http.server_address[1]))
        self.d = None
        self.apis = []

    def tearDown(self):
        for a in self.apis:
            a.close()
        if self.d:
            self.d.stop()
        self.http.shutdown()
        self.http.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, **env):
        self.api_port = free_port()
        with api_env(**env):
            self.d = Steerdns(["--config", self.config, "--threads", "1",
                               "--api-listen", f"127.0.0.1:{self.api_port}"],
                              workdir=self.tmp)
        return self.api(env.get("STEERDNS_API_TOKEN"))

    def api(self, token=None):
        a = Api(self.api_port, token)
        self.apis.append(a)
        return a

    def check(self, api, cid):
        status, body = api.call("GET", f"/v1/health/checks/{cid}")
        self.assertEqual(status, 200, body)
        return body

    def test_without_tokens_loopback_only(self):
        api = self.start()
        self.assertRegex(self.d.logs(),
                         rf"API on http://127\.0\.0\.1:{self.api_port} without credentials "
                         r"\(loopback clients only\)")
        self.assertEqual(api.call("GET", "/healthz"), (200, b"ok\n"))

        status, report = api.call("GET", "/v1/health/checks")
        self.assertEqual(status, 200)
        self.assertEqual([c["id"] for c in report["checks"]], ["lag", "web"])
        self.assertEqual({c["id"]: c["kind"] for c in report["checks"]},
                         {"lag": "external", "web": "http"})
        self.assertIn("checker_id", report)
        # The http check is probed by the daemon; the API shows its progress.
        wait_until(lambda: self.check(api, "web")["status"] == "healthy", timeout=10,
                   what="web healthy through the API")
        self.assertEqual(self.check(api, "web")["recent"][-1]["http_status"], 200)

        # PUT then GET: the new status and reason.
        status, body = api.call("PUT", "/v1/health/checks/lag/status",
                                {"status": "unhealthy", "reason": "replication lag 42s"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], "lag")
        lag = self.check(api, "lag")
        self.assertEqual(lag["status"], "unhealthy")
        self.assertEqual(lag["source"], "external")
        self.assertEqual(lag["last_failure_reason"], "replication lag 42s")
        self.assertEqual(lag["recent"][-1]["reason"], "replication lag 42s")
        status, body = api.call("PUT", "/v1/health/checks/lag/status",
                                {"status": "healthy", "reason": "lag 1s"})
        self.assertEqual(status, 200, body)
        lag = self.check(api, "lag")
        self.assertEqual(lag["status"], "healthy")
        self.assertEqual(lag["recent"][-1]["reason"], "lag 1s")
        self.assertRegex(self.d.logs(), r"api: PUT /v1/health/checks/lag/status by 'loopback' "
                                        r"from 127\.0\.0\.1:\d+ -> 200")

        # Errors: each names the problem; nothing changes.
        for path, body, want_status, want_code, want_msg in [
            ("/v1/health/checks/nosuch/status", {"status": "healthy"}, 404, "not_found",
             "health check 'nosuch': no such check"),
            ("/v1/health/checks/web/status", {"status": "unhealthy"}, 409, "not_external",
             "health check 'web' is a http check; only external checks can be set"),
            ("/v1/health/checks/lag/status", {"status": "down"}, 400, "bad_request",
             "field 'status': 'down' is not 'healthy' or 'unhealthy'"),
            ("/v1/health/checks/lag/status", '{"status": "unhealthy"', 400, "invalid_json",
             None),
        ]:
            status, err = api.call("PUT", path, body)
            self.assertEqual(status, want_status, err)
            self.assertEqual(err["error"]["code"], want_code, err)
            if want_msg:
                self.assertEqual(err["error"]["message"], want_msg)
        self.assertEqual(self.check(api, "lag")["status"], "healthy")
        self.assertEqual(self.check(api, "web")["status"], "healthy")

        status, err = api.call("GET", "/v1/health/checks/nosuch")
        self.assertEqual(status, 404)
        status, err = api.call("POST", "/v1/health/checks/lag")
        self.assertEqual(status, 405)
        status, err = api.call("GET", "/v1/nothing")
        self.assertEqual((status, err["error"]["code"]), (404, "not_found"))
        status, err = api.call("PUT", "/v1/health/checks/lag/status", "status=healthy",
                               content_type="application/x-www-form-urlencoded")
        self.assertEqual(status, 415)

    def test_tokens(self):
        self.start(STEERDNS_API_TOKEN="rw-7f3c9", STEERDNS_API_READ_TOKEN="ro-2b81d")
        self.assertIn(f"API on http://127.0.0.1:{self.api_port} (tokens: env (read-write), "
                      "env-read (read-only))", self.d.logs())
        anon, ro, rw, bad = self.api(), self.api("ro-2b81d"), self.api("rw-7f3c9"), self.api("x")

        self.assertEqual(anon.call("GET", "/healthz")[0], 200)  # public
        status, err = anon.call("GET", "/v1/health/checks")
        self.assertEqual((status, err["error"]["code"]), (401, "unauthorized"))
        status, err = bad.call("GET", "/v1/health/checks")
        self.assertEqual((status, err["error"]["message"]), (401, "invalid token"))
        self.assertEqual(ro.call("GET", "/v1/health/checks")[0], 200)
        self.assertEqual(rw.call("GET", "/v1/health/checks/lag")[0], 200)

        # A read-only token cannot write: 403, and the check is unchanged.
        before = self.check(ro, "lag")
        status, err = ro.call("PUT", "/v1/health/checks/lag/status", {"status": "healthy"})
        self.assertEqual((status, err["error"]["code"]), (403, "forbidden"))
        self.assertIn("token 'env-read' is read-only", err["error"]["message"])
        status, err = anon.call("PUT", "/v1/health/checks/lag/status", {"status": "healthy"})
        self.assertEqual(status, 401)
        self.assertEqual(self.check(ro, "lag")["status"], before["status"])
        self.assertEqual(self.check(ro, "lag")["probes_ok"], before["probes_ok"])

        status, body = rw.call("PUT", "/v1/health/checks/lag/status",
                               {"status": "healthy", "reason": "ok from the monitor"})
        self.assertEqual(status, 200, body)
        lag = self.check(ro, "lag")
        self.assertEqual(lag["status"], "healthy")
        self.assertEqual(lag["recent"][-1]["reason"], "ok from the monitor")

        # The audit log names the token, never the secret.
        logs = self.d.logs()
        self.assertRegex(logs, r"api: PUT /v1/health/checks/lag/status by 'env-read' from "
                               r"127\.0\.0\.1:\d+ -> 403")
        self.assertRegex(logs, r"api: PUT /v1/health/checks/lag/status by 'env' from "
                               r"127\.0\.0\.1:\d+ -> 200")
        self.assertNotIn("rw-7f3c9", logs)
        self.assertNotIn("ro-2b81d", logs)

    def test_bad_clients(self):
        api = self.start()
        # Slowloris: a header dripped byte by byte is cut at the header timeout (5 s), however
        # active the client is.
        slow = socket.create_connection(("127.0.0.1", self.api_port), timeout=15)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        cut = False
        while time.monotonic() - t0 < 15 and not cut:
            try:
                slow.sendall(b"X")
                slow.settimeout(0.2)
                cut = slow.recv(1) == b""
            except socket.timeout:
                pass
            except OSError:
                cut = True
            # Others are served meanwhile.
            self.assertEqual(api.call("GET", "/healthz")[0], 200)
        took = time.monotonic() - t0
        slow.close()
        self.assertTrue(cut, "the slowloris connection was not cut")
        self.assertLess(took, 8)

        # Garbage gets 400 naming the problem, and the connection is closed.
        for garbage in [b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
                        b"GET /healthz HTTP/1.1\r\nNo-Colon-Here\r\n\r\n"]:
            s = socket.create_connection(("127.0.0.1", self.api_port), timeout=5)
            s.sendall(garbage)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
            self.assertIn(b'"code":"bad_request"', data)
            self.assertIn(b"malformed HTTP request", data)

        # A body over the limit: 413 from the declared length, before it is sent.
        s = socket.create_connection(("127.0.0.1", self.api_port), timeout=5)
        s.sendall(b"PUT /v1/health/checks/lag/status HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        data = s.recv(4096)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data)
        self.assertIn(b"exceeds the limit", data)

        # Still serving, on the old connection and new ones.
        self.assertEqual(api.call("GET", "/healthz")[0], 200)
        self.assertEqual(self.api().call("GET", "/v1/health/checks")[0], 200)
        self.assertIsNone(self.d.proc.poll())

    def run_serve(self, *args, env=None):
        with api_env(**(env or {})):
            return subprocess.run([steerdns_bin(), "serve", "--config", self.config,
                                   "--listen", f"127.0.0.1:{free_port()}", *args],
                                  capture_output=True, text=True, timeout=20, cwd=self.tmp)

    def test_startup_rules(self):
        # Not loopback and no token: refused.
        p = self.run_serve("--api-listen", "0.0.0.0:%d" % free_port())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("not a loopback address and no credentials are configured", p.stderr)
        # An empty token variable is a mistake, not "no token".
        p = self.run_serve("--api-listen", "127.0.0.1:%d" % free_port(),
                           env={"STEERDNS_API_TOKEN": ""})
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("STEERDNS_API_TOKEN: token 'env' is empty", p.stderr)
        # A malformed address.
        p = self.run_serve("--api-listen", "localhost:8053")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("'localhost' is not an IP address", p.stderr)
        # An explicit address that is taken: an error.
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            p = self.run_serve("--api-listen", f"127.0.0.1:{port}")
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(f"API on 127.0.0.1:{port}: cannot bind: Address already in use",
                          p.stderr)

    def test_default_address_taken_is_a_warning(self):
        # Hold the default port (or find it held by another daemon): serve goes on without API.
        busy = socket.socket()
        try:
            busy.bind(("127.0.0.1", 8053))
            busy.listen()
        except OSError:
            pass  # somebody else has it: the same situation
        try:
            with api_env():
                self.d = Steerdns(["--config", self.config, "--threads", "1"], workdir=self.tmp)
            wait_until(lambda: "continuing without the API" in self.d.logs(), timeout=5,
                       what="the warning")
            self.assertIn("API on 127.0.0.1:8053: cannot bind", self.d.logs())
        finally:
            busy.close()

    def test_api_off(self):
        with api_env():
            self.d = Steerdns(["--config", self.config, "--threads", "1", "--api-listen", "off"],
                              workdir=self.tmp)
        self.assertNotIn("API on", self.d.logs())


if __name__ == "__main__":
    unittest.main()
