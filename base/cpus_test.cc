#include "base/cpus.h"

#include <sched.h>

#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(CpusFromCpuMaxTest, QuotaRoundsUp) {
  EXPECT_EQ(CpusFromCpuMax("200000 100000\n"), 2);
  EXPECT_EQ(CpusFromCpuMax("150000 100000"), 2);
  EXPECT_EQ(CpusFromCpuMax("50000 100000"), 1);
}

TEST(CpusFromCpuMaxTest, UnlimitedOrGarbageIsNoLimit) {
  EXPECT_EQ(CpusFromCpuMax("max 100000"), std::nullopt);
  EXPECT_EQ(CpusFromCpuMax(""), std::nullopt);
  EXPECT_EQ(CpusFromCpuMax("100000"), std::nullopt);
  EXPECT_EQ(CpusFromCpuMax("0 100000"), std::nullopt);
  EXPECT_EQ(CpusFromCpuMax("100000 0"), std::nullopt);
  EXPECT_EQ(CpusFromCpuMax("-5 100000"), std::nullopt);
}

TEST(CpusFromCfsTest, V1QuotaAndUnlimited) {
  EXPECT_EQ(CpusFromCfs("300000\n", "100000\n"), 3);
  EXPECT_EQ(CpusFromCfs("-1", "100000"), std::nullopt);
  EXPECT_EQ(CpusFromCfs("", ""), std::nullopt);
}

TEST(UsableCpusTest, AtMostTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const int usable = UsableCpus();
  EXPECT_GE(usable, 1);
  EXPECT_LE(usable, CPU_COUNT(&set));
}

TEST(UsableCpusTest, FollowsANarrowerAffinityMask) {
  cpu_set_t all;
  CPU_ZERO(&all);
  ASSERT_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &all)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  const int usable = UsableCpus();
  ASSERT_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
  EXPECT_EQ(usable, 1);
}

}  // namespace
}  // namespace slimserve
