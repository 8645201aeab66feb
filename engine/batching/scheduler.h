#ifndef SLIMSERVE_ENGINE_BATCHING_SCHEDULER_H_
#define SLIMSERVE_ENGINE_BATCHING_SCHEDULER_H_

// The scheduler: executor threads around the batching policy. The policy
// (batch_policy.h, DecideNextBatch) decides; this shell only keeps the
// queues, sleeps until the policy's wake-up time or the next arrival, and
// hands each batch to `run` on an executor thread. Requests the policy drops
// (cancelled, or past saving before compute) go to `drop` instead.
//
// Guarantees:
//  0. With policy.adaptive_delay, a batch waits for more requests only while
//     some of its width are announced (on their way), so a lone request on
//     an idle server does not wait for a batch that is not coming.
//  1. Every task that Enqueue accepted reaches exactly one of `run` (in a
//     batch) or `drop` (with CANCELLED or DEADLINE_EXCEEDED), on an
//     executor thread, unless the process dies first.
//  2. A batch holds tasks of one encoder width, at most max_batch_size.
//  3. Time is the Clock's: with a FakeClock, a batching window ends only
//     when the test advances the clock past it.
//  4. StartDrain() ends the batching windows (queued tasks run as soon as
//     an executor is free); Shutdown() also refuses new tasks, runs every
//     queued one, and joins the threads.
//
// It also gives admission its load estimate (load_estimate.h): the predicted
// wait for compute of a request enqueued now, and measured / predicted
// compute, learnt from every batch `run` ran.
//
// Thread-safety: every method may be called from any thread.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "engine/batching/batch_cost_model.h"
#include "engine/batching/batch_policy.h"
#include "engine/batching/load_estimate.h"

namespace slimserve {

class Scheduler {
 public:
  // A request waiting for compute. Callers derive their job type from it
  // and get it back, owned, in `run` or `drop`.
  struct Task {
    virtual ~Task() = default;
    // Set by the caller before Enqueue.
    int encoder_width = 0;  // the queue; an index of the model's widths
    BatchItem widths;       // what the batch cost model needs
    absl::Time deadline = absl::InfiniteFuture();
    std::shared_ptr<const std::atomic<bool>> cancelled;  // may be null
    // True when Announce(encoder_width) was called for it: Enqueue then
    // counts it as arrived (and clears this).
    bool announced = false;
    // Set by the scheduler.
    absl::Time enqueued;  // when Enqueue accepted it
  };

  struct Batch {
    int encoder_width = 0;
    std::vector<std::unique_ptr<Task>> tasks;  // in the policy's order
    absl::Time picked;                         // when the policy chose it
  };

  // Runs a batch on an executor thread; returns when its compute is done
  // (the time it takes is what the load estimate learns from). The tasks are
  // the callee's.
  using RunFn = std::function<void(Batch batch)>;
  // Answers a task dropped before compute, on an executor thread.
  using DropFn = std::function<void(std::unique_ptr<Task> task,
                                    absl::Status why)>;

  struct Options {
    // When batches close; see batch_policy.h. Validated there.
    BatchPolicyOptions policy;
    // Threads that run batches, one at a time each. REQUIRES in [1, 64].
    int num_executor_threads = 1;
    // Encoder widths of the model (queues). REQUIRES >= 1.
    int num_encoder_widths = 1;
    // Predicted compute from the latency measured at start-up; nullptr: a
    // per-request average learnt from the batches that ran. Borrowed: must
    // outlive the scheduler.
    const BatchLatencyModel* cost_model = nullptr;
    // Typically only overridden by test code. REQUIRES non-null.
    Clock* clock = RealClock();
  };

  // Starts the executor threads. INVALID_ARGUMENT naming the option that is
  // out of range, or when `run` or `drop` is empty.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      const Options& options, RunFn run, DropFn drop);

  // Shutdown().
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues *task at its encoder width. Ownership of *task is transferred to
  // the scheduler iff this returns OK; otherwise *task is left as it is:
  // UNAVAILABLE after Shutdown() started, INVALID_ARGUMENT for an encoder
  // width out of range.
  absl::Status Enqueue(std::unique_ptr<Task>* task);

  // A request of this encoder width is on its way (admitted, being
  // pre-processed): with policy.adaptive_delay, batches of this width wait
  // for it (up to max_queue_delay); without an announced request they run
  // at once. Each Announce is ended by the Enqueue of a task marked
  // `announced`, or by Withdraw when the request will not come (failed
  // before it was queued). Out-of-range widths are ignored.
  void Announce(int encoder_width);
  void Withdraw(int encoder_width);

  struct Load {
    // Predicted time from now until a request enqueued now would start
    // computing (EstimateQueueWait).
    absl::Duration queue_wait;
    // Measured / predicted compute (ComputeEstimate::scale).
    double compute_scale = 1.0;
    int queued = 0;    // tasks waiting
    int running = 0;   // batches running
    int incoming = 0;  // announced, not yet queued
  };
  Load CurrentLoad() const;

  // Ends every batching window from now on (drain). Idempotent.
  void StartDrain();

  // StartDrain(), refuses new tasks, runs or drops every queued one, joins
  // the executor threads. Returns when all of that is done. Idempotent.
  void Shutdown();

  // Implementation details follow. API users need not read.

 private:
  struct Queued {
    uint64_t id;
    std::unique_ptr<Task> task;
  };
  // What one executor takes out of the queues under the lock.
  struct Work {
    uint64_t batch_id = 0;  // key of running_until_ while it runs
    Batch batch;
    std::vector<std::pair<std::unique_ptr<Task>, absl::Status>> dropped;
  };

  Scheduler(const Options& options, RunFn run, DropFn drop);
  void ExecutorLoop();
  // Applies the policy until it yields work, or the scheduler has stopped
  // and drained (false: the executor exits).
  bool NextWork(Work* work) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  QueueState StateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;
  const RunFn run_;
  const DropFn drop_;
  // Started in Create, joined once (by the first Shutdown).
  absl::Mutex join_mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);

  mutable absl::Mutex mu_;
  // One queue per encoder width index, in arrival order.
  std::vector<std::deque<Queued>> queues_ ABSL_GUARDED_BY(mu_);
  int queued_ ABSL_GUARDED_BY(mu_) = 0;  // sum of the queues' sizes
  // Announced and not yet queued or withdrawn, per encoder width index.
  std::vector<int> incoming_ ABSL_GUARDED_BY(mu_);
  // Monotonic: task ids, arrivals and withdrawals (wake idle executors),
  // batch ids.
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t arrivals_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Batches running now: predicted end, by batch id.
  std::map<uint64_t, absl::Time> running_until_ ABSL_GUARDED_BY(mu_);
  ComputeEstimate compute_ ABSL_GUARDED_BY(mu_);
  // Monotonic: once set, never reset.
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_BATCHING_SCHEDULER_H_
