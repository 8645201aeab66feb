#ifndef SLIMSERVE_BASE_FILES_H_
#define SLIMSERVE_BASE_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace slimserve {

// Default limit of ReadFileBytes: no input of slimserve's is larger.
inline constexpr int64_t kMaxFileBytes = int64_t{1} << 30;

// The bytes of the file at `path`. NOT_FOUND when it cannot be opened,
// FAILED_PRECONDITION when it is larger than `max_bytes` (so a flag naming
// the wrong file, /dev/zero, say, cannot fill memory), DATA_LOSS on a read
// error. Messages name the path.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path,
                                          int64_t max_bytes = kMaxFileBytes);

// Certificates and keys are kilobytes; a PEM flag naming a megabyte names a
// wrong file.
inline constexpr int64_t kMaxPemFileBytes = int64_t{1} << 20;

// The file a command-line flag names, into *out; nothing when `path` is
// empty. Errors as ReadFileBytes', as INVALID_ARGUMENT "--FLAG: ...".
absl::Status ReadFlagFile(const char* flag, const std::string& path,
                          int64_t max_bytes, std::string* out);

}  // namespace slimserve

#endif  // SLIMSERVE_BASE_FILES_H_
