#include "engine/engine.h"

#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "engine/admission.h"
#include "engine/batch_policy.h"
#include "engine/executor.h"
#include "engine/image_codec.h"
#include "engine/latency_model.h"
#include "engine/latency_profiler.h"
#include "engine/log.h"
#include "engine/model_spec.h"
#include "engine/planner.h"
#include "engine/quality_table.h"
#include "engine/status_macros.h"
#include "engine/supernet.h"
#include "kernels/postprocess.h"
#include "kernels/preprocess.h"

namespace slimserve {
namespace {

using slimserve::v1::ModelSpec;

absl::Status ValidateOptions(const Engine::Options& o) {
  if (auto w = ParseWeights(o.weights); !w.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Engine::Options.weights: ", w.status().message()));
  }
  if (auto p = ParsePrecision(o.precision); !p.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Engine::Options.precision: ", p.status().message()));
  }
  if (o.model_dir.empty()) {
    return absl::InvalidArgumentError("Engine::Options.model_dir: required");
  }
  if (o.num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.num_threads: must be >= 0, got ", o.num_threads));
  }
  if (o.num_executor_threads < 1 || o.num_executor_threads > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("Engine::Options.num_executor_threads: must be in [1, "
                     "64], got ",
                     o.num_executor_threads));
  }
  if (o.max_queue_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.max_queue_size: must be >= 1, got ",
        o.max_queue_size));
  }
  if (o.measure_latency && o.latency_repetitions < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.latency_repetitions: must be >= 1, got ",
        o.latency_repetitions));
  }
  for (size_t i = 0; i < o.latency_batch_sizes.size(); ++i) {
    const int b = o.latency_batch_sizes[i];
    const int prev = i == 0 ? 0 : o.latency_batch_sizes[i - 1];
    if ((i == 0 && b != 1) || b <= prev || b > 256) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Engine::Options.latency_batch_sizes: must start at 1 and ascend, "
          "each <= 256; got [",
          absl::StrJoin(o.latency_batch_sizes, ", "), "]"));
    }
  }
  SLIM_RETURN_IF_ERROR(ValidateBatchPolicyOptions(
      {o.max_batch_size, o.max_queue_delay, o.starvation_limit}));
  if (o.max_image_pixels < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.max_image_pixels: must be >= 1, got ",
        o.max_image_pixels));
  }
  return absl::OkStatus();
}

absl::Status ValidateImage(const ImageInput& image, int64_t max_pixels) {
  if (!image.raw) {
    if (image.bytes.empty()) {
      return absl::InvalidArgumentError("image.encoded: empty");
    }
    return absl::OkStatus();
  }
  if (image.channels != 1 && image.channels != 3 && image.channels != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image.raw.channels: must be 1, 3 or 4, got ", image.channels));
  }
  if (image.height <= 0 || image.width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("image.raw: height and width must be > 0, got ",
                     image.height, "x", image.width));
  }
  const int64_t pixels = int64_t{image.height} * image.width;
  if (pixels > max_pixels) {
    return absl::InvalidArgumentError(
        absl::StrCat("image.raw: ", image.height, "x", image.width,
                     " pixels is more than the limit of ", max_pixels));
  }
  const int64_t expected = pixels * image.channels;
  if (static_cast<int64_t>(image.bytes.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image.raw.data: has ", image.bytes.size(), " bytes, expected height*",
        "width*channels = ", image.height, "*", image.width, "*",
        image.channels, " = ", expected));
  }
  return absl::OkStatus();
}

std::string TensorBytes(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()),
                     c.numel() * c.element_size());
}

// "cpu", "cuda" or "cuda:N", checked against what this LibTorch can run.
absl::StatusOr<torch::Device> ParseDevice(const std::string& name) {
  std::optional<torch::Device> device;
  try {
    device.emplace(name);
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.device: \"", absl::CHexEscape(name),
        "\" is not a device; use cpu, cuda or cuda:N"));
  }
  if (device->is_cpu()) return *device;
  if (!device->is_cuda()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.device: ", name, " is not supported; use cpu or cuda"));
  }
  if (!torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Engine::Options.device: ", name,
        ": this LibTorch has no usable CUDA device (Debian's LibTorch is "
        "CPU-only; build with --config=cuda against a CUDA LibTorch)"));
  }
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (device->has_index() && device->index() >= count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.device: ", name, ": only ", count,
        " CUDA device(s) visible"));
  }
  return *device;
}

// The CPU's model name (/proc/cpuinfo) and core count: latency measured on
// one machine type is not reused on another.
std::string DeviceDescription() {
  std::string model = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        model = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
      break;
    }
  }
  return absl::StrCat("cpu:", model, " x", std::thread::hardware_concurrency());
}

std::vector<int> LatencyBatchSizes(const Engine::Options& o) {
  if (!o.latency_batch_sizes.empty()) return o.latency_batch_sizes;
  if (o.max_batch_size == 1) return {1};
  return {1, o.max_batch_size};
}

BatchItem ItemOf(const Plan& plan) {
  BatchItem item;
  for (const TaskPlan& t : plan.tasks) {
    item.tasks.push_back(t.task);
    item.decoder_widths.push_back(t.decoder_width_index);
  }
  return item;
}

}  // namespace

class Engine::Impl {
 public:
  Impl(const Options& options, ModelSpec spec,
       std::unique_ptr<const InferenceNet> net, QualityTable quality,
       std::unique_ptr<Planner> planner)
      : options_(options),
        policy_{options.max_batch_size, options.max_queue_delay,
                options.starvation_limit},
        spec_(std::move(spec)),
        costs_(ComputeCostTable(spec_)),
        quality_(std::move(quality)),
        net_(std::move(net)),
        planner_(std::move(planner)),
        context_{&spec_, &costs_, &quality_, nullptr},
        per_item_estimate_(spec_.encoder_widths_size(), absl::ZeroDuration()) {}

  // Times every configuration at every batch size (or reads them from the
  // cache); from then on plans carry predicted latency, millisecond budgets
  // work, deadlines degrade plans and the scheduler predicts batch compute.
  absl::Status SetUpLatency(int64_t weights_bytes) {
    const std::vector<int> sizes = LatencyBatchSizes(options_);
    const torch::Device device = net_->device();
    latency_key_ = absl::StrCat(
        "model=", spec_.name(), "/", spec_.version(),
        " weights_bytes=", weights_bytes, " device=",
        device.is_cuda() ? device.str() : DeviceDescription(),
        " threads=", at::get_num_threads(),
        " batch_sizes=", absl::StrJoin(sizes, ","), " net=", net_->Describe());
    std::optional<LatencyProfile> profile;
    if (!options_.latency_cache.empty()) {
      absl::StatusOr<LatencyProfile> cached =
          ReadLatencyCache(options_.latency_cache, latency_key_, spec_);
      if (cached.ok()) {
        profile = *std::move(cached);
        SLIM_LOG(INFO) << "latency read from " << options_.latency_cache;
      } else {
        SLIM_LOG(INFO) << "latency cache not used, measuring: "
                       << cached.status().message();
      }
    }
    if (!profile) {
      const absl::Time start = absl::Now();
      profile.emplace();
      for (int b : sizes) {
        profile->tables.push_back(
            MeasureLatency(*net_, b, options_.latency_repetitions));
      }
      const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
      SLIM_LOG(INFO) << "latency of every configuration at batch sizes "
                     << absl::StrJoin(sizes, ",") << " measured in "
                     << absl::StrFormat("%.2f s", seconds);
      if (!options_.latency_cache.empty()) {
        const absl::Status st = WriteLatencyCache(
            options_.latency_cache, latency_key_, *profile, spec_, seconds);
        // A read-only cache location costs start-up time, not correctness.
        if (!st.ok()) {
          SLIM_LOG(WARNING) << "latency cache: " << st.message();
        }
      }
    }
    SLIM_RETURN_IF_ERROR(ValidateLatencyProfile(*profile, spec_));
    profile_ = *std::move(profile);
    latency_ = profile_->tables.front();
    context_.latency = &*latency_;
    batch_model_.emplace(*profile_, spec_);
    return ValidatePlanningContext(context_);
  }

  absl::Status ValidateContext() const {
    return ValidatePlanningContext(context_);
  }

  ~Impl() { Shutdown(); }

  void Start() {
    for (int i = 0; i < options_.num_executor_threads; ++i) {
      threads_.emplace_back([this] { WorkerLoop(); });
    }
  }

  void Warmup() {
    c10::InferenceMode guard;
    const torch::Tensor input =
        torch::zeros({3, spec_.input().height(), spec_.input().width()});
    for (int we = 0; we < spec_.encoder_widths_size(); ++we) {
      for (int wd : {0, spec_.decoder_widths_size() - 1}) {
        Plan plan;
        plan.encoder_width_index = we;
        for (int t = 0; t < spec_.tasks_size(); ++t) {
          TaskPlan tp;
          tp.task = t;
          tp.decoder_width_index = wd;
          plan.tasks.push_back(tp);
        }
        ExecutorItem item;
        item.input = input;
        item.plan = &plan;
        RunBatch(*net_, {&item});
      }
    }
  }

  absl::StatusOr<Plan> MakePlan(const PlanRequest& request) const {
    return PlanWith(*planner_, context_, request);
  }

  absl::Status Submit(InferRequest request, InferDone done) {
    LoadState load;
    load.queue_wait_ms = EstimatedQueueWaitMs(&load.latency_scale);
    if (request.deadline != absl::InfiniteFuture()) {
      load.deadline_ms =
          absl::ToDoubleMilliseconds(request.deadline - absl::Now());
    }
    SLIM_ASSIGN_OR_RETURN(Plan plan,
                          Admit(*planner_, context_, request.plan_request, load));
    for (const auto& [task, format] : request.output_formats) {
      bool known = false;
      for (const auto& t : spec_.tasks()) known |= t.name() == task;
      if (!known) {
        return absl::InvalidArgumentError(absl::StrCat(
            "output_formats: unknown task \"", absl::CHexEscape(task), "\""));
      }
    }
    SLIM_RETURN_IF_ERROR(
        ValidateImage(request.image, options_.max_image_pixels));
    const int width = plan.encoder_width_index;
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError("the server is shutting down");
    }
    if (queued_ >= options_.max_queue_size) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the request queue is full (", options_.max_queue_size,
          " requests); retry later"));
    }
    queues_[width].push_back(Job{next_id_++, std::move(request),
                                 std::move(plan), std::move(done),
                                 absl::Now()});
    ++queued_;
    ++in_flight_;
    ++arrivals_;
    return absl::OkStatus();
  }

  void Shutdown() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  int InFlight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }

  const ModelSpec& spec() const { return spec_; }
  const CostTable& costs() const { return costs_; }
  const QualityTable& quality() const { return quality_; }
  const LatencyTable* latency() const {
    return latency_.has_value() ? &*latency_ : nullptr;
  }
  const LatencyProfile* latency_profile() const {
    return profile_.has_value() ? &*profile_ : nullptr;
  }
  const std::string& latency_key() const { return latency_key_; }
  const std::string& planner_name() const { return planner_name_; }

 private:
  // Time until a request submitted now would start computing: what is left
  // of the batches running now plus the work queued ahead of it (in batches
  // of at most max_batch_size per width), spread over the executors; plus
  // its own batch's decode and output encoding. Also returns the compute scale the
  // admission controller applies to the start-up latency table.
  double EstimatedQueueWaitMs(double* latency_scale) const {
    absl::MutexLock lock(&mu_);
    *latency_scale = compute_scale_;
    const absl::Time now = absl::Now();
    absl::Duration ahead;
    for (const auto& [id, until] : running_until_) {
      ahead += std::max(absl::ZeroDuration(), until - now);
    }
    for (const auto& [width, jobs] : queues_) {
      ahead += overhead_estimate_ * static_cast<int64_t>(jobs.size());
      if (!batch_model_) {
        ahead += per_item_estimate_[width] * static_cast<int64_t>(jobs.size());
        continue;
      }
      std::vector<BatchItem> chunk;
      for (size_t i = 0; i < jobs.size(); ++i) {
        chunk.push_back(ItemOf(jobs[i].plan));
        if (static_cast<int>(chunk.size()) == options_.max_batch_size ||
            i + 1 == jobs.size()) {
          ahead += absl::Milliseconds(batch_model_->BatchMs(width, chunk) *
                                      compute_scale_);
          chunk.clear();
        }
      }
    }
    // Its own decode and encoding; and under load its batch fills up
    // around it, and the executor decodes every member before the batch
    // runs: on average half a batch of others (the policy cuts a batch
    // that would make its most urgent member late).
    absl::Duration own = overhead_estimate_;
    if (queued_ > 0 || !running_until_.empty()) {
      own += overhead_estimate_ * ((options_.max_batch_size - 1) / 2.0);
    }
    return absl::ToDoubleMilliseconds(ahead) / options_.num_executor_threads +
           absl::ToDoubleMilliseconds(own);
  }

  struct Job {
    uint64_t id = 0;
    InferRequest request;
    Plan plan;
    InferDone done;
    absl::Time enqueued;
  };

  // What one worker takes out of the queues under the lock.
  struct Work {
    uint64_t batch_id = 0;  // key of running_until_ while it runs
    std::vector<Job> batch;
    std::vector<std::pair<Job, absl::Status>> dropped;
    absl::Time picked;
  };

  // Applies the batching policy until it yields a batch or drops, or the
  // engine has stopped and drained. Returns false when the worker should
  // exit.
  bool NextWork(Work* work) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (true) {
      if (stopping_ && queued_ == 0) return false;
      const absl::Time now = absl::Now();
      std::vector<QueueView> views;
      for (const auto& [width, jobs] : queues_) {
        if (jobs.empty()) continue;
        QueueView view;
        view.encoder_width = width;
        if (batch_model_) {
          std::vector<BatchItem> items;
          for (const Job& job : jobs) items.push_back(ItemOf(job.plan));
          const LinearMs m = batch_model_->QueueModel(width, items);
          view.compute_fixed = absl::Milliseconds(m.fixed * compute_scale_);
          view.compute_per_item =
              absl::Milliseconds(m.per_item * compute_scale_);
        } else {
          view.compute_per_item = per_item_estimate_[width];
        }
        // Each request's decode and output encoding run in the batch too.
        view.compute_per_item += overhead_estimate_;
        for (const Job& job : jobs) {
          PendingRequest r;
          r.id = job.id;
          r.arrival = job.enqueued;
          r.deadline = job.request.deadline;
          r.cancelled = job.request.cancelled && job.request.cancelled->load();
          view.requests.push_back(r);
        }
        views.push_back(std::move(view));
      }
      BatchPolicyOptions policy = policy_;
      if (stopping_) policy.max_queue_delay = absl::ZeroDuration();  // drain
      const BatchDecision d = DecideNextBatch(views, now, policy);
      auto take = [&](uint64_t id) {
        for (auto& [width, jobs] : queues_) {
          for (auto it = jobs.begin(); it != jobs.end(); ++it) {
            if (it->id != id) continue;
            Job job = std::move(*it);
            jobs.erase(it);
            --queued_;
            return job;
          }
        }
        std::abort();  // the policy only names queued ids
      };
      for (uint64_t id : d.cancelled) {
        work->dropped.push_back(
            {take(id), absl::CancelledError(
                           "cancelled by the client before compute")});
      }
      for (uint64_t id : d.expired) {
        work->dropped.push_back(
            {take(id), absl::DeadlineExceededError(
                           "the deadline passed (or cannot be met) before "
                           "compute started")});
      }
      for (uint64_t id : d.batch) work->batch.push_back(take(id));
      if (!work->batch.empty() || !work->dropped.empty()) {
        work->picked = now;
        if (!work->batch.empty()) {
          work->batch_id = next_batch_id_++;
          running_until_[work->batch_id] =
              now + PredictedBatchTime(work->batch);
        }
        return true;
      }
      // Sleep until the policy's wake-up time, a new arrival, or shutdown.
      const uint64_t seen = arrivals_;
      auto woken = [this, seen]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stopping_ || arrivals_ != seen;
      };
      mu_.AwaitWithDeadline(absl::Condition(&woken, &decltype(woken)::operator()),
                            d.wake_at);
    }
  }

  void WorkerLoop() {
    c10::InferenceMode guard;
    while (true) {
      Work work;
      {
        absl::MutexLock lock(&mu_);
        if (!NextWork(&work)) return;
      }
      for (auto& [job, status] : work.dropped) job.done(status);
      const int answered = static_cast<int>(work.dropped.size()) +
                           static_cast<int>(work.batch.size());
      if (!work.batch.empty()) RunJobs(work.batch, work.picked);
      absl::MutexLock lock(&mu_);
      running_until_.erase(work.batch_id);
      in_flight_ -= answered;
    }
  }

  // Predicted wall time of a batch: compute plus each request's decode and
  // output encoding.
  absl::Duration PredictedBatchTime(const std::vector<Job>& batch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int width = batch.front().plan.encoder_width_index;
    absl::Duration compute;
    if (batch_model_) {
      std::vector<BatchItem> items;
      for (const Job& job : batch) items.push_back(ItemOf(job.plan));
      compute =
          absl::Milliseconds(batch_model_->BatchMs(width, items) * compute_scale_);
    } else {
      compute = per_item_estimate_[width] * static_cast<int64_t>(batch.size());
    }
    return compute + overhead_estimate_ * static_cast<int64_t>(batch.size());
  }

  // Checks made again just before each expensive step.
  absl::Status CheckStillWanted(const InferRequest& request,
                                absl::string_view step) const {
    if (request.cancelled && request.cancelled->load()) {
      return absl::CancelledError(
          absl::StrCat("cancelled by the client before ", step));
    }
    if (absl::Now() > request.deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the deadline passed before ", step));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<torch::Tensor> Preprocess(const InferRequest& request) const {
    SLIM_RETURN_IF_ERROR(CheckStillWanted(request, "preprocessing"));
    const ImageInput& image = request.image;
    DecodedImage decoded;
    if (!image.raw) {
      DecodeLimits limits;
      limits.max_pixels = options_.max_image_pixels;
      SLIM_ASSIGN_OR_RETURN(decoded, DecodeImage(image.bytes, limits));
    }
    const uint8_t* pixels =
        image.raw ? reinterpret_cast<const uint8_t*>(image.bytes.data())
                  : decoded.pixels.data();
    const int h = image.raw ? image.height : decoded.height;
    const int w = image.raw ? image.width : decoded.width;
    const int c = image.raw ? image.channels : decoded.channels;
    const int out_h = spec_.input().height(), out_w = spec_.input().width();
    torch::Tensor input = torch::empty({3, out_h, out_w});
    const float mean[3] = {spec_.input().mean(0), spec_.input().mean(1),
                           spec_.input().mean(2)};
    const float stdev[3] = {spec_.input().std(0), spec_.input().std(1),
                            spec_.input().std(2)};
    ResizeNormalizeCpu(pixels, h, w, c, out_h, out_w, mean, stdev,
                       input.data_ptr<float>());
    SLIM_RETURN_IF_ERROR(CheckStillWanted(request, "compute"));
    return input;
  }

  // Runs one batch (one encoder width) and answers every job in it.
  void RunJobs(std::vector<Job>& jobs, absl::Time picked) {
    std::vector<InferResult> results(jobs.size());
    std::vector<ExecutorItem> items(jobs.size());
    std::vector<ExecutorItem*> live;
    std::vector<size_t> live_jobs;
    for (size_t i = 0; i < jobs.size(); ++i) {
      const absl::Time t0 = absl::Now();
      results[i].timings.queue = picked - jobs[i].enqueued;
      absl::StatusOr<torch::Tensor> input = Preprocess(jobs[i].request);
      results[i].timings.preprocess = absl::Now() - t0;
      if (!input.ok()) {
        jobs[i].done(input.status());
        continue;
      }
      items[i].input = *std::move(input);
      items[i].plan = &jobs[i].plan;
      live.push_back(&items[i]);
      live_jobs.push_back(i);
    }
    if (live.empty()) return;

    const absl::Time t1 = absl::Now();
    try {
      RunBatch(*net_, live);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      SLIM_LOG(ERROR) << "model execution failed for a batch of "
                      << live.size() << ": " << what;
      for (size_t i : live_jobs) {
        jobs[i].done(absl::InternalError(absl::StrCat(
            "model execution failed: ", what.substr(0, what.find('\n')))));
      }
      return;
    }
    const absl::Duration compute = absl::Now() - t1;
    std::vector<BatchItem> ran;
    for (size_t i : live_jobs) ran.push_back(ItemOf(jobs[i].plan));
    UpdateEstimate(jobs[live_jobs[0]].plan.encoder_width_index, compute, ran);

    for (size_t i : live_jobs) {
      InferResult& result = results[i];
      result.timings.compute = compute;
      result.batch_size = static_cast<int>(live.size());
      result.first_in_batch = i == live_jobs.front();
      const absl::Time t2 = absl::Now();
      absl::Status status;
      for (size_t k = 0; k < jobs[i].plan.tasks.size() && status.ok(); ++k) {
        absl::StatusOr<TaskOutput> out = EncodeOutput(
            jobs[i].request, jobs[i].plan.tasks[k], items[i].outputs[k]);
        if (out.ok()) {
          result.outputs.push_back(*std::move(out));
        } else {
          status = out.status();
        }
      }
      items[i].outputs.clear();  // free the tensors early
      result.timings.postprocess = absl::Now() - t2;
      UpdateOverhead(result.timings.preprocess + result.timings.postprocess);
      if (!status.ok()) {
        jobs[i].done(status);
        continue;
      }
      result.plan = std::move(jobs[i].plan);
      jobs[i].done(std::move(result));
    }
  }

  // With a latency profile: exponential moving average of measured over
  // predicted compute, which tracks what the start-up measurement could not
  // see (other processes on the cores, caches, clock changes). Without one:
  // moving average of the compute per request at each width.
  void UpdateEstimate(int width, absl::Duration compute,
                      const std::vector<BatchItem>& items) {
    absl::MutexLock lock(&mu_);
    if (batch_model_) {
      const double predicted = batch_model_->BatchMs(width, items);
      if (predicted <= 0) return;
      const double ratio = std::clamp(
          absl::ToDoubleMilliseconds(compute) / predicted, 0.2, 10.0);
      compute_scale_ = 0.8 * compute_scale_ + 0.2 * ratio;
      return;
    }
    absl::Duration& e = per_item_estimate_[width];
    const absl::Duration sample = compute / static_cast<int64_t>(items.size());
    e = e == absl::ZeroDuration() ? sample : e * 0.8 + sample * 0.2;
  }

  // Exponential moving average of the per-request work outside the network
  // (image decode, resize, output encoding), which for large images costs
  // as much as the compute.
  void UpdateOverhead(absl::Duration sample) {
    absl::MutexLock lock(&mu_);
    overhead_estimate_ = overhead_estimate_ == absl::ZeroDuration()
                             ? sample
                             : overhead_estimate_ * 0.8 + sample * 0.2;
  }

  absl::StatusOr<TaskOutput> EncodeOutput(const InferRequest& request,
                                          const TaskPlan& task_plan,
                                          const torch::Tensor& chw) const {
    const auto& task = spec_.tasks(task_plan.task);
    TaskOutput out;
    out.task = task.name();
    out.kind = task.kind();
    out.shape = {chw.size(0), chw.size(1), chw.size(2)};
    auto it = request.output_formats.find(task.name());
    out.format = it != request.output_formats.end()
                     ? it->second
                     : request.default_output_format;
    const torch::Tensor values = chw.contiguous();
    if (out.format == OutputFormat::kRaw) {
      out.dtype = DType::kFloat32;
      out.data = TensorBytes(values);
      return out;
    }
    const int h = static_cast<int>(out.shape[1]);
    const int w = static_cast<int>(out.shape[2]);
    const float* src = values.data_ptr<float>();
    const int64_t n = int64_t{h} * w;
    absl::StatusOr<std::string> png;
    switch (task.kind()) {
      case slimserve::v1::SEMANTIC_SEGMENTATION: {
        std::vector<uint8_t> ids(n);
        SegmentationArgmaxCpu(src, static_cast<int>(out.shape[0]), h, w,
                              ids.data());
        out.dtype = DType::kUint8;
        png = EncodePng(ids.data(), h, w, 1, 8);
        break;
      }
      case slimserve::v1::DEPTH: {
        std::vector<uint16_t> mm(n);
        DepthToMillimetresCpu(src, n, mm.data());
        out.dtype = DType::kUint16;
        png = EncodePng(mm.data(), h, w, 1, 16);
        break;
      }
      case slimserve::v1::SURFACE_NORMALS: {
        std::vector<uint8_t> rgb(n * 3);
        NormalsToRgbCpu(src, h, w, rgb.data());
        out.dtype = DType::kUint8;
        png = EncodePng(rgb.data(), h, w, 3, 8);
        break;
      }
      case slimserve::v1::EDGES: {
        std::vector<uint8_t> e(n);
        EdgesToU8Cpu(src, n, e.data());
        out.dtype = DType::kUint8;
        png = EncodePng(e.data(), h, w, 1, 8);
        break;
      }
      default:
        return absl::InternalError("task of unknown kind");
    }
    if (!png.ok()) return png.status();
    out.data = *std::move(png);
    return out;
  }

  // Constant after construction.
  const Options options_;
  const BatchPolicyOptions policy_;
  const ModelSpec spec_;
  const CostTable costs_;
  const QualityTable quality_;
  // Read-only: executor threads share it.
  const std::unique_ptr<const InferenceNet> net_;
  const std::unique_ptr<Planner> planner_;
  const std::string planner_name_{planner_->name()};
  // Set once before the threads start, then constant.
  std::optional<LatencyProfile> profile_;
  std::optional<LatencyTable> latency_;  // profile_'s batch-1 table
  std::optional<BatchLatencyModel> batch_model_;
  std::string latency_key_;
  PlanningContext context_;  // points at the members above
  std::vector<std::thread> threads_;  // started in Start(), joined once

  mutable absl::Mutex mu_;
  // One queue per encoder width index, in arrival order.
  std::map<int, std::deque<Job>> queues_ ABSL_GUARDED_BY(mu_);
  int queued_ ABSL_GUARDED_BY(mu_) = 0;  // sum of the queues' sizes
  // Accepted and not yet answered (queued + running).
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Monotonic counters: request ids, and arrivals (wakes idle workers).
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t arrivals_ ABSL_GUARDED_BY(mu_) = 0;
  // Without a latency profile, per encoder width: estimated compute per
  // request in a batch.
  std::vector<absl::Duration> per_item_estimate_ ABSL_GUARDED_BY(mu_);
  // With one: measured / predicted batch compute (see UpdateEstimate).
  double compute_scale_ ABSL_GUARDED_BY(mu_) = 1.0;
  // Batches running now: predicted end, by batch id.
  std::map<uint64_t, absl::Time> running_until_ ABSL_GUARDED_BY(mu_);
  uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Per request: pre- plus post-processing (see UpdateOverhead).
  absl::Duration overhead_estimate_ ABSL_GUARDED_BY(mu_);
  // Monotonic: once true, Submit refuses and workers exit when drained.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const Options& options) {
  SLIM_RETURN_IF_ERROR(ValidateOptions(options));
  SLIM_ASSIGN_OR_RETURN(ModelSpec spec, LoadModelSpec(options.model_dir));
  const int threads = options.num_threads > 0
                          ? options.num_threads
                          : static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(std::max(1, threads));

  SLIM_ASSIGN_OR_RETURN(const torch::Device device, ParseDevice(options.device));
  InferenceOptions inference;
  inference.weights = *ParseWeights(options.weights);  // validated above
  inference.dtype = *ParsePrecision(options.precision);
  inference.channels_last = options.channels_last;
  Supernet supernet(spec);
  SLIM_RETURN_IF_ERROR(
      LoadSupernet(supernet, WeightsPath(options.model_dir, spec)));
  supernet->eval();
  supernet->to(device);  // once: the weights stay resident
  absl::StatusOr<std::unique_ptr<InferenceNet>> net =
      InferenceNet::Create(std::move(supernet), inference);
  if (!net.ok()) {
    return absl::Status(net.status().code(),
                        absl::StrCat("Engine::Options: ", net.status().message()));
  }
  SLIM_LOG(INFO) << "network: " << (*net)->Describe() << " on "
                 << device.str() << ", "
                 << absl::StrFormat("%.1f MB", (*net)->weight_bytes() / 1e6)
                 << " of weights";
  SLIM_ASSIGN_OR_RETURN(QualityTable quality,
                        LoadQualityTableOrSynthetic(options.model_dir, spec));
  if (quality.synthetic()) {
    SLIM_LOG(WARNING) << options.model_dir
                      << " has no profile.textproto: planning with the "
                         "synthetic quality table";
  }
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<Planner> planner,
                        CreatePlanner(options.planner));
  auto impl = std::make_unique<Impl>(options, std::move(spec), *std::move(net),
                                     std::move(quality), std::move(planner));
  SLIM_RETURN_IF_ERROR(impl->ValidateContext());
  if (options.warmup) {
    const absl::Time start = absl::Now();
    impl->Warmup();
    SLIM_LOG(INFO) << "warm-up of " << impl->spec().encoder_widths_size()
                   << " encoder widths took "
                   << absl::FormatDuration(absl::Now() - start);
  }
  if (options.measure_latency) {
    std::error_code ec;
    const auto weights_bytes = std::filesystem::file_size(
        WeightsPath(options.model_dir, impl->spec()), ec);
    SLIM_RETURN_IF_ERROR(
        impl->SetUpLatency(ec ? -1 : static_cast<int64_t>(weights_bytes)));
  }
  impl->Start();
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() { Shutdown(); }

const ModelSpec& Engine::spec() const { return impl_->spec(); }
const CostTable& Engine::costs() const { return impl_->costs(); }
const QualityTable& Engine::quality() const { return impl_->quality(); }
const LatencyTable* Engine::latency() const { return impl_->latency(); }
const LatencyProfile* Engine::latency_profile() const {
  return impl_->latency_profile();
}
const std::string& Engine::latency_key() const { return impl_->latency_key(); }
const std::string& Engine::planner_name() const {
  return impl_->planner_name();
}

absl::StatusOr<Plan> Engine::MakePlan(const PlanRequest& request) const {
  return impl_->MakePlan(request);
}

absl::Status Engine::Submit(InferRequest request, InferDone done) {
  return impl_->Submit(std::move(request), std::move(done));
}

void Engine::Shutdown() { impl_->Shutdown(); }
int Engine::InFlight() const { return impl_->InFlight(); }

}  // namespace slimserve
