// Prometheus exposition for the daemons: a prometheus-cpp pull exposer on
// --metrics-listen (loopback by default) serving one registry plus any
// collectors that compute their families at scrape time, and the helpers
// every metrics module shares.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tcobench {

class MetricsServer {
 public:
  // Listens on `address` (HOST:PORT; port 0 picks one). Errors name the
  // address and why (in use, not an address).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address);

  prometheus::Registry& registry() { return *registry_; }
  // Served beside the registry until the server stops (collectors that read
  // live state at each scrape).
  void Add(const std::shared_ptr<prometheus::Collectable>& collectable);
  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  MetricsServer() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string host_;
  int port_ = 0;
};

// What the --metrics-listen flag means for a daemon: an explicit address
// must work; the default one may be taken (several daemons on one host), in
// which case the daemon says so on stderr and runs without metrics; "none"
// turns metrics off. `out` stays null when there are none.
struct MetricsFlag {
  std::string address;  // as given, or the default
  bool given = false;   // on the command line
};
absl::Status StartMetricsForDaemon(const char* program, const MetricsFlag& flag,
                                   std::unique_ptr<MetricsServer>* out);

// A gauge family built by hand at scrape time (values read from a store).
class FamilyBuilder {
 public:
  FamilyBuilder(std::string name, std::string help);
  // One sample; labels as name/value pairs.
  FamilyBuilder& Add(std::vector<prometheus::ClientMetric::Label> labels, double value);
  prometheus::MetricFamily Build() { return std::move(family_); }  // once
  bool empty() const { return family_.metric.empty(); }

 private:
  prometheus::MetricFamily family_;
};

// Buckets for latencies from a millisecond to a few minutes.
prometheus::Histogram::BucketBoundaries SecondsBuckets();

}  // namespace tcobench
