#include "engine/engine.h"

#include <cstring>
#include <deque>
#include <thread>

#include <torch/torch.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "engine/executor.h"
#include "engine/image_codec.h"
#include "engine/log.h"
#include "engine/model_spec.h"
#include "engine/planner.h"
#include "engine/status_macros.h"
#include "engine/supernet.h"
#include "kernels/postprocess.h"
#include "kernels/preprocess.h"

namespace slimserve {
namespace {

using slimserve::v1::ModelSpec;

absl::Status ValidateOptions(const Engine::Options& o) {
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

}  // namespace

class Engine::Impl {
 public:
  Impl(const Options& options, ModelSpec spec, Supernet net,
       std::unique_ptr<Planner> planner)
      : options_(options),
        spec_(std::move(spec)),
        costs_(ComputeCostTable(spec_)),
        net_(std::move(net)),
        planner_(std::move(planner)) {}

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
        RunBatch(net_, {&item});
      }
    }
  }

  absl::StatusOr<Plan> MakePlan(const PlanRequest& request) const {
    return PlanWith(*planner_, spec_, costs_, request);
  }

  absl::Status Submit(InferRequest request, InferDone done) {
    SLIM_ASSIGN_OR_RETURN(Plan plan, MakePlan(request.plan_request));
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
    Job job{std::move(request), std::move(plan), std::move(done), absl::Now()};
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError("the server is shutting down");
    }
    if (static_cast<int>(queue_.size()) >= options_.max_queue_size) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the request queue is full (", options_.max_queue_size,
          " requests); retry later"));
    }
    queue_.push_back(std::move(job));
    ++in_flight_;
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

 private:
  struct Job {
    InferRequest request;
    Plan plan;
    InferDone done;
    absl::Time enqueued;
  };

  void WorkerLoop() {
    c10::InferenceMode guard;
    while (true) {
      Job job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Impl* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
              return self->stopping_ || !self->queue_.empty();
            },
            this));
        if (queue_.empty()) return;  // stopping and drained
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      absl::StatusOr<InferResult> result = Run(job);
      job.done(std::move(result));
      absl::MutexLock lock(&mu_);
      --in_flight_;
    }
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

  absl::StatusOr<InferResult> Run(Job& job) {
    InferResult result;
    absl::Time t0 = absl::Now();
    result.timings.queue = t0 - job.enqueued;
    SLIM_RETURN_IF_ERROR(CheckStillWanted(job.request, "preprocessing"));

    // Decode, resize, normalise.
    const ImageInput& image = job.request.image;
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
    absl::Time t1 = absl::Now();
    result.timings.preprocess = t1 - t0;
    SLIM_RETURN_IF_ERROR(CheckStillWanted(job.request, "compute"));

    ExecutorItem item;
    item.input = input;
    item.plan = &job.plan;
    try {
      RunBatch(net_, {&item});
    } catch (const std::exception& e) {
      std::string what = e.what();
      SLIM_LOG(ERROR) << "request " << job.request.id
                      << ": model execution failed: " << what;
      return absl::InternalError(absl::StrCat(
          "model execution failed: ", what.substr(0, what.find('\n'))));
    }
    absl::Time t2 = absl::Now();
    result.timings.compute = t2 - t1;

    for (size_t i = 0; i < job.plan.tasks.size(); ++i) {
      SLIM_ASSIGN_OR_RETURN(
          TaskOutput out,
          EncodeOutput(job.request, job.plan.tasks[i], item.outputs[i]));
      result.outputs.push_back(std::move(out));
    }
    result.timings.postprocess = absl::Now() - t2;
    result.plan = std::move(job.plan);
    return result;
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
  const ModelSpec spec_;
  const CostTable costs_;
  // Read-only in eval mode: executor threads share it.
  Supernet net_;
  const std::unique_ptr<Planner> planner_;
  std::vector<std::thread> threads_;  // started in Start(), joined once

  mutable absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  // Accepted and not yet answered (queued + running).
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
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

  Supernet net(spec);
  SLIM_RETURN_IF_ERROR(LoadSupernet(net, WeightsPath(options.model_dir, spec)));
  net->eval();
  auto impl = std::make_unique<Impl>(options, std::move(spec), std::move(net),
                                     CreateWidestFitPlanner());
  if (options.warmup) {
    const absl::Time start = absl::Now();
    impl->Warmup();
    SLIM_LOG(INFO) << "warm-up of " << impl->spec().encoder_widths_size()
                   << " encoder widths took "
                   << absl::FormatDuration(absl::Now() - start);
  }
  impl->Start();
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() { Shutdown(); }

const ModelSpec& Engine::spec() const { return impl_->spec(); }
const CostTable& Engine::costs() const { return impl_->costs(); }

absl::StatusOr<Plan> Engine::MakePlan(const PlanRequest& request) const {
  return impl_->MakePlan(request);
}

absl::Status Engine::Submit(InferRequest request, InferDone done) {
  return impl_->Submit(std::move(request), std::move(done));
}

void Engine::Shutdown() { impl_->Shutdown(); }
int Engine::InFlight() const { return impl_->InFlight(); }

}  // namespace slimserve
