"""Start and stop DNS servers on loopback for integration tests.

steerdns comes from $STEERDNS_BIN (set by ctest); NSD is Debian's /usr/sbin/nsd with
everything under a temporary directory. Servers listen on a random free port and are
considered up once they answer a query over UDP and TCP (polled with a deadline).
"""
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdatatype

SOURCE_DIR = os.environ.get(
    "STEERDNS_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
ZONES_DIR = os.path.join(SOURCE_DIR, "tests", "data", "zones")

# The test zones (origin -> file), all under tests/data/zones.
TEST_ZONES = {
    "example.com.": os.path.join(ZONES_DIR, "example.com.zone"),
    "example.net.": os.path.join(ZONES_DIR, "example.net.zone"),
    "2.0.192.in-addr.arpa.": os.path.join(ZONES_DIR, "2.0.192.in-addr.arpa.zone"),
}


def steerdns_bin():
    path = os.environ.get("STEERDNS_BIN")
    if not path:
        raise RuntimeError("STEERDNS_BIN is not set (run the test through ctest)")
    return path


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (random high range, not 53/5353/2379)."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        if port in (53, 5353, 2379):
            continue
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind(("127.0.0.1", port))
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port found")


# Polls pred() until it returns something true, or fails after `timeout` seconds with the last
# error seen: tests wait for a state with a deadline, never with a bare sleep.
@contextlib.contextmanager
def env_vars(unset=(), **values):
    """While the block runs (a daemon starts): the variables in `unset` removed, `values` set;
    all of them restored afterwards."""
    keys = set(unset) | set(values)
    saved = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


class Server:
    """A server process on 127.0.0.1:port. Use as a context manager."""

    def __init__(self, name, argv, port, probe_zone, workdir=None, cleanup_dir=False):
        self.name = name
        self.argv = argv
        self.port = port
        self.host = "127.0.0.1"
        self.probe_zone = probe_zone
        self.workdir = workdir
        self.cleanup_dir = cleanup_dir
        self.proc = None
        self.log_path = None

    def start(self, timeout=15.0):
        fd, self.log_path = tempfile.mkstemp(prefix=self.name + "-", suffix=".log")
        log = os.fdopen(fd, "w")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, start_new_session=True)
        log.close()
        self.wait_ready(timeout)
        return self

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def _answers(self, tcp):
        q = dns.message.make_query(self.probe_zone, dns.rdatatype.SOA)
        q.flags &= ~dns.flags.RD
        try:
            if tcp:
                r = dns.query.tcp(q, self.host, port=self.port, timeout=0.5)
            else:
                r = dns.query.udp(q, self.host, port=self.port, timeout=0.5)
        except (OSError, dns.exception.Timeout, EOFError):
            return False
        return r.rcode() == 0 and len(r.answer) > 0

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                self.stop()
                raise RuntimeError("%s exited with %s before answering:\n%s"
                                   % (self.name, self.proc.returncode, log))
            if self._answers(False) and self._answers(True):
                return
            time.sleep(0.05)
        log = self.log()
        self.stop()
        raise RuntimeError("%s did not answer within %.0f s:\n%s" % (self.name, timeout, log))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.log_path and os.path.exists(self.log_path):
            os.unlink(self.log_path)
            self.log_path = None
        if self.cleanup_dir and self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def steerdns(zones=None, config=None, extra_args=(), port=None, probe_zone=None):
    """steerdns serve on a free port, from --zone arguments (origin -> path) or a --config
    (then probe_zone names a zone it serves, polled until it answers)."""
    port = port or free_port()
    argv = [steerdns_bin(), "serve", "--listen", "127.0.0.1:%d" % port, "--threads", "1"]
    probe = None
    if config:
        argv += ["--config", config]
    else:
        zones = zones or TEST_ZONES
        for origin, path in zones.items():
            argv += ["--zone", "%s=%s" % (origin.rstrip("."), path)]
        probe = next(iter(zones))
    argv += list(extra_args)
    # The default store is steerdns.db in the working directory: give every daemon its own,
    # so tests never share (or inherit) a catalog.
    workdir = tempfile.mkdtemp(prefix="steerdns-wd-")
    return Server("steerdns", argv, port, probe_zone or probe or "example.com.", workdir=workdir,
                  cleanup_dir=True)


def nsd(zones=None, port=None, minimal_responses=False):
    """Debian's NSD serving the same master files, everything under a temp dir."""
    zones = zones or TEST_ZONES
    port = port or free_port()
    d = tempfile.mkdtemp(prefix="steerdns-nsd-")
    conf = os.path.join(d, "nsd.conf")
    lines = [
        "server:",
        "  ip-address: 127.0.0.1",
        "  port: %d" % port,
        "  server-count: 1",
        "  zonesdir: \"%s\"" % d,
        "  pidfile: \"%s/nsd.pid\"" % d,
        "  database: \"\"",
        "  xfrdfile: \"%s/xfrd.state\"" % d,
        "  zonelistfile: \"%s/zone.list\"" % d,
        "  username: \"\"",
        "  chroot: \"\"",
        "  verbosity: 1",
        "  hide-version: yes",
        "  rrl-ratelimit: 0",
        "  rrl-whitelist-ratelimit: 0",
        "  minimal-responses: %s" % ("yes" if minimal_responses else "no"),
        "remote-control:",
        "  control-enable: no",
    ]
    for origin, path in zones.items():
        dst = os.path.join(d, origin + "zone")
        shutil.copy(path, dst)
        lines += ["zone:", "  name: \"%s\"" % origin, "  zonefile: \"%s\"" % dst]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    argv = ["/usr/sbin/nsd", "-d", "-c", conf]
    return Server("nsd", argv, port, next(iter(zones)), workdir=d, cleanup_dir=True)


def run(cmd, timeout=10):
    """Runs a command (e.g. dig) and returns its stdout; raises with stderr on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                    p.stderr))
    return p.stdout
