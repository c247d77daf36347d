// The worker daemon's Prometheus metrics (docs/metrics.md): what it is
// doing now (busy, phase) and what it has done (jobs, tokens, energy by
// source, power, model load time, host-lock wait).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <mutex>
#include <string>

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
  std::mutex mu_;
  prometheus::Gauge& registered_;
  prometheus::Gauge& busy_;
  prometheus::Family<prometheus::Gauge>& phase_;
  prometheus::Family<prometheus::Counter>& jobs_;
  prometheus::Family<prometheus::Counter>& tokens_;
  prometheus::Family<prometheus::Counter>& energy_;
  prometheus::Family<prometheus::Gauge>& power_;
  prometheus::Histogram& load_seconds_;
  prometheus::Counter& lock_wait_;
};

}  // namespace tcobench
