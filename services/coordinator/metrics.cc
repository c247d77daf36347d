#include "services/coordinator/metrics.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/analysis/cost_model.h"
#include "services/analysis/report_cells.h"
#include "common/metrics/metrics_server.h"

namespace tcobench {
namespace {

using Labels = std::vector<prometheus::ClientMetric::Label>;

std::string Lower(const std::string& s) { return absl::AsciiStrToLower(s); }

// `l` and one more label.
Labels With(Labels l, const char* name, std::string value) {
  l.push_back({name, std::move(value)});
  return l;
}

double IsoSeconds(const std::string& iso) {
  absl::Time t;
  std::string err;
  if (iso.empty() || !absl::ParseTime(absl::RFC3339_full, iso, &t, &err)) return 0;
  return absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

}  // namespace

CoordinatorCounters::CoordinatorCounters(prometheus::Registry& registry)
    : submitted_(prometheus::BuildCounter()
                     .Name("tcobench_coordinator_comparisons_submitted_total")
                     .Help("Comparisons accepted")
                     .Register(registry)
                     .Add({})),
      lease_grants_(prometheus::BuildCounter()
                        .Name("tcobench_coordinator_lease_grants_total")
                        .Help("Jobs leased to workers")
                        .Register(registry)
                        .Add({})),
      lease_expiries_(prometheus::BuildCounter()
                          .Name("tcobench_coordinator_lease_expiries_total")
                          .Help("Leases that expired because their worker stopped heartbeating")
                          .Register(registry)
                          .Add({})),
      requeues_(prometheus::BuildCounter()
                    .Name("tcobench_coordinator_job_requeues_total")
                    .Help("Jobs put back in the queue, by reason (lease_expired, worker_failed)")
                    .Register(registry)),
      finished_(prometheus::BuildCounter()
                    .Name("tcobench_coordinator_jobs_finished_total")
                    .Help("Jobs that reached an end state (succeeded, failed, cancelled)")
                    .Register(registry)),
      verdicts_(prometheus::BuildCounter()
                    .Name("tcobench_gate_verdicts_total")
                    .Help("Release-gate verdicts recorded, by overall verdict")
                    .Register(registry)),
      refused_(prometheus::BuildCounter()
                   .Name("tcobench_coordinator_refused_calls_total")
                   .Help("Calls refused before they ran, by reason (missing_token, bad_token, wrong_role, "
                         "not_owner, rate_limited)")
                   .Register(registry)) {
  for (const char* r : {"missing_token", "bad_token", "wrong_role", "not_owner", "rate_limited"}) {
    refused_.Add({{"reason", r}});
  }
  for (const char* r : {"lease_expired", "worker_failed"}) requeues_.Add({{"reason", r}});
  for (const char* s : {"succeeded", "failed", "cancelled"}) finished_.Add({{"state", s}});
  for (const char* v : {"pass", "regression", "inconclusive"}) verdicts_.Add({{"verdict", v}});
}

void CoordinatorCounters::OnEvent(const StoreEvent& e) {
  const double n = static_cast<double>(e.count);
  switch (e.kind) {
    case StoreEvent::kSubmitted:
      submitted_.Increment(n);
      break;
    case StoreEvent::kLeaseGranted:
      lease_grants_.Increment(n);
      break;
    case StoreEvent::kLeaseExpired:
      lease_expiries_.Increment(n);
      break;
    case StoreEvent::kJobRequeued:
      requeues_.Add({{"reason", e.detail}}).Increment(n);
      break;
    case StoreEvent::kJobSucceeded:
      finished_.Add({{"state", "succeeded"}}).Increment(n);
      break;
    case StoreEvent::kJobFailed:
      finished_.Add({{"state", "failed"}}).Increment(n);
      break;
    case StoreEvent::kJobCancelled:
      finished_.Add({{"state", "cancelled"}}).Increment(n);
      break;
    case StoreEvent::kGateVerdict:
      verdicts_.Add({{"verdict", e.detail}}).Increment(n);
      break;
  }
}

void CoordinatorCounters::OnRefused(const char* reason) { refused_.Add({{"reason", reason}}).Increment(); }

struct StoreCollector::Rows {
  std::string name;
  double finished = 0;
  v1::ComparisonResult result;
  v1::CostReport cost;
};

std::shared_ptr<const StoreCollector::Rows> StoreCollector::RowsFor(const std::string& id) const {
  {
    MutexLock lock(&mu_);
    if (auto it = cache_.find(id); it != cache_.end()) return it->second;
  }
  absl::StatusOr<v1::GetReportResponse> report = store_->Report(id);
  if (!report.ok()) return nullptr;
  auto rows = std::make_shared<Rows>();
  rows->name = report->comparison().spec().name();
  rows->finished = IsoSeconds(report->comparison().finished_time());
  rows->result = std::move(*report->mutable_result());
  if (absl::StatusOr<v1::CostReport> cost = ComputeCostReport(rows->result); cost.ok())
    rows->cost = std::move(*cost);
  MutexLock lock(&mu_);
  cache_[id] = rows;
  return rows;
}

namespace {

// Gauges of the store's counts by state.
void AddStoreGauges(StoreStats stats, std::vector<prometheus::MetricFamily>* out) {  // a copy: operator[] reads
  FamilyBuilder comparisons("tcobench_coordinator_comparisons", "Comparisons stored, by state");
  for (auto state : {v1::Comparison::QUEUED, v1::Comparison::RUNNING, v1::Comparison::SUCCEEDED,
                     v1::Comparison::FAILED, v1::Comparison::CANCELLED}) {
    comparisons.Add({{"state", Lower(v1::Comparison::State_Name(state))}},
                    static_cast<double>(stats.comparisons[state]));
  }
  out->push_back(comparisons.Build());
  FamilyBuilder jobs("tcobench_coordinator_jobs", "Jobs stored, by state");
  for (auto state : {v1::Job::QUEUED, v1::Job::LEASED, v1::Job::SUCCEEDED, v1::Job::FAILED,
                     v1::Job::CANCELLED}) {
    jobs.Add({{"state", Lower(v1::Job::State_Name(state))}},
             static_cast<double>(stats.jobs[state]));
  }
  out->push_back(jobs.Build());
  out->push_back(FamilyBuilder("tcobench_coordinator_queue_depth", "Jobs waiting for a worker")
                    .Add({}, static_cast<double>(stats.jobs[v1::Job::QUEUED]))
                    .Build());
  out->push_back(FamilyBuilder("tcobench_coordinator_oldest_queued_job_age_seconds",
                              "How long the oldest queued job has waited (0 when none waits)")
                    .Add({}, stats.oldest_queued_job_seconds)
                    .Build());
  FamilyBuilder workers("tcobench_coordinator_workers",
                        "Workers by state (one per name; lost ones drop out after an hour)");
  for (auto state : {v1::Worker::IDLE, v1::Worker::BUSY, v1::Worker::LOST}) {
    workers.Add({{"state", Lower(v1::Worker::State_Name(state))}},
                static_cast<double>(stats.workers[state]));
  }
  out->push_back(workers.Build());
}

// The result and cost gauges of the exposed comparisons, one family each.
struct ResultFamilies {
  FamilyBuilder finished{"tcobench_comparison_finished_timestamp_seconds",
                         "When each exposed comparison finished (Unix time)"};
  FamilyBuilder ttft{"tcobench_result_ttft_seconds",
                     "Time to first token, by percentile (50, 90, 99) over the measured requests"};
  FamilyBuilder tpot{
      "tcobench_result_time_per_output_token_seconds",
      "Time per output token after the first, by percentile over the measured requests"};
  FamilyBuilder e2e{"tcobench_result_e2e_seconds", "Request end-to-end latency, by percentile"};
  FamilyBuilder out_tps{"tcobench_result_output_tokens_per_second",
                        "Output tokens over the measured window"};
  FamilyBuilder decode_tps{"tcobench_result_decode_tokens_per_second",
                           "Decode tokens per second (per stream)"};
  FamilyBuilder prefill_tps{"tcobench_result_prefill_tokens_per_second",
                            "Prompt tokens per second"};
  FamilyBuilder jpt{
      "tcobench_result_energy_joules_per_token",
      "Energy per output token; energy_source says how it was measured (model = an estimate)"};
  FamilyBuilder ppl{"tcobench_result_perplexity", "Perplexity on the comparison's text"};
  FamilyBuilder ppl_ratio{"tcobench_result_perplexity_ratio", "Perplexity over the baseline's"};
  FamilyBuilder kld{"tcobench_result_kl_divergence_mean",
                    "Mean KL divergence from the baseline's token distribution"};
  FamilyBuilder top1{"tcobench_result_top1_agreement_ratio",
                     "Fraction of positions with the baseline's top token"};
  FamilyBuilder usd{"tcobench_result_usd_per_million_output_tokens",
                    "Cost per million output tokens"};
  FamilyBuilder tco{"tcobench_result_monthly_tco_usd", "Monthly cost of serving the spec's load"};
  FamilyBuilder recommended{"tcobench_result_recommended",
                            "1 for the variant and hardware the cost report recommends"};
  FamilyBuilder contaminated{"tcobench_result_contaminated",
                             "1 when other processes used the machine during the measurement beyond the "
                             "threshold (do not trust its speed, energy or cost), else 0"};
  FamilyBuilder foreign_cpu{"tcobench_result_foreign_cpu_ratio",
                            "Other processes' share of the machine's CPU time during the measured window"};
  FamilyBuilder usd_bounds{"tcobench_result_usd_per_million_output_tokens_bound",
                           "The 95% interval of the cost per million output tokens (bound=low|high)"};
  // Endpoint rows (runtime="openai"), one series per load point.
  FamilyBuilder goodput{"tcobench_result_goodput_requests_per_second",
                        "Requests that met every SLO bound per second of the measured window (endpoint runs)"};
  FamilyBuilder good_ratio{"tcobench_result_good_requests_ratio",
                           "Fraction of the measured requests that met every SLO bound (endpoint runs)"};
  FamilyBuilder error_ratio{"tcobench_result_error_ratio", "Failed over sent measured requests (endpoint runs)"};
  FamilyBuilder requests{"tcobench_result_requests",
                         "Measured requests sent (endpoint runs); the failed ones by kind in "
                         "tcobench_result_failed_requests"};
  FamilyBuilder failed{"tcobench_result_failed_requests",
                       "Failed measured requests by kind: connect, http_status, timeout, broken_stream, bad_event, "
                       "server_error, wrong_length (endpoint runs)"};
  FamilyBuilder itl{"tcobench_result_inter_token_latency_seconds",
                    "Every gap between content events, pooled over requests, by percentile (endpoint runs)"};
  FamilyBuilder capacity{"tcobench_result_capacity",
                         "A sweep's capacity: the highest load that met the SLO (unit=requests_per_second or "
                         "users); absent when no point did"};

  // One endpoint row's load figures.
  void AddLoad(const Labels& l, const v1::VariantResult& r);
  // One comparison's rows.
  void Add(const std::string& id, const v1::ComparisonResult& result, const v1::CostReport& cost, const std::string& name,
           double finished_seconds);
  void MoveInto(std::vector<prometheus::MetricFamily>* out) {
    for (FamilyBuilder* f : {&finished, &ttft, &tpot, &e2e, &out_tps, &decode_tps, &prefill_tps, &jpt, &ppl,
                             &ppl_ratio, &kld, &top1, &usd, &tco, &recommended, &contaminated, &foreign_cpu,
                             &usd_bounds, &goodput, &good_ratio, &error_ratio, &requests, &failed, &itl, &capacity}) {
      if (!f->empty()) out->push_back(f->Build());
    }
  }
};

void ResultFamilies::AddLoad(const Labels& l, const v1::VariantResult& r) {
  const v1::EndpointLoadResult& load = r.load();
  goodput.Add(l, load.goodput_requests_per_second());
  good_ratio.Add(l, load.good_fraction());
  error_ratio.Add(l, load.error_rate());
  requests.Add(l, static_cast<double>(load.requests()));
  // Every kind, zeros included, so a rate or a sum never misses a series.
  std::map<std::string, double> by_kind;
  for (const char* kind :
       {"connect", "http_status", "timeout", "broken_stream", "bad_event", "server_error", "wrong_length"}) {
    by_kind[kind] = 0;
  }
  for (const auto& [kind, n] : load.errors()) by_kind[kind] = static_cast<double>(n);
  for (const auto& [kind, n] : by_kind) failed.Add(With(l, "kind", kind), n);
  if (load.itl_seconds().n() > 0) {
    itl.Add(With(l, "percentile", "50"), load.itl_seconds().p50());
    itl.Add(With(l, "percentile", "99"), load.itl_seconds().p99());
  }
  if (load.capacity()) {
    Labels c;  // the sweep's, without its load point
    for (const auto& label : l) {
      if (label.name != "load") c.push_back(label);
    }
    c.push_back({"unit", r.target_qps() > 0 ? "requests_per_second" : "users"});
    capacity.Add(c, render::LoadValue(r.target_qps(), r.concurrency()));
  }
}

void ResultFamilies::Add(const std::string& id, const v1::ComparisonResult& result, const v1::CostReport& cost,
                         const std::string& name, double finished_seconds) {
  finished.Add({{"comparison_id", id}, {"name", name}}, finished_seconds);
  // The row's dimensions: runtime and endpoint, and an endpoint row's load
  // point, tell apart the rows of a comparison mixing engine and endpoint
  // variants or sweeping a load.
  auto key = [&](const std::string& variant, const std::string& hardware, int p, int n, const std::string& runtime,
                 const std::string& endpoint, double target_qps, int concurrency) {
    const std::string rt = runtime.empty() ? "engine" : runtime;
    return Labels{{"comparison_id", id},
                  {"variant", variant},
                  {"hardware", hardware},
                  {"prompt_tokens", absl::StrCat(p)},
                  {"output_tokens", absl::StrCat(n)},
                  {"runtime", rt},
                  {"endpoint", endpoint},
                  {"load", render::RowLoad(rt, target_qps, concurrency)}};
  };
  for (const v1::VariantResult& r : result.results()) {
    const Labels l = key(r.variant(), r.hardware(), r.prompt_tokens(), r.output_tokens(), r.runtime(), r.endpoint(),
                         r.target_qps(), r.concurrency());
    for (const auto& [q, t, p, e] :
         {std::tuple{"50", r.latency().ttft_seconds().p50(), r.latency().tpot_seconds().p50(),
                     r.latency().e2e_seconds().p50()},
          std::tuple{"90", r.latency().ttft_seconds().p90(), r.latency().tpot_seconds().p90(),
                     r.latency().e2e_seconds().p90()},
          std::tuple{"99", r.latency().ttft_seconds().p99(), r.latency().tpot_seconds().p99(),
                     r.latency().e2e_seconds().p99()}}) {
      ttft.Add(With(l, "percentile", q), t);
      tpot.Add(With(l, "percentile", q), p);
      e2e.Add(With(l, "percentile", q), e);
    }
    out_tps.Add(l, r.throughput().output_tokens_per_second());
    if (r.interference().window_seconds() > 0 || r.interference().contaminated()) {
      contaminated.Add(l, r.interference().contaminated() ? 1 : 0);
      foreign_cpu.Add(l, r.interference().foreign_cpu_fraction());
    }
    decode_tps.Add(l, r.throughput().decode_tokens_per_second());
    prefill_tps.Add(l, r.throughput().prefill_tokens_per_second());
    if (r.energy().source() != "none" && !r.energy().source().empty()) {
      jpt.Add(With(l, "energy_source", r.energy().source()), r.energy().joules_per_token());
    }
    if (r.accuracy().perplexity().ppl() > 0) ppl.Add(l, r.accuracy().perplexity().ppl());
    if (r.accuracy().kld().applicable()) {
      kld.Add(l, r.accuracy().kld().mean_kld());
      top1.Add(l, r.accuracy().kld().same_top1());
    }
    if (r.runtime() == "openai") AddLoad(l, r);
  }
  for (const v1::VariantCost& c : cost.rows()) {
    const Labels l = key(c.variant(), c.hardware(), c.prompt_tokens(), c.output_tokens(), c.runtime(), c.endpoint(),
                         c.target_qps(), c.concurrency());
    if (c.ppl_ratio() > 0) ppl_ratio.Add(l, c.ppl_ratio());
    if (c.usd_per_hour() > 0) usd.Add(l, c.usd_per_million_output_tokens());
    if (c.usd_per_hour() > 0 && c.usd_per_million_output_tokens_high() > 0) {
      usd_bounds.Add(With(l, "bound", "low"), c.usd_per_million_output_tokens_low());
      usd_bounds.Add(With(l, "bound", "high"), c.usd_per_million_output_tokens_high());
    }
    if (c.monthly_tco_usd() > 0) tco.Add(l, c.monthly_tco_usd());
    if (c.variant() == cost.recommended_variant() &&
        c.hardware() == cost.recommended_hardware()) {
      recommended.Add(l, 1);
    }
  }
}

}  // namespace

std::vector<prometheus::MetricFamily> StoreCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  absl::StatusOr<StoreStats> stats = store_->Stats(options_.forget_lost_workers_seconds);
  out.push_back(FamilyBuilder("tcobench_coordinator_store_up", "1 when the store answered this scrape, else 0")
                    .Add({}, stats.ok() ? 1 : 0)
                    .Build());
  if (!stats.ok()) return out;
  AddStoreGauges(*stats, &out);
  AddResults(&out);
  AddVerdicts(&out);
  return out;
}

void StoreCollector::AddResults(std::vector<prometheus::MetricFamily>* out) const {
  // The newest succeeded comparisons and the tagged ones.
  absl::StatusOr<std::vector<std::string>> recent = store_->RecentSucceeded(options_.result_comparisons);
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> tags = store_->Tags(options_.tags);
  std::vector<std::string> ids = recent.ok() ? *recent : std::vector<std::string>{};
  FamilyBuilder tag_info("tcobench_tag_info", "1 for the comparison each tag points to (the newest tags)");
  if (tags.ok()) {
    for (const auto& [tag, id] : *tags) {
      tag_info.Add({{"tag", tag}, {"comparison_id", id}}, 1);
      ids.push_back(id);
    }
  }
  if (!tag_info.empty()) out->push_back(tag_info.Build());
  std::set<std::string> exposed;
  ResultFamilies families;
  for (const std::string& id : ids) {
    if (!exposed.insert(id).second) continue;
    if (std::shared_ptr<const Rows> rows = RowsFor(id)) families.Add(id, rows->result, rows->cost, rows->name, rows->finished);
  }
  families.MoveInto(out);
  // Forget what is no longer exposed.
  MutexLock lock(&mu_);
  for (auto it = cache_.begin(); it != cache_.end();) it = exposed.count(it->first) ? std::next(it) : cache_.erase(it);
}

void StoreCollector::AddVerdicts(std::vector<prometheus::MetricFamily>* out) const {
  // Gate verdicts: the newest per (baseline, candidate) pair.
  absl::StatusOr<std::vector<v1::GateVerdict>> verdicts = store_->Verdicts("", options_.verdicts);
  if (verdicts.ok() && !verdicts->empty()) {
    FamilyBuilder overall(
        "tcobench_gate_verdict",
        "1 for the newest verdict's outcome per baseline and candidate, 0 for the others");
    FamilyBuilder when("tcobench_gate_verdict_timestamp_seconds",
                       "When that verdict was recorded (Unix time)");
    FamilyBuilder change(
        "tcobench_gate_metric_relative_change",
        "That verdict's relative change per metric, in the metric's own direction (0.1 = the value rose 10%)");
    std::set<std::pair<std::string, std::string>> seen;
    for (const v1::GateVerdict& v : *verdicts) {
      if (!seen.insert({v.baseline_ref(), v.candidate_ref()}).second) continue;
      const Labels pair{{"baseline_ref", v.baseline_ref()}, {"candidate_ref", v.candidate_ref()}};
      for (auto o : {v1::MetricVerdict::PASS, v1::MetricVerdict::REGRESSION,
                     v1::MetricVerdict::INCONCLUSIVE}) {
        Labels l = pair;
        l.push_back({"verdict", Lower(v1::MetricVerdict::Verdict_Name(o))});
        overall.Add(l, v.overall() == o ? 1 : 0);
      }
      when.Add(pair, IsoSeconds(v.time()));
      for (const v1::MetricVerdict& m : v.metrics()) {
        if (m.verdict() == v1::MetricVerdict::SKIPPED) continue;
        Labels l = pair;
        for (auto& [k, val] : std::vector<std::pair<const char*, std::string>>{
                 {"metric", m.metric()},
                 {"variant", m.variant()},
                 {"hardware", m.hardware()},
                 {"prompt_tokens", absl::StrCat(m.prompt_tokens())},
                 {"output_tokens", absl::StrCat(m.output_tokens())},
                 {"runtime", m.runtime()},
                 {"endpoint", m.endpoint()},
                 {"load", m.load()},
                 {"verdict", Lower(v1::MetricVerdict::Verdict_Name(m.verdict()))}}) {
          l.push_back({k, val});
        }
        change.Add(l, m.relative_change());
      }
    }
    for (FamilyBuilder* f : {&overall, &when, &change}) {
      if (!f->empty()) out->push_back(f->Build());
    }
  }
}

}  // namespace tcobench
