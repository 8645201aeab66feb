"""The runtime image of deploy/image: its root filesystem, run with chroot,
and the image built and run with podman.

build_rootfs.sh assembles the root filesystem from the binaries in the
runfiles and the shipped model. Checked:
  - it holds exactly the shared libraries the loader resolves for the
    binaries inside it (none missing, none extra);
  - chroot (as user 65532, in a mount namespace with /proc, /sys and /dev):
    slimserve serves the shipped model, answers an Infer, exits 0 on
    SIGTERM;
  - podman: the Containerfile builds an image (FROM scratch, offline), a
    container of it does the same, as user slimserve (65532), and `podman
    stop` ends it with exit code 0. Skipped, with the reason, where podman
    is not installed (tools/setup.sh installs it).
Image size and the time from start to SERVING go to image.json in the
test's outputs.

This machine's kernel (a VM without CAP_SYS_RESOURCE, hybrid cgroups) needs
two podman options, which the test passes where they apply: --runtime=runc
(crun refuses hybrid cgroup hierarchies), and --ulimit values no higher than
the current hard limits (podman's default nofile of 1048576 cannot be set
without CAP_SYS_RESOURCE).
"""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
import unittest

import ops_util
from slimserve_client import SlimClient

REPORT = {}


def run(args, timeout=600, **kwargs):
    done = subprocess.run(args, capture_output=True, timeout=timeout,
                          check=False, **kwargs)
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    if done.returncode != 0:
        raise AssertionError("%s: exit %d\n%s" % (
            " ".join(args[:4]), done.returncode, output[-3000:]))
    return output


def build_rootfs():
    """The root filesystem, built once, in the test's temp dir."""
    context = os.path.join(ops_util.tmpdir(), "image_context")
    rootfs = os.path.join(context, "rootfs")
    if not os.path.isdir(rootfs):
        run([ops_util.runfile("deploy/image/build_rootfs.sh"), rootfs,
             ops_util.runfile("server/slimserve"),
             ops_util.runfile("client/slimctl"),
             os.path.dirname(ops_util.runfile("models/default/spec.textproto"))])
    return context, rootfs


def wait_serving(target, is_alive, log, timeout=180):
    """Seconds until `target` reports SERVING (SlimClient's health)."""
    start = time.monotonic()

    def serving():
        if not is_alive():
            return "exited"
        try:
            with SlimClient(target, connect_timeout=1) as client:
                return client.health(timeout=5) == "SERVING"
        except Exception:  # pylint: disable=broad-except
            return False
    if ops_util.poll(serving, timeout, interval=0.05,
                     what=target + " SERVING") == "exited":
        raise AssertionError("the server exited:\n" + log()[-3000:])
    return time.monotonic() - start


def system_tool(name):
    """The path of `name`, also from /usr/sbin (not on a test's PATH)."""
    path = shutil.which(name, path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise AssertionError(name + " is not installed")
    return path


def check_infer(test, target):
    with SlimClient(target) as client:
        response = client.infer(ops_util.raw_test_image(120, 160),
                                budget=0.5, timeout=60)
    test.assertEqual({o.task for o in response.outputs},
                     {"semseg", "depth", "normals", "edges"})


def is_root():
    return os.geteuid() == 0


class RootfsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.context, cls.rootfs = build_rootfs()

    def test_holds_exactly_the_libraries_the_loader_resolves(self):
        present = set()
        for top in ["lib", "lib64", "usr/lib"]:
            for dirpath, _, files in os.walk(os.path.join(self.rootfs, top)):
                for name in files:
                    present.add(os.path.relpath(os.path.join(dirpath, name),
                                                self.rootfs))
        # The loader of the image, run on the image's binaries with the
        # image's directories only: what it resolves must all be there.
        resolved = set()
        for binary in ["usr/bin/slimserve", "usr/bin/slimctl"]:
            listing = run([system_tool("chroot"), self.rootfs,
                           "/lib64/ld-linux-x86-64.so.2", "--list",
                           "/" + binary]) if is_root() else run(
                ["ldd", os.path.join(self.rootfs, binary)])
            self.assertNotIn("not found", listing)
            for path in re.findall(r"(/\S+) \(0x", listing):
                resolved.add(path.lstrip("/"))
        if is_root():
            self.assertEqual(present, resolved)
        self.assertGreater(len(present), 10)
        size = sum(os.path.getsize(os.path.join(self.rootfs, p))
                   for p in present)
        REPORT["libraries"] = len(present)
        REPORT["libraries_mb"] = round(size / 1e6, 1)

    def test_runs_as_slimserve_with_the_model(self):
        with open(os.path.join(self.rootfs, "etc/passwd")) as f:
            self.assertIn("slimserve:x:65532:65532:", f.read())
        for name in ["spec.textproto", "weights.pt", "profile.textproto"]:
            self.assertTrue(os.path.isfile(os.path.join(
                self.rootfs, "models/default", name)), name)
        self.assertFalse(os.path.exists(os.path.join(self.rootfs, "bin/sh")))

    @unittest.skipUnless(is_root(), "chroot needs root")
    def test_chroot_serves_and_exits_0_on_sigterm(self):
        port = ops_util.free_port()
        target = "127.0.0.1:%d" % port
        script = ('mount -t proc proc "$0/proc" && '
                  'mount --rbind /sys "$0/sys" && '
                  'mount --rbind /dev "$0/dev" && '
                  'exec %s --userspec=65532:65532 "$0" "$@"' %
                  system_tool("chroot"))
        server = ops_util.Child(
            [system_tool("unshare"), "--mount", "--fork", "bash", "-c", script,
             self.rootfs, "/usr/bin/slimserve", "--address=" + target,
             "--metrics_address=", "--model_dir=/models/default",
             "--num_threads=2", "--drain_grace_s=0"], "chroot_slimserve")
        try:
            REPORT["chroot_start_to_serving_s"] = round(
                wait_serving(target, server.alive, server.log), 2)
            check_infer(self, target)
            # unshare --fork: the server is the child of unshare.
            pid = int(run([system_tool("pgrep"), "-P",
                           str(server.pid)]).split()[0])
            with open("/proc/%d/status" % pid) as f:
                self.assertRegex(f.read(), r"\nUid:\s+65532\s")
            os.kill(pid, signal.SIGTERM)
            self.assertEqual(server.wait(60), 0, server.log()[-3000:])
            self.assertIn("shut down cleanly", server.log())
        finally:
            server.kill()


@unittest.skipUnless(shutil.which("podman"),
                     "podman is not installed (apt-get install podman runc)")
class ContainerTest(unittest.TestCase):

    TAG = "localhost/slimserve-test:%d" % os.getpid()

    @classmethod
    def setUpClass(cls):
        cls.context, cls.rootfs = build_rootfs()
        start = time.monotonic()
        run(["podman", "build", "--format", "docker", "-f",
             ops_util.runfile("deploy/image/Containerfile"), "-t", cls.TAG,
             cls.context])
        REPORT["image_build_s"] = round(time.monotonic() - start, 1)
        REPORT["image_mb"] = round(int(run(
            ["podman", "image", "inspect", "--format", "{{.Size}}",
             cls.TAG]).strip()) / 1e6, 1)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["podman", "rmi", "-f", cls.TAG], capture_output=True,
                       timeout=120, check=False)

    def runtime_options(self):
        options = []
        if shutil.which("runc"):
            options.append("--runtime=runc")
        _, nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        _, nproc = resource.getrlimit(resource.RLIMIT_NPROC)
        limit = lambda n, cap: cap if n == resource.RLIM_INFINITY else min(  # noqa: E731
            n, cap)
        return options, [
            "--ulimit", "nofile=%d:%d" % ((limit(nofile, 65536),) * 2),
            "--ulimit", "nproc=%d:%d" % ((limit(nproc, 4096),) * 2)]

    def test_container_serves_and_exits_0_on_stop(self):
        port = ops_util.free_port()
        target = "127.0.0.1:%d" % port
        name = "slimserve-test-%d" % os.getpid()
        global_options, run_options = self.runtime_options()
        podman = ["podman"] + global_options
        start = time.monotonic()
        run(podman + ["run", "-d", "--name", name, "--network=host"] +
            run_options + [self.TAG, "--address=" + target,
                           "--metrics_address=", "--model_dir=/models/default",
                           "--num_threads=2", "--drain_grace_s=0"])
        logs = lambda: subprocess.run(  # noqa: E731
            ["podman", "logs", name], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=60,
            check=False).stdout.decode("utf-8", "replace")
        running = lambda: run(  # noqa: E731
            ["podman", "inspect", "--format", "{{.State.Running}}",
             name]).strip() == "true"
        try:
            wait_serving(target, running, logs)
            REPORT["container_start_to_serving_s"] = round(
                time.monotonic() - start, 2)
            check_infer(self, target)
            self.assertIn("slimserve", run(["podman", "top", name, "user"]))
            # The image's HEALTHCHECK command, run in the container.
            run(podman + ["exec", name, "/usr/bin/slimctl",
                          "--target=" + target, "health"])
            run(podman + ["stop", "--time", "60", name], timeout=120)
            self.assertEqual(run(["podman", "inspect", "--format",
                                  "{{.State.ExitCode}}", name]).strip(), "0",
                             logs()[-3000:])
            self.assertIn("shut down cleanly", logs())
        finally:
            subprocess.run(podman + ["rm", "-f", name], capture_output=True,
                           timeout=120, check=False)


def write_report():
    with open(os.path.join(ops_util.outputs_dir(), "image.json"), "w") as f:
        json.dump(REPORT, f, indent=2, sort_keys=True)
    print("image_test report:", json.dumps(REPORT, sort_keys=True))


if __name__ == "__main__":
    import atexit
    atexit.register(write_report)
    ops_util.main()
