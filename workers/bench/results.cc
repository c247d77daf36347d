#include "workers/bench/results.h"

#include <algorithm>
#include <span>

#include "common/base/statistics.h"
#include "absl/strings/str_cat.h"
#include "workers/bench/interference.h"
#include "workers/bench/system_info.h"

namespace tcobench {

void FillSummary(const std::vector<double>& values, uint64_t seed, v1::Summary* out) {
  const SampleSummary s = Summarize(values, seed);
  out->set_p50(s.p50);
  out->set_p90(s.p90);
  out->set_p99(s.p99);
  out->set_mean(s.mean);
  out->set_stddev(s.stddev);
  out->set_ci95_low(s.ci95_low);
  out->set_ci95_high(s.ci95_high);
  out->set_n(s.n);
}

void SummarizeSamples(uint64_t seed, v1::VariantResult* out) {
  std::vector<double> ttft, tpot, e2e, tokens;
  for (const v1::RequestSample& s : out->samples()) {
    ttft.push_back(s.ttft_seconds());
    e2e.push_back(s.e2e_seconds());
    tokens.push_back(s.output_tokens());
    if (s.output_tokens() > 1) tpot.push_back(s.tpot_seconds());
  }
  FillSummary(ttft, seed, out->mutable_latency()->mutable_ttft_seconds());
  FillSummary(tpot, seed, out->mutable_latency()->mutable_tpot_seconds());
  FillSummary(e2e, seed, out->mutable_latency()->mutable_e2e_seconds());
  v1::Throughput* th = out->mutable_throughput();
  const double tps = th->output_tokens_per_second();
  double lo = 0, hi = 0, ratio = 0, unused = 0;
  BootstrapRatioCi(tokens, e2e, 0, seed, &ratio, &unused);  // the point estimate
  BootstrapRatioCi(tokens, e2e, 2000, seed, &lo, &hi);
  lo = ratio > 0 ? tps * lo / ratio : tps;
  hi = ratio > 0 ? tps * hi / ratio : tps;
  const auto& runs = out->run_output_tokens_per_second();
  if (runs.size() >= 2) {
    double rlo = 0, rhi = 0;
    BootstrapMeanCi(std::span<const double>(runs.data(), static_cast<size_t>(runs.size())), 2000, seed, &rlo, &rhi);
    // Centred on the reported throughput (the pooled one).
    double mean = 0;
    for (double r : runs) mean += r / runs.size();
    lo = std::min(lo, tps * rlo / mean);
    hi = std::max(hi, tps * rhi / mean);
  }
  th->set_output_tokens_per_second_ci95_low(lo);
  th->set_output_tokens_per_second_ci95_high(hi);
}

namespace {

// An endpoint point's load section over two runs of windows w0 (so far) and
// w1 (the new run's).
void MergeLoad(const v1::EndpointLoadResult& run, double w0, double w1, v1::VariantResult* into) {
  v1::EndpointLoadResult* l = into->mutable_load();
  const double w = w0 + w1;
  auto pooled = [&](double a, double b) { return w > 0 ? (a * w0 + b * w1) / w : 0; };
  const int64_t n0 = l->requests(), n1 = run.requests(), n = n0 + n1;
  const int64_t ok0 = n0 - l->failed(), ok1 = n1 - run.failed();
  auto per_request = [&](double a, double b, int64_t a_n, int64_t b_n) {
    return a_n + b_n > 0 ? (a * a_n + b * b_n) / (a_n + b_n) : 0;
  };
  l->set_good_fraction(per_request(l->good_fraction(), run.good_fraction(), n0, n1));
  l->set_server_tpot_seconds(per_request(l->server_tpot_seconds(), run.server_tpot_seconds(), ok0, ok1));
  l->set_client_cpu_seconds_per_request(
      per_request(l->client_cpu_seconds_per_request(), run.client_cpu_seconds_per_request(), n0, n1));
  l->set_goodput_requests_per_second(pooled(l->goodput_requests_per_second(), run.goodput_requests_per_second()));
  l->set_achieved_requests_per_second(pooled(l->achieved_requests_per_second(), run.achieved_requests_per_second()));
  l->set_requests(n);
  l->set_failed(l->failed() + run.failed());
  l->set_error_rate(n > 0 ? static_cast<double>(l->failed()) / n : 0);
  l->set_output_tokens(l->output_tokens() + run.output_tokens());
  l->set_late_sends(l->late_sends() + run.late_sends());
  if (l->ended_early().empty()) l->set_ended_early(run.ended_early());
  for (const auto& [kind, count] : run.errors()) (*l->mutable_errors())[kind] += count;
  for (const std::string& e : run.error_examples()) {
    if (l->error_examples_size() < 5) l->add_error_examples(e);
  }
  if (run.itl_seconds().p99() > l->itl_seconds().p99()) *l->mutable_itl_seconds() = run.itl_seconds();
  if (run.token_count_source() != l->token_count_source()) {
    l->set_token_count_source(absl::StrCat(l->token_count_source(), "+", run.token_count_source()));
  }
  JudgeEndpointSlo(into);
}

}  // namespace

void MergeRun(const v1::VariantResult& run, uint64_t seed, v1::VariantResult* into) {
  const double w0 = into->measured_seconds(), w1 = run.measured_seconds();
  const double w = w0 + w1;
  for (const v1::RequestSample& s : run.samples()) *into->add_samples() = s;
  for (double r : run.run_output_tokens_per_second()) into->add_run_output_tokens_per_second(r);
  into->set_repetitions(into->repetitions() + 1);
  into->set_measured_seconds(w);
  // Rates weighted by each run's window: the rate over all of them.
  auto pooled = [&](double a, double b) { return w > 0 ? (a * w0 + b * w1) / w : 0; };
  v1::Throughput* th = into->mutable_throughput();
  const v1::Throughput& rt = run.throughput();
  th->set_prefill_tokens_per_second(pooled(th->prefill_tokens_per_second(), rt.prefill_tokens_per_second()));
  th->set_decode_tokens_per_second(pooled(th->decode_tokens_per_second(), rt.decode_tokens_per_second()));
  th->set_requests_per_second(pooled(th->requests_per_second(), rt.requests_per_second()));
  th->set_output_tokens_per_second(pooled(th->output_tokens_per_second(), rt.output_tokens_per_second()));
  v1::Energy* e = into->mutable_energy();
  const v1::Energy& re = run.energy();
  if (e->source() == re.source() && re.joules() > 0 && e->joules_per_token() > 0) {
    const double tokens = e->joules() / e->joules_per_token() + re.joules() / re.joules_per_token();
    const double requests = e->joules() / e->joules_per_request() + re.joules() / re.joules_per_request();
    e->set_joules(e->joules() + re.joules());
    e->set_window_seconds(e->window_seconds() + re.window_seconds());
    e->set_average_watts(e->window_seconds() > 0 ? e->joules() / e->window_seconds() : 0);
    e->set_joules_per_token(e->joules() / tokens);
    e->set_joules_per_request(e->joules() / requests);
  }
  KeepWorstInterference(run.interference(), into->mutable_interference());
  SummarizeSamples(seed, into);
  if (run.has_load()) MergeLoad(run.load(), w0, w1, into);
}

void JudgeEndpointSlo(v1::VariantResult* r) {
  v1::EndpointLoadResult* l = r->mutable_load();
  const v1::Latency& lat = r->latency();
  l->set_slo_met(l->requests() > 0 && l->failed() == 0 &&
                 (l->slo_ttft_seconds() <= 0 || lat.ttft_seconds().p99() <= l->slo_ttft_seconds()) &&
                 (l->slo_tpot_seconds() <= 0 || lat.tpot_seconds().p99() <= l->slo_tpot_seconds()));
}

void MeasuredWindow::Open() {
  interference_monitor_.Start();
  if (meter_ != nullptr) meter_start_ = meter_->Start();
}

void MeasuredWindow::Close() {
  if (meter_ != nullptr) reading_ = meter_start_.ok() ? meter_->Stop() : meter_start_;
  interference_ = interference_monitor_.Stop();
}

absl::StatusOr<std::vector<ChoiceTask>> LoadChoiceTasks(const v1::Accuracy::Choice& c, int index,
                                                        const std::filesystem::path& data_root) {
  const std::string at = absl::StrCat("accuracy.choice[", index, "].file");
  absl::StatusOr<std::string> text = ReadFileText(ResolvePath(data_root, c.file()), at);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<ChoiceTask>> tasks =
      c.task() == v1::Accuracy::Choice::HELLASWAG ? ParseHellaswag(*text, c.file()) : ParseArc(*text, c.file());
  if (!tasks.ok()) return absl::InvalidArgumentError(absl::StrCat(at, ": ", tasks.status().message()));
  if (c.limit() > 0 && static_cast<int>(tasks->size()) > c.limit()) tasks->resize(static_cast<size_t>(c.limit()));
  return tasks;
}

void FillEnergy(const EnergyMeter* meter, const absl::StatusOr<EnergyReading>& reading, const std::string& note,
                int64_t output_tokens, int64_t requests, const std::string& why_none, v1::Energy* e) {
  if (meter == nullptr) {
    e->set_source("none");
    e->set_detail(why_none);
  } else if (!reading.ok()) {
    e->set_source("none");
    e->set_detail(absl::StrCat(meter->source(), " failed: ", reading.status().message()));
  } else {
    e->set_source(reading->source);
    e->set_joules(reading->joules);
    e->set_window_seconds(reading->seconds);
    e->set_uncertainty_fraction(reading->uncertainty_fraction);
    e->set_average_watts(reading->seconds > 0 ? reading->joules / reading->seconds : 0);
    e->set_joules_per_token(output_tokens > 0 ? reading->joules / output_tokens : 0);
    e->set_joules_per_request(requests > 0 ? reading->joules / requests : 0);
    e->set_detail(note + reading->detail);
  }
}

}  // namespace tcobench
