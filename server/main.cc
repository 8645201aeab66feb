// slimserve: serves one model package over gRPC until SIGTERM or SIGINT,
// then drains (health NOT_SERVING, calls in flight finish) and exits 0.
//
//   bazel-bin/server/slimserve --model_dir=models/default \
//       --address=0.0.0.0:50051

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "server/server.h"

ABSL_FLAG(std::string, address, "0.0.0.0:50051",
          "host:port to listen on (port 0: any free port)");
ABSL_FLAG(std::string, model_dir, "models/default",
          "model package directory; a relative path is resolved against the "
          "current directory (the one `bazel run` was started from)");
ABSL_FLAG(int, num_threads, 0, "LibTorch intra-op threads; 0 = all cores");
ABSL_FLAG(int, num_executor_threads, 1, "threads running batches");
ABSL_FLAG(int, max_queue_size, 256,
          "queued requests beyond this are refused (RESOURCE_EXHAUSTED)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(int, shutdown_timeout_s, 30,
          "on SIGTERM/SIGINT, how long calls in flight may take to finish");

namespace slimserve {
namespace {

// `bazel run` starts binaries in their runfiles tree; relative paths given
// on its command line mean the user's directory.
std::string ResolvePath(const std::string& path) {
  const char* user_dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || user_dir == nullptr) return path;
  return std::string(user_dir) + "/" + path;
}

int Main() {
  LogLevel level;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    SLIM_LOG(ERROR) << "--log_level: must be debug, info, warning or error, "
                    << "got \"" << absl::GetFlag(FLAGS_log_level) << "\"";
    return 2;
  }
  SetLogLevel(level);

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only the sigwait thread below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Engine::Options engine_options;
  engine_options.model_dir = ResolvePath(absl::GetFlag(FLAGS_model_dir));
  engine_options.num_threads = absl::GetFlag(FLAGS_num_threads);
  engine_options.num_executor_threads =
      absl::GetFlag(FLAGS_num_executor_threads);
  engine_options.max_queue_size = absl::GetFlag(FLAGS_max_queue_size);
  absl::StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Create(engine_options);
  if (!engine.ok()) {
    SLIM_LOG(ERROR) << "cannot load model: " << engine.status();
    return 1;
  }

  Server::Options server_options;
  server_options.address = absl::GetFlag(FLAGS_address);
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(server_options, engine->get());
  if (!server.ok()) {
    SLIM_LOG(ERROR) << "cannot start server: " << server.status();
    return 1;
  }
  const v1::ModelSpec& spec = (*engine)->spec();
  std::vector<std::string> tasks;
  for (const v1::TaskSpec& task : spec.tasks()) tasks.push_back(task.name());
  SLIM_LOG(INFO) << "serving on " << server_options.address << " (port "
                 << (*server)->port() << "): model " << spec.name() << " "
                 << spec.version() << ", tasks " << absl::StrJoin(tasks, ", ")
                 << ", from " << engine_options.model_dir;

  const absl::Duration timeout =
      absl::Seconds(absl::GetFlag(FLAGS_shutdown_timeout_s));
  Server* const serving = server->get();
  std::thread signal_thread([&stop_signals, serving, timeout] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    SLIM_LOG(INFO) << "received " << strsignal(signal) << ", shutting down";
    serving->Shutdown(timeout);
  });
  serving->Wait();
  signal_thread.join();
  server->reset();
  engine->reset();
  SLIM_LOG(INFO) << "shut down cleanly";
  return 0;
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves a slimmable multi-task model over gRPC.\n"
      "Usage: slimserve --model_dir=DIR [--address=HOST:PORT] [flags]");
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 1) {
    SLIM_LOG(ERROR) << "unexpected argument \"" << args[1] << "\"; see --help";
    return 2;
  }
  return slimserve::Main();
}
