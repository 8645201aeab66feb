// The slimserve and slimctl binaries as processes: start the server on the
// tiny model, drive it with slimctl, stop it with SIGTERM.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "image/codec.h"
#include "tests/e2e/test_util.h"

namespace slimserve {
namespace {

using ::testing::HasSubstr;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

std::string Runfile(const std::string& path) {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/",
                      std::getenv("TEST_WORKSPACE"), "/", path);
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file),
                     std::istreambuf_iterator<char>());
}

// A port nobody listens on now (the kernel's pick for an ephemeral bind).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(address.sin_port);
}

// Starts `args` (args[0] is the binary); stdout goes to `stdout_path` when
// it is not empty. Returns the pid, or -1.
pid_t Spawn(const std::vector<std::string>& args,
            const std::string& stdout_path = "") {
  std::vector<char*> argv;
  for (const std::string& arg : args)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (!stdout_path.empty()) {
      const int fd =
          open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(127);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Waits up to `timeout` for `pid`; its exit code, or -1 if it did not exit
// normally in time.
int WaitExit(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (done < 0) return -1;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return -1;
}

// Runs slimctl with `args` against `target`; its exit code.
int Slimctl(const std::string& target, std::vector<std::string> args,
            const std::string& stdout_path = "") {
  args.insert(args.begin(), {Runfile("client/slimctl"), "--target=" + target,
                             "--timeout_s=30"});
  return WaitExit(Spawn(args, stdout_path), absl::Seconds(60));
}

// Kills the server if the test ends before it is stopped.
struct ProcessGuard {
  pid_t pid;
  ~ProcessGuard() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

TEST(ProcessTest, ServesSlimctlAndStopsCleanlyOnSigterm) {
  absl::StatusOr<std::string> model_dir = TinyModelDir();
  ASSERT_TRUE(model_dir.ok()) << model_dir.status();
  const int port = FreePort();
  ASSERT_GT(port, 0);
  const std::string target = absl::StrCat("127.0.0.1:", port);

  // The metrics endpoint on a free port too: the default 9090 may be taken
  // by another test running in parallel.
  ProcessGuard server{Spawn({Runfile("server/slimserve"), "--address=" + target,
                             "--metrics_address=127.0.0.1:0",
                             "--model_dir=" + *model_dir, "--num_threads=1",
                             "--log_level=debug", "--shutdown_timeout_s=10"})};
  ASSERT_GT(server.pid, 0);

  // Startup includes loading and warming up the model.
  absl::StatusOr<std::unique_ptr<SlimClient>> client =
      SlimClient::Connect(target, absl::Seconds(60));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<HealthStatus> health = (*client)->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status(), HealthStatus::SERVING);
  EXPECT_EQ(Slimctl(target, {"health"}), 0);

  const std::string image = TempPath("input.png");
  { std::ofstream(image, std::ios::binary) << TestPng(); }
  const std::string out_dir = TempPath("out");
  EXPECT_EQ(Slimctl(target,
                    {"infer", "--image=" + image, "--budget=0.5",
                     "--out=" + out_dir, "--format=png", "--request_id=cli-1"}),
            0);
  for (const std::string task : {"semseg", "depth", "normals", "edges"}) {
    absl::StatusOr<DecodedPng> png =
        DecodePngRaw(ReadFile(absl::StrCat(out_dir, "/", task, ".png")));
    ASSERT_TRUE(png.ok()) << task << ": " << png.status();
    EXPECT_EQ(png->height, 32);
    EXPECT_EQ(png->width, 48);
  }

  // At the input image's size (TestPng is 40 x 60).
  const std::string big_dir = TempPath("out_input_size");
  EXPECT_EQ(Slimctl(target, {"infer", "--image=" + image, "--budget=0.5",
                             "--out=" + big_dir, "--format=png",
                             "--output_size=input"}),
            0);
  for (const std::string task : {"semseg", "depth", "normals", "edges"}) {
    absl::StatusOr<DecodedPng> png =
        DecodePngRaw(ReadFile(absl::StrCat(big_dir, "/", task, ".png")));
    ASSERT_TRUE(png.ok()) << task << ": " << png.status();
    EXPECT_EQ(png->height, 40);
    EXPECT_EQ(png->width, 60);
  }
  EXPECT_EQ(Slimctl(target, {"infer", "--image=" + image, "--output_size=big"}),
            2);

  const std::string json = TempPath("plan.json");
  EXPECT_EQ(
      Slimctl(target, {"plan", "--budget=0.25", "--weights=semseg=1", "--json"},
              json),
      0);
  EXPECT_THAT(ReadFile(json), HasSubstr("\"encoder_width\""));
  EXPECT_THAT(ReadFile(json), HasSubstr("\"semseg\""));

  // Exit codes: 1 for an RPC error, 2 for a usage error.
  EXPECT_EQ(Slimctl(target, {"infer", "--image=" + image, "--budget=2"}), 1);
  EXPECT_EQ(Slimctl(target, {"frobnicate"}), 2);

  ASSERT_EQ(kill(server.pid, SIGTERM), 0);
  const int exit_code = WaitExit(server.pid, absl::Seconds(30));
  if (exit_code >= 0) server.pid = -1;  // reaped
  EXPECT_EQ(exit_code, 0);
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
