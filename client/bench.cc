#include "client/bench.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
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

// Request `n` of the workload: the next image and budget in turn, the mix's
// weights (drawn from `rng` when random).
void BuildBenchRequest(const BenchOptions& o, uint64_t n, std::mt19937_64* rng,
                       v1::InferRequest* req) {
  req->set_request_id(absl::StrCat("bench-", n));
  *req->mutable_image() = o.images[n % o.images.size()];
  const auto& budgets = o.mix.budget_fractions;
  req->mutable_budget()->set_fraction(budgets[n % budgets.size()]);
  req->set_default_output_format(o.png_outputs ? v1::OUTPUT_FORMAT_PNG
                                               : v1::OUTPUT_FORMAT_RAW);
  auto* weights = req->mutable_task_weights();
  if (!o.mix.random_weights) {
    for (const auto& [task, w] : o.mix.weights) (*weights)[task] = w;
    return;
  }
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (const char* task : kTasks) {
    if (u(*rng) < 0.25f) continue;
    (*weights)[task] = std::max(1e-3f, u(*rng));
  }
  if (weights->empty()) (*weights)[kTasks[n % 4]] = 1.0f;
}

// What every run measures, merged under one lock.
struct Tally {
  int64_t sent = 0;
  int64_t met_slo = 0;
  int64_t expired = 0;
  int64_t degraded = 0;
  double mflops_sum = 0;
  std::vector<double> latencies_ms;
  std::map<std::string, int64_t> errors;
};

BenchReport ReportOf(const Tally& t, absl::Duration window) {
  BenchReport r;
  r.duration_s = absl::ToDoubleSeconds(window);
  r.sent = t.sent;
  r.ok = static_cast<int64_t>(t.latencies_ms.size());
  r.errors = t.errors;
  r.expired = t.expired;
  r.throughput = r.duration_s > 0 ? r.ok / r.duration_s : 0;
  r.p50_ms = Percentile(t.latencies_ms, 50);
  r.p90_ms = Percentile(t.latencies_ms, 90);
  r.p99_ms = Percentile(t.latencies_ms, 99);
  r.max_ms = Percentile(t.latencies_ms, 100);
  double sum = 0;
  for (double l : t.latencies_ms) sum += l;
  r.mean_ms = r.ok ? sum / r.ok : 0;
  r.slo_attainment = t.sent ? static_cast<double>(t.met_slo) / t.sent : 0;
  r.mean_planned_mflops = r.ok ? t.mflops_sum / r.ok : 0;
  r.degraded_fraction = r.ok ? static_cast<double>(t.degraded) / r.ok : 0;
  return r;
}

// Records one measured answer: OK with its plan after `elapsed`, or an
// error code (after `elapsed`, to tell admitted-then-late from refused).
void Record(const BenchOptions& o, bool ok, const std::string& code,
            const v1::PlanInfo& plan, absl::Duration elapsed, Tally* t) {
  if (ok) {
    t->latencies_ms.push_back(absl::ToDoubleMilliseconds(elapsed));
    t->mflops_sum += plan.mflops();
    if (plan.degraded()) ++t->degraded;
    if (o.deadline == absl::ZeroDuration() || elapsed <= o.deadline) {
      ++t->met_slo;
    }
    return;
  }
  ++t->errors[code];
  // A refusal at admission comes back at once; a call that was admitted
  // and then ran out of time comes back at its deadline.
  if (code == "DEADLINE_EXCEEDED" && elapsed >= 0.9 * o.deadline) {
    ++t->expired;
  }
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
          ++tally_.sent;
          ++tally_.errors["client_overflow"];
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
    return ReportOf(tally_, window);
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
      if (call->measured) ++tally_.sent;
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
    BuildBenchRequest(o_, count_++, &rng_, req);
  }

  void Complete(Call* call, const grpc::Status& status) {
    const absl::Time end = absl::Now();
    bool again = false;
    {
      absl::MutexLock lock(&mu_);
      // Re-issuing keeps this call's slot, so outstanding_ never touches 0
      // while the loop goes on.
      again = reissue_;
      if (call->measured && call->start < measure_until_) {
        Record(o_, status.ok(), CodeName(status.error_code()),
               call->response.plan(), end - call->start, &tally_);
      } else if (call->measured) {
        --tally_.sent;  // started after the window: not part of the report
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
  Tally tally_ ABSL_GUARDED_BY(mu_);
};

// One InferStream of a streams run: a writer keeps `stream_window` frames
// unanswered (paced to frame_rate when set) until the window ends or the
// run stops, then half-closes; the reader takes the answers, which come in
// order, so the send times form a queue.
class StreamRun {
 public:
  StreamRun(const BenchOptions& o, v1::InferenceService::Stub* stub,
            uint64_t seed, absl::Time from, absl::Time until)
      : o_(o), stub_(stub), rng_(seed), from_(from), until_(until) {}

  // Runs the stream to its end; the tally of the frames sent in the window.
  Tally Go() {
    std::unique_ptr<grpc::ClientReaderWriter<v1::InferStreamRequest,
                                             v1::InferStreamResponse>>
        stream = stub_->InferStream(&context_);
    std::thread writer([&] { Write(stream.get()); });
    v1::InferStreamResponse response;
    while (stream->Read(&response)) {
      const absl::Time end = absl::Now();
      absl::Time sent;
      {
        absl::MutexLock lock(&mu_);
        sent = sent_at_.front();
        sent_at_.pop_front();
      }
      if (sent >= from_ && sent < until_) {
        const bool ok = response.has_response();
        Record(o_, ok,
               ok ? "OK"
                  : CodeName(static_cast<grpc::StatusCode>(
                        response.error().code())),
               response.response().plan(), end - sent, &tally_);
      }
    }
    writer.join();
    const grpc::Status status = stream->Finish();
    if (!status.ok()) ++tally_.errors["stream_" + CodeName(status.error_code())];
    return tally_;
  }

 private:
  void Write(grpc::ClientReaderWriter<v1::InferStreamRequest,
                                      v1::InferStreamResponse>* stream) {
    const absl::Duration gap = o_.frame_rate > 0
                                   ? absl::Seconds(1 / o_.frame_rate)
                                   : absl::ZeroDuration();
    absl::Time next = absl::Now();
    for (uint64_t n = 0;; ++n) {
      if (gap > absl::ZeroDuration()) {
        absl::SleepFor(next - absl::Now());
        next += gap;
      }
      const absl::Time now = absl::Now();
      if (now >= until_ || (o_.stop != nullptr && o_.stop->HasBeenNotified())) {
        break;
      }
      v1::InferStreamRequest message;
      BuildBenchRequest(o_, n, &rng_, message.mutable_frame());
      if (o_.deadline > absl::ZeroDuration()) {
        message.set_timeout_ms(absl::ToDoubleMilliseconds(o_.deadline));
      }
      {
        // The window: wait for an answer before the next frame.
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](StreamRun* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) {
              return static_cast<int>(r->sent_at_.size()) < r->o_.stream_window;
            },
            this));
        sent_at_.push_back(absl::Now());
        if (sent_at_.back() >= from_ && sent_at_.back() < until_) {
          ++tally_sent_;
        }
      }
      if (!stream->Write(message)) break;  // the stream ended
    }
    stream->WritesDone();
  }

 public:
  // Frames sent in the window (the writer's count).
  int64_t sent() const {
    absl::MutexLock lock(&mu_);
    return tally_sent_;
  }

 private:
  const BenchOptions& o_;
  v1::InferenceService::Stub* const stub_;
  std::mt19937_64 rng_;  // the writer's
  const absl::Time from_;
  const absl::Time until_;
  grpc::ClientContext context_;
  Tally tally_;  // the reader's

  mutable absl::Mutex mu_;
  std::deque<absl::Time> sent_at_ ABSL_GUARDED_BY(mu_);
  int64_t tally_sent_ ABSL_GUARDED_BY(mu_) = 0;
};

BenchReport RunStreams(const BenchOptions& o,
                       std::shared_ptr<grpc::Channel> channel) {
  std::unique_ptr<v1::InferenceService::Stub> stub =
      v1::InferenceService::NewStub(channel);
  const absl::Time start = absl::Now();
  const absl::Time from = start + o.warmup;
  const absl::Time until = from + o.duration;
  std::vector<std::unique_ptr<StreamRun>> runs;
  for (int i = 0; i < o.streams; ++i) {
    runs.push_back(
        std::make_unique<StreamRun>(o, stub.get(), o.seed + i, from, until));
  }
  std::vector<Tally> tallies(runs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < runs.size(); ++i) {
    threads.emplace_back([&, i] { tallies[i] = runs[i]->Go(); });
  }
  for (std::thread& t : threads) t.join();
  const absl::Time ended = std::min(until, absl::Now());
  Tally total;
  for (size_t i = 0; i < runs.size(); ++i) {
    Tally& t = tallies[i];
    total.sent += runs[i]->sent();
    total.met_slo += t.met_slo;
    total.expired += t.expired;
    total.degraded += t.degraded;
    total.mflops_sum += t.mflops_sum;
    total.latencies_ms.insert(total.latencies_ms.end(), t.latencies_ms.begin(),
                              t.latencies_ms.end());
    for (const auto& [code, n] : t.errors) total.errors[code] += n;
  }
  BenchReport r = ReportOf(total, std::max(absl::ZeroDuration(), ended - from));
  r.mode = absl::StrCat("streams(", o.streams, "x", o.stream_window, ")");
  return r;
}

}  // namespace

absl::Status ValidateBenchOptions(const BenchOptions& o) {
  if ((o.concurrency > 0) + (o.rate > 0) + (o.streams > 0) != 1) {
    return absl::InvalidArgumentError(
        "exactly one of concurrency (closed loop), rate (open loop) or "
        "streams must be > 0");
  }
  if (o.streams > 0 && o.stream_window < 1) {
    return absl::InvalidArgumentError("stream_window must be >= 1");
  }
  if (!(o.frame_rate >= 0)) {
    return absl::InvalidArgumentError("frame_rate must be >= 0");
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
  if (o.streams > 0) return RunStreams(o, *std::move(channel));
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
