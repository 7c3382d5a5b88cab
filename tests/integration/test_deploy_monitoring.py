#!/usr/bin/python3
"""The monitoring integration in deploy/ stays valid and in step with docs/metrics.md:
promtool accepts the alerting rules, their unit tests and the example Prometheus config; every
alert carries one of the flagship runbook's four severities (all four used); and every metric
named by a rule, the dashboard's panels or its variables is listed in docs/metrics.md.
Needs promtool (Debian package `prometheus`); without it the test fails, it does not skip.
Run by ctest (STEERDNS_SOURCE_DIR)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

SRC = os.environ.get("STEERDNS_SOURCE_DIR", ".")
PROM_DIR = os.path.join(SRC, "deploy", "prometheus")
RULES = os.path.join(PROM_DIR, "steerdns.rules.yml")
RULES_TEST = os.path.join(PROM_DIR, "steerdns.rules.test.yml")
PROM_CONFIG = os.path.join(PROM_DIR, "prometheus.yml")
DASHBOARD = os.path.join(SRC, "deploy", "grafana", "steerdns-dashboard.json")
METRICS_DOC = os.path.join(SRC, "docs", "metrics.md")

SEVERITIES = {"info", "warning", "critical", "emergency"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Prometheus' own series that rules may use besides steerdns' metrics.
BUILTIN_METRICS = {"up"}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                   "group_left", "group_right", "inf", "nan"}


def promtool():
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError("promtool not found in PATH: install the Debian package "
                             "`prometheus` (make deps-test) to check deploy/prometheus")
    return path


def run_promtool(args, cwd):
    p = subprocess.run([promtool()] + args, cwd=cwd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def documented_metrics():
    """Metric names from docs/metrics.md tables: the backticked name in the first column,
    plus the series a histogram exposes."""
    names = set()
    with open(METRICS_DOC) as f:
        for line in f:
            m = re.match(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*([a-z]+)\s*\|", line)
            if not m:
                continue
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names.update(m.group(1) + s for s in HISTOGRAM_SUFFIXES)
    return names


def metric_names(expr):
    """Metric names used by a PromQL expression (or a Grafana one with $variables): drop
    strings, label matchers, ranges and grouping label lists; what remains are function names
    (followed by '('), keywords and metric names."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\w+", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def load_rules():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboard_queries():
    """(where, expr, is_label_values) for every panel target and templating query."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append(("annotation " + a.get("name", "?"), a["expr"]))
    return dash, out


class DeployMonitoring(unittest.TestCase):
    def test_promtool_check_rules(self):
        rc, out = run_promtool(["check", "rules", os.path.basename(RULES)], PROM_DIR)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    def test_promtool_rule_unit_tests(self):
        rc, out = run_promtool(["test", "rules", os.path.basename(RULES_TEST)], PROM_DIR)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    def test_promtool_check_config(self):
        # rule_files are relative to the config file; promtool checks them too.
        rc, out = run_promtool(["check", "config", os.path.basename(PROM_CONFIG)], PROM_DIR)
        self.assertEqual(rc, 0, out)
        self.assertIn("1 rule files found", out)

    def test_every_alert_has_a_flagship_severity(self):
        alerts = [r for r in load_rules() if "alert" in r]
        self.assertGreaterEqual(len(alerts), 10)
        used = set()
        for r in alerts:
            with self.subTest(alert=r["alert"]):
                sev = r.get("labels", {}).get("severity")
                self.assertIn(sev, SEVERITIES, f"{RULES}: alert {r['alert']}: severity {sev!r}")
                used.add(sev)
                ann = r.get("annotations", {})
                self.assertTrue(ann.get("summary") and ann.get("description"),
                                f"{RULES}: alert {r['alert']} lacks summary or description")
        self.assertEqual(used, SEVERITIES, f"{RULES}: severities used {sorted(used)}")

    def test_every_alert_is_unit_tested(self):
        with open(RULES_TEST) as f:
            doc = yaml.safe_load(f)
        fired, silent = set(), set()
        for t in doc["tests"]:
            for a in t.get("alert_rule_test", []):
                (fired if a.get("exp_alerts") else silent).add(a["alertname"])
        for r in load_rules():
            if "alert" in r:
                with self.subTest(alert=r["alert"]):
                    self.assertIn(r["alert"], fired, f"{RULES_TEST}: no test shows it firing")
                    self.assertIn(r["alert"], silent,
                                  f"{RULES_TEST}: no test shows it silent (healthy or pending)")

    def test_rule_metrics_are_documented(self):
        known = documented_metrics() | BUILTIN_METRICS
        self.assertIn("steerdns_dns_queries_total", known)
        self.assertIn("steerdns_dns_response_duration_seconds_bucket", known)
        seen = set()
        for r in load_rules():
            name = r.get("alert") or r.get("record")
            for m in metric_names(r["expr"]):
                seen.add(m)
                self.assertTrue(m in known, f"{RULES}: {name} uses {m}, not in docs/metrics.md")
        self.assertIn("steerdns_health_check_healthy", seen)  # the parser found names at all

    def test_dashboard_metrics_are_documented(self):
        known = documented_metrics() | BUILTIN_METRICS
        dash, queries = dashboard_queries()
        self.assertGreaterEqual(len(queries), 20)
        seen = set()
        for where, expr in queries:
            for m in metric_names(expr):
                seen.add(m)
                self.assertTrue(m in known, f"{DASHBOARD}: panel {where!r} uses {m}, "
                              "not in docs/metrics.md")
        for v in dash["templating"]["list"]:
            if v.get("type") != "query":
                continue
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.match(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", q)
            self.assertIsNotNone(m, f"{DASHBOARD}: variable {v['name']}: {q}")
            self.assertTrue(m.group(1) in known, f"{DASHBOARD}: variable {v['name']} uses "
                          f"{m.group(1)}, not in docs/metrics.md")
        # The dashboard covers each area of docs/metrics.md.
        for m in ("steerdns_dns_queries_total", "steerdns_dns_response_duration_seconds_bucket",
                  "steerdns_health_check_status", "steerdns_health_probe_duration_seconds_bucket",
                  "steerdns_health_check_certificate_expiry_seconds",
                  "steerdns_steering_active_tier", "steerdns_steering_failovers_total",
                  "steerdns_change_batches_total", "steerdns_api_requests_total"):
            self.assertIn(m, seen, f"{DASHBOARD}: no panel shows {m}")

    def test_dashboard_imports_anywhere(self):
        dash, queries = dashboard_queries()
        names = [v["name"] for v in dash["templating"]["list"]]
        self.assertIn("DS_PROMETHEUS", names)
        ds_var = next(v for v in dash["templating"]["list"] if v["name"] == "DS_PROMETHEUS")
        self.assertEqual((ds_var["type"], ds_var["query"]), ("datasource", "prometheus"))
        text = json.dumps(dash)
        uids = set(re.findall(r'"uid": "([^"]*)"', text)) - {dash["uid"]}
        self.assertEqual(uids, {"${DS_PROMETHEUS}"}, "a datasource is pinned to a fixed uid")

    def test_dashboard_queries_parse(self):
        # promtool parses PromQL when it checks rules: feed it the panel queries as recording
        # rules, with Grafana's variables replaced by what they expand to.
        _, queries = dashboard_queries()
        rules = []
        for i, (_, expr) in enumerate(queries):
            e = expr.replace("$__rate_interval", "1m").replace("$__range", "6h")
            e = re.sub(r"\$\w+", ".*", e)
            rules.append({"record": f"dashboard:query{i}", "expr": e})
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "dashboard.rules.yml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
            rc, out = run_promtool(["check", "rules", path], d)
        self.assertEqual(rc, 0, out)

    def test_metric_name_parser(self):
        self.assertEqual(metric_names('sum by (check, le) (rate(a_bucket{x=~"y"}[5m])) > 0.5'),
                         {"a_bucket"})
        self.assertEqual(metric_names('x > 0 and on (instance, job) y{check="z"} == 1 unless '
                                      'up{job="s"}'), {"x", "y", "up"})
        self.assertEqual(metric_names('time() - max(steerdns_start_time_seconds{i=~"$i"})'),
                         {"steerdns_start_time_seconds"})

    def test_readme_mentions_each_file(self):
        with open(os.path.join(SRC, "deploy", "README.md")) as f:
            text = f.read()
        for p in (RULES, RULES_TEST, PROM_CONFIG, DASHBOARD):
            self.assertIn(os.path.basename(p), text)
        # The README's severity table lists each alert under its severity.
        rows = {}
        for line in text.splitlines():
            m = re.match(r"^\|\s*(info|warning|critical|emergency)\s*\|(.*)\|\s*$", line)
            if m:
                rows[m.group(1)] = set(re.findall(r"SteerDNS\w+", m.group(2)))
        for r in load_rules():
            if "alert" in r:
                sev = r.get("labels", {}).get("severity")
                self.assertIn(r["alert"], rows.get(sev, set()),
                              f"deploy/README.md: {r['alert']} not listed under {sev}")
        self.assertEqual(sum(len(v) for v in rows.values()),
                         len([r for r in load_rules() if "alert" in r]))


if __name__ == "__main__":
    unittest.main()
