#include "base/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace slimserve {
namespace {

std::optional<int> CeilCpus(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  const int64_t cpus = (quota + period - 1) / period;
  return static_cast<int>(std::min<int64_t>(cpus, 1 << 20));
}

// The first line of a small control file; empty when absent.
std::string FirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

int AffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

std::optional<int> CpusFromCpuMax(absl::string_view cpu_max) {
  const std::vector<absl::string_view> parts = absl::StrSplit(
      absl::StripAsciiWhitespace(cpu_max), ' ', absl::SkipEmpty());
  if (parts.size() != 2) return std::nullopt;
  // The same two numbers as v1's files; "max" (unlimited) does not parse.
  return CpusFromCfs(parts[0], parts[1]);
}

std::optional<int> CpusFromCfs(absl::string_view quota_us,
                               absl::string_view period_us) {
  int64_t quota = 0, period = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(quota_us), &quota) ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(period_us), &period)) {
    return std::nullopt;
  }
  return CeilCpus(quota, period);
}

int UsableCpus() {
  int cpus = AffinityCpus();
  // The process's own cgroup is mounted at /sys/fs/cgroup in a container;
  // on a host this reads the root's, which has no quota.
  std::optional<int> quota = CpusFromCpuMax(FirstLine("/sys/fs/cgroup/cpu.max"));
  if (!quota) {
    quota = CpusFromCfs(FirstLine("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                        FirstLine("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
  }
  if (quota) cpus = std::min(cpus, *quota);
  return std::max(1, cpus);
}

}  // namespace slimserve
