#include "engine/batching/scheduler.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace slimserve {

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(
    const Options& options, RunFn run, DropFn drop) {
  if (absl::Status st = ValidateBatchPolicyOptions(options.policy); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Scheduler::Options.policy.", st.message()));
  }
  if (options.num_executor_threads < 1 || options.num_executor_threads > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Scheduler::Options.num_executor_threads: must be in [1, 64], got ",
        options.num_executor_threads));
  }
  if (options.num_encoder_widths < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Scheduler::Options.num_encoder_widths: must be >= 1, got ",
        options.num_encoder_widths));
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("Scheduler::Options.clock: required");
  }
  if (!run || !drop) {
    return absl::InvalidArgumentError(
        "Scheduler: the run and drop callbacks are required");
  }
  std::unique_ptr<Scheduler> s(
      new Scheduler(options, std::move(run), std::move(drop)));
  {
    absl::MutexLock lock(&s->join_mu_);
    for (int i = 0; i < options.num_executor_threads; ++i) {
      s->threads_.emplace_back([p = s.get()] { p->ExecutorLoop(); });
    }
  }
  return s;
}

Scheduler::Scheduler(const Options& options, RunFn run, DropFn drop)
    : options_(options),
      run_(std::move(run)),
      drop_(std::move(drop)),
      queues_(options.num_encoder_widths),
      incoming_(options.num_encoder_widths, 0),
      compute_(options.cost_model, options.num_encoder_widths) {}

Scheduler::~Scheduler() { Shutdown(); }

absl::Status Scheduler::Enqueue(std::unique_ptr<Task>* task) {
  const int we = (*task)->encoder_width;
  if (we < 0 || we >= options_.num_encoder_widths) {
    return absl::InvalidArgumentError(
        absl::StrCat("Scheduler::Enqueue: encoder width index ", we,
                     " is out of range [0, ", options_.num_encoder_widths,
                     ")"));
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::UnavailableError("the scheduler is shutting down");
  }
  (*task)->enqueued = options_.clock->Now();
  if ((*task)->announced) {
    (*task)->announced = false;
    incoming_[we] = std::max(0, incoming_[we] - 1);
  }
  queues_[we].push_back(Queued{next_id_++, std::move(*task)});
  ++queued_;
  ++arrivals_;
  return absl::OkStatus();
}

void Scheduler::Announce(int encoder_width) {
  if (encoder_width < 0 || encoder_width >= options_.num_encoder_widths) return;
  absl::MutexLock lock(&mu_);
  ++incoming_[encoder_width];
}

void Scheduler::Withdraw(int encoder_width) {
  if (encoder_width < 0 || encoder_width >= options_.num_encoder_widths) return;
  absl::MutexLock lock(&mu_);
  incoming_[encoder_width] = std::max(0, incoming_[encoder_width] - 1);
  ++arrivals_;  // wakes an executor: a waiting batch may be ready now
}

QueueState Scheduler::StateLocked() const {
  QueueState state;
  for (const auto& [id, until] : running_until_) {
    state.running_until.push_back(until);
  }
  state.queued.resize(queues_.size());
  for (size_t we = 0; we < queues_.size(); ++we) {
    for (const Queued& q : queues_[we]) {
      state.queued[we].push_back(&q.task->widths);
    }
  }
  return state;
}

Scheduler::Load Scheduler::CurrentLoad() const {
  absl::MutexLock lock(&mu_);
  Load load;
  load.queue_wait = EstimateQueueWait(
      StateLocked(), options_.clock->Now(), compute_,
      options_.policy.max_batch_size, options_.num_executor_threads);
  load.compute_scale = compute_.scale();
  load.queued = queued_;
  load.running = static_cast<int>(running_until_.size());
  for (int n : incoming_) load.incoming += n;
  return load;
}

void Scheduler::StartDrain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

void Scheduler::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    stopping_ = true;
  }
  absl::MutexLock join(&join_mu_);  // a second caller waits for the first
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool Scheduler::NextWork(Work* work) {
  while (true) {
    if (stopping_ && queued_ == 0) return false;
    const absl::Time now = options_.clock->Now();
    std::vector<QueueView> views;
    for (size_t we = 0; we < queues_.size(); ++we) {
      const std::deque<Queued>& queue = queues_[we];
      if (queue.empty()) continue;
      QueueView view;
      view.encoder_width = static_cast<int>(we);
      view.incoming = incoming_[we];
      std::vector<const BatchItem*> items;
      for (const Queued& q : queue) {
        items.push_back(&q.task->widths);
        PendingRequest r;
        r.id = q.id;
        r.arrival = q.task->enqueued;
        r.deadline = q.task->deadline;
        r.cancelled = q.task->cancelled && q.task->cancelled->load();
        view.requests.push_back(r);
      }
      compute_.QueueLine(view.encoder_width, items, &view.compute_fixed,
                         &view.compute_per_item);
      views.push_back(std::move(view));
    }
    BatchPolicyOptions policy = options_.policy;
    if (draining_) policy.max_queue_delay = absl::ZeroDuration();
    const BatchDecision d = DecideNextBatch(views, now, policy);

    // Take the named tasks out of their queues, keeping the rest in order.
    std::unordered_map<uint64_t, absl::Status> drop;
    for (uint64_t id : d.cancelled) {
      drop[id] = absl::CancelledError("cancelled by the client before compute");
    }
    for (uint64_t id : d.expired) {
      drop[id] = absl::DeadlineExceededError(
          "the deadline passed (or cannot be met) before compute started");
    }
    std::unordered_map<uint64_t, size_t> in_batch;
    for (size_t i = 0; i < d.batch.size(); ++i) in_batch[d.batch[i]] = i;
    work->batch.tasks.resize(d.batch.size());
    for (std::deque<Queued>& queue : queues_) {
      if (drop.empty() && in_batch.empty()) break;
      std::deque<Queued> kept;
      for (Queued& q : queue) {
        if (auto it = drop.find(q.id); it != drop.end()) {
          work->dropped.emplace_back(std::move(q.task), it->second);
          drop.erase(it);
        } else if (auto b = in_batch.find(q.id); b != in_batch.end()) {
          work->batch.tasks[b->second] = std::move(q.task);
          in_batch.erase(b);
        } else {
          kept.push_back(std::move(q));
        }
      }
      queue.swap(kept);
    }
    queued_ -= static_cast<int>(work->dropped.size() + d.batch.size());
    if (!d.batch.empty()) {
      work->batch.encoder_width = d.encoder_width;
      work->batch.picked = now;
      work->batch_id = next_batch_id_++;
      std::vector<const BatchItem*> items;
      for (const auto& t : work->batch.tasks) items.push_back(&t->widths);
      running_until_[work->batch_id] =
          now + compute_.Batch(d.encoder_width, items);
    }
    if (!work->batch.tasks.empty() || !work->dropped.empty()) return true;
    // Sleep until the policy's wake-up time, a new arrival or a drain.
    const uint64_t seen = arrivals_;
    const bool was_draining = draining_;
    auto woken = [this, seen, was_draining]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return stopping_ || draining_ != was_draining || arrivals_ != seen;
    };
    options_.clock->AwaitWithDeadline(
        &mu_, absl::Condition(&woken, &decltype(woken)::operator()), d.wake_at);
  }
}

void Scheduler::ExecutorLoop() {
  while (true) {
    Work work;
    {
      absl::MutexLock lock(&mu_);
      if (!NextWork(&work)) return;
    }
    for (auto& [task, status] : work.dropped) drop_(std::move(task), status);
    if (work.batch.tasks.empty()) continue;
    const int we = work.batch.encoder_width;
    // The widths outlive the tasks, which `run` takes.
    std::vector<BatchItem> widths;
    for (const auto& t : work.batch.tasks) widths.push_back(t->widths);
    const absl::Time start = options_.clock->Now();
    run_(std::move(work.batch));
    const absl::Duration took = options_.clock->Now() - start;
    std::vector<const BatchItem*> items;
    for (const BatchItem& w : widths) items.push_back(&w);
    absl::MutexLock lock(&mu_);
    compute_.Observe(we, items, took);
    running_until_.erase(work.batch_id);
  }
}

}  // namespace slimserve
