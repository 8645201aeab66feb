#ifndef SLIMSERVE_SERVER_PROCESS_METRICS_H_
#define SLIMSERVE_SERVER_PROCESS_METRICS_H_

// The standard Prometheus process metrics, read from /proc at each scrape
// (the names client libraries of other languages export, so existing
// dashboards and alerts work):
//
//   process_cpu_seconds_total        user + system CPU time
//   process_resident_memory_bytes    resident set size
//   process_virtual_memory_bytes     virtual memory size
//   process_start_time_seconds       start time, seconds since the epoch
//   process_open_fds                 open file descriptors
//   process_max_fds                  the RLIMIT_NOFILE soft limit
//   process_threads                  threads of the process
//
// A file that cannot be read or parsed leaves its metrics out of that
// scrape; it never fails the scrape.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace slimserve {

// Fields of /proc/<pid>/stat (see proc(5)), in their own units.
struct ProcStat {
  uint64_t utime_ticks = 0;      // field 14
  uint64_t stime_ticks = 0;      // field 15
  int64_t threads = 0;           // field 20
  uint64_t starttime_ticks = 0;  // field 22, since boot
};

// Parses the contents of /proc/<pid>/stat. The command name (field 2) may
// hold spaces and parentheses, so fields are counted from its last ')'.
// INVALID_ARGUMENT when the text is cut short or a field is not a number.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text);

// Fields of /proc/<pid>/statm, in pages.
struct ProcStatm {
  uint64_t size_pages = 0;      // virtual memory
  uint64_t resident_pages = 0;  // resident set
};

absl::StatusOr<ProcStatm> ParseProcStatm(absl::string_view text);

// The "btime" line of /proc/stat: boot time, seconds since the epoch.
absl::StatusOr<int64_t> ParseBootTime(absl::string_view proc_stat);

class ProcessCollector : public prometheus::Collectable {
 public:
  struct Options {
    // Where proc(5) is mounted; tests point it at a fake tree.
    std::string proc_root = "/proc";
    // Whose metrics: "self" or a pid.
    std::string pid = "self";
  };

  explicit ProcessCollector(const Options& options);
  ProcessCollector() : ProcessCollector(Options()) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // Constant after construction.
  const Options options_;
  const long clock_ticks_per_second_;
  const long page_size_bytes_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_PROCESS_METRICS_H_
