"""Helpers of the operations tests.

Runfiles, free loopback ports, child processes that never outlive the test,
the tiny model package, a slimserve process, bounded polling, and a unittest
runner that writes JUnit XML (one <testcase> per test method, so
tools/count_tests.py counts each).

Children are started with PR_SET_PDEATHSIG, so they die with the test even
when Bazel kills it at its timeout; they are also killed at exit and on
SIGTERM.
"""

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

import grpc

from slimserve_client import SlimClient


def runfile(path):
    """The runfiles path of a workspace-relative `path`."""
    return os.path.join(os.environ["TEST_SRCDIR"],
                        os.environ.get("TEST_WORKSPACE", "slimserve"), path)


def npm_installed(path, package):
    """The real path of workspace file `path`, once `package` is in the
    node_modules beside it.

    Each npm directory (client/node, tools/buf, tests/ops/k8s_schema,
    tests/ops/web) gets its node_modules from tools/test.sh (npm ci) in the
    source tree, outside Bazel's view: scripts run from their real path so
    that Node finds them there.
    """
    real = os.path.realpath(runfile(path))
    modules = os.path.join(os.path.dirname(real), "node_modules")
    if not os.path.exists(os.path.join(modules, package)):
        raise AssertionError("%s has no %s: run tools/test.sh, or (cd %s && "
                             "npm ci)" % (modules, package,
                                          os.path.dirname(path)))
    return real


def buf_binary():
    """buf, pinned in tools/buf."""
    lock = npm_installed("tools/buf/package-lock.json", ".bin/buf")
    return os.path.join(os.path.dirname(lock), "node_modules", ".bin", "buf")


def tmpdir():
    return os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()


def outputs_dir():
    """Where logs go: kept by Bazel in bazel-testlogs/.../test.outputs."""
    return os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or tmpdir()


def free_port():
    """A loopback port nobody listens on now (the kernel's pick for port 0).

    Another process may take it before it is used; that is rare enough for
    tests, and a failed bind shows as a clear startup error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(fn, timeout, interval=0.1, what="condition"):
    """Calls fn() until it returns a true value, for up to `timeout` seconds.

    Returns that value; raises AssertionError naming `what` and the last
    value (or exception) otherwise.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except Exception as e:  # pylint: disable=broad-except
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s; last: %r"
                                 % (timeout, what, last))
        time.sleep(interval)


# --- child processes ---

_children = []

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _kill_children():
    for child in _children:
        child.kill()


def _on_sigterm(signum, frame):
    _kill_children()
    sys.exit(128 + signum)


atexit.register(_kill_children)
signal.signal(signal.SIGTERM, _on_sigterm)


class Child:
    """A process with its output in a log file under outputs_dir()."""

    def __init__(self, args, name, env=None):
        self.name = name
        self.log_path = os.path.join(outputs_dir(), name + ".log")
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, env=env)
        _children.append(self)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait(self, timeout):
        """Exit code, or None if it is still running after `timeout` s."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.alive():
            self.popen.kill()
            self.popen.wait()
        if not self._log.closed:
            self._log.close()


# --- slimserve ---

_tiny_model = None


def tiny_model_dir():
    """The tiny model package (TinyModelSpec, seed 1), made once."""
    global _tiny_model
    if _tiny_model is None:
        out = os.path.join(tmpdir(), "tiny_model")
        subprocess.run([runfile("tests/ops/make_tiny_model"), out],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        _tiny_model = out
    return _tiny_model


class Slimserve(Child):
    """//server:slimserve on the tiny model, on free loopback ports.

    wait_serving() returns a SlimClient once health says SERVING.
    """

    def __init__(self, name="slimserve", flags=(), port=None,
                 metrics_port=None):
        """`port`, `metrics_port`: the ones to listen on (a replica
        restarted where it was); a free one each by default."""
        self.port = port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.target = "127.0.0.1:%d" % self.port
        args = [runfile("server/slimserve"),
                "--address=" + self.target,
                "--metrics_address=127.0.0.1:%d" % self.metrics_port,
                "--model_dir=" + tiny_model_dir(),
                "--num_threads=1",
                "--log_level=debug"] + list(flags)
        super().__init__(args, name)

    def wait_serving(self, timeout=60, **client_kwargs):
        """A connected SlimClient (SlimClient(target, **client_kwargs), e.g.
        with TLS) once health reports SERVING."""
        def serving():
            if not self.alive():
                raise AssertionError("%s exited with %s:\n%s" % (
                    self.name, self.popen.returncode, self.log()[-3000:]))
            try:
                client = SlimClient(self.target, connect_timeout=1,
                                    **client_kwargs)
            except grpc.FutureTimeoutError:
                return None
            try:
                if client.health(timeout=5) == "SERVING":
                    return client
            except grpc.RpcError:
                pass
            client.close()
            return None
        try:
            return poll(serving, timeout, interval=0.05,
                        what=self.name + " to serve")
        except AssertionError:
            if not self.alive():
                raise
            raise AssertionError("%s not serving after %ss:\n%s" % (
                self.name, timeout, self.log()[-3000:]))

    def stop(self, timeout=30):
        """SIGTERM; the exit code, or None if it did not exit in time."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def metrics_text(self):
        """GET /metrics."""
        import urllib.request
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % self.metrics_port,
                timeout=10) as response:
            return response.read().decode("utf-8")


def raw_test_image(height=40, width=60, channels=3):
    """A smooth uint8 HWC pattern, as Image.raw."""
    from slimserve_client import raw_image
    pixels = bytes((y * 7 + x * 3 + c * 85) % 256
                   for y in range(height) for x in range(width)
                   for c in range(channels))
    return raw_image(pixels, height, width, channels)


# --- exposition format ---

def parse_metrics(text):
    """{series: value} and {family: type} of the Prometheus text format.

    Series keys are the text as written before the value, e.g.
    'slimserve_requests_total{rpc="Infer",code="OK"}'.
    """
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples, types


def sample_delta(before, after, name, **labels):
    """How much sample_sum(name, **labels) grew from `before` to `after`."""
    return (sample_sum(after, name, **labels) -
            sample_sum(before, name, **labels))


def sample_sum(samples, name, **labels):
    """Sum of the samples of metric `name` whose labels include `labels`."""
    total = 0.0
    for series, value in samples.items():
        base, _, rest = series.partition("{")
        if base != name:
            continue
        if all('%s="%s"' % (k, v) in rest for k, v in labels.items()):
            total += value
    return total


# --- runner ---

class _JUnitResult(unittest.TextTestResult):
    """Remembers each test's outcome and duration for the XML."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cases = []
        self._start = {}

    def startTest(self, test):
        self._start[test.id()] = time.monotonic()
        super().startTest(test)

    def _case(self, test, kind=None, text=""):
        elapsed = time.monotonic() - self._start.get(test.id(), time.monotonic())
        self.cases.append((test, kind, text, elapsed))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._case(test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._case(test, "failure", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._case(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._case(test, "skipped", reason)


def _write_junit(result, path):
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=os.path.basename(sys.argv[0]),
                          tests=str(len(result.cases)),
                          failures=str(len(result.failures)),
                          errors=str(len(result.errors)))
    for test, kind, text, elapsed in result.cases:
        if isinstance(test, unittest.TestCase):
            classname, _, name = test.id().rpartition(".")
        else:
            # A setUpClass/setUpModule failure: "setUpClass (module.Class)".
            classname, name = "fixture", str(test)
        case = ET.SubElement(suite, "testcase", classname=classname,
                             name=name, time="%.3f" % elapsed)
        if kind:
            ET.SubElement(case, kind, message=text.strip().splitlines()[-1]
                          if text.strip() else kind).text = text
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def main():
    """Runs the tests of __main__; JUnit XML to $XML_OUTPUT_FILE."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules["__main__"])
    runner = unittest.TextTestRunner(resultclass=_JUnitResult, verbosity=2,
                                     stream=sys.stderr)
    try:
        result = runner.run(suite)
    finally:
        _kill_children()
    xml_path = os.environ.get("XML_OUTPUT_FILE")
    if xml_path:
        _write_junit(result, xml_path)
    sys.exit(0 if result.wasSuccessful() else 1)

