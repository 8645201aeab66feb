// slimserve: serves one model package over gRPC until SIGTERM or SIGINT,
// then drains and exits 0:
//
//   1. health NOT_SERVING at once, every call still served, for
//      --drain_grace_s, so load balancers and Kubernetes (readiness probe,
//      endpoint removal) stop sending calls here; a second signal cuts this
//      short;
//   2. stop accepting; calls in flight get --shutdown_timeout_s to finish;
//   3. exit 0.
//
// Prometheus metrics are served on --metrics_address from the start (process
// metrics during model loading; slimserve_* once the model is up).
//
//   bazel-bin/server/slimserve --model_dir=models/default
//       --address=0.0.0.0:50051 --metrics_address=0.0.0.0:9090

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/files.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/types.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/exposer.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/process_metrics.h"
#include "server/server.h"

// Flag defaults are Engine::Options' and Server::Options' (engine/engine.h
// and server/server.h document each), so the two never disagree.
namespace {
const slimserve::Engine::Options& EngineDefaults() {
  static const auto* const options = new slimserve::Engine::Options;
  return *options;
}
const slimserve::Server::Options& ServerDefaults() {
  static const auto* const options = new slimserve::Server::Options;
  return *options;
}
// Seconds of a Server::Options duration; 0 for "never" (infinite).
double Seconds(absl::Duration d) {
  return d == absl::InfiniteDuration() ? 0 : absl::ToDoubleSeconds(d);
}
}  // namespace

ABSL_FLAG(std::string, address, ServerDefaults().address,
          "host:port to listen on (port 0: any free port)");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of the server: TLS on --address (with "
          "--tls_key_file); empty: plaintext");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates: mutual TLS, every client must present a "
          "certificate signed by one of them");
ABSL_FLAG(std::string, model_dir, "models/default",
          "model package directory; a relative path is resolved against the "
          "current directory (the one `bazel run` was started from)");
ABSL_FLAG(int, num_threads, EngineDefaults().network.num_threads,
          "LibTorch intra-op threads, shared by the executor threads; 0 = "
          "the cores divided among them");
ABSL_FLAG(int, num_executor_threads,
          EngineDefaults().batching.num_executor_threads,
          "threads running batches on the network; 0 = on the CPU one per "
          "core / --num_threads (one per core, one intra-op thread each, "
          "when both are 0), on CUDA 1");
ABSL_FLAG(int, num_stage_threads, EngineDefaults().stages.num_threads,
          "threads decoding inputs and encoding outputs; 0 = one per core");
ABSL_FLAG(int, png_compression_level,
          EngineDefaults().stages.png_compression_level,
          "zlib level of PNG outputs, 0-9; -1: per task kind (deflate for "
          "8-bit maps, stored for 16-bit depth and RGB normals)");
ABSL_FLAG(int, max_queue_size, EngineDefaults().batching.max_queue_size,
          "requests admitted and not yet computing beyond this are refused "
          "(RESOURCE_EXHAUSTED)");
ABSL_FLAG(int, max_batch_size, EngineDefaults().batching.max_batch_size,
          "most requests of one encoder width run together (1: no batching)");
ABSL_FLAG(int64_t, max_queue_delay_us,
          absl::ToInt64Microseconds(EngineDefaults().batching.max_queue_delay),
          "longest a request waits for its batch to fill, microseconds");
ABSL_FLAG(bool, adaptive_queue_delay,
          EngineDefaults().batching.adaptive_queue_delay,
          "wait for a batch to fill only while requests of its width are "
          "being pre-processed; false: always up to --max_queue_delay_us");
ABSL_FLAG(double, wait_scale_quantile,
          EngineDefaults().batching.wait_scale_quantile,
          "admission scales a request's predicted wait by this quantile of "
          "waited / predicted of recent requests with deadlines (0: off)");
ABSL_FLAG(slimserve::PlannerKind, planner, EngineDefaults().planner,
          "planning strategy: paper, exact, uniform, shared-decoder or "
          "widest-fit (engine/planning/planner.h)");
ABSL_FLAG(bool, measure_latency, EngineDefaults().latency.measure,
          "time every configuration at start-up (enables millisecond budgets "
          "and deadline-aware degradation)");
ABSL_FLAG(slimserve::Device, device, EngineDefaults().network.device,
          "where the network runs: cpu, cuda or cuda:N (cuda needs a CUDA "
          "LibTorch build, --config=cuda)");
ABSL_FLAG(slimserve::WeightsForm, weights, EngineDefaults().network.weights,
          "how the executor holds the weights: folded (per configuration, "
          "BatchNorm folded in) or sliced (one set, sliced per call)");
ABSL_FLAG(slimserve::Precision, precision, EngineDefaults().network.precision,
          "network arithmetic: float32, bfloat16 (folded only) or float16 "
          "(folded, cuda only)");
ABSL_FLAG(bool, channels_last, EngineDefaults().network.channels_last,
          "NHWC activations and weights");
ABSL_FLAG(int64_t, xnnpack_max_macs, EngineDefaults().network.xnnpack_max_macs,
          "CPU float32 convolution calls of at most this many "
          "multiply-accumulates run on XNNPACK, larger ones on oneDNN; 0: "
          "oneDNN only");
ABSL_FLAG(bool, fuse_decoders, EngineDefaults().network.fuse_decoders,
          "folded weights: run the decoders that share a width and rows as "
          "one (fewer, wider convolution calls)");
ABSL_FLAG(bool, cuda_graphs, EngineDefaults().network.cuda_graphs,
          "on cuda: replay CUDA graphs of each encoder and decoder pass "
          "(captured per widths and batch size); false: eager");
ABSL_FLAG(int, max_cuda_graphs, EngineDefaults().network.max_cuda_graphs,
          "on cuda: graphs kept per stream (least recently used dropped)");
ABSL_FLAG(bool, cuda_preprocess, EngineDefaults().network.cuda_preprocess,
          "on cuda: upload decoded uint8 pixels and resize/normalise on the "
          "GPU; false: on the host");
ABSL_FLAG(bool, cuda_postprocess, EngineDefaults().network.cuda_postprocess,
          "on cuda: resize, activate and quantise outputs on the GPU and "
          "download the final samples; false: on the host");
ABSL_FLAG(std::vector<std::string>, latency_batch_sizes, {},
          "batch sizes to time every configuration at, ascending from 1 "
          "(e.g. 1,2,4,8); empty: 1 and --max_batch_size");
ABSL_FLAG(std::string, latency_cache, EngineDefaults().latency.cache,
          "file caching the latency measurement per model, device, threads "
          "and batch sizes (read when it matches, else measured and "
          "written); empty: measure at every start");
ABSL_FLAG(std::string, log_level, "info",
          "debug (one line per call), info, warning or error");

// Operations.
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9090",
          "host:port of the Prometheus endpoint (path /metrics); empty: no "
          "metrics endpoint");
ABSL_FLAG(double, drain_grace_s, 5,
          "on SIGTERM/SIGINT, how long to keep serving with health "
          "NOT_SERVING before refusing new calls (a second signal ends it)");
ABSL_FLAG(double, shutdown_timeout_s, 30,
          "then, how long calls in flight may take to finish");
ABSL_FLAG(double, keepalive_time_s, Seconds(ServerDefaults().keepalive.time),
          "ping a connection idle for this long (> 0)");
ABSL_FLAG(double, keepalive_timeout_s,
          Seconds(ServerDefaults().keepalive.timeout),
          "close a connection whose ping is not acknowledged in this time");
ABSL_FLAG(double, keepalive_min_client_ping_interval_s,
          Seconds(ServerDefaults().keepalive.min_client_ping_interval),
          "clients may send keepalive pings this often; more often gets "
          "them disconnected (GOAWAY too_many_pings)");
ABSL_FLAG(double, max_connection_age_s,
          Seconds(ServerDefaults().connection_age.max_age),
          "close connections at this age (+-10% jitter) so clients "
          "reconnect and re-balance over replicas; 0: never");
ABSL_FLAG(double, max_connection_age_grace_s,
          Seconds(ServerDefaults().connection_age.max_age_grace),
          "calls on an aged connection get this long to finish; 0: as long "
          "as they take");
ABSL_FLAG(int, max_threads, ServerDefaults().resources.max_threads,
          "gRPC resource quota: most threads for synchronous handlers; 0: no "
          "limit");
ABSL_FLAG(int64_t, max_grpc_memory_bytes,
          ServerDefaults().resources.max_memory_bytes,
          "gRPC resource quota: memory for gRPC's buffers (not the model's); "
          "0: no limit");
ABSL_FLAG(int64_t, max_http_memory_bytes,
          slimserve::HttpServer::Options{}.max_memory_bytes,
          "--http_address: memory its connections may hold at once (request "
          "bodies at 6 bytes per byte, answers being written); over it a "
          "request gets 503. 0: no limit");
ABSL_FLAG(std::string, http_address, "",
          "host:port of the try-it web page, its JSON API and KServe v2's "
          "REST protocol under /v2 (server/http.h); empty: off. Plain HTTP, no TLS: bind it to a loopback or trusted "
          "address");
ABSL_FLAG(int, stream_max_inflight_frames,
          ServerDefaults().stream_max_inflight_frames,
          "InferStream: frames a stream may have unanswered before the server "
          "stops reading it (flow control, memory bound); >= 1");

namespace slimserve {
namespace {

// `bazel run` starts binaries in their runfiles tree; relative paths given
// on its command line mean the user's directory.
std::string ResolvePath(const std::string& path) {
  const char* user_dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || user_dir == nullptr) return path;
  return std::string(user_dir) + "/" + path;
}

// 0 means "never" for the connection-age flags.
absl::Duration SecondsOrInfinite(double seconds) {
  return seconds == 0 ? absl::InfiniteDuration() : absl::Seconds(seconds);
}

// Waits up to `timeout` for one of `signals` (blocked in every thread);
// true if one came.
bool WaitForSignal(const sigset_t& signals, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const timespec wait = absl::ToTimespec(left);
    const int signal = sigtimedwait(&signals, nullptr, &wait);
    if (signal > 0) {
      SLIM_LOG(INFO) << "received " << strsignal(signal)
                     << " again, ending the drain grace period";
      return true;
    }
    if (errno != EINTR && errno != EAGAIN) return false;
  }
}

// Server::Options.tls from the --tls_* flags.
absl::StatusOr<Server::TlsOptions> TlsOptionsFromFlags() {
  Server::TlsOptions tls;
  for (const auto& [flag, path, pem] :
       {std::tuple<const char*, std::string, std::string*>{
            "tls_cert_file", absl::GetFlag(FLAGS_tls_cert_file),
            &tls.cert_chain_pem},
        {"tls_key_file", absl::GetFlag(FLAGS_tls_key_file),
         &tls.private_key_pem},
        {"tls_client_ca_file", absl::GetFlag(FLAGS_tls_client_ca_file),
         &tls.client_ca_pem}}) {
    if (absl::Status st = ReadFlagFile(flag, ResolvePath(path),
                                       kMaxPemFileBytes, pem);
        !st.ok()) {
      return st;
    }
  }
  return tls;
}

int Main() {
  LogLevel level;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    SLIM_LOG(ERROR) << "--log_level: must be debug, info, warning or error, "
                    << "got \"" << absl::GetFlag(FLAGS_log_level) << "\"";
    return 2;
  }
  SetLogLevel(level);
  const double drain_grace_s = absl::GetFlag(FLAGS_drain_grace_s);
  const double shutdown_timeout_s = absl::GetFlag(FLAGS_shutdown_timeout_s);
  if (!(drain_grace_s >= 0) || !(shutdown_timeout_s >= 0)) {
    SLIM_LOG(ERROR) << "--drain_grace_s and --shutdown_timeout_s: must be "
                       ">= 0";
    return 2;
  }

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only this thread receives them (sigwait below).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Metrics first: process memory and CPU are visible while the model loads.
  Metrics::Options metrics_options;
  metrics_options.grpc_version = grpc::Version();
  absl::StatusOr<std::shared_ptr<Metrics>> metrics =
      Metrics::Create(metrics_options);
  if (!metrics.ok()) {
    SLIM_LOG(ERROR) << "cannot create metrics: " << metrics.status();
    return 1;
  }
  const auto process_metrics = std::make_shared<ProcessCollector>();
  std::unique_ptr<prometheus::Exposer> exposer;
  const std::string metrics_address = absl::GetFlag(FLAGS_metrics_address);
  if (!metrics_address.empty()) {
    absl::StatusOr<std::unique_ptr<prometheus::Exposer>> started =
        StartMetricsExposer(metrics_address, {*metrics, process_metrics});
    if (!started.ok()) {
      SLIM_LOG(ERROR) << started.status();
      return 1;
    }
    exposer = *std::move(started);
    SLIM_LOG(INFO) << "metrics on http://" << metrics_address
                   << "/metrics (port "
                   << absl::StrJoin(exposer->GetListeningPorts(), ",") << ")";
  }

  Engine::Options engine_options;
  engine_options.model_dir = ResolvePath(absl::GetFlag(FLAGS_model_dir));
  engine_options.network.num_threads = absl::GetFlag(FLAGS_num_threads);
  engine_options.network.device = absl::GetFlag(FLAGS_device);
  engine_options.network.weights = absl::GetFlag(FLAGS_weights);
  engine_options.network.precision = absl::GetFlag(FLAGS_precision);
  engine_options.network.channels_last = absl::GetFlag(FLAGS_channels_last);
  engine_options.network.xnnpack_max_macs =
      absl::GetFlag(FLAGS_xnnpack_max_macs);
  engine_options.network.fuse_decoders = absl::GetFlag(FLAGS_fuse_decoders);
  engine_options.network.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
  engine_options.network.max_cuda_graphs = absl::GetFlag(FLAGS_max_cuda_graphs);
  engine_options.network.cuda_preprocess = absl::GetFlag(FLAGS_cuda_preprocess);
  engine_options.network.cuda_postprocess = absl::GetFlag(FLAGS_cuda_postprocess);
  engine_options.batching.num_executor_threads =
      absl::GetFlag(FLAGS_num_executor_threads);
  engine_options.batching.max_queue_size = absl::GetFlag(FLAGS_max_queue_size);
  engine_options.batching.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  engine_options.batching.max_queue_delay =
      absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_us));
  engine_options.batching.adaptive_queue_delay =
      absl::GetFlag(FLAGS_adaptive_queue_delay);
  engine_options.batching.wait_scale_quantile =
      absl::GetFlag(FLAGS_wait_scale_quantile);
  engine_options.stages.num_threads = absl::GetFlag(FLAGS_num_stage_threads);
  engine_options.stages.png_compression_level =
      absl::GetFlag(FLAGS_png_compression_level);
  engine_options.planner = absl::GetFlag(FLAGS_planner);
  engine_options.latency.measure = absl::GetFlag(FLAGS_measure_latency);
  absl::StatusOr<std::vector<int>> batch_sizes = slimserve::ParseBatchSizes(
      absl::GetFlag(FLAGS_latency_batch_sizes), "latency_batch_sizes");
  if (!batch_sizes.ok()) {
    SLIM_LOG(ERROR) << batch_sizes.status().message();
    return 1;
  }
  engine_options.latency.batch_sizes = *std::move(batch_sizes);
  engine_options.latency.cache = absl::GetFlag(FLAGS_latency_cache);
  // Health turns SERVING when the server starts, right after this: the
  // model must be warm by then, or the first calls pay for lazy set-up.
  engine_options.warmup = true;
  absl::StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Create(engine_options);
  if (!engine.ok()) {
    SLIM_LOG(ERROR) << "cannot load model: " << engine.status();
    return 1;
  }

  Server::Options server_options;
  server_options.address = absl::GetFlag(FLAGS_address);
  absl::StatusOr<Server::TlsOptions> tls = TlsOptionsFromFlags();
  if (!tls.ok()) {
    SLIM_LOG(ERROR) << tls.status().message();
    return 1;
  }
  server_options.tls = *std::move(tls);
  server_options.keepalive.time =
      absl::Seconds(absl::GetFlag(FLAGS_keepalive_time_s));
  server_options.keepalive.timeout =
      absl::Seconds(absl::GetFlag(FLAGS_keepalive_timeout_s));
  server_options.keepalive.min_client_ping_interval =
      absl::Seconds(absl::GetFlag(FLAGS_keepalive_min_client_ping_interval_s));
  server_options.connection_age.max_age =
      SecondsOrInfinite(absl::GetFlag(FLAGS_max_connection_age_s));
  server_options.connection_age.max_age_grace =
      SecondsOrInfinite(absl::GetFlag(FLAGS_max_connection_age_grace_s));
  server_options.resources.max_threads = absl::GetFlag(FLAGS_max_threads);
  server_options.resources.max_memory_bytes =
      absl::GetFlag(FLAGS_max_grpc_memory_bytes);
  server_options.stream_max_inflight_frames =
      absl::GetFlag(FLAGS_stream_max_inflight_frames);
  server_options.metrics = *metrics;
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(server_options, engine->get());
  if (!server.ok()) {
    SLIM_LOG(ERROR) << "cannot start server: " << server.status();
    return 1;
  }
  std::unique_ptr<HttpServer> http;
  if (const std::string address = absl::GetFlag(FLAGS_http_address);
      !address.empty()) {
    HttpServer::Options http_options;
    http_options.address = address;
    http_options.max_body_bytes = server_options.max_receive_message_bytes;
    http_options.max_memory_bytes = absl::GetFlag(FLAGS_max_http_memory_bytes);
    absl::StatusOr<std::unique_ptr<HttpServer>> started =
        HttpServer::Start(http_options, engine->get(), metrics->get());
    if (!started.ok()) {
      SLIM_LOG(ERROR) << "cannot start the web page: " << started.status();
      return 1;
    }
    http = *std::move(started);
    SLIM_LOG(INFO) << "try-it page on http://" << address << "/ (port "
                   << http->port() << ")";
  }
  const ModelInfo& model = (*engine)->model_info();
  std::vector<std::string> tasks;
  for (const TaskInfo& task : model.tasks) tasks.push_back(task.name);
  SLIM_LOG(INFO) << "serving on " << server_options.address
                 << (server_options.tls.enabled()
                         ? (server_options.tls.client_ca_pem.empty()
                                ? " with TLS"
                                : " with mutual TLS")
                         : "")
                 << " (port "
                 << (*server)->port() << "): model " << model.name << " "
                 << model.version << ", tasks " << absl::StrJoin(tasks, ", ")
                 << ", from " << engine_options.model_dir;

  int signal = 0;
  while (sigwait(&stop_signals, &signal) != 0) {
  }
  const absl::Duration grace = absl::Seconds(drain_grace_s);
  SLIM_LOG(INFO) << "received " << strsignal(signal)
                 << ", draining: health NOT_SERVING, serving on for "
                 << absl::FormatDuration(grace);
  (*server)->StartDrain();
  WaitForSignal(stop_signals, grace);
  if (http != nullptr) http->Shutdown();  // before the engine it calls goes
  (*server)->Shutdown(absl::Seconds(shutdown_timeout_s));
  server->reset();
  engine->reset();
  SLIM_LOG(INFO) << "shut down cleanly";
  // Metrics stay scrapable until `exposer` goes out of scope here; stopping
  // it takes up to ~2 s (civetweb's poll period), inside any sensible
  // terminationGracePeriodSeconds.
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
