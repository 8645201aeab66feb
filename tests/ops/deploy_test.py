"""The deploy/ files: Prometheus rules (promtool), the Grafana dashboard, the
Kubernetes manifests, and their agreement with the server's flags.

That the dashboard and the rules read only metrics the server exports is
checked against a real server in prometheus_test.py.
"""

import json
import os
import re
import subprocess
import unittest

import yaml

import ops_util
import promql


def deploy(path):
    return ops_util.runfile(os.path.join("deploy", path))


def load_yaml_documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def flag_value(args, name):
    for arg in args:
        if arg.startswith("--%s=" % name):
            return arg.split("=", 1)[1]
    return None


class PrometheusRulesTest(unittest.TestCase):

    def promtool(self, *args):
        done = subprocess.run(["promtool"] + list(args), capture_output=True,
                              cwd=deploy("prometheus"), timeout=60,
                              check=False)
        output = (done.stdout + done.stderr).decode()
        self.assertEqual(done.returncode, 0, output)
        return output

    def test_promtool_check_rules(self):
        self.assertIn("SUCCESS: 4 rules found",
                      self.promtool("check", "rules", "alerts.yml"))

    def test_promtool_unit_tests(self):
        self.promtool("test", "rules", "alerts_test.yml")
        # Firing cases for several alerts, not only silence.
        with open(deploy("prometheus/alerts_test.yml")) as f:
            tests = yaml.safe_load(f)["tests"]
        firing = {case["alertname"] for test in tests
                  for case in test.get("alert_rule_test", [])
                  if case.get("exp_alerts")}
        self.assertGreaterEqual(len(firing), 2, firing)

    def test_rules_are_complete(self):
        with open(deploy("prometheus/alerts.yml")) as f:
            rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
        self.assertEqual(
            {r["alert"] for r in rules},
            {"SlimserveNotServing", "SlimserveHighP99Latency",
             "SlimserveHighRejectRate", "SlimserveHighDegradeRate"})
        for rule in rules:
            self.assertIn("for", rule, rule["alert"])
            self.assertIn(rule["labels"]["severity"],
                          {"critical", "warning", "info"}, rule["alert"])
            self.assertTrue(rule["annotations"]["summary"], rule["alert"])
            self.assertTrue(rule["annotations"]["description"], rule["alert"])


class GrafanaDashboardTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(deploy("grafana/slimserve.json")) as f:
            cls.dashboard = json.load(f)

    def test_panels_are_well_formed(self):
        panels = self.dashboard["panels"]
        ids = [p["id"] for p in panels]
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")
        for panel in panels:
            grid = panel["gridPos"]
            self.assertLessEqual(grid["x"] + grid["w"], 24, panel["title"])
            if panel["type"] == "row":
                continue
            self.assertTrue(panel["targets"], panel["title"])
            for target in panel["targets"]:
                self.assertTrue(target["expr"].strip(), panel["title"])
                self.assertEqual(target["datasource"]["uid"], "${datasource}")
        variables = {v["name"] for v in self.dashboard["templating"]["list"]}
        self.assertEqual(variables, {"datasource", "job", "instance"})

    def test_shows_what_operators_need(self):
        names = promql.dashboard_metric_names(self.dashboard)
        for name in ["slimserve_requests_total",
                     "slimserve_request_duration_seconds_bucket",
                     "slimserve_queue_duration_seconds_bucket",
                     "slimserve_compute_duration_seconds_bucket",
                     "slimserve_queue_depth", "slimserve_inflight_requests",
                     "slimserve_batch_size_sum", "slimserve_plans_total",
                     "slimserve_decoder_plans_total",
                     "slimserve_degraded_requests_total",
                     "slimserve_rejected_requests_total"]:
            self.assertIn(name, names)
        exprs = " ".join(t["expr"] for p in self.dashboard["panels"]
                         for t in p.get("targets", []))
        self.assertIn("histogram_quantile(0.5,", exprs)
        self.assertIn("histogram_quantile(0.99,", exprs)


class PromqlTest(unittest.TestCase):
    """The metric-name extraction the dashboard check relies on."""

    def test_metric_names(self):
        cases = {
            'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y"}[5m])))':
                {"a_bucket"},
            "sum(rate(a[1m])) by (job) / sum(b offset 5m) > 1e6":
                {"a", "b"},
            'up{job="s"} == 0 or c{job="s", d=~"e|f"} == 0': {"up", "c"},
            'rate(x{job="$job", i=~"$instance"}[$__rate_interval])': {"x"},
            "a / on(instance) group_left(version) b_info": {"a", "b_info"},
        }
        for expr, names in cases.items():
            self.assertEqual(promql.metric_names(expr), names, expr)
        self.assertEqual(promql.template_query_metric_names(
            'label_values(m{job="$job"}, instance)'), {"m"})
        self.assertEqual(promql.template_query_metric_names(
            "label_values(job)"), set())

    def test_unexported(self):
        families = {"h_seconds": "histogram", "c_total": "counter"}
        series = {"h_seconds_bucket", "h_seconds_sum", "h_seconds_count",
                  "c_total"}
        self.assertEqual(promql.unexported(
            {"h_seconds_bucket", "h_seconds_count", "c_total", "up"},
            families, series), set())
        self.assertEqual(promql.unexported(
            {"c_total_count", "nope", "h_seconds_max"}, families, series),
            {"c_total_count", "nope", "h_seconds_max"})


class KubernetesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.docs = {}
        k8s = deploy("k8s")
        for name in sorted(os.listdir(k8s)):
            for doc in load_yaml_documents(os.path.join(k8s, name)):
                cls.docs.setdefault(doc["kind"], []).append(doc)
        cls.deployment = cls.docs["Deployment"][0]
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.container = cls.pod["containers"][0]
        cls.ports = {p["name"]: p["containerPort"]
                     for p in cls.container["ports"]}

    def test_every_manifest_parses(self):
        self.assertEqual(set(self.docs),
                         {"Deployment", "Service", "ServiceMonitor",
                          "Kustomization"})
        for resource in self.docs["Kustomization"][0]["resources"]:
            self.assertTrue(os.path.exists(deploy("k8s/" + resource)),
                            resource)

    def test_probes_use_grpc_health(self):
        grpc_port = self.ports["grpc"]
        self.assertEqual(flag_value(self.container["args"], "address"),
                         "0.0.0.0:%d" % grpc_port)
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
            self.assertEqual(self.container[probe]["grpc"]["port"], grpc_port,
                             probe)
        self.assertEqual(self.container["readinessProbe"]["grpc"]["service"],
                         "slimserve.v1.Inference")

    def test_drain_fits_in_the_termination_grace_period(self):
        args = self.container["args"]
        drain = float(flag_value(args, "drain_grace_s"))
        shutdown = float(flag_value(args, "shutdown_timeout_s"))
        self.assertGreater(self.pod["terminationGracePeriodSeconds"],
                           drain + shutdown)
        # Readiness turns within the grace period, so traffic has moved
        # before the server stops accepting...
        readiness = self.container["readinessProbe"]
        self.assertLess(readiness["periodSeconds"] *
                        readiness["failureThreshold"], drain)
        # ...and liveness never kills a draining pod.
        liveness = self.container["livenessProbe"]
        self.assertGreater(liveness["periodSeconds"] *
                           liveness["failureThreshold"], drain + shutdown)

    def test_args_are_server_flags(self):
        done = subprocess.run([ops_util.runfile("server/slimserve"),
                               "--helpfull"], capture_output=True, timeout=30,
                              check=False)
        help_text = (done.stdout + done.stderr).decode()
        for arg in self.container["args"]:
            name = re.match(r"--(\w+)=", arg).group(1)
            self.assertRegex(help_text, r"--%s \(" % name, arg)

    def test_metrics_are_scrapable(self):
        metrics_port = self.ports["metrics"]
        self.assertEqual(
            flag_value(self.container["args"], "metrics_address"),
            "0.0.0.0:%d" % metrics_port)
        annotations = self.deployment["spec"]["template"]["metadata"][
            "annotations"]
        self.assertEqual(annotations["prometheus.io/port"], str(metrics_port))
        self.assertEqual(annotations["prometheus.io/path"], "/metrics")

        services = {s["metadata"]["name"]: s for s in self.docs["Service"]}
        monitor = self.docs["ServiceMonitor"][0]["spec"]
        selected = [s for s in services.values()
                    if monitor["selector"]["matchLabels"].items() <=
                    s["metadata"]["labels"].items()]
        # One Service, so each replica is scraped once.
        self.assertEqual([s["metadata"]["name"] for s in selected],
                         ["slimserve"])
        port_names = {p["name"] for p in selected[0]["spec"]["ports"]}
        for endpoint in monitor["endpoints"]:
            self.assertIn(endpoint["port"], port_names)
        pod_labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        for service in services.values():
            self.assertLessEqual(service["spec"]["selector"].items(),
                                 pod_labels.items())
            for port in service["spec"]["ports"]:
                self.assertIn(port["targetPort"], self.ports)

    def test_resources_are_set(self):
        resources = self.container["resources"]
        self.assertIn("cpu", resources["requests"])
        self.assertIn("memory", resources["requests"])
        self.assertIn("memory", resources["limits"])


if __name__ == "__main__":
    ops_util.main()
