#!/usr/bin/python3
"""Reload (SIGHUP and `steerdns reload`), broken zones at reload and at startup, the pid file,
clean shutdown, and the command line's --version/--help."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import dns.exception
import dns.message
import dns.opcode
import dns.rcode

from test_transport import (HAVE_IPV6, ORIGIN, ZONE_FILE, Steerdns, free_port, query, run,
                            steerdns_bin, wait_until)

NEW_RECORD = "new.example.test"


def write_zone(path, serial, extra=""):
    with open(ZONE_FILE) as f:
        text = f.read()
    text = text.replace("2026112501", str(serial))
    with open(path, "w") as f:
        f.write(text + extra)


def a_records(port, name):
    r = query(name, "A", port=port, timeout=1)
    return sorted(rr.to_text() for rrset in r.answer for rr in rrset)


def serial(port):
    r = query(ORIGIN, "SOA", port=port, timeout=1)
    return r.answer[0][0].serial


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-reload-")
        self.zone = os.path.join(self.tmp, "example.test.zone")
        self.control = os.path.join(self.tmp, "control.sock")
        self.pid_file = os.path.join(self.tmp, "steerdns.pid")
        write_zone(self.zone, 1)
        self.d = Steerdns(["--zone", f"{ORIGIN}={self.zone}", "--threads", "2",
                           "--control", self.control, "--pid-file", self.pid_file],
                          workdir=self.tmp)
        self.port = self.d.port

    def tearDown(self):
        code = self.d.stop()
        logs = self.d.logs()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(code, 0, logs)

    def reload_cmd(self):
        return run([steerdns_bin(), "reload", "--control", self.control])

    def test_pid_file_and_clean_shutdown(self):
        with open(self.pid_file) as f:
            self.assertEqual(int(f.read().strip()), self.d.proc.pid)
        self.assertEqual(self.d.stop(), 0)
        self.assertFalse(os.path.exists(self.pid_file))
        self.assertFalse(os.path.exists(self.control))
        self.assertIn("stopped:", self.d.logs())

    def test_startup_line(self):
        logs = wait_until(lambda: "loaded in" in self.d.logs() and self.d.logs(),
                          what="the startup line")
        self.assertIn(f"127.0.0.1:{self.port}", logs)
        if HAVE_IPV6:
            self.assertIn(f"[::1]:{self.port}", logs)
        self.assertRegex(logs, r"example\.test\. serial 1 \(22 records\)")
        self.assertRegex(logs, r"loaded in [0-9.]+ ms")

    def test_sighup_reload_makes_changes_visible(self):
        self.assertEqual(serial(self.port), 1)
        self.assertEqual(query(NEW_RECORD, port=self.port).rcode(), dns.rcode.NXDOMAIN)
        write_zone(self.zone, 2, "new IN A 192.0.2.200\n")
        self.d.signal(signal.SIGHUP)
        wait_until(lambda: serial(self.port) == 2, what="serial 2 after SIGHUP")
        self.assertEqual(a_records(self.port, NEW_RECORD), ["192.0.2.200"])
        # Over TCP too (the TCP thread reads the same snapshot).
        r = query(NEW_RECORD, port=self.port, tcp=True)
        self.assertEqual(r.answer[0][0].to_text(), "192.0.2.200")

    def test_reload_command(self):
        write_zone(self.zone, 3, "new IN A 192.0.2.201\n")
        r = self.reload_cmd()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^reloaded: example\.test\. serial 3 \(23 records\)")
        # Published before the command returned.
        self.assertEqual(serial(self.port), 3)
        self.assertEqual(a_records(self.port, NEW_RECORD), ["192.0.2.201"])
        self.assertEqual(query(NEW_RECORD, port=self.port, tcp=True).answer[0][0].to_text(),
                         "192.0.2.201")

    def test_broken_zone_keeps_old_data_serving(self):
        write_zone(self.zone, 4, "new IN A 192.0.2.202\n")
        self.assertEqual(self.reload_cmd().returncode, 0)
        self.assertEqual(serial(self.port), 4)
        # Line 27 of the new file is broken; the rest would change the serial.
        write_zone(self.zone, 5, "new IN A 192.0.2.203\nbroken IN A 300.1.2.3\n")
        with open(self.zone) as f:
            broken_line = f.read().splitlines().index("broken IN A 300.1.2.3") + 1
        r = self.reload_cmd()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"{self.zone}:{broken_line}:", r.stderr)
        self.assertEqual(r.stdout, "")
        # Still the old data, over UDP and TCP.
        self.assertEqual(serial(self.port), 4)
        self.assertEqual(a_records(self.port, NEW_RECORD), ["192.0.2.202"])
        self.assertEqual(query(NEW_RECORD, port=self.port, tcp=True).answer[0][0].to_text(),
                         "192.0.2.202")
        # SIGHUP with the same broken file: logged, old data keeps serving, daemon alive.
        self.d.signal(signal.SIGHUP)
        wait_until(lambda: self.d.logs().count(f"{self.zone}:{broken_line}:") >= 2,
                   what="the SIGHUP reload error in the log")
        self.assertIsNone(self.d.proc.poll())
        self.assertEqual(serial(self.port), 4)
        # Fixing the file and reloading works again.
        write_zone(self.zone, 6)
        r = self.reload_cmd()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(serial(self.port), 6)
        self.assertEqual(query(NEW_RECORD, port=self.port).rcode(), dns.rcode.NXDOMAIN)

    def test_semantic_error_on_reload(self):
        write_zone(self.zone, 7, "www IN CNAME api.example.test.\n")  # CNAME beside A
        r = self.reload_cmd()
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, re.escape(self.zone) + r":\d+: ")
        self.assertEqual(serial(self.port), 1)

    def test_reload_under_query_load_loses_nothing(self):
        # Queries keep being answered while reloads swap the config underneath.
        stop = time.monotonic() + 2.0
        n = 0
        version = 10
        while time.monotonic() < stop:
            if n % 20 == 0:
                version += 1
                write_zone(self.zone, version)
                self.assertEqual(self.reload_cmd().returncode, 0)
            r = query("www.example.test", port=self.port, timeout=1, tcp=(n % 2 == 1))
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            n += 1
        self.assertEqual(serial(self.port), version)


class ConfigFileTest(unittest.TestCase):
    """--config: the config's control socket and transfer ACL; --listen overrides its listen."""

    def write_config(self, extra_zone_lines="", xfr_allow="[127.0.0.0/8]", version="one",
                     notify="[]"):
        with open(self.config, "w") as f:
            f.write(f"""server:
  listen: ["127.0.0.1:{self.config_port}"]
  control_socket: {self.control}
  xfr_allow: {xfr_allow}
  chaos: {{ version: {version} }}
  notify: {notify}
zones:
  - name: example.test.
    file: {self.zone}
{extra_zone_lines}""")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="steerdns-config-")
        self.zone = os.path.join(self.tmp, "example.test.zone")
        self.config = os.path.join(self.tmp, "steerdns.yaml")
        self.control = os.path.join(self.tmp, "control.sock")
        self.config_port = free_port()
        write_zone(self.zone, 1)
        self.write_config()
        self.d = Steerdns(["--config", self.config], listen6=False, workdir=self.tmp)

    def tearDown(self):
        code = self.d.stop()
        logs = self.d.logs()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(code, 0, logs)

    def test_config_mode(self):
        self.assertNotEqual(self.d.port, self.config_port)
        self.assertEqual(serial(self.d.port), 1)
        # --listen replaced the config's listen list.
        with self.assertRaises(dns.exception.Timeout):
            query(ORIGIN, "SOA", port=self.config_port, timeout=0.3)
        # Transfers allowed by the config's xfr_allow.
        r = run(["dig", "@127.0.0.1", "-p", str(self.d.port), ORIGIN, "AXFR"])
        self.assertIn("XFR size: 23 records", r.stdout)
        # The config's control socket reloads the zone file...
        write_zone(self.zone, 2)
        r = run([steerdns_bin(), "reload", "--control", self.control])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(serial(self.d.port), 2)
        # ...and a broken config keeps the running one, naming the config's line.
        self.write_config("    bogus_key: 1\n")
        r = run([steerdns_bin(), "reload", "--control", self.control])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"{self.config}:", r.stderr)
        self.assertEqual(serial(self.d.port), 2)

    def test_reload_applies_query_settings_of_the_server_section(self):
        def version():
            r = run(["dig", "@127.0.0.1", "-p", str(self.d.port), "+short", "CH", "TXT",
                     "version.bind"])
            return r.stdout.strip()
        self.assertEqual(version(), '"one"')
        # Only server settings change (no zone change): the reload still serves them.
        self.write_config(xfr_allow="[192.0.2.0/24]", version="two")
        r = run([steerdns_bin(), "reload", "--control", self.control])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(version(), '"two"')
        r = run(["dig", "@127.0.0.1", "-p", str(self.d.port), ORIGIN, "AXFR"])
        self.assertIn("Transfer failed", r.stdout)


    def test_reload_changes_notify_targets(self):
        """server.notify follows a reload: a secondary added gets the next serial change's
        NOTIFY, one removed gets nothing more."""
        socks = []
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        a, b = socks
        addr = lambda s: f"127.0.0.1:{s.getsockname()[1]}"

        def reload(zone_serial=None, notify="[]"):
            if zone_serial is not None:
                write_zone(self.zone, zone_serial)
            self.write_config(notify=notify)
            r = run([steerdns_bin(), "reload", "--control", self.control])
            self.assertEqual(r.returncode, 0, r.stderr)

        def notify_of(sock, timeout):
            """The next NOTIFY's zone (acknowledged, so it is not retried), or None."""
            sock.settimeout(timeout)
            try:
                data, peer = sock.recvfrom(512)
            except socket.timeout:
                return None
            msg = dns.message.from_wire(data)
            self.assertEqual(msg.opcode(), dns.opcode.NOTIFY)
            ack = bytearray(data)
            ack[2] |= 0x80  # QR: the same message as the response
            sock.sendto(bytes(ack), peer)
            return msg.question[0].name.to_text()

        try:
            reload(notify=f'["{addr(a)}"]')
            wait_until(lambda: f"notify targets applied ({addr(a)})" in self.d.logs(),
                       what="the reload to apply the notify target")
            reload(zone_serial=2, notify=f'["{addr(a)}"]')
            self.assertEqual(notify_of(a, 10), ORIGIN + ".")
            # A replaced by B: the next change goes to B only.
            reload(notify=f'["{addr(b)}"]')
            reload(zone_serial=3, notify=f'["{addr(b)}"]')
            self.assertEqual(notify_of(b, 10), ORIGIN + ".")
            self.assertIsNone(notify_of(a, 1.0))  # sent with B's, if at all
            # None: nothing is sent.
            reload(notify="[]")
            wait_until(lambda: "notify targets applied (none)" in self.d.logs(),
                       what="the reload to remove the notify targets")
            reload(zone_serial=4)
            self.assertEqual(serial(self.d.port), 4)
            self.assertIsNone(notify_of(b, 1.0))
        finally:
            for s in socks:
                s.close()


class CommandLineTest(unittest.TestCase):
    def test_startup_with_broken_zone_fails_with_file_line(self):
        tmp = tempfile.mkdtemp(prefix="steerdns-broken-")
        try:
            zone = os.path.join(tmp, "broken.zone")
            write_zone(zone, 1, "bad IN MX notanumber mail.example.test.\n")
            with open(zone) as f:
                line = len(f.read().splitlines())
            port = free_port()
            r = run([steerdns_bin(), "serve", "--listen", f"127.0.0.1:{port}", "--zone",
                     f"{ORIGIN}={zone}"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(f"{zone}:{line}: ", r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_startup_with_missing_zone_file_fails(self):
        r = run([steerdns_bin(), "serve", "--listen", f"127.0.0.1:{free_port()}", "--zone",
                 f"{ORIGIN}=/nonexistent/zone"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent/zone", r.stderr)

    def test_bad_axfr_allow_fails_before_serving(self):
        r = run([steerdns_bin(), "serve", "--listen", f"127.0.0.1:{free_port()}", "--zone",
                 f"{ORIGIN}={ZONE_FILE}", "--axfr-allow", "300.0.0.0/8", "--api-listen", "off"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("--axfr-allow ", r.stderr)
        self.assertIn("300.0.0.0/8", r.stderr)
        self.assertNotIn("listening on", r.stderr)

    def test_bad_listen_address_fails(self):
        r = run([steerdns_bin(), "serve", "--listen", "localhost:53", "--zone",
                 f"{ORIGIN}={ZONE_FILE}"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("localhost:53", r.stderr)

    def test_port_in_use_fails(self):
        d = Steerdns(["--zone", f"{ORIGIN}={ZONE_FILE}", "--threads", "1"], listen6=False)
        try:
            # SO_REUSEPORT lets our own UDP sockets share a port, but TCP bind must fail.
            r = run([steerdns_bin(), "serve", "--listen", f"127.0.0.1:{d.port}", "--zone",
                     f"{ORIGIN}={ZONE_FILE}"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(f"127.0.0.1:{d.port}", r.stderr)
        finally:
            d.cleanup()

    def test_reload_without_daemon_fails(self):
        r = run([steerdns_bin(), "reload", "--control", "/nonexistent/control.sock"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent/control.sock", r.stderr)

    def test_version(self):
        r = run([steerdns_bin(), "--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^steerdns \d+\.\d+\.\d+")

    def test_help_documents_every_flag(self):
        r = run([steerdns_bin(), "--help"])
        self.assertEqual(r.returncode, 0)
        for word in ("serve", "reload", "--version"):
            self.assertIn(word, r.stdout)
        r = run([steerdns_bin(), "serve", "--help"])
        self.assertEqual(r.returncode, 0)
        for flag in ("--listen", "--zone", "--config", "--threads", "--axfr-allow", "--control",
                     "--pid-file", "--tcp-max-clients", "--tcp-idle-timeout-ms",
                     "--tcp-io-timeout-ms"):
            self.assertIn(flag, r.stdout)
        r = run([steerdns_bin(), "reload", "--help"])
        self.assertIn("--control", r.stdout)

    def test_serve_needs_zones_or_config(self):
        r = run([steerdns_bin(), "serve", "--listen", "127.0.0.1:1"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--zone", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
