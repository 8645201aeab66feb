#ifndef SLIMSERVE_BASE_STATUS_MACROS_H_
#define SLIMSERVE_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Propagates a non-OK absl::Status out of the calling function.
#define SLIM_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    ::absl::Status slim_status_ = (expr);          \
    if (!slim_status_.ok()) return slim_status_;   \
  } while (0)

#define SLIM_STATUS_CONCAT_INNER(a, b) a##b
#define SLIM_STATUS_CONCAT(a, b) SLIM_STATUS_CONCAT_INNER(a, b)

// `SLIM_ASSIGN_OR_RETURN(auto x, Foo());` assigns the value of a StatusOr or
// returns its status.
#define SLIM_ASSIGN_OR_RETURN(lhs, expr)                                     \
  SLIM_ASSIGN_OR_RETURN_IMPL(SLIM_STATUS_CONCAT(slim_statusor_, __LINE__), \
                             lhs, expr)
#define SLIM_ASSIGN_OR_RETURN_IMPL(var, lhs, expr) \
  auto var = (expr);                               \
  if (!var.ok()) return std::move(var).status();   \
  lhs = std::move(var).value()

#endif  // SLIMSERVE_BASE_STATUS_MACROS_H_
