#include "server/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"

namespace slimserve {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(file),
                     std::istreambuf_iterator<char>());
}

prometheus::MetricFamily Family(const char* name, const char* help,
                                prometheus::MetricType type, double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  family.metric.emplace_back();
  if (type == prometheus::MetricType::Counter) {
    family.metric.back().counter.value = value;
  } else {
    family.metric.back().gauge.value = value;
  }
  return family;
}

// Entries of a directory other than "." and "..", or -1 if unreadable.
int CountEntries(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    const absl::string_view name = entry->d_name;
    if (name != "." && name != "..") ++count;
  }
  closedir(dir);
  return count;
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text) {
  const size_t paren = text.rfind(')');
  if (paren == absl::string_view::npos) {
    return absl::InvalidArgumentError("proc stat: no ')' after the command");
  }
  // Field 3 (state) onwards.
  const std::vector<absl::string_view> fields = absl::StrSplit(
      text.substr(paren + 1), absl::ByAnyChar(" \n"), absl::SkipEmpty());
  // Field n is fields[n - 3].
  auto field = [&fields](int n, auto* out) -> absl::Status {
    const size_t i = n - 3;
    if (i >= fields.size() || !absl::SimpleAtoi(fields[i], out)) {
      return absl::InvalidArgumentError(
          absl::StrCat("proc stat: field ", n, " missing or not a number"));
    }
    return absl::OkStatus();
  };
  ProcStat stat;
  for (absl::Status status :
       {field(14, &stat.utime_ticks), field(15, &stat.stime_ticks),
        field(20, &stat.threads), field(22, &stat.starttime_ticks)}) {
    if (!status.ok()) return status;
  }
  return stat;
}

absl::StatusOr<ProcStatm> ParseProcStatm(absl::string_view text) {
  const std::vector<absl::string_view> fields =
      absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  ProcStatm statm;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[0], &statm.size_pages) ||
      !absl::SimpleAtoi(fields[1], &statm.resident_pages)) {
    return absl::InvalidArgumentError(
        "proc statm: expected at least two numbers");
  }
  return statm;
}

absl::StatusOr<int64_t> ParseBootTime(absl::string_view proc_stat) {
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      int64_t seconds = 0;
      if (absl::SimpleAtoi(line, &seconds)) return seconds;
    }
  }
  return absl::InvalidArgumentError("proc stat: no btime line");
}

ProcessCollector::ProcessCollector(const Options& options)
    : options_(options),
      clock_ticks_per_second_(sysconf(_SC_CLK_TCK)),
      page_size_bytes_(sysconf(_SC_PAGESIZE)) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  const std::string dir = absl::StrCat(options_.proc_root, "/", options_.pid);

  const std::optional<std::string> stat_text = ReadFile(dir + "/stat");
  absl::StatusOr<ProcStat> stat =
      stat_text ? ParseProcStat(*stat_text)
                : absl::StatusOr<ProcStat>(absl::NotFoundError("stat"));
  if (stat.ok() && clock_ticks_per_second_ > 0) {
    const double ticks = clock_ticks_per_second_;
    families.push_back(Family(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.", MetricType::Counter,
        (stat->utime_ticks + stat->stime_ticks) / ticks));
    families.push_back(Family("process_threads", "Number of OS threads.",
                              MetricType::Gauge, stat->threads));
    const std::optional<std::string> system =
        ReadFile(options_.proc_root + "/stat");
    absl::StatusOr<int64_t> boot =
        system ? ParseBootTime(*system)
               : absl::StatusOr<int64_t>(absl::NotFoundError("stat"));
    if (boot.ok()) {
      families.push_back(
          Family("process_start_time_seconds",
                 "Start time of the process since unix epoch in seconds.",
                 MetricType::Gauge, *boot + stat->starttime_ticks / ticks));
    }
  }

  const std::optional<std::string> statm_text = ReadFile(dir + "/statm");
  absl::StatusOr<ProcStatm> statm =
      statm_text ? ParseProcStatm(*statm_text)
                 : absl::StatusOr<ProcStatm>(absl::NotFoundError("statm"));
  if (statm.ok() && page_size_bytes_ > 0) {
    families.push_back(
        Family("process_resident_memory_bytes",
               "Resident memory size in bytes.", MetricType::Gauge,
               static_cast<double>(statm->resident_pages) * page_size_bytes_));
    families.push_back(
        Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
               MetricType::Gauge,
               static_cast<double>(statm->size_pages) * page_size_bytes_));
  }

  int fds = CountEntries(dir + "/fd");
  // Listing our own fd directory takes a descriptor, which it then lists.
  if (options_.pid == "self") --fds;
  if (fds >= 0) {
    families.push_back(Family("process_open_fds",
                              "Number of open file descriptors.",
                              MetricType::Gauge, fds));
  }
  // Only meaningful for this process; another pid's limit is in its
  // /proc/<pid>/limits, which nothing here needs.
  rlimit limit;
  if (options_.pid == "self" && getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY) {
    families.push_back(
        Family("process_max_fds", "Maximum number of open file descriptors.",
               MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace slimserve
