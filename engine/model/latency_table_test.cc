#include "engine/model/latency_table.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/model/latency_testing.h"
#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(LatencyProfileTest, ValidationNamesTheTableAndField) {
  const v1::ModelSpec spec = TinyModelSpec();
  EXPECT_TRUE(ValidateLatencyProfile(LinearProfile(spec, {1, 4}), spec).ok());
  EXPECT_EQ(ValidateLatencyProfile(LatencyProfile{}, spec).code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status st = ValidateLatencyProfile(LinearProfile(spec, {2, 4}), spec);
  EXPECT_NE(st.message().find("tables[0].batch_size must be 1"),
            std::string::npos)
      << st;
  st = ValidateLatencyProfile(LinearProfile(spec, {1, 4, 4}), spec);
  EXPECT_NE(st.message().find("tables[2].batch_size 4"), std::string::npos)
      << st;
  LatencyProfile p = LinearProfile(spec, {1, 4});
  p.tables[1].decoder_ms[0][1][0] = std::nan("");
  st = ValidateLatencyProfile(p, spec);
  EXPECT_NE(st.message().find("tables[1]"), std::string::npos) << st;
  EXPECT_NE(st.message().find("decoder_ms[0][1]"), std::string::npos) << st;
}

TEST(LatencyTableTest, FusedDecodersAtOneWidthSaveWhatTheTableMeasured) {
  const v1::ModelSpec spec = TinyModelSpec();
  ASSERT_EQ(spec.tasks_size(), 4);
  const LatencyTable apart = LinearLatencyTable(spec, 1);
  const LatencyTable fused = FusedProfile(spec, {1}).tables[0];
  ASSERT_TRUE(ValidateLatencyTable(fused, spec).ok());
  const double saving = LinearFusionSaving(1, 2, 1);
  EXPECT_NEAR(FusionSavingMs(fused, 1, 2), saving, 1e-12);
  EXPECT_EQ(FusionSavingMs(apart, 1, 2), 0);
  // All four at one width: exactly the fused measurement.
  EXPECT_NEAR(PredictLatencyMs(fused, {0, 1, 2, 3}, 1, {2, 2, 2, 2}),
              fused.encoder_ms[1] + fused.fused_decoder_ms[1][2], 1e-12);
  // Two pairs at two widths: each pair saves once, at its own width.
  const double pairs = PredictLatencyMs(apart, {0, 1, 2, 3}, 1, {2, 0, 2, 0});
  EXPECT_NEAR(PredictLatencyMs(fused, {0, 1, 2, 3}, 1, {2, 0, 2, 0}),
              pairs - saving - LinearFusionSaving(1, 0, 1), 1e-12);
  // Every decoder at its own width: nothing to fuse.
  EXPECT_NEAR(PredictLatencyMs(fused, {0, 1, 2}, 1, {0, 1, 2}),
              PredictLatencyMs(apart, {0, 1, 2}, 1, {0, 1, 2}), 1e-12);
  // A measurement slower fused than apart saves nothing (never negative),
  // and no saving exceeds the fastest decoder.
  LatencyTable slower = fused;
  slower.fused_decoder_ms[0][0] = 100;
  EXPECT_EQ(FusionSavingMs(slower, 0, 0), 0);
  slower.fused_decoder_ms[0][0] = 0;
  EXPECT_NEAR(FusionSavingMs(slower, 0, 0), apart.decoder_ms[0][0][0], 1e-12);
}

TEST(LatencyTableTest, ValidationNamesAFusedEntry) {
  const v1::ModelSpec spec = TinyModelSpec();
  LatencyTable t = FusedProfile(spec, {1}).tables[0];
  t.fused_decoder_ms[1][3] = -1;
  absl::Status st = ValidateLatencyTable(t, spec);
  EXPECT_NE(st.message().find("fused_decoder_ms[1][3]"), std::string::npos)
      << st;
  t.fused_decoder_ms.pop_back();
  st = ValidateLatencyTable(t, spec);
  EXPECT_NE(st.message().find("fused_decoder_ms: has"), std::string::npos)
      << st;
}

std::string TempFile(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / name).string();
}

TEST(LatencyCacheTest, RoundTripsAndRefusesAnotherKey) {
  const v1::ModelSpec spec = TinyModelSpec();
  const LatencyProfile p = LinearProfile(spec, {1, 2, 8});
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
    EXPECT_TRUE(back->tables[i].fused_decoder_ms.empty());
  }
  // And with fused decoders.
  const LatencyProfile fused = FusedProfile(spec, {1, 8});
  ASSERT_TRUE(WriteLatencyCache(path, "k", fused, spec, 1).ok());
  back = ReadLatencyCache(path, "k", spec);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->tables.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back->tables[i].fused_decoder_ms,
              fused.tables[i].fused_decoder_ms);
  }
  ASSERT_TRUE(WriteLatencyCache(path, "model=a device=b", p, spec, 1.5).ok());
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
  v1::LatencyProfileProto proto = LatencyProfileToProto(LinearProfile(spec, {1}), spec);
  proto.mutable_tables(0)->mutable_decoders(0)->set_task("nope");
  absl::Status st = LatencyProfileFromProto(proto, spec).status();
  EXPECT_NE(st.message().find("tables[0].decoders[0].task: unknown task"),
            std::string::npos)
      << st;
  proto = LatencyProfileToProto(LinearProfile(spec, {1}), spec);
  proto.mutable_tables(0)->mutable_decoders()->RemoveLast();
  st = LatencyProfileFromProto(proto, spec).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("decoder_ms"), std::string::npos) << st;
  // A fused row missing, or of the wrong length.
  proto = LatencyProfileToProto(FusedProfile(spec, {1}), spec);
  proto.mutable_tables(0)->mutable_fused_decoders()->RemoveLast();
  st = LatencyProfileFromProto(proto, spec).status();
  EXPECT_NE(st.message().find("fused_decoder_ms[3]"), std::string::npos) << st;
  proto = LatencyProfileToProto(FusedProfile(spec, {1}), spec);
  proto.mutable_tables(0)->mutable_fused_decoders(1)->add_ms(1);
  st = LatencyProfileFromProto(proto, spec).status();
  EXPECT_NE(st.message().find("tables[0].fused_decoders[1]"), std::string::npos)
      << st;
}

}  // namespace
}  // namespace slimserve
