#ifndef SLIMSERVE_TOOLS_TRAIN_DATA_H_
#define SLIMSERVE_TOOLS_TRAIN_DATA_H_

// Batches of procedural scenes as tensors, generated on the fly.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>

#include <torch/torch.h>

#include "slimserve/v1/model_spec.pb.h"
#include "tools/datagen/scene.h"

namespace slimserve {
namespace train {

struct Batch {
  torch::Tensor image;     // [B, 3, H, W] float, normalised as the server does
  torch::Tensor semantic;  // [B, H, W] int64 class ids
  torch::Tensor depth;     // [B, 1, H, W] metres
  torch::Tensor normals;   // [B, 3, H, W] unit, camera frame
  torch::Tensor edges;     // [B, 1, H, W] 0/1 float
  Batch To(const torch::Device& device) const;
};

// Renders samples first_index .. first_index + size - 1 of stream `seed` at
// the spec's input size, on `threads` threads. The image goes through the
// same pre-processing kernel as requests to the server.
Batch MakeBatch(const slimserve::v1::ModelSpec& spec,
                const datagen::SceneOptions& scene, uint64_t seed,
                uint64_t first_index, int size, int threads);

// Per-pixel weights of HED's class-balanced binary cross-entropy for 0/1
// edge targets: positives and negatives carry equal total weight. The
// trainer's edge loss and the evaluator's held-out loss share them.
torch::Tensor EdgeClassWeights(const torch::Tensor& edges);

// Renders the next batch on a background thread while the current one trains.
// Batch k holds samples k*size .. (k+1)*size-1 of stream `seed`.
class Prefetcher {
 public:
  Prefetcher(slimserve::v1::ModelSpec spec, datagen::SceneOptions scene,
             uint64_t seed, int batch_size, int threads, uint64_t first_batch);
  ~Prefetcher();
  Batch Next();

 private:
  void Loop();

  const slimserve::v1::ModelSpec spec_;
  const datagen::SceneOptions scene_;
  const uint64_t seed_;
  const int batch_size_;
  const int threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Batch> ready_;  // guarded by mu_
  uint64_t next_batch_;         // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  std::thread thread_;
};

}  // namespace train
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_TRAIN_DATA_H_
