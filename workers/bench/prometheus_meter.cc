#include "workers/bench/prometheus_meter.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "workers/endpoint/prometheus_api.h"

namespace tcobench {
namespace {

constexpr double kQueryTimeoutSeconds = 10;

double SystemNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class PrometheusMeter : public EnergyMeter {
 public:
  PrometheusMeter(PrometheusEnergy e, HttpUrl url, double scrape_seconds, bool scrape_known,
                  std::function<double()> now)
      : e_(std::move(e)),
        url_(std::move(url)),
        resolution_(scrape_seconds),
        resolution_known_(scrape_known),
        now_(std::move(now)) {}

  std::string source() const override { return "prometheus"; }

  absl::Status Start() override {
    start_ = now_();
    return absl::OkStatus();
  }

  absl::StatusOr<EnergyReading> Stop() override {
    const double end = now_();
    EnergyReading r;
    r.source = "prometheus";
    r.seconds = end - start_;
    if (r.seconds <= 0) return absl::FailedPreconditionError("the window is empty");
    const double resolution = resolution_;
    r.uncertainty_fraction = std::min(1.0, resolution / r.seconds);
    std::string how;
    if (e_.joules) {
      absl::StatusOr<PromPoint> a = PromInstant(url_, e_.query, start_, kQueryTimeoutSeconds);
      if (!a.ok()) return a.status();
      absl::StatusOr<PromPoint> b = PromInstant(url_, e_.query, end, kQueryTimeoutSeconds);
      if (!b.ok()) return b.status();
      if (b->value < a->value) {
        return absl::DataLossError(absl::StrFormat("the counter went down over the window (%.6g -> %.6g J): a reset?",
                                                   a->value, b->value));
      }
      r.joules = b->value - a->value;
      how = "a counter in joules, its value at the window's end less its value at its start";
    } else {
      const double step = std::max(0.1, r.seconds / 1000);
      absl::StatusOr<std::vector<PromPoint>> points = PromRange(url_, e_.query, start_, end, step, kQueryTimeoutSeconds);
      if (!points.ok()) return points.status();
      // Trapezoids between the evaluations, each end held to the window's.
      const std::vector<PromPoint>& p = *points;
      double joules = 0;
      for (size_t i = 1; i < p.size(); ++i) joules += 0.5 * (p[i - 1].value + p[i].value) * (p[i].time - p[i - 1].time);
      joules += p.front().value * std::max(0.0, p.front().time - start_) + p.back().value * std::max(0.0, end - p.back().time);
      r.joules = joules;
      how = absl::StrFormat("a power in watts, integrated over %d evaluations %.3g s apart", p.size(), step);
    }
    r.detail = absl::StrFormat(
        "measured by the Prometheus at %s: %s (%s); the source's resolution is the scrape interval, %s, so either "
        "end of the window may be off by that much%s",
        e_.url, e_.query, how, resolution_known_ ? absl::StrFormat("%g s", resolution) : "not read (60 s assumed)",
        r.seconds < resolution ? absl::StrFormat(" — this %.3g s window is shorter than it: measure longer", r.seconds)
                               : "");
    return r;
  }

 private:
  PrometheusEnergy e_;
  HttpUrl url_;
  double resolution_;
  bool resolution_known_;
  std::function<double()> now_;
  double start_ = 0;
};

}  // namespace

PrometheusEnergy ParseEnergyQuery(const std::string& url, absl::string_view spec) {
  PrometheusEnergy e;
  e.url = url;
  if (absl::StartsWith(spec, "joules:")) {
    e.joules = true;
    spec.remove_prefix(7);
  } else if (absl::StartsWith(spec, "watts:")) {
    spec.remove_prefix(6);
  }
  e.query = std::string(spec);
  return e;
}

absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenPrometheusMeter(const PrometheusEnergy& e,
                                                                 std::function<double()> now) {
  if (!now) now = SystemNow;
  absl::StatusOr<HttpUrl> url = ParseHttpUrl(e.url);
  if (!url.ok()) return url.status();
  // The query must answer now, with one series.
  if (absl::Status s = PromInstant(*url, e.query, now(), kQueryTimeoutSeconds).status(); !s.ok()) return s;
  absl::StatusOr<double> scrape = PromScrapeInterval(*url, kQueryTimeoutSeconds);
  return std::unique_ptr<EnergyMeter>(
      new PrometheusMeter(e, *url, scrape.ok() ? *scrape : 60, scrape.ok(), std::move(now)));
}

}  // namespace tcobench
