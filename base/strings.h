#ifndef SLIMSERVE_BASE_STRINGS_H_
#define SLIMSERVE_BASE_STRINGS_H_

// Text from requests in messages and logs: always bounded and escaped, so a
// client can neither inflate a status message past a peer's metadata limit
// nor write control characters or megabytes into the log.

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace slimserve {

// The first `max_bytes` bytes of `text`, C-escaped, with "..." and the full
// length appended when it was cut: `sky`, or `aaaa... (4096 bytes)`.
std::string Bounded(absl::string_view text, size_t max_bytes = 64);

}  // namespace slimserve

#endif  // SLIMSERVE_BASE_STRINGS_H_
