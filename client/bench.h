#ifndef SLIMSERVE_CLIENT_BENCH_H_
#define SLIMSERVE_CLIENT_BENCH_H_

// slimbench: a load generator for slimserve over real gRPC.
//
// Closed loop (`concurrency` > 0): that many calls are always outstanding;
// each completion issues the next. Open loop (`rate` > 0): calls start at
// Poisson arrival times whatever the server does, so overload shows as
// latency, rejections and degradation instead of a slower client. Streams
// (`streams` > 0): that many InferStreams, each keeping `stream_window`
// frames unanswered (and at most `frame_rate` frames/s when > 0); latency
// is per frame, send to answer.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "slimserve/v1/slimserve.pb.h"

namespace slimserve {
namespace bench {

// One kind of request in the mix. Requests cycle through the budgets; the
// weights are either fixed or drawn per request.
struct Mix {
  std::vector<double> budget_fractions = {0.25, 0.5, 1.0};
  // Fixed task weights; empty with random_weights = false means all tasks.
  std::map<std::string, float> weights;
  // Per request: each task weight uniform in (0, 1], a task dropped with
  // probability 1/4 (at least one kept).
  bool random_weights = true;
};

struct BenchOptions {
  std::string target = "localhost:50051";
  // TLS, and retries: off by default here, so that refusals are counted
  // as the server gave them.
  ChannelOptions channel = [] {
    ChannelOptions options;
    options.retry = false;
    return options;
  }();
  int concurrency = 0;  // closed loop when > 0
  double rate = 0;      // open loop, requests/s, when > 0
  int streams = 0;      // InferStreams when > 0
  int stream_window = 4;    // frames each stream keeps unanswered, >= 1
  double frame_rate = 0;    // per stream, frames/s; 0: as the window allows
  absl::Duration duration = absl::Seconds(10);
  // Requests started before this are not measured.
  absl::Duration warmup = absl::ZeroDuration();
  // Per-request deadline; 0: none. Also the SLO: a request meets it when it
  // completes OK within this time.
  absl::Duration deadline = absl::ZeroDuration();
  Mix mix;
  // Images used in turn (encoded PNG/JPEG or raw pixels). Required, at
  // least one.
  std::vector<v1::Image> images;
  bool png_outputs = true;  // else RAW tensors
  uint64_t seed = 1;
  // Open loop: calls outstanding beyond this are counted as "client_overflow"
  // errors and not sent (protects the client machine).
  int max_outstanding = 4096;
  // When notified, the run stops sending (before `duration` is up) and
  // reports on the window so far once the calls outstanding are answered.
  // slimbench notifies it on SIGTERM/SIGINT. Not owned; may be null.
  const absl::Notification* stop = nullptr;
};

absl::Status ValidateBenchOptions(const BenchOptions& options);

struct BenchReport {
  std::string mode;  // "closed(N)", "open(R/s)" or "streams(NxW)"
  double duration_s = 0;  // measured window
  int64_t sent = 0;
  int64_t ok = 0;
  std::map<std::string, int64_t> errors;  // by gRPC status code name
  // Of errors["DEADLINE_EXCEEDED"], the calls that took at least 90% of the
  // deadline: admitted, then late (a refusal at admission comes back in
  // milliseconds).
  int64_t expired = 0;
  double throughput = 0;  // OK responses per second
  // Latency of OK responses, milliseconds.
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
  // Fraction of sent requests that completed OK within the deadline (or OK
  // at all without a deadline).
  double slo_attainment = 0;
  double mean_planned_mflops = 0;  // over OK responses
  double degraded_fraction = 0;    // over OK responses
};

// Runs the workload against options.target and waits for every call.
absl::StatusOr<BenchReport> RunBench(const BenchOptions& options);

// Percentile by nearest rank of an unsorted sample (copied). 0 when empty.
double Percentile(std::vector<double> values, double p);

// Parses a weights flag: "random", "all", or "semseg=1,depth=0.5".
absl::StatusOr<Mix> ParseMix(const std::string& budgets,
                             const std::string& weights);

std::string ReportText(const BenchReport& report);
std::string ReportJson(const BenchReport& report);

}  // namespace bench
}  // namespace slimserve

#endif  // SLIMSERVE_CLIENT_BENCH_H_
