#ifndef SLIMSERVE_ENGINE_STAGES_STAGE_POOL_H_
#define SLIMSERVE_ENGINE_STAGES_STAGE_POOL_H_

// The threads that run pre- and post-processing: off the gRPC threads (a
// Submit only queues a job) and off the executor (which runs the network
// only), in parallel across requests.
//
// Order: finishing work first (post-processing: its request has had its
// compute, and waits only for this), then starting work (pre-processing).
// Within each, in order of estimated completion, the time a job was
// submitted plus its estimated cost; ties in submission order. So a small
// image submitted just after a few large ones is decoded before them (their
// estimated completions are later), while a large job is never passed by
// jobs submitted after its own estimated completion, so it cannot starve.
// With more than one thread, a large job also holds only one of them. A
// FIFO queue would make every request wait for every large image ahead of
// it, and a finished request wait for the decodes of those behind it.
//
// Shutdown runs every queued job, then joins the threads.
//
// Thread-safety: every method may be called from any thread.

#include <cstdint>
#include <memory>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"

namespace slimserve {

class StagePool {
 public:
  struct Options {
    // Threads. REQUIRES in [1, 256].
    int num_threads = 2;
    // Typically only overridden by test code.
    Clock* clock = RealClock();
  };

  // INVALID_ARGUMENT naming the option that is out of range.
  static absl::StatusOr<std::unique_ptr<StagePool>> Create(
      const Options& options);

  // Shutdown().
  ~StagePool();

  StagePool(const StagePool&) = delete;
  StagePool& operator=(const StagePool&) = delete;

  enum class Priority {
    kFinish = 0,  // completes a request (post-processing)
    kStart = 1,   // starts one (pre-processing)
  };

  // Queues `job` to run on a pool thread. After Shutdown() started, runs it
  // on the calling thread instead (a job is never lost).
  // REQUIRES: estimated_cost >= 0.
  void Submit(Priority priority, absl::Duration estimated_cost,
              absl::AnyInvocable<void()> job);

  // Estimated time until a job submitted now would start: the estimated
  // work queued and still running, spread over the threads.
  absl::Duration Backlog() const;

  // Jobs queued or running.
  int pending() const;

  // Runs the queued jobs, then joins the threads. Idempotent.
  void Shutdown();

  // Implementation details follow. API users need not read.

 private:
  struct Job {
    Priority priority;
    absl::Time due;  // submitted + estimated cost: the order
    uint64_t seq;    // submission order among equal `due`
    absl::Duration cost;
    absl::AnyInvocable<void()> run;
  };
  struct Later {
    bool operator()(const Job* a, const Job* b) const {
      if (a->priority != b->priority) return a->priority > b->priority;
      return a->due != b->due ? a->due > b->due : a->seq > b->seq;
    }
  };

  explicit StagePool(const Options& options);
  void WorkerLoop();

  // Constant after construction.
  const Options options_;
  // Started in Create, joined once (by the first Shutdown).
  absl::Mutex join_mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);

  mutable absl::Mutex mu_;
  // Owned; popped by the workers.
  std::priority_queue<Job*, std::vector<Job*>, Later> queue_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // Estimated cost of the queued jobs, and of the running ones.
  absl::Duration queued_cost_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration running_cost_ ABSL_GUARDED_BY(mu_);
  // Monotonic: once true, workers exit when the queue is empty.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_STAGES_STAGE_POOL_H_
