#!/usr/bin/python3
"""The Route 53-compatible API of the real daemon driven by the real aws CLI (/usr/bin/aws,
Debian's awscli) and boto3 (python3-boto3), signed with SigV4 against
STEERDNS_ACCESS_KEY_ID/STEERDNS_SECRET_ACCESS_KEY (docs/route53.md):

create a hosted zone, create health checks against a local HTTP backend, create a failover
pair with health-check ids, list (with paging), get-change until INSYNC, dig sees the primary;
run the flagship runbook (examples/runbooks/failover-to-secondary.json) with only
--endpoint-url added and dig sees the secondary; get-health-check of a config check; a wrong
secret (SignatureDoesNotMatch) and an invalid batch (InvalidChangeBatch) change nothing;
delete everything. Run by ctest (STEERDNS_BIN).
"""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

from harness import free_port, run, steerdns, wait_until

SOURCE_DIR = os.environ.get(
    "STEERDNS_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
RUNBOOK = os.path.join(SOURCE_DIR, "examples", "runbooks", "failover-to-secondary.json")
AWS = "/usr/bin/aws"
KEY_ID = "AKIDSTEERDNSTEST0001"
SECRET = "steerdns-test-secret/0123456789abcdef"

CONFIG = """\
health_checks:
  primary-app: { type: external, initial: healthy }
  secondary-app: { type: external, initial: healthy }
zones:
  - name: example.test.
    ttl: 300
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 1 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - name: genai-demo
        type: A
        ttl: 60
        policy: failover
        failover_ttl: 30
        members:
          - { set_id: genai-demo-primary, role: primary, values: [192.0.2.10], health_check: primary-app }
          - { set_id: genai-demo-secondary, role: secondary, values: [198.51.100.10], health_check: secondary-app }
"""


class Backend(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"status: ok\n"
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class AwsError(Exception):
    def __init__(self, code, text):
        super().__init__(text)
        self.code = code
        self.text = text


class Route53Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in (AWS, "/usr/bin/dig"):
            if not os.path.exists(tool):
                raise unittest.SkipTest(tool + " is not installed (make deps-test)")
        cls.tmp = tempfile.mkdtemp(prefix="steerdns-r53-")
        cls.backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
        threading.Thread(target=cls.backend.serve_forever, daemon=True).start()
        cfg = os.path.join(cls.tmp, "cfg.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        cls.api_port = free_port()
        cls.endpoint = "http://127.0.0.1:%d" % cls.api_port
        os.environ["STEERDNS_ACCESS_KEY_ID"] = KEY_ID
        os.environ["STEERDNS_SECRET_ACCESS_KEY"] = SECRET
        cls.server = steerdns(
            config=cfg, probe_zone="example.test.",
            extra_args=["--store", "sqlite:" + os.path.join(cls.tmp, "s.db"),
                        "--api-listen", "127.0.0.1:%d" % cls.api_port])
        cls.server.start()
        cls.dns_port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.backend.shutdown()
        cls.backend.server_close()
        if cls._boto is not None and hasattr(cls._boto, "close"):
            cls._boto.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- clients ----

    def env(self, secret=SECRET):
        e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        e.update({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": secret,
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
                  "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""})
        return e

    def aws(self, *args, secret=SECRET, cwd=None):
        """The aws CLI with only --endpoint-url added; its JSON output, or AwsError."""
        p = subprocess.run([AWS, "--endpoint-url", self.endpoint, "--output", "json",
                            "route53"] + list(args), capture_output=True, text=True,
                           env=self.env(secret), timeout=60, cwd=cwd)
        if p.returncode != 0:
            code = ""
            if "An error occurred (" in p.stderr:
                code = p.stderr.split("An error occurred (", 1)[1].split(")", 1)[0]
            raise AwsError(code, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    _boto = None

    def boto(self):
        """One boto3 client (python3-boto3) for the whole test, signing with the right key."""
        if Route53Test._boto is None:
            import boto3
            Route53Test._boto = boto3.session.Session(
                aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                region_name="us-east-1").client("route53", endpoint_url=self.endpoint)
        return Route53Test._boto

    def dig(self, name, rtype="A"):
        out = run(["dig", "@127.0.0.1", "-p", str(self.dns_port), "+short", "+norecurse",
                   "+time=1", "+tries=1", name, rtype])
        return sorted(out.split())

    def zone_id(self, name):
        for z in self.aws("list-hosted-zones")["HostedZones"]:
            if z["Name"] == name:
                return z["Id"].split("/")[-1]
        return None

    def wait_insync(self, change_id):
        wait_until(lambda: self.aws("get-change", "--id", change_id)["ChangeInfo"]["Status"]
                   == "INSYNC", timeout=20, interval=0.2, what="change %s INSYNC" % change_id)

    def batch_file(self, name, changes, comment=""):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump({"Comment": comment, "Changes": changes}, f)
        return "file://" + path

    # ---- the scenario ----

    def test_route53_flow(self):
        # Hosted zone (CallerReference: a second create with it creates nothing).
        out = self.aws("create-hosted-zone", "--name", "r53.test", "--caller-reference", "ref-1",
                       "--hosted-zone-config", "Comment=made by test_route53")
        zid = out["HostedZone"]["Id"].split("/")[-1]
        self.assertTrue(out["Location"].endswith("/2013-04-01/hostedzone/" + zid), out)
        self.assertEqual(out["DelegationSet"]["NameServers"], ["ns1.example.test"])
        self.assertIn(out["ChangeInfo"]["Status"], ("PENDING", "INSYNC"))
        self.wait_insync(out["ChangeInfo"]["Id"])
        with self.assertRaises(AwsError) as e:
            self.aws("create-hosted-zone", "--name", "r53.test", "--caller-reference", "ref-1")
        self.assertEqual(e.exception.code, "HostedZoneAlreadyExists")
        got = self.aws("get-hosted-zone", "--id", zid)
        self.assertEqual(got["HostedZone"]["Name"], "r53.test.")
        self.assertEqual(got["HostedZone"]["Config"]["Comment"], "made by test_route53")
        page = self.boto().list_hosted_zones(MaxItems="1")
        self.assertTrue(page["IsTruncated"])
        page2 = self.boto().list_hosted_zones(MaxItems="1", Marker=page["NextMarker"])
        self.assertEqual({page["HostedZones"][0]["Name"], page2["HostedZones"][0]["Name"]},
                         {"example.test.", "r53.test."})

        # Health checks against the local backend.
        port = self.backend.server_address[1]
        checks = []
        for i in (1, 2):
            cfg = {"IPAddress": "127.0.0.1", "Port": port, "Type": "HTTP_STR_MATCH",
                   "ResourcePath": "/health", "SearchString": "ok",
                   "FullyQualifiedDomainName": "app%d.r53.test" % i, "RequestInterval": 10,
                   "FailureThreshold": 2}
            hc = self.aws("create-health-check", "--caller-reference", "hc-%d" % i,
                          "--health-check-config", json.dumps(cfg))["HealthCheck"]
            self.assertEqual(hc["HealthCheckConfig"]["Type"], "HTTP_STR_MATCH")
            self.assertEqual(hc["HealthCheckConfig"]["Port"], port)
            self.assertEqual(hc["HealthCheckVersion"], 1)
            checks.append(hc["Id"])
        listed = {c["Id"] for c in self.aws("list-health-checks")["HealthChecks"]}
        self.assertTrue(set(checks) | {"primary-app", "secondary-app"} <= listed, listed)
        upd = self.boto().update_health_check(HealthCheckId=checks[0], HealthCheckVersion=1,
                                              FailureThreshold=3)
        self.assertEqual(upd["HealthCheck"]["HealthCheckVersion"], 2)
        self.assertEqual(upd["HealthCheck"]["HealthCheckConfig"]["FailureThreshold"], 3)

        # A failover pair with the checks, plus simple records to page through.
        def member(set_id, role, value, check):
            return {"Action": "CREATE", "ResourceRecordSet": {
                "Name": "app.r53.test", "Type": "A", "SetIdentifier": set_id, "Failover": role,
                "TTL": 30, "ResourceRecords": [{"Value": value}], "HealthCheckId": check}}
        changes = [member("app-primary", "PRIMARY", "192.0.2.21", checks[0]),
                   member("app-secondary", "SECONDARY", "198.51.100.21", checks[1])]
        for n in range(5):
            changes.append({"Action": "CREATE", "ResourceRecordSet": {
                "Name": "host%d.r53.test" % n, "Type": "TXT", "TTL": 300,
                "ResourceRecords": [{"Value": '"n=%d"' % n}]}})
        out = self.aws("change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch",
                       self.batch_file("pair.json", changes, "failover pair"))
        self.assertEqual(out["ChangeInfo"]["Comment"], "failover pair")
        self.wait_insync(out["ChangeInfo"]["Id"])
        self.assertEqual(self.dig("app.r53.test"), ["192.0.2.21"])

        # Listing: the CLI pages on its own; boto3 page by page with the Next* markers.
        sets = self.aws("list-resource-record-sets", "--hosted-zone-id", zid)["ResourceRecordSets"]
        names = [(s["Name"], s["Type"], s.get("SetIdentifier")) for s in sets]
        self.assertEqual(names[:4], [("r53.test.", "NS", None), ("r53.test.", "SOA", None),
                                     ("app.r53.test.", "A", "app-primary"),
                                     ("app.r53.test.", "A", "app-secondary")])
        self.assertEqual(len(names), 9)
        self.assertEqual(sets[2]["HealthCheckId"], checks[0])
        self.assertEqual(sets[2]["Failover"], "PRIMARY")
        paged, kwargs = [], {"HostedZoneId": zid, "MaxItems": "2"}
        while True:
            r = self.boto().list_resource_record_sets(**kwargs)
            paged += [(s["Name"], s["Type"], s.get("SetIdentifier"))
                      for s in r["ResourceRecordSets"]]
            if not r["IsTruncated"]:
                break
            kwargs.update(StartRecordName=r["NextRecordName"], StartRecordType=r["NextRecordType"])
            kwargs.pop("StartRecordIdentifier", None)
            if "NextRecordIdentifier" in r:
                kwargs["StartRecordIdentifier"] = r["NextRecordIdentifier"]
        self.assertEqual(paged, names)

        # The flagship runbook, with only --endpoint-url added, against the config's zone.
        ex = self.zone_id("example.test.")
        self.assertEqual(self.dig("genai-demo.example.test"), ["192.0.2.10"])
        out = self.aws("change-resource-record-sets", "--hosted-zone-id", ex, "--change-batch",
                       "file://failover-to-secondary.json", cwd=os.path.dirname(RUNBOOK))
        self.wait_insync(out["ChangeInfo"]["Id"])
        wait_until(lambda: self.dig("genai-demo.example.test") == ["198.51.100.10"],
                   what="the secondary answering")
        hc = self.aws("get-health-check", "--health-check-id", "primary-app")["HealthCheck"]
        self.assertEqual(hc["Id"], "primary-app")
        status = self.boto().get_health_check_status(HealthCheckId=checks[0])
        self.assertTrue(status["HealthCheckObservations"], status)
        answer = self.boto().test_dns_answer(HostedZoneId=zid, RecordName="app.r53.test",
                                             RecordType="A")
        self.assertEqual(answer["RecordData"], ["192.0.2.21"])

        # A wrong secret and an invalid batch change nothing.
        before = self.aws("list-resource-record-sets", "--hosted-zone-id", zid)
        bad_secret = self.batch_file("bad.json", [{"Action": "DELETE", "ResourceRecordSet":
                                                   changes[2]["ResourceRecordSet"]}])
        with self.assertRaises(AwsError) as e:
            self.aws("change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch",
                     bad_secret, secret="not-the-secret")
        self.assertEqual(e.exception.code, "SignatureDoesNotMatch")
        invalid = self.batch_file("invalid.json", [
            {"Action": "DELETE", "ResourceRecordSet": changes[2]["ResourceRecordSet"]},
            member("app-primary", "PRIMARY", "192.0.2.99", checks[0])])
        with self.assertRaises(AwsError) as e:
            self.aws("change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch",
                     invalid)
        self.assertEqual(e.exception.code, "InvalidChangeBatch")
        self.assertIn("Tried to create resource record set [name='app.r53.test.', type='A', "
                      "set-identifier='app-primary'] but it already exists", e.exception.text)
        self.assertEqual(self.aws("list-resource-record-sets", "--hosted-zone-id", zid), before)
        with self.assertRaises(AwsError) as e:
            self.aws("delete-health-check", "--health-check-id", checks[0])
        self.assertEqual(e.exception.code, "HealthCheckInUse")

        # Delete: records first (HostedZoneNotEmpty before), then the checks and the zone.
        with self.assertRaises(AwsError) as e:
            self.aws("delete-hosted-zone", "--id", zid)
        self.assertEqual(e.exception.code, "HostedZoneNotEmpty")
        deletes = [{"Action": "DELETE", "ResourceRecordSet": c["ResourceRecordSet"]}
                   for c in changes]
        out = self.aws("change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch",
                       self.batch_file("delete.json", deletes))
        self.wait_insync(out["ChangeInfo"]["Id"])
        for hc_id in checks:
            self.aws("delete-health-check", "--health-check-id", hc_id)
        with self.assertRaises(AwsError) as e:
            self.aws("get-health-check", "--health-check-id", checks[0])
        self.assertEqual(e.exception.code, "NoSuchHealthCheck")
        out = self.aws("delete-hosted-zone", "--id", zid)
        self.wait_insync(out["ChangeInfo"]["Id"])
        with self.assertRaises(AwsError) as e:
            self.aws("get-hosted-zone", "--id", zid)
        self.assertEqual(e.exception.code, "NoSuchHostedZone")
        wait_until(lambda: "REFUSED" in run(["dig", "@127.0.0.1", "-p", str(self.dns_port),
                                             "+norecurse", "app.r53.test", "A"]),
                   what="r53.test. no longer served")


if __name__ == "__main__":
    unittest.main()
