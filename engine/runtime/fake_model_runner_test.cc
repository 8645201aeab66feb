#include "engine/runtime/fake_model_runner.h"

#include <atomic>
#include <thread>
#include <vector>

#include "base/fake_clock.h"
#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(FakeModelRunnerTest, OutputsAreKnownAndComputeTakesFakeTime) {
  FakeClock clock;
  FakeModelRunner::Options options;
  options.clock = &clock;
  FakeModelRunner runner(TinyModelSpec(), options);
  std::vector<float> input(3 * 32 * 48, 0.5f);
  input[7] = 2.0f;
  RunRow row;
  row.input = input.data();
  row.encoder_width = 2;
  row.tasks = {0, 3};
  row.decoder_widths = {1, 0};
  const absl::Time start = clock.Now();
  ASSERT_TRUE(runner.Run({&row}).ok());
  // 1 ms x (2 + 1) + 0.25 ms x (1 + 1) + 0.25 ms x (0 + 1).
  EXPECT_EQ(clock.Now() - start, absl::Microseconds(3750));
  ASSERT_EQ(row.outputs.size(), 2u);
  EXPECT_EQ(row.outputs[0].channels, 8);
  EXPECT_EQ(row.outputs[1].channels, 1);
  EXPECT_FLOAT_EQ(row.outputs[0].data[7], 2.0f + FakeModelRunner::Value(0, 2, 1, 0));
  EXPECT_FLOAT_EQ(row.outputs[0].data[32 * 48 + 1],
                  0.5f + FakeModelRunner::Value(0, 2, 1, 1));
  absl::StatusOr<LatencyTable> table = runner.MeasureLatency(4, 1);
  ASSERT_TRUE(table.ok());
  EXPECT_DOUBLE_EQ(table->encoder_ms[2], 1.0 * 3 * 4);
  EXPECT_DOUBLE_EQ(table->decoder_ms[0][2][1], 0.25 * 2 * 4);
  EXPECT_EQ(runner.runs().size(), 1u);
}

TEST(FakeModelRunnerTest, FailuresAndTheGate) {
  FakeModelRunner runner(TinyModelSpec(), {});
  std::vector<float> input(3 * 32 * 48, 0.0f);
  RunRow row;
  row.input = input.data();
  row.tasks = {1};
  row.decoder_widths = {0};
  runner.FailNextRuns(1, absl::InternalError("boom"));
  EXPECT_EQ(runner.Run({&row}).message(), "boom");
  EXPECT_TRUE(runner.Run({&row}).ok());
  runner.HoldRuns();
  std::atomic<bool> finished{false};
  std::thread held([&] {
    ASSERT_TRUE(runner.Run({&row}).ok());
    finished = true;
  });
  runner.BlockUntilRunsStarted(3);
  EXPECT_FALSE(finished);
  runner.ReleaseRuns();
  held.join();
  EXPECT_TRUE(finished);
}

}  // namespace
}  // namespace slimserve
