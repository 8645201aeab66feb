#include "engine/model/quality_table.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include "engine/model/spec.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

using slimserve::v1::ProfileTable;

// A complete profile of `spec` with q = 0.5 + 0.1 * (we + wd) / (2 * 3).
ProfileTable FullProfile(const v1::ModelSpec& spec) {
  ProfileTable p;
  p.set_model_name(spec.name());
  p.set_model_version(spec.version());
  p.set_source("test");
  for (const auto& task : spec.tasks()) {
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        auto* e = p.add_entries();
        e->set_task(task.name());
        e->set_encoder_width_index(we);
        e->set_decoder_width_index(wd);
        e->set_normalized_quality(0.5 + 0.1 * (we + wd) / 6.0);
      }
    }
  }
  return p;
}

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/" + name;
  std::string cmd = "mkdir -p '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

TEST(QualityTableTest, SyntheticFormula) {
  const v1::ModelSpec spec = DefaultModelSpec();
  const QualityTable q = QualityTable::Synthetic(spec);
  EXPECT_TRUE(q.synthetic());
  EXPECT_EQ(q.source(), "synthetic");
  ASSERT_EQ(q.num_tasks(), 4);
  ASSERT_EQ(q.num_encoder_widths(), 4);
  ASSERT_EQ(q.num_decoder_widths(), 4);
  for (int t = 0; t < 4; ++t) {
    EXPECT_DOUBLE_EQ(q.at(t, 3, 3), 1.0);
    EXPECT_NEAR(q.at(t, 0, 0), 0.675, 1e-3);  // widths 0.25
    for (int we = 0; we < 4; ++we) {
      for (int wd = 0; wd < 4; ++wd) {
        const double we_m = spec.encoder_widths(we);
        const double wd_m = spec.decoder_widths(wd);
        EXPECT_DOUBLE_EQ(q.at(t, we, wd), 1 - 0.3 * std::pow(1 - we_m, 1.5) -
                                              0.2 * std::pow(1 - wd_m, 1.5));
        if (we > 0) {
          EXPECT_GT(q.at(t, we, wd), q.at(t, we - 1, wd));
        }
        if (wd > 0) {
          EXPECT_GT(q.at(t, we, wd), q.at(t, we, wd - 1));
        }
      }
    }
  }
}

TEST(QualityTableTest, FromProfile) {
  const v1::ModelSpec spec = DefaultModelSpec();
  ProfileTable p = FullProfile(spec);
  // Entry order does not matter.
  std::swap(*p.mutable_entries(0), *p.mutable_entries(37));
  auto q = QualityTable::FromProfile(spec, p);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_FALSE(q->synthetic());
  EXPECT_EQ(q->source(), "test");
  for (int t = 0; t < 4; ++t) {
    for (int we = 0; we < 4; ++we) {
      for (int wd = 0; wd < 4; ++wd) {
        EXPECT_DOUBLE_EQ(q->at(t, we, wd), 0.5 + 0.1 * (we + wd) / 6.0);
      }
    }
  }
}

TEST(QualityTableTest, ProfileErrorsNameTheEntry) {
  const v1::ModelSpec spec = DefaultModelSpec();
  struct Case {
    std::string name;
    std::function<void(ProfileTable*)> edit;
    std::string message_part;
  };
  const Case cases[] = {
      {"unknown task",
       [](ProfileTable* p) { p->mutable_entries(5)->set_task("sky"); },
       "entries[5].task: \"sky\" is not a task of the model"},
      {"encoder index",
       [](ProfileTable* p) {
         p->mutable_entries(2)->set_encoder_width_index(4);
       },
       "entries[2].encoder_width_index: 4 is out of range"},
      {"decoder index",
       [](ProfileTable* p) {
         p->mutable_entries(3)->set_decoder_width_index(9);
       },
       "entries[3].decoder_width_index: 9 is out of range"},
      {"nan",
       [](ProfileTable* p) {
         p->mutable_entries(7)->set_normalized_quality(
             std::numeric_limits<double>::quiet_NaN());
       },
       "entries[7].normalized_quality: must be a finite number in (0, 100], "
       "got nan"},
      {"zero",
       [](ProfileTable* p) {
         p->mutable_entries(8)->set_normalized_quality(0);
       },
       "entries[8].normalized_quality"},
      {"negative",
       [](ProfileTable* p) {
         p->mutable_entries(8)->set_normalized_quality(-0.5);
       },
       "got -0.5"},
      {"huge",
       [](ProfileTable* p) {
         p->mutable_entries(8)->set_normalized_quality(1e6);
       },
       "got 1e+06"},
      {"duplicate", [](ProfileTable* p) { *p->add_entries() = p->entries(2); },
       "entries[64]: duplicate of entries[2] (task \"semseg\", encoder width "
       "index 0, decoder width index 2)"},
      {"missing", [](ProfileTable* p) { p->mutable_entries()->RemoveLast(); },
       "no entry for task \"edges\", encoder width index 3, decoder width "
       "index 3"},
      {"model name", [](ProfileTable* p) { p->set_model_name("other"); },
       "model_name: the profile is of model \"other\""},
      {"model version", [](ProfileTable* p) { p->set_model_version("9"); },
       "model_version"},
  };
  for (const Case& c : cases) {
    ProfileTable p = FullProfile(spec);
    c.edit(&p);
    auto q = QualityTable::FromProfile(spec, p);
    ASSERT_FALSE(q.ok()) << c.name;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(q.status().message().find(c.message_part), std::string::npos)
        << c.name << ": " << q.status();
  }
  // Name and version are optional.
  ProfileTable p = FullProfile(spec);
  p.clear_model_name();
  p.clear_model_version();
  p.clear_source();
  auto q = QualityTable::FromProfile(spec, p);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->source(), "profile");
}

TEST(QualityTableTest, FromValues) {
  auto q = QualityTable::FromValues({{{0.5, 1.0}}, {{0.25, 0.75}}});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->num_tasks(), 2);
  EXPECT_EQ(q->num_encoder_widths(), 1);
  EXPECT_EQ(q->num_decoder_widths(), 2);
  EXPECT_EQ(q->at(1, 0, 1), 0.75);
  EXPECT_EQ(QualityTable::FromValues({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(QualityTable::FromValues({{{0.5, 1.0}}, {{0.25}}})
                .status()
                .message()
                .find("values[1][0]: has 1 decoder widths"),
            std::string::npos);
  EXPECT_NE(QualityTable::FromValues({{{0.5, 0.0}}})
                .status()
                .message()
                .find("values[0][0][1]"),
            std::string::npos);
}

TEST(QualityTableTest, LoadFromModelDir) {
  const v1::ModelSpec spec = DefaultModelSpec();
  const std::string dir = TempDir("quality_table_load");
  // Absent: NOT_FOUND, and the fallback is synthetic.
  std::remove((dir + "/profile.textproto").c_str());
  EXPECT_EQ(LoadProfileTable(dir).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadQualityTable(dir, spec).status().code(),
            absl::StatusCode::kNotFound);
  auto fallback = LoadQualityTableOrSynthetic(dir, spec);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_TRUE(fallback->synthetic());

  // Present and valid.
  std::string text;
  ASSERT_TRUE(
      google::protobuf::TextFormat::PrintToString(FullProfile(spec), &text));
  std::ofstream(dir + "/profile.textproto") << text;
  auto loaded = LoadQualityTableOrSynthetic(dir, spec);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->synthetic());
  EXPECT_DOUBLE_EQ(loaded->at(2, 1, 3), 0.5 + 0.1 * 4 / 6.0);

  // Present but incomplete: an error naming the file, no fallback.
  ProfileTable partial = FullProfile(spec);
  partial.mutable_entries()->RemoveLast();
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(partial, &text));
  std::ofstream(dir + "/profile.textproto") << text;
  auto broken = LoadQualityTableOrSynthetic(dir, spec);
  ASSERT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.status().message().find("profile.textproto: entries: no "
                                           "entry"),
            std::string::npos)
      << broken.status();

  // Not a ProfileTable.
  std::ofstream(dir + "/profile.textproto") << "entries { bogus: 1 }\n";
  auto unparsable = LoadProfileTable(dir);
  ASSERT_EQ(unparsable.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unparsable.status().message().find("line 1"), std::string::npos)
      << unparsable.status();
}

}  // namespace
}  // namespace slimserve
