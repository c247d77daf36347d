// The coordinator's Prometheus metrics (docs/metrics.md lists them all):
// counters fed by the store's events, and gauges read from the store at
// each scrape — comparisons, jobs and workers by state, queue depth, and the
// latest results per comparison, variant and hardware, with their cost.
//
// Series stay bounded: results are exposed for the newest
// `result_comparisons` succeeded comparisons plus those the newest `tags`
// tags point to; older comparisons age out of /metrics (Prometheus keeps
// their history). Gate verdicts: the newest per (baseline, candidate) pair
// among the newest `verdicts` recorded.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/base/mutex.h"
#include "services/coordinator/store.h"

namespace tcobench {

struct CoordinatorMetricsOptions {
  int result_comparisons = 20;
  int tags = 20;
  int verdicts = 20;
  double forget_lost_workers_seconds = 3600;  // a LOST worker counts this long, then is gone
};

// Counters from StoreEvents; every known label value starts at zero.
class CoordinatorCounters {
 public:
  explicit CoordinatorCounters(prometheus::Registry& registry);
  void OnEvent(const StoreEvent& event);
  // A call refused before it ran (AccessOptions::on_refused).
  void OnRefused(const char* reason);

 private:
  prometheus::Counter& submitted_;
  prometheus::Counter& lease_grants_;
  prometheus::Counter& lease_expiries_;
  prometheus::Family<prometheus::Counter>& requeues_;
  prometheus::Family<prometheus::Counter>& finished_;
  prometheus::Family<prometheus::Counter>& verdicts_;
  prometheus::Family<prometheus::Counter>& refused_;
};

// Gauges read from the store at scrape time.
class StoreCollector final : public prometheus::Collectable {
 public:
  StoreCollector(Store* store, CoordinatorMetricsOptions options)
      : store_(store), options_(options) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  // One comparison's result and cost rows, computed once (results never
  // change once a comparison succeeded).
  struct Rows;
  std::shared_ptr<const Rows> RowsFor(const std::string& id) const;
  // The newest and tagged comparisons' results; the newest gate verdicts.
  void AddResults(std::vector<prometheus::MetricFamily>* out) const;
  void AddVerdicts(std::vector<prometheus::MetricFamily>* out) const;

  Store* store_;
  const CoordinatorMetricsOptions options_;
  mutable Mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const Rows>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcobench
