#ifndef SLIMSERVE_ENGINE_RUNTIME_TORCH_STATUS_H_
#define SLIMSERVE_ENGINE_RUNTIME_TORCH_STATUS_H_

// The one place where LibTorch and CUDA exceptions become a Status. Every
// call from the runner into LibTorch goes through CatchTorch, so nothing
// LibTorch throws (c10::Error, std::bad_alloc, CUDA errors) escapes into the
// engine's threads or through Engine::Create.

#include <exception>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace slimserve {

// LibTorch's messages carry a C++ stack trace after the first line, and may
// be long: the status keeps the first line, bounded.
inline std::string TorchMessage(const char* what) {
  constexpr size_t kMax = 300;
  std::string s(what == nullptr ? "" : what);
  s = s.substr(0, s.find('\n'));
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

// Runs fn() (returning absl::Status or absl::StatusOr<T>) and returns its
// result, or INTERNAL "<what>: <first line of the exception>" when it
// throws.
template <typename Fn>
auto CatchTorch(absl::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", TorchMessage(e.what())));
  } catch (...) {
    return absl::InternalError(absl::StrCat(what, ": unknown exception"));
  }
}

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_TORCH_STATUS_H_
