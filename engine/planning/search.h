#ifndef SLIMSERVE_ENGINE_PLANNING_SEARCH_H_
#define SLIMSERVE_ENGINE_PLANNING_SEARCH_H_

// The search behind the planners (internal to engine/; use planner.h).
//
// A SearchProblem is the planning problem in fixed point: pick an encoder
// width e and one decoder width k_i per active task i to
//
//   maximise  sum_i value[e][i][k_i]
//   subject   encoder_cost[r][e] + sum_i cost[r][e][i][k_i] <= capacity[r]
//             for every resource r (MACs; optionally predicted latency),
//             and, when `rank` is set, k_i >= k_j whenever rank_i > rank_j.
//
// Everything is an integer, so sums are exact and independent of the order
// of addition, and the result is a pure function of the problem: among
// feasible configurations the winner is the first by
//   1. higher value, 2. lower resource-0 cost (MACs), 3. lexicographically
//   smaller (e, k_0, ..., k_{n-1}).
// That order is total, so the best configuration is unique and every solver
// here returns the same one (tests check it).
//
// The planners build a SearchProblem with Quantizer (costs, rounded up, so a
// configuration feasible here never exceeds the real budget) and
// QuantizeValue (weight * quality).

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace slimserve {
namespace search {

inline constexpr int kMaxResources = 2;

// Maps non-negative costs in some unit (MACs, ms) onto integers for a budget
// of `limit` units: unit = 2^(floor(log2 limit) - 40), a power of two, so
// cost / unit is exact. Q(c) = ceil(c / unit), capped at capacity() + 1 (a
// cost alone over the budget stays over it and sums cannot overflow).
//   * Q(a) + Q(b) + ... <= capacity()  implies  a + b + ... <= limit;
//   * a + b + ... <= limit - n * unit  implies the quantised sum fits,
// i.e. configurations within ~n * 2^-40 of the limit (relative) may be
// refused; the planners add a 1e-9 relative slack to the limit, which
// covers that for any configuration that meets the budget itself.
class Quantizer {
 public:
  // REQUIRES: limit finite and > 0. (Limits below ~2^-959, subnormal
  // budgets, get capacity 0: nothing positive fits.)
  explicit Quantizer(double limit);
  int64_t capacity() const { return capacity_; }
  // REQUIRES: cost is not NaN. Negative costs count as 0.
  int64_t operator()(double cost) const;

 private:
  double inv_unit_ = 0;
  int64_t capacity_ = 0;
};

// Fixed-point value of weight * quality: round(weight * 2^-e * quality *
// 2^36) where 2^e is the smallest power of two above `max_weight` (exact
// scaling). So the resolution is 2^-36 of the largest weight, and integer
// weights with dyadic qualities quantise exactly.
// REQUIRES: 0 <= weight <= max_weight, max_weight > 0, 0 < quality <= 1024.
int64_t QuantizeValue(double weight, double max_weight, double quality);

struct SearchProblem {
  int num_encoders = 0;  // E >= 1
  int num_tasks = 0;     // n >= 1
  int num_widths = 0;    // K >= 1 decoder widths, the same for every task
  // value[(e * n + i) * K + k] >= 0.
  std::vector<int64_t> value;
  // 1 or 2. Resource 0 is also the tie-break cost.
  int num_resources = 1;
  std::array<int64_t, kMaxResources> capacity = {};
  std::array<std::vector<int64_t>, kMaxResources> encoder_cost;  // [e] >= 0
  std::array<std::vector<int64_t>, kMaxResources> cost;  // as value, >= 0
  // Empty, or one rank per task: rank[i] > rank[j] requires k_i >= k_j.
  std::vector<int> rank;

  size_t Index(int e, int i, int k) const {
    return (static_cast<size_t>(e) * num_tasks + i) * num_widths + k;
  }

  // *next = used + the costs of choice `at`; false when that exceeds a
  // capacity.
  bool AddCost(const std::array<int64_t, kMaxResources>& used, size_t at,
               std::array<int64_t, kMaxResources>* next) const {
    *next = used;
    bool fits = true;
    for (int r = 0; r < num_resources; ++r) {
      (*next)[r] += cost[r][at];
      fits &= (*next)[r] <= capacity[r];
    }
    return fits;
  }
};

struct Solution {
  int encoder = -1;
  std::vector<int> widths;  // per task
  int64_t value = 0;
  int64_t cost = 0;  // resource 0
  // False only when BranchAndBound stopped at its node limit: the solution
  // is feasible but maybe not the best.
  bool complete = true;
  int64_t nodes = 0;  // search nodes visited (diagnostics, benchmarks)
};

// The total order above: true when a is strictly better than b.
bool Better(const Solution& a, const Solution& b);

// Every configuration (respecting rank), pruning only branches that cannot
// fit or cannot reach the incumbent's value; for small problems.
std::optional<Solution> SolveExhaustive(const SearchProblem& problem);

// Depth-first branch-and-bound, per encoder width (most promising first),
// over tasks in order of impact (largest value spread first; with `rank`,
// down the preference order first). Starts from the best uniform and LP-greedy
// configurations. Bound: the LP relaxation of the multiple-choice knapsack
// (upper convex hull of each task's (cost, value) points, greedy by slope),
// per resource, minimum taken; rank constraints are enforced when branching.
// Exact: returns the same solution as SolveExhaustive (ties included). Pairs
// of tasks that are interchangeable (equal values, cost rows such that
// swapping their widths never costs more) are constrained to the order the
// total order prefers, which removes symmetric duplicates without losing the
// optimum. Stops after `max_nodes` nodes with the best found so far
// (complete = false).
std::optional<Solution> SolveBranchAndBound(const SearchProblem& problem,
                                            int64_t max_nodes);

// Only configurations where every task has the same decoder width index.
// With `decoder_for_encoder` (one entry per encoder width, -1 for none),
// only that decoder width for each encoder width.
std::optional<Solution> SolveUniform(
    const SearchProblem& problem,
    const std::vector<int>& decoder_for_encoder = {});

}  // namespace search
}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_PLANNING_SEARCH_H_
