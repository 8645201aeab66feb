#ifndef SLIMSERVE_BASE_CPUS_H_
#define SLIMSERVE_BASE_CPUS_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace slimserve {

// The CPUs this process may run on at once: the CPUs of its affinity mask
// (taskset, a container's cpuset), fewer when a CFS quota (a Kubernetes CPU
// limit: cgroup v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us)
// allows less, rounded up; at least 1. std::thread::hardware_concurrency
// counts the host's CPUs instead, so a pod limited to 2 CPUs on a 64-core
// node would start 64 threads of everything that sizes itself by it.
int UsableCpus();

// What a cgroup v2 cpu.max ("QUOTA PERIOD" or "max PERIOD") allows, rounded
// up; nullopt when unlimited or not understood.
std::optional<int> CpusFromCpuMax(absl::string_view cpu_max);

// The same for cgroup v1's cpu.cfs_quota_us and cpu.cfs_period_us (a quota
// of -1 is unlimited).
std::optional<int> CpusFromCfs(absl::string_view quota_us,
                               absl::string_view period_us);

}  // namespace slimserve

#endif  // SLIMSERVE_BASE_CPUS_H_
