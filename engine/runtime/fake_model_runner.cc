#include "engine/runtime/fake_model_runner.h"

#include <memory>
#include <string>
#include <utility>

#include "engine/model/spec.h"
#include "engine/stages/postprocess.h"
#include "kernels/preprocess.h"

namespace slimserve {

FakeModelRunner::FakeModelRunner(const slimserve::v1::ModelSpec& spec,
                                 const Options& options)
    : spec_(spec), options_(options) {}

float FakeModelRunner::Value(int task, int encoder_width, int decoder_width,
                             int64_t channel) {
  return 100.0f * task + 10.0f * encoder_width + decoder_width +
         0.5f * static_cast<float>(channel);
}

double FakeModelRunner::BatchMs(absl::Span<RunRow* const> rows) const {
  // Linear in the rows with no fixed part: the sum over rows equals the
  // sum over (task, decoder width) groups.
  double ms = 0;
  for (const RunRow* row : rows) {
    ms += options_.encoder_ms * (row->encoder_width + 1);
    for (int wd : row->decoder_widths) ms += options_.decoder_ms * (wd + 1);
  }
  return ms;
}

absl::Status FakeModelRunner::Run(absl::Span<RunRow* const> rows) {
  absl::Status failure;
  {
    absl::MutexLock lock(&mu_);
    RunRecord record;
    record.rows = static_cast<int>(rows.size());
    for (const RunRow* row : rows) {
      record.encoder_widths.push_back(row->encoder_width);
      record.image_rows += row->input == nullptr && row->image.pixels != nullptr;
      record.finished_rows += !row->finish.empty();
    }
    runs_.push_back(std::move(record));
    mu_.Await(absl::Condition(
        +[](bool* hold) { return !*hold; }, &hold_));
    if (failures_left_ > 0) {
      --failures_left_;
      failure = failure_;
    }
  }
  if (options_.clock != nullptr) {
    options_.clock->Advance(absl::Milliseconds(BatchMs(rows)));
  }
  if (!failure.ok()) return failure;
  const int h = spec_.input().height();
  const int w = spec_.input().width();
  for (RunRow* row : rows) {
    row->outputs.clear();
    std::vector<float> resized;
    const float* input = row->input;
    if (input == nullptr) {
      if (!options_.preprocess_on_device || row->image.pixels == nullptr) {
        return absl::InvalidArgumentError("FakeModelRunner: a row without input");
      }
      const auto& in = spec_.input();
      const float mean[3] = {in.mean(0), in.mean(1), in.mean(2)};
      const float std[3] = {in.std(0), in.std(1), in.std(2)};
      resized.resize(size_t{3} * h * w);
      ResizeNormalizeCpu(row->image.pixels, row->image.height, row->image.width,
                         row->image.channels, h, w, mean, std, resized.data());
      input = resized.data();
    }
    for (size_t k = 0; k < row->tasks.size(); ++k) {
      const int task = row->tasks[k];
      const int64_t channels = TaskOutputChannels(spec_.tasks(task));
      auto data = std::make_shared<std::vector<float>>(channels * h * w);
      for (int64_t c = 0; c < channels; ++c) {
        const float v = Value(task, row->encoder_width, row->decoder_widths[k], c);
        for (int64_t p = 0; p < int64_t{h} * w; ++p) {
          (*data)[c * h * w + p] = input[p] + v;
        }
      }
      OutputTensor out;
      out.channels = channels;
      out.height = h;
      out.width = w;
      out.data = data->data();
      if (!row->finish.empty()) {
        if (!options_.finish_on_device || row->finish.size() != row->tasks.size()) {
          return absl::InvalidArgumentError("FakeModelRunner: bad finish specs");
        }
        const FinishSpec& f = row->finish[k];
        const auto& spec = spec_.tasks(task);
        const OutputFormat format = f.png ? OutputFormat::kPng : OutputFormat::kRaw;
        auto samples = std::make_shared<std::string>(
            FinishedBytes(spec, format, f.height, f.width), '\0');
        if (absl::Status st = FinishSamples(spec, format, data->data(), channels,
                                            h, w, f.height, f.width,
                                            samples->data());
            !st.ok()) {
          return st;
        }
        out.height = f.height;
        out.width = f.width;
        out.data = nullptr;
        out.samples = samples->data();
        out.samples_size = static_cast<int64_t>(samples->size());
        out.owner = std::move(samples);
        row->outputs.push_back(std::move(out));
        continue;
      }
      out.owner = std::move(data);
      row->outputs.push_back(std::move(out));
    }
  }
  return absl::OkStatus();
}

absl::Status FakeModelRunner::Warmup() {
  absl::MutexLock lock(&mu_);
  ++warmups_;
  return absl::OkStatus();
}

absl::StatusOr<LatencyTable> FakeModelRunner::MeasureLatency(int batch_size,
                                                             int repetitions) {
  LatencyTable table;
  table.batch_size = batch_size;
  table.decoder_ms.resize(spec_.tasks_size());
  for (int we = 0; we < spec_.encoder_widths_size(); ++we) {
    table.encoder_ms.push_back(options_.encoder_ms * (we + 1) * batch_size);
    for (int t = 0; t < spec_.tasks_size(); ++t) {
      std::vector<double> row;
      for (int wd = 0; wd < spec_.decoder_widths_size(); ++wd) {
        row.push_back(options_.decoder_ms * (wd + 1) * batch_size);
      }
      table.decoder_ms[t].push_back(std::move(row));
    }
  }
  return table;
}

void FakeModelRunner::FailNextRuns(int n, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_left_ = n;
  failure_ = std::move(status);
}

void FakeModelRunner::HoldRuns() {
  absl::MutexLock lock(&mu_);
  hold_ = true;
}

void FakeModelRunner::ReleaseRuns() {
  absl::MutexLock lock(&mu_);
  hold_ = false;
}

void FakeModelRunner::BlockUntilRunsStarted(int n) const {
  absl::MutexLock lock(&mu_);
  auto started = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(runs_.size()) >= n;
  };
  mu_.Await(absl::Condition(&started));
}

std::vector<FakeModelRunner::RunRecord> FakeModelRunner::runs() const {
  absl::MutexLock lock(&mu_);
  return runs_;
}

int FakeModelRunner::warmups() const {
  absl::MutexLock lock(&mu_);
  return warmups_;
}

}  // namespace slimserve
