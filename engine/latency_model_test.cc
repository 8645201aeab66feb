#include "engine/latency_model.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/model_spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

// A table whose every entry is fixed + per_item * batch, with per-entry
// numbers that differ, so an index mix-up changes the result.
LatencyTable LinearTable(const v1::ModelSpec& spec, int batch) {
  LatencyTable t;
  t.batch_size = batch;
  for (int we = 0; we < spec.encoder_widths_size(); ++we) {
    t.encoder_ms.push_back(1.0 + we + (0.5 + we) * batch);
  }
  t.decoder_ms.resize(spec.tasks_size());
  for (int task = 0; task < spec.tasks_size(); ++task) {
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      std::vector<double> row;
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        row.push_back(0.1 * (task + 1) + 0.01 * we +
                      (0.2 + 0.1 * wd + 0.05 * task) * batch);
      }
      t.decoder_ms[task].push_back(row);
    }
  }
  return t;
}

LatencyProfile Profile(const v1::ModelSpec& spec, std::vector<int> sizes) {
  LatencyProfile p;
  for (int b : sizes) p.tables.push_back(LinearTable(spec, b));
  return p;
}

TEST(FitLinearTest, ExactThroughTwoPointsAndLeastSquaresThroughMore) {
  LinearMs m = FitLinear({1, 8}, {3.0, 10.0});
  EXPECT_DOUBLE_EQ(m.fixed, 2.0);
  EXPECT_DOUBLE_EQ(m.per_item, 1.0);
  EXPECT_DOUBLE_EQ(m.At(4), 6.0);
  // Symmetric noise around y = 1 + 2x.
  m = FitLinear({1, 2, 3, 4}, {3.1, 4.9, 7.1, 8.9});
  EXPECT_NEAR(m.per_item, 1.96, 1e-9);
  EXPECT_NEAR(m.fixed, 1.1, 1e-9);
}

TEST(FitLinearTest, OnePointGoesThroughTheOriginAndNoiseNeverGoesNegative) {
  LinearMs m = FitLinear({1}, {4.0});
  EXPECT_DOUBLE_EQ(m.fixed, 0);
  EXPECT_DOUBLE_EQ(m.At(3), 12.0);
  m = FitLinear({1, 8}, {2.0, 1.0});  // timing noise on a tiny layer
  EXPECT_DOUBLE_EQ(m.per_item, 0);
  EXPECT_DOUBLE_EQ(m.At(8), 1.5);
  EXPECT_DOUBLE_EQ((LinearMs{-5, 1}).At(1), 0);
}

TEST(ParseBatchSizesTest, IntegersOrTheFlagAndValueNamed) {
  absl::StatusOr<std::vector<int>> sizes = ParseBatchSizes({"1", "8"}, "x");
  ASSERT_TRUE(sizes.ok()) << sizes.status();
  EXPECT_EQ(*sizes, (std::vector<int>{1, 8}));
  EXPECT_TRUE(ParseBatchSizes({}, "x")->empty());
  const absl::Status st = ParseBatchSizes({"1", "two"}, "batch_sizes").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "--batch_sizes: \"two\" is not an integer");
}

TEST(LatencyProfileTest, ValidationNamesTheTableAndField) {
  const v1::ModelSpec spec = TinyModelSpec();
  EXPECT_TRUE(ValidateLatencyProfile(Profile(spec, {1, 4}), spec).ok());
  EXPECT_EQ(ValidateLatencyProfile(LatencyProfile{}, spec).code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status st = ValidateLatencyProfile(Profile(spec, {2, 4}), spec);
  EXPECT_NE(st.message().find("tables[0].batch_size must be 1"),
            std::string::npos)
      << st;
  st = ValidateLatencyProfile(Profile(spec, {1, 4, 4}), spec);
  EXPECT_NE(st.message().find("tables[2].batch_size 4"), std::string::npos)
      << st;
  LatencyProfile p = Profile(spec, {1, 4});
  p.tables[1].decoder_ms[0][1][0] = std::nan("");
  st = ValidateLatencyProfile(p, spec);
  EXPECT_NE(st.message().find("tables[1]"), std::string::npos) << st;
  EXPECT_NE(st.message().find("decoder_ms[0][1]"), std::string::npos) << st;
}

TEST(BatchLatencyModelTest, RecoversTheLinesAndSumsGroups) {
  const v1::ModelSpec spec = DefaultModelSpec();
  const BatchLatencyModel model(Profile(spec, {1, 8}), spec);
  EXPECT_NEAR(model.encoder(2).fixed, 3.0, 1e-9);
  EXPECT_NEAR(model.encoder(2).per_item, 2.5, 1e-9);
  EXPECT_NEAR(model.decoder(1, 3, 2).fixed, 0.23, 1e-9);
  EXPECT_NEAR(model.decoder(1, 3, 2).per_item, 0.45, 1e-9);

  // Three requests at encoder width 1: tasks 0 and 1 at decoder widths
  // (0, 2), (0, 3), (0, 2) -> groups (0,0) x3, (1,2) x2, (1,3) x1.
  const std::vector<BatchItem> items = {
      {{0, 1}, {0, 2}}, {{0, 1}, {0, 3}}, {{0, 1}, {0, 2}}};
  const double expected = model.encoder(1).At(3) + model.decoder(0, 1, 0).At(3) +
                          model.decoder(1, 1, 2).At(2) +
                          model.decoder(1, 1, 3).At(1);
  EXPECT_NEAR(model.BatchMs(1, items), expected, 1e-9);
  EXPECT_EQ(model.BatchMs(1, {}), 0);

  // One request alone costs what the batch-1 table says.
  const LatencyTable one = LinearTable(spec, 1);
  EXPECT_NEAR(model.BatchMs(1, {items[1]}),
              PredictLatencyMs(one, {0, 1}, 1, {0, 3}), 1e-9);

  // The policy's linear view is exact for the whole queue as one batch.
  const LinearMs q = model.QueueModel(1, items);
  EXPECT_NEAR(q.fixed + q.per_item * 3, expected, 1e-9);
  // A batch is cheaper per request than the same requests one by one.
  double alone = 0;
  for (const BatchItem& item : items) alone += model.BatchMs(1, {item});
  EXPECT_LT(expected, alone);
}

std::string TempFile(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / name).string();
}

TEST(LatencyCacheTest, RoundTripsAndRefusesAnotherKey) {
  const v1::ModelSpec spec = TinyModelSpec();
  const LatencyProfile p = Profile(spec, {1, 2, 8});
  const std::string path = TempFile("latency.textproto");
  ASSERT_TRUE(WriteLatencyCache(path, "model=a device=b", p, spec, 1.5).ok());
  absl::StatusOr<LatencyProfile> back =
      ReadLatencyCache(path, "model=a device=b", spec);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->tables.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->tables[i].batch_size, p.tables[i].batch_size);
    EXPECT_EQ(back->tables[i].encoder_ms, p.tables[i].encoder_ms);
    EXPECT_EQ(back->tables[i].decoder_ms, p.tables[i].decoder_ms);
  }
  absl::Status st = ReadLatencyCache(path, "model=a device=c", spec).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("device=c"), std::string::npos) << st;
  EXPECT_EQ(ReadLatencyCache(TempFile("absent"), "k", spec).status().code(),
            absl::StatusCode::kNotFound);
  // Written for another model: its tables do not fit this spec.
  v1::ModelSpec other = spec;
  other.mutable_encoder_widths()->RemoveLast();
  st = ReadLatencyCache(path, "model=a device=b", other).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
}

TEST(LatencyCacheTest, NamesWhatIsWrongInAHandEditedFile) {
  const v1::ModelSpec spec = TinyModelSpec();
  v1::LatencyProfileProto proto = LatencyProfileToProto(Profile(spec, {1}), spec);
  proto.mutable_tables(0)->mutable_decoders(0)->set_task("nope");
  absl::Status st = LatencyProfileFromProto(proto, spec).status();
  EXPECT_NE(st.message().find("tables[0].decoders[0].task: unknown task"),
            std::string::npos)
      << st;
  proto = LatencyProfileToProto(Profile(spec, {1}), spec);
  proto.mutable_tables(0)->mutable_decoders()->RemoveLast();
  st = LatencyProfileFromProto(proto, spec).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("decoder_ms"), std::string::npos) << st;
}

}  // namespace
}  // namespace slimserve
