// What the store's source files share (store.cc: comparisons, tags and
// verdicts; leases.cc: workers, jobs and leases; store_stats.cc: the read
// models behind the metrics). Not for use outside the store.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "tcobench/v1/coordinator.pb.h"

namespace tcobench::internal {

// Joins a job's error messages in its `errors` column.
inline constexpr char kErrorSeparator = '\x1f';

double SystemNow();                     // seconds since the epoch
std::string IsoTime(double seconds);    // "" for 0
std::string NewId(const char* prefix);  // prefix + 16 random hex digits

inline bool Terminal(v1::Job::State s) {
  return s == v1::Job::SUCCEEDED || s == v1::Job::FAILED || s == v1::Job::CANCELLED;
}
inline bool Terminal(v1::Comparison::State s) {
  return s == v1::Comparison::SUCCEEDED || s == v1::Comparison::FAILED ||
         s == v1::Comparison::CANCELLED;
}

// The spec a job runs: its variant (and the baseline, for KL divergence) on
// its hardware target, with the cost block's prices of other targets removed
// (so that it still passes ValidateSpec on the worker).
v1::ComparisonSpec JobSpec(const v1::ComparisonSpec& spec, const std::string& variant,
                           const std::string& hardware);

absl::Status NoSuchRef(const std::string& ref);

}  // namespace tcobench::internal

// The comparison a reference names: its id, or a tag on it (tags never have
// an id's form, so the two cannot both match).
#define TCOBENCH_BY_REF "(id = ?1 OR id IN (SELECT comparison_id FROM tags WHERE name = ?1))"
