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
}

}  // namespace
}  // namespace slimserve
