#include "engine/stages/stage_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace slimserve {

absl::StatusOr<std::unique_ptr<StagePool>> StagePool::Create(
    const Options& options) {
  if (options.num_threads < 1 || options.num_threads > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "StagePool::Options.num_threads: must be in [1, 256], got ",
        options.num_threads));
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("StagePool::Options.clock: required");
  }
  std::unique_ptr<StagePool> pool(new StagePool(options));
  {
    absl::MutexLock lock(&pool->join_mu_);
    for (int i = 0; i < options.num_threads; ++i) {
      pool->threads_.emplace_back([p = pool.get()] { p->WorkerLoop(); });
    }
  }
  return pool;
}

StagePool::StagePool(const Options& options) : options_(options) {}

StagePool::~StagePool() { Shutdown(); }

void StagePool::Submit(Priority priority, absl::Duration estimated_cost,
                       absl::AnyInvocable<void()> job) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push(new Job{priority, options_.clock->Now() + estimated_cost,
                          next_seq_++, estimated_cost, std::move(job)});
      queued_cost_ += estimated_cost;
      return;
    }
  }
  job();
}

absl::Duration StagePool::Backlog() const {
  absl::MutexLock lock(&mu_);
  return (queued_cost_ + running_cost_) / options_.num_threads;
}

int StagePool::pending() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size()) + running_;
}

void StagePool::WorkerLoop() {
  while (true) {
    Job* job = nullptr;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping and drained
      job = queue_.top();
      queue_.pop();
      queued_cost_ -= job->cost;
      running_cost_ += job->cost;
      ++running_;
    }
    job->run();
    const absl::Duration cost = job->cost;
    delete job;  // outside the lock: it may own a request's buffers
    absl::MutexLock lock(&mu_);
    running_cost_ -= cost;
    --running_;
  }
}

void StagePool::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  absl::MutexLock join(&join_mu_);  // a second caller waits for the first
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace slimserve
