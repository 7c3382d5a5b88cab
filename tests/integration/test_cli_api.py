#!/usr/bin/python3
"""The operator CLI end to end over the native API (docs/cli.md): a real daemon with a store and
the API on loopback (bearer token), and the `steerdns` commands a runbook uses, checked with
real `dig`: apply --dry-run (plan, nothing changed), apply (dig sees it), a broken file (its own
file:line error, nothing sent), records set/get/list/delete, changes list/get/diff/wait, zone
export -> import round trip, failover / override / failback, explain, events, health, --json
output that parses, and a wrong token (exit code != 0, nothing changed).
Run by ctest (STEERDNS_BIN)."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import free_port, steerdns, steerdns_bin, wait_until

TOKEN = "cli-test-token-1"

BASE = """\
server:
  control_socket: {dir}/control.sock
health_checks:
  - {{ id: ext, type: external }}
zones:
  - name: example.test.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - {{ name: www, type: A, ttl: 60, values: [{www}] }}
      - name: app
        type: A
        ttl: 60
        policy: failover
        failback: manual
        members:
          - {{ set_id: pri, role: primary, values: [192.0.2.50] }}
          - {{ set_id: sec, role: secondary, values: [198.51.100.50] }}
{extra}"""


def dig_a(port, name):
    """The A values (sorted) and the status of `dig NAME A`."""
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=2",
                          "+norecurse", name, "A"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise AssertionError("dig failed: %s %s" % (out.stdout, out.stderr))
    status = re.search(r"status: (\w+)", out.stdout).group(1)
    values = sorted(re.findall(r"^\S+\s+\d+\s+IN\s+A\s+(\S+)$", out.stdout, re.M))
    return status, values


class CliApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("dig") is None:
            raise unittest.SkipTest("dig is not installed")
        cls.dir = tempfile.mkdtemp(prefix="steerdns-cli-")
        cls.cfg = cls.write("cfg.yaml", BASE.format(dir=cls.dir, www="192.0.2.1", extra=""))
        cls.api_port = free_port()
        cls.api = "http://127.0.0.1:%d" % cls.api_port
        saved = os.environ.get("STEERDNS_API_TOKEN")
        os.environ["STEERDNS_API_TOKEN"] = TOKEN
        try:
            cls.server = steerdns(
                config=cls.cfg, probe_zone="example.test.",
                extra_args=["--store", "sqlite:%s/s.db" % cls.dir,
                            "--api-listen", "127.0.0.1:%d" % cls.api_port]).start()
        finally:
            if saved is None:
                os.environ.pop("STEERDNS_API_TOKEN", None)
            else:
                os.environ["STEERDNS_API_TOKEN"] = saved
        cls.port = cls.server.port
        try:
            wait_until(lambda: cls.cli("status", check=False).returncode in (0, 3), timeout=15,
                       what="the API to answer")
        except Exception:
            cls.server.stop()  # tearDownClass does not run when setUpClass fails
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def write(cls, name, text):
        path = os.path.join(cls.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    @classmethod
    def cli(cls, *args, token=TOKEN, check=True, api=None, timeout=90):
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEERDNS_")}
        env["HOME"] = cls.dir  # no ~/.config/steerdns/cli.yaml of the user running the tests
        if token is not None:
            env["STEERDNS_API_TOKEN"] = token
        argv = [steerdns_bin()] + list(args) + ["--api", api or cls.api]
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
        # `status` exits 3 when something needs attention: an answer, not a failure.
        if check and p.returncode != 0 and not (args[0] == "status" and p.returncode == 3):
            raise AssertionError("%s -> %d\nstdout: %s\nstderr: %s\nserver log:\n%s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr,
                                    cls.server.log()[-3000:]))
        return p

    def cli_json(self, *args):
        return json.loads(self.cli(*args, "--json").stdout)

    def change_ids(self):
        reply = self.cli_json("changes", "list", "--limit", "1000")
        items = reply if isinstance(reply, list) else reply.get("changes", [])
        return [c["id"] for c in items]

    def wait_dig(self, name, want_status, want_values, timeout=10):
        wait_until(lambda: dig_a(self.port, name) == (want_status, sorted(want_values)),
                   timeout=timeout, what="%s A -> %s %s" % (name, want_status, want_values))

    # --- declarative apply -----------------------------------------------------------------------

    def test_10_apply_dry_run_then_apply(self):
        new_cfg = self.write("cfg2.yaml", BASE.format(
            dir=self.dir, www="192.0.2.2",
            extra="      - { name: new, type: A, ttl: 60, values: [192.0.2.77] }\n"))
        before = self.change_ids()
        dry = self.cli("apply", "-f", new_cfg, "--dry-run")
        self.assertIn("new.example.test", dry.stdout)
        self.assertIn("www.example.test", dry.stdout)
        dry_json = json.loads(self.cli("apply", "-f", new_cfg, "--dry-run", "--json").stdout)
        self.assertIsInstance(dry_json, dict)
        self.assertEqual(dig_a(self.port, "new.example.test"), ("NXDOMAIN", []))
        self.assertEqual(dig_a(self.port, "www.example.test"), ("NOERROR", ["192.0.2.1"]))
        self.assertEqual(self.change_ids(), before, "a dry run made a change batch")

        applied = self.cli("apply", "-f", new_cfg, "--yes")
        m = re.search(r"applied as change (\S+)", applied.stdout)
        self.assertIsNotNone(m, applied.stdout)
        self.assertIn("is INSYNC", applied.stdout)
        self.assertEqual(dig_a(self.port, "new.example.test"), ("NOERROR", ["192.0.2.77"]))
        self.assertEqual(dig_a(self.port, "www.example.test"), ("NOERROR", ["192.0.2.2"]))
        self.assertIn(m.group(1), self.change_ids())

        again = self.cli("apply", "-f", new_cfg, "--yes")
        self.assertIn("No changes.", again.stdout)

    def test_11_apply_bad_file_sends_nothing(self):
        bad = self.write("bad.yaml", BASE.format(
            dir=self.dir, www="192.0.2.1",
            extra="      - { name: oops, type: A, ttl: 60, valuez: [192.0.2.78] }\n"))
        before = self.change_ids()
        p = self.cli("apply", "-f", bad, "--yes", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("bad.yaml:", p.stderr)
        self.assertRegex(p.stderr, r"bad\.yaml:\d+")
        self.assertIn("valuez", p.stderr)
        self.assertEqual(self.change_ids(), before)
        # Without --yes and no terminal: refused, nothing applied.
        other = self.write("cfg3.yaml", BASE.format(dir=self.dir, www="192.0.2.3", extra=""))
        p = self.cli("apply", "-f", other, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--yes", p.stderr)
        self.assertEqual(self.change_ids(), before)

    # --- records and changes ---------------------------------------------------------------------

    def test_20_records_set_get_delete(self):
        reply = self.cli_json("records", "set", "example.test", "rs.example.test.", "A",
                              "--ttl", "120", "--value", "192.0.2.9", "--value", "192.0.2.10")
        cid = (reply.get("change") or {}).get("id") or reply.get("change_id") or reply.get("id")
        self.assertTrue(cid, reply)
        waited = self.cli("changes", "wait", cid, "--timeout", "30s")
        self.assertIn("INSYNC", waited.stdout)
        self.assertEqual(dig_a(self.port, "rs.example.test"),
                         ("NOERROR", ["192.0.2.10", "192.0.2.9"]))

        got = self.cli_json("records", "get", "example.test", "rs.example.test.", "A")
        body = got.get("rrset", got)
        self.assertEqual(sorted(body["values"]), ["192.0.2.10", "192.0.2.9"])
        self.assertEqual(body["ttl"], 120)
        table = self.cli("records", "list", "example.test").stdout
        self.assertRegex(table, r"rs\.example\.test\.?\s+A\s+120")
        listed = self.cli_json("records", "list", "example.test", "--type", "A")
        self.assertIn("rs.example.test", json.dumps(listed))

        # From a body file (YAML).
        body_file = self.write("rs.yaml", "ttl: 30\nvalues: [192.0.2.11]\n")
        out = self.cli("records", "set", "example.test", "rs.example.test.", "A", "-f", body_file)
        cid = re.search(r"change (\S+)", out.stdout).group(1)
        self.cli("changes", "wait", cid)
        self.assertEqual(dig_a(self.port, "rs.example.test"), ("NOERROR", ["192.0.2.11"]))

        diff = self.cli("changes", "diff", cid)
        self.assertIn("192.0.2.11", diff.stdout)
        self.assertIn("192.0.2.9", diff.stdout)
        got = self.cli_json("changes", "get", cid)
        self.assertEqual(got.get("change", got)["id"], cid)
        listed = self.cli("changes", "list").stdout
        # The table counts each batch's changes (one record set here).
        self.assertRegex(listed, rf"(?m)^{cid} .* 1 ")

        out = self.cli("records", "delete", "example.test", "rs.example.test.", "A")
        cid = re.search(r"change (\S+)", out.stdout).group(1)
        self.cli("changes", "wait", cid)
        self.assertEqual(dig_a(self.port, "rs.example.test"), ("NXDOMAIN", []))

        missing = self.cli("records", "get", "example.test", "rs.example.test.", "A", check=False)
        self.assertNotEqual(missing.returncode, 0)
        self.assertTrue(missing.stderr.strip())

    def test_21_bad_record_is_refused_with_the_servers_message(self):
        before = self.change_ids()
        p = self.cli("records", "set", "example.test", "bad.example.test.", "A", "--ttl", "60",
                     "--value", "not-an-address", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not-an-address", p.stderr)
        self.assertEqual(self.change_ids(), before)

    def test_22_changes_wait_unknown_id_fails(self):
        p = self.cli("changes", "wait", "CNOSUCHCHANGE0000000", "--timeout", "2s", check=False)
        self.assertNotEqual(p.returncode, 0)

    # --- zones -----------------------------------------------------------------------------------

    def test_60_zone_export_import_round_trip(self):
        path = os.path.join(self.dir, "export.zone")
        self.cli("zone", "export", "example.test", "-o", path)
        with open(path) as f:
            text = f.read()
        self.assertIn("SOA", text)
        self.assertRegex(text, r"www\S*\s+\d+\s+IN\s+A\s+192\.0\.2\.\d+")
        www = dig_a(self.port, "www.example.test")

        out = self.cli("records", "delete", "example.test", "www.example.test.", "A")
        self.cli("changes", "wait", re.search(r"change (\S+)", out.stdout).group(1))
        self.assertEqual(dig_a(self.port, "www.example.test")[0], "NXDOMAIN")

        imported = self.cli_json("zone", "import", "example.test", path)
        cid = (imported.get("change") or {}).get("id") or imported.get("change_id")
        if cid:
            self.cli("changes", "wait", cid)
        self.wait_dig("www.example.test", www[0], www[1])
        again = self.cli("zone", "export", "example.test").stdout
        self.assertRegex(again, r"www\S*\s+\d+\s+IN\s+A\s+192\.0\.2\.\d+")

    def test_61_import_of_an_export_keeps_steered_sets(self):
        # The export carries each steered set as a `;steerdns:steered {json}` comment before its
        # fail-open answer; importing the file restores the set itself, not that plain answer.
        before = self.cli_json("records", "get", "example.test", "app.example.test.", "A")
        path = os.path.join(self.dir, "steered.zone")
        self.cli("zone", "export", "example.test", "-o", path)
        with open(path) as f:
            text = f.read()
        self.assertIn(";steerdns:steered {", text)
        self.assertRegex(text, r"app\S*\s+60\s+IN\s+A\s+192\.0\.2\.50")
        checker = shutil.which("nsd-checkzone")
        if checker:  # still a master file other servers load (the comment is a comment)
            p = subprocess.run([checker, "example.test", path], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

        imported = self.cli_json("zone", "import", "example.test", path)
        cid = (imported.get("change") or {}).get("id") or imported.get("change_id")
        if cid:
            self.cli("changes", "wait", cid)
        status = self.cli_json("status")
        self.assertIn("app.example.test./A", [s["set"] for s in status["sets"]])
        self.assertEqual(self.cli_json("records", "get", "example.test", "app.example.test.", "A"),
                         before)
        self.wait_dig("app.example.test", "NOERROR", ["192.0.2.50"])

    def test_31_zones_create_list_delete(self):
        out = self.cli("zones", "create", "cli-made.test", "--comment", "from the cli test",
                       "--ns", "ns1.cli-made.test.", "--rname", "hostmaster.cli-made.test.")
        m = re.search(r"change (\S+)", out.stdout)
        if m:
            self.cli("changes", "wait", m.group(1))
        zones = self.cli("zones", "list").stdout
        self.assertIn("cli-made.test", zones)
        self.assertIn("from the cli test", zones)
        self.cli_json("zones", "list")
        self.cli("zones", "delete", "cli-made.test")
        self.assertNotIn("cli-made.test", self.cli("zones", "list").stdout)

    def test_32_zones_create_with_just_a_name(self):
        out = self.cli("zones", "create", "bare.test")
        m = re.search(r"change (\S+)", out.stdout)
        if m:
            self.cli("changes", "wait", m.group(1))
        zones = self.cli_json("zones", "list")
        zone = [z for z in zones.get("zones", zones) if z["name"] == "bare.test."][0]
        soa = zone["settings"]["soa"]
        self.assertEqual((soa["mname"], soa["rname"]),
                         ("ns1.example.test.", "hostmaster.bare.test."))
        self.assertEqual([soa[k] for k in ("refresh", "retry", "expire", "minimum")],
                         [7200, 900, 1209600, 86400])
        self.assertEqual(zone["settings"]["ns"], ["ns1.example.test."])
        dig = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port), "+time=2", "+tries=2",
                              "+norecurse", "bare.test", "SOA"], capture_output=True, text=True,
                             timeout=30)
        self.assertIn("hostmaster.bare.test.", dig.stdout)
        self.cli("zones", "delete", "bare.test")

    # --- steering --------------------------------------------------------------------------------

    def test_40_failover_override_failback(self):
        self.assertEqual(dig_a(self.port, "app.example.test"), ("NOERROR", ["192.0.2.50"]))
        out = self.cli("failover", "app.example.test/A", "--to", "secondary",
                       "--reason", "cli test drill", "--expires", "10m", "--author", "tester")
        self.assertIn("app.example.test./A#pri", out.stdout)
        self.wait_dig("app.example.test", "NOERROR", ["198.51.100.50"])
        ovs = self.cli_json("override", "list")["overrides"]
        self.assertEqual([(o["scope"], o["target"], o["action"]) for o in ovs],
                         [("member", "app.example.test./A#pri", "down")])
        self.assertIn("cli test drill", self.cli("status").stdout)
        status = self.cli_json("status")
        app = [s for s in status["sets"] if s["set"] == "app.example.test./A"][0]
        self.assertEqual(app["active_tier"], 2)

        bad = self.cli("failover", "app.example.test/A", "--to", "nowhere", "--reason", "x",
                       check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("nowhere", bad.stderr)

        back = self.cli("failback", "app.example.test/A", "--author", "tester")
        self.assertIn("cleared override", back.stdout)
        self.wait_dig("app.example.test", "NOERROR", ["192.0.2.50"])
        self.assertEqual(self.cli_json("override", "list")["overrides"], [])

    def test_41_override_set_clear_and_approve(self):
        self.cli("override", "set", "--member", "app.example.test/A#sec", "--action", "down",
                 "--reason", "maintenance", "--author", "tester", "--expires", "5m")
        ovs = self.cli_json("override", "list")["overrides"]
        self.assertEqual([o["target"] for o in ovs], ["app.example.test./A#sec"])
        self.cli("override", "clear", "--member", "app.example.test/A#sec", "--author", "tester")
        self.assertEqual(self.cli_json("override", "list")["overrides"], [])
        # Nothing waits for approval: the daemon's error comes back as is, exit code 1.
        p = self.cli("failback", "approve", "app.example.test/A", "--author", "tester",
                     check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertTrue(p.stderr.strip())

    def test_42_explain_events_simulate_health(self):
        text = self.cli("explain", "app.example.test", "A").stdout
        self.assertIn("failover policy", text)
        ex = self.cli_json("explain", "app.example.test", "A", "--ecs", "203.0.113.0/24")
        self.assertEqual(ex["set"], "app.example.test./A")
        events = self.cli_json("events", "--last", "50")
        self.assertIsInstance(events["events"], list)
        self.cli("events")
        out = self.cli("health", "set", "ext", "unhealthy", "--reason", "from the cli test")
        self.assertIn("health check 'ext' set unhealthy", out.stdout)
        health = self.cli_json("health", "ext")
        self.assertEqual([(c["id"], c["status"]) for c in health["checks"]],
                         [("ext", "unhealthy")])
        self.assertIn("from the cli test", self.cli("health").stdout)
        self.cli("health", "set", "ext", "healthy")
        self.assertEqual(self.cli_json("health", "ext")["checks"][0]["status"], "healthy")
        missing = self.cli("health", "set", "nope", "healthy", check=False)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("nope", missing.stderr)
        sim = self.cli_json("simulate", "--down", "ext")
        self.assertIn("sets", sim)

    # --- errors ----------------------------------------------------------------------------------

    def test_50_wrong_token_fails_and_changes_nothing(self):
        before = self.change_ids()
        p = self.cli("records", "set", "example.test", "evil.example.test.", "A", "--ttl", "60",
                     "--value", "192.0.2.66", token="wrong-token", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("the API refused the token (STEERDNS_API_TOKEN)", p.stderr)
        p = self.cli("failover", "app.example.test/A", "--to", "secondary", "--reason", "x",
                     token="wrong-token", check=False)
        self.assertNotEqual(p.returncode, 0)
        p = self.cli("status", token=None, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("STEERDNS_API_TOKEN", p.stderr)
        self.assertEqual(self.change_ids(), before)
        self.assertEqual(dig_a(self.port, "evil.example.test"), ("NXDOMAIN", []))
        self.assertEqual(self.cli_json("override", "list")["overrides"], [])

    def test_51_token_from_file_and_client_config(self):
        tf = self.write("token.txt", TOKEN + "\n")
        self.cli("status", "--token-file", tf, token=None)
        cfg = self.write("cli.yaml", "api: %s\ntoken: %s\n" % (self.api, TOKEN))
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEERDNS_")}
        env.update(HOME=self.dir, STEERDNS_CLI_CONFIG=cfg)
        p = subprocess.run([steerdns_bin(), "status", "--json"], capture_output=True, text=True,
                           env=env, timeout=30)
        self.assertIn(p.returncode, (0, 3), p.stderr)
        json.loads(p.stdout)

    def test_52_unreachable_api(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d" % s.getsockname()[1]
        s.close()
        p = self.cli("status", api=dead, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach the API at %s: connection refused" % dead, p.stderr)
        self.assertIn("steerdns serve", p.stderr)

    def test_53_control_socket_still_works(self):
        sock = os.path.join(self.dir, "control.sock")
        p = subprocess.run([steerdns_bin(), "status", "--control", sock, "--json"],
                           capture_output=True, text=True, timeout=30)
        self.assertIn(p.returncode, (0, 3), p.stderr)
        self.assertIn("sets", json.loads(p.stdout))


if __name__ == "__main__":
    unittest.main(verbosity=2)
