#ifndef SLIMSERVE_ENGINE_ENGINE_H_
#define SLIMSERVE_ENGINE_ENGINE_H_

// The public interface of the slimserve engine: one multi-task slimmable
// supernet, the admission controller that turns a budget into its widths,
// and the pipeline that serves requests. No gRPC here (server/ converts the
// wire types), and nothing of the engine's insides: the value types are in
// engine/types.h, everything else is behind Engine::Impl.
//
// A request's path (engine/BUILD names the rooms):
//   Submit          validation, admission (engine/planning)       caller's thread
//   pre-processing  decode, resize, normalise (engine/stages)     stage pool
//   queue, batch    per encoder width (engine/batching)           executor
//   network         one encoder pass, decoders per sub-batch      executor
//                   (engine/runtime)
//   post-processing RAW or PNG per task (engine/stages)           stage pool
//   done            the caller's callback                         stage pool
//
// Thread-safety: every method of Engine may be called from any thread.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "engine/types.h"

namespace slimserve {

class Engine {
 public:
  struct Options {
    // ---- The model.
    // Model package directory: spec.textproto, weights, optionally
    // profile.textproto. Required.
    std::string model_dir;

    // ---- How the network runs (engine/types.h documents each field).
    NetworkOptions network;
    // Run every encoder width once before Create returns, so that the first
    // request does not pay for lazy initialisation.
    bool warmup = true;

    // ---- Admission (engine/planning/planner.h). The default has the better
    // controllability on the shipped model (models/default/README.md).
    PlannerKind planner = PlannerKind::kNormalized;

    // ---- Scheduling (engine/batching; tuning guide
    // engine/batching/BATCHING.md).
    struct Batching {
      // Threads running batches on the network, in [0, 64]. 0: on the CPU
      // one per core / network.num_threads (one per core when that is 0
      // too: on small batches, batches side by side on one thread each
      // beat one batch at a time on every core, whose OpenMP barriers
      // stall whenever decoding or encoding takes a core;
      // tests/benchmarks/README.md measures it); on CUDA 1.
      int num_executor_threads = 0;
      // Requests admitted and not yet computing (being pre-processed or
      // queued) beyond this are refused with RESOURCE_EXHAUSTED. >= 1.
      int max_queue_size = 256;
      // Requests that chose the same encoder width run together, up to
      // max_batch_size (>= 1), waiting at most max_queue_delay (>= 0) for the
      // batch to fill (less when a deadline needs it).
      int max_batch_size = 8;
      absl::Duration max_queue_delay = absl::Milliseconds(2);
      // Wait for a batch to fill only while requests of its encoder width
      // are being pre-processed (on their way); a request with none behind
      // it runs as soon as an executor is free. Off: always wait up to
      // max_queue_delay.
      bool adaptive_queue_delay = true;
      // A request without a deadline is scheduled as if due this long after
      // it was queued, so that no encoder width starves. > 0.
      absl::Duration starvation_limit = absl::Milliseconds(200);
      // Admission scales a request's predicted wait by this quantile (1:
      // the largest) of waited / predicted of the last wait_scale_window
      // requests with deadlines (engine/batching/wait_scale.h): what the
      // estimates miss under load (the stages and the network sharing
      // cores) becomes a refusal at admission instead of an expiry in the
      // queue. In [0, 1]; 0: off. wait_scale_window >= 1.
      double wait_scale_quantile = 1.0;
      int wait_scale_window = 256;
    };
    Batching batching;

    // ---- Pre- and post-processing (engine/stages).
    struct Stages {
      // Threads decoding and encoding images; 0: one per usable core
      // (base/cpus.h).
      int num_threads = 0;
      // Largest accepted image, in pixels (decompression-bomb guard), in
      // [1, 2^30].
      int64_t max_image_pixels = 64LL * 1024 * 1024;
      // Largest outputs a request may ask for (OutputSize::kInput makes them
      // as large as its image), in bytes before PNG compression; >= 1. The
      // default leaves room below Server::Options' 64 MiB response limit.
      int64_t max_output_bytes = 48LL << 20;
      // zlib level of PNG outputs, 0-9 for every task kind; -1 chooses per
      // kind by measurement (engine/stages/postprocess.h, PngLevelFor):
      // deflate for 8-bit maps, stored for 16-bit depth and RGB normals.
      int png_compression_level = -1;
    };
    Stages stages;

    // ---- Latency measured at start-up (engine/model/latency_table.h).
    struct Latency {
      // Time every configuration so that millisecond budgets work,
      // deadlines degrade plans before they are missed, and the scheduler
      // predicts the compute of the batches it forms. Off: millisecond
      // budgets are UNIMPLEMENTED and the scheduler learns batch cost from
      // the batches it runs.
      bool measure = true;
      // Median of this many timed runs per entry (after one warm-up), >= 1.
      int repetitions = 3;
      // Batch sizes to time every configuration at; the scheduler's linear
      // batch-cost model is fitted to them. Empty: {1, max_batch_size}.
      // Must start at 1, ascending, each <= 256. Cost: about (1 +
      // repetitions) x the sum of the sizes x one pass of every
      // configuration (0.64 s at batch 1 for the default model on 2 cores).
      std::vector<int> batch_sizes;
      // Optional file caching the measurement per model, device, threads
      // and batch sizes: read at start-up when it matches, otherwise
      // measured and (re)written. Empty: always measure, never write.
      std::string cache;
    };
    Latency latency;

    // Typically only overridden by test code (base/fake_clock.h). Borrowed:
    // must outlive the engine.
    Clock* clock = RealClock();
  };

  // Loads and checks the model package, builds the LibTorch network on the
  // device, warms it up and measures it (Options), and starts the threads.
  // Errors name the option, file or field that is wrong. Defined with the
  // LibTorch runner (//engine:engine_torch); tests of the engine without
  // LibTorch build one around a fake (engine/engine_core.h).
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const Options& options);

  // Shutdown().
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Tasks, widths, costs, quality and latency tables, planner, network.
  const ModelInfo& model_info() const;

  // The plan a request with these budget and weights gets on an idle server;
  // INVALID_ARGUMENT for bad weights or budget or unknown tasks,
  // OUT_OF_RANGE for a budget below the cheapest configuration (the message
  // gives the smallest budget that would be accepted), UNIMPLEMENTED for
  // millisecond budgets without a latency table. Submit() plans the same
  // way, then degrades the plan when the load would make it miss its
  // deadline.
  absl::StatusOr<ArchPlan> PlanFor(const PlanRequest& request) const;

  // Checks what can be checked without decoding (image shape, output
  // formats, tasks, weights, budget), admits the request and queues it for
  // pre-processing; never blocks on compute. On OK, `done` is called exactly
  // once, on an engine thread, with the outputs or an error
  // (INVALID_ARGUMENT for an undecodable image, DEADLINE_EXCEEDED, CANCELLED,
  // INTERNAL when the network failed on its batch). On error, `done` is never
  // called: UNAVAILABLE after Shutdown(); RESOURCE_EXHAUSTED when the queue
  // is full or no configuration can meet the deadline behind the current
  // load (DEADLINE_EXCEEDED when none could even on an idle server); the
  // validation and planning errors of PlanFor.
  absl::Status Submit(InferRequest request, InferDone done);

  // Stops accepting, lets every accepted request finish (batching windows
  // end at once), joins the threads. Idempotent. Must not be called from a
  // `done` callback (it waits for every callback to return).
  void Shutdown();

  // Requests accepted and not yet answered.
  int InFlight() const;

  // Blocks until InFlight() == n (a request counts as answered just after
  // its `done` callback returns). For tests and drains that must know the
  // engine let go of every request, without polling.
  void AwaitInFlight(int n) const;

  // Implementation details follow. API users need not read.
  class Impl;  // engine/engine.cc
  // Used by the factories (engine/engine_core.h); Impl is not visible
  // outside the engine.
  explicit Engine(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_ENGINE_H_
