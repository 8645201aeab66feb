#include "server/process_metrics.h"

#include <sys/times.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "prometheus/metric_type.h"

namespace slimserve {
namespace {

// A /proc/<pid>/stat line whose command holds a space and a ')'.
constexpr char kStat[] =
    "4242 (slim serve) x) S 1 4242 4242 0 -1 4194560 1830 0 0 0 "
    "250 50 0 0 20 0 12 0 123400 987654321 3000 18446744073709551615\n";

TEST(ParseProcStatTest, ReadsFieldsAfterTheCommand) {
  absl::StatusOr<ProcStat> stat = ParseProcStat(kStat);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->utime_ticks, 250u);
  EXPECT_EQ(stat->stime_ticks, 50u);
  EXPECT_EQ(stat->threads, 12);
  EXPECT_EQ(stat->starttime_ticks, 123400u);
}

TEST(ParseProcStatTest, RejectsShortOrMalformedText) {
  EXPECT_FALSE(ParseProcStat("").ok());
  EXPECT_FALSE(ParseProcStat("1 (x) S 1 2 3").ok());
  EXPECT_FALSE(
      ParseProcStat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 50 0 0 20 0 12 0 1 2 3")
          .ok());
}

TEST(ParseProcStatmTest, ReadsSizeAndResident) {
  absl::StatusOr<ProcStatm> statm = ParseProcStatm("2000 300 10 1 0 50 0\n");
  ASSERT_TRUE(statm.ok()) << statm.status();
  EXPECT_EQ(statm->size_pages, 2000u);
  EXPECT_EQ(statm->resident_pages, 300u);
  EXPECT_FALSE(ParseProcStatm("12").ok());
}

TEST(ParseBootTimeTest, FindsBtime) {
  EXPECT_EQ(*ParseBootTime("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            1700000000);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\n").ok());
}

std::map<std::string, double> Values(const ProcessCollector& collector) {
  std::map<std::string, double> values;
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    if (family.metric.empty()) continue;
    values[family.name] = family.type == prometheus::MetricType::Counter
                              ? family.metric[0].counter.value
                              : family.metric[0].gauge.value;
  }
  return values;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(ProcessCollectorTest, ConvertsAFakeProcTreeToBaseUnits) {
  const std::string root = absl::StrCat(std::getenv("TEST_TMPDIR"), "/proc");
  std::filesystem::create_directories(root + "/4242/fd");
  WriteFile(root + "/stat", "cpu 1 2 3\nbtime 1700000000\n");
  WriteFile(root + "/4242/stat", kStat);
  WriteFile(root + "/4242/statm", "2000 300 10 1 0 50 0\n");
  for (const char* fd : {"0", "1", "2"}) WriteFile(root + "/4242/fd/" + fd, "");

  ProcessCollector::Options options;
  options.proc_root = root;
  options.pid = "4242";
  const std::map<std::string, double> values =
      Values(ProcessCollector(options));
  const double ticks = sysconf(_SC_CLK_TCK);
  const double page = sysconf(_SC_PAGESIZE);
  EXPECT_DOUBLE_EQ(values.at("process_cpu_seconds_total"), 300 / ticks);
  EXPECT_DOUBLE_EQ(values.at("process_threads"), 12);
  EXPECT_DOUBLE_EQ(values.at("process_start_time_seconds"),
                   1700000000 + 123400 / ticks);
  EXPECT_DOUBLE_EQ(values.at("process_resident_memory_bytes"), 300 * page);
  EXPECT_DOUBLE_EQ(values.at("process_virtual_memory_bytes"), 2000 * page);
  EXPECT_DOUBLE_EQ(values.at("process_open_fds"), 3);
  // Only for "self".
  EXPECT_EQ(values.count("process_max_fds"), 0u);
}

TEST(ProcessCollectorTest, LeavesOutWhatCannotBeRead) {
  ProcessCollector::Options options;
  options.proc_root = "/nonexistent";
  options.pid = "1";
  EXPECT_TRUE(ProcessCollector(options).Collect().empty());
}

// Uses CPU until the kernel has charged this process one clock tick: a
// fresh process on a fast machine may not have used one yet, and
// process_cpu_seconds_total counts whole ticks. Bounded by the CPU it uses,
// not by the wall clock.
void UseOneClockTick() {
  volatile uint64_t sink = 0;
  for (;;) {
    tms t;
    times(&t);
    if (t.tms_utime + t.tms_stime >= 1) return;
    for (int i = 0; i < 100000; ++i) sink = sink + i;
  }
}

TEST(ProcessCollectorTest, ReadsThisProcess) {
  UseOneClockTick();
  const std::map<std::string, double> values = Values(ProcessCollector());
  EXPECT_GE(values.at("process_cpu_seconds_total"),
            1.0 / sysconf(_SC_CLK_TCK));
  for (const char* name :
       {"process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_virtual_memory_bytes", "process_start_time_seconds",
        "process_open_fds", "process_max_fds", "process_threads"}) {
    ASSERT_EQ(values.count(name), 1u) << name;
    EXPECT_GT(values.at(name), 0) << name;
  }
  // A test binary holds a few MiB at least, and less than its virtual size.
  EXPECT_GT(values.at("process_resident_memory_bytes"), 1 << 20);
  EXPECT_LE(values.at("process_resident_memory_bytes"),
            values.at("process_virtual_memory_bytes"));
}

}  // namespace
}  // namespace slimserve
