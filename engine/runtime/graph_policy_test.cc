#include "engine/runtime/graph_policy.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(PaddedBatchSizeTest, PadsToTheNextSizeWhenThePaddingIsSmall) {
  const std::vector<int> sizes = {1, 2, 4, 8, 16, 32};
  EXPECT_EQ(PaddedBatchSize(1, sizes, 0.25), 1);
  EXPECT_EQ(PaddedBatchSize(3, sizes, 0.25), 4);    // 1 of 4 padded
  EXPECT_EQ(PaddedBatchSize(5, sizes, 0.25), 5);    // 3 of 8: its own graph
  EXPECT_EQ(PaddedBatchSize(7, sizes, 0.25), 8);
  EXPECT_EQ(PaddedBatchSize(13, sizes, 0.25), 16);  // 3 of 16
  EXPECT_EQ(PaddedBatchSize(5, sizes, 0.5), 8);
  EXPECT_EQ(PaddedBatchSize(33, sizes, 1.0), 33);   // beyond every size
  EXPECT_EQ(PaddedBatchSize(3, sizes, 0.0), 3);     // never pad
  EXPECT_EQ(PaddedBatchSize(4, {}, 0.5), 4);
}

TEST(GraphKeyTest, OrdersAndComparesEveryField) {
  const GraphKey encoder{-1, 2, -1, 8};
  const GraphKey decoder{0, 2, 1, 8};
  EXPECT_TRUE(encoder < decoder);
  EXPECT_FALSE(encoder == decoder);
  EXPECT_TRUE((GraphKey{0, 2, 1, 8} == decoder));
  EXPECT_FALSE((GraphKey{0, 2, 1, 4} == decoder));
  EXPECT_FALSE((GraphKey{0, 2, 3, 8} == decoder));
}

TEST(LruCacheTest, DropsTheLeastRecentlyUsed) {
  LruCache<int, std::string> cache(2);
  EXPECT_EQ(cache.Put(1, "a"), 0);
  EXPECT_EQ(cache.Put(2, "b"), 0);
  ASSERT_NE(cache.Find(1), nullptr);  // 1 is now the most recent
  EXPECT_EQ(cache.Put(3, "c"), 1);    // drops 2
  EXPECT_EQ(cache.Find(2), nullptr);
  EXPECT_EQ(*cache.Find(1), "a");
  EXPECT_EQ(*cache.Find(3), "c");
  EXPECT_EQ(cache.Keys(), (std::vector<int>{3, 1}));
  EXPECT_EQ(cache.Put(1, "z"), 0);  // replaces, drops nothing
  EXPECT_EQ(*cache.Find(1), "z");
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ((LruCache<int, int>(0).capacity()), 1u);
}

}  // namespace
}  // namespace slimserve
