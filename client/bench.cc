#include "client/bench.h"

#include <algorithm>
#include <memory>
#include <cmath>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "slimserve/v1/slimserve.grpc.pb.h"

namespace slimserve {
namespace bench {
namespace {

const char* const kTasks[] = {"semseg", "depth", "normals", "edges"};

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
      "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const int c = static_cast<int>(code);
  return c >= 0 && c < 17 ? kNames[c] : absl::StrCat("CODE_", c);
}

// Shared by every call of a run. Each outstanding call holds a reference,
// so a completion that races the end of the run never sees it destroyed.
class Run : public std::enable_shared_from_this<Run> {
 public:
  Run(BenchOptions o, std::shared_ptr<grpc::Channel> channel)
      : o_(std::move(o)), stub_(v1::InferenceService::NewStub(channel)), rng_(o_.seed) {}

  // Starts one call. Thread-safe.
  void Issue() {
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    Start();
  }

  // Closed loop: completions re-issue until this is called.
  void StopReissuing() {
    absl::MutexLock lock(&mu_);
    reissue_ = false;
  }
  void StartReissuing() {
    absl::MutexLock lock(&mu_);
    reissue_ = true;
  }

  void SetWindow(absl::Time from, absl::Time until) {
    absl::MutexLock lock(&mu_);
    measure_from_ = from;
    measure_until_ = until;
  }

  // Open loop: a call that would exceed max_outstanding is not sent.
  bool TryIssue() {
    {
      absl::MutexLock lock(&mu_);
      if (outstanding_ >= o_.max_outstanding) {
        if (absl::Now() >= measure_from_) {
          ++sent_;
          ++errors_["client_overflow"];
        }
        return false;
      }
    }
    Issue();
    return true;
  }

  void WaitIdle() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &outstanding_));
  }


  BenchReport Report(absl::Duration window) {
    absl::MutexLock lock(&mu_);
    BenchReport r;
    r.duration_s = absl::ToDoubleSeconds(window);
    r.sent = sent_;
    r.ok = static_cast<int64_t>(latencies_ms_.size());
    r.errors = errors_;
    r.expired = expired_;
    r.throughput = r.duration_s > 0 ? r.ok / r.duration_s : 0;
    r.p50_ms = Percentile(latencies_ms_, 50);
    r.p90_ms = Percentile(latencies_ms_, 90);
    r.p99_ms = Percentile(latencies_ms_, 99);
    r.max_ms = Percentile(latencies_ms_, 100);
    double sum = 0;
    for (double l : latencies_ms_) sum += l;
    r.mean_ms = r.ok ? sum / r.ok : 0;
    r.slo_attainment = sent_ ? static_cast<double>(met_slo_) / sent_ : 0;
    r.mean_planned_mflops = r.ok ? mflops_sum_ / r.ok : 0;
    r.degraded_fraction = r.ok ? static_cast<double>(degraded_) / r.ok : 0;
    return r;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::InferRequest request;
    v1::InferResponse response;
    absl::Time start;
    bool measured = false;
  };

  // Sends one call whose slot in outstanding_ is already counted.
  void Start() {
    auto* call = new Call;
    call->start = absl::Now();
    {
      absl::MutexLock lock(&mu_);
      BuildRequest(&call->request);
      call->measured = call->start >= measure_from_;
      if (call->measured) ++sent_;
    }
    if (o_.deadline > absl::ZeroDuration()) {
      call->context.set_deadline(absl::ToChronoTime(call->start + o_.deadline));
    }
    stub_->async()->Infer(&call->context, &call->request, &call->response,
                          [self = shared_from_this(), call](grpc::Status st) {
                            self->Complete(call, st);
                          });
  }

  void BuildRequest(v1::InferRequest* req) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t n = count_++;
    req->set_request_id(absl::StrCat("bench-", n));
    *req->mutable_image() = o_.images[n % o_.images.size()];
    const auto& budgets = o_.mix.budget_fractions;
    req->mutable_budget()->set_fraction(budgets[n % budgets.size()]);
    req->set_default_output_format(o_.png_outputs ? v1::OUTPUT_FORMAT_PNG : v1::OUTPUT_FORMAT_RAW);
    auto* weights = req->mutable_task_weights();
    if (!o_.mix.random_weights) {
      for (const auto& [task, w] : o_.mix.weights) (*weights)[task] = w;
      return;
    }
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (const char* task : kTasks) {
      if (u(rng_) < 0.25f) continue;
      (*weights)[task] = std::max(1e-3f, u(rng_));
    }
    if (weights->empty()) (*weights)[kTasks[n % 4]] = 1.0f;
  }

  void Complete(Call* call, const grpc::Status& status) {
    const absl::Time end = absl::Now();
    const double ms = absl::ToDoubleMilliseconds(end - call->start);
    bool again = false;
    {
      absl::MutexLock lock(&mu_);
      // Re-issuing keeps this call's slot, so outstanding_ never touches 0
      // while the loop goes on.
      again = reissue_;
      if (call->measured && call->start < measure_until_) {
        if (status.ok()) {
          latencies_ms_.push_back(ms);
          mflops_sum_ += call->response.plan().mflops();
          if (call->response.plan().degraded()) ++degraded_;
          if (o_.deadline == absl::ZeroDuration() ||
              end - call->start <= o_.deadline) {
            ++met_slo_;
          }
        } else {
          ++errors_[CodeName(status.error_code())];
          // A refusal at admission comes back at once; a call that was
          // admitted and then ran out of time comes back at its deadline.
          if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
              end - call->start >= 0.9 * o_.deadline) {
            ++expired_;
          }
        }
      } else if (call->measured) {
        --sent_;  // started after the window: not part of the report
      }
    }
    // Before the slot is given back: once outstanding_ reaches 0, RunBench
    // returns and the process may exit, and a ClientContext destroyed
    // during gRPC's shutdown trips its reference counts.
    delete call;
    if (again) {
      Start();
      return;
    }
    absl::MutexLock lock(&mu_);
    --outstanding_;
  }

  const BenchOptions o_;
  std::unique_ptr<v1::InferenceService::Stub> stub_;

  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  bool reissue_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time measure_from_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time measure_until_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  int64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t met_slo_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t expired_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t degraded_ ABSL_GUARDED_BY(mu_) = 0;
  double mflops_sum_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<double> latencies_ms_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status ValidateBenchOptions(const BenchOptions& o) {
  if ((o.concurrency > 0) == (o.rate > 0)) {
    return absl::InvalidArgumentError(
        "exactly one of concurrency (closed loop) or rate (open loop) must be "
        "> 0");
  }
  if (o.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("duration must be > 0");
  }
  if (o.images.empty()) return absl::InvalidArgumentError("no images");
  if (o.mix.budget_fractions.empty()) {
    return absl::InvalidArgumentError("no budgets");
  }
  for (double b : o.mix.budget_fractions) {
    if (!(b > 0 && b <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("budget fractions must be in (0, 1], got ", b));
    }
  }
  return absl::OkStatus();
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * values.size());
  const size_t i = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return values[std::min(i, values.size() - 1)];
}

absl::StatusOr<Mix> ParseMix(const std::string& budgets,
                             const std::string& weights) {
  Mix mix;
  mix.budget_fractions.clear();
  for (absl::string_view b : absl::StrSplit(budgets, ',', absl::SkipEmpty())) {
    double v;
    if (!absl::SimpleAtod(b, &v)) {
      return absl::InvalidArgumentError(absl::StrCat("bad budget \"", b, "\""));
    }
    mix.budget_fractions.push_back(v);
  }
  if (weights == "random") return mix;
  mix.random_weights = false;
  if (weights == "all" || weights.empty()) return mix;
  for (absl::string_view kv : absl::StrSplit(weights, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
    float w;
    if (p.first.empty() || !absl::SimpleAtof(p.second, &w)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad weight \"", kv, "\" (want task=weight)"));
    }
    mix.weights[p.first] = w;
  }
  return mix;
}

absl::StatusOr<BenchReport> RunBench(const BenchOptions& o) {
  if (absl::Status st = ValidateBenchOptions(o); !st.ok()) return st;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      ConnectSlimChannel(o.target, o.channel, absl::Seconds(10));
  if (!channel.ok()) return channel.status();
  auto run_owner = std::make_shared<Run>(o, *std::move(channel));
  Run& run = *run_owner;
  const absl::Time start = absl::Now();
  const absl::Time from = start + o.warmup;
  const absl::Time until = from + o.duration;
  run.SetWindow(from, until);
  // Sleeps until `t`; false if o.stop was notified first.
  auto wait_until = [&o](absl::Time t) {
    if (o.stop == nullptr) {
      absl::SleepFor(t - absl::Now());
      return true;
    }
    return !o.stop->WaitForNotificationWithTimeout(t - absl::Now());
  };
  BenchReport report;
  if (o.concurrency > 0) {
    report.mode = absl::StrCat("closed(", o.concurrency, ")");
    run.StartReissuing();
    for (int i = 0; i < o.concurrency; ++i) run.Issue();
    wait_until(until);
    run.StopReissuing();
  } else {
    report.mode = absl::StrFormat("open(%g/s)", o.rate);
    std::mt19937_64 rng(o.seed ^ 0x5eed);
    std::exponential_distribution<double> gap(o.rate);
    absl::Time next = start;
    while (next < until && wait_until(next)) {
      run.TryIssue();
      next += absl::Seconds(gap(rng));
    }
  }
  // Stopped early: the window ends now, and calls started later (closed
  // loop re-issues racing the stop) are not part of it.
  const absl::Time ended = std::min(until, absl::Now());
  run.SetWindow(from, ended);
  run.WaitIdle();
  BenchReport r = run.Report(std::max(absl::ZeroDuration(), ended - from));
  r.mode = report.mode;
  return r;
}

std::string ReportText(const BenchReport& r) {
  std::string s = absl::StrFormat(
      "mode %s, %.1f s: sent %d, ok %d, throughput %.2f req/s\n"
      "latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f\n"
      "SLO attainment %.2f%%, mean planned %.2f MFLOPs, degraded %.2f%%, "
      "expired after admission %d\n",
      r.mode, r.duration_s, r.sent, r.ok, r.throughput, r.p50_ms, r.p90_ms,
      r.p99_ms, r.max_ms, r.mean_ms, 100 * r.slo_attainment,
      r.mean_planned_mflops, 100 * r.degraded_fraction, r.expired);
  for (const auto& [code, n] : r.errors) {
    absl::StrAppendFormat(&s, "errors %s: %d\n", code, n);
  }
  return s;
}

std::string ReportJson(const BenchReport& r) {
  std::string errors;
  for (const auto& [code, n] : r.errors) {
    absl::StrAppendFormat(&errors, "%s\"%s\": %d", errors.empty() ? "" : ", ",
                          code, n);
  }
  return absl::StrFormat(
      "{\"mode\": \"%s\", \"duration_s\": %.3f, \"sent\": %d, \"ok\": %d, "
      "\"throughput_rps\": %.4f, \"latency_ms\": {\"p50\": %.3f, \"p90\": "
      "%.3f, \"p99\": %.3f, \"max\": %.3f, \"mean\": %.3f}, "
      "\"slo_attainment\": %.5f, \"mean_planned_mflops\": %.4f, "
      "\"degraded_fraction\": %.5f, \"expired\": %d, \"errors\": {%s}}\n",
      r.mode, r.duration_s, r.sent, r.ok, r.throughput, r.p50_ms, r.p90_ms,
      r.p99_ms, r.max_ms, r.mean_ms, r.slo_attainment, r.mean_planned_mflops,
      r.degraded_fraction, r.expired, errors);
}

}  // namespace bench
}  // namespace slimserve
