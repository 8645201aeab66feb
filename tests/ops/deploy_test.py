"""The deploy/ files: Prometheus rules (promtool), the Grafana dashboard, the
Kubernetes manifests, and their agreement with the server's flags.

That the dashboard and the rules read only metrics the server exports is
checked against a real server in prometheus_test.py.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
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


def quantity_bytes(quantity):
    """Bytes of a Kubernetes memory quantity such as 512Mi or 1G."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6,
             "G": 10**9}
    match = re.fullmatch(r"(\d+)([KMG]i?)?", quantity)
    if not match:
        raise AssertionError("unexpected quantity %r" % quantity)
    return int(match.group(1)) * units.get(match.group(2), 1)


def kubectl_kustomize(directory):
    """The objects `kubectl kustomize directory` renders, and its YAML.

    kubectl is whichever is on PATH: Debian's kubernetes-client (1.20,
    kustomize 2.0.3; tools/setup.sh installs it when there is none) or a
    newer one (kustomize 5); the manifests are written for both.
    """
    done = subprocess.run(["kubectl", "kustomize", directory],
                          capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError("kubectl kustomize %s: %s" % (
            directory, done.stderr.decode()[-2000:]))
    text = done.stdout.decode()
    return [d for d in yaml.safe_load_all(text) if d is not None], text


def copy_k8s_tree():
    """deploy/k8s copied to a temporary directory, as real files.

    Runfiles are symlinks into the source tree, and kustomize refuses files
    that resolve outside the directory it renders.
    """
    root = tempfile.mkdtemp(dir=ops_util.tmpdir())
    shutil.copytree(deploy("k8s"), os.path.join(root, "k8s"))
    return root


def validate_schemas(rendered_yaml):
    """(exit code, per-object results) of tests/ops/k8s_schema/validate.mjs.

    It checks every object against the JSON schema of its API offline
    (kubernetes-models: Kubernetes 1.27's OpenAPI; the Prometheus
    Operator's CRDs). Its node_modules are installed by tools/test.sh (npm
    ci) next to the real script, outside Bazel's view.
    """
    script = ops_util.npm_installed("tests/ops/k8s_schema/validate.mjs",
                                    "kubernetes-models")
    done = subprocess.run(["node", script], input=rendered_yaml.encode(),
                          capture_output=True, timeout=60, check=False)
    results = [json.loads(line) for line in done.stdout.decode().splitlines()]
    if done.returncode not in (0, 1) or not results:
        raise AssertionError("validate.mjs: exit %d, %s" % (
            done.returncode, done.stderr.decode()[-2000:]))
    return done.returncode, results


class KubernetesTest(unittest.TestCase):
    """What `kubectl kustomize deploy/k8s` renders, as applied."""

    @classmethod
    def setUpClass(cls):
        cls.root = copy_k8s_tree()
        objects, cls.rendered = kubectl_kustomize(
            os.path.join(cls.root, "k8s"))
        cls.docs = {}
        for doc in objects:
            cls.docs.setdefault(doc["kind"], []).append(doc)
        cls.deployment = cls.docs["Deployment"][0]
        cls.pod_labels = cls.deployment["spec"]["template"]["metadata"][
            "labels"]
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.container = cls.pod["containers"][0]
        cls.ports = {p["name"]: p["containerPort"]
                     for p in cls.container["ports"]}

    def test_renders_every_object(self):
        self.assertEqual(
            sorted((kind, len(docs)) for kind, docs in self.docs.items()),
            [("ConfigMap", 1), ("Deployment", 1),
             ("HorizontalPodAutoscaler", 1), ("PodDisruptionBudget", 1),
             ("Service", 2), ("ServiceMonitor", 1)])

    def test_objects_match_their_api_schemas(self):
        code, results = validate_schemas(self.rendered)
        self.assertEqual(code, 0, [r for r in results if r["error"]])
        self.assertEqual(len(results), sum(map(len, self.docs.values())))
        _, adapter = kubectl_kustomize(
            os.path.join(self.root, "k8s", "prometheus-adapter"))
        code, results = validate_schemas(adapter)
        self.assertEqual(code, 0, results)
        self.assertEqual([(r["kind"], r["name"]) for r in results],
                         [("ConfigMap", "adapter-config")])

    def test_schema_check_refuses_a_wrong_object(self):
        hpa = copy.deepcopy(self.docs["HorizontalPodAutoscaler"][0])
        hpa["spec"]["minReplicas"] = "two"
        del hpa["spec"]["scaleTargetRef"]["name"]
        code, results = validate_schemas(yaml.safe_dump(hpa))
        self.assertEqual(code, 1)
        self.assertIn("minReplicas", results[0]["error"])
        self.assertIn("name", results[0]["error"])
        code, results = validate_schemas(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
        self.assertEqual(code, 1)
        self.assertIn("no schema", results[0]["error"])

    def test_an_overlay_sets_the_image_and_the_model(self):
        overlay = os.path.join(self.root, "mine")
        os.makedirs(overlay)
        with open(os.path.join(overlay, "kustomization.yaml"), "w") as f:
            # bases: kustomize 2.0.3 takes directories only there (5 warns
            # that it is deprecated, and takes it).
            yaml.safe_dump({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "bases": ["../k8s"],
                "images": [{"name": "localhost/slimserve",
                            "newName": "registry.example.com/team/slimserve",
                            "newTag": "1.2.3"}],
                "configMapGenerator": [{
                    "name": "slimserve-model", "behavior": "replace",
                    "literals": ["model_dir=/models/mine"]}],
            }, f)
        objects, _ = kubectl_kustomize(overlay)
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(container["image"],
                         "registry.example.com/team/slimserve:1.2.3")
        ref = next(e for e in container["env"]
                   if e["name"] == "SLIMSERVE_MODEL_DIR")
        ref = ref["valueFrom"]["configMapKeyRef"]
        maps = {o["metadata"]["name"]: o for o in objects
                if o["kind"] == "ConfigMap"}
        self.assertIn(ref["name"], maps)  # the generated (hashed) name
        self.assertEqual(maps[ref["name"]]["data"][ref["key"]],
                         "/models/mine")

    def test_model_dir_comes_from_the_config_map(self):
        self.assertEqual(flag_value(self.container["args"], "model_dir"),
                         "$(SLIMSERVE_MODEL_DIR)")
        self.assertEqual(self.container["image"], "localhost/slimserve:0.1.0")
        config = self.docs["ConfigMap"][0]
        self.assertEqual(config["data"]["model_dir"], "/models/default")

    def test_autoscaling_and_disruption_fit_together(self):
        hpa = self.docs["HorizontalPodAutoscaler"][0]["spec"]
        self.assertEqual((hpa["scaleTargetRef"]["kind"],
                          hpa["scaleTargetRef"]["name"]),
                         ("Deployment", self.deployment["metadata"]["name"]))
        # The HPA owns the replica count.
        self.assertNotIn("replicas", self.deployment["spec"])
        # Per-pod load first, CPU (relative to a request that is set) second.
        metrics = hpa["metrics"]
        self.assertEqual([m["type"] for m in metrics], ["Pods", "Resource"])
        self.assertEqual(metrics[1]["resource"]["name"], "cpu")
        self.assertIn("cpu", self.container["resources"]["requests"])
        # The Pods metric is one the adapter rule serves, from a gauge the
        # server exports (checked against a real server and Prometheus in
        # prometheus_test.py).
        with open(deploy("k8s/prometheus-adapter/rules.yaml")) as f:
            served = {r["name"]["as"] for r in yaml.safe_load(f)["rules"]}
        self.assertIn(metrics[0]["pods"]["metric"]["name"], served)
        # A drain may take one replica while one keeps serving.
        pdb = self.docs["PodDisruptionBudget"][0]["spec"]
        self.assertLess(pdb["maxUnavailable"], hpa["minReplicas"])
        self.assertLessEqual(pdb["selector"]["matchLabels"].items(),
                             self.pod_labels.items())
        spread = self.pod["topologySpreadConstraints"]
        self.assertEqual({c["topologyKey"] for c in spread},
                         {"kubernetes.io/hostname",
                          "topology.kubernetes.io/zone"})
        for constraint in spread:
            self.assertLessEqual(
                constraint["labelSelector"]["matchLabels"].items(),
                self.pod_labels.items())

    def test_probes_use_grpc_health(self):
        grpc_port = self.ports["grpc"]
        self.assertEqual(flag_value(self.container["args"], "address"),
                         "0.0.0.0:%d" % grpc_port)
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
            self.assertEqual(self.container[probe]["grpc"]["port"], grpc_port,
                             probe)
        self.assertEqual(self.container["readinessProbe"]["grpc"]["service"],
                         "slimserve.v1.InferenceService")

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
        pod_labels = self.pod_labels
        for service in services.values():
            self.assertLessEqual(service["spec"]["selector"].items(),
                                 pod_labels.items())
            for port in service["spec"]["ports"]:
                self.assertIn(port["targetPort"], self.ports)

    def test_resources_are_set(self):
        resources = self.container["resources"]
        self.assertIn("cpu", resources["requests"])
        request = quantity_bytes(resources["requests"]["memory"])
        limit = quantity_bytes(resources["limits"]["memory"])
        # The limit holds the gRPC quota on top of the request (the model,
        # its activations and the batches: RELIABILITY.md measures them).
        grpc_quota = int(flag_value(self.container["args"],
                                    "max_grpc_memory_bytes"))
        self.assertGreater(grpc_quota, 0)
        self.assertGreaterEqual(limit, request + grpc_quota)

if __name__ == "__main__":
    ops_util.main()
