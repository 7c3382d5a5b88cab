#!/usr/bin/python3
"""The native JSON API (docs/api.md) of the real daemon over real HTTP, with its store on disk:

zones and record sets (create, list, get, upsert, delete; CREATE of an existing set refused),
change batches (several changes at once, all or nothing, ?wait gives INSYNC, listed newest first
with author/comment/time, diffed, served to `dig`), tokens from the config file (inline and
secret_env) and the environment (401 without or with a wrong token, 403 read-only on writes,
nothing applied, the batch's author is the token's name), Route 53 keys from the config file
(named in the startup log, one boto3 call), HTTPS with a certificate made here by openssl,
a non-loopback listen, bad input (malformed JSON with its position, unknown fields with a
did-you-mean, invalid names and values, an oversized chunked body, a wrong content type,
clients that stall in the header or the body) with the catalog unchanged every time, health
checks referenced by a failover set (DELETE refused while in use), and GET /v1/answer.

test_api_health.py covers /healthz, the health status endpoints, the env-token basics,
slowloris by dripping, garbage requests and a declared Content-Length over the limit;
test_cli_api.py the CLI on top of this API. Run by ctest (STEERDNS_BIN).
"""
import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import env_vars, free_port, run, steerdns, steerdns_bin, wait_until

RW_TOKEN = "cfg-rw-7d1e4a"       # config file, inline secret, read-write ("deploy-bot")
RO_TOKEN = "cfg-ro-93b0c2"       # config file, secret_env, read-only ("auditor")
ENV_RW = "env-rw-51f7e8"         # STEERDNS_API_TOKEN ("env")
ENV_RO = "env-ro-0c6a3d"         # STEERDNS_API_READ_TOKEN ("env-read")
R53_KEY_ID = "AKIDNATIVEAPITEST01"
R53_SECRET = "native-api-test-secret/0123456789"

CONFIG = """\
server:
  api_tokens:
    - {{ name: deploy-bot, secret: {rw}, access: read-write }}
    - {{ name: auditor, secret_env: H6B_AUDITOR_TOKEN, access: read-only }}
  route53_keys:
    - {{ access_key_id: {key_id}, secret_env: H6B_R53_SECRET }}
health_checks:
  - {{ id: seed-ext, type: external, initial: healthy }}
zones:
  - name: seed.test.
    soa: {{ mname: ns1.seed.test., rname: hostmaster.seed.test., minimum: 60 }}
    ns: [ns1.seed.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
"""

SAFE_ENV = ("STEERDNS_API_TOKEN", "STEERDNS_API_READ_TOKEN", "STEERDNS_ACCESS_KEY_ID",
            "STEERDNS_SECRET_ACCESS_KEY", "H6B_AUDITOR_TOKEN", "H6B_R53_SECRET", "H6B_WIDE_TOKEN")


def environment(**values):
    """Exactly these credential variables (the others unset) while a daemon starts."""
    return env_vars(SAFE_ENV, **values)


def zone_body(name):
    return {"name": name, "comment": "made by test_api_native",
            "settings": {"ttl": 300, "ns": ["ns1.%s." % name],
                         "soa": {"mname": "ns1.%s." % name, "rname": "hostmaster.%s." % name,
                                 "minimum": 60}}}


class Client:
    """One request per connection (the server closes after some errors; keep it simple)."""

    def __init__(self, port, tls_ca=None):
        self.port = port
        self.tls_ca = tls_ca

    def conn(self, timeout=15):
        if self.tls_ca:
            ctx = ssl.create_default_context(cafile=self.tls_ca)
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def call(self, method, path, body=None, token=RW_TOKEN, content_type="application/json",
             headers=None):
        """(status, parsed body or bytes, response headers)."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
            if content_type:
                h["Content-Type"] = content_type
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        if hdrs.get("content-type", "").startswith("application/json"):
            data = json.loads(data)
        return r.status, data, hdrs


def dig(port, name, rtype="A"):
    """(status, sorted answer data) of `dig @127.0.0.1 -p PORT NAME TYPE`."""
    out = run(["dig", "@127.0.0.1", "-p", str(port), "+norecurse", "+time=2", "+tries=2",
               name, rtype], timeout=20)
    status = re.search(r"status: (\w+)", out).group(1)
    values = sorted(re.findall(r"^\S+\s+\d+\s+IN\s+%s\s+(\S+)$" % rtype, out, re.M))
    return status, values


def read_http_response(sock, timeout=10):
    """Everything the server sends until it closes (or the timeout), as bytes."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


class NativeApiTest(unittest.TestCase):
    """One daemon for most tests; each test uses its own zone so they do not depend on order."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if shutil.which("dig") is None:
            raise unittest.SkipTest("dig is not installed")
        cls.dir = tempfile.mkdtemp(prefix="steerdns-native-")
        cls.cfg = os.path.join(cls.dir, "steerdns.yaml")
        with open(cls.cfg, "w") as f:
            f.write(CONFIG.format(rw=RW_TOKEN, key_id=R53_KEY_ID))
        cls.api_port = free_port()
        cls.db = os.path.join(cls.dir, "api.db")
        with environment(STEERDNS_API_TOKEN=ENV_RW, STEERDNS_API_READ_TOKEN=ENV_RO,
                         H6B_AUDITOR_TOKEN=RO_TOKEN, H6B_R53_SECRET=R53_SECRET):
            cls.server = steerdns(
                config=cls.cfg, probe_zone="seed.test.",
                extra_args=["--store", "sqlite:" + cls.db,
                            "--api-listen", "127.0.0.1:%d" % cls.api_port]).start()
        cls.port = cls.server.port
        cls.api = Client(cls.api_port)
        try:
            wait_until(lambda: cls.api.call("GET", "/v1/zones")[0] == 200, timeout=15,
                       what="the API to answer")
        except Exception:
            cls.server.stop()
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------

    def ok(self, method, path, body=None, status=200, **kw):
        got, data, _ = self.api.call(method, path, body, **kw)
        self.assertEqual(got, status, "%s %s -> %s %s\nlog tail:\n%s"
                         % (method, path, got, data, self.server.log()[-2000:]))
        return data

    def error(self, method, path, body=None, status=400, code=None, contains=(), **kw):
        got, data, hdrs = self.api.call(method, path, body, **kw)
        self.assertEqual(got, status, "%s %s -> %s %s" % (method, path, got, data))
        self.assertIsInstance(data, dict, data)
        if code:
            self.assertEqual(data["error"]["code"], code, data)
        for c in ([contains] if isinstance(contains, str) else contains):
            self.assertIn(c, data["error"]["message"])
        return data["error"]["message"], hdrs

    def catalog(self):
        return self.ok("GET", "/v1/catalog")

    def change_ids(self, limit=20):
        return [c["id"] for c in self.ok("GET", "/v1/changes?limit=%d" % limit)["changes"]]

    @contextlib.contextmanager
    def unchanged(self):
        """The catalog and the list of change batches are the same after the block."""
        cat, ids = self.catalog(), self.change_ids()
        yield
        self.assertEqual(self.catalog(), cat, "the catalog changed")
        self.assertEqual(self.change_ids(), ids, "a change batch was recorded")

    def make_zone(self, name):
        out = self.ok("POST", "/v1/zones?wait=5", zone_body(name), status=201)
        self.assertEqual(out["zone"]["name"], name + ".")
        self.assertTrue(out["insync"], out)
        return out

    # --- zones and record sets -------------------------------------------------------------

    def test_zones_and_record_sets(self):
        out = self.make_zone("zones.test")
        zid = out["zone"]["id"]
        self.assertTrue(zid.startswith("Z"), zid)
        self.assertEqual(out["change"]["author"], "deploy-bot")
        self.assertEqual(out["change"]["status"], "INSYNC")
        # The new zone is served (its SOA) and listed; by id and by name in any case.
        wait_until(lambda: dig(self.port, "zones.test", "SOA")[0] == "NOERROR", timeout=5,
                   what="zones.test SOA served")
        names = [z["name"] for z in self.ok("GET", "/v1/zones")["zones"]]
        self.assertIn("zones.test.", names)
        self.assertIn("seed.test.", names)
        for ref in (zid, "zones.test", "Zones.Test."):
            z = self.ok("GET", "/v1/zones/" + ref)
            self.assertEqual((z["id"], z["name"], z["rrset_count"]), (zid, "zones.test.", 0))
            self.assertEqual(z["comment"], "made by test_api_native")
        self.error("POST", "/v1/zones", zone_body("zones.test"), status=409, code="zone_exists")
        self.error("GET", "/v1/zones/nosuch.test", status=404, code="not_found")

        # Record sets: PUT (upsert), GET, list with filters and paging.
        put = self.ok("PUT", "/v1/zones/zones.test/rrsets/www/A?wait=5",
                      {"ttl": 60, "values": ["192.0.2.1", "192.0.2.2"]})
        self.assertTrue(put["insync"])
        self.assertEqual(put["rrset"]["name"], "www.zones.test.")
        self.assertEqual(dig(self.port, "www.zones.test"), ("NOERROR", ["192.0.2.1", "192.0.2.2"]))
        self.ok("PUT", "/v1/zones/%s/rrsets/www2.zones.test./a" % zid,
                {"name": "www2", "type": "A", "ttl": 60, "values": ["192.0.2.3"]})
        self.ok("PUT", "/v1/zones/zones.test/rrsets/www/TXT", {"ttl": 60, "values": ['"hi"']})
        got = self.ok("GET", "/v1/zones/zones.test/rrsets/www/A")
        self.assertEqual((got["key"], got["ttl"], sorted(got["values"])),
                         ("www.zones.test./A", 60, ["192.0.2.1", "192.0.2.2"]))
        keys = [r["key"] for r in self.ok("GET", "/v1/zones/zones.test/rrsets")["rrsets"]]
        self.assertEqual(keys, ["www.zones.test./A", "www.zones.test./TXT", "www2.zones.test./A"])
        page = self.ok("GET", "/v1/zones/zones.test/rrsets?type=A&limit=1")
        self.assertEqual([r["key"] for r in page["rrsets"]], ["www.zones.test./A"])
        page2 = self.ok("GET", "/v1/zones/zones.test/rrsets?type=A&limit=1&after=" + page["next"])
        self.assertEqual([r["key"] for r in page2["rrsets"]], ["www2.zones.test./A"])
        self.assertNotIn("next", page2)
        self.assertEqual(self.ok("GET", "/v1/zones/zones.test")["rrset_count"], 3)

        # Upsert replaces the whole set.
        self.ok("PUT", "/v1/zones/zones.test/rrsets/www/A?wait=5",
                {"ttl": 30, "values": ["192.0.2.9"]})
        self.assertEqual(dig(self.port, "www.zones.test"), ("NOERROR", ["192.0.2.9"]))

        # CREATE of a set that exists: 400 naming it, nothing changes.
        with self.unchanged():
            msg, _ = self.error("POST", "/v1/changes", {"changes": [
                {"action": "CREATE", "zone": "zones.test", "key": "www/A",
                 "body": {"ttl": 60, "values": ["192.0.2.99"]}}]},
                status=400, code="invalid_change",
                contains=["changes[0]", "www.zones.test. type A", "already exists"])
        self.assertEqual(dig(self.port, "www.zones.test"), ("NOERROR", ["192.0.2.9"]))

        # Deletes: a missing set 404; a zone with sets 409 until they are gone.
        self.error("DELETE", "/v1/zones/zones.test/rrsets/nope/A", status=404)
        self.error("DELETE", "/v1/zones/zones.test", status=409, code="zone_not_empty")
        self.ok("DELETE", "/v1/zones/zones.test/rrsets/www/A?wait=5")
        self.error("GET", "/v1/zones/zones.test/rrsets/www/A", status=404)
        self.assertEqual(dig(self.port, "www.zones.test")[0], "NOERROR")  # TXT still there
        self.ok("DELETE", "/v1/zones/zones.test/rrsets/www/TXT")
        self.ok("DELETE", "/v1/zones/zones.test/rrsets/www2/A?wait=5")
        self.assertEqual(dig(self.port, "www.zones.test")[0], "NXDOMAIN")
        self.ok("DELETE", "/v1/zones/%s?wait=5" % zid)
        self.error("GET", "/v1/zones/zones.test", status=404)
        self.assertNotIn("zones.test.", [z["name"] for z in self.ok("GET", "/v1/zones")["zones"]])
        self.assertEqual(dig(self.port, "zones.test", "SOA")[0], "REFUSED")

    # --- change batches --------------------------------------------------------------------

    def test_change_batches(self):
        self.make_zone("batch.test")
        self.ok("PUT", "/v1/zones/batch.test/rrsets/old/CNAME", {"values": ["www.batch.test."]})
        before_ids = self.change_ids()
        t0_ms = int(time.time() * 1000)
        out = self.ok("POST", "/v1/changes?wait=5", {
            "comment": "move www, add mail, drop old",
            "changes": [
                {"action": "UPSERT", "zone": "batch.test", "key": "www/A",
                 "body": {"ttl": 30, "values": ["198.51.100.7"]}},
                {"action": "CREATE", "body": {"name": "mail.batch.test.", "type": "A",
                                              "values": ["192.0.2.25"]}},
                {"action": "DELETE", "zone": "batch.test", "key": "old/CNAME"},
                {"action": "UPSERT", "kind": "health_check", "key": "batch-lag",
                 "body": {"type": "external", "initial": "healthy"}}]})
        change = out["change"]
        self.assertTrue(out["insync"], out)
        self.assertEqual(change["status"], "INSYNC")
        self.assertEqual(change["author"], "deploy-bot")
        self.assertEqual(change["comment"], "move www, add mail, drop old")
        self.assertEqual(len(out["plan"]["changes"]), 4)
        self.assertIn("www.batch.test./A", out["plan"]["text"])
        # Served right away (INSYNC means queries see it).
        self.assertEqual(dig(self.port, "www.batch.test"), ("NOERROR", ["198.51.100.7"]))
        self.assertEqual(dig(self.port, "mail.batch.test"), ("NOERROR", ["192.0.2.25"]))
        self.assertEqual(dig(self.port, "old.batch.test", "CNAME")[0], "NXDOMAIN")
        self.ok("GET", "/v1/health/checks/batch-lag/config")

        # Listed newest first, with author, comment and time.
        listed = self.ok("GET", "/v1/changes?limit=5")["changes"]
        self.assertEqual(listed[0]["id"], change["id"])
        self.assertEqual(listed[1]["id"], before_ids[0])
        self.assertGreater(listed[0]["revision"], listed[1]["revision"])
        self.assertEqual((listed[0]["author"], listed[0]["comment"], listed[0]["status"]),
                         ("deploy-bot", "move www, add mail, drop old", "INSYNC"))
        self.assertGreaterEqual(listed[0]["submitted_ms"], t0_ms - 1000)
        self.assertLessEqual(listed[0]["submitted_ms"], int(time.time() * 1000) + 1000)
        self.assertGreaterEqual(listed[0]["insync_ms"], listed[0]["submitted_ms"])
        older = self.ok("GET", "/v1/changes?limit=1&before=%d" % listed[0]["revision"])
        self.assertEqual(older["changes"][0]["id"], listed[1]["id"])

        one = self.ok("GET", "/v1/changes/" + change["id"])
        self.assertEqual([(c["action"], c["key"]) for c in one["changes"]],
                         [("UPSERT", "www.batch.test./A"), ("CREATE", "mail.batch.test./A"),
                          ("DELETE", "old.batch.test./CNAME"), ("UPSERT", "batch-lag")])
        status, diff, hdrs = self.api.call("GET", "/v1/changes/%s/diff" % change["id"])
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain"), hdrs)
        diff = diff.decode()
        self.assertTrue(diff.startswith("# change %s by deploy-bot (revision %d, INSYNC): "
                                        "move www, add mail, drop old\n"
                                        % (change["id"], change["revision"])), diff)
        self.assertIn("@@ CREATE record_set mail.batch.test./A @@", diff)
        self.assertIn("--- /dev/null\n+++ b/record_set mail.batch.test./A", diff)
        self.assertIn('+    "192.0.2.25"', diff)
        self.assertIn("--- a/record_set old.batch.test./CNAME\n+++ /dev/null", diff)
        self.assertIn('-    "www.batch.test."', diff)
        self.error("GET", "/v1/changes/CNOSUCHCHANGE", status=404)

        # All or nothing: the third change is bad, so the good ones are not applied either.
        with self.unchanged():
            self.error("POST", "/v1/changes?wait=5", {"comment": "half bad", "changes": [
                {"action": "UPSERT", "zone": "batch.test", "key": "www/A",
                 "body": {"ttl": 30, "values": ["203.0.113.1"]}},
                {"action": "DELETE", "zone": "batch.test", "key": "mail/A"},
                {"action": "UPSERT", "zone": "batch.test", "key": "bad/A",
                 "body": {"values": ["999.1.1.1"]}}]},
                code="invalid_change",
                contains=["changes[2]", "bad.batch.test.", "999.1.1.1", "invalid IPv4 address"])
            # A DELETE of a missing set, after good changes.
            self.error("POST", "/v1/changes", {"changes": [
                {"action": "UPSERT", "zone": "batch.test", "key": "www/A",
                 "body": {"ttl": 30, "values": ["203.0.113.1"]}},
                {"action": "DELETE", "zone": "batch.test", "key": "ghost/A"}]},
                code="invalid_change",
                contains=["changes[1]", "ghost.batch.test. type A", "not found"])
            # A dry run of a good batch applies nothing either.
            dry = self.ok("POST", "/v1/changes?dry_run=true", {"changes": [
                {"action": "UPSERT", "zone": "batch.test", "key": "www/A",
                 "body": {"ttl": 30, "values": ["203.0.113.1"]}}]})
            self.assertTrue(dry["dry_run"])
        self.assertEqual(dig(self.port, "www.batch.test"), ("NOERROR", ["198.51.100.7"]))
        self.assertEqual(dig(self.port, "mail.batch.test"), ("NOERROR", ["192.0.2.25"]))

        # A write that changes nothing makes no batch.
        with self.unchanged():
            same = self.ok("PUT", "/v1/zones/batch.test/rrsets/www/A",
                           {"ttl": 30, "values": ["198.51.100.7"]})
            self.assertEqual((same["change"], same["no_op"]), (None, True))

    # --- credentials -----------------------------------------------------------------------

    def test_tokens(self):
        log = self.server.log()
        self.assertIn("API on http://127.0.0.1:%d (tokens: " % self.api_port, log)
        for described in ("deploy-bot (read-write)", "auditor (read-only)", "env (read-write)",
                          "env-read (read-only)"):
            self.assertIn(described, log)
        for secret in (RW_TOKEN, RO_TOKEN, ENV_RW, ENV_RO, R53_SECRET):
            self.assertNotIn(secret, log)
        self.make_zone("auth.test")

        # No token, a wrong token, a token that is not Bearer: 401, even for reads.
        for headers, token in [({}, None), ({}, "wrong-token"),
                               ({"Authorization": "Basic ZGVwbG95OmJvdA=="}, None),
                               ({}, RW_TOKEN + "x")]:
            msg, hdrs = self.error("GET", "/v1/zones", status=401, code="unauthorized",
                                   token=token, headers=headers)
            self.assertEqual(hdrs.get("www-authenticate", "").split()[0], "Bearer", hdrs)
        # Every read-only token reads; every read-write token reads.
        for token in (RO_TOKEN, ENV_RO, RW_TOKEN, ENV_RW):
            self.ok("GET", "/v1/zones/auth.test", token=token)

        # Writes without the right token: 401/403 and nothing applied, whatever the route.
        writes = [
            ("PUT", "/v1/zones/auth.test/rrsets/www/A", {"values": ["192.0.2.1"]}),
            ("POST", "/v1/changes", {"changes": [{"action": "CREATE", "zone": "auth.test",
                                                  "key": "x/A",
                                                  "body": {"values": ["192.0.2.1"]}}]}),
            ("POST", "/v1/zones", zone_body("other-auth.test")),
            ("DELETE", "/v1/zones/auth.test", None),
            ("POST", "/v1/health/checks", {"id": "auth-x", "type": "external"}),
            ("PUT", "/v1/health/checks/seed-ext/status", {"status": "unhealthy"}),
        ]
        with self.unchanged():
            for method, path, body in writes:
                for token, name in ((RO_TOKEN, "auditor"), (ENV_RO, "env-read")):
                    self.error(method, path, body, status=403, code="forbidden", token=token,
                               contains="token '%s' is read-only" % name)
                for token in (None, "nope"):
                    self.error(method, path, body, status=401, code="unauthorized", token=token)
        self.assertEqual(self.ok("GET", "/v1/health/checks/seed-ext")["status"], "healthy")

        # Read-write tokens work, and each batch's author is the token's name.
        a = self.ok("PUT", "/v1/zones/auth.test/rrsets/www/A?wait=5",
                    {"values": ["192.0.2.1"]}, token=ENV_RW)
        b = self.ok("PUT", "/v1/zones/auth.test/rrsets/www/A?wait=5",
                    {"values": ["192.0.2.2"]}, token=RW_TOKEN)
        self.assertEqual((a["change"]["author"], b["change"]["author"]), ("env", "deploy-bot"))
        listed = {c["id"]: c["author"] for c in self.ok("GET", "/v1/changes?limit=5",
                                                        token=RO_TOKEN)["changes"]}
        self.assertEqual(listed[a["change"]["id"]], "env")
        self.assertEqual(listed[b["change"]["id"]], "deploy-bot")
        self.assertEqual(dig(self.port, "www.auth.test"), ("NOERROR", ["192.0.2.2"]))
        # The audit log: token name, client and status for refused and accepted writes.
        wait_until(lambda: re.search(r"api: PUT /v1/zones/auth\.test/rrsets/www/A\S* by "
                                     r"'deploy-bot' from 127\.0\.0\.1:\d+ -> 200",
                                     self.server.log()), timeout=5, what="audit line")
        log = self.server.log()
        self.assertRegex(log, r"api: PUT /v1/zones/auth\.test/rrsets/www/A\S* by 'auditor' "
                              r"from 127\.0\.0\.1:\d+ -> 403")
        self.assertRegex(log, r"api: PUT /v1/zones/auth\.test/rrsets/www/A\S* by 'env' from "
                              r"127\.0\.0\.1:\d+ -> 200")
        self.assertRegex(log, r"api: PUT /v1/zones/auth\.test/rrsets/www/A\S* by '-' "
                              r"from 127\.0\.0\.1:\d+ -> 401")

    def test_route53_key_from_config(self):
        self.assertIn("Route 53 keys: " + R53_KEY_ID, self.server.log())
        self.make_zone("r53.test")
        try:
            import boto3
            import botocore.exceptions
        except ImportError:
            self.skipTest("python3-boto3 is not installed")
        session = boto3.session.Session(aws_access_key_id=R53_KEY_ID,
                                        aws_secret_access_key=R53_SECRET, region_name="us-east-1")
        endpoint = "http://127.0.0.1:%d" % self.api_port
        r53 = session.client("route53", endpoint_url=endpoint)
        names = [z["Name"] for z in r53.list_hosted_zones()["HostedZones"]]
        self.assertIn("r53.test.", names)  # made through the native API, seen by Route 53
        bad = boto3.session.Session(aws_access_key_id=R53_KEY_ID,
                                    aws_secret_access_key=R53_SECRET + "x",
                                    region_name="us-east-1").client("route53",
                                                                    endpoint_url=endpoint)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            bad.list_hosted_zones()
        self.assertEqual(cm.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
        # A bearer token is no Route 53 credential, and a Route 53 secret no bearer token.
        self.error("GET", "/v1/zones", status=401, token=R53_SECRET)

    # --- bad input -------------------------------------------------------------------------

    def test_bad_input(self):
        self.make_zone("bad.test")
        self.ok("PUT", "/v1/zones/bad.test/rrsets/www/A?wait=5", {"values": ["192.0.2.1"]})
        with self.unchanged():
            # Malformed JSON: the position and the reason.
            msg, _ = self.error("POST", "/v1/changes", '{"changes": [{"action": "UPSERT",}]}',
                                code="invalid_json", contains="request body is not valid JSON")
            self.assertRegex(msg, r"line 1, column \d+")
            msg, _ = self.error("PUT", "/v1/zones/bad.test/rrsets/www/A",
                                '{\n  "values": ["192.0.2.7"\n}', code="invalid_json")
            self.assertRegex(msg, r"line 3, column 1")
            self.error("POST", "/v1/changes", "", code="bad_request", contains="body is empty")
            self.error("POST", "/v1/changes", "[1, 2]", contains="must be a JSON object")

            # Unknown fields, each with a suggestion.
            self.error("POST", "/v1/changes", {"comentt": "x", "changes": []},
                       contains="unknown field 'comentt' (did you mean 'comment'?)")
            self.error("POST", "/v1/changes", {"changes": [
                {"acton": "UPSERT", "zone": "bad.test", "key": "www/A", "body": {}}]},
                contains=["changes[0]", "unknown field 'acton' (did you mean 'action'?)"])
            self.error("PUT", "/v1/zones/bad.test/rrsets/www/A",
                       {"ttl": 60, "valuse": ["192.0.2.7"]}, code="invalid_change",
                       contains=["www.bad.test./A", "unknown key 'valuse'",
                                 "did you mean 'values'?"])
            self.error("POST", "/v1/changes", {"changes": [
                {"action": "UPSERT", "zone": "bad.test", "key": "www/A",
                 "body": {"ttl": 60, "valuse": ["192.0.2.7"]}}]},
                code="invalid_change", contains=["changes[0]", "did you mean 'values'?"])
            self.error("POST", "/v1/zones", dict(zone_body("new-bad.test"), comentt="x"),
                       contains="did you mean 'comment'?")
            self.error("POST", "/v1/changes", {"changes": [
                {"action": "UPSURT", "zone": "bad.test", "key": "www/A", "body": {}}]},
                contains=["changes[0]", "field 'action'", "not CREATE, UPSERT or DELETE"])

            # Invalid names and values: the field and the reason.
            self.error("POST", "/v1/changes", {"changes": [
                {"action": "UPSERT", "zone": "bad.test", "key": "bad..name/A",
                 "body": {"values": ["192.0.2.1"]}}]},
                contains=["changes[0]", "name", "'bad..name' is not a valid domain name"])
            self.error("POST", "/v1/changes", {"changes": [
                {"action": "UPSERT", "zone": "bad.test", "key": "www.other.test./A",
                 "body": {"values": ["192.0.2.1"]}}]},
                contains=["changes[0]", "is not in zone bad.test."])
            self.error("POST", "/v1/changes", {"changes": [
                {"action": "UPSERT", "zone": "bad.test", "key": "www/BOGUS",
                 "body": {"values": ["192.0.2.1"]}}]},
                contains=["changes[0]", "type", "'BOGUS' is not a record type"])
            self.error("PUT", "/v1/zones/bad.test/rrsets/www/A", {"values": ["999.1.1.1"]},
                       code="invalid_change",
                       contains=["www.bad.test./A", "'999.1.1.1': invalid IPv4 address"])
            self.error("PUT", "/v1/zones/bad.test/rrsets/www/A", {"ttl": "soon",
                                                                  "values": ["192.0.2.1"]},
                       code="invalid_change", contains=["www.bad.test./A", "ttl"])
            self.error("PUT", "/v1/zones/bad.test/rrsets/www/A",
                       {"name": "mail", "values": ["192.0.2.1"]},
                       contains="field 'name' is 'mail' but the record set is www.bad.test.")
            self.error("POST", "/v1/zones", zone_body("bad..zone"),
                       contains=["field 'name'", "not a valid domain name"])
            self.error("POST", "/v1/changes", {"changes": "all of them"},
                       contains="field 'changes' is required")
            self.error("POST", "/v1/changes?wait=forever", {"changes": [
                {"action": "UPSERT", "zone": "bad.test", "key": "www/A",
                 "body": {"values": ["192.0.2.5"]}}]},
                contains="query parameter 'wait': 'forever' is not a whole number")
            self.error("PUT", "/v1/zones/bad.test/rrsets/www/A?wait=99", {"values": ["192.0.2.5"]},
                       contains="query parameter 'wait': 99 is out of range (0 to 60)")
            self.error("DELETE", "/v1/zones/bad.test/rrsets/www/A?wait=-1",
                       contains="query parameter 'wait'")

            # A wrong content type: 415 before anything is parsed.
            self.error("POST", "/v1/changes", "changes=all", status=415,
                       code="unsupported_media_type", content_type="text/plain",
                       contains="send application/json")
            self.error("PUT", "/v1/zones/bad.test/rrsets/www/A", '{"values": ["192.0.2.5"]}',
                       status=415, content_type="application/x-www-form-urlencoded")

            # A body over 4 MiB sent chunked (no Content-Length to refuse it up front): 413 once
            # the limit is crossed.
            self.assertEqual(self.oversized_chunked()[:12], b"HTTP/1.1 413")
        self.assertEqual(dig(self.port, "www.bad.test"), ("NOERROR", ["192.0.2.1"]))
        self.assertIsNone(self.server.proc.poll())

    def oversized_chunked(self):
        s = socket.create_connection(("127.0.0.1", self.api_port), timeout=10)
        s.sendall(b"POST /v1/changes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + RW_TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b' ' * 65536
        framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        # 4.5 MiB: past the limit, and within what the server drains after its answer, so the
        # answer is not destroyed by a reset. Sent from a thread while this one reads.
        s.sendall(b'd\r\n{"changes": [\r\n')

        def send():
            try:
                for _ in range(72):
                    s.sendall(framed)
            except OSError:
                pass  # the server may close once it has drained enough
        t = threading.Thread(target=send, daemon=True)
        t.start()
        data = read_http_response(s, timeout=15)
        t.join(timeout=15)
        s.close()
        self.assertIn(b"exceeds the limit of 4194304 bytes", data)
        return data

    def test_slow_clients(self):
        """Clients that stall after the header (body timeout, 30 s) or inside it (header
        timeout, 5 s) are cut by the server, and meanwhile everyone else is served at once."""
        self.make_zone("slow.test")
        cat = self.catalog()
        stalled = []
        # Headers complete, body promised but only partly sent.
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", self.api_port), timeout=60)
            s.sendall(b"POST /v1/changes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + RW_TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 200\r\n\r\n{\"changes\": [")
            stalled.append(("body", s))
        # Header started but never finished, no more bytes.
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", self.api_port), timeout=60)
            s.sendall(b"GET /v1/zones HTTP/1.1\r\nHost: x\r\n")
            stalled.append(("header", s))
        t0 = time.monotonic()
        closed_at = {}
        done = threading.Event()

        def watch(kind, s, i):
            data = read_http_response(s, timeout=45)
            closed_at[i] = (kind, time.monotonic() - t0, data)
            if len(closed_at) == len(stalled):
                done.set()
        threads = [threading.Thread(target=watch, args=(k, s, i), daemon=True)
                   for i, (k, s) in enumerate(stalled)]
        for t in threads:
            t.start()

        # Meanwhile: reads and writes by others are answered quickly, all the time.
        slowest = 0.0        # reads
        slowest_write = 0.0  # writes wait for a durable commit (fsync)
        reads_done, writes_done = [], []  # when each finished, seconds after t0
        n = 0
        while not done.is_set() and time.monotonic() - t0 < 45:
            t1 = time.monotonic()
            self.ok("GET", "/v1/zones/slow.test")
            slowest = max(slowest, time.monotonic() - t1)
            reads_done.append(time.monotonic() - t0)
            if n % 10 == 0:
                t1 = time.monotonic()
                self.ok("PUT", "/v1/zones/slow.test/rrsets/w%d/A" % n, {"values": ["192.0.2.1"]})
                slowest_write = max(slowest_write, time.monotonic() - t1)
                writes_done.append(time.monotonic() - t0)
            n += 1
            done.wait(0.1)
        for t in threads:
            t.join(timeout=5)
        for s in stalled:
            s[1].close()
        self.assertEqual(len(closed_at), len(stalled), closed_at)
        for kind, took, data in closed_at.values():
            # Cut without an answer being needed (a 408 would be fine too), at its timeout.
            self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408"), data)
            if kind == "header":
                self.assertTrue(4.0 < took < 8.0, (kind, took))
            else:
                self.assertTrue(25.0 < took < 35.0, (kind, took))
        # Others are served while every stalled client is still held: reads and writes finish
        # before the first stall is cut (a server that waited on the stalls would answer none
        # before then). Counted, not timed, so a slow disk or a busy machine cannot fail it.
        first_cut = min(t for _, t, _ in closed_at.values())
        self.assertGreaterEqual(len([t for t in reads_done if t < first_cut]), 10,
                                (first_cut, reads_done[:20]))
        self.assertGreaterEqual(len([t for t in writes_done if t < first_cut]), 1,
                                (first_cut, writes_done[:10]))
        self.assertGreater(n, 50)
        # The stalled writes applied nothing: only the parallel PUTs changed the zone.
        after = self.catalog()
        zone = [z for z in after["zones"] if z["name"] == "slow.test."][0]
        before_zone = [z for z in cat["zones"] if z["name"] == "slow.test."][0]
        self.assertEqual(len(zone["records"]) - len(before_zone["records"]), (n + 9) // 10)
        cut = {k: sorted(t for kk, t, _ in closed_at.values() if kk == k)
               for k in ("header", "body")}
        print("\nslow clients: %d reads + %d writes meanwhile, slowest read %.3f s, write %.3f s; "
              "header stalls cut at %.1f-%.1f s, body stalls at %.1f-%.1f s"
              % (n, (n + 9) // 10, slowest, slowest_write, cut["header"][0], cut["header"][-1],
                 cut["body"][0], cut["body"][-1]))

    # --- health checks and answers ---------------------------------------------------------

    def test_health_checks_and_answer(self):
        self.make_zone("hc.test")
        for cid in ("hc-pri", "hc-sec"):
            out = self.ok("POST", "/v1/health/checks?wait=5",
                          {"id": cid, "type": "external", "initial": "healthy"}, status=201)
            self.assertEqual(out["check"]["id"], cid)
            self.assertEqual(out["change"]["author"], "deploy-bot")
        self.error("POST", "/v1/health/checks", {"id": "hc-pri", "type": "external"},
                   status=409, code="check_exists")
        cfg = self.ok("GET", "/v1/health/checks/hc-pri/config")
        self.assertEqual((cfg["id"], cfg["config"]["type"]), ("hc-pri", "external"))
        # The health engine picks up the new check.
        wait_until(lambda: self.api.call("GET", "/v1/health/checks/hc-pri")[0] == 200,
                   timeout=5, what="hc-pri in the health engine")

        app = {"ttl": 30, "policy": "failover", "members": [
            {"set_id": "pri", "role": "primary", "values": ["192.0.2.10"],
             "health_check": "hc-pri"},
            {"set_id": "sec", "role": "secondary", "values": ["198.51.100.10"],
             "health_check": "hc-sec"}]}
        self.ok("PUT", "/v1/zones/hc.test/rrsets/app/A?wait=5", app)
        self.assertEqual(dig(self.port, "app.hc.test"), ("NOERROR", ["192.0.2.10"]))

        def answer(client=None):
            q = "/v1/answer?name=app.hc.test.&type=A" + ("&client=" + client if client else "")
            return self.ok("GET", q, token=RO_TOKEN)
        a = answer("203.0.113.7")
        self.assertEqual((a["rcode"], a["aa"]), ("NOERROR", True))
        self.assertEqual([(r["name"], r["type"], r["data"]) for r in a["answers"]],
                         [("app.hc.test.", "A", "192.0.2.10")])
        # The primary goes down: the API and dig both see the secondary.
        self.ok("PUT", "/v1/health/checks/hc-pri/status", {"status": "unhealthy",
                                                           "reason": "test"})
        wait_until(lambda: [r["data"] for r in answer()["answers"]] == ["198.51.100.10"],
                   timeout=10, what="the secondary in /v1/answer")
        self.assertEqual(dig(self.port, "app.hc.test"), ("NOERROR", ["198.51.100.10"]))
        self.assertEqual(answer()["answers"][0]["ttl"], 30)
        nx = self.ok("GET", "/v1/answer?name=nothing.hc.test.&type=A")
        self.assertEqual((nx["rcode"], nx["answers"]), ("NXDOMAIN", []))
        self.error("GET", "/v1/answer?name=app.hc.test.&type=BOGUS", contains="not a record type")
        self.error("GET", "/v1/answer?type=A", contains="query parameter 'name' is required")

        # A check in use cannot be deleted: 400 naming the record set; nothing changes.
        with self.unchanged():
            self.error("DELETE", "/v1/health/checks/hc-pri", status=400, code="invalid_change",
                       contains=["HealthCheckInUse", "hc-pri", "app.hc.test."])
            # A record set that names a check that does not exist is refused too.
            self.error("PUT", "/v1/zones/hc.test/rrsets/app2/A", dict(app, members=[
                dict(app["members"][0], health_check="hc-nosuch"), app["members"][1]]),
                code="invalid_change", contains=["app2.hc.test./A", "hc-nosuch"])
        self.error("DELETE", "/v1/health/checks/hc-nosuch", status=404)
        # Once nothing uses it, it goes.
        self.ok("DELETE", "/v1/zones/hc.test/rrsets/app/A?wait=5")
        self.ok("DELETE", "/v1/health/checks/hc-pri?wait=5")
        self.error("GET", "/v1/health/checks/hc-pri/config", status=404)


class SeparateDaemonTest(unittest.TestCase):
    """Startup variants: each starts its own daemon."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="steerdns-native2-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def config(self, server_lines):
        """CONFIG with its server section replaced by `server_lines`."""
        base = CONFIG.format(rw=RW_TOKEN, key_id=R53_KEY_ID)
        rest = "health_checks:" + base.split("health_checks:", 1)[1]
        return self.write("steerdns.yaml", "server:\n" + server_lines + rest)

    def start(self, cfg, api_listen, **env):
        with environment(**env):
            s = steerdns(config=cfg, probe_zone="seed.test.",
                         extra_args=["--store", "sqlite:" + os.path.join(self.dir, "s.db"),
                                     "--api-listen", api_listen]).start()
        self.servers.append(s)
        return s

    def run_serve(self, cfg, api_listen, **env):
        with environment(**env):
            return subprocess.run([steerdns_bin(), "serve", "--config", cfg,
                                   "--listen", "127.0.0.1:%d" % free_port(),
                                   "--store", "sqlite:" + os.path.join(self.dir, "r.db"),
                                   "--api-listen", api_listen],
                                  capture_output=True, text=True, timeout=30, cwd=self.dir)

    def test_https(self):
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"], timeout=30)
        cfg = self.config("  api_tls: { cert: %s, key: %s }\n"
                          "  api_tokens:\n    - { name: tls-bot, secret: %s, access: read-write }\n"
                          % (cert, key, RW_TOKEN))
        port = free_port()
        s = self.start(cfg, "127.0.0.1:%d" % port)
        self.assertIn("API on https://127.0.0.1:%d (tokens: tls-bot (read-write))" % port,
                      s.log())
        api = Client(port, tls_ca=cert)
        wait_until(lambda: api.call("GET", "/healthz", token=None)[0] == 200, timeout=10,
                   what="the API over TLS")
        out = api.call("PUT", "/v1/zones/seed.test/rrsets/tls/A?wait=5",
                       {"values": ["192.0.2.44"]})
        self.assertEqual(out[0], 200, out)
        self.assertEqual(out[1]["change"]["author"], "tls-bot")
        self.assertEqual(dig(s.port, "tls.seed.test"), ("NOERROR", ["192.0.2.44"]))
        self.assertEqual(api.call("GET", "/v1/zones", token=None)[0], 401)
        # Keep-alive over TLS: several requests on one connection.
        c = api.conn()
        for _ in range(3):
            c.request("GET", "/v1/zones/seed.test", headers={"Authorization": "Bearer " + RW_TOKEN})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        c.close()

        # Plain HTTP to the TLS port gets no HTTP answer: the connection is closed at once.
        with self.assertRaises((http.client.HTTPException, OSError)):
            Client(port).call("GET", "/v1/zones")
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        t0 = time.monotonic()
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_http_response(raw, timeout=10), b"")
        self.assertLess(time.monotonic() - t0, 3.0)
        raw.close()
        # A client that does not trust the certificate refuses it.
        with self.assertRaises(ssl.SSLError):
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                            context=ssl.create_default_context())
            try:
                c.request("GET", "/healthz")
            finally:
                c.close()
        # Still serving TLS after both.
        self.assertEqual(api.call("GET", "/v1/zones")[0], 200)

    def test_store_survives_restart(self):
        """Batches made through the API are in the store on disk: after a restart the catalog,
        the change list and the answers are the same."""
        cfg = self.config("  api_tokens:\n    - { name: ops, secret: %s, access: read-write }\n"
                          % RW_TOKEN)
        port = free_port()
        s = self.start(cfg, "127.0.0.1:%d" % port)
        api = Client(port)
        wait_until(lambda: api.call("GET", "/v1/zones")[0] == 200, timeout=10, what="the API")
        self.assertEqual(api.call("POST", "/v1/zones", zone_body("disk.test"))[0], 201)
        out = api.call("POST", "/v1/changes?wait=5", {"comment": "before restart", "changes": [
            {"action": "CREATE", "zone": "disk.test", "key": "www/A",
             "body": {"ttl": 60, "values": ["192.0.2.80"]}}]})
        self.assertEqual(out[0], 200, out)
        catalog = api.call("GET", "/v1/catalog")[1]
        changes = api.call("GET", "/v1/changes")[1]["changes"]
        s.stop()
        self.servers.remove(s)
        s = self.start(cfg, "127.0.0.1:%d" % port)
        wait_until(lambda: api.call("GET", "/v1/zones")[0] == 200, timeout=10, what="the API")
        self.assertEqual(api.call("GET", "/v1/catalog")[1], catalog)
        self.assertEqual(api.call("GET", "/v1/changes")[1]["changes"], changes)
        self.assertEqual(changes[0]["comment"], "before restart")
        self.assertEqual(changes[0]["author"], "ops")
        self.assertEqual(dig(s.port, "www.disk.test"), ("NOERROR", ["192.0.2.80"]))

    def test_https_bad_key_refused(self):
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        other = os.path.join(self.dir, "other.pem")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
            timeout=30)
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", other], timeout=30)
        cfg = self.config("  api_tls: { cert: %s, key: %s }\n" % (cert, other))
        p = self.run_serve(cfg, "127.0.0.1:%d" % free_port())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("private key file '%s' does not match certificate file '%s'"
                      % (other, cert), p.stderr)

    def test_non_loopback(self):
        # No credentials at all (an empty token list is none): refused, saying why.
        cfg = self.config("  api_tokens: []\n")
        p = self.run_serve(cfg, "0.0.0.0:%d" % free_port())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("not a loopback address and no credentials are configured", p.stderr)
        # A token from the config file (its secret from the environment): it starts.
        cfg = self.config("  api_tokens:\n"
                          "    - { name: wide, secret_env: H6B_WIDE_TOKEN, access: read-only }\n")
        port = free_port()
        s = self.start(cfg, "0.0.0.0:%d" % port, H6B_WIDE_TOKEN=RO_TOKEN)
        self.assertIn("API on http://0.0.0.0:%d (tokens: wide (read-only))" % port, s.log())
        api = Client(port)
        wait_until(lambda: api.call("GET", "/v1/zones", token=RO_TOKEN)[0] == 200, timeout=10,
                   what="the API on 0.0.0.0")
        self.assertEqual(api.call("GET", "/v1/zones", token=None)[0], 401)
        self.assertEqual(api.call("PUT", "/v1/zones/seed.test/rrsets/x/A",
                                  {"values": ["192.0.2.1"]}, token=RO_TOKEN)[0], 403)
        # The secret_env variable unset: a startup error naming the token.
        p = self.run_serve(cfg, "0.0.0.0:%d" % free_port())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("wide", p.stderr)
        self.assertIn("H6B_WIDE_TOKEN", p.stderr)
        # Route 53 keys alone are credentials too: it starts, and the log names the key id.
        cfg = self.config("  route53_keys:\n"
                          "    - { access_key_id: %s, secret_env: H6B_R53_SECRET }\n" % R53_KEY_ID)
        port = free_port()
        s = self.start(cfg, "0.0.0.0:%d" % port, H6B_R53_SECRET=R53_SECRET)
        self.assertIn("API on http://0.0.0.0:%d (Route 53 keys: %s)" % (port, R53_KEY_ID),
                      s.log())


if __name__ == "__main__":
    unittest.main()
