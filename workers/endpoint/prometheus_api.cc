#include "workers/endpoint/prometheus_api.h"

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/status_macros.h"

namespace tcobench {
namespace {

using Json = nlohmann::json;

// A sample's value: Prometheus sends it as a string ("NaN", "+Inf" too).
absl::StatusOr<PromPoint> PointOf(const Json& pair, absl::string_view query) {
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number() || !pair[1].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("query '", query, "': a sample is not [time, \"value\"]"));
  }
  PromPoint p;
  p.time = pair[0].get<double>();
  const std::string v = pair[1].get<std::string>();
  char* end = nullptr;
  p.value = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !std::isfinite(p.value)) {
    return absl::InvalidArgumentError(absl::StrCat("query '", query, "': the value '", v, "' is not a finite number"));
  }
  return p;
}

// POST with a form body, or GET when `form` is empty.
absl::StatusOr<std::string> PostForm(const HttpUrl& prometheus, absl::string_view path, const std::string& form,
                                     double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  absl::StatusOr<std::unique_ptr<HttpResponse>> r =
      form.empty() ? HttpResponse::Send("GET", prometheus, path, "", {}, "", deadline)
                   : HttpResponse::Send("POST", prometheus, path, "application/x-www-form-urlencoded", {}, form,
                                        deadline);
  if (!r.ok()) {
    return Prefixed(absl::StrCat("Prometheus at ", prometheus.host, ":", prometheus.port), r.status());
  }
  absl::StatusOr<std::string> body = (*r)->ReadBody();
  if (!body.ok()) return body.status();
  // 400 and 422 carry the error in the usual JSON body: let the parser
  // report it; others are not Prometheus answering.
  if ((*r)->status() != 200 && (*r)->status() != 400 && (*r)->status() != 422) {
    return absl::UnavailableError(absl::StrCat("Prometheus answered HTTP ", (*r)->status(), ": ", body->substr(0, 200)));
  }
  return body;
}

std::string Seconds(double t) { return absl::StrFormat("%.3f", t); }

}  // namespace

absl::StatusOr<std::vector<PromPoint>> ParsePromResponse(absl::string_view body, absl::string_view query) {
  const Json j = Json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("query '", query, "': the answer is not JSON: ", body.substr(0, 200)));
  }
  if (j.value("status", "") != "success") {
    return absl::InvalidArgumentError(absl::StrCat("query '", query, "': Prometheus says ", j.value("errorType", "error"),
                                                   ": ", j.value("error", "(no message)")));
  }
  const Json& data = j.value("data", Json::object());
  const std::string type = data.value("resultType", "");
  const Json& result = data.contains("result") ? data["result"] : Json();
  std::vector<PromPoint> out;
  if (type == "scalar") {
    absl::StatusOr<PromPoint> p = PointOf(result, query);
    if (!p.ok()) return p.status();
    out.push_back(*p);
    return out;
  }
  if ((type != "vector" && type != "matrix") || !result.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("query '", query, "': unexpected result type '", type, "'"));
  }
  if (result.empty()) {
    return absl::NotFoundError(absl::StrCat("query '", query, "' returned no series (no such metric, or no samples "
                                            "in the last 5 minutes)"));
  }
  if (result.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("query '", query, "' returned ", result.size(),
                                                   " series; energy needs one: sum them in the query (sum(...))"));
  }
  const Json& series = result[0];
  if (type == "vector") {
    absl::StatusOr<PromPoint> p = PointOf(series.value("value", Json()), query);
    if (!p.ok()) return p.status();
    out.push_back(*p);
    return out;
  }
  for (const Json& pair : series.value("values", Json::array())) {
    absl::StatusOr<PromPoint> p = PointOf(pair, query);
    if (!p.ok()) return p.status();
    out.push_back(*p);
  }
  return out;
}

std::string FormEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

absl::StatusOr<PromPoint> PromInstant(const HttpUrl& prometheus, absl::string_view query, double at,
                                      double timeout_seconds) {
  absl::StatusOr<std::string> body = PostForm(
      prometheus, "/api/v1/query", absl::StrCat("query=", FormEncode(query), "&time=", Seconds(at)), timeout_seconds);
  if (!body.ok()) return body.status();
  absl::StatusOr<std::vector<PromPoint>> points = ParsePromResponse(*body, query);
  if (!points.ok()) return points.status();
  return points->front();
}

absl::StatusOr<std::vector<PromPoint>> PromRange(const HttpUrl& prometheus, absl::string_view query, double start,
                                                 double end, double step, double timeout_seconds) {
  absl::StatusOr<std::string> body =
      PostForm(prometheus, "/api/v1/query_range",
               absl::StrCat("query=", FormEncode(query), "&start=", Seconds(start), "&end=", Seconds(end),
                            "&step=", absl::StrFormat("%.3f", step)),
               timeout_seconds);
  if (!body.ok()) return body.status();
  return ParsePromResponse(*body, query);
}

absl::StatusOr<double> PromScrapeInterval(const HttpUrl& prometheus, double timeout_seconds) {
  absl::StatusOr<std::string> body = PostForm(prometheus, "/api/v1/status/config", "", timeout_seconds);
  if (!body.ok()) return body.status();
  const Json j = Json::parse(*body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") {
    return absl::InvalidArgumentError("/api/v1/status/config: not a Prometheus answer");
  }
  const std::string yaml = j.value("data", Json::object()).value("yaml", "");
  // The first scrape_interval is the global one (Prometheus writes the
  // global section first).
  std::smatch m;
  static const std::regex re(R"(scrape_interval:\s*([0-9.]+)(ms|s|m|h))");
  if (!std::regex_search(yaml, m, re)) return 60.0;
  const double n = std::stod(m[1].str());
  const std::string unit = m[2].str();
  return unit == "ms" ? n / 1000 : unit == "s" ? n : unit == "m" ? 60 * n : 3600 * n;
}

}  // namespace tcobench
