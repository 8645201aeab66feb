#include "base/strings.h"

#include <string>

#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(BoundedTest, EscapesAndCuts) {
  EXPECT_EQ(Bounded("sky"), "sky");
  EXPECT_EQ(Bounded("a\"b\n"), "a\\\"b\\n");
  EXPECT_EQ(Bounded(std::string(4096, 'x'), 4), "xxxx... (4096 bytes)");
  EXPECT_EQ(Bounded(std::string(64, 'x')), std::string(64, 'x'));
  EXPECT_LE(Bounded(std::string(1 << 20, '\x01')).size(), 4 * 64 + 32);
}

}  // namespace
}  // namespace slimserve
