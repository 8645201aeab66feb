// Planning latency of the strategies, end to end as the engine calls them
// (ResolvePlanRequest + Choose + MakePlan, or Admit with a deadline).
//
//   bazel run -c opt //engine/planning:planner_benchmark
//
// Every iteration plans a different request (random budget and weights from
// a fixed pool) and is timed on its own with steady_clock; besides Google
// Benchmark's mean, the counters give per-call wall-clock percentiles in
// microseconds (p50_us, p99_us, max_us). On a shared machine the tail is
// mostly preemption by other processes: use repetitions and read the
// medians, e.g.
//
//   bazel run -c opt //engine/planning:planner_benchmark -- --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// Scenarios:
//   4tasks          the default model (4 tasks x 4 widths), synthetic quality
//   20tasks_synth   20 tasks (the 4 kinds, 5 times) x 4 widths, real cost
//                   model, synthetic quality: every task has the same
//                   quality, the worst case for ties
//   20tasks_random  the same with a random monotone-ish quality table
//   20tasks_deadline  20tasks_random through Admit with a latency table and a
//                   deadline that forces a degraded plan (two searches)

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engine/model/cost_model.h"
#include "engine/model/quality_table.h"
#include "engine/model/spec.h"
#include "engine/planning/admission.h"
#include "engine/planning/planner.h"

namespace slimserve {
namespace {

struct Scenario {
  v1::ModelSpec spec;
  CostTable costs;
  std::unique_ptr<QualityTable> quality;
  LatencyTable latency;
  bool deadline = false;
  std::vector<PlanRequest> requests;
  PlanningContext context;
};

v1::ModelSpec TwentyTaskSpec() {
  v1::ModelSpec spec = DefaultModelSpec();
  for (int t = 4; t < 20; ++t) {
    v1::TaskSpec* task = spec.add_tasks();
    *task = spec.tasks(t % 4);
    task->set_name(absl::StrCat(spec.tasks(t % 4).name(), t / 4));
  }
  return spec;
}

std::unique_ptr<QualityTable> RandomQuality(const v1::ModelSpec& spec,
                                            std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::vector<std::vector<double>>> q(spec.tasks_size());
  const int ne = spec.encoder_widths_size(), nd = spec.decoder_widths_size();
  for (auto& task : q) {
    const double ge = 0.1 + 0.3 * u(rng), gd = 0.05 + 0.35 * u(rng);
    task.resize(ne);
    for (int e = 0; e < ne; ++e) {
      for (int d = 0; d < nd; ++d) {
        const double v = 1 - ge * (1 - (e + 1.0) / ne) -
                         gd * (1 - (d + 1.0) / nd) + 0.03 * (u(rng) - 0.5);
        task[e].push_back(std::clamp(v, 0.05, 1.0));
      }
    }
  }
  return std::make_unique<QualityTable>(
      QualityTable::FromValues(std::move(q), "benchmark").value());
}

std::unique_ptr<Scenario> MakeScenario(const std::string& name) {
  auto s = std::make_unique<Scenario>();
  std::mt19937 rng(42);
  s->spec = name == "4tasks" ? DefaultModelSpec() : TwentyTaskSpec();
  s->costs = ComputeCostTable(s->spec);
  s->quality =
      name == "20tasks_random" || name == "20tasks_deadline"
          ? RandomQuality(s->spec, rng)
          : std::make_unique<QualityTable>(QualityTable::Synthetic(s->spec));
  // Latency proportional to MACs: full width = 20 ms, plus 0.5 ms.
  const double ms_per_mac = 20.0 / s->costs.FullMacs();
  s->latency.fixed_ms = 0.5;
  for (double m : s->costs.encoder_macs) {
    s->latency.encoder_ms.push_back(m * ms_per_mac);
  }
  s->latency.decoder_ms = s->costs.decoder_macs;
  for (auto& task : s->latency.decoder_ms) {
    for (auto& row : task) {
      for (double& m : row) m *= ms_per_mac;
    }
  }
  s->deadline = name == "20tasks_deadline";
  std::uniform_real_distribution<double> fraction(0.1, 1.0);
  std::uniform_real_distribution<float> weight(0.05f, 1.0f);
  for (int i = 0; i < 1024; ++i) {
    PlanRequest r;
    r.budget.value = fraction(rng);
    for (const auto& t : s->spec.tasks())
      r.task_weights[t.name()] = weight(rng);
    s->requests.push_back(r);
  }
  s->context.spec = &s->spec;
  s->context.costs = &s->costs;
  s->context.quality = s->quality.get();
  s->context.latency = &s->latency;
  if (!ValidatePlanningContext(s->context).ok()) std::abort();
  return s;
}

void BM_Plan(benchmark::State& state, const std::string& planner_name,
             const Scenario* s) {
  const std::unique_ptr<Planner> planner = CreatePlanner(planner_name).value();
  LoadState load;
  if (s->deadline) {
    load.queue_wait_ms = 4;
    load.deadline_ms = 10;  // forces most plans below their budget
  }
  std::vector<double> us;
  us.reserve(1 << 20);
  size_t i = 0, degraded = 0, failed = 0;
  for (auto _ : state) {
    const PlanRequest& r = s->requests[i++ % s->requests.size()];
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<ArchPlan> plan = Admit(*planner, s->context, r, load);
    const auto stop = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(plan);
    if (plan.ok()) {
      degraded += plan->degraded;
    } else {
      ++failed;
    }
    if (us.size() < us.capacity()) {
      us.push_back(
          std::chrono::duration<double, std::micro>(stop - start).count());
    }
  }
  auto at = [](std::vector<double>& v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  state.counters["p50_us"] = at(us, 0.50);
  state.counters["p99_us"] = at(us, 0.99);
  state.counters["max_us"] = at(us, 1.0);
  state.counters["degraded_frac"] =
      static_cast<double>(degraded) / std::max<size_t>(1, i);
  state.counters["refused_frac"] =
      static_cast<double>(failed) / std::max<size_t>(1, i);
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  using slimserve::MakeScenario;
  static std::vector<std::unique_ptr<slimserve::Scenario>> scenarios;
  for (const std::string name :
       {"4tasks", "20tasks_synth", "20tasks_random", "20tasks_deadline"}) {
    scenarios.push_back(MakeScenario(name));
    for (const std::string planner : {"exact", "paper", "uniform"}) {
      benchmark::RegisterBenchmark(("BM_Plan/" + name + "/" + planner).c_str(),
                                   slimserve::BM_Plan, planner,
                                   scenarios.back().get())
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
