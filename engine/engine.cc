// The engine's wiring: a request goes Submit (validation, admission) ->
// stage pool (pre-processing) -> scheduler (queue, batch) -> runner
// (network) -> stage pool (post-processing) -> done. Each step is a room of
// its own (engine/BUILD); this file only connects them and keeps the
// counts that admission control and Shutdown need. No LibTorch.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "base/cpus.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "engine/batching/batch_cost_model.h"
#include "engine/batching/wait_scale.h"
#include "engine/batching/scheduler.h"
#include "engine/engine.h"
#include "engine/engine_core.h"
#include "engine/model/cost_model.h"
#include "engine/model/latency_table.h"
#include "engine/model/package.h"
#include "engine/model/spec.h"
#include "engine/planning/admission.h"
#include "engine/planning/planner.h"
#include "engine/runtime/model_runner.h"
#include "engine/stages/cost_estimate.h"
#include "engine/stages/postprocess.h"
#include "engine/stages/preprocess.h"
#include "engine/stages/stage_pool.h"

namespace slimserve {
namespace {

using slimserve::v1::ModelSpec;

// A request on its way through the engine. It is the scheduler's Task while
// it waits for compute; whoever holds it owns it.
struct Job : Scheduler::Task {
  InferRequest request;
  ArchPlan plan;
  InferDone done;
  ImageWork work;      // what pre-processing will cost (StageCostEstimate)
  absl::Time submitted;
  absl::Time computed;              // when its batch's network pass ended
  // The wait for compute admission predicted before WaitScale's factor;
  // recorded against the real one (for requests with deadlines) once.
  absl::Duration predicted_wait;
  bool wait_recorded = false;
  OutputShape output;               // the size its outputs come at
  std::vector<float> input;         // the network's input, [3, H, W]
  // Instead of `input` when the runner pre-processes on its device.
  ModelPixels pixels;
  std::vector<OutputTensor> outputs;  // the network's, per plan task
  Timings timings;
  int batch_size = 1;
  bool first_in_batch = true;
  // Admitted and not yet computing: counts against max_queue_size. Guarded
  // by the engine's mutex.
  bool waiting = true;
};

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

std::vector<int> LatencyBatchSizes(const Engine::Options& o) {
  if (!o.latency.batch_sizes.empty()) return o.latency.batch_sizes;
  if (o.batching.max_batch_size == 1) return {1};
  return {1, o.batching.max_batch_size};
}

BatchItem WidthsOf(const ArchPlan& plan) {
  BatchItem item;
  for (const TaskPlan& t : plan.tasks) {
    item.tasks.push_back(t.task);
    item.decoder_widths.push_back(t.decoder_width_index);
  }
  return item;
}

absl::Status Bad(absl::string_view option, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("Engine::Options.", option, ": ", what));
}

}  // namespace

absl::Status ValidateEngineOptions(const Engine::Options& o) {
  if (o.model_dir.empty()) return Bad("model_dir", "required");
  if (o.clock == nullptr) return Bad("clock", "required");
  if (o.network.num_threads < 0) {
    return Bad("network.num_threads",
               absl::StrCat("must be >= 0, got ", o.network.num_threads));
  }
  const Engine::Options::Batching& b = o.batching;
  if (b.num_executor_threads < 0 || b.num_executor_threads > 64) {
    return Bad("batching.num_executor_threads",
               absl::StrCat("must be in [0, 64], got ", b.num_executor_threads));
  }
  if (b.max_queue_size < 1) {
    return Bad("batching.max_queue_size",
               absl::StrCat("must be >= 1, got ", b.max_queue_size));
  }
  if (absl::Status st = ValidateBatchPolicyOptions(
          {b.max_batch_size, b.max_queue_delay, b.starvation_limit});
      !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Engine::Options.batching.", st.message()));
  }
  if (!(b.wait_scale_quantile >= 0 && b.wait_scale_quantile <= 1)) {
    return Bad("batching.wait_scale_quantile",
               absl::StrCat("must be in [0, 1], got ", b.wait_scale_quantile));
  }
  if (b.wait_scale_window < 1) {
    return Bad("batching.wait_scale_window",
               absl::StrCat("must be >= 1, got ", b.wait_scale_window));
  }
  if (o.stages.num_threads < 0 || o.stages.num_threads > 256) {
    return Bad("stages.num_threads",
               absl::StrCat("must be in [0, 256], got ", o.stages.num_threads));
  }
  if (o.stages.max_image_pixels < 1 ||
      o.stages.max_image_pixels > (int64_t{1} << 30)) {
    return Bad("stages.max_image_pixels",
               absl::StrCat("must be in [1, 2^30], got ",
                            o.stages.max_image_pixels));
  }
  if (o.stages.png_compression_level < -1 ||
      o.stages.png_compression_level > 9) {
    return Bad("stages.png_compression_level",
               absl::StrCat("must be in [-1, 9], got ",
                            o.stages.png_compression_level));
  }
  if (o.stages.max_output_bytes < 1) {
    return Bad("stages.max_output_bytes",
               absl::StrCat("must be >= 1, got ", o.stages.max_output_bytes));
  }
  if (o.latency.measure && o.latency.repetitions < 1) {
    return Bad("latency.repetitions",
               absl::StrCat("must be >= 1, got ", o.latency.repetitions));
  }
  const std::vector<int>& sizes = o.latency.batch_sizes;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int prev = i == 0 ? 0 : sizes[i - 1];
    if ((i == 0 && sizes[i] != 1) || sizes[i] <= prev || sizes[i] > 256) {
      return Bad("latency.batch_sizes",
                 absl::StrCat("must start at 1 and ascend, each <= 256; got [",
                              absl::StrJoin(sizes, ", "), "]"));
    }
  }
  return absl::OkStatus();
}

Engine::Options ResolveThreads(Engine::Options options, int cores) {
  cores = std::max(1, cores);
  if (options.stages.num_threads == 0) options.stages.num_threads = cores;
  int& executors = options.batching.num_executor_threads;
  int& intra_op = options.network.num_threads;
  if (options.network.device.kind == Device::Kind::kCuda) {
    // The GPU runs the network; the CPU threads only launch and copy.
    if (executors == 0) executors = 1;
    if (intra_op == 0) intra_op = cores;
    return options;
  }
  if (executors == 0) {
    executors = std::clamp(cores / std::max(1, intra_op), 1, 64);
  }
  if (intra_op == 0) intra_op = std::max(1, cores / executors);
  return options;
}

class Engine::Impl {
 public:
  Impl(const Options& options, ModelPackage package,
       std::unique_ptr<ModelRunner> runner, std::unique_ptr<Planner> planner)
      : options_(options),
        clock_(options.clock),
        package_(std::move(package)),
        runner_(std::move(runner)),
        planner_(std::move(planner)),
        preprocess_(PreprocessOptionsFor(package_.spec,
                                         options.stages.max_image_pixels)),
        context_{&package_.spec, &package_.costs, &package_.quality, nullptr},
        wait_scale_(*WaitScale::Create(
            {options.batching.wait_scale_window,
             options.batching.wait_scale_quantile,
             std::min(16, options.batching.wait_scale_window)})) {}

  ~Impl() { Shutdown(); }

  // Warm-up and latency measurement (as the options say), then the threads.
  absl::Status Start() {
    SLIM_RETURN_IF_ERROR(ValidatePlanningContext(context_));
    if (options_.warmup) {
      const absl::Time start = clock_->Now();
      SLIM_RETURN_IF_ERROR(runner_->Warmup());
      SLIM_LOG(INFO) << "warm-up of " << spec().encoder_widths_size()
                     << " encoder widths took "
                     << absl::FormatDuration(clock_->Now() - start);
    }
    if (options_.latency.measure) SLIM_RETURN_IF_ERROR(SetUpLatency());
    model_info_ = BuildModelInfo();

    StagePool::Options pool;
    pool.num_threads = options_.stages.num_threads;  // ResolveThreads set it
    pool.clock = clock_;
    SLIM_ASSIGN_OR_RETURN(pool_, StagePool::Create(pool));

    Scheduler::Options scheduler;
    scheduler.policy = {options_.batching.max_batch_size,
                        options_.batching.max_queue_delay,
                        options_.batching.starvation_limit,
                        options_.batching.adaptive_queue_delay};
    scheduler.num_executor_threads = options_.batching.num_executor_threads;
    scheduler.num_encoder_widths = spec().encoder_widths_size();
    scheduler.cost_model = batch_model_ ? &*batch_model_ : nullptr;
    scheduler.clock = clock_;
    SLIM_ASSIGN_OR_RETURN(
        scheduler_,
        Scheduler::Create(
            scheduler, [this](Scheduler::Batch batch) { RunBatch(std::move(batch)); },
            [this](std::unique_ptr<Scheduler::Task> task, absl::Status why) {
              Finish(AsJob(std::move(task)), std::move(why));
            }));
    return absl::OkStatus();
  }

  const ModelInfo& model_info() const { return model_info_; }

  absl::StatusOr<ArchPlan> PlanFor(const PlanRequest& request) const {
    return PlanWith(*planner_, context_, request);
  }

  absl::Status Submit(InferRequest request, InferDone done) {
    SLIM_RETURN_IF_ERROR(CheckAccepting());
    SLIM_RETURN_IF_ERROR(ValidateRequestId(request.id));
    SLIM_RETURN_IF_ERROR(
        ValidateImage(request.image, options_.stages.max_image_pixels));
    SLIM_RETURN_IF_ERROR(ValidateOutputFormats(request.output_formats, spec()));

    // Compute starts when both the request's pre-processing (behind the
    // stage pool's backlog) and the executors (behind the scheduler's queue)
    // are through: the later of the two. It must end early enough for the
    // post-processing after it: the compute deadline is the request's less
    // that estimate.
    const ImageWork work = WorkOf(request.image);
    SLIM_ASSIGN_OR_RETURN(
        const OutputShape output,
        OutputShapeFor(request, work, spec(), options_.stages.max_output_bytes));
    const absl::Duration preprocess = stage_costs_.Preprocess(work);
    const absl::Duration postprocess = stage_costs_.Postprocess(
        RequestedOutputElements(request.plan_request, output));
    const Scheduler::Load scheduled = scheduler_->CurrentLoad();
    LoadState load;
    load.queue_wait_ms =
        Ms(std::max(scheduled.queue_wait, pool_->Backlog() + preprocess));
    load.latency_scale = scheduled.compute_scale;
    const absl::Time now = clock_->Now();
    const absl::Time compute_deadline = request.deadline - postprocess;
    const bool has_deadline = request.deadline != absl::InfiniteFuture();
    const double predicted_wait_ms = load.queue_wait_ms;
    if (has_deadline) {
      load.deadline_ms = Ms(compute_deadline - now);
      load.queue_wait_ms *= wait_scale_.Scale();
    }
    SLIM_ASSIGN_OR_RETURN(ArchPlan plan, Admit(*planner_, context_,
                                               request.plan_request, load));

    auto job = std::make_unique<Job>();
    job->encoder_width = plan.encoder_width_index;
    job->widths = WidthsOf(plan);
    job->deadline = compute_deadline;
    job->cancelled = request.cancelled;
    job->request = std::move(request);
    job->plan = std::move(plan);
    job->done = std::move(done);
    job->work = work;
    job->output = output;
    job->submitted = now;
    job->predicted_wait = absl::Milliseconds(predicted_wait_ms);
    job->wait_recorded = !has_deadline;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return Unavailable();
      if (waiting_ >= options_.batching.max_queue_size) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "the request queue is full (", options_.batching.max_queue_size,
            " requests); retry later"));
      }
      ++waiting_;
      ++in_flight_;
    }
    // On its way to the scheduler: batches of its width may wait for it.
    scheduler_->Announce(job->encoder_width);
    job->announced = true;
    pool_->Submit(StagePool::Priority::kStart, preprocess,
                  [this, job = std::move(job)]() mutable {
                    Preprocess(std::move(job));
                  });
    return absl::OkStatus();
  }

  void Shutdown() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (scheduler_ == nullptr) return;  // Start() did not get that far
    scheduler_->StartDrain();
    AwaitInFlight(0);
    scheduler_->Shutdown();
    pool_->Shutdown();
  }

  int InFlight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }

  void AwaitInFlight(int n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return in_flight_ == n;
    };
    mu_.Await(absl::Condition(&reached));
  }

 private:
  const ModelSpec& spec() const { return package_.spec; }

  static absl::Status Unavailable() {
    return absl::UnavailableError("the server is shutting down");
  }

  absl::Status CheckAccepting() const {
    absl::MutexLock lock(&mu_);
    return stopping_ ? Unavailable() : absl::OkStatus();
  }

  static std::unique_ptr<Job> AsJob(std::unique_ptr<Scheduler::Task> task) {
    return std::unique_ptr<Job>(static_cast<Job*>(task.release()));
  }

  // Checked again before each expensive step.
  // The deadline first: gRPC cancels a call at its deadline too.
  absl::Status StillWanted(const Job& job, absl::string_view step) const {
    if (clock_->Now() > job.request.deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the deadline passed before ", step));
    }
    if (job.request.cancelled && job.request.cancelled->load()) {
      return absl::CancelledError(
          absl::StrCat("cancelled by the client before ", step));
    }
    return absl::OkStatus();
  }

  // Stage pool: decode, resize, normalise; then to the scheduler.
  void Preprocess(std::unique_ptr<Job> job) {
    const absl::Time start = clock_->Now();
    job->timings.queue += start - job->submitted;
    if (absl::Status st = StillWanted(*job, "preprocessing"); !st.ok()) {
      Finish(std::move(job), std::move(st));
      return;
    }
    absl::Status decoded;
    if (runner_->PreprocessesOnDevice()) {
      // Decoding only: the runner resizes and normalises on its device.
      absl::StatusOr<ModelPixels> pixels =
          DecodeForModel(job->request.image, preprocess_);
      decoded = pixels.status();
      if (pixels.ok()) job->pixels = *std::move(pixels);
    } else {
      absl::StatusOr<std::vector<float>> input =
          slimserve::Preprocess(job->request.image, preprocess_);
      decoded = input.status();
      if (input.ok()) job->input = *std::move(input);
    }
    const absl::Time end = clock_->Now();
    job->timings.preprocess = end - start;
    stage_costs_.RecordPreprocess(job->work, end - start);
    if (!decoded.ok()) {
      Finish(std::move(job), std::move(decoded));
      return;
    }
    // Not needed any more, unless the runner borrows a raw image's pixels.
    if (!job->request.image.raw || !runner_->PreprocessesOnDevice()) {
      job->request.image.bytes = std::string();
    }
    std::unique_ptr<Scheduler::Task> task = std::move(job);
    if (absl::Status st = scheduler_->Enqueue(&task); !st.ok()) {
      Finish(AsJob(std::move(task)), std::move(st));
    }
  }

  // Executor: the network only; post-processing goes back to the pool.
  void RunBatch(Scheduler::Batch batch) {
    std::vector<std::unique_ptr<Job>> jobs;
    for (auto& task : batch.tasks) jobs.push_back(AsJob(std::move(task)));
    {
      absl::MutexLock lock(&mu_);
      for (const auto& job : jobs) {
        job->waiting = false;
        --waiting_;
      }
    }
    std::vector<RunRow> rows(jobs.size());
    std::vector<RunRow*> ptrs;
    for (size_t i = 0; i < jobs.size(); ++i) {
      Job& job = *jobs[i];
      job.timings.queue += batch.picked - job.enqueued;
      if (!job.wait_recorded) {
        wait_scale_.Record(job.predicted_wait, batch.picked - job.submitted);
        job.wait_recorded = true;
      }
      rows[i].input = job.input.empty() ? nullptr : job.input.data();
      rows[i].image = job.pixels.view;
      rows[i].encoder_width = job.encoder_width;
      rows[i].tasks = job.widths.tasks;
      rows[i].decoder_widths = job.widths.decoder_widths;
      if (runner_->FinishesOnDevice()) {
        for (const int t : job.widths.tasks) {
          rows[i].finish.push_back(FinishSpec{
              FormatFor(job.request, spec().tasks(t).name()) ==
                  OutputFormat::kPng,
              job.output.height, job.output.width});
        }
      }
      ptrs.push_back(&rows[i]);
    }
    const absl::Time start = clock_->Now();
    const absl::Status st = runner_->Run(ptrs);
    const absl::Time end = clock_->Now();
    if (!st.ok()) {
      SLIM_LOG(ERROR) << "model execution failed for a batch of "
                      << jobs.size() << ": " << st.message();
      for (auto& job : jobs) {
        Finish(std::move(job), absl::InternalError(absl::StrCat(
                                   "model execution failed: ", st.message())));
      }
      return;
    }
    for (size_t i = 0; i < jobs.size(); ++i) {
      std::unique_ptr<Job>& job = jobs[i];
      job->outputs = std::move(rows[i].outputs);
      job->input = std::vector<float>();
      job->pixels = ModelPixels();
      job->request.image.bytes = std::string();
      job->timings.compute = end - start;
      job->batch_size = static_cast<int>(jobs.size());
      job->first_in_batch = i == 0;
      job->computed = end;
      const absl::Duration cost = stage_costs_.Postprocess(
          RequestedOutputElements(job->request.plan_request, job->output));
      pool_->Submit(StagePool::Priority::kFinish, cost,
                    [this, job = std::move(job)]() mutable {
                      Postprocess(std::move(job));
                    });
    }
  }

  // Elements of the dense outputs a request asks for (every output is at
  // the output size, whatever the widths), for the post-processing
  // estimate. Unknown tasks are left to admission to refuse.
  int64_t RequestedOutputElements(const PlanRequest& request,
                                  const OutputShape& output) const {
    const int64_t pixels = int64_t{output.height} * output.width;
    int64_t channels = 0;
    for (const auto& task : spec().tasks()) {
      if (TaskRequested(request.task_weights, task.name())) {
        channels += TaskOutputChannels(task);
      }
    }
    return channels * pixels;
  }

  // Stage pool: each task's head output resized, activated and encoded as
  // RAW or PNG; then done.
  void Postprocess(std::unique_ptr<Job> job) {
    const absl::Time start = clock_->Now();
    job->timings.queue += start - job->computed;
    InferResult result;
    int64_t elements = 0;
    for (size_t k = 0; k < job->plan.tasks.size(); ++k) {
      const TaskPlan& tp = job->plan.tasks[k];
      const OutputTensor& t = job->outputs[k];
      const auto& task = spec().tasks(tp.task);
      const OutputFormat format = FormatFor(job->request, tp.name);
      const int level =
          PngLevelFor(task.kind(), options_.stages.png_compression_level);
      // Finished on the runner's device: only the encoding is left.
      absl::StatusOr<TaskOutput> out =
          t.samples != nullptr
              ? EncodeFinished(task, format, t.samples, t.samples_size,
                               job->output.height, job->output.width, level)
              : FinishOutput(task, format, t.data, t.channels, t.height,
                             t.width, job->output.height, job->output.width,
                             level);
      if (!out.ok()) {
        Finish(std::move(job), out.status());
        return;
      }
      elements += t.channels * job->output.height * job->output.width;
      result.outputs.push_back(*std::move(out));
    }
    job->outputs.clear();  // free the network's tensors
    const absl::Time end = clock_->Now();
    job->timings.postprocess = end - start;
    stage_costs_.RecordPostprocess(elements, end - start);
    result.plan = std::move(job->plan);
    result.timings = job->timings;
    result.batch_size = job->batch_size;
    result.first_in_batch = job->first_in_batch;
    Finish(std::move(job), std::move(result));
  }

  // Answers a request: the one exit of every Job.
  void Finish(std::unique_ptr<Job> job, absl::StatusOr<InferResult> result) {
    // Failed before it was queued: the scheduler must not wait for it.
    if (job->announced) scheduler_->Withdraw(job->encoder_width);
    // Dropped before compute for its deadline (passed, cancelled by gRPC
    // at it, or predicted to be missed): it waited at least this long.
    if (!job->wait_recorded && !result.ok() &&
        (result.status().code() == absl::StatusCode::kDeadlineExceeded ||
         clock_->Now() >= job->request.deadline)) {
      wait_scale_.Record(job->predicted_wait, clock_->Now() - job->submitted);
    }
    InferDone done = std::move(job->done);
    {
      // Out of the queue before the answer: a client that retries at once
      // on a failure must not find its own request still holding a slot.
      absl::MutexLock lock(&mu_);
      if (job->waiting) --waiting_;
    }
    job.reset();  // free its buffers before the callback runs
    done(std::move(result));
    // In flight until the callback has returned: Shutdown waits for it.
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }

  // Times every configuration at every batch size (or reads them from the
  // cache); from then on plans carry predicted latency, millisecond budgets
  // work, deadlines degrade plans and the scheduler predicts batch compute.
  absl::Status SetUpLatency() {
    const std::vector<int> sizes = LatencyBatchSizes(options_);
    latency_key_ = absl::StrCat(
        "model=", spec().name(), "/", spec().version(),
        " weights_bytes=", package_.weights_bytes,
        " device=", runner_->DeviceKey(),
        " batch_sizes=", absl::StrJoin(sizes, ","), " net=", runner_->Describe(),
        // What a table entry times: decoders up to their heads (the final
        // upsampling is post-processing's since this key was introduced),
        // and, where the net fuses them, all tasks' decoders as one pass.
        " decoders=heads,fused");
    std::optional<LatencyProfile> profile;
    const std::string& cache = options_.latency.cache;
    if (!cache.empty()) {
      absl::StatusOr<LatencyProfile> cached =
          ReadLatencyCache(cache, latency_key_, spec());
      if (cached.ok()) {
        profile = *std::move(cached);
        SLIM_LOG(INFO) << "latency read from " << cache;
      } else {
        SLIM_LOG(INFO) << "latency cache not used, measuring: "
                       << cached.status().message();
      }
    }
    if (!profile) {
      const absl::Time start = clock_->Now();
      profile.emplace();
      for (int b : sizes) {
        SLIM_ASSIGN_OR_RETURN(
            LatencyTable table,
            runner_->MeasureLatency(b, options_.latency.repetitions));
        profile->tables.push_back(std::move(table));
      }
      const double seconds = absl::ToDoubleSeconds(clock_->Now() - start);
      SLIM_LOG(INFO) << "latency of every configuration at batch sizes "
                     << absl::StrJoin(sizes, ",") << " measured in "
                     << absl::StrFormat("%.2f s", seconds);
      if (!cache.empty()) {
        const absl::Status st =
            WriteLatencyCache(cache, latency_key_, *profile, spec(), seconds);
        // A read-only cache location costs start-up time, not correctness.
        if (!st.ok()) SLIM_LOG(WARNING) << "latency cache: " << st.message();
      }
    }
    SLIM_RETURN_IF_ERROR(ValidateLatencyProfile(*profile, spec()));
    profile_ = *std::move(profile);
    latency_ = profile_->tables.front();
    context_.latency = &*latency_;
    batch_model_.emplace(*profile_, spec());
    return ValidatePlanningContext(context_);
  }

  ModelInfo BuildModelInfo() const {
    const ModelSpec& s = spec();
    const CostTable& costs = package_.costs;
    ModelInfo info;
    info.name = s.name();
    info.version = s.version();
    for (int t = 0; t < s.tasks_size(); ++t) {
      TaskInfo task;
      task.name = s.tasks(t).name();
      task.kind = s.tasks(t).kind();
      task.output_channels = TaskOutputChannels(s.tasks(t));
      for (int we = 0; we < s.encoder_widths_size(); ++we) {
        std::vector<double> mflops, quality;
        for (int wd = 0; wd < s.decoder_widths_size(); ++wd) {
          mflops.push_back(MacsToMflops(costs.decoder_macs[t][we][wd]));
          quality.push_back(package_.quality.at(t, we, wd));
        }
        task.decoder_mflops.push_back(std::move(mflops));
        task.quality.push_back(std::move(quality));
      }
      info.tasks.push_back(std::move(task));
    }
    info.encoder_widths.assign(s.encoder_widths().begin(),
                               s.encoder_widths().end());
    info.decoder_widths.assign(s.decoder_widths().begin(),
                               s.decoder_widths().end());
    info.input_height = s.input().height();
    info.input_width = s.input().width();
    for (double macs : costs.encoder_macs) {
      info.encoder_mflops.push_back(MacsToMflops(macs));
    }
    info.full_mflops = MacsToMflops(costs.FullMacs());
    info.quality_measured = !package_.quality.synthetic();
    if (profile_) {
      for (const LatencyTable& table : profile_->tables) {
        info.latency_tables.push_back(
            {table.batch_size, table.encoder_ms, table.decoder_ms,
             table.fused_decoder_ms});
      }
    }
    info.latency_key = latency_key_;
    info.planner = std::string(planner_->name());
    info.network = absl::StrCat(runner_->Describe(), " on ",
                                DeviceName(options_.network.device));
    return info;
  }

  // Constant after construction.
  const Options options_;
  Clock* const clock_;
  const ModelPackage package_;
  const std::unique_ptr<ModelRunner> runner_;  // thread-safe
  const std::unique_ptr<Planner> planner_;     // pure
  const PreprocessOptions preprocess_;
  // Set once in Start(), before the threads start; constant from then on.
  std::optional<LatencyProfile> profile_;
  std::optional<LatencyTable> latency_;  // profile_'s batch-1 table
  std::optional<BatchLatencyModel> batch_model_;
  std::string latency_key_;
  PlanningContext context_;  // points at the members above
  ModelInfo model_info_;
  std::unique_ptr<StagePool> pool_;
  std::unique_ptr<Scheduler> scheduler_;

  // Thread-safe on their own.
  StageCostEstimate stage_costs_;
  WaitScale wait_scale_;

  mutable absl::Mutex mu_;
  // Admitted and not yet computing (pre-processing or queued).
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  // Accepted and not yet answered.
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Monotonic: once true, Submit refuses.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(
    const Engine::Options& options, const RunnerFactory& make_runner) {
  SLIM_RETURN_IF_ERROR(ValidateEngineOptions(options));
  const Engine::Options resolved = ResolveThreads(options, UsableCpus());
  SLIM_ASSIGN_OR_RETURN(ModelPackage package,
                        LoadModelPackage(options.model_dir));
  if (package.quality.synthetic()) {
    SLIM_LOG(WARNING) << options.model_dir
                      << " has no profile.textproto: planning with the "
                         "synthetic quality table";
  }
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<ModelRunner> runner,
                        make_runner(package));
  SLIM_ASSIGN_OR_RETURN(std::unique_ptr<Planner> planner,
                        CreatePlanner(PlannerKindName(options.planner)));
  SLIM_LOG(INFO) << resolved.batching.num_executor_threads
                 << " executor thread(s), " << resolved.network.num_threads
                 << " LibTorch intra-op thread(s)";
  auto impl = std::make_unique<Engine::Impl>(
      resolved, std::move(package), std::move(runner), std::move(planner));
  SLIM_RETURN_IF_ERROR(impl->Start());
  return std::make_unique<Engine>(std::move(impl));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() { Shutdown(); }

const ModelInfo& Engine::model_info() const { return impl_->model_info(); }

absl::StatusOr<ArchPlan> Engine::PlanFor(const PlanRequest& request) const {
  return impl_->PlanFor(request);
}

absl::Status Engine::Submit(InferRequest request, InferDone done) {
  return impl_->Submit(std::move(request), std::move(done));
}

void Engine::Shutdown() { impl_->Shutdown(); }
int Engine::InFlight() const { return impl_->InFlight(); }
void Engine::AwaitInFlight(int n) const { impl_->AwaitInFlight(n); }

}  // namespace slimserve
