"""Crash safety of the control plane: kill -9 the daemon in the middle of a stream of change
batches (several clients at once, so batches are group-committed), restart it on the same
store, and check that every acknowledged batch is there -- served by DNS and INSYNC -- and that
no batch is half-applied (each batch writes three record sets: all or none)."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import dns.rcode

sys.path.insert(0, os.path.dirname(__file__))
from harness import free_port, wait_until  # noqa: E402
from test_transport import Steerdns, query  # noqa: E402

TOKEN = "crash-test-token"
ZONE = "crash.test."
CONFIG = """
server:
  store: sqlite:{tmp}/steerdns.db
zones:
  - name: crash.test.
    soa: {{ mname: ns1.crash.test., rname: hostmaster.crash.test. }}
    ns: [ns1.crash.test.]
    records:
      - {{ name: ns1, type: A, values: [127.0.0.1] }}
"""
PARTS = ("a", "b", "c")


def api(port, method, path, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def batch(k):
    return {"comment": f"batch {k}",
            "changes": [{"action": "CREATE",
                         "body": {"name": f"b{k}-{p}.{ZONE}", "type": "TXT", "ttl": 60,
                                  "values": [f"batch {k}"]}} for p in PARTS]}


class StoreCrashTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-crash-")
        self.config = os.path.join(self.tmp, "steerdns.yaml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(tmp=self.tmp))
        self.d = None
        os.environ["STEERDNS_API_TOKEN"] = TOKEN

    def tearDown(self):
        if self.d:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        self.api_port = free_port()
        self.d = Steerdns(["--config", self.config, "--threads", "1", "--api-listen",
                           f"127.0.0.1:{self.api_port}"], ready_name=ZONE, listen6=False,
                          workdir=self.tmp)
        wait_until(lambda: api(self.api_port, "GET", "/v1/zones") is not None, timeout=10,
                   what="the API")

    def test_kill_during_change_stream(self):
        rng = random.Random(int(os.environ.get("STEERDNS_CRASH_SEED", "5")))
        acked = {}  # batch number -> change id
        next_k = [0]
        lock = threading.Lock()
        for rnd in range(3):
            self.start()
            stop = threading.Event()

            def client():
                while not stop.is_set():
                    with lock:
                        k = next_k[0]
                        next_k[0] += 1
                    try:
                        r = api(self.api_port, "POST", "/v1/changes", batch(k), timeout=5)
                    except (urllib.error.URLError, ConnectionError, OSError):
                        return  # the daemon is gone; this batch may or may not be in
                    with lock:
                        acked[k] = r["change"]["id"]

            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            # Let a random number of batches through, then kill -9 mid-stream.
            target = len(acked) + rng.randint(20, 60)
            wait_until(lambda: len(acked) >= target, timeout=60, what="batches acknowledged")
            self.d.proc.send_signal(signal.SIGKILL)
            self.d.proc.wait(timeout=10)
            stop.set()
            for t in threads:
                t.join(timeout=15)
            self.d.stop()
            self.d = None
        self.assertGreater(len(acked), 60)

        self.start()
        catalog = api(self.api_port, "GET", "/v1/catalog")
        zone = next(z for z in catalog["zones"] if z["name"] == ZONE)
        names = {r["name"] for r in zone["records"]}
        present = {}
        for k in range(next_k[0]):
            got = [f"b{k}-{p}.{ZONE}" in names for p in PARTS]
            self.assertTrue(all(got) or not any(got), f"batch {k} is half-applied: {got}")
            present[k] = all(got)
        for k, cid in acked.items():
            self.assertTrue(present[k], f"acknowledged batch {k} ({cid}) is missing")
            ch = api(self.api_port, "GET", f"/v1/changes/{cid}")
            status = ch.get("status") or ch.get("change", {}).get("status")
            self.assertEqual(status, "INSYNC", f"change {cid}: {ch}")
        # And DNS serves them (a sample, over UDP).
        for k in rng.sample(sorted(acked), min(20, len(acked))):
            r = query(f"b{k}-b.{ZONE}", "TXT", port=self.d.port)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            self.assertEqual(r.answer[0][0].strings, (f"batch {k}".encode(),))
        print(f"{len(acked)} acknowledged of {next_k[0]} sent over 3 kills; "
              f"{sum(present.values())} present", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
