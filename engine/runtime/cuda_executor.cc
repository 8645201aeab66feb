#include "engine/runtime/cuda_executor.h"

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/torch.h>

#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/runtime/graph_policy.h"
#include "engine/runtime/latency_profiler.h"
#include "kernels/cuda_kernels.h"

namespace slimserve {
namespace {

// One captured pass: inputs are written before each replay, outputs are
// overwritten by each replay (read them before the next one on the lane).
struct Graph {
  at::cuda::CUDAGraph graph;
  std::vector<torch::Tensor> inputs;
  std::vector<torch::Tensor> outputs;
};

// A stream and the graphs captured on it. Used by one batch at a time.
struct Lane {
  Lane(c10::cuda::CUDAStream s, size_t capacity) : stream(s), graphs(capacity) {}
  c10::cuda::CUDAStream stream;
  LruCache<GraphKey, std::shared_ptr<Graph>> graphs;
};

using Pass = std::function<std::vector<torch::Tensor>(
    const std::vector<torch::Tensor>&)>;

torch::Tensor PinnedLike(torch::IntArrayRef sizes) {
  return torch::empty(sizes, torch::TensorOptions()
                                 .dtype(torch::kFloat)
                                 .pinned_memory(true));
}

}  // namespace

class CudaExecutor::Impl {
 public:
  Impl(const InferenceNet& net, const CudaExecutorOptions& options)
      : net_(net), o_(options) {}

  void Run(const std::vector<ExecutorItem*>& items) {
    OnALane([&](Lane& lane, CudaExecutorStats& st) {
      RunOnLane(lane, items, st);
      lane.stream.synchronize();
    });
  }

  LatencyTable MeasureLatency(int batch_size, int repetitions) {
    LatencyTable table;
    OnALane([&](Lane& lane, CudaExecutorStats& st) {
      table = MeasureOnLane(lane, batch_size, repetitions, st);
    });
    return table;
  }

  CudaExecutorStats stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  // fn(lane, stats) on a free lane, with its stream current.
  template <typename Fn>
  void OnALane(Fn&& fn) {
    c10::cuda::CUDAGuard device_guard(net_.device().index());
    Lane* lane = Acquire();
    CudaExecutorStats st;
    try {
      c10::cuda::CUDAStreamGuard stream_guard(lane->stream);
      // Shared for the whole batch; RunPass trades it for the exclusive
      // hold while it captures.
      absl::ReaderMutexLock no_capture_elsewhere(&capture_mu_);
      fn(*lane, st);
    } catch (...) {
      // Its stream may hold failed work or a broken capture: not reused.
      Release(lane, st, /*retire=*/true);
      throw;
    }
    Release(lane, st, /*retire=*/false);
  }

  LatencyTable MeasureOnLane(Lane& lane, int batch_size, int repetitions,
                             CudaExecutorStats& st) {
    c10::InferenceMode guard;
    const auto& spec = net_.spec();
    const int m = BatchFor(batch_size);
    // Image-like values (a constant input can run into denormals).
    const torch::Tensor input = torch::randn(
        {m, 3, spec.input().height(), spec.input().width()},
        torch::TensorOptions().dtype(torch::kFloat).device(net_.device()));
    const std::function<void()> sync = [&] { lane.stream.synchronize(); };
    LatencyTable table;
    table.batch_size = batch_size;
    table.decoder_ms.assign(spec.tasks_size(), {});
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      std::vector<torch::Tensor> features;
      table.encoder_ms.push_back(MedianMs(repetitions, sync, [&] {
        features = RunPass(lane, GraphKey{-1, we, -1, m}, {input},
                           EncoderPass(we), st);
      }));
      for (int t = 0; t < spec.tasks_size(); ++t) {
        std::vector<double> row;
        for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
          row.push_back(MedianMs(repetitions, sync, [&] {
            RunPass(lane, GraphKey{t, we, wd, m}, features,
                    DecoderPass(t, we, wd), st);
          }));
        }
        table.decoder_ms[t].push_back(std::move(row));
      }
    }
    return table;
  }

  // What the graphs capture: the network's encoder at width `we` on a
  // float32 input, and a decoder up to its head output.
  Pass EncoderPass(int we) const {
    return [this, we](const std::vector<torch::Tensor>& x) {
      return net_.Encode(net_.PrepareInput(x[0]), we);
    };
  }
  Pass DecoderPass(int task, int we, int wd) const {
    return [this, task, we, wd](const std::vector<torch::Tensor>& f) {
      return std::vector<torch::Tensor>{net_.DecodeHead(task, f, we, wd)};
    };
  }

  Lane* Acquire() {
    absl::MutexLock lock(&mu_);
    if (!free_.empty()) {
      Lane* lane = free_.back();
      free_.pop_back();
      return lane;
    }
    lanes_.push_back(std::make_unique<Lane>(
        c10::cuda::getStreamFromPool(/*isHighPriority=*/false,
                                     net_.device().index()),
        static_cast<size_t>(o_.max_graphs)));
    ++stats_.lanes;
    return lanes_.back().get();
  }

  void Release(Lane* lane, const CudaExecutorStats& st, bool retire) {
    absl::MutexLock lock(&mu_);
    if (retire) {
      lane->graphs = LruCache<GraphKey, std::shared_ptr<Graph>>(1);  // frees their memory
    } else {
      free_.push_back(lane);
    }
    stats_.captures += st.captures;
    stats_.replays += st.replays;
    stats_.evictions += st.evictions;
    stats_.eager_passes += st.eager_passes;
    stats_.padded_rows += st.padded_rows;
  }

  int BatchFor(int n) const {
    return o_.use_graphs ? PaddedBatchSize(n, o_.graph_batch_sizes, o_.max_padding)
                         : n;
  }

  // `pass` on `inputs`: eager, or by replaying the lane's graph for `key`
  // (captured first if it has none).
  std::vector<torch::Tensor> RunPass(Lane& lane, const GraphKey& key,
                                     const std::vector<torch::Tensor>& inputs,
                                     const Pass& pass, CudaExecutorStats& st) {
    if (!o_.use_graphs) {
      ++st.eager_passes;
      return pass(inputs);
    }
    std::shared_ptr<Graph> g;
    if (std::shared_ptr<Graph>* found = lane.graphs.Find(key)) {
      g = *found;
      for (size_t i = 0; i < inputs.size(); ++i) {
        g->inputs[i].copy_(inputs[i], /*non_blocking=*/true);
      }
    } else {
      g = std::make_shared<Graph>();
      for (const auto& x : inputs) g->inputs.push_back(x.clone());
      // Outside the capture: cuDNN picks its algorithms and workspaces
      // are allocated; the capture then records only kernel launches.
      pass(g->inputs);
      // Capturing forbids unsafe CUDA calls (cudaMalloc) on other threads
      // in LibTorch's default (global) capture mode: every batch holds
      // capture_mu_ shared, a capture exclusively (once per key and lane).
      capture_mu_.ReaderUnlock();
      capture_mu_.WriterLock();
      try {
        g->graph.capture_begin();
        g->outputs = pass(g->inputs);
        g->graph.capture_end();
      } catch (...) {
        // End the capture so the stream leaves capture mode; the lane is
        // retired anyway (Run).
        try {
          g->graph.capture_end();
        } catch (...) {
        }
        capture_mu_.WriterUnlock();
        capture_mu_.ReaderLock();
        throw;
      }
      capture_mu_.WriterUnlock();
      capture_mu_.ReaderLock();
      ++st.captures;
      st.evictions += lane.graphs.Put(key, g);
    }
    g->graph.replay();
    ++st.replays;
    return g->outputs;
  }

  // Rows' float32 inputs stacked in pinned memory and uploaded; rows n..m
  // are zero padding.
  torch::Tensor UploadInputs(const std::vector<ExecutorItem*>& rows, int m) {
    const auto& in = net_.spec().input();
    const int n = static_cast<int>(rows.size());
    torch::Tensor host = PinnedLike({m, 3, in.height(), in.width()});
    for (int r = 0; r < n; ++r) {
      if (!rows[r]->input.defined()) {
        throw std::invalid_argument("CudaExecutor: a batch mixes images and inputs");
      }
      host[r].copy_(rows[r]->input);
    }
    if (m > n) host.narrow(0, n, m - n).zero_();
    return host.to(net_.device(), /*non_blocking=*/true);
  }

  // Rows' decoded images uploaded as uint8 (one pinned buffer, one copy),
  // resized and normalised on the GPU into the batch's float32 input.
  torch::Tensor PreprocessOnDevice(Lane& lane,
                                   const std::vector<ExecutorItem*>& rows,
                                   int m) {
    const auto& in = net_.spec().input();
    const int n = static_cast<int>(rows.size());
    std::vector<int64_t> offsets(n + 1, 0);
    for (int r = 0; r < n; ++r) {
      const SourceImage& im = rows[r]->image;
      if (rows[r]->input.defined() || im.pixels == nullptr) {
        throw std::invalid_argument("CudaExecutor: a batch mixes images and inputs");
      }
      offsets[r + 1] = offsets[r] + int64_t{im.height} * im.width * im.channels;
    }
    torch::Tensor host = torch::empty(
        {offsets[n]},
        torch::TensorOptions().dtype(torch::kByte).pinned_memory(true));
    uint8_t* dst = host.data_ptr<uint8_t>();
    for (int r = 0; r < n; ++r) {
      std::memcpy(dst + offsets[r], rows[r]->image.pixels,
                  offsets[r + 1] - offsets[r]);
    }
    const torch::Tensor pixels = host.to(net_.device(), /*non_blocking=*/true);
    std::vector<SourceImage> images(n);
    for (int r = 0; r < n; ++r) {
      images[r] = rows[r]->image;
      images[r].pixels = pixels.data_ptr<uint8_t>() + offsets[r];
    }
    PreprocessParams params;
    params.dst_h = in.height();
    params.dst_w = in.width();
    for (int c = 0; c < 3; ++c) {
      params.mean[c] = in.mean(c);
      params.std[c] = in.std(c);
    }
    torch::Tensor input = torch::empty(
        {m, 3, in.height(), in.width()},
        torch::TensorOptions().dtype(torch::kFloat).device(net_.device()));
    Check(PreprocessBatchCuda(images.data(), n, params, input.data_ptr(),
                              lane.stream.stream()),
          "PreprocessBatchCuda");
    if (m > n) input.narrow(0, n, m - n).zero_();
    return input;
  }

  void RunOnLane(Lane& lane, const std::vector<ExecutorItem*>& items,
                 CudaExecutorStats& st) {
    const auto by_encoder = ByEncoderWidth(items);
    const torch::Device device = net_.device();
    for (const auto& [we, rows] : by_encoder) {
      const int n = static_cast<int>(rows.size());
      const int m = BatchFor(n);
      st.padded_rows += m - n;
      const torch::Tensor input = rows[0]->input.defined()
                                      ? UploadInputs(rows, m)
                                      : PreprocessOnDevice(lane, rows, m);
      const std::vector<torch::Tensor> features =
          RunPass(lane, GraphKey{-1, we, -1, m}, {input}, EncoderPass(we), st);

      for (const auto& [key, members] : DecoderGroups(rows)) {
        const auto [task, wd] = key;
        const int k = static_cast<int>(members.size());
        std::vector<torch::Tensor> sub = features;
        int mk = m;
        if (k != n) {
          mk = BatchFor(k);
          st.padded_rows += mk - k;
          // Padding rows repeat the first member: real data, no allocation.
          std::vector<int64_t> index;
          for (const auto& mem : members) index.push_back(mem.first);
          index.resize(mk, members[0].first);
          const torch::Tensor idx =
              torch::tensor(index, torch::kLong).to(device, /*non_blocking=*/true);
          for (auto& f : sub) f = f.index_select(0, idx);
        }
        const std::vector<torch::Tensor> head = RunPass(
            lane, GraphKey{task, we, wd, mk}, sub, DecoderPass(task, we, wd), st);
        // Graph outputs are overwritten by the lane's next replay: copy
        // them out (or finish them) now, on the same stream, into pinned
        // memory.
        const torch::Tensor& out = head[0];
        // Members by what they want: raw head outputs, or finished samples
        // per (format, output size).
        std::vector<int64_t> raw;
        std::map<FinishSpec, std::vector<int64_t>> finished;
        for (int i = 0; i < k; ++i) {
          const ExecutorItem& row = *rows[members[i].first];
          if (row.finish.empty()) {
            raw.push_back(i);
          } else {
            const FinishSpec& f = row.finish.at(members[i].second);
            finished[f].push_back(i);
          }
        }
        const auto place = [&](const std::vector<int64_t>& which,
                               const torch::Tensor& device_rows) {
          torch::Tensor host = torch::empty(
              device_rows.sizes(),
              device_rows.options().device(torch::kCPU).pinned_memory(true));
          host.copy_(device_rows, /*non_blocking=*/true);
          for (size_t j = 0; j < which.size(); ++j) {
            const auto& mem = members[which[j]];
            rows[mem.first]->outputs[mem.second] = host[j];
          }
        };
        if (!raw.empty()) place(raw, Rows(out, raw, k));
        for (const auto& [f, which] : finished) {
          place(which, FinishOnDevice(lane, task, f, Rows(out, which, k)));
        }
      }
    }
  }

  // Rows `which` of `out` (its first k are real).
  static torch::Tensor Rows(const torch::Tensor& out,
                            const std::vector<int64_t>& which, int k) {
    if (static_cast<int>(which.size()) == k) return out.narrow(0, 0, k);
    const torch::Tensor idx = torch::tensor(which, torch::kLong)
                                  .to(out.device(), /*non_blocking=*/true);
    return out.index_select(0, idx);
  }

  static void Check(const CudaStatus& st, const char* kernel) {
    if (!st.ok()) {
      throw std::runtime_error(absl::StrCat(kernel, " failed: ", st.message));
    }
  }

  // FinishSamples (engine/stages/postprocess.h) on the GPU for head outputs
  // [n, C, h, w] of one task: the same resize and quantisation kernels as
  // the host's (kernels/cuda_kernels.h, bit-identical), the RAW
  // activations in ATen (SupernetImpl::Activate's ops, to float rounding).
  // Returns [n, bytes of one row's samples] of the samples' element type.
  torch::Tensor FinishOnDevice(Lane& lane, int task, const FinishSpec& f,
                               const torch::Tensor& heads) {
    const torch::Tensor head = heads.to(torch::kFloat).contiguous();
    const int n = static_cast<int>(head.size(0));
    const int c = static_cast<int>(head.size(1));
    const int h = static_cast<int>(head.size(2));
    const int w = static_cast<int>(head.size(3));
    const int64_t pixels = int64_t{f.height} * f.width;
    void* stream = lane.stream.stream();
    const auto kind = net_.spec().tasks(task).kind();
    const torch::TensorOptions bytes =
        head.options().dtype(torch::kByte);
    if (f.png && kind == slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION) {
      torch::Tensor ids = torch::empty({n, pixels}, bytes);
      Check(SegmentationArgmaxResizeCuda(head.data_ptr(), ScalarType::kFloat32,
                                         n, c, h, w, f.height, f.width,
                                         ids.data_ptr<uint8_t>(), stream),
            "SegmentationArgmaxResizeCuda");
      return ids;
    }
    torch::Tensor values = torch::empty({n, c, f.height, f.width}, head.options());
    Check(ResizeBilinearCuda(head.data_ptr(), ScalarType::kFloat32, n, c, h, w,
                             f.height, f.width, values.data_ptr<float>(),
                             stream),
          "ResizeBilinearCuda");
    switch (kind) {
      case slimserve::v1::TASK_KIND_DEPTH: {
        values = torch::softplus(values, /*beta=*/1, /*threshold=*/20);
        if (!f.png) break;
        // uint16 millimetres, held in an int16 tensor (same bytes).
        torch::Tensor mm = torch::empty({n, pixels}, head.options().dtype(torch::kShort));
        Check(DepthToMillimetresCuda(values.data_ptr(), ScalarType::kFloat32,
                                     n * pixels,
                                     reinterpret_cast<uint16_t*>(mm.data_ptr()),
                                     stream),
              "DepthToMillimetresCuda");
        return mm;
      }
      case slimserve::v1::TASK_KIND_SURFACE_NORMALS: {
        if (f.png) {
          torch::Tensor rgb = torch::empty({n, pixels * 3}, bytes);
          Check(NormalsToRgbCuda(values.data_ptr(), ScalarType::kFloat32, n,
                                 f.height, f.width, rgb.data_ptr<uint8_t>(),
                                 stream),
                "NormalsToRgbCuda");
          return rgb;
        }
        // x / sqrt(max(|x|^2, 1e-24)), as Activate.
        values = values / values.pow(2).sum(1, /*keepdim=*/true)
                              .clamp_min(1e-24).sqrt();
        break;
      }
      case slimserve::v1::TASK_KIND_EDGES: {
        if (f.png) {
          torch::Tensor u8 = torch::empty({n, pixels * c}, bytes);
          Check(EdgeLogitsToU8Cuda(values.data_ptr(), ScalarType::kFloat32,
                                   int64_t{n} * c * pixels,
                                   u8.data_ptr<uint8_t>(), stream),
                "EdgeLogitsToU8Cuda");
          return u8;
        }
        values = values.sigmoid();
        break;
      }
      default:  // segmentation logits stay logits
        break;
    }
    return values.reshape({n, -1});
  }

  const InferenceNet& net_;
  const CudaExecutorOptions o_;
  absl::Mutex capture_mu_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Lane>> lanes_ ABSL_GUARDED_BY(mu_);
  std::vector<Lane*> free_ ABSL_GUARDED_BY(mu_);
  CudaExecutorStats stats_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<CudaExecutor>> CudaExecutor::Create(
    const InferenceNet& net, const CudaExecutorOptions& options) {
  if (!net.device().is_cuda()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CudaExecutor: the network is on ", net.device().str(), ", not CUDA"));
  }
  if (options.max_graphs < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_cuda_graphs: must be >= 1, got ", options.max_graphs));
  }
  if (!(options.max_padding >= 0 && options.max_padding < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda_graph_max_padding: must be in [0, 1), got ", options.max_padding));
  }
  for (size_t i = 0; i < options.graph_batch_sizes.size(); ++i) {
    const int s = options.graph_batch_sizes[i];
    if (s < 1 || (i > 0 && s <= options.graph_batch_sizes[i - 1])) {
      return absl::InvalidArgumentError(
          "cuda_graph_batch_sizes: must be ascending and >= 1");
    }
  }
  return std::unique_ptr<CudaExecutor>(
      new CudaExecutor(std::make_unique<Impl>(net, options)));
}

CudaExecutor::CudaExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaExecutor::~CudaExecutor() = default;

void CudaExecutor::Run(const std::vector<ExecutorItem*>& items) {
  impl_->Run(items);
}

LatencyTable CudaExecutor::MeasureLatency(int batch_size, int repetitions) {
  return impl_->MeasureLatency(batch_size, repetitions);
}

CudaExecutorStats CudaExecutor::stats() const { return impl_->stats(); }

}  // namespace slimserve
