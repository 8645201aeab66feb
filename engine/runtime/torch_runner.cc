#include "engine/runtime/torch_runner.h"

#include <algorithm>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/cpus.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "engine/model/spec.h"
#include "engine/runtime/executor.h"
#include "engine/runtime/inference_net.h"
#include "engine/runtime/latency_profiler.h"
#include "engine/runtime/supernet.h"
#include "engine/runtime/torch_status.h"
#ifdef SLIMSERVE_WITH_CUDA
#include "engine/runtime/cuda_executor.h"
#endif

namespace slimserve {
namespace {

// The torch::Device for `device`, checked against what this LibTorch can
// run.
absl::StatusOr<torch::Device> TorchDevice(const Device& device) {
  if (device.kind == Device::Kind::kCpu) return torch::Device(torch::kCPU);
  const std::string name = DeviceName(device);
  if (!torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Engine::Options.network.device: ", name,
        ": this LibTorch has no usable CUDA device (Debian's LibTorch is "
        "CPU-only; build with --config=cuda against a CUDA LibTorch)"));
  }
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (device.index >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("Engine::Options.network.device: ", name, ": only ",
                     count, " CUDA device(s) visible"));
  }
  return torch::Device(torch::kCUDA,
                       static_cast<c10::DeviceIndex>(std::max(0, device.index)));
}

// The CPU's model name (/proc/cpuinfo) and core count: latency measured on
// one machine type is not reused on another.
std::string CpuDescription() {
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

// How batches run: RunBatch on the CPU; on CUDA, the CUDA executor (streams,
// pinned buffers, graphs) where this LibTorch has CUDA.
class BatchRunner {
 public:
  static absl::StatusOr<BatchRunner> Create(const InferenceNet& net,
                                            const NetworkOptions& options) {
    BatchRunner runner;
#ifdef SLIMSERVE_WITH_CUDA
    if (net.device().is_cuda()) {
      CudaExecutorOptions cuda;
      cuda.use_graphs = options.cuda_graphs;
      cuda.max_graphs = options.max_cuda_graphs;
      SLIM_ASSIGN_OR_RETURN(auto executor, CudaExecutor::Create(net, cuda));
      runner.cuda_ = std::move(executor);
      runner.preprocess_on_device_ = options.cuda_preprocess;
      runner.finish_on_device_ = options.cuda_postprocess;
    }
#else
    (void)net;
    (void)options;
#endif
    return runner;
  }

  // Whether batches take decoded images (the CUDA executor pre-processes).
  bool PreprocessesOnDevice() const { return preprocess_on_device_; }
  // Whether it post-processes on the GPU (ExecutorItem::finish).
  bool FinishesOnDevice() const { return finish_on_device_; }

  void Run(const InferenceNet& net, const std::vector<ExecutorItem*>& items) const {
#ifdef SLIMSERVE_WITH_CUDA
    if (cuda_ != nullptr) return cuda_->Run(items);
#endif
    RunBatch(net, items);
  }

  // The latency of what Run runs: on CUDA the executor's graph replays
  // (or eager passes), not plain eager passes.
  LatencyTable MeasureLatency(const InferenceNet& net, int batch_size,
                              int repetitions) const {
#ifdef SLIMSERVE_WITH_CUDA
    if (cuda_ != nullptr) return cuda_->MeasureLatency(batch_size, repetitions);
#endif
    return slimserve::MeasureLatency(net, batch_size, repetitions);
  }

 private:
  bool preprocess_on_device_ = false;
  bool finish_on_device_ = false;
#ifdef SLIMSERVE_WITH_CUDA
  std::shared_ptr<CudaExecutor> cuda_;
#endif
};

class TorchModelRunner final : public ModelRunner {
 public:
  TorchModelRunner(std::unique_ptr<const InferenceNet> net, BatchRunner batches)
      : net_(std::move(net)), batches_(std::move(batches)) {}

  absl::Status Run(absl::Span<RunRow* const> rows) override {
    return CatchTorch("model execution failed", [&]() -> absl::Status {
      c10::InferenceMode guard;
      const auto& input = net_->spec().input();
      std::vector<ExecutorItem> items(rows.size());
      std::vector<ExecutorItem*> ptrs;
      for (size_t i = 0; i < rows.size(); ++i) {
        const RunRow& row = *rows[i];
        // Borrowed: RunBatch stacks the inputs into one tensor (a copy).
        if (row.input != nullptr) {
          items[i].input = torch::from_blob(
              const_cast<float*>(row.input),
              {3, input.height(), input.width()}, torch::kFloat);
        } else {
          items[i].image = row.image;  // PreprocessesOnDevice()
        }
        items[i].encoder_width = row.encoder_width;
        items[i].tasks = row.tasks;
        items[i].decoder_widths = row.decoder_widths;
        items[i].finish = row.finish;  // FinishesOnDevice()
        ptrs.push_back(&items[i]);
      }
      batches_.Run(*net_, ptrs);
      for (size_t i = 0; i < rows.size(); ++i) {
        RunRow& row = *rows[i];
        row.outputs.clear();
        for (size_t k = 0; k < items[i].outputs.size(); ++k) {
          auto held =
              std::make_shared<torch::Tensor>(items[i].outputs[k].contiguous());
          OutputTensor out;
          if (!row.finish.empty()) {
            // Finished samples (FinishSamples' bytes) at the row's size.
            out.channels = TaskOutputChannels(net_->spec().tasks(row.tasks[k]));
            out.height = row.finish[k].height;
            out.width = row.finish[k].width;
            out.samples = held->data_ptr();
            out.samples_size = static_cast<int64_t>(held->nbytes());
          } else {
            out.channels = held->size(0);
            out.height = held->size(1);
            out.width = held->size(2);
            out.data = held->data_ptr<float>();
          }
          out.owner = std::move(held);
          row.outputs.push_back(std::move(out));
        }
      }
      return absl::OkStatus();
    });
  }

  absl::Status Warmup() override {
    return CatchTorch("warm-up failed", [&]() -> absl::Status {
      c10::InferenceMode guard;
      const auto& spec = net_->spec();
      const torch::Tensor input =
          torch::zeros({3, spec.input().height(), spec.input().width()});
      for (int we = 0; we < spec.encoder_widths_size(); ++we) {
        for (int wd : {0, spec.decoder_widths_size() - 1}) {
          ExecutorItem item;
          item.input = input;
          item.encoder_width = we;
          for (int t = 0; t < spec.tasks_size(); ++t) {
            item.tasks.push_back(t);
            item.decoder_widths.push_back(wd);
          }
          batches_.Run(*net_, {&item});
        }
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<LatencyTable> MeasureLatency(int batch_size,
                                              int repetitions) override {
    return CatchTorch("latency measurement failed",
                      [&]() -> absl::StatusOr<LatencyTable> {
                        return batches_.MeasureLatency(*net_, batch_size,
                                                       repetitions);
                      });
  }

  bool PreprocessesOnDevice() const override {
    return batches_.PreprocessesOnDevice();
  }
  bool FinishesOnDevice() const override { return batches_.FinishesOnDevice(); }

  std::string Describe() const override { return net_->Describe(); }

  std::string DeviceKey() const override {
    const torch::Device& device = net_->device();
    return absl::StrCat(device.is_cuda() ? device.str() : CpuDescription(),
                        " threads=", at::get_num_threads());
  }

  int64_t weight_bytes() const override { return net_->weight_bytes(); }

 private:
  // Read-only: executor threads share it (InferenceNet is thread-safe).
  const std::unique_ptr<const InferenceNet> net_;
  const BatchRunner batches_;  // thread-safe
};

}  // namespace

absl::StatusOr<std::unique_ptr<ModelRunner>> CreateTorchRunner(
    const slimserve::v1::ModelSpec& spec, const std::string& weights_path,
    const NetworkOptions& options) {
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.network.num_threads: must be >= 0, got ",
        options.num_threads));
  }
  if (options.max_cuda_graphs < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::Options.network.max_cuda_graphs: must be >= 1, got ",
        options.max_cuda_graphs));
  }
  return CatchTorch(
      "loading the network failed",
      [&]() -> absl::StatusOr<std::unique_ptr<ModelRunner>> {
        const int threads =
            options.num_threads > 0
                ? options.num_threads
                : UsableCpus();
        at::set_num_threads(std::max(1, threads));
        SLIM_ASSIGN_OR_RETURN(const torch::Device device,
                              TorchDevice(options.device));
        InferenceOptions inference;
        inference.weights = options.weights;
        inference.dtype = ScalarTypeOf(options.precision);
        inference.channels_last = options.channels_last;
        inference.xnnpack_max_macs = options.xnnpack_max_macs;
        inference.fuse_decoders = options.fuse_decoders;
        Supernet supernet(spec);
        SLIM_RETURN_IF_ERROR(LoadSupernet(supernet, weights_path));
        supernet->eval();
        supernet->to(device);  // once: the weights stay resident
        absl::StatusOr<std::unique_ptr<InferenceNet>> net =
            InferenceNet::Create(std::move(supernet), inference);
        if (!net.ok()) {
          return absl::Status(
              net.status().code(),
              absl::StrCat("Engine::Options.network: ", net.status().message()));
        }
        SLIM_LOG(INFO) << "network: " << (*net)->Describe() << " on "
                       << device.str() << ", "
                       << absl::StrFormat("%.1f MB",
                                          (*net)->weight_bytes() / 1e6)
                       << " of weights";
        SLIM_ASSIGN_OR_RETURN(BatchRunner batches,
                              BatchRunner::Create(**net, options));
        return std::unique_ptr<ModelRunner>(
            new TorchModelRunner(*std::move(net), std::move(batches)));
      });
}

}  // namespace slimserve
