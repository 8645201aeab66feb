"""Three replicas behind one client-side balancer, under steady load.

Three slimserve processes on loopback; slimbench balances per call over
them (`--lb_policy=round_robin` over an ipv4: list of the three addresses,
with client-side health checks and the retry policy of client/channel.h),
in a closed loop that runs until it is sent SIGTERM. Checked:
  - the calls spread evenly (each replica within 20% of the mean);
  - a rolling restart (SIGTERM one replica, wait for its exit 0, start it
    again on the same ports, wait until it serves calls again, next) loses
    no call: slimbench counts every call OK;
  - a replica killed with SIGKILL costs at most the calls it held (the
    client's concurrency), which fail UNAVAILABLE and are retried; the
    replica started again gets calls again.
The counts of each phase are written to replicas.json in the test's
outputs (bazel-testlogs/tests/ops/replicas_test/test.outputs).
"""

import json
import os
import signal
import subprocess
import time
import unittest

import ops_util
from slimserve_client import SlimClient

REPLICAS = 3
CONCURRENCY = 6
SERVER_FLAGS = [
    # Short drain, so the test is quick; readiness moves the client off the
    # replica within it (its health watch), as in Kubernetes.
    "--drain_grace_s=1", "--shutdown_timeout_s=20",
    "--max_queue_size=1000", "--log_level=info"]
# Calls each phase waits for: enough that an uneven spread shows.
SPREAD_CALLS = 600


def answered(replica, rpc="Infer"):
    """Calls of `rpc` that `replica` (its process now) answered OK."""
    samples, _ = ops_util.parse_metrics(replica.metrics_text())
    return ops_util.sample_sum(samples, "slimserve_requests_total",
                               rpc=rpc, code="OK")


class Bench(ops_util.Child):
    """slimbench in a closed loop over every replica until stop()."""

    def __init__(self, name, replicas, retry=True):
        self.report = os.path.join(ops_util.outputs_dir(), name + ".json")
        target = "ipv4:" + ",".join(r.target for r in replicas)
        super().__init__([
            ops_util.runfile("client/slimbench"), "--target=" + target,
            "--lb_policy=round_robin", "--retry=%s" % str(retry).lower(),
            "--concurrency=%d" % CONCURRENCY, "--duration_s=3600",
            "--warmup_s=0", "--image_size=48x64", "--image_format=raw",
            "--output_format=raw", "--json_out=" + self.report], name)

    def stop(self):
        """SIGTERM; slimbench's JSON report once it has exited 0."""
        self.popen.send_signal(signal.SIGTERM)
        code = self.wait(120)
        if code != 0:
            raise AssertionError("slimbench exit %s:\n%s" % (
                code, self.log()[-3000:]))
        with open(self.report) as f:
            return json.load(f)


class ReplicasTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.replicas = [ops_util.Slimserve("replica%d" % i, SERVER_FLAGS)
                        for i in range(REPLICAS)]
        for replica in cls.replicas:
            replica.wait_serving().close()
        cls.counts = {}

    @classmethod
    def tearDownClass(cls):
        with open(os.path.join(ops_util.outputs_dir(), "replicas.json"),
                  "w") as f:
            json.dump(cls.counts, f, indent=2, sort_keys=True)
        print("replicas_test counts:", json.dumps(cls.counts, sort_keys=True))
        for replica in cls.replicas:
            replica.kill()

    def wait_served(self, replica, at_least, what):
        """Until `replica` has answered `at_least` Infer calls OK."""
        def served():
            if not replica.alive():
                raise AssertionError("%s exited:\n%s" % (
                    replica.name, replica.log()[-3000:]))
            return answered(replica) >= at_least
        ops_util.poll(served, timeout=120, interval=0.05, what=what)

    def wait_all_served(self, bench, at_least):
        for replica in self.replicas:
            if not bench.alive():
                raise AssertionError("slimbench exited:\n" +
                                     bench.log()[-3000:])
            self.wait_served(replica, at_least,
                             "%s to serve %d calls" % (replica.name, at_least))

    def restart(self, index, name):
        """Replica `index` started again on its ports, once serving."""
        old = self.replicas[index]
        replica = ops_util.Slimserve(name, SERVER_FLAGS, port=old.port,
                                     metrics_port=old.metrics_port)
        replica.wait_serving().close()
        self.replicas[index] = replica
        return replica

    def test_1_calls_spread_evenly(self):
        bench = Bench("bench_spread", self.replicas)
        # Connections come up one by one: count from when all serve.
        self.wait_all_served(bench, 10)
        start = [answered(r) for r in self.replicas]
        ops_util.poll(lambda: sum(answered(r) for r in self.replicas) -
                      sum(start) >= SPREAD_CALLS, timeout=300,
                      what="%d calls" % SPREAD_CALLS)
        spread = [answered(r) - s for r, s in zip(self.replicas, start)]
        report = bench.stop()
        self.counts["spread"] = {"per_replica": spread,
                                 "client": report}
        mean = sum(spread) / len(spread)
        for replica, n in zip(self.replicas, spread):
            self.assertLessEqual(abs(n - mean), 0.2 * mean,
                                 (replica.name, spread))
        self.assertEqual(report["errors"], {}, report)

    def test_1_python_client_balances_per_call(self):
        addresses = "ipv4:" + ",".join(r.target for r in self.replicas)
        plans = lambda r: answered(r, rpc="Plan")  # noqa: E731
        with SlimClient(addresses, lb_policy="round_robin") as client:
            # Until every replica has had a call (connections come up one
            # by one; bounded by time, not calls), then 30 more: 10 each.
            give_up = time.monotonic() + 60
            while time.monotonic() < give_up:
                if min(plans(r) for r in self.replicas) > 0:
                    break
                client.plan(budget=0.5, timeout=30)
            before = [plans(r) for r in self.replicas]
            for _ in range(30):
                client.plan(budget=0.5, timeout=30)
            after = [plans(r) for r in self.replicas]
        self.assertEqual([a - b for a, b in zip(after, before)],
                         [10, 10, 10])
        with self.assertRaises(ValueError):
            SlimClient(addresses, lb_policy="grpclb")

    def test_2_rolling_restart_loses_no_call(self):
        bench = Bench("bench_rolling", self.replicas)
        self.wait_all_served(bench, 10)
        served_before_stop, exits = [], []
        for i in range(REPLICAS):
            old = self.replicas[i]
            served_before_stop.append(answered(old))
            exits.append(old.stop(timeout=60))
            self.assertEqual(exits[-1], 0, old.log()[-3000:])
            replica = self.restart(i, "replica%d_rolled" % i)
            # The client reconnects and sends it calls again before the
            # next replica goes, so two are never out at once.
            self.wait_served(replica, 10, replica.name + " to get calls again")
        report = bench.stop()
        self.counts["rolling_restart"] = {
            "served_by_each_before_its_restart": served_before_stop,
            "exit_codes": exits, "client": report}
        self.assertGreater(report["ok"], 0)
        self.assertEqual(report["sent"], report["ok"], report)
        self.assertEqual(report["errors"], {}, report)

    def test_3_sigkill_costs_only_the_calls_it_held(self):
        # Without retries the client sees what the kill cost; with them
        # (the default of every client), those calls go to the others.
        for retry, victim_index in [(False, 1), (True, 2)]:
            phase = "sigkill_%s" % ("retry" if retry else "no_retry")
            bench = Bench("bench_" + phase, self.replicas, retry=retry)
            self.wait_all_served(bench, 10)
            victim = self.replicas[victim_index]
            victim.popen.send_signal(signal.SIGKILL)
            self.assertEqual(victim.wait(30), -signal.SIGKILL)
            # The other two carry the load meanwhile.
            others = [r for r in self.replicas if r is not victim]
            marks = [answered(r) for r in others]
            for replica, mark in zip(others, marks):
                self.wait_served(replica, mark + 20,
                                 replica.name + " to serve after the kill")
            replica = self.restart(victim_index, victim.name + "_after_kill")
            self.wait_served(replica, 10, replica.name + " to get calls again")
            report = bench.stop()
            self.counts[phase] = {"client": report}
            failed = sum(report["errors"].values())
            # In flight on the killed replica: at most the client's
            # concurrency; anything else would be a call lost elsewhere.
            self.assertLessEqual(failed, CONCURRENCY, (phase, report))
            self.assertLessEqual(set(report["errors"]), {"UNAVAILABLE"},
                                 (phase, report))
            self.assertEqual(report["ok"] + failed, report["sent"], report)

if __name__ == "__main__":
    ops_util.main()
