#include "base/files.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace slimserve {

absl::StatusOr<std::string> ReadFileBytes(const std::string& path,
                                          int64_t max_bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"),
                                             &std::fclose);
  if (file == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  // Read in chunks rather than trusting a size from stat(): pipes and
  // /proc files have none.
  std::string bytes;
  char chunk[1 << 16];
  for (;;) {
    const size_t n = std::fread(chunk, 1, sizeof(chunk), file.get());
    if (static_cast<int64_t>(bytes.size() + n) > max_bytes) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": larger than ", max_bytes, " bytes"));
    }
    bytes.append(chunk, n);
    if (n < sizeof(chunk)) break;
  }
  if (std::ferror(file.get())) {
    return absl::DataLossError(absl::StrCat(path, ": read error"));
  }
  return bytes;
}

absl::Status ReadFlagFile(const char* flag, const std::string& path,
                          int64_t max_bytes, std::string* out) {
  if (path.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> bytes = ReadFileBytes(path, max_bytes);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", bytes.status().message()));
  }
  *out = *std::move(bytes);
  return absl::OkStatus();
}

}  // namespace slimserve
