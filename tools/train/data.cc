#include "tools/train/data.h"

#include <cstring>
#include <vector>

#include "kernels/preprocess.h"

namespace slimserve {
namespace train {

Batch Batch::To(const torch::Device& device) const {
  return Batch{image.to(device), semantic.to(device), depth.to(device),
               normals.to(device), edges.to(device)};
}

torch::Tensor EdgeClassWeights(const torch::Tensor& edges) {
  const torch::Tensor pos = edges.mean().clamp(1e-4, 1 - 1e-4);
  return torch::where(edges > 0.5, 0.5 / pos, 0.5 / (1 - pos));
}

Batch MakeBatch(const slimserve::v1::ModelSpec& spec,
                const datagen::SceneOptions& scene_options, uint64_t seed,
                uint64_t first_index, int size, int threads) {
  datagen::SceneOptions scene = scene_options;
  scene.height = static_cast<int>(spec.input().height());
  scene.width = static_cast<int>(spec.input().width());
  const int h = scene.height, w = scene.width;
  const int64_t hw = int64_t{h} * w;
  Batch b;
  b.image = torch::empty({size, 3, h, w});
  b.semantic = torch::empty({size, h, w}, torch::kLong);
  b.depth = torch::empty({size, 1, h, w});
  b.normals = torch::empty({size, 3, h, w});
  b.edges = torch::empty({size, 1, h, w});
  const float mean[3] = {spec.input().mean(0), spec.input().mean(1),
                         spec.input().mean(2)};
  const float stdev[3] = {spec.input().std(0), spec.input().std(1),
                          spec.input().std(2)};
  auto fill = [&](int i) {
    const datagen::Sample s = datagen::RenderSample(scene, seed, first_index + i);
    ResizeNormalizeCpu(s.rgb.data(), h, w, 3, h, w, mean, stdev,
                       b.image[i].data_ptr<float>());
    int64_t* sem = b.semantic[i].data_ptr<int64_t>();
    float* nrm = b.normals[i].data_ptr<float>();
    float* edg = b.edges[i].data_ptr<float>();
    std::memcpy(b.depth[i].data_ptr<float>(), s.depth.data(), hw * 4);
    for (int64_t p = 0; p < hw; ++p) {
      sem[p] = s.semantic[p];
      edg[p] = s.edges[p];
      for (int c = 0; c < 3; ++c) nrm[c * hw + p] = s.normals[p * 3 + c];
    }
  };
  std::vector<std::thread> pool;
  const int n = std::max(1, std::min(threads, size));
  for (int t = 0; t < n; ++t) {
    pool.emplace_back([&, t] {
      for (int i = t; i < size; i += n) fill(i);
    });
  }
  for (auto& th : pool) th.join();
  return b;
}

Prefetcher::Prefetcher(slimserve::v1::ModelSpec spec,
                       datagen::SceneOptions scene, uint64_t seed,
                       int batch_size, int threads, uint64_t first_batch)
    : spec_(std::move(spec)),
      scene_(std::move(scene)),
      seed_(seed),
      batch_size_(batch_size),
      threads_(threads),
      next_batch_(first_batch),
      thread_([this] { Loop(); }) {}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Prefetcher::Loop() {
  while (true) {
    uint64_t k;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !ready_.has_value(); });
      if (stop_) return;
      k = next_batch_++;
    }
    Batch b = MakeBatch(spec_, scene_, seed_, k * batch_size_, batch_size_,
                        threads_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_ = std::move(b);
    }
    cv_.notify_all();
  }
}

Batch Prefetcher::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return ready_.has_value(); });
  Batch b = std::move(*ready_);
  ready_.reset();
  cv_.notify_all();
  return b;
}

}  // namespace train
}  // namespace slimserve
