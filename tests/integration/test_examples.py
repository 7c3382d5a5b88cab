#!/usr/bin/python3
"""The shipped example configs stay valid: `steerdns check` accepts examples/*.yaml (what
`make run` serves and the flagship scenario), and rejects a broken copy with file:line, exit 1.
Run by ctest (STEERDNS_BIN, STEERDNS_SOURCE_DIR)."""
import glob
import os
import subprocess
import tempfile
import unittest

BIN = os.environ.get("STEERDNS_BIN", "build/steerdns")
SRC = os.environ.get("STEERDNS_SOURCE_DIR", ".")


class Examples(unittest.TestCase):
    def test_every_example_checks(self):
        files = sorted(glob.glob(os.path.join(SRC, "examples", "*.yaml")))
        self.assertGreaterEqual(len(files), 2)
        for f in files:
            with self.subTest(f=os.path.basename(f)):
                p = subprocess.run([BIN, "check", "--config", f], capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertIn("OK", p.stdout)
                self.assertIn("genai-demo.example.test./A (failover)", p.stdout)

    def test_broken_copy_fails_with_line(self):
        src = os.path.join(SRC, "examples", "flagship.yaml")
        with open(src) as f:
            text = f.read()
        # A second primary: contradictory record set.
        broken = text.replace("role: secondary", "role: primary", 1)
        self.assertNotEqual(broken, text)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "flagship.yaml")
            with open(path, "w") as f:
                f.write(broken)
            p = subprocess.run([BIN, "check", "--config", path], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertRegex(p.stderr + p.stdout, r"flagship\.yaml:\d+: .*primary")


if __name__ == "__main__":
    unittest.main()
