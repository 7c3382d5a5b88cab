"""Real etcd members (Debian's /usr/bin/etcd) for fleet integration tests.

EtcdCluster(n=3) starts n members on free loopback ports (never 2379/2380), data under a
temporary directory, fast elections (heartbeat 50 ms, election 500 ms) and --max-txn-ops 10000
as a steerdns fleet runs etcd, and waits until every member answers with a leader. Members can
be killed (SIGKILL), stopped (SIGTERM) and started again on the same data; close() (or leaving
the `with` block) kills them all and removes the directory.

    with EtcdCluster(n=3) as etcd:
        steerdns serve --store etcd.spec() --node-id a ...
        etcd.stop(0); etcd.start(0); etcd.wait_healthy()
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ETCD_BIN = os.environ.get("STEERDNS_ETCD_BIN", "/usr/bin/etcd")


def free_tcp_port(avoid=()):
    """A loopback TCP port nobody listens on right now (bound to port 0, then released)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in (2379, 2380) and port not in avoid:
            return port
    raise RuntimeError("no free loopback port")


def _post(url, body, timeout):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


class EtcdCluster:
    def __init__(self, n=3, timeout=20.0, extra_args=()):
        if n < 1:
            raise ValueError("an etcd cluster needs at least one member")
        self.n = n
        self.extra_args = list(extra_args)
        self.dir = tempfile.mkdtemp(prefix="steerdns-etcd-")
        self.names = ["m%d" % i for i in range(n)]
        used = set()
        self.client_ports = []
        self.peer_ports = []
        for _ in range(n):
            c = free_tcp_port(used)
            used.add(c)
            p = free_tcp_port(used)
            used.add(p)
            self.client_ports.append(c)
            self.peer_ports.append(p)
        self.procs = [None] * n
        try:
            self.start_all(wait=False)
            self.wait_healthy(timeout)
        except BaseException:
            self.close()
            raise

    # -- addresses --

    @property
    def endpoints(self):
        return ["http://127.0.0.1:%d" % p for p in self.client_ports]

    def spec(self, **options):
        """"etcd:URL,URL,URL[?k=v&...]" for --store."""
        s = "etcd:" + ",".join(self.endpoints)
        if options:
            s += "?" + "&".join("%s=%s" % kv for kv in options.items())
        return s

    # -- members --

    def _argv(self, i):
        initial = ",".join("%s=http://127.0.0.1:%d" % (self.names[j], self.peer_ports[j])
                           for j in range(self.n))
        client = self.endpoints[i]
        peer = "http://127.0.0.1:%d" % self.peer_ports[i]
        return [ETCD_BIN,
                "--name", self.names[i],
                "--data-dir", os.path.join(self.dir, self.names[i]),
                "--listen-client-urls", client,
                "--advertise-client-urls", client,
                "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer,
                "--initial-cluster", initial,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", "steerdns-test",
                "--max-txn-ops", "10000",
                "--heartbeat-interval", "50",
                "--election-timeout", "500",
                "--logger", "zap",
                "--log-level", "warn",
                "--log-outputs", "stderr"] + self.extra_args

    def running(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    def start(self, i):
        """Starts member i (again, on the same data directory) unless it runs."""
        if self.running(i):
            return
        log = open(os.path.join(self.dir, self.names[i] + ".log"), "a")
        self.procs[i] = subprocess.Popen(self._argv(i), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        log.close()

    def _end(self, i, sig, timeout=10.0):
        p = self.procs[i]
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self.procs[i] = None

    def kill(self, i):
        """SIGKILL: a crash."""
        self._end(i, signal.SIGKILL)

    def stop(self, i):
        """SIGTERM: a clean stop."""
        self._end(i, signal.SIGTERM)

    def start_all(self, wait=True, timeout=20.0):
        for i in range(self.n):
            self.start(i)
        if wait:
            self.wait_healthy(timeout)

    def stop_all(self):
        for i in range(self.n):
            self.stop(i)

    # -- health --

    def member_healthy(self, i, timeout=1.0):
        """Member i answers a linearizable read, so it is up and has a leader."""
        if not self.running(i):
            return False
        try:
            _post(self.endpoints[i] + "/v3/kv/range",
                  {"key": base64.b64encode(b"health").decode()}, timeout)
            return True
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, timeout=20.0):
        """Every running member is healthy before `timeout` seconds, else RuntimeError (with
        the members' logs)."""
        deadline = time.monotonic() + timeout
        for i in range(self.n):
            if self.procs[i] is None:
                continue
            while not self.member_healthy(i):
                if self.procs[i].poll() is not None:
                    raise RuntimeError("etcd member %s exited with %s:\n%s"
                                       % (self.names[i], self.procs[i].returncode, self.log(i)))
                if time.monotonic() > deadline:
                    raise RuntimeError("etcd member %s not healthy within %.0f s:\n%s"
                                       % (self.names[i], timeout, self.log(i)))
                time.sleep(0.05)

    def log(self, i):
        try:
            with open(os.path.join(self.dir, self.names[i] + ".log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    # -- direct key access (for assertions) --

    def get(self, key, timeout=2.0):
        """The value (bytes) of `key` read through any healthy member, or None."""
        last = None
        for ep in self.endpoints:
            try:
                r = _post(ep + "/v3/kv/range", {"key": base64.b64encode(key.encode()).decode()},
                          timeout)
                kvs = r.get("kvs") or []
                return base64.b64decode(kvs[0].get("value", "")) if kvs else None
            except (OSError, urllib.error.URLError, ValueError) as e:
                last = e
        raise RuntimeError("no etcd member answered (last error: %r)" % (last,))

    def close(self):
        for i in range(self.n):
            self.kill(i)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if any(p is not None and p.poll() is None for p in getattr(self, "procs", [])):
                self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


if __name__ == "__main__":
    # Smoke test of the fixture itself: python3 tests/testlib/etcd_cluster.py
    start = time.monotonic()
    with EtcdCluster(n=3) as cluster:
        print("healthy after %.2f s: %s" % (time.monotonic() - start, cluster.spec()))
        cluster.kill(0)
        cluster.stop(1)
        assert not cluster.member_healthy(0)
        cluster.start_all()
        print("restarted, healthy after %.2f s" % (time.monotonic() - start))
        assert cluster.get("steerdns/layout") is None
        data = cluster.dir
    assert not os.path.exists(data)
    print("ok")
