// Property tests of the planners ("exact", "paper", "uniform") and of
// admission (deadlines, load) over thousands of random problems, checked
// against an independent brute force.

#include "engine/planning/admission.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/model/quality_table.h"
#include "engine/model/spec.h"
#include "engine/planning/planner.h"
#include "engine/planning/search.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------------------
// Random worlds: a spec with n tasks, costs, qualities and latencies.

struct WorldOptions {
  int tasks = 4;
  int encoders = 4;
  int widths = 4;
  // Exactly representable numbers (integer costs, qualities in 1/1024 or
  // coarser steps, dyadic latencies): the brute force's double arithmetic is
  // then exact and the plans must match it configuration for configuration,
  // tie-breaks included.
  bool dyadic = true;
  // Qualities in steps of 1/16 instead of 1/1024: many exact ties.
  bool coarse = false;
  // Costs increasing in the decoder width (as the real cost model); else
  // arbitrary.
  bool monotone_costs = true;
};

struct World {
  v1::ModelSpec spec;
  CostTable costs;
  std::unique_ptr<QualityTable> quality;
  LatencyTable latency;
  bool has_latency = true;

  PlanningContext context() const {
    PlanningContext c;
    c.spec = &spec;
    c.costs = &costs;
    c.quality = quality.get();
    c.latency = has_latency ? &latency : nullptr;
    return c;
  }
};

v1::ModelSpec SpecWithTasks(int tasks, int encoders, int widths) {
  v1::ModelSpec spec = DefaultModelSpec();
  const v1::TaskSpec depth = spec.tasks(1);
  spec.clear_tasks();
  spec.clear_encoder_widths();
  spec.clear_decoder_widths();
  for (int e = 0; e < encoders; ++e) {
    spec.add_encoder_widths(static_cast<double>(e + 1) / encoders);
  }
  for (int k = 0; k < widths; ++k) {
    spec.add_decoder_widths(static_cast<double>(k + 1) / widths);
  }
  for (int t = 0; t < tasks; ++t) {
    v1::TaskSpec* task = spec.add_tasks();
    *task = depth;
    task->set_name(absl::StrCat("t", t));
  }
  return spec;
}

World RandomWorld(std::mt19937& rng, const WorldOptions& o) {
  auto uniform_int = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  World w;
  w.spec = SpecWithTasks(o.tasks, o.encoders, o.widths);
  double enc = 0;
  for (int e = 0; e < o.encoders; ++e) {
    enc += o.dyadic ? uniform_int(50, 500) : uniform(50, 500);
    w.costs.encoder_macs.push_back(enc);
  }
  std::vector<std::vector<std::vector<double>>> q(o.tasks);
  w.costs.decoder_macs.resize(o.tasks);
  w.latency.decoder_ms.resize(o.tasks);
  w.latency.batch_size = 1;
  w.latency.fixed_ms = o.dyadic ? uniform_int(0, 64) / 64.0 : uniform(0, 1);
  for (int e = 0; e < o.encoders; ++e) {
    const double ms = o.dyadic ? uniform_int(64, 640) / 64.0 : uniform(1, 10);
    w.latency.encoder_ms.push_back(ms * (e + 1));
  }
  const double step = o.coarse ? 16 : 1024;
  for (int t = 0; t < o.tasks; ++t) {
    // Monotone-ish quality: a smooth increasing trend plus noise.
    const double enc_gain = uniform(0.1, 0.4), dec_gain = uniform(0.05, 0.4);
    const double noise = uniform(0, 0.05);
    q[t].resize(o.encoders);
    w.costs.decoder_macs[t].resize(o.encoders);
    w.latency.decoder_ms[t].resize(o.encoders);
    const double base_cost = o.dyadic ? uniform_int(5, 100) : uniform(5, 100);
    for (int e = 0; e < o.encoders; ++e) {
      double c = base_cost * (1 + 0.5 * e);
      for (int k = 0; k < o.widths; ++k) {
        double v = 1.0 - enc_gain * (1.0 - (e + 1.0) / o.encoders) -
                   dec_gain * (1.0 - (k + 1.0) / o.widths) +
                   uniform(-noise, noise);
        v = std::min(1.0, std::max(0.05, v));
        if (o.dyadic) v = std::max(1.0, std::round(v * step)) / step;
        q[t][e].push_back(v);
        if (o.monotone_costs) {
          if (k > 0) c += o.dyadic ? uniform_int(1, 150) : uniform(1, 150);
        } else {
          c = o.dyadic ? uniform_int(5, 400) : uniform(5, 400);
        }
        w.costs.decoder_macs[t][e].push_back(c);
        const double ms = o.dyadic ? uniform_int(1, 320) / 64.0 : uniform(0, 5);
        w.latency.decoder_ms[t][e].push_back(ms);
      }
    }
  }
  w.quality = std::make_unique<QualityTable>(
      QualityTable::FromValues(std::move(q), "random").value());
  return w;
}

// Weights: dyadic worlds get small integers (ties on purpose), others floats.
std::vector<float> RandomWeights(std::mt19937& rng, int n, bool dyadic) {
  std::vector<float> w(n);
  for (float& x : w) {
    x = dyadic
            ? static_cast<float>(std::uniform_int_distribution<int>(1, 3)(rng))
            : std::uniform_real_distribution<float>(0.01f, 1.0f)(rng);
  }
  return w;
}

double CheapestMacs(const World& w, const std::vector<int>& tasks) {
  double best = kInf;
  for (size_t e = 0; e < w.costs.encoder_macs.size(); ++e) {
    double c = w.costs.encoder_macs[e];
    for (int t : tasks) {
      const auto& row = w.costs.decoder_macs[t][e];
      c += *std::min_element(row.begin(), row.end());
    }
    best = std::min(best, c);
  }
  return best;
}

// An input for all tasks of the world with random weights and budget (from a
// bit below the cheapest configuration to a bit above the full width).
PlanningInput RandomInput(std::mt19937& rng, const World& w, bool dyadic) {
  PlanningInput in;
  const int n = w.spec.tasks_size();
  for (int t = 0; t < n; ++t) in.tasks.push_back(t);
  in.weights = RandomWeights(rng, n, dyadic);
  in.full_macs = w.costs.FullMacs(in.tasks);
  const double lo = CheapestMacs(w, in.tasks) * 0.98;
  double b =
      std::uniform_real_distribution<double>(lo, in.full_macs * 1.02)(rng);
  if (dyadic) b = std::round(b);
  in.budget_macs = b;
  return in;
}

// ---------------------------------------------------------------------------
// Brute force: every configuration, in doubles, in lexicographic order.

// kUniform: the encoder and every decoder at the same width value (the
// specs here have widths (k+1)/n); kSharedDecoder: one decoder width.
enum class Rule { kAny, kPreference, kUniform, kSharedDecoder };

struct Candidate {
  int encoder = -1;
  std::vector<int> widths;
  double objective = 0;
  double macs = 0;
};

double Objective(const World& w, const PlanningInput& in, int e,
                 const std::vector<int>& k) {
  double obj = 0;
  for (size_t i = 0; i < in.tasks.size(); ++i) {
    obj += static_cast<double>(in.weights[i]) *
           w.quality->at(in.tasks[i], e, k[i]);
  }
  return obj;
}

double Macs(const World& w, const PlanningInput& in, int e,
            const std::vector<int>& k) {
  double macs = w.costs.encoder_macs[e];
  for (size_t i = 0; i < in.tasks.size(); ++i) {
    macs += w.costs.decoder_macs[in.tasks[i]][e][k[i]];
  }
  return macs;
}

// Network time (without fixed_ms) of a configuration.
double NetMs(const World& w, const PlanningInput& in, int e,
             const std::vector<int>& k) {
  double ms = w.latency.encoder_ms[e];
  for (size_t i = 0; i < in.tasks.size(); ++i) {
    ms += w.latency.decoder_ms[in.tasks[i]][e][k[i]];
  }
  return ms;
}

bool FollowsPreference(const PlanningInput& in, const std::vector<int>& k) {
  for (size_t i = 0; i < k.size(); ++i) {
    for (size_t j = 0; j < k.size(); ++j) {
      if (in.weights[i] > in.weights[j] && k[i] < k[j]) return false;
    }
  }
  return true;
}

bool WithinLimits(const World& w, const PlanningInput& in, int e,
                  const std::vector<int>& k) {
  if (Macs(w, in, e, k) > in.budget_macs * (1 + 1e-9)) return false;
  if (std::isfinite(in.max_latency_ms) &&
      NetMs(w, in, e, k) >
          in.max_latency_ms * (1 + 1e-9) - w.latency.fixed_ms) {
    return false;
  }
  return true;
}

// The decoder width index nearest in value to encoder width e (the
// narrower on a tie), by brute force.
int NearestWidth(const slimserve::v1::ModelSpec& spec, int e) {
  int best = 0;
  double best_gap = 1e300;
  for (int k = 0; k < spec.decoder_widths_size(); ++k) {
    const double gap = std::abs(spec.decoder_widths(k) - spec.encoder_widths(e));
    if (gap < best_gap) {
      best = k;
      best_gap = gap;
    }
  }
  return best;
}

std::optional<Candidate> BruteForce(const World& w, const PlanningInput& in,
                                    Rule rule) {
  const int n = static_cast<int>(in.tasks.size());
  const int num_e = w.spec.encoder_widths_size();
  const int num_k = w.spec.decoder_widths_size();
  std::optional<Candidate> best;
  for (int e = 0; e < num_e; ++e) {
    std::vector<int> k(n, 0);
    while (true) {
      bool allowed = true;
      if (rule == Rule::kPreference) allowed = FollowsPreference(in, k);
      if (rule == Rule::kUniform || rule == Rule::kSharedDecoder) {
        allowed =
            std::all_of(k.begin(), k.end(), [&](int x) { return x == k[0]; });
      }
      if (rule == Rule::kUniform) {
        allowed &= k[0] == NearestWidth(w.spec, e);
      }
      if (allowed && WithinLimits(w, in, e, k)) {
        Candidate c{e, k, Objective(w, in, e, k), Macs(w, in, e, k)};
        // Enumeration is in lexicographic order: only strictly better wins.
        if (!best || c.objective > best->objective ||
            (c.objective == best->objective && c.macs < best->macs)) {
          best = c;
        }
      }
      int pos = n - 1;
      while (pos >= 0 && ++k[pos] == num_k) k[pos--] = 0;
      if (pos < 0) break;
    }
  }
  return best;
}

// The configuration with the fewest MACs (or the lowest latency).
Candidate Cheapest(const World& w, const PlanningInput& in, bool by_latency) {
  Candidate best;
  double best_cost = kInf;
  for (int e = 0; e < w.spec.encoder_widths_size(); ++e) {
    std::vector<int> k(in.tasks.size());
    for (size_t i = 0; i < in.tasks.size(); ++i) {
      const auto& row = by_latency ? w.latency.decoder_ms[in.tasks[i]][e]
                                   : w.costs.decoder_macs[in.tasks[i]][e];
      k[i] = static_cast<int>(std::min_element(row.begin(), row.end()) -
                              row.begin());
    }
    const double cost = by_latency ? NetMs(w, in, e, k) : Macs(w, in, e, k);
    if (cost < best_cost) {
      best_cost = cost;
      best = Candidate{e, k, Objective(w, in, e, k), Macs(w, in, e, k)};
    }
  }
  return best;
}

// Calls f(e, k) for every configuration within the limits.
template <typename F>
void ForEachWithinLimits(const World& w, const PlanningInput& in, F f) {
  const int n = static_cast<int>(in.tasks.size());
  for (int e = 0; e < w.spec.encoder_widths_size(); ++e) {
    std::vector<int> k(n, 0);
    while (true) {
      if (WithinLimits(w, in, e, k)) f(e, k);
      int pos = n - 1;
      while (pos >= 0 && ++k[pos] == w.spec.decoder_widths_size()) k[pos--] = 0;
      if (pos < 0) break;
    }
  }
}

// "normalized"'s weights by brute force: each weight over the range of its
// task's quality across the configurations within the limits (exact for a
// MACs budget alone), at least 1e-3.
std::vector<double> NormalizedWeights(const World& w, const PlanningInput& in) {
  const size_t n = in.tasks.size();
  std::vector<double> lo(n, kInf), hi(n, -kInf);
  ForEachWithinLimits(w, in, [&](int e, const std::vector<int>& k) {
    for (size_t i = 0; i < n; ++i) {
      const double q = w.quality->at(in.tasks[i], e, k[i]);
      lo[i] = std::min(lo[i], q);
      hi[i] = std::max(hi[i], q);
    }
  });
  std::vector<double> weights(n);
  for (size_t i = 0; i < n; ++i) {
    weights[i] = in.weights[i] / std::max(hi[i] - lo[i], 1e-3);
  }
  return weights;
}

double ScaledObjective(const World& w, const PlanningInput& in,
                       const std::vector<double>& weights, int e,
                       const std::vector<int>& k) {
  double obj = 0;
  for (size_t i = 0; i < in.tasks.size(); ++i) {
    obj += weights[i] * w.quality->at(in.tasks[i], e, k[i]);
  }
  return obj;
}

// Small spaces: 1-5 tasks, 1-4 encoder and decoder widths; every other
// iteration coarse, every fifth with costs not increasing in width.
WorldOptions SmallWorldOptions(std::mt19937& rng, int iter) {
  WorldOptions o;
  o.tasks = std::uniform_int_distribution<int>(1, 5)(rng);
  o.encoders = std::uniform_int_distribution<int>(1, 4)(rng);
  o.widths = std::uniform_int_distribution<int>(1, 4)(rng);
  o.coarse = iter % 2 == 0;
  o.monotone_costs = iter % 5 != 0;
  return o;
}

std::string Describe(int e, const std::vector<int>& k) {
  return absl::StrCat("e=", e, " k=[", absl::StrJoin(k, ","), "]");
}

std::unique_ptr<Planner> MakePlanner(const std::string& name,
                                     int64_t exhaustive_limit,
                                     int64_t max_nodes = int64_t{1} << 22) {
  PlannerOptions o;
  o.exhaustive_limit = exhaustive_limit;
  o.max_nodes = max_nodes;
  return CreatePlanner(name, o).value();
}

// ---------------------------------------------------------------------------

TEST(PlannerFactoryTest, NamesAndErrors) {
  for (const std::string& name : PlannerNames()) {
    auto p = CreatePlanner(name);
    ASSERT_TRUE(p.ok()) << name << ": " << p.status();
    EXPECT_EQ((*p)->name(), name);
  }
  auto unknown = CreatePlanner("greedy");
  ASSERT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find(
                "unknown planner \"greedy\" (known: exact, normalized, paper, "
                "paper-normalized, shared-decoder, uniform, widest-fit)"),
            std::string::npos)
      << unknown.status();
  PlannerOptions bad;
  bad.max_nodes = 0;
  EXPECT_EQ(CreatePlanner("exact", bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = PlannerOptions();
  bad.exhaustive_limit = -1;
  EXPECT_EQ(CreatePlanner("exact", bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A configuration that fits in fixed point never exceeds the limit; one
// within the limit by more than n * 2^-40 (relative) always fits. (The
// planners' limit is the budget * (1 + 1e-9), so any configuration that meets
// the budget itself fits.)
TEST(QuantizerTest, NeverOverAndNeverTooStrict) {
  std::mt19937 rng(8);
  std::uniform_real_distribution<double> log_limit(-3, 12);
  for (int iter = 0; iter < 20000; ++iter) {
    const double limit = std::pow(10.0, log_limit(rng));
    const search::Quantizer q(limit);
    const int n = std::uniform_int_distribution<int>(1, 21)(rng);
    std::vector<double> parts(n);
    std::uniform_real_distribution<double> share(0, 2.0 * limit / n);
    long double exact = 0;
    int64_t fixed = 0;
    for (double& c : parts) {
      c = share(rng);
      exact += c;
      fixed += q(c);
    }
    if (fixed <= q.capacity()) {
      EXPECT_LE(exact, static_cast<long double>(limit)) << iter;
    }
    // Scale the parts to sum to just under the limit: must fit.
    long double scaled = 0;
    fixed = 0;
    for (double c : parts) {
      const double s = static_cast<double>(c * (limit / exact)) * (1 - 1e-10);
      scaled += s;
      fixed += q(s);
    }
    ASSERT_LE(scaled, static_cast<long double>(limit));
    EXPECT_LE(fixed, q.capacity()) << iter << " limit " << limit;
  }
  const search::Quantizer q(1000.0);
  EXPECT_EQ(q(0), 0);
  EXPECT_EQ(q(-5), 0);
  EXPECT_EQ(q(1e300), q.capacity() + 1);  // capped: sums cannot overflow
  EXPECT_LE(q(1000.0), q.capacity());
  EXPECT_GT(q(1000.0 * (1 + 1e-9)), q.capacity());
  // A subnormal limit (fuzzing found a 1e-313 budget overflowing the unit):
  // nothing positive fits, nothing overflows.
  for (const double tiny : {1e-313, 4.9e-324, 1e-300}) {
    const search::Quantizer t(tiny);
    EXPECT_GE(t.capacity(), 0) << tiny;
    EXPECT_EQ(t(0), 0);
    EXPECT_GT(t(1.0), t.capacity()) << tiny;
    EXPECT_GT(t(1e300), t.capacity()) << tiny;
  }
}

// Small spaces with exact arithmetic and many ties: every strategy returns
// exactly the brute force's configuration, whether it enumerates or uses
// branch-and-bound.
TEST(PlannerPropertyTest, MatchesBruteForceExactlyOnSmallSpaces) {
  std::mt19937 rng(1);
  const auto exact_exh = MakePlanner("exact", int64_t{1} << 40);
  const auto exact_bnb = MakePlanner("exact", 0);
  const auto paper_exh = MakePlanner("paper", int64_t{1} << 40);
  const auto paper_bnb = MakePlanner("paper", 0);
  const auto uniform = MakePlanner("uniform", 0);
  const auto shared = MakePlanner("shared-decoder", 0);
  int planned = 0, infeasible = 0, with_latency = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const WorldOptions o = SmallWorldOptions(rng, iter);
    const World w = RandomWorld(rng, o);
    PlanningInput in = RandomInput(rng, w, /*dyadic=*/true);
    if (iter % 3 == 0) {
      in.max_latency_ms =
          std::uniform_int_distribution<int>(64, 64 * 30)(rng) / 64.0;
      ++with_latency;
    }
    const PlanningContext ctx = w.context();
    struct Check {
      const Planner* planner;
      Rule rule;
    };
    const Check checks[] = {{exact_exh.get(), Rule::kAny},
                            {exact_bnb.get(), Rule::kAny},
                            {paper_exh.get(), Rule::kPreference},
                            {paper_bnb.get(), Rule::kPreference},
                            {uniform.get(), Rule::kUniform},
                            {shared.get(), Rule::kSharedDecoder}};
    for (const Check& c : checks) {
      const std::optional<Candidate> want = BruteForce(w, in, c.rule);
      const std::optional<Planner::Widths> got = c.planner->Choose(ctx, in);
      ASSERT_EQ(got.has_value(), want.has_value())
          << "iter " << iter << " " << c.planner->name();
      if (!want) {
        ++infeasible;
        continue;
      }
      ++planned;
      EXPECT_TRUE(got->complete);
      ASSERT_EQ(Describe(got->encoder, got->decoders),
                Describe(want->encoder, want->widths))
          << "iter " << iter << " planner " << c.planner->name()
          << " objective got " << Objective(w, in, got->encoder, got->decoders)
          << " want " << want->objective << " macs got "
          << Macs(w, in, got->encoder, got->decoders) << " want " << want->macs;
    }
  }
  EXPECT_GT(planned, 10000);
  EXPECT_GT(infeasible, 100);
  EXPECT_GT(with_latency, 900);
}

// "normalized" and "paper-normalized" reach the brute-force optimum of the
// objective with brute-force normalised weights (MACs budgets: there the
// attainable ranges are exact), within the fixed point's resolution, by
// enumeration and by branch-and-bound alike.
TEST(PlannerPropertyTest, NormalizedPlannersMatchBruteForce) {
  std::mt19937 rng(3);
  struct Check {
    std::unique_ptr<Planner> planner;
    Rule rule;
  };
  Check checks[] = {
      {MakePlanner("normalized", int64_t{1} << 40), Rule::kAny},
      {MakePlanner("normalized", 0), Rule::kAny},
      {MakePlanner("paper-normalized", int64_t{1} << 40), Rule::kPreference},
      {MakePlanner("paper-normalized", 0), Rule::kPreference}};
  int planned = 0, differs_from_exact = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    const WorldOptions o = SmallWorldOptions(rng, iter);
    const World w = RandomWorld(rng, o);
    const PlanningInput in = RandomInput(rng, w, /*dyadic=*/true);
    const PlanningContext ctx = w.context();
    const std::vector<double> weights = NormalizedWeights(w, in);
    double total_weight = 0;
    for (double v : weights) total_weight += v;
    const std::optional<Candidate> exact = BruteForce(w, in, Rule::kAny);
    for (const Check& c : checks) {
      std::optional<double> best;
      ForEachWithinLimits(w, in, [&](int e, const std::vector<int>& k) {
        if (c.rule == Rule::kPreference && !FollowsPreference(in, k)) return;
        const double v = ScaledObjective(w, in, weights, e, k);
        if (!best || v > *best) best = v;
      });
      const std::optional<Planner::Widths> got = c.planner->Choose(ctx, in);
      ASSERT_EQ(got.has_value(), best.has_value())
          << "iter " << iter << " " << c.planner->name();
      if (!got) continue;
      ++planned;
      EXPECT_TRUE(got->complete);
      EXPECT_TRUE(WithinLimits(w, in, got->encoder, got->decoders))
          << "iter " << iter;
      if (c.rule == Rule::kPreference) {
        EXPECT_TRUE(FollowsPreference(in, got->decoders)) << "iter " << iter;
      }
      EXPECT_GE(ScaledObjective(w, in, weights, got->encoder, got->decoders),
                *best - 1e-9 * total_weight)
          << "iter " << iter << " " << c.planner->name() << " "
          << Describe(got->encoder, got->decoders);
      if (c.rule == Rule::kAny && exact &&
          Describe(got->encoder, got->decoders) !=
              Describe(exact->encoder, exact->widths)) {
        ++differs_from_exact;
      }
    }
  }
  EXPECT_GT(planned, 5000);
  // The normalisation changes plans, not only the scale of the objective.
  EXPECT_GT(differs_from_exact, 50);
}

// Up to 20 tasks with real-valued numbers: feasibility, optimality order,
// preference order, determinism, and branch-and-bound == exhaustive where
// enumeration is affordable.
TEST(PlannerPropertyTest, LargeRandomProblems) {
  std::mt19937 rng(2);
  const auto exact = MakePlanner("exact", 4096);
  const auto exact_exh = MakePlanner("exact", int64_t{1} << 40);
  const auto paper = MakePlanner("paper", 4096);
  const auto paper_exh = MakePlanner("paper", int64_t{1} << 40);
  const auto uniform = MakePlanner("uniform", 0);
  const auto shared = MakePlanner("shared-decoder", 0);
  int compared_with_exhaustive = 0, planned = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    WorldOptions o;
    o.tasks = std::uniform_int_distribution<int>(1, 20)(rng);
    o.dyadic = false;
    o.monotone_costs = iter % 7 != 0;
    const World w = RandomWorld(rng, o);
    PlanningInput in = RandomInput(rng, w, /*dyadic=*/false);
    if (iter % 4 == 0) {
      in.max_latency_ms = std::uniform_real_distribution<double>(2, 60)(rng);
    }
    const PlanningContext ctx = w.context();
    const auto e = exact->Choose(ctx, in);
    const auto p = paper->Choose(ctx, in);
    const auto u = uniform->Choose(ctx, in);
    if (!e) {
      // Nothing fits: then neither restricted planner finds anything, and
      // the cheapest and the fastest configurations are both out.
      EXPECT_FALSE(p.has_value()) << "iter " << iter;
      EXPECT_FALSE(u.has_value()) << "iter " << iter;
      for (const Candidate& c :
           {Cheapest(w, in, false), Cheapest(w, in, true)}) {
        EXPECT_FALSE(WithinLimits(w, in, c.encoder, c.widths))
            << "iter " << iter;
      }
      continue;
    }
    ++planned;
    const double tol = 1e-8 * o.tasks;
    auto check_limits = [&](const Planner::Widths& x, const char* who) {
      EXPECT_TRUE(x.complete) << who;
      EXPECT_LE(Macs(w, in, x.encoder, x.decoders), in.budget_macs * (1 + 1e-9))
          << who << " iter " << iter;
      if (std::isfinite(in.max_latency_ms)) {
        EXPECT_LE(w.latency.fixed_ms + NetMs(w, in, x.encoder, x.decoders),
                  in.max_latency_ms * (1 + 1e-9))
            << who << " iter " << iter;
      }
    };
    check_limits(*e, "exact");
    const double obj_e = Objective(w, in, e->encoder, e->decoders);
    if (p) {
      check_limits(*p, "paper");
      EXPECT_TRUE(FollowsPreference(in, p->decoders)) << "iter " << iter;
      EXPECT_GE(obj_e, Objective(w, in, p->encoder, p->decoders) - tol);
      if (u) {
        EXPECT_GE(Objective(w, in, p->encoder, p->decoders),
                  Objective(w, in, u->encoder, u->decoders) - tol);
      }
    }
    if (u) {
      check_limits(*u, "uniform");
      for (int k : u->decoders) EXPECT_EQ(k, u->decoders[0]);
      EXPECT_EQ(u->decoders[0], NearestWidth(w.spec, u->encoder));
      // Every uniform configuration shares one decoder width.
      const auto s = shared->Choose(ctx, in);
      ASSERT_TRUE(s.has_value()) << "iter " << iter;
      check_limits(*s, "shared-decoder");
      for (int k : s->decoders) EXPECT_EQ(k, s->decoders[0]);
      EXPECT_GE(Objective(w, in, s->encoder, s->decoders),
                Objective(w, in, u->encoder, u->decoders) - tol);
      // Uniform configurations follow any preference order.
      ASSERT_TRUE(p.has_value()) << "iter " << iter;
    }
    // Deterministic, also across planner instances.
    const auto again = MakePlanner("exact", 4096)->Choose(ctx, in);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(Describe(again->encoder, again->decoders),
              Describe(e->encoder, e->decoders));
    if (o.tasks <= 7) {
      ++compared_with_exhaustive;
      const auto ee = exact_exh->Choose(ctx, in);
      const auto pe = paper_exh->Choose(ctx, in);
      ASSERT_TRUE(ee.has_value());
      EXPECT_EQ(Describe(ee->encoder, ee->decoders),
                Describe(e->encoder, e->decoders))
          << "iter " << iter;
      ASSERT_EQ(pe.has_value(), p.has_value());
      if (pe) {
        EXPECT_EQ(Describe(pe->encoder, pe->decoders),
                  Describe(p->encoder, p->decoders))
            << "iter " << iter;
      }
      // And exact is the true optimum (up to the fixed-point resolution).
      const auto brute = BruteForce(w, in, Rule::kAny);
      ASSERT_TRUE(brute.has_value());
      EXPECT_NEAR(obj_e, brute->objective, tol) << "iter " << iter;
    }
  }
  EXPECT_GT(planned, 1200);
  EXPECT_GT(compared_with_exhaustive, 300);
}

TEST(PlannerPropertyTest, LargerBudgetNeverLowersTheObjective) {
  std::mt19937 rng(3);
  const auto exact = MakePlanner("exact", 4096);
  const auto paper = MakePlanner("paper", 4096);
  const auto uniform = MakePlanner("uniform", 4096);
  int steps = 0;
  for (int iter = 0; iter < 300; ++iter) {
    WorldOptions o;
    o.tasks = std::uniform_int_distribution<int>(1, 20)(rng);
    o.dyadic = false;
    const World w = RandomWorld(rng, o);
    PlanningInput in = RandomInput(rng, w, false);
    const PlanningContext ctx = w.context();
    const double lo = CheapestMacs(w, in.tasks);
    for (const Planner* planner : {exact.get(), paper.get(), uniform.get()}) {
      double previous = -1;
      for (int s = 0; s <= 12; ++s) {
        in.budget_macs = lo + (in.full_macs - lo) * s / 12.0;
        const auto x = planner->Choose(ctx, in);
        ASSERT_TRUE(x.has_value()) << planner->name() << " iter " << iter;
        const double obj = Objective(w, in, x->encoder, x->decoders);
        EXPECT_GE(obj, previous - 1e-8 * o.tasks)
            << planner->name() << " iter " << iter << " step " << s;
        previous = obj;
        ++steps;
      }
      // At full budget: everything at full width when quality peaks there.
    }
  }
  EXPECT_GT(steps, 10000);
}

// Through the public entry point: zero-weight tasks are not planned, the
// plan's reported numbers match the tables.
TEST(PlannerPropertyTest, PlansThroughPlanWith) {
  std::mt19937 rng(4);
  int planned = 0;
  for (int iter = 0; iter < 1000; ++iter) {
    WorldOptions o;
    o.tasks = std::uniform_int_distribution<int>(1, 20)(rng);
    o.dyadic = false;
    World w = RandomWorld(rng, o);
    w.has_latency = iter % 2 == 0;
    const PlanningContext ctx = w.context();
    ASSERT_TRUE(ValidatePlanningContext(ctx).ok());
    PlanRequest r;
    r.budget.kind = Budget::Kind::kFraction;
    r.budget.value = std::uniform_real_distribution<double>(0.05, 1.0)(rng);
    std::vector<float> weights = RandomWeights(rng, o.tasks, false);
    for (int t = 0; t < o.tasks; ++t) {
      if (std::uniform_real_distribution<double>(0, 1)(rng) < 0.3)
        weights[t] = 0;
      r.task_weights[w.spec.tasks(t).name()] = weights[t];
    }
    for (const std::string& name : PlannerNames()) {
      const auto planner = CreatePlanner(name).value();
      auto plan = PlanWith(*planner, ctx, r);
      if (!plan.ok()) {
        EXPECT_TRUE(plan.status().code() == absl::StatusCode::kOutOfRange ||
                    plan.status().code() == absl::StatusCode::kInvalidArgument)
            << plan.status();
        continue;
      }
      ++planned;
      EXPECT_EQ(plan->planner, name);
      EXPECT_LE(plan->macs, plan->budget_macs * (1 + 1e-9));
      std::vector<int> active;
      for (int t = 0; t < o.tasks; ++t) {
        if (weights[t] > 0) active.push_back(t);
      }
      ASSERT_EQ(plan->tasks.size(), active.size());
      double objective = 0,
             ms = w.latency.fixed_ms +
                  w.latency.encoder_ms[plan->encoder_width_index];
      for (size_t i = 0; i < active.size(); ++i) {
        const TaskPlan& tp = plan->tasks[i];
        EXPECT_EQ(tp.task, active[i]);
        EXPECT_GT(tp.weight, 0.0f);
        const double q = w.quality->at(tp.task, plan->encoder_width_index,
                                       tp.decoder_width_index);
        EXPECT_EQ(tp.predicted_quality, q);
        objective += static_cast<double>(tp.weight) * q;
        ms += w.latency.decoder_ms[tp.task][plan->encoder_width_index]
                                  [tp.decoder_width_index];
      }
      EXPECT_DOUBLE_EQ(plan->objective, objective);
      EXPECT_FALSE(plan->synthetic_quality);
      if (w.has_latency) {
        EXPECT_DOUBLE_EQ(plan->predicted_latency_ms, ms);
      } else {
        EXPECT_LT(plan->predicted_latency_ms, 0);
      }
    }
  }
  EXPECT_GT(planned, 2500);
}

// Tasks that are copies of each other (and, with the real cost model, tasks
// whose decoders differ only in the head) are many exact ties; the search
// must not enumerate their permutations.
TEST(PlannerPropertyTest, InterchangeableTasksStayCheap) {
  std::mt19937 rng(5);
  const auto exact = MakePlanner("exact", 0, /*max_nodes=*/20000);
  const auto paper = MakePlanner("paper", 0, /*max_nodes=*/20000);
  const auto exact_exh = MakePlanner("exact", int64_t{1} << 40);
  for (int iter = 0; iter < 200; ++iter) {
    WorldOptions o;
    o.tasks = iter % 2 == 0 ? 20 : 8;
    o.dyadic = iter % 4 < 2;
    World w = RandomWorld(rng, o);
    // Every task a copy of task 0.
    std::vector<std::vector<std::vector<double>>> q(o.tasks);
    for (int t = 0; t < o.tasks; ++t) {
      w.costs.decoder_macs[t] = w.costs.decoder_macs[0];
      w.latency.decoder_ms[t] = w.latency.decoder_ms[0];
      q[t].resize(o.encoders);
      for (int e = 0; e < o.encoders; ++e) {
        for (int k = 0; k < o.widths; ++k)
          q[t][e].push_back(w.quality->at(0, e, k));
      }
    }
    w.quality = std::make_unique<QualityTable>(
        QualityTable::FromValues(std::move(q)).value());
    PlanningInput in = RandomInput(rng, w, o.dyadic);
    if (iter % 3 == 0) std::fill(in.weights.begin(), in.weights.end(), 1.0f);
    if (iter % 5 == 0) in.max_latency_ms = 5 + iter % 40;
    const PlanningContext ctx = w.context();
    const auto x = exact->Choose(ctx, in);
    const auto p = paper->Choose(ctx, in);
    if (!x) continue;
    EXPECT_TRUE(x->complete) << "iter " << iter;
    ASSERT_TRUE(p.has_value());
    EXPECT_TRUE(p->complete) << "iter " << iter;
    if (o.tasks == 8) {
      const auto y = exact_exh->Choose(ctx, in);
      ASSERT_TRUE(y.has_value());
      EXPECT_EQ(Describe(x->encoder, x->decoders),
                Describe(y->encoder, y->decoders))
          << "iter " << iter;
    }
  }
  // The real cost model: 20 tasks of the four kinds, synthetic quality.
  v1::ModelSpec spec = DefaultModelSpec();
  for (int t = 4; t < 20; ++t) {
    v1::TaskSpec* task = spec.add_tasks();
    *task = spec.tasks(t % 4);
    task->set_name(absl::StrCat(spec.tasks(t % 4).name(), t / 4));
  }
  ASSERT_TRUE(ValidateModelSpec(spec).ok());
  const CostTable costs = ComputeCostTable(spec);
  const QualityTable quality = QualityTable::Synthetic(spec);
  PlanningContext ctx;
  ctx.spec = &spec;
  ctx.costs = &costs;
  ctx.quality = &quality;
  for (int iter = 0; iter < 200; ++iter) {
    PlanRequest r;
    r.budget.value = std::uniform_real_distribution<double>(0.1, 1.0)(rng);
    if (iter % 2 == 0) {
      for (const auto& t : spec.tasks()) {
        r.task_weights[t.name()] =
            std::uniform_int_distribution<int>(0, 3)(rng) / 3.0f;
      }
    }
    auto input = ResolvePlanRequest(ctx, r);
    if (!input.ok()) continue;
    const auto x = exact->Choose(ctx, *input);
    const auto p = paper->Choose(ctx, *input);
    ASSERT_TRUE(x.has_value());
    ASSERT_TRUE(p.has_value());
    EXPECT_TRUE(x->complete) << "iter " << iter;
    EXPECT_TRUE(p->complete) << "iter " << iter;
  }
}

TEST(PlannerPropertyTest, NodeLimitStillGivesAPlanWithinBudget) {
  std::mt19937 rng(6);
  const auto capped = MakePlanner("exact", 0, /*max_nodes=*/3);
  int incomplete = 0;
  for (int iter = 0; iter < 200; ++iter) {
    WorldOptions o;
    o.tasks = 20;
    o.dyadic = false;
    const World w = RandomWorld(rng, o);
    const PlanningInput in = RandomInput(rng, w, false);
    const auto x = capped->Choose(w.context(), in);
    if (!x) continue;
    incomplete += !x->complete;
    EXPECT_LE(Macs(w, in, x->encoder, x->decoders),
              in.budget_macs * (1 + 1e-9));
  }
  EXPECT_GT(incomplete, 100);
}

// ---------------------------------------------------------------------------
// Admission: deadlines and load.

// The default model, synthetic quality, latency proportional to MACs: the
// full-width configuration takes 10 ms plus 0.5 ms fixed.
World DefaultWorld() {
  World w;
  w.spec = DefaultModelSpec();
  w.costs = ComputeCostTable(w.spec);
  w.quality = std::make_unique<QualityTable>(QualityTable::Synthetic(w.spec));
  const double ms_per_mac = 10.0 / w.costs.FullMacs();
  w.latency.batch_size = 1;
  w.latency.fixed_ms = 0.5;
  for (double m : w.costs.encoder_macs)
    w.latency.encoder_ms.push_back(m * ms_per_mac);
  w.latency.decoder_ms = w.costs.decoder_macs;
  for (auto& task : w.latency.decoder_ms) {
    for (auto& row : task) {
      for (double& m : row) m *= ms_per_mac;
    }
  }
  return w;
}

TEST(AdmissionTest, DeadlinesAndLoad) {
  const World w = DefaultWorld();
  const PlanningContext ctx = w.context();
  ASSERT_TRUE(ValidatePlanningContext(ctx).ok());
  const auto planner = CreatePlanner("exact").value();
  PlanRequest full;  // fraction 1, all tasks
  auto unloaded = Admit(*planner, ctx, full, LoadState());
  ASSERT_TRUE(unloaded.ok()) << unloaded.status();
  EXPECT_FALSE(unloaded->degraded);
  EXPECT_NEAR(unloaded->predicted_latency_ms, 10.5, 1e-9);
  EXPECT_EQ(unloaded->encoder_width, 1.0);
  EXPECT_TRUE(unloaded->synthetic_quality);
  EXPECT_NEAR(unloaded->objective, 4.0, 1e-12);

  struct Case {
    std::string name;
    double queue_wait_ms, deadline_ms;
    absl::StatusCode code;
    bool degraded;
    std::string message_part;
  };
  const Case cases[] = {
      {"generous deadline", 0, 100, absl::StatusCode::kOk, false, ""},
      {"just in time", 0, 10.5, absl::StatusCode::kOk, false, ""},
      {"queue, still in time", 2, 12.5, absl::StatusCode::kOk, false, ""},
      {"tight deadline", 0, 8, absl::StatusCode::kOk, true, ""},
      {"queue makes it tight", 5, 8, absl::StatusCode::kOk, true, ""},
      {"overloaded", 7.9, 8, absl::StatusCode::kResourceExhausted, false,
       "overloaded: predicted queue wait 7.900 ms"},
      {"shorter than anything", 0, 0.4, absl::StatusCode::kDeadlineExceeded,
       false, "is shorter than the fastest configuration"},
      {"already passed", 0, -1, absl::StatusCode::kDeadlineExceeded, false,
       "the deadline passed 1.000 ms before planning"},
      {"bad wait", -1, 10, absl::StatusCode::kInvalidArgument, false,
       "load.queue_wait_ms"},
      {"nan wait", std::nan(""), 10, absl::StatusCode::kInvalidArgument, false,
       "load.queue_wait_ms"},
      {"nan deadline", 0, std::nan(""), absl::StatusCode::kInvalidArgument,
       false, "load.deadline_ms"},
  };
  for (const Case& c : cases) {
    LoadState load;
    load.queue_wait_ms = c.queue_wait_ms;
    load.deadline_ms = c.deadline_ms;
    auto plan = Admit(*planner, ctx, full, load);
    ASSERT_EQ(plan.status().code(), c.code) << c.name << ": " << plan.status();
    if (!plan.ok()) {
      EXPECT_NE(plan.status().message().find(c.message_part), std::string::npos)
          << c.name << ": " << plan.status();
      continue;
    }
    EXPECT_EQ(plan->degraded, c.degraded) << c.name;
    EXPECT_LE(c.queue_wait_ms + plan->predicted_latency_ms,
              c.deadline_ms * (1 + 1e-9))
        << c.name;
    if (c.degraded) {
      EXPECT_LT(plan->objective, unloaded->objective) << c.name;
      EXPECT_LT(plan->macs, unloaded->macs) << c.name;
    }
  }

  // Bad requests are reported as such even when the deadline has passed.
  PlanRequest bad;
  bad.task_weights["sky"] = 1;
  LoadState expired;
  expired.deadline_ms = -5;
  EXPECT_EQ(Admit(*planner, ctx, bad, expired).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Without a latency table only the queue wait can be checked.
  World blind = DefaultWorld();
  blind.has_latency = false;
  LoadState load;
  load.deadline_ms = 8;
  auto plan = Admit(*planner, blind.context(), full, load);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->degraded);
  EXPECT_LT(plan->predicted_latency_ms, 0);
  load.queue_wait_ms = 8;
  EXPECT_EQ(Admit(*planner, blind.context(), full, load).status().code(),
            absl::StatusCode::kResourceExhausted);
}

// Random loads on random small worlds against the brute force: keep the
// budget plan when it makes the deadline, else the best plan that does
// (degraded), else refuse with the right code.
TEST(AdmissionTest, DegradeMatchesBruteForce) {
  std::mt19937 rng(7);
  int kept = 0, degraded = 0, exhausted = 0, exceeded = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    WorldOptions o;
    o.tasks = std::uniform_int_distribution<int>(1, 5)(rng);
    o.encoders = std::uniform_int_distribution<int>(1, 4)(rng);
    o.widths = std::uniform_int_distribution<int>(1, 4)(rng);
    o.coarse = iter % 2 == 0;
    const World w = RandomWorld(rng, o);
    const PlanningContext ctx = w.context();
    const std::string name = iter % 3 == 0 ? "paper" : "exact";
    const Rule rule = name == "paper" ? Rule::kPreference : Rule::kAny;
    const auto planner = CreatePlanner(name).value();
    PlanRequest r;
    r.budget.kind = Budget::Kind::kMflops;
    const std::vector<int> all = [&] {
      std::vector<int> v;
      for (int t = 0; t < o.tasks; ++t) v.push_back(t);
      return v;
    }();
    const double lo = CheapestMacs(w, all), hi = w.costs.FullMacs(all);
    r.budget.value =
        MacsToMflops(std::uniform_real_distribution<double>(lo, hi)(rng));
    const std::vector<float> weights = RandomWeights(rng, o.tasks, true);
    for (int t = 0; t < o.tasks; ++t)
      r.task_weights[w.spec.tasks(t).name()] = weights[t];
    LoadState load;
    load.queue_wait_ms =
        std::uniform_int_distribution<int>(0, 64 * 10)(rng) / 64.0;
    load.deadline_ms =
        std::uniform_int_distribution<int>(-64, 64 * 40)(rng) / 64.0;

    PlanningInput in;
    in.tasks = all;
    in.weights = weights;
    in.budget_macs = MflopsToMacs(r.budget.value);
    in.full_macs = hi;
    const auto budget_best = BruteForce(w, in, rule);
    auto plan = Admit(*planner, ctx, r, load);
    if (!budget_best) {
      EXPECT_EQ(plan.status().code(), absl::StatusCode::kOutOfRange)
          << plan.status();
      continue;
    }
    if (load.deadline_ms <= 0) {
      EXPECT_EQ(plan.status().code(), absl::StatusCode::kDeadlineExceeded);
      ++exceeded;
      continue;
    }
    const double budget_ms =
        w.latency.fixed_ms +
        NetMs(w, in, budget_best->encoder, budget_best->widths);
    std::optional<Candidate> want;
    bool want_degraded = false;
    if (load.queue_wait_ms + budget_ms <= load.deadline_ms) {
      want = budget_best;
    } else {
      PlanningInput tight = in;
      tight.max_latency_ms = load.deadline_ms - load.queue_wait_ms;
      if (tight.max_latency_ms > 0) want = BruteForce(w, tight, rule);
      want_degraded = want && (want->encoder != budget_best->encoder ||
                               want->widths != budget_best->widths);
    }
    if (!want) {
      const Candidate fastest = Cheapest(w, in, /*by_latency=*/true);
      const double fastest_ms =
          w.latency.fixed_ms + NetMs(w, in, fastest.encoder, fastest.widths);
      const absl::StatusCode code = fastest_ms > load.deadline_ms
                                        ? absl::StatusCode::kDeadlineExceeded
                                        : absl::StatusCode::kResourceExhausted;
      EXPECT_EQ(plan.status().code(), code) << "iter " << iter << plan.status();
      (code == absl::StatusCode::kDeadlineExceeded ? exceeded : exhausted)++;
      continue;
    }
    ASSERT_TRUE(plan.ok()) << "iter " << iter << " " << plan.status();
    std::vector<int> got;
    for (const TaskPlan& tp : plan->tasks)
      got.push_back(tp.decoder_width_index);
    EXPECT_EQ(Describe(plan->encoder_width_index, got),
              Describe(want->encoder, want->widths))
        << "iter " << iter;
    EXPECT_EQ(plan->degraded, want_degraded) << "iter " << iter;
    (want_degraded ? degraded : kept)++;
  }
  EXPECT_GT(kept, 300);
  EXPECT_GT(degraded, 300);
  EXPECT_GT(exhausted, 50);
  EXPECT_GT(exceeded, 50);
}

TEST(AdmissionTest, MillisecondBudgets) {
  const World w = DefaultWorld();
  const PlanningContext ctx = w.context();
  const auto planner = CreatePlanner("exact").value();
  PlanningInput all;
  for (int t = 0; t < 4; ++t) {
    all.tasks.push_back(t);
    all.weights.push_back(1.0f);
  }
  all.full_macs = all.budget_macs = w.costs.FullMacs();
  for (double ms : {1.5, 2.0, 3.0, 5.0, 7.5, 10.5, 20.0}) {
    PlanRequest r;
    r.budget.kind = Budget::Kind::kMilliseconds;
    r.budget.value = ms;
    auto plan = PlanWith(*planner, ctx, r);
    ASSERT_TRUE(plan.ok()) << ms << ": " << plan.status();
    EXPECT_LE(plan->predicted_latency_ms, ms * (1 + 1e-9));
    EXPECT_DOUBLE_EQ(plan->budget_macs, plan->full_macs);
    PlanningInput in = all;
    in.max_latency_ms = ms;
    const auto brute = BruteForce(w, in, Rule::kAny);
    ASSERT_TRUE(brute.has_value());
    EXPECT_NEAR(plan->objective, brute->objective, 1e-8) << ms;
  }
  // Below the fastest configuration: the message gives the smallest budget,
  // and that budget is accepted.
  PlanRequest r;
  r.budget.kind = Budget::Kind::kMilliseconds;
  r.budget.value = 0.6;
  auto refused = PlanWith(*planner, ctx, r);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);
  const std::string msg(refused.status().message());
  const size_t at = msg.find("the smallest accepted budget is ");
  ASSERT_NE(at, std::string::npos) << msg;
  r.budget.value = std::stod(msg.substr(at + 32)) + 1e-3;
  EXPECT_TRUE(PlanWith(*planner, ctx, r).ok());
}

TEST(AdmissionTest, ValidatesTheContext) {
  World w = DefaultWorld();
  EXPECT_TRUE(ValidatePlanningContext(w.context()).ok());
  w.latency.decoder_ms[2][1].pop_back();
  auto st = ValidatePlanningContext(w.context());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("decoder_ms[2][1]"), std::string::npos) << st;
  w = DefaultWorld();
  w.latency.encoder_ms[0] = -1;
  EXPECT_NE(
      ValidatePlanningContext(w.context()).message().find("encoder_ms[0]"),
      std::string::npos);
  w = DefaultWorld();
  w.quality = std::make_unique<QualityTable>(
      QualityTable::Synthetic(SpecWithTasks(3, 4, 4)));
  EXPECT_NE(
      ValidatePlanningContext(w.context()).message().find("quality table"),
      std::string::npos);
  PlanningContext empty;
  EXPECT_EQ(ValidatePlanningContext(empty).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanWith(*CreatePlanner("exact").value(), empty, PlanRequest())
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace slimserve
