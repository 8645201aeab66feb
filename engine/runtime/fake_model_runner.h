#ifndef SLIMSERVE_ENGINE_RUNTIME_FAKE_MODEL_RUNNER_H_
#define SLIMSERVE_ENGINE_RUNTIME_FAKE_MODEL_RUNNER_H_

// A ModelRunner for tests of everything around the network (scheduling,
// deadlines, cancellation, shutdown, errors, the server), with no LibTorch.
//
// Outputs are a known function of each row's input and widths, so a test
// can tell that every request got its own outputs back:
//   head(task slot k)[c, y, x] = input[0, y, x] + Value(task, we, wd, c)
// where input[0] is the first channel of the row's normalised input. The
// fake's heads are at the model's input size, so post-processing's resize
// to that size is exact; its activation still applies.
//
// Knobs: a latency model (with a FakeClock, Run advances it by the batch's
// modelled compute, so compute takes exactly that long in the test's time),
// failures (the next n runs fail with a given status), and a gate that holds
// runs until the test releases them.
//
// Thread-safety: every method may be called from any thread.

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/fake_clock.h"
#include "engine/runtime/model_runner.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

class FakeModelRunner final : public ModelRunner {
 public:
  struct Options {
    // Modelled compute of a batch at encoder width index we:
    //   encoder_ms * (we + 1) * rows
    //   + per (task, decoder width index wd) group: decoder_ms * (wd + 1) * rows
    // MeasureLatency reports exactly this, so the engine's batch cost model
    // predicts it exactly.
    double encoder_ms = 1.0;
    double decoder_ms = 0.25;
    // When set, Run advances it by the modelled compute.
    FakeClock* clock = nullptr;
    // PreprocessesOnDevice(): rows bring decoded images, which Run resizes
    // and normalises itself (ResizeNormalizeCpu), as a device would.
    bool preprocess_on_device = false;
    // FinishesOnDevice(): rows that ask for it get finished samples, made
    // with FinishSamples (engine/stages/postprocess.h), as a device would.
    bool finish_on_device = false;
  };

  // REQUIRES: ValidateModelSpec(spec).ok().
  FakeModelRunner(const slimserve::v1::ModelSpec& spec, const Options& options);

  // The constant part of the outputs: 100 * task + 10 * we + wd + 0.5 * c.
  static float Value(int task, int encoder_width, int decoder_width,
                     int64_t channel);
  // Modelled compute of a batch, ms.
  double BatchMs(absl::Span<RunRow* const> rows) const;

  // ModelRunner.
  absl::Status Run(absl::Span<RunRow* const> rows) override;
  absl::Status Warmup() override;
  absl::StatusOr<LatencyTable> MeasureLatency(int batch_size,
                                              int repetitions) override;
  bool PreprocessesOnDevice() const override {
    return options_.preprocess_on_device;
  }
  bool FinishesOnDevice() const override { return options_.finish_on_device; }
  std::string Describe() const override { return "fake"; }
  std::string DeviceKey() const override { return "fake"; }
  int64_t weight_bytes() const override { return 0; }

  // The next `n` Run calls fail with `status` (and produce no outputs).
  void FailNextRuns(int n, absl::Status status);
  // From now on Run blocks, after counting itself as started, until
  // ReleaseRuns().
  void HoldRuns();
  void ReleaseRuns();
  // Blocks until `n` Run calls have started in total.
  void BlockUntilRunsStarted(int n) const;

  struct RunRecord {
    std::vector<int> encoder_widths;  // per row
    int rows = 0;
    int image_rows = 0;  // rows that brought decoded images, not inputs
    int finished_rows = 0;  // rows that asked for finished outputs
  };
  // Every Run call so far, in order.
  std::vector<RunRecord> runs() const;
  int warmups() const;

 private:
  // Constant after construction.
  const slimserve::v1::ModelSpec spec_;
  const Options options_;

  mutable absl::Mutex mu_;
  std::vector<RunRecord> runs_ ABSL_GUARDED_BY(mu_);
  int warmups_ ABSL_GUARDED_BY(mu_) = 0;
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_FAKE_MODEL_RUNNER_H_
