// The worker daemon's Prometheus metrics (docs/metrics.md): what it is
// doing now (busy, phase) and what it has done (jobs, tokens, energy by
// source, power, model load time, host-lock wait).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "absl/base/thread_annotations.h"
#include "common/base/mutex.h"
#include "tcobench/v1/coordinator.pb.h"

namespace tcobench {

class WorkerMetrics {
 public:
  WorkerMetrics(prometheus::Registry& registry, const v1::WorkerInventory& inventory);

  void SetRegistered(bool registered);
  // "idle" between jobs; otherwise a phase of LocalRunOptions::on_phase.
  void SetPhase(const std::string& phase);
  // outcome: "succeeded", "failed", "handed_back" or "refused" (the
  // coordinator would not take the result, or stayed unreachable);
  // `result` when one was measured.
  void JobFinished(const char* outcome, const v1::ComparisonResult* result);

 private:
  // Each call's several updates as one: a scrape never sees two phases set.
  Mutex mu_;
  prometheus::Gauge& registered_;
  prometheus::Gauge& busy_ ABSL_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Gauge>& phase_ ABSL_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Counter>& jobs_ ABSL_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Counter>& tokens_ ABSL_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Counter>& energy_ ABSL_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Gauge>& power_ ABSL_GUARDED_BY(mu_);
  prometheus::Histogram& load_seconds_ ABSL_GUARDED_BY(mu_);
  prometheus::Counter& lock_wait_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcobench
