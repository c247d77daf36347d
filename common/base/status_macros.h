// Status propagation helpers. This Abseil (20220623) ships no status macros.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tcobench {

// The same error, its message after "prefix: " (which part of the work failed).
inline absl::Status Prefixed(absl::string_view prefix, const absl::Status& s) {
  return s.ok() ? s : absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
}

}  // namespace tcobench

#define TCOBENCH_STATUS_CONCAT_INNER_(a, b) a##b
#define TCOBENCH_STATUS_CONCAT_(a, b) TCOBENCH_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` yields a non-OK status.
#define TCOBENCH_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::absl::Status tcobench_status_ = (expr);            \
    if (!tcobench_status_.ok()) return tcobench_status_; \
  } while (0)

// `lhs = value of expr`, or returns its status when it holds an error.
#define TCOBENCH_ASSIGN_OR_RETURN(lhs, expr) \
  TCOBENCH_ASSIGN_OR_RETURN_IMPL_(TCOBENCH_STATUS_CONCAT_(tcobench_statusor_, __LINE__), lhs, expr)

#define TCOBENCH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()
