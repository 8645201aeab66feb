#include "engine/runtime/graph_policy.h"

namespace slimserve {

int PaddedBatchSize(int n, absl::Span<const int> sizes, double max_padding) {
  for (int size : sizes) {
    if (size < n) continue;
    return size - n <= max_padding * size ? size : n;
  }
  return n;
}

}  // namespace slimserve
