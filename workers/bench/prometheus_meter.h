// Energy read from a Prometheus the worker is told about (docs/endpoints.md,
// "Energy"): a PromQL expression for the power in watts of the hardware
// behind an endpoint (a DCGM exporter's DCGM_FI_DEV_POWER_USAGE, summed), or
// for an energy counter in joules, evaluated over the measured window. For
// endpoint runs whose server's GPUs are on another host.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "workers/energy/energy_meter.h"

namespace tcobench {

struct PrometheusEnergy {
  std::string url;    // the Prometheus, e.g. http://127.0.0.1:9090
  std::string query;  // PromQL, one series
  bool joules = false;  // a counter in joules (else a power in watts)
};

// "QUERY" or "watts:QUERY" (a power), "joules:QUERY" (an energy counter).
PrometheusEnergy ParseEnergyQuery(const std::string& url, absl::string_view spec);

// A meter over `e`, once the query has answered with one series and the
// Prometheus has said its scrape interval (both asked here, outside any
// measured window; an error says why not). Start() only notes the time;
// Stop() integrates the power over the window (the query evaluated at 1,000
// even steps, at least 0.1 s apart) or differences the counter at the
// window's ends. The uncertainty is the scrape interval over the window (a
// sample may be up to one interval old at either end). `now` gives Unix
// seconds (default: the system clock).
absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenPrometheusMeter(const PrometheusEnergy& e,
                                                                 std::function<double()> now = nullptr);

}  // namespace tcobench
