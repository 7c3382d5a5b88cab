#!/usr/bin/python3
"""The Route 53-compatible API of the real daemon driven by the real aws CLI (/usr/bin/aws,
Debian's awscli) and boto3 (python3-boto3), signed with SigV4 against
STEERDNS_ACCESS_KEY_ID/STEERDNS_SECRET_ACCESS_KEY (docs/route53.md):

create a hosted zone, create health checks against a local HTTP backend, create a failover
pair with health-check ids, list (with paging), get-change until INSYNC, dig sees the primary;
run the flagship runbook (examples/runbooks/failover-to-secondary.json) with only
--endpoint-url added and dig sees the secondary; get-health-check of a config check; a wrong
secret (SignatureDoesNotMatch) and an invalid batch (InvalidChangeBatch) change nothing;
delete everything (test_route53_flow).

test_route53_policies: weighted (weight 0 is a standby; swapped), latency (Region ->
latency_map, chosen by ECS), geolocation (country, continent, `*`; a GeoIP database built by
tests/testlib/make_mmdb.pl, queried with dig +subnet), multivalue with health checks (a failing
member drops out), an alias to a record set in the zone; paging one record set at a time;
update-health-check with HealthCheckVersion, get-health-check-status, test-dns-answer; and
NoSuchHostedZone, NoSuchHealthCheck, SignatureDoesNotMatch and InvalidChangeBatch leaving the
zone as it was. Run by ctest (STEERDNS_BIN).
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

# latency_map and geoip serve test_route53_policies: Route 53 Regions are latency_map regions,
# and geo.mmdb (tests/testlib/make_mmdb.pl) puts 203.0.113.0/24 in TW and 198.51.100.0/24 in DE.
CONFIG = """\
latency_map:
  - { cidr: 203.0.113.0/24, rtt_ms: { us-east-1: 90, ap-northeast-1: 10 } }
  - { cidr: 198.51.100.0/24, rtt_ms: { us-east-1: 10, ap-northeast-1: 90 } }
  - { cidr: 0.0.0.0/0, rtt_ms: { us-east-1: 20, ap-northeast-1: 60 } }
geoip: { database: geo.mmdb }
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
        mmdb = subprocess.run(["perl", os.path.join(SOURCE_DIR, "tests", "testlib", "make_mmdb.pl"),
                               os.path.join(cls.tmp, "geo.mmdb")], capture_output=True, text=True)
        if mmdb.returncode != 0:
            raise unittest.SkipTest("make_mmdb.pl failed (libmaxmind-db-writer-perl): " +
                                    mmdb.stderr)
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


    # ---- routing policies, health-check updates and error codes ----

    def dig_ecs(self, name, subnet, rtype="A"):
        """dig with an EDNS Client Subnet: latency and geo answers depend on it."""
        out = run(["dig", "@127.0.0.1", "-p", str(self.dns_port), "+short", "+norecurse",
                   "+time=1", "+tries=1", "+subnet=" + subnet, name, rtype])
        return sorted(out.split())

    def dig_many(self, name, n=12):
        """The union of n answers: a weighted name picks one member per query."""
        seen = set()
        for _ in range(n):
            seen.update(self.dig(name))
        return sorted(seen)

    def change(self, zid, file_name, changes, **kw):
        out = self.aws("change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch",
                       self.batch_file(file_name, changes), **kw)
        self.wait_insync(out["ChangeInfo"]["Id"])
        return out

    def test_route53_policies(self):
        out = self.aws("create-hosted-zone", "--name", "pol.test", "--caller-reference", "pol-1")
        zid = out["HostedZone"]["Id"].split("/")[-1]
        self.wait_insync(out["ChangeInfo"]["Id"])
        port = self.backend.server_address[1]

        def rrset(name, rtype="A", ttl=60, values=(), **extra):
            r = {"Name": name + ".pol.test", "Type": rtype, **extra}
            if values:
                r["TTL"] = ttl
                r["ResourceRecords"] = [{"Value": v} for v in values]
            return r

        def upsert(*sets):
            return [{"Action": "UPSERT", "ResourceRecordSet": s} for s in sets]

        # Three checks for the multivalue members, all healthy at first.
        checks = []
        for i in range(3):
            cfg = {"IPAddress": "127.0.0.1", "Port": port, "Type": "HTTP",
                   "ResourcePath": "/health", "RequestInterval": 10, "FailureThreshold": 2}
            checks.append(self.aws("create-health-check", "--caller-reference", "pol-hc-%d" % i,
                                   "--health-check-config", json.dumps(cfg))["HealthCheck"]["Id"])

        def weighted(w1, w2):
            return upsert(rrset("w", SetIdentifier="w-one", Weight=w1, values=["192.0.2.1"]),
                          rrset("w", SetIdentifier="w-two", Weight=w2, values=["192.0.2.2"]))

        self.change(zid, "policies.json", weighted(1, 0) + upsert(
            rrset("lat", SetIdentifier="lat-use1", Region="us-east-1", values=["192.0.2.31"]),
            rrset("lat", SetIdentifier="lat-apne1", Region="ap-northeast-1",
                  values=["192.0.2.32"]),
            rrset("geo", SetIdentifier="geo-default", GeoLocation={"CountryCode": "*"},
                  values=["192.0.2.40"]),
            rrset("geo", SetIdentifier="geo-tw", GeoLocation={"CountryCode": "TW"},
                  values=["192.0.2.41"]),
            rrset("geo", SetIdentifier="geo-eu", GeoLocation={"ContinentCode": "EU"},
                  values=["192.0.2.42"]),
            *[rrset("mv", SetIdentifier="mv-%d" % i, MultiValueAnswer=True,
                    values=["192.0.2.5%d" % i], HealthCheckId=checks[i]) for i in range(3)],
            rrset("origin", values=["192.0.2.61", "192.0.2.62"]),
            rrset("alias", AliasTarget={"HostedZoneId": zid, "DNSName": "origin.pol.test",
                                        "EvaluateTargetHealth": False})))

        # Weighted: weight 0 is a standby, so only the weight-1 member answers; then swapped.
        self.assertEqual(self.dig_many("w.pol.test"), ["192.0.2.1"])
        answer = self.boto().test_dns_answer(HostedZoneId=zid, RecordName="w.pol.test",
                                             RecordType="A")
        self.assertEqual(answer["RecordData"], ["192.0.2.1"])
        self.assertEqual(answer["ResponseCode"], "NOERROR")
        self.change(zid, "swap.json", weighted(0, 1))
        self.assertEqual(self.dig_many("w.pol.test"), ["192.0.2.2"])
        answer = self.boto().test_dns_answer(HostedZoneId=zid, RecordName="w.pol.test",
                                             RecordType="A")
        self.assertEqual(answer["RecordData"], ["192.0.2.2"])

        # Latency: the region with the lowest RTT in the client's latency_map entry.
        self.assertEqual(self.dig("lat.pol.test"), ["192.0.2.31"])  # 127.0.0.1: 0.0.0.0/0
        self.assertEqual(self.dig_ecs("lat.pol.test", "203.0.113.0/24"), ["192.0.2.32"])
        self.assertEqual(self.dig_ecs("lat.pol.test", "198.51.100.0/24"), ["192.0.2.31"])
        answer = self.boto().test_dns_answer(
            HostedZoneId=zid, RecordName="lat.pol.test", RecordType="A",
            EDNS0ClientSubnetIP="203.0.113.7", EDNS0ClientSubnetMask="24")
        self.assertEqual(answer["RecordData"], ["192.0.2.32"])

        # Geolocation: country, then continent, then the default.
        self.assertEqual(self.dig("geo.pol.test"), ["192.0.2.40"])
        self.assertEqual(self.dig_ecs("geo.pol.test", "203.0.113.0/24"), ["192.0.2.41"])
        self.assertEqual(self.dig_ecs("geo.pol.test", "198.51.100.0/24"), ["192.0.2.42"])
        self.assertEqual(self.dig_ecs("geo.pol.test", "192.0.2.128/25"), ["192.0.2.40"])

        # Alias: the target's addresses.
        self.assertEqual(self.dig("alias.pol.test"), ["192.0.2.61", "192.0.2.62"])

        # Multivalue: every healthy member.
        self.assertEqual(self.dig("mv.pol.test"), ["192.0.2.50", "192.0.2.51", "192.0.2.52"])

        # The record sets round-trip through list-resource-record-sets.
        sets = self.aws("list-resource-record-sets", "--hosted-zone-id", zid)["ResourceRecordSets"]
        by_id = {(s["Name"], s.get("SetIdentifier")): s for s in sets}
        self.assertEqual(by_id[("w.pol.test.", "w-one")]["Weight"], 0)
        self.assertEqual(by_id[("w.pol.test.", "w-two")]["Weight"], 1)
        self.assertEqual(by_id[("lat.pol.test.", "lat-apne1")]["Region"], "ap-northeast-1")
        self.assertEqual(by_id[("geo.pol.test.", "geo-default")]["GeoLocation"],
                         {"CountryCode": "*"})
        self.assertEqual(by_id[("geo.pol.test.", "geo-tw")]["GeoLocation"], {"CountryCode": "TW"})
        self.assertEqual(by_id[("geo.pol.test.", "geo-eu")]["GeoLocation"],
                         {"ContinentCode": "EU"})
        mv1 = by_id[("mv.pol.test.", "mv-1")]
        self.assertTrue(mv1["MultiValueAnswer"])
        self.assertEqual(mv1["HealthCheckId"], checks[1])
        self.assertEqual(mv1["ResourceRecords"], [{"Value": "192.0.2.51"}])
        alias = by_id[("alias.pol.test.", None)]
        self.assertEqual(alias["AliasTarget"], {"HostedZoneId": zid, "DNSName": "origin.pol.test.",
                                                "EvaluateTargetHealth": False})
        self.assertNotIn("TTL", alias)
        self.assertEqual(len(sets), 2 + 2 + 2 + 3 + 3 + 1 + 1)

        # Paging one record at a time crosses the sets with identifiers and gives the same list.
        paged, kwargs = [], {"HostedZoneId": zid, "MaxItems": "1"}
        for _ in range(len(sets) + 1):
            r = self.boto().list_resource_record_sets(**kwargs)
            self.assertEqual(len(r["ResourceRecordSets"]), 1)
            paged += r["ResourceRecordSets"]
            if not r["IsTruncated"]:
                break
            kwargs.update(StartRecordName=r["NextRecordName"], StartRecordType=r["NextRecordType"])
            kwargs.pop("StartRecordIdentifier", None)
            if "NextRecordIdentifier" in r:
                kwargs["StartRecordIdentifier"] = r["NextRecordIdentifier"]
        self.assertEqual([(s["Name"], s.get("SetIdentifier")) for s in paged],
                         [(s["Name"], s.get("SetIdentifier")) for s in sets])

        # update-health-check: a stale version is refused; then mv-1's check probes a failing
        # path with a threshold of 1, and its member drops out of the answer.
        hc = self.aws("get-health-check", "--health-check-id", checks[1])["HealthCheck"]
        self.assertEqual(hc["HealthCheckVersion"], 1)
        upd = self.aws("update-health-check", "--health-check-id", checks[1],
                       "--health-check-version", "1", "--failure-threshold", "1",
                       "--resource-path", "/down")["HealthCheck"]
        self.assertEqual(upd["HealthCheckVersion"], 2)
        with self.assertRaises(AwsError) as e:
            self.aws("update-health-check", "--health-check-id", checks[1],
                     "--health-check-version", "1", "--failure-threshold", "3")
        self.assertEqual(e.exception.code, "HealthCheckVersionMismatch")
        hc = self.aws("get-health-check", "--health-check-id", checks[1])["HealthCheck"]
        self.assertEqual(hc["HealthCheckVersion"], 2)
        self.assertEqual(hc["HealthCheckConfig"]["FailureThreshold"], 1)
        self.assertEqual(hc["HealthCheckConfig"]["ResourcePath"], "/down")
        wait_until(lambda: self.dig("mv.pol.test") == ["192.0.2.50", "192.0.2.52"], timeout=30,
                   interval=0.2, what="mv-1 dropping out of the multivalue answer")
        status = self.boto().get_health_check_status(HealthCheckId=checks[1])
        observed = [o["StatusReport"]["Status"] for o in status["HealthCheckObservations"]]
        self.assertTrue(observed and all(s.startswith("Failure") for s in observed), status)
        status = self.boto().get_health_check_status(HealthCheckId=checks[0])
        observed = [o["StatusReport"]["Status"] for o in status["HealthCheckObservations"]]
        self.assertTrue(observed and all(s.startswith("Success") for s in observed), status)
        # And back: the member returns once its check passes again.
        self.aws("update-health-check", "--health-check-id", checks[1],
                 "--resource-path", "/health")
        wait_until(lambda: self.dig("mv.pol.test") == ["192.0.2.50", "192.0.2.51", "192.0.2.52"],
                   timeout=30, interval=0.2, what="mv-1 back in the multivalue answer")

        # Errors change nothing.
        before = self.aws("list-resource-record-sets", "--hosted-zone-id", zid)
        swap_back = self.batch_file("swap-back.json", weighted(1, 0))
        with self.assertRaises(AwsError) as e:
            self.aws("change-resource-record-sets", "--hosted-zone-id", "Z00000000000000000000",
                     "--change-batch", swap_back)
        self.assertEqual(e.exception.code, "NoSuchHostedZone")
        with self.assertRaises(AwsError) as e:
            self.aws("list-resource-record-sets", "--hosted-zone-id", "ZNOSUCHZONE")
        self.assertEqual(e.exception.code, "NoSuchHostedZone")
        for op in (["get-health-check"], ["get-health-check-status"],
                   ["update-health-check", "--failure-threshold", "2"]):
            with self.assertRaises(AwsError) as e:
                self.aws(*op, "--health-check-id", "00000000-0000-0000-0000-000000000000")
            self.assertEqual(e.exception.code, "NoSuchHealthCheck", op)
        with self.assertRaises(AwsError) as e:
            self.aws("change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch",
                     swap_back, secret="not-the-secret")
        self.assertEqual(e.exception.code, "SignatureDoesNotMatch")
        invalid = self.batch_file("invalid.json", weighted(1, 0) + [
            {"Action": "DELETE", "ResourceRecordSet": rrset(
                "geo", SetIdentifier="geo-jp", GeoLocation={"CountryCode": "JP"},
                values=["192.0.2.43"])},
            {"Action": "CREATE", "ResourceRecordSet": rrset(
                "lat", SetIdentifier="lat-use1", Region="us-east-1", values=["192.0.2.33"])}])
        with self.assertRaises(AwsError) as e:
            self.aws("change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch",
                     invalid)
        self.assertEqual(e.exception.code, "InvalidChangeBatch")
        self.assertIn("Tried to delete resource record set [name='geo.pol.test.', type='A', "
                      "set-identifier='geo-jp'] but it was not found", e.exception.text)
        self.assertIn("Tried to create resource record set [name='lat.pol.test.', type='A', "
                      "set-identifier='lat-use1'] but it already exists", e.exception.text)
        with self.assertRaises(AwsError) as e:
            self.change(zid, "unknown-check.json", upsert(rrset(
                "mv", SetIdentifier="mv-3", MultiValueAnswer=True, values=["192.0.2.53"],
                HealthCheckId="00000000-0000-0000-0000-000000000000")))
        self.assertIn(e.exception.code, ("InvalidChangeBatch", "NoSuchHealthCheck"))
        self.assertIn("00000000-0000-0000-0000-000000000000", e.exception.text)
        # MultiValueAnswer false is no routing policy: a SetIdentifier without one is refused
        # (not kept as a plain record that drops the identifier).
        with self.assertRaises(AwsError) as e:
            self.change(zid, "mv-false.json", upsert(rrset(
                "mvf", SetIdentifier="mvf-1", MultiValueAnswer=False, values=["192.0.2.53"])))
        self.assertEqual(e.exception.code, "InvalidChangeBatch")
        self.assertIn("but found none in Change with [Action=UPSERT, Name=mvf.pol.test, Type=A, "
                      "SetIdentifier=mvf-1]", e.exception.text)
        self.assertEqual(self.aws("list-resource-record-sets", "--hosted-zone-id", zid), before)
        self.assertEqual(self.dig_many("w.pol.test"), ["192.0.2.2"])

        # Clean up: every record set as listed, then the checks and the zone.
        deletes = [{"Action": "DELETE", "ResourceRecordSet": s}
                   for s in before["ResourceRecordSets"] if s["Type"] not in ("SOA", "NS")]
        self.change(zid, "delete-all.json", deletes)
        for hc_id in checks:
            self.aws("delete-health-check", "--health-check-id", hc_id)
        self.wait_insync(self.aws("delete-hosted-zone", "--id", zid)["ChangeInfo"]["Id"])


if __name__ == "__main__":
    unittest.main()
