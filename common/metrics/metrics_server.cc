#include "common/metrics/metrics_server.h"

#include <algorithm>
#include <cstdio>
#include <exception>

#include "absl/strings/str_cat.h"

namespace tcobench {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen: '", address, "' is not HOST:PORT (e.g. 127.0.0.1:9470)"));
  }
  for (size_t i = colon + 1; i < address.size(); ++i) {
    if (address[i] < '0' || address[i] > '9') {
      return absl::InvalidArgumentError(
          absl::StrCat("--metrics-listen: '", address, "' has no numeric port"));
    }
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->registry_ = std::make_shared<prometheus::Registry>();
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-listen: cannot serve metrics on ", address, ": ", e.what()));
  }
  server->exposer_->RegisterCollectable(server->registry_);
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  server->port_ = ports.empty() ? 0 : ports.front();
  server->host_ = address.substr(0, colon);
  return server;
}

void MetricsServer::Add(const std::shared_ptr<prometheus::Collectable>& collectable) {
  collectables_.push_back(collectable);
  exposer_->RegisterCollectable(collectable);
}

absl::Status StartMetricsForDaemon(const char* program, const MetricsFlag& flag,
                                   std::unique_ptr<MetricsServer>* out) {
  out->reset();
  if (flag.address == "none") return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start(flag.address);
  if (!server.ok()) {
    if (flag.given || server.status().code() == absl::StatusCode::kInvalidArgument)
      return server.status();
    std::fprintf(stderr,
                 "%s: %s; running without metrics (give --metrics-listen to choose a port)\n",
                 program, std::string(server.status().message()).c_str());
    return absl::OkStatus();
  }
  std::printf("%s: metrics on http://%s:%d/metrics\n", program, (*server)->host().c_str(),
              (*server)->port());
  std::fflush(stdout);
  *out = std::move(*server);
  return absl::OkStatus();
}

FamilyBuilder::FamilyBuilder(std::string name, std::string help) {
  family_.name = std::move(name);
  family_.help = std::move(help);
  family_.type = prometheus::MetricType::Gauge;
}

FamilyBuilder& FamilyBuilder::Add(std::vector<prometheus::ClientMetric::Label> labels,
                                  double value) {
  prometheus::ClientMetric m;
  std::sort(labels.begin(), labels.end());  // as prometheus-cpp's own families expose them
  m.label = std::move(labels);
  m.gauge.value = value;
  family_.metric.push_back(std::move(m));
  return *this;
}

prometheus::Histogram::BucketBoundaries SecondsBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

}  // namespace tcobench
