"""Debian's Prometheus scraping a real slimserve.

Prometheus runs on loopback with a temporary storage directory, scrapes the
server every second and evaluates deploy/prometheus/alerts.yml. The tests
drive traffic with the Python client and read the results back through
Prometheus' HTTP query API; they also check that every metric the Grafana
dashboard and the alert rules read is one the server exports.
"""

import json
import math
import os
import urllib.parse
import urllib.request
import unittest

import grpc
import yaml

import ops_util
import promql


ADAPTER_NAMESPACE = "slimserve-test"
ADAPTER_POD = "slimserve-0"


def adapter_query(template, series, namespace, pods):
    """`template` as prometheus-adapter expands a metricsQuery for the
    custom metrics API's per-pod request (pods of one namespace)."""
    matchers = 'namespace="%s",pod=~"%s"' % (namespace, "|".join(pods))
    return (template.replace("<<.Series>>", series)
            .replace("<<.LabelMatchers>>", matchers)
            .replace("<<.GroupBy>>", "pod"))


class Prometheus(ops_util.Child):
    """prometheus on a free loopback port, scraping `metrics_port`."""

    def __init__(self, metrics_port, rule_file):
        self.port = free = ops_util.free_port()
        root = os.path.join(ops_util.tmpdir(), "prometheus")
        os.makedirs(root, exist_ok=True)
        config = os.path.join(root, "prometheus.yml")
        with open(config, "w") as f:
            yaml.safe_dump({
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                           "evaluation_interval": "1s"},
                "rule_files": [rule_file],
                "scrape_configs": [{
                    "job_name": "slimserve",
                    # The labels a Kubernetes scrape (the ServiceMonitor)
                    # attaches, which prometheus-adapter's rules match.
                    "static_configs": [
                        {"targets": ["127.0.0.1:%d" % metrics_port],
                         "labels": {"namespace": ADAPTER_NAMESPACE,
                                    "pod": ADAPTER_POD}}],
                }],
            }, f)
        super().__init__(
            ["prometheus", "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(root, "data"),
             "--web.listen-address=127.0.0.1:%d" % free,
             "--log.level=warn"], "prometheus")

    def get(self, path, **params):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")

    def api(self, path, **params):
        reply = json.loads(self.get(path, **params))
        if reply.get("status") != "success":
            raise AssertionError("%s: %r" % (path, reply))
        return reply["data"]

    def query(self, expr):
        """The value of an instant query returning one series, or None."""
        result = self.api("/api/v1/query", query=expr)["result"]
        if len(result) != 1:
            return None
        return float(result[0]["value"][1])


class PrometheusTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.rules_path = ops_util.runfile("deploy/prometheus/alerts.yml")
        cls.server = ops_util.Slimserve("slimserve_prometheus")
        cls.client = cls.server.wait_serving()
        cls.prometheus = Prometheus(cls.server.metrics_port, cls.rules_path)

        def ready():
            if not cls.prometheus.alive():
                raise AssertionError("prometheus exited:\n" +
                                     cls.prometheus.log()[-3000:])
            return cls.prometheus.get("/-/ready")
        ops_util.poll(ready, timeout=30, what="prometheus ready")
        ops_util.poll(lambda: cls.prometheus.query(
            'up{job="slimserve"}') == 1, timeout=30,
            what="a first successful scrape")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.prometheus.kill()
        cls.server.kill()

    def scrape(self):
        samples, _ = ops_util.parse_metrics(self.server.metrics_text())
        return samples

    def test_counters_move_by_the_calls_made(self):
        image = ops_util.raw_test_image()
        # What the expressions read before the calls, from the server
        # itself (calls here are sequential, so this is exact).
        before = self.scrape()
        for _ in range(3):
            self.client.infer(image, budget=0.5, timeout=30)
        for _ in range(2):  # a fraction above 1
            with self.assertRaises(grpc.RpcError) as raised:
                self.client.infer(image, budget=2, timeout=30)
            self.assertEqual(raised.exception.code(),
                             grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as raised:  # below the cheapest
            self.client.infer(image, budget_mflops=1e-6, timeout=30)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.OUT_OF_RANGE)
        for _ in range(2):
            self.client.plan(budget=0.5, timeout=10)
        self.client.model_info(timeout=10)
        after = self.scrape()

        # (PromQL, the server's metric and labels, expected increase)
        expectations = [
            ('slimserve_requests_total{rpc="Infer", code="OK"}',
             ("slimserve_requests_total", {"rpc": "Infer", "code": "OK"}), 3),
            ('slimserve_requests_total{rpc="Infer", code="INVALID_ARGUMENT"}',
             ("slimserve_requests_total",
              {"rpc": "Infer", "code": "INVALID_ARGUMENT"}), 2),
            ('slimserve_requests_total{rpc="Infer", code="OUT_OF_RANGE"}',
             ("slimserve_requests_total",
              {"rpc": "Infer", "code": "OUT_OF_RANGE"}), 1),
            ('slimserve_requests_total{rpc="Plan", code="OK"}',
             ("slimserve_requests_total", {"rpc": "Plan", "code": "OK"}), 2),
            ('slimserve_requests_total{rpc="GetModelInfo", code="OK"}',
             ("slimserve_requests_total",
              {"rpc": "GetModelInfo", "code": "OK"}), 1),
            ('slimserve_request_duration_seconds_count{rpc="Infer"}',
             ("slimserve_request_duration_seconds_count", {"rpc": "Infer"}),
             6),
            ('slimserve_rejected_requests_total{reason="invalid_request"}',
             ("slimserve_rejected_requests_total",
              {"reason": "invalid_request"}), 2),
            ('slimserve_rejected_requests_total{reason="budget_too_small"}',
             ("slimserve_rejected_requests_total",
              {"reason": "budget_too_small"}), 1),
            ("slimserve_queue_duration_seconds_count",
             ("slimserve_queue_duration_seconds_count", {}), 3),
            ("slimserve_compute_duration_seconds_count",
             ("slimserve_compute_duration_seconds_count", {}), 3),
            ("sum(slimserve_plans_total)", ("slimserve_plans_total", {}), 3),
            # Every task at equal weight: four decoders per call.
            ("sum(slimserve_decoder_plans_total)",
             ("slimserve_decoder_plans_total", {}), 12),
            ("sum(slimserve_batch_size_count)",
             ("slimserve_batch_size_count", {}), 3),
        ]
        for _, (name, labels), delta in expectations:
            self.assertEqual(
                ops_util.sample_sum(after, name, **labels) -
                ops_util.sample_sum(before, name, **labels), delta,
                (name, labels))
        self.assertGreater(
            ops_util.sample_sum(after, "slimserve_planned_flops_total"),
            ops_util.sample_sum(before, "slimserve_planned_flops_total"))

        # Prometheus sees the same, once it has scraped again.
        for expr, (name, labels), _ in expectations:
            want = ops_util.sample_sum(after, name, **labels)
            ops_util.poll(lambda: self.prometheus.query(expr) == want,
                          timeout=20, what="%s == %g in Prometheus" % (
                              expr, want))

    def test_latency_quantiles_are_queryable(self):
        for _ in range(5):
            self.client.infer(ops_util.raw_test_image(), budget=0.5,
                              timeout=30)
        # What the dashboard and the p99 alert compute.
        expr = ('histogram_quantile(0.99, sum by (le) (rate('
                'slimserve_request_duration_seconds_bucket{rpc="Infer"}[30s])))')
        p99 = ops_util.poll(
            lambda: (lambda v: v if v is not None and math.isfinite(v) and
                     v > 0 else None)(self.prometheus.query(expr)),
            timeout=20, what="a finite Infer p99")
        # Tiny model on loopback: well under the slowest bucket.
        self.assertLess(p99, 10)

    def test_process_and_info_metrics(self):
        query = self.prometheus.query
        self.assertEqual(query("slimserve_serving"), 1)
        self.assertEqual(query(
            'slimserve_model_info{name="tiny", version="test", '
            'tasks="semseg,depth,normals,edges"}'), 1)
        self.assertEqual(query('count(slimserve_build_info{version!=""})'), 1)
        self.assertGreater(query("process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(query("process_start_time_seconds"), 1.5e9)
        self.assertIsNotNone(query("process_cpu_seconds_total"))
        # Idle now; a scrape may still be from during an earlier call.
        for gauge in ["slimserve_queue_depth", "slimserve_inflight_requests"]:
            ops_util.poll(lambda: query(gauge) == 0, timeout=10,
                          what=gauge + " == 0")

    def test_alert_rules_load_and_evaluate(self):
        def evaluated():
            groups = self.prometheus.api("/api/v1/rules")["groups"]
            rules = [r for g in groups for r in g["rules"]]
            if len(rules) != 4:
                return None
            for rule in rules:
                self.assertEqual(rule["health"], "ok", rule)
                if rule["lastEvaluation"].startswith("0001-"):
                    return None
            return rules
        rules = ops_util.poll(evaluated, timeout=20,
                              what="every alert rule evaluated")
        self.assertEqual(
            sorted(r["name"] for r in rules),
            ["SlimserveHighDegradeRate", "SlimserveHighP99Latency",
             "SlimserveHighRejectRate", "SlimserveNotServing"])
        # A healthy, idle server fires nothing.
        self.assertEqual([r["name"] for r in rules if r["state"] == "firing"],
                         [])

    def test_adapter_rules_serve_a_value_per_pod(self):
        """deploy/k8s/prometheus-adapter's rules, as the adapter runs them:
        the series query finds the server's series, and the metrics query
        gives one value per pod, the one hpa.yaml scales on among them."""
        with open(ops_util.runfile(
                "deploy/k8s/prometheus-adapter/rules.yaml")) as f:
            rules = yaml.safe_load(f)["rules"]
        self.assertIn("slimserve_inflight_requests",
                      [r["name"]["as"] for r in rules])
        for rule in rules:
            found = self.prometheus.api("/api/v1/series",
                                        **{"match[]": rule["seriesQuery"]})
            names = {s["__name__"] for s in found}
            self.assertEqual(len(names), 1, (rule["seriesQuery"], names))
            series = names.pop()
            self.assertRegex(series, rule["name"]["matches"])
            for label, target in rule["resources"]["overrides"].items():
                self.assertIn(label, found[0], rule["seriesQuery"])
                self.assertIn(target["resource"], {"namespace", "pod"})
            expr = adapter_query(rule["metricsQuery"], series,
                                 ADAPTER_NAMESPACE, [ADAPTER_POD, "other-1"])

            def per_pod():
                return self.prometheus.api("/api/v1/query",
                                           query=expr)["result"]
            result = ops_util.poll(per_pod, timeout=20, what=expr)
            self.assertEqual([r["metric"] for r in result],
                             [{"pod": ADAPTER_POD}], expr)
            value = float(result[0]["value"][1])
            self.assertTrue(math.isfinite(value) and value >= 0, value)
            # Another namespace's pods are not this one's.
            other = adapter_query(rule["metricsQuery"], series, "elsewhere",
                                  [ADAPTER_POD])
            self.assertEqual(self.prometheus.api("/api/v1/query",
                                                 query=other)["result"], [])

    def test_dashboard_and_alerts_read_only_exported_metrics(self):
        samples, families = ops_util.parse_metrics(self.server.metrics_text())
        series_names = {s.partition("{")[0] for s in samples}
        with open(ops_util.runfile("deploy/grafana/slimserve.json")) as f:
            dashboard = promql.dashboard_metric_names(json.load(f))
        with open(self.rules_path) as f:
            rules = promql.rules_metric_names(yaml.safe_load(f))
        for what, names in [("dashboard", dashboard), ("alerts.yml", rules)]:
            self.assertTrue(names, what)
            self.assertEqual(
                promql.unexported(names, families, series_names), set(),
                "%s reads metrics the server does not export" % what)


if __name__ == "__main__":
    ops_util.main()
