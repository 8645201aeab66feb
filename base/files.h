#ifndef SLIMSERVE_BASE_FILES_H_
#define SLIMSERVE_BASE_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace slimserve {

// The bytes of the file at `path`. NOT_FOUND when it cannot be opened,
// FAILED_PRECONDITION when it is larger than `max_bytes` (so a flag naming
// the wrong file, /dev/zero, say, cannot fill memory), DATA_LOSS on a read
// error. Messages name the path.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path,
                                          int64_t max_bytes = int64_t{1} << 30);

}  // namespace slimserve

#endif  // SLIMSERVE_BASE_FILES_H_
