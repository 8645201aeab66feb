"""TLS and mutual TLS with every client, against slimserve processes.

The certificates come from make_certs.sh (openssl) in the test's temp dir:
a CA that signs the server ("localhost", 127.0.0.1) and a client, and an
unrelated CA with a client of its own. One server with mutual TLS, one with
TLS only. Each client (Python, slimctl, slimbench, Node) gets in with the
right credentials and is refused without them.
"""

import json
import os
import subprocess
import unittest

import grpc

import ops_util
from slimserve_client import SlimClient

PKI = None


def pki():
    """{name: path} of the test PKI, made once."""
    global PKI
    if PKI is None:
        out = os.path.join(ops_util.tmpdir(), "pki")
        subprocess.run([ops_util.runfile("tests/ops/make_certs.sh"), out],
                       check=True, timeout=60)
        PKI = {name: os.path.join(out, name) for name in os.listdir(out)}
    return PKI


def read(name):
    with open(pki()[name], "rb") as f:
        return f.read()


def server_flags(mutual):
    flags = ["--tls_cert_file=" + pki()["server.pem"],
             "--tls_key_file=" + pki()["server.key"]]
    if mutual:
        flags.append("--tls_client_ca_file=" + pki()["ca.pem"])
    return flags


def client_credentials(root="ca.pem", cert="client"):
    """SlimClient keyword arguments: roots, and a client certificate."""
    kwargs = {"root_certificates": read(root)}
    if cert:
        kwargs["certificate_chain"] = read(cert + ".pem")
        kwargs["private_key"] = read(cert + ".key")
    return kwargs


def tls_flags(root="ca.pem", cert="client"):
    """The --tls_* flags of slimctl, slimbench and client.js."""
    flags = ["--tls_ca_file=" + pki()[root]]
    if cert:
        flags += ["--tls_cert_file=" + pki()[cert + ".pem"],
                  "--tls_key_file=" + pki()[cert + ".key"]]
    return flags


def refused(target, **kwargs):
    """True when a call over a new SlimClient (no waiting for the connection,
    no retries) fails UNAVAILABLE: a refused handshake fails it at once,
    however slow the machine; the timeout only bounds a hang."""
    with SlimClient(target, connect_timeout=None, retry=False,
                    **kwargs) as client:
        try:
            client.health(timeout=60)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                return True
            raise
    return False


class MutualTlsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = ops_util.Slimserve("slimserve_mtls",
                                        server_flags(mutual=True))
        cls.client = cls.server.wait_serving(**client_credentials())
        cls.node_script = os.path.realpath(
            ops_util.runfile("client/node/client.js"))

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.kill()

    def test_python_client_with_its_certificate_is_served(self):
        response = self.client.infer(ops_util.raw_test_image(), budget=0.5,
                                     timeout=30)
        self.assertEqual(len(response.outputs), 4)
        self.assertEqual(self.client.health(timeout=10), "SERVING")

    def test_python_clients_without_the_right_certificate_are_refused(self):
        target = self.server.target
        self.assertTrue(refused(target, **client_credentials(cert=None)))
        self.assertTrue(refused(target,
                                **client_credentials(cert="other_client")))
        self.assertTrue(refused(target))  # plaintext
        self.assertTrue(refused(target, **client_credentials(
            root="other_ca.pem")))  # does not trust the server

    def slimctl(self, *args):
        return subprocess.run(
            [ops_util.runfile("client/slimctl"),
             "--target=" + self.server.target, "--timeout_s=60"] + list(args),
            capture_output=True, timeout=120, check=False)

    def test_slimctl(self):
        done = self.slimctl(*(tls_flags() + ["health"]))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.strip(), b"SERVING")
        done = self.slimctl(*(tls_flags() + ["plan", "--budget=0.5",
                                             "--json"]))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("plan", json.loads(done.stdout))
        for flags in (tls_flags(cert=None), tls_flags(cert="other_client"),
                      []):
            done = self.slimctl(*(flags + ["--timeout_s=2", "health"]))
            self.assertEqual(done.returncode, 1, (flags, done.stderr))
            self.assertIn(b"UNAVAILABLE", done.stderr)
        done = self.slimctl("--tls_cert_file=" + pki()["client.pem"],
                            "health")
        self.assertEqual(done.returncode, 2, done.stderr)  # key missing
        done = self.slimctl("--tls_ca_file=/no/such.pem", "health")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn(b"--tls_ca_file", done.stderr)

    def test_slimbench(self):
        report = os.path.join(ops_util.tmpdir(), "tls_bench.json")
        done = subprocess.run(
            [ops_util.runfile("client/slimbench"),
             "--target=" + self.server.target, "--concurrency=2",
             "--duration_s=1", "--warmup_s=0", "--image_size=40x60",
             "--json_out=" + report] + tls_flags(),
            capture_output=True, timeout=120, check=False)
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(report) as f:
            result = json.load(f)
        self.assertGreater(result["ok"], 0)
        self.assertEqual(result["errors"], {})

    def node(self, *args):
        done = subprocess.run(
            ["node", self.node_script, "--target=" + self.server.target,
             "--timeout_s=60"] + list(args),
            capture_output=True, timeout=120, check=False)
        return done.returncode, json.loads(done.stdout.decode())

    def test_node_client(self):
        code, response = self.node(*(tls_flags() + ["infer", "--raw=40x60x3",
                                                    "--budget=0.5"]))
        self.assertEqual(code, 0, response)
        self.assertEqual(len(response["outputs"]), 4)
        code, response = self.node(*(tls_flags(cert=None) +
                                     ["--timeout_s=2", "health"]))
        self.assertEqual(code, 1, response)
        self.assertEqual(response["error"]["code"], "UNAVAILABLE")

    def test_metrics_stay_plain_http(self):
        self.assertIn("slimserve_serving 1", self.server.metrics_text())


class TlsTest(unittest.TestCase):
    """TLS without client certificates."""

    @classmethod
    def setUpClass(cls):
        cls.server = ops_util.Slimserve("slimserve_tls",
                                        server_flags(mutual=False))
        cls.server.wait_serving(**client_credentials(cert=None)).close()

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()

    def test_clients_trusting_the_ca_are_served_by_ip_and_by_name(self):
        for target in (self.server.target,
                       "localhost:%d" % self.server.port):
            with SlimClient(target, connect_timeout=60,
                            **client_credentials(cert=None)) as client:
                self.assertEqual(client.health(timeout=10), "SERVING")

    def test_the_name_checked_is_the_certificates(self):
        self.assertTrue(refused(self.server.target,
                                server_name="not-the-server.example",
                                **client_credentials(cert=None)))
        self.assertTrue(refused(self.server.target))  # plaintext


class BadTlsFlagsTest(unittest.TestCase):
    """The server refuses to start, naming what is wrong."""

    def start(self, *flags):
        server = ops_util.Slimserve("slimserve_bad_tls", flags)
        code = server.wait(60)
        server.kill()
        return code, server.log()

    def test_a_key_that_is_not_the_certificates(self):
        code, log = self.start("--tls_cert_file=" + pki()["server.pem"],
                               "--tls_key_file=" + pki()["client.key"])
        self.assertEqual(code, 1, log)
        self.assertIn("is the key the certificate's?", log)

    def test_a_missing_file(self):
        code, log = self.start("--tls_cert_file=/no/such/cert.pem",
                               "--tls_key_file=" + pki()["server.key"])
        self.assertEqual(code, 1, log)
        self.assertIn("--tls_cert_file", log)


if __name__ == "__main__":
    ops_util.main()
