// Prometheus's HTTP query API (https://prometheus.io/docs/prometheus/latest/
// querying/api/) over the endpoint HTTP client: instant and range queries of
// one series, for energy read from a Prometheus the worker is told about
// (a DCGM exporter's power gauge or energy counter). The response parsing
// is pure and tested on hand-written bodies.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "workers/endpoint/http.h"

namespace tcobench {

struct PromPoint {
  double time = 0;  // Unix seconds
  double value = 0;
};

// A query response's body ({"status": "success", "data": {"resultType":
// ..., "result": ...}}) as points of its one series: a scalar or a
// one-series vector gives one point, a one-series matrix its points. An
// error response, no series, or several series (sum them in the query) is
// an error naming the query and what came back.
absl::StatusOr<std::vector<PromPoint>> ParsePromResponse(absl::string_view body, absl::string_view query);

// "a b&c" -> "a+b%26c": application/x-www-form-urlencoded.
std::string FormEncode(absl::string_view s);

// `query` evaluated at `at` (POST /api/v1/query).
absl::StatusOr<PromPoint> PromInstant(const HttpUrl& prometheus, absl::string_view query, double at,
                                      double timeout_seconds);

// `query` evaluated every `step` seconds over [start, end] (POST
// /api/v1/query_range).
absl::StatusOr<std::vector<PromPoint>> PromRange(const HttpUrl& prometheus, absl::string_view query, double start,
                                                 double end, double step, double timeout_seconds);

// The Prometheus's global scrape interval in seconds, from
// /api/v1/status/config (its default, 60 s, when the file sets none).
absl::StatusOr<double> PromScrapeInterval(const HttpUrl& prometheus, double timeout_seconds);

}  // namespace tcobench
