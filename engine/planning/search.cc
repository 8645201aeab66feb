#include "engine/planning/search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace slimserve {
namespace search {
namespace {

using int128 = __int128;

constexpr int64_t kInfeasible = std::numeric_limits<int64_t>::min();

// Lexicographic comparison of (ea, wa) with (eb, wb): -1, 0 or 1.
int CompareLex(int ea, const std::vector<int>& wa, int eb,
               const std::vector<int>& wb, size_t prefix) {
  if (ea != eb) return ea < eb ? -1 : 1;
  for (size_t i = 0; i < prefix; ++i) {
    if (wa[i] != wb[i]) return wa[i] < wb[i] ? -1 : 1;
  }
  return 0;
}

// Order constraints between tasks, checked while branching: at processing
// position d, k >= widths[i] for i in ge[d] and k <= widths[i] for i in
// le[d] (widths indexed by task); every task listed is processed before d.
struct OrderConstraints {
  std::vector<std::vector<int>> ge, le;

  explicit OrderConstraints(int n) : ge(n), le(n) {}

  // Requires k_wide >= k_narrow; `pos` maps a task to its position.
  void Add(int wide, int narrow, const std::vector<int>& pos) {
    if (pos[wide] > pos[narrow]) {
      ge[pos[wide]].push_back(narrow);
    } else {
      le[pos[narrow]].push_back(wide);
    }
  }

  // From SearchProblem::rank.
  void AddRanks(const std::vector<int>& rank, const std::vector<int>& pos) {
    for (size_t i = 0; i < rank.size(); ++i) {
      for (size_t j = 0; j < rank.size(); ++j) {
        if (rank[i] > rank[j]) {
          Add(static_cast<int>(i), static_cast<int>(j), pos);
        }
      }
    }
  }

  // Range of the width at position d given the widths assigned so far;
  // empty when lo > hi.
  void Range(int d, const std::vector<int>& widths, int num_widths, int* lo,
             int* hi) const {
    *lo = 0;
    *hi = num_widths - 1;
    for (int i : ge[d]) *lo = std::max(*lo, widths[i]);
    for (int i : le[d]) *hi = std::min(*hi, widths[i]);
  }
};

// 0, 1, ..., n-1.
std::vector<int> Identity(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// State shared by the depth-first solvers.
class SearchBase {
 protected:
  explicit SearchBase(const SearchProblem& p)
      : p_(p), widths_(p.num_tasks, 0) {}

  void ConsiderLeaf(int e, int64_t value, int64_t cost) {
    bool better = !have_best_;
    if (!better) {
      if (value != best_.value) {
        better = value > best_.value;
      } else if (cost != best_.cost) {
        better = cost < best_.cost;
      } else {
        better = CompareLex(e, widths_, best_.encoder, best_.widths,
                            widths_.size()) < 0;
      }
    }
    if (better) {
      have_best_ = true;
      best_.encoder = e;
      best_.widths = widths_;
      best_.value = value;
      best_.cost = cost;
    }
  }

  std::optional<Solution> Result() const {
    if (!have_best_) return std::nullopt;
    Solution s = best_;
    s.nodes = nodes_;
    s.complete = !aborted_;
    return s;
  }

  const SearchProblem& p_;
  std::vector<int> widths_;  // the branch being explored
  Solution best_;
  bool have_best_ = false;
  int64_t nodes_ = 0;
  bool aborted_ = false;
};

// Every configuration, with only the cheapest pruning: a branch is cut when
// even its cheapest completion is over a capacity, or even its most valuable
// completion is worth less than the incumbent (ties are still explored).
class Exhaustive : public SearchBase {
 public:
  explicit Exhaustive(const SearchProblem& p)
      : SearchBase(p), order_(p.num_tasks) {
    order_.AddRanks(p.rank, Identity(p.num_tasks));
  }

  std::optional<Solution> Run() {
    const int n = p_.num_tasks;
    max_value_.assign(n + 1, 0);
    for (int r = 0; r < p_.num_resources; ++r) min_cost_[r].assign(n + 1, 0);
    for (int e = 0; e < p_.num_encoders; ++e) {
      for (int i = n - 1; i >= 0; --i) {
        int64_t best_v = 0;
        std::array<int64_t, kMaxResources> least;
        least.fill(std::numeric_limits<int64_t>::max());
        for (int k = 0; k < p_.num_widths; ++k) {
          const size_t at = p_.Index(e, i, k);
          best_v = std::max(best_v, p_.value[at]);
          for (int r = 0; r < p_.num_resources; ++r) {
            least[r] = std::min(least[r], p_.cost[r][at]);
          }
        }
        max_value_[i] = max_value_[i + 1] + best_v;
        for (int r = 0; r < p_.num_resources; ++r) {
          min_cost_[r][i] = min_cost_[r][i + 1] + least[r];
        }
      }
      std::array<int64_t, kMaxResources> used = {};
      for (int r = 0; r < p_.num_resources; ++r) {
        used[r] = p_.encoder_cost[r][e];
      }
      Visit(e, 0, 0, used);
    }
    return Result();
  }

 private:
  void Visit(int e, int d, int64_t value,
             const std::array<int64_t, kMaxResources>& used) {
    ++nodes_;
    if (d == p_.num_tasks) {
      ConsiderLeaf(e, value, used[0]);
      return;
    }
    for (int r = 0; r < p_.num_resources; ++r) {
      if (used[r] + min_cost_[r][d] > p_.capacity[r]) return;
    }
    if (have_best_ && value + max_value_[d] < best_.value) return;
    int lo, hi;
    order_.Range(d, widths_, p_.num_widths, &lo, &hi);
    for (int k = hi; k >= lo; --k) {
      const size_t at = p_.Index(e, d, k);
      std::array<int64_t, kMaxResources> next;
      if (!p_.AddCost(used, at, &next)) continue;
      widths_[d] = k;
      Visit(e, d + 1, value + p_.value[at], next);
    }
  }

  OrderConstraints order_;
  // For the current encoder width, over tasks d..n-1: the sum of each
  // task's largest value, and of its smallest cost per resource.
  std::vector<int64_t> max_value_;
  std::array<std::vector<int64_t>, kMaxResources> min_cost_;
};

class BranchAndBound : public SearchBase {
 public:
  BranchAndBound(const SearchProblem& p, int64_t max_nodes)
      : SearchBase(p), max_nodes_(max_nodes) {}

  std::optional<Solution> Run() {
    const int num_e = p_.num_encoders;
    data_.reserve(num_e);
    std::vector<int64_t> root(num_e, kInfeasible);
    for (int e = 0; e < num_e; ++e) {
      data_.push_back(Prepare(e));
      const std::array<int64_t, kMaxResources> used = EncoderUsed(e);
      root[e] = Bound(data_[e], 0, 0, used, p_.capacity[0]);
      if (root[e] != kInfeasible) {
        UniformIncumbents(e, used);
        GreedyIncumbent(e, used);
      }
    }
    // Most promising encoder width first: the incumbent then prunes more.
    std::vector<int> order = Identity(num_e);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return root[a] > root[b]; });
    for (int e : order) {
      if (root[e] == kInfeasible) continue;
      Visit(e, 0, 0, EncoderUsed(e));
      if (aborted_) break;
    }
    return Result();
  }

 private:
  // One step along a task's upper hull, to the next hull point.
  struct Increment {
    int pos;       // processing position of the task
    int to_width;  // decoder width index after the step
    int64_t dc, dv;
  };

  // Everything the search needs for one encoder width.
  struct EncoderData {
    explicit EncoderData(int n) : constraints(n) {}
    // Tasks in processing order, and each task's position in it.
    std::vector<int> order, pos;
    // Per resource: hull steps of every task sorted by slope (dv / dc)
    // descending; the width, cost and value of each task's hull start (its
    // cheapest width); suffix sums of those over positions d..n-1.
    std::array<std::vector<Increment>, kMaxResources> steps;
    std::array<std::vector<int>, kMaxResources> start_width;  // by task
    std::array<std::vector<int64_t>, kMaxResources> suffix_cost, suffix_value;
    OrderConstraints constraints;
  };

  std::array<int64_t, kMaxResources> EncoderUsed(int e) const {
    std::array<int64_t, kMaxResources> used = {};
    for (int r = 0; r < p_.num_resources; ++r) used[r] = p_.encoder_cost[r][e];
    return used;
  }

  EncoderData Prepare(int e) const {
    const int n = p_.num_tasks, num_k = p_.num_widths;
    EncoderData data(n);
    // Branch on the tasks whose choice matters most first (largest value
    // spread); "paper" goes down the preference order first, so its
    // constraints narrow the ranges early.
    std::vector<int64_t> spread(n);
    for (int i = 0; i < n; ++i) {
      int64_t lo = p_.value[p_.Index(e, i, 0)], hi = lo;
      for (int k = 1; k < num_k; ++k) {
        lo = std::min(lo, p_.value[p_.Index(e, i, k)]);
        hi = std::max(hi, p_.value[p_.Index(e, i, k)]);
      }
      spread[i] = hi - lo;
    }
    data.order = Identity(n);
    std::stable_sort(data.order.begin(), data.order.end(), [&](int a, int b) {
      if (!p_.rank.empty() && p_.rank[a] != p_.rank[b]) {
        return p_.rank[a] > p_.rank[b];
      }
      return spread[a] > spread[b];
    });
    data.pos.assign(n, 0);
    for (int d = 0; d < n; ++d) data.pos[data.order[d]] = d;

    struct Point {
      int k;
      int64_t c, v;
    };
    std::vector<Point> points(num_k), hull;
    for (int r = 0; r < p_.num_resources; ++r) {
      auto& steps = data.steps[r];
      data.start_width[r].assign(n, 0);
      data.suffix_cost[r].assign(n + 1, 0);
      data.suffix_value[r].assign(n + 1, 0);
      for (int i = 0; i < n; ++i) {
        for (int k = 0; k < num_k; ++k) {
          const size_t at = p_.Index(e, i, k);
          points[k] = {k, p_.cost[r][at], p_.value[at]};
        }
        std::sort(points.begin(), points.end(),
                  [](const Point& a, const Point& b) {
                    if (a.c != b.c) return a.c < b.c;
                    if (a.v != b.v) return a.v > b.v;
                    return a.k < b.k;
                  });
        hull.clear();
        for (const Point& q : points) {
          // Dominated: costs at least as much, worth no more.
          if (!hull.empty() && q.v <= hull.back().v) continue;
          // Keep the hull concave: drop points on or below the chord.
          while (hull.size() >= 2) {
            const Point& a = hull[hull.size() - 2];
            const Point& b = hull.back();
            if (static_cast<int128>(b.v - a.v) * (q.c - a.c) <=
                static_cast<int128>(q.v - a.v) * (b.c - a.c)) {
              hull.pop_back();
            } else {
              break;
            }
          }
          hull.push_back(q);
        }
        const int d = data.pos[i];
        data.start_width[r][i] = hull[0].k;
        data.suffix_cost[r][d] = hull[0].c;
        data.suffix_value[r][d] = hull[0].v;
        for (size_t h = 1; h < hull.size(); ++h) {
          steps.push_back({d, hull[h].k, hull[h].c - hull[h - 1].c,
                           hull[h].v - hull[h - 1].v});
        }
      }
      for (int d = n - 1; d >= 0; --d) {
        data.suffix_cost[r][d] += data.suffix_cost[r][d + 1];
        data.suffix_value[r][d] += data.suffix_value[r][d + 1];
      }
      // A task's own steps have strictly decreasing slopes, so sorting by
      // slope keeps them in order; equal slopes of different tasks go by
      // position.
      std::stable_sort(steps.begin(), steps.end(),
                       [](const Increment& a, const Increment& b) {
                         const int128 lhs = static_cast<int128>(a.dv) * b.dc;
                         const int128 rhs = static_cast<int128>(b.dv) * a.dc;
                         if (lhs != rhs) return lhs > rhs;
                         return a.pos < b.pos;
                       });
    }
    data.constraints.AddRanks(p_.rank, data.pos);
    AddInterchangeable(e, data.pos, &data.constraints);
    return data;
  }

  // Tasks i < j with equal values (and equal rank) can swap widths without
  // changing the objective. When a swap never costs more in any resource, the
  // unique best configuration has the widths in the order that is cheaper or,
  // at equal costs, lexicographically smaller; constrain the search to it.
  void AddInterchangeable(int e, const std::vector<int>& pos,
                          OrderConstraints* constraints) const {
    const int n = p_.num_tasks, num_k = p_.num_widths;
    if (num_k < 2) return;
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < j; ++i) {
        if (!p_.rank.empty() && p_.rank[i] != p_.rank[j]) continue;
        bool same_value = true;
        for (int k = 0; k < num_k && same_value; ++k) {
          same_value =
              p_.value[p_.Index(e, i, k)] == p_.value[p_.Index(e, j, k)];
        }
        if (!same_value) continue;
        // Shape of diff(k) = cost_i(k) - cost_j(k) per resource.
        bool all_const = true, dec0 = true, inc0 = true, rest_nonint = true,
             rest_nondec = true;
        for (int r = 0; r < p_.num_resources; ++r) {
          for (int k = 1; k < num_k; ++k) {
            const int64_t prev = p_.cost[r][p_.Index(e, i, k - 1)] -
                                 p_.cost[r][p_.Index(e, j, k - 1)];
            const int64_t cur =
                p_.cost[r][p_.Index(e, i, k)] - p_.cost[r][p_.Index(e, j, k)];
            if (cur != prev) all_const = false;
            if (r == 0) {
              if (!(cur < prev)) dec0 = false;
              if (!(cur > prev)) inc0 = false;
            } else {
              if (cur > prev) rest_nonint = false;
              if (cur < prev) rest_nondec = false;
            }
          }
        }
        if (all_const) {
          constraints->Add(j, i, pos);  // a free swap: smaller width first
        } else if (dec0 && rest_nonint) {
          constraints->Add(i, j, pos);  // widening i is cheaper
        } else if (inc0 && rest_nondec) {
          constraints->Add(j, i, pos);  // widening j is cheaper
        }
      }
    }
  }

  // Upper bound on the value of any completion of positions d..n-1 (the LP
  // relaxation, per resource; the minimum over resources), or kInfeasible.
  // `cap0` replaces capacity[0] (tie checks tighten it).
  int64_t Bound(const EncoderData& data, int d, int64_t value,
                const std::array<int64_t, kMaxResources>& used,
                int64_t cap0) const {
    int64_t bound = std::numeric_limits<int64_t>::max();
    for (int r = 0; r < p_.num_resources; ++r) {
      const int64_t cap = r == 0 ? cap0 : p_.capacity[r];
      int64_t room = cap - used[r] - data.suffix_cost[r][d];
      if (room < 0) return kInfeasible;
      int64_t ub = value + data.suffix_value[r][d];
      for (const Increment& s : data.steps[r]) {
        if (s.pos < d) continue;
        if (s.dc <= room) {
          room -= s.dc;
          ub += s.dv;
        } else {
          ub += static_cast<int64_t>(static_cast<int128>(room) * s.dv / s.dc);
          break;
        }
      }
      bound = std::min(bound, ub);
    }
    return bound;
  }

  // Offers widths_ (a complete configuration) as a solution if it is
  // feasible.
  void OfferIfFeasible(int e, const std::array<int64_t, kMaxResources>& used) {
    std::array<int64_t, kMaxResources> total = used;
    int64_t value = 0;
    for (int i = 0; i < p_.num_tasks; ++i) {
      const size_t at = p_.Index(e, i, widths_[i]);
      value += p_.value[at];
      for (int r = 0; r < p_.num_resources; ++r) total[r] += p_.cost[r][at];
    }
    for (int r = 0; r < p_.num_resources; ++r) {
      if (total[r] > p_.capacity[r]) return;
    }
    if (!p_.rank.empty()) {
      for (int i = 0; i < p_.num_tasks; ++i) {
        for (int j = 0; j < p_.num_tasks; ++j) {
          if (p_.rank[i] > p_.rank[j] && widths_[i] < widths_[j]) return;
        }
      }
    }
    ConsiderLeaf(e, value, total[0]);
  }

  // Every decoder at one width: always within any rank order.
  void UniformIncumbents(int e,
                         const std::array<int64_t, kMaxResources>& used) {
    for (int k = 0; k < p_.num_widths; ++k) {
      std::fill(widths_.begin(), widths_.end(), k);
      OfferIfFeasible(e, used);
    }
  }

  // The integral part of the LP greedy (resource 0).
  void GreedyIncumbent(int e, const std::array<int64_t, kMaxResources>& used) {
    const EncoderData& data = data_[e];
    std::vector<char> blocked(p_.num_tasks, 0);
    widths_ = data.start_width[0];
    int64_t room = p_.capacity[0] - used[0] - data.suffix_cost[0][0];
    if (room < 0) return;
    for (const Increment& s : data.steps[0]) {
      if (blocked[s.pos]) continue;
      if (s.dc <= room) {
        room -= s.dc;
        widths_[data.order[s.pos]] = s.to_width;
      } else {
        blocked[s.pos] = 1;  // its later steps build on this one
      }
    }
    OfferIfFeasible(e, used);
  }

  // With no completion better in value than the incumbent, can one tie it
  // and win on cost or lexicographic order?
  bool TieCanWin(const EncoderData& data, int e, int d, int64_t value,
                 const std::array<int64_t, kMaxResources>& used) const {
    const int64_t cap0 = p_.capacity[0];
    if (Bound(data, d, value, used, std::min(cap0, best_.cost - 1)) >=
        best_.value) {
      return true;  // maybe cheaper
    }
    if (Bound(data, d, value, used, std::min(cap0, best_.cost)) < best_.value) {
      return false;
    }
    // Only an equal-cost tie: it must come first lexicographically. The
    // longest run of tasks 0, 1, ... already assigned decides when it
    // differs from the incumbent's.
    size_t assigned = 0;
    while (assigned < widths_.size() && data.pos[assigned] < d) ++assigned;
    return CompareLex(e, widths_, best_.encoder, best_.widths, assigned) <= 0;
  }

  void Visit(int e, int d, int64_t value,
             const std::array<int64_t, kMaxResources>& used) {
    if (nodes_ >= max_nodes_) {
      aborted_ = true;
      return;
    }
    ++nodes_;
    if (d == p_.num_tasks) {
      ConsiderLeaf(e, value, used[0]);
      return;
    }
    const EncoderData& data = data_[e];
    const int64_t bound = Bound(data, d, value, used, p_.capacity[0]);
    if (bound == kInfeasible) return;
    if (have_best_ && bound <= best_.value) {
      if (bound < best_.value) return;
      if (!TieCanWin(data, e, d, value, used)) return;
    }
    const int task = data.order[d];
    int lo, hi;
    data.constraints.Range(d, widths_, p_.num_widths, &lo, &hi);
    // Widest first: good configurations early, so the bound prunes more.
    for (int k = hi; k >= lo; --k) {
      const size_t at = p_.Index(e, task, k);
      std::array<int64_t, kMaxResources> next;
      if (!p_.AddCost(used, at, &next)) continue;
      widths_[task] = k;
      Visit(e, d + 1, value + p_.value[at], next);
      if (aborted_) return;
    }
  }

  const int64_t max_nodes_;
  std::vector<EncoderData> data_;
};

}  // namespace

Quantizer::Quantizer(double limit) {
  int exponent = 0;
  std::frexp(limit, &exponent);  // limit in [2^(exponent-1), 2^exponent)
  // Capped so that 1 / unit stays finite: a subnormal limit (a budget of
  // 1e-313, found by tools/fuzz.sh) made it infinite and the capacity an
  // out-of-range conversion. Below 2^-959 the unit is then coarser than the
  // limit, capacity 0: every positive cost is over, as it is.
  inv_unit_ = std::ldexp(1.0, std::min(41 - exponent, 1000));
  capacity_ = static_cast<int64_t>(std::floor(limit * inv_unit_));
}

int64_t Quantizer::operator()(double cost) const {
  if (!(cost > 0)) return 0;
  const double scaled = std::ceil(cost * inv_unit_);
  if (!(scaled <= static_cast<double>(capacity_))) return capacity_ + 1;
  return static_cast<int64_t>(scaled);
}

int64_t QuantizeValue(double weight, double max_weight, double quality) {
  int exponent = 0;
  std::frexp(max_weight, &exponent);
  return std::llround(std::ldexp(weight, 36 - exponent) * quality);
}

bool Better(const Solution& a, const Solution& b) {
  if (a.value != b.value) return a.value > b.value;
  if (a.cost != b.cost) return a.cost < b.cost;
  return CompareLex(a.encoder, a.widths, b.encoder, b.widths,
                    std::min(a.widths.size(), b.widths.size())) < 0;
}

std::optional<Solution> SolveExhaustive(const SearchProblem& problem) {
  return Exhaustive(problem).Run();
}

std::optional<Solution> SolveBranchAndBound(const SearchProblem& problem,
                                            int64_t max_nodes) {
  return BranchAndBound(problem, max_nodes).Run();
}

std::optional<Solution> SolveUniform(
    const SearchProblem& problem, const std::vector<int>& decoder_for_encoder) {
  std::optional<Solution> best;
  Solution s;
  int64_t evaluated = 0;
  for (int e = 0; e < problem.num_encoders; ++e) {
    for (int k = 0; k < problem.num_widths; ++k) {
      if (!decoder_for_encoder.empty() && decoder_for_encoder[e] != k) continue;
      ++evaluated;
      std::array<int64_t, kMaxResources> used = {};
      for (int r = 0; r < problem.num_resources; ++r) {
        used[r] = problem.encoder_cost[r][e];
      }
      int64_t value = 0;
      for (int i = 0; i < problem.num_tasks; ++i) {
        const size_t at = problem.Index(e, i, k);
        value += problem.value[at];
        for (int r = 0; r < problem.num_resources; ++r) {
          used[r] += problem.cost[r][at];
        }
      }
      bool fits = true;
      for (int r = 0; r < problem.num_resources; ++r) {
        fits &= used[r] <= problem.capacity[r];
      }
      if (!fits) continue;
      s.encoder = e;
      s.widths.assign(problem.num_tasks, k);
      s.value = value;
      s.cost = used[0];
      if (!best || Better(s, *best)) best = s;
    }
  }
  if (best) best->nodes = evaluated;
  return best;
}

}  // namespace search
}  // namespace slimserve
