#include "tools/train/evaluator.h"

#include <thread>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/model/cost_model.h"
#include "engine/model/spec.h"
#include "engine/runtime/inference_net.h"
#include "engine/runtime/supernet.h"
#include "tools/train/data.h"
#include "tools/train/metrics.h"

namespace slimserve {
namespace train {
namespace {

using slimserve::v1::TaskKind;

namespace F = torch::nn::functional;

// The task's training loss (tools/train/trainer.cc's TaskLoss) from the
// activated output, averaged over the batch: DYMU's uniformity needs task
// losses, not metrics (tools/train/controllability.h). The task's own loss
// only: a regulariser a run trained with (--depth_gradient_weight) is left
// out, so models trained with and without one compare on the same scale.
double HeldOutLoss(TaskKind kind, const torch::Tensor& out, const Batch& b) {
  switch (kind) {
    case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION:  // out: logits
      return F::cross_entropy(out, b.semantic).item<double>();
    case slimserve::v1::TASK_KIND_DEPTH:  // out: softplus
      return F::l1_loss(out, b.depth).item<double>();
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS:  // out: unit vectors
      return (1 - (out * b.normals).sum(1)).mean().item<double>();
    case slimserve::v1::TASK_KIND_EDGES: {  // out: sigmoid; class-balanced
      return F::binary_cross_entropy(
                 out.clamp(1e-7, 1 - 1e-7), b.edges,
                 F::BinaryCrossEntropyFuncOptions().weight(
                     EdgeClassWeights(b.edges)))
          .item<double>();
    }
    default:
      return 0;
  }
}

// Accumulates one task's metrics over batches.
class TaskAccumulator {
 public:
  TaskAccumulator(TaskKind kind, int num_classes)
      : kind_(kind), seg_(std::max(2, num_classes)) {}

  // out: activated [B, C, H, W] float on CPU.
  void Add(const torch::Tensor& out, const Batch& b) {
    const int64_t n = out.size(0), h = out.size(2), w = out.size(3);
    const int64_t hw = h * w;
    loss_sum_ += HeldOutLoss(kind_, out, b) * n;
    images_ += n;
    for (int64_t i = 0; i < n; ++i) {
      switch (kind_) {
        case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION: {
          const torch::Tensor pred = out[i].argmax(0).to(torch::kUInt8).contiguous();
          const torch::Tensor gt = b.semantic[i].to(torch::kUInt8).contiguous();
          seg_.Add(pred.data_ptr<uint8_t>(), gt.data_ptr<uint8_t>(), hw);
          break;
        }
        case slimserve::v1::TASK_KIND_DEPTH:
          depth_.Add(out[i].contiguous().data_ptr<float>(),
                     b.depth[i].contiguous().data_ptr<float>(), hw);
          break;
        case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
          normals_.Add(out[i].contiguous().data_ptr<float>(),
                       b.normals[i].contiguous().data_ptr<float>(), hw);
          break;
        case slimserve::v1::TASK_KIND_EDGES: {
          const torch::Tensor gt = b.edges[i].to(torch::kUInt8).contiguous();
          edges_.Add(out[i].contiguous().data_ptr<float>(),
                     gt.data_ptr<uint8_t>(), static_cast<int>(h),
                     static_cast<int>(w));
          break;
        }
        default:
          break;
      }
    }
  }

  TaskMetrics Result() const {
    TaskMetrics m;
    switch (kind_) {
      case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION:
        m = {"miou", seg_.MeanIoU(), true, {{"pixel_accuracy", seg_.PixelAccuracy()}}};
        break;
      case slimserve::v1::TASK_KIND_DEPTH:
        m = {"rmse", depth_.Rmse(), false, {{"abs_rel", depth_.AbsRel()}}};
        break;
      case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
        m = {"mean_angle_deg", normals_.MeanAngleDeg(), false,
             {{"within_11_25", normals_.FractionWithin(11.25)},
              {"within_22_5", normals_.FractionWithin(22.5)},
              {"within_30", normals_.FractionWithin(30)}}};
        break;
      case slimserve::v1::TASK_KIND_EDGES:
        m = {"f_score", edges_.FScore(), true,
             {{"precision", edges_.Precision()}, {"recall", edges_.Recall()}}};
        break;
      default:
        break;
    }
    if (images_ > 0) m.extra["loss"] = loss_sum_ / images_;
    return m;
  }

 private:
  TaskKind kind_;
  double loss_sum_ = 0;
  int64_t images_ = 0;
  metrics::SegmentationMetric seg_;
  metrics::DepthMetric depth_;
  metrics::NormalsMetric normals_;
  metrics::EdgeMetric edges_;
};

// Baseline outputs that ignore the image, per task.
torch::Tensor BaselineOutput(TaskKind kind, const Batch& all, int num_classes) {
  const int64_t n = all.image.size(0), h = all.image.size(2),
                w = all.image.size(3);
  switch (kind) {
    case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION: {
      const torch::Tensor counts =
          torch::bincount(all.semantic.flatten(), {}, num_classes);
      const int64_t top = counts.argmax().item<int64_t>();
      torch::Tensor logits = torch::zeros({n, num_classes, h, w});
      logits.select(1, top).fill_(1.0);
      return logits;
    }
    case slimserve::v1::TASK_KIND_DEPTH:
      return torch::full({n, 1, h, w}, all.depth.mean().item<float>());
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS: {
      torch::Tensor mean = all.normals.mean({0, 2, 3});
      mean = mean / mean.norm();
      return mean.view({1, 3, 1, 1}).expand({n, 3, h, w}).contiguous();
    }
    case slimserve::v1::TASK_KIND_EDGES:
      return torch::ones({n, 1, h, w});  // every pixel an edge
    default:
      return torch::Tensor();
  }
}

}  // namespace

absl::StatusOr<EvalResult> Evaluate(const EvalOptions& o) {
  SLIM_ASSIGN_OR_RETURN(v1::ModelSpec spec, LoadModelSpec(o.model_dir));
  const int threads = o.num_threads > 0
                          ? o.num_threads
                          : static_cast<int>(std::thread::hardware_concurrency());
  torch::set_num_threads(std::max(1, threads));
  InferenceOptions network;
  SLIM_ASSIGN_OR_RETURN(network.weights, ParseWeightsForm(o.weights));
  SLIM_ASSIGN_OR_RETURN(const Precision precision, ParsePrecision(o.precision));
  network.dtype = ScalarTypeOf(precision);
  network.channels_last = o.channels_last;
  network.xnnpack_max_macs = o.xnnpack_max_macs;
  network.fuse_decoders = o.fuse_decoders;
  Supernet supernet(spec);
  SLIM_RETURN_IF_ERROR(
      LoadSupernet(supernet, WeightsPath(o.model_dir, spec)));
  supernet->eval();
  SLIM_ASSIGN_OR_RETURN(const std::unique_ptr<InferenceNet> net,
                        InferenceNet::Create(std::move(supernet), network));
  c10::InferenceMode guard;

  const int num_we = spec.encoder_widths_size();
  const int num_wd = spec.decoder_widths_size();
  const int num_tasks = spec.tasks_size();
  std::vector<std::vector<std::vector<TaskAccumulator>>> acc(num_tasks);
  for (int t = 0; t < num_tasks; ++t) {
    acc[t].resize(num_we);
    for (int we = 0; we < num_we; ++we) {
      for (int wd = 0; wd < num_wd; ++wd) {
        acc[t][we].emplace_back(spec.tasks(t).kind(), spec.tasks(t).num_classes());
      }
    }
  }
  std::vector<Batch> batches;
  for (int first = 0; first < o.num_images; first += o.batch_size) {
    const int size = std::min(o.batch_size, o.num_images - first);
    batches.push_back(MakeBatch(spec, o.scene, o.data_seed, first, size, 1));
    const Batch& b = batches.back();
    for (int we = 0; we < num_we; ++we) {
      const auto features = net->Encode(net->PrepareInput(b.image), we);
      // Every task at once, as the executor runs a request for all tasks
      // (fused decoders with the server's default options).
      std::vector<int> tasks(num_tasks);
      for (int t = 0; t < num_tasks; ++t) tasks[t] = t;
      for (int wd = 0; wd < num_wd; ++wd) {
        const auto heads = net->DecodeHeads(tasks, features, we, wd);
        for (int t = 0; t < num_tasks; ++t) {
          acc[t][we][wd].Add(net->FinishOutput(t, heads[t]), b);
        }
      }
    }
  }

  EvalResult result;
  result.spec = spec;
  result.num_images = o.num_images;
  result.metrics.resize(num_tasks);
  for (int t = 0; t < num_tasks; ++t) {
    for (int we = 0; we < num_we; ++we) {
      std::vector<TaskMetrics> row;
      for (int wd = 0; wd < num_wd; ++wd) row.push_back(acc[t][we][wd].Result());
      result.metrics[t].push_back(std::move(row));
    }
  }
  // Baselines over the whole held-out set at once.
  Batch all;
  std::vector<torch::Tensor> parts[5];
  for (const Batch& b : batches) {
    parts[0].push_back(b.image);
    parts[1].push_back(b.semantic);
    parts[2].push_back(b.depth);
    parts[3].push_back(b.normals);
    parts[4].push_back(b.edges);
  }
  all = Batch{torch::cat(parts[0]), torch::cat(parts[1]), torch::cat(parts[2]),
              torch::cat(parts[3]), torch::cat(parts[4])};
  for (int t = 0; t < num_tasks; ++t) {
    TaskAccumulator base(spec.tasks(t).kind(), spec.tasks(t).num_classes());
    base.Add(BaselineOutput(spec.tasks(t).kind(), all,
                            std::max<int>(2, spec.tasks(t).num_classes())),
             all);
    result.baselines.push_back(base.Result());
  }
  return result;
}

slimserve::v1::ProfileTable MakeProfile(const EvalResult& r,
                                        const std::string& source) {
  slimserve::v1::ProfileTable table;
  table.set_model_name(r.spec.name());
  table.set_model_version(r.spec.version());
  table.set_source(source);
  table.set_num_images(r.num_images);
  const CostTable costs = ComputeCostTable(r.spec);
  for (int t = 0; t < r.spec.tasks_size(); ++t) {
    const auto& m = r.metrics[t];
    const TaskMetrics& full = m.back().back();
    for (size_t we = 0; we < m.size(); ++we) {
      for (size_t wd = 0; wd < m[we].size(); ++wd) {
        const TaskMetrics& x = m[we][wd];
        auto* e = table.add_entries();
        e->set_encoder_width_index(we);
        e->set_decoder_width_index(wd);
        e->set_task(r.spec.tasks(t).name());
        e->set_decoder_macs(costs.decoder_macs[t][we][wd]);
        e->set_metric(x.metric);
        e->set_value(x.value);
        e->set_higher_is_better(x.higher_is_better);
        double q = x.higher_is_better ? x.value / full.value : full.value / x.value;
        if (!std::isfinite(q) || q <= 0) q = 1e-6;
        e->set_normalized_quality(q);
        for (const auto& [k, v] : x.extra) (*e->mutable_extra_metrics())[k] = v;
      }
    }
  }
  return table;
}

double ConfigDeltaM(const EvalResult& r, int we, const std::vector<int>& wd) {
  std::vector<double> value, ref;
  std::vector<bool> higher;
  for (size_t t = 0; t < r.metrics.size(); ++t) {
    value.push_back(r.metrics[t][we][wd[t]].value);
    ref.push_back(r.metrics[t].back().back().value);
    higher.push_back(r.metrics[t][we][wd[t]].higher_is_better);
  }
  return metrics::DeltaM(value, ref, higher);
}

std::string ReportJson(const EvalResult& r) {
  const CostTable costs = ComputeCostTable(r.spec);
  std::string j = absl::StrFormat(
      "{\n  \"model\": \"%s\",\n  \"version\": \"%s\",\n  \"num_images\": %d,\n",
      r.spec.name(), r.spec.version(), r.num_images);
  absl::StrAppend(&j, "  \"baselines\": {");
  for (size_t t = 0; t < r.baselines.size(); ++t) {
    absl::StrAppendFormat(&j, "%s\"%s\": {\"%s\": %.6f}", t ? ", " : "",
                          r.spec.tasks(t).name(), r.baselines[t].metric,
                          r.baselines[t].value);
  }
  absl::StrAppend(&j, "},\n  \"entries\": [\n");
  bool first = true;
  for (size_t t = 0; t < r.metrics.size(); ++t) {
    for (size_t we = 0; we < r.metrics[t].size(); ++we) {
      for (size_t wd = 0; wd < r.metrics[t][we].size(); ++wd) {
        const TaskMetrics& m = r.metrics[t][we][wd];
        absl::StrAppendFormat(
            &j,
            "%s    {\"task\": \"%s\", \"encoder_width\": %g, \"decoder_width\": "
            "%g, \"decoder_mflops\": %.4f, \"%s\": %.6f",
            first ? "" : ",\n", r.spec.tasks(t).name(),
            r.spec.encoder_widths(we), r.spec.decoder_widths(wd),
            MacsToMflops(costs.decoder_macs[t][we][wd]), m.metric, m.value);
        for (const auto& [k, v] : m.extra) {
          absl::StrAppendFormat(&j, ", \"%s\": %.6f", k, v);
        }
        absl::StrAppend(&j, "}");
        first = false;
      }
    }
  }
  absl::StrAppend(&j, "\n  ],\n  \"uniform_configs\": [\n");
  first = true;
  const int num_tasks = static_cast<int>(r.metrics.size());
  for (int we = 0; we < r.spec.encoder_widths_size(); ++we) {
    for (int wd = 0; wd < r.spec.decoder_widths_size(); ++wd) {
      const std::vector<int> wds(num_tasks, wd);
      double macs = costs.encoder_macs[we];
      for (int t = 0; t < num_tasks; ++t) macs += costs.decoder_macs[t][we][wd];
      absl::StrAppendFormat(
          &j,
          "%s    {\"encoder_width\": %g, \"decoder_width\": %g, \"mflops\": "
          "%.4f, \"delta_m_percent\": %.4f}",
          first ? "" : ",\n", r.spec.encoder_widths(we),
          r.spec.decoder_widths(wd), MacsToMflops(macs),
          ConfigDeltaM(r, we, wds));
      first = false;
    }
  }
  absl::StrAppend(&j, "\n  ]\n}\n");
  return j;
}

}  // namespace train
}  // namespace slimserve
