#!/usr/bin/python3
"""Fleet mode end to end (issue 7): a real 3-member etcd cluster (Debian etcd-server, on
non-default loopback ports) and three `steerdns serve --store etcd:... --node-id` nodes.

- A change through node A is answered by node C within 1 s (and by B).
- One node's checker sees the primary down while two see it up: all three keep answering the
  primary, and the fleet shows the divergence (API, `steerdns cluster status`, metrics); when
  every checker sees it down, all three fail over, within 1 s of each other.
- One etcd member killed: nothing changes, writes still work.
- Every etcd member stopped: the nodes keep answering, report themselves stale (API, metrics,
  `cluster status` exit 3), refuse writes with 503 and write nothing; when etcd comes back they
  catch up without a restart.

The HTTP backend answers by the X-Steerdns-Checker header each node's probes carry, so one
node can be made to see it down. Every wait polls with a deadline. Run by ctest (STEERDNS_BIN).
"""
import base64
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import re

from etcd_cluster import EtcdCluster
from test_transport import Steerdns, free_port, query, steerdns_bin, wait_until
from test_transport_axfr_nsd import NSD, NsdSecondary, write_nsd_secondary_conf

PRIMARY = "192.0.2.10"
SECONDARY = "198.51.100.10"
NODES = ("node-a", "node-b", "node-c")

CONFIG = """\
server:
  cluster:
    lease_ttl: 3s
    heartbeat: 300ms
    stale_after: 1500ms
    peer_grace: 60s
    divergence_after: 1s
zones:
  - name: example.test.
    # refresh 1 s: NSD (test_5) also polls, so a NOTIFY it drops while settling an earlier
    # transfer costs a second, not the default two hours.
    soa: {{ mname: ns1.example.test., rname: hostmaster.example.test., serial: 1, refresh: 1, retry: 1 }}
    ns: [ns1.example.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
      - {{ name: www, type: A, ttl: 60, values: [192.0.2.1] }}
      - name: app
        type: A
        ttl: 60
        policy: failover
        failover_ttl: 30
        stabilize: 2s
        min_state: 1s
        members:
          - {{ set_id: app-primary, role: primary, values: [{primary}], health_check: primary-app }}
          - {{ set_id: app-secondary, role: secondary, values: [{secondary}] }}
      - name: op
        type: A
        ttl: 60
        policy: failover
        stabilize: 1s
        min_state: 1s
        members:
          - {{ set_id: op-primary, role: primary, values: [192.0.2.20] }}
          - {{ set_id: op-secondary, role: secondary, values: [198.51.100.20] }}
      - name: gate
        type: A
        ttl: 60
        policy: failover
        stabilize: 1s
        min_state: 1s
        members:
          - {{ set_id: gate-primary, role: primary, values: [192.0.2.30], health_check: gate }}
          - {{ set_id: gate-secondary, role: secondary, values: [198.51.100.30] }}
alerts:
  routes:
    - {{ events: [checker_divergence], severity: warning }}
    - {{ events: [node_stale], severity: critical }}
  severities:
    warning: {{ channels: [hook] }}
    critical: {{ channels: [hook] }}
  channels:
    hook: {{ type: webhook, url: "http://127.0.0.1:{backend_port}/alert" }}
health_checks:
  - id: primary-app
    url: http://127.0.0.1:{backend_port}/ok
    interval: 1s
    timeout: 500ms
    failure_threshold: 2
    success_threshold: 2
  - {{ id: gate, type: external, initial: healthy }}
"""


class Backend(http.server.ThreadingHTTPServer):
    """/ok answers 503 to the checkers in `down_for` ("*" = everyone), 200 to the others."""

    daemon_threads = True

    def __init__(self):
        self.down_for = set()
        self.seen = set()
        self.alerts = []  # webhook bodies received on /alert
        super().__init__(("127.0.0.1", 0), BackendHandler)


class BackendHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        who = self.headers.get("X-Steerdns-Checker", "")
        self.server.seen.add(who)
        down = "*" in self.server.down_for or who in self.server.down_for
        body = b"down\n" if down else b"healthy\n"
        self.send_response(503 if down else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - the alert webhook
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.alerts.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def api(node, method, path, body=None, timeout=10):
    """(status, JSON body) of one API call to a node."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{node.api_port}{path}", data=data,
                                 method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def etcd_post(endpoint, path, body):
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def metric(node, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{node.api_port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


def a_values(node, name):
    r = query(name, "A", port=node.port, timeout=1.0)
    return sorted(rr.address for rrset in r.answer for rr in rrset)


def soa_serial(node):
    r = query("example.test.", "SOA", port=node.port, timeout=1.0)
    return [rr.serial for rrset in r.answer for rr in rrset]


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def cluster_cli(node, *args):
    return subprocess.run([steerdns_bin(), "cluster", "status", "--api",
                           f"http://127.0.0.1:{node.api_port}", *args],
                          capture_output=True, text=True, timeout=30)


class FleetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="steerdns-fleet-")
        cls.backend = Backend()
        threading.Thread(target=cls.backend.serve_forever, daemon=True).start()
        cls.config = os.path.join(cls.tmp, "fleet.yaml")
        with open(cls.config, "w") as f:
            f.write(CONFIG.format(primary=PRIMARY, secondary=SECONDARY,
                                  backend_port=cls.backend.server_address[1]))
        cls.etcd = EtcdCluster(n=3)
        cls.nodes = {}
        cls.nsd_port = free_port()
        try:
            for name in NODES:
                # Node B is the primary of a real NSD secondary (test_5).
                extra = (["--axfr-allow", "127.0.0.1", "--notify", f"127.0.0.1:{cls.nsd_port}"]
                         if name == "node-b" else [])
                cls.nodes[name] = cls.start_node(name, extra)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def start_node(cls, name, extra=(), workdir=None):
        api_port = free_port()
        node = Steerdns(["--config", cls.config, "--store", cls.etcd.spec(), "--node-id", name,
                         "--site", "dc-" + name[-1], "--api-listen", f"127.0.0.1:{api_port}",
                         "--threads", "1", *extra], listen6=False, workdir=workdir)
        node.extra = list(extra)
        node.api_port = api_port
        node.name = name
        return node

    @classmethod
    def tearDownClass(cls):
        for n in getattr(cls, "nodes", {}).values():
            n.cleanup()
        if getattr(cls, "etcd", None):
            cls.etcd.close()
        cls.backend.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def node(self, name):
        return self.nodes[name]

    def wait_all_answer(self, name, want, timeout=10, what=None):
        for n in self.nodes.values():
            wait_until(lambda n=n: a_values(n, name) == want, timeout=timeout,
                       what=what or f"{n.name} answering {name} {want}")

    def wait_fleet_formed(self):
        def formed():
            for n in self.nodes.values():
                st, c = api(n, "GET", "/v1/cluster")
                alive = [m for m in c.get("members", []) if m.get("alive") and not m.get("stale")]
                if st != 200 or c.get("stale") or len(alive) != 3:
                    return False
            return True
        wait_until(formed, timeout=20, what="three live members seen by every node")

    # -- bad input: a node that cannot join says where and why, and does not start ----------

    def test_0_bad_store_specs_and_names_are_refused_clearly(self):
        dead = free_port()  # nothing listens there
        cases = [
            (["--store", f"etcd:http://127.0.0.1:{dead}", "--node-id", "x"],
             f"http://127.0.0.1:{dead}"),
            (["--store", "etcd:ftp://127.0.0.1:2379", "--node-id", "x"], "ftp://"),
            (["--store", self.etcd.spec()], "--node-id is required"),
            (["--store", self.etcd.spec(), "--node-id", "bad name"], "'bad name'"),
            (["--store", self.etcd.spec(prefix="steerdns-bad/"), "--node-id", "x",
              "--site", "a/b"], "--site 'a/b'"),
        ]
        for args, want in cases:
            p = subprocess.run([steerdns_bin(), "serve", "--config", self.config, "--listen",
                                f"127.0.0.1:{free_port()}", "--api-listen", "off", *args],
                               capture_output=True, text=True, timeout=30, cwd=self.tmp)
            self.assertEqual(p.returncode, 1, (args, p.stdout, p.stderr))
            self.assertIn(want, p.stderr, args)
        # etcd out of reach with a catalog cache that is not one: the node does not start
        # and names the file.
        cache = os.path.join(self.tmp, "steerdns-catalog-x.json")
        with open(cache, "w") as f:
            f.write('{"revision": "twelve"}')
        try:
            p = subprocess.run([steerdns_bin(), "serve", "--config", self.config, "--listen",
                                f"127.0.0.1:{free_port()}", "--api-listen", "off", "--store",
                                f"etcd:http://127.0.0.1:{dead}", "--node-id", "x"],
                               capture_output=True, text=True, timeout=30, cwd=self.tmp)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn(cache + ": not a steerdns catalog cache", p.stderr)
            self.assertIn(f"http://127.0.0.1:{dead}", p.stderr)
        finally:
            os.unlink(cache)
        # The fleet was not touched: no member named x.
        st, cl = api(self.node("node-a"), "GET", "/v1/cluster")
        self.assertNotIn("x", [m["node"] for m in cl["members"]])

    # -- a change through one node reaches the others ---------------------------------------

    def test_1_change_through_a_is_answered_by_c_within_1s(self):
        self.wait_fleet_formed()
        self.wait_all_answer("www.example.test.", ["192.0.2.1"])
        a, c = self.node("node-a"), self.node("node-c")
        st, body = api(a, "PUT", "/v1/zones/example.test./rrsets/www/A",
                       {"ttl": 60, "values": ["192.0.2.77"]})
        self.assertIn(st, (200, 201), body)
        committed = time.monotonic()
        wait_until(lambda: a_values(c, "www.example.test.") == ["192.0.2.77"], timeout=5,
                   interval=0.01, what="node C answering the change made through node A")
        took = time.monotonic() - committed
        print(f"change through node-a answered by node-c after {took * 1000:.0f} ms")
        self.assertLessEqual(took, 1.0)
        self.wait_all_answer("www.example.test.", ["192.0.2.77"], timeout=2)
        # Every node serves the same catalog revision and says so.
        revs = set()
        for n in self.nodes.values():
            wait_until(lambda n=n: api(n, "GET", "/v1/cluster")[1]["members"], timeout=5)
        st, cl = api(c, "GET", "/v1/cluster")
        for m in cl["members"]:
            revs.add(m["served_revision"])
        wait_until(lambda: len({m["served_revision"] for m in
                                api(c, "GET", "/v1/cluster")[1]["members"]}) == 1,
                   timeout=5, what="every member reporting the same served revision")

    # -- health views and the consensus -------------------------------------------------------

    def test_2_one_checker_disagrees_all_answer_the_same(self):
        self.wait_fleet_formed()
        self.wait_all_answer("app.example.test.", [PRIMARY], timeout=15)
        wait_until(lambda: {"node-a", "node-b", "node-c"} <= self.backend.seen, timeout=10,
                   what="probes from every node (X-Steerdns-Checker)")
        self.backend.down_for = {"node-c"}
        a = self.node("node-a")

        def c_disagrees():
            st, cl = api(a, "GET", "/v1/cluster")
            for chk in cl.get("checks", []):
                if chk["id"] == "primary-app":
                    return (chk["views"].get("node-c") == "unhealthy" and
                            chk["views"].get("node-a") == "healthy" and
                            chk["consensus"] == "healthy" and
                            any(d["node"] == "node-c" for d in chk["diverging"]))
            return False
        wait_until(c_disagrees, timeout=15, what="node A seeing node C's view diverge")
        # Two of three healthy (> 18 %): every node keeps answering the primary, node C too.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for n in self.nodes.values():
                self.assertEqual(a_values(n, "app.example.test."), [PRIMARY], n.name)
            time.sleep(0.2)
        # The per-node views are in the health report of every node.
        st, rep = api(self.node("node-b"), "GET", "/v1/health/checks/primary-app")
        views = {c["checker"]: c["status"] for c in rep.get("checkers", [])}
        self.assertEqual(views.get("node-c"), "unhealthy", rep)
        self.assertEqual(views.get("node-b"), "healthy", rep)
        wait_until(lambda: metric(a, "steerdns_cluster_divergent_checks") == 1, timeout=5,
                   what="the divergence metric")
        out = cluster_cli(a)
        self.assertIn("primary-app: consensus healthy", out.stdout, out.stdout + out.stderr)
        self.assertIn("node-c unhealthy", out.stdout)
        # The node that routes alerts opened a checker_divergence alert.
        def divergence_alert():
            for n in self.nodes.values():
                st, al = api(n, "GET", "/v1/alerts")
                for x in al.get("alerts", []):
                    if x["event"] == "checker_divergence" and x["target"] == "primary-app":
                        return True
            return False
        wait_until(divergence_alert, timeout=10, what="a checker_divergence alert")
        # Routed by one node only (the fleet's alert leader): one alert in the shared store,
        # one notification -- not one per node. Watched for a few alert ticks (1 s each).
        def notified():
            return [x for x in self.backend.alerts
                    if x.get("alert", {}).get("event") == "checker_divergence"]
        wait_until(notified, timeout=10, what="the divergence webhook")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            st, al = api(a, "GET", "/v1/alerts")
            opened = [x for x in al.get("alerts", []) if x["event"] == "checker_divergence"]
            self.assertEqual(len(opened), 1, al)
            self.assertEqual(len({x.get("dedup_key") for x in notified()}), 1, notified())
            time.sleep(0.2)

        # Everyone sees it down: all three fail over, together.
        self.backend.down_for = {"*"}
        switched = {}

        def all_switched():
            for n in self.nodes.values():
                if n.name not in switched and a_values(n, "app.example.test.") == [SECONDARY]:
                    switched[n.name] = time.monotonic()
            return len(switched) == 3
        wait_until(all_switched, timeout=15, interval=0.01, what="every node failing over")
        spread = max(switched.values()) - min(switched.values())
        print(f"failover seen by the three nodes within {spread * 1000:.0f} ms of each other")
        self.assertLessEqual(spread, 1.0)
        self.backend.down_for = set()
        self.wait_all_answer("app.example.test.", [PRIMARY], timeout=30,
                             what="every node failing back")

    # -- losing etcd members ------------------------------------------------------------------

    def test_3_one_etcd_member_killed_changes_nothing(self):
        self.wait_fleet_formed()
        self.etcd.kill(0)
        try:
            b = self.node("node-b")
            st, body = api(b, "PUT", "/v1/zones/example.test./rrsets/one-down/TXT",
                           {"ttl": 60, "values": ["\"still writable\""]})
            self.assertIn(st, (200, 201), body)
            for n in self.nodes.values():
                wait_until(lambda n=n: query("one-down.example.test.", "TXT", port=n.port,
                                             timeout=1.0).answer, timeout=5,
                           what=f"{n.name} answering the change with one etcd member down")
            for n in self.nodes.values():
                st, cl = api(n, "GET", "/v1/cluster")
                self.assertFalse(cl["stale"], (n.name, cl))
            out = cluster_cli(b)
            # One etcd member down is worth a look (exit 3), and it names it.
            self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
            self.assertIn("NO", out.stdout)
        finally:
            self.etcd.start(0)
            self.etcd.wait_healthy(timeout=30)

    def test_4_all_etcd_down_nodes_keep_answering_then_recover(self):
        self.wait_fleet_formed()
        self.wait_all_answer("app.example.test.", [PRIMARY], timeout=30)
        self.etcd.stop_all()
        try:
            for n in self.nodes.values():
                wait_until(lambda n=n: api(n, "GET", "/v1/cluster")[1].get("stale"), timeout=15,
                           what=f"{n.name} reporting itself stale")
                self.assertEqual(metric(n, "steerdns_cluster_stale"), 1.0)
                # Still answering from the last snapshot.
                self.assertEqual(a_values(n, "app.example.test."), [PRIMARY])
                self.assertEqual(a_values(n, "www.example.test."), ["192.0.2.77"])
            out = cluster_cli(self.node("node-a"))
            self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
            self.assertIn("STALE", out.stdout)
            # Writes fail clearly and write nothing.
            st, body = api(self.node("node-a"), "PUT",
                           "/v1/zones/example.test./rrsets/lost/A",
                           {"ttl": 60, "values": ["192.0.2.99"]}, timeout=30)
            self.assertEqual(st, 503, body)
            self.assertIn("unavailable", json.dumps(body))
            # An operator action still works on the node it was sent to, and says that it
            # reached no other node.
            st, body = api(self.node("node-a"), "POST", "/v1/overrides",
                           {"scope": "member", "target": "op.example.test./A#op-primary",
                            "action": "down", "expires": "10m", "reason": "during outage"},
                           timeout=30)
            self.assertEqual(st, 201, body)
            self.assertIn("applied on this node only", body.get("fleet", ""), body)
            self.assertEqual(a_values(self.node("node-a"), "op.example.test."),
                             ["198.51.100.20"])
            self.assertEqual(a_values(self.node("node-b"), "op.example.test."), ["192.0.2.20"])
        finally:
            self.etcd.start_all()
            self.etcd.wait_healthy(timeout=30)
        for n in self.nodes.values():
            wait_until(lambda n=n: api(n, "GET", "/v1/cluster")[1].get("stale") is False,
                       timeout=20, what=f"{n.name} back in contact")
        self.wait_fleet_formed()
        # What node A recorded during the outage (the override and the failover it made) was
        # held in its local copy and reached the store once etcd answered: every node lists it.
        def outage_events(n):
            st, body = api(n, "GET", "/v1/events?last=500")
            return [e for e in body.get("events", [])
                    if "during outage" in json.dumps(e)] if st == 200 else []
        wait_until(lambda: outage_events(self.node("node-b")), timeout=15,
                   what="node A's outage events in the store, seen by node B")
        self.assertTrue(any(e.get("type") == "override_set"
                            for e in outage_events(self.node("node-b"))),
                        outage_events(self.node("node-b")))
        # Caught up without a restart: a change through C reaches A.
        st, body = api(self.node("node-c"), "PUT", "/v1/zones/example.test./rrsets/back/A",
                       {"ttl": 60, "values": ["192.0.2.55"]})
        self.assertIn(st, (200, 201), body)
        self.wait_all_answer("back.example.test.", ["192.0.2.55"], timeout=5)
        # The write refused during the outage is nowhere.
        for n in self.nodes.values():
            r = query("lost.example.test.", "A", port=n.port, timeout=1.0)
            self.assertEqual(r.answer, [], n.name)
        # The outage's override is cleared through node A; the clear reaches every node.
        st, body = api(self.node("node-a"), "DELETE", "/v1/overrides",
                       {"scope": "member", "target": "op.example.test./A#op-primary"})
        self.assertEqual(st, 200, body)
        self.assertEqual(body.get("fleet"), "sent to every node", body)
        self.wait_all_answer("op.example.test.", ["192.0.2.20"], timeout=15)
        # Health views flow again: a change of health still moves every node.
        self.backend.down_for = {"*"}
        self.wait_all_answer("app.example.test.", [SECONDARY], timeout=15)
        self.backend.down_for = set()
        self.wait_all_answer("app.example.test.", [PRIMARY], timeout=30)

    # -- a lost lease (a node cut off longer than lease_ttl) is taken again --------------------

    def test_6_lost_lease_is_taken_again(self):
        self.wait_fleet_formed()
        # Revoking node C's lease from outside is what etcd does when it expires: its keys go.
        key = base64.b64encode(b"steerdns/fleet/member/node-c").decode()
        ep = self.etcd.endpoints[1]
        rng = etcd_post(ep, "/v3/kv/range", {"key": key})
        lease = rng["kvs"][0]["lease"]
        etcd_post(ep, "/v3/lease/revoke", {"ID": lease})
        a = self.node("node-a")

        def c_state():
            st, cl = api(a, "GET", "/v1/cluster")
            return {m["node"]: m for m in cl["members"]}.get("node-c", {})
        wait_until(lambda: c_state().get("alive") is False, timeout=10,
                   what="node A seeing node C's keys gone")
        # Node C notices at its next keepalive, takes a new lease and publishes again.
        wait_until(lambda: c_state().get("alive") is True, timeout=10,
                   what="node C back under a new lease")
        self.assertGreaterEqual(metric(self.node("node-c"),
                                       "steerdns_cluster_lease_grants_total"), 2)
        wait_until(lambda: "node-c" in next(
            c["views"] for c in api(a, "GET", "/v1/cluster")[1]["checks"]
            if c["id"] == "primary-app"), timeout=10, what="node C's view counted again")

    # -- operator actions are the fleet's ------------------------------------------------------

    def test_9_external_check_set_through_one_node_moves_every_node(self):
        self.wait_fleet_formed()
        self.wait_all_answer("gate.example.test.", ["192.0.2.30"], timeout=15)

        def set_gate(node, status):
            st, body = api(node, "PUT", "/v1/health/checks/gate/status",
                           {"status": status, "reason": f"set through {node.name}"})
            self.assertEqual(st, 200, body)
        set_gate(self.node("node-a"), "unhealthy")
        self.wait_all_answer("gate.example.test.", ["198.51.100.30"], timeout=10)
        set_gate(self.node("node-c"), "healthy")
        self.wait_all_answer("gate.example.test.", ["192.0.2.30"], timeout=15)
        # Two nodes set it at once, each applying its own set first and the other's when it
        # arrives: every node must end on the same one (the newer), not on the order the sets
        # reached it.
        def applied(n):
            with urllib.request.urlopen(f"http://127.0.0.1:{n.api_port}/metrics",
                                        timeout=5) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith('steerdns_cluster_operator_actions_total{direction='
                                       '"applied"}'):
                        return float(line.rsplit(" ", 1)[1])
            return 0.0
        before = {n.name: applied(n) for n in self.nodes.values()}
        first = threading.Thread(target=set_gate, args=(self.node("node-a"), "unhealthy"))
        first.start()
        set_gate(self.node("node-b"), "healthy")
        first.join()
        want = {"node-a": 1, "node-b": 1, "node-c": 2}  # the other node's set, or both
        for n in self.nodes.values():
            wait_until(lambda n=n: applied(n) >= before[n.name] + want[n.name], timeout=10,
                       what=f"{n.name} applying the other nodes' sets")
        statuses = {}
        for n in self.nodes.values():
            st, body = api(n, "GET", "/v1/health/checks/gate")
            self.assertEqual(st, 200, body)
            statuses[n.name] = body.get("status")
        self.assertEqual(len(set(statuses.values())), 1,
                         (statuses, {n.name: [l for l in n.logs().splitlines()
                                              if "gate" in l or "external" in l]
                                     for n in self.nodes.values()}))
        self.wait_all_answer("gate.example.test.",
                             ["192.0.2.30" if statuses["node-a"] == "healthy"
                              else "198.51.100.30"], timeout=15)

    def test_7_operator_failover_through_one_node_moves_every_node(self):
        self.wait_fleet_formed()
        self.wait_all_answer("op.example.test.", ["192.0.2.20"])

        def cli(node, *args):
            p = subprocess.run([steerdns_bin(), *args, "--api",
                                f"http://127.0.0.1:{node.api_port}", "--json"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            return p.stdout
        out = cli(self.node("node-a"), "failover", "op.example.test./A", "--to", "secondary",
                  "--reason", "fleet drill", "--author", "oncall", "--expires", "10m")
        self.assertIn("sent to every node", out)
        self.wait_all_answer("op.example.test.", ["198.51.100.20"], timeout=5)
        # Every node holds the override, with the same expiry (within a second).
        expiries = []
        for n in self.nodes.values():
            st, ov = api(n, "GET", "/v1/overrides")
            mine = [o for o in ov["overrides"] if o.get("reason", "").startswith("fleet drill")]
            self.assertEqual(len(mine), 1, (n.name, ov))
            expiries.append(mine[0]["expires_wall_ms"])
        self.assertLess(max(expiries) - min(expiries), 1000, expiries)
        # Undone through another node: every node fails back.
        out = cli(self.node("node-b"), "failback", "op.example.test./A", "--author", "oncall")
        self.wait_all_answer("op.example.test.", ["192.0.2.20"], timeout=15)
        for n in self.nodes.values():
            st, ov = api(n, "GET", "/v1/overrides")
            self.assertEqual([o for o in ov["overrides"] if o.get("reason", "").startswith("fleet drill")], [],
                             n.name)
        self.assertGreaterEqual(metric(self.node("node-c"),
                                       'steerdns_cluster_operator_actions_total{direction="applied"}'), 2)

    # -- zone transfer out from a fleet node --------------------------------------------------

    @unittest.skipUnless(os.path.exists(NSD), "nsd is not installed")
    def test_8_node_restarted_during_an_etcd_outage_serves_its_cached_catalog(self):
        self.wait_fleet_formed()
        a = self.node("node-a")
        st, body = api(a, "PUT", "/v1/zones/example.test./rrsets/cached/A",
                       {"ttl": 60, "values": ["192.0.2.81"]})
        self.assertIn(st, (200, 201), body)
        self.wait_all_answer("cached.example.test.", ["192.0.2.81"], timeout=5)
        c = self.node("node-c")
        cache = os.path.join(c.workdir, "steerdns-catalog-node-c.json")
        wait_until(lambda: "192.0.2.81" in read_text(cache), timeout=5,
                   what="node C's catalog cache holding the change")
        serial = soa_serial(c)
        self.etcd.stop_all()
        try:
            c.stop()
            c = self.start_node("node-c", c.extra, workdir=c.workdir)
            self.nodes["node-c"] = c
            # Its own state came back from the local copy: the zone's serial does not go back
            # to the catalog's (its secondaries have the served one), steering and health keep
            # their state.
            self.assertGreaterEqual(soa_serial(c), serial)
            for key in ("health", "steering", "xfr-serials"):
                self.assertIn(f"state '{key}': unavailable", c.logs())
            # Up without etcd: the cached catalog is served, the node says it is stale and
            # refuses writes.
            self.assertEqual(a_values(c, "cached.example.test."), ["192.0.2.81"])
            self.assertEqual(a_values(c, "www.example.test."), a_values(a, "www.example.test."))
            self.assertIn("from the catalog cache", c.logs())
            wait_until(lambda: api(c, "GET", "/v1/cluster")[1].get("stale"), timeout=15,
                       what="the restarted node reporting itself stale")
            self.assertEqual(api(c, "GET", "/v1/cluster")[1].get("catalog_source"), "cache")
            out = cluster_cli(c)
            self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
            self.assertIn("serving the catalog cache", out.stdout)
            st, body = api(c, "PUT", "/v1/zones/example.test./rrsets/lost2/A",
                           {"ttl": 60, "values": ["192.0.2.98"]}, timeout=30)
            self.assertEqual(st, 503, body)
        finally:
            self.etcd.start_all()
            self.etcd.wait_healthy(timeout=30)
        wait_until(lambda: api(c, "GET", "/v1/cluster")[1].get("stale") is False, timeout=20,
                   what="the restarted node in contact")
        wait_until(lambda: api(c, "GET", "/v1/cluster")[1].get("catalog_source") == "store",
                   timeout=10, what="the restarted node serving etcd's catalog")
        self.wait_fleet_formed()
        # Caught up without another restart: a change through A reaches it.
        st, body = api(a, "PUT", "/v1/zones/example.test./rrsets/cached/A",
                       {"ttl": 60, "values": ["192.0.2.82"]})
        self.assertIn(st, (200, 201), body)
        wait_until(lambda: a_values(c, "cached.example.test.") == ["192.0.2.82"], timeout=5,
                   what="the restarted node serving a change made after etcd came back")
        r = query("lost2.example.test.", "A", port=c.port, timeout=1.0)
        self.assertEqual(r.answer, [])

    def test_5_nsd_secondary_of_a_fleet_node(self):
        self.wait_fleet_formed()
        self.wait_all_answer("app.example.test.", [PRIMARY], timeout=30)
        b = self.node("node-b")
        nsd_dir = os.path.join(self.tmp, "nsd")
        os.makedirs(nsd_dir)
        sec = FleetNsd(self.nsd_port)
        sec.start_nsd(nsd_dir, write_nsd_secondary_conf(nsd_dir, self.nsd_port, "example.test",
                                                        b.port))
        try:
            sec.wait(self, "www.example.test.", "A", ["192.0.2.77"], "NSD's AXFR from node B")
            # A change through node A: node B reloads, bumps the serial, NOTIFY, IXFR.
            st, body = api(self.node("node-a"), "PUT", "/v1/zones/example.test./rrsets/xfr/A",
                           {"ttl": 60, "values": ["192.0.2.44"]})
            self.assertIn(st, (200, 201), body)
            sec.wait(self, "xfr.example.test.", "A", ["192.0.2.44"],
                     "NSD serving a change made through another node")
            # A failover decided by the fleet: NSD serves the secondary's address.
            self.backend.down_for = {"*"}
            sec.wait(self, "app.example.test.", "A", [SECONDARY], "NSD serving the failover")
            wait_until(lambda: len(re.findall(r"IXFR from serial", b.logs())) >= 2, timeout=10,
                       what="node B serving incremental transfers")
        finally:
            self.backend.down_for = set()
            sec.stop()
        # (No failback check: this is the set's third failover in minutes, which the flap
        # guard freezes on purpose -- docs/failover.md.)


class FleetNsd(NsdSecondary):
    """NsdSecondary's NSD handling outside a per-test fixture."""

    def __init__(self, port):
        self.nsd_port = port

    def wait(self, test, name, rdtype, want, what):
        try:
            wait_until(lambda: self.nsd_answers(name, rdtype, want), timeout=30, interval=0.2,
                       what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\nNSD log:\n{self.nsd_logs()}") from None

    def stop(self):
        if self.nsd.poll() is None:
            self.nsd.terminate()
            self.nsd.wait(timeout=10)
        self.nsd_out.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
