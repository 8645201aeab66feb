#ifndef SLIMSERVE_ENGINE_RUNTIME_GRAPH_POLICY_H_
#define SLIMSERVE_ENGINE_RUNTIME_GRAPH_POLICY_H_

// The decisions of the CUDA path's graph cache (cuda_executor.h) that need
// no GPU, so CPU tests cover them: which batch size a batch runs at, what a
// captured graph is keyed by, and the bounded least-recently-used cache.

#include <cstdint>
#include <list>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/types/span.h"

namespace slimserve {

// The batch size `n` rows run at: the smallest of `sizes` (ascending, >= 1)
// that holds them, if the padding rows are at most `max_padding` of it
// (padded rows cost compute; a replayed graph saves the per-operator launch
// cost, which dominates at small batches); else `n` itself (a graph of its
// own). REQUIRES: n >= 1.
int PaddedBatchSize(int n, absl::Span<const int> sizes, double max_padding);

// What one captured graph runs: the encoder at width `we` (task = wd = -1),
// or task `task`'s decoder at (`we`, `wd`), on `batch` rows.
struct GraphKey {
  int task = -1;
  int we = 0;
  int wd = -1;
  int batch = 0;
  bool operator<(const GraphKey& o) const {
    return std::tie(task, we, wd, batch) < std::tie(o.task, o.we, o.wd, o.batch);
  }
  bool operator==(const GraphKey& o) const {
    return !(*this < o) && !(o < *this);
  }
};

// A map holding at most `capacity` values; inserting beyond it drops the
// least recently used. Not thread-safe (each CUDA lane owns one).
template <typename Key, typename Value>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // The value for `key`, now the most recently used; nullptr if absent.
  Value* Find(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  // Inserts or replaces `key`'s value as the most recently used; returns
  // how many entries were dropped to make room (0 or 1).
  int Put(const Key& key, Value value) {
    if (Value* v = Find(key)) {
      *v = std::move(value);
      return 0;
    }
    int dropped = 0;
    if (order_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
      dropped = 1;
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    return dropped;
  }

  size_t size() const { return order_.size(); }
  size_t capacity() const { return capacity_; }
  // Keys from the most to the least recently used.
  std::vector<Key> Keys() const {
    std::vector<Key> keys;
    for (const auto& e : order_) keys.push_back(e.first);
    return keys;
  }

 private:
  size_t capacity_;
  std::list<std::pair<Key, Value>> order_;
  std::map<Key, typename std::list<std::pair<Key, Value>>::iterator> index_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_GRAPH_POLICY_H_
