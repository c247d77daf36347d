#define BOOST_TEST_MODULE coordinator_metrics
#include "services/coordinator/metrics.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <boost/test/unit_test.hpp>
#include <functional>

#include "common/spec/spec.h"
#include "tests/test_support.h"

using namespace tcobench;
using tcobench::testing::ExpositionValue;

namespace {

struct Clock {
  double t = 1.7e9;
  std::function<double()> fn() {
    return [this] { return t; };
  }
};

v1::ComparisonSpec Spec(const std::string& name) {
  auto spec = ParseSpecJson(R"({
    "name": ")" + name + R"(", "baseline": "a",
    "variants": [{"name": "a", "model": "m.gguf"}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 8, "outputTokens": 4, "measuredRuns": 1},
    "hardware": [{"name": "cpu", "selector": {"class": "cpu"}}]
  })");
  BOOST_REQUIRE_MESSAGE(spec.ok(), spec.status().message());
  return *spec;
}

v1::WorkerInventory Inventory(const std::string& name) {
  v1::WorkerInventory inv;
  inv.set_name(name);
  inv.set_isa("avx2");
  return inv;
}

v1::ComparisonResult Result(double ttft_p50, double usd_per_hour) {
  v1::ComparisonResult r;
  v1::VariantResult* v = r.add_results();
  v->set_variant("a");
  v->set_hardware("cpu");
  v->set_prompt_tokens(8);
  v->set_output_tokens(4);
  v->mutable_latency()->mutable_ttft_seconds()->set_p50(ttft_p50);
  v->mutable_latency()->mutable_ttft_seconds()->set_p99(2 * ttft_p50);
  v->mutable_throughput()->set_output_tokens_per_second(100);
  v->mutable_energy()->set_source("model");
  v->mutable_energy()->set_joules_per_token(0.5);
  v->mutable_accuracy()->mutable_perplexity()->set_ppl(7.5);
  v->set_advertised_usd_per_hour(usd_per_hour);
  return r;
}

std::string Scrape(const prometheus::Collectable& c) {
  return prometheus::TextSerializer().Serialize(c.Collect());
}

struct Fixture {
  Clock clock;
  prometheus::Registry registry;
  CoordinatorCounters counters{registry};
  std::unique_ptr<Store> store;
  explicit Fixture(const std::string& dir_name) {
    StoreOptions o{30, 5, 2, clock.fn()};
    o.on_event = [this](const StoreEvent& e) { counters.OnEvent(e); };
    const auto dir = tcobench::testing::TempDir() / dir_name;
    std::filesystem::remove_all(dir);
    auto s = Store::Open(dir, o);
    BOOST_REQUIRE(s.ok());
    store = std::move(*s);
  }
  // Submits a comparison and has `worker` run it to success.
  // `edit`, when given, changes the result first.
  std::string RunOne(const std::string& worker_id, const std::string& name, double ttft,
                     const std::function<void(v1::ComparisonResult*)>& edit = nullptr) {
    auto id = store->Submit(Spec(name));
    BOOST_REQUIRE(id.ok());
    auto job = store->Acquire(worker_id);
    BOOST_REQUIRE(job.ok() && job->has_job());
    v1::ComparisonResult result = Result(ttft, 0.36);
    if (edit) edit(&result);
    BOOST_REQUIRE(store->Complete(worker_id, job->lease_id(), result).ok());
    clock.t += 1;
    return *id;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(counters_start_at_zero_and_follow_the_store) {
  Fixture f("metrics-counters");
  std::string text = Scrape(f.registry);
  for (const char* series : {"tcobench_coordinator_lease_grants_total",
                             "tcobench_coordinator_job_requeues_total{reason=\"lease_expired\"}",
                             "tcobench_coordinator_jobs_finished_total{state=\"cancelled\"}",
                             "tcobench_gate_verdicts_total{verdict=\"regression\"}"}) {
    BOOST_TEST_INFO(series);
    BOOST_TEST(ExpositionValue(text, series) == 0);
  }
  auto w = f.store->Register(Inventory("w"));
  BOOST_REQUIRE(w.ok());
  auto id = f.store->Submit(Spec("one"));
  BOOST_REQUIRE(id.ok());
  auto lease = f.store->Acquire(w->worker_id());
  BOOST_REQUIRE(lease->has_job());
  f.clock.t += 31;  // the worker goes silent: expiry, re-queue
  BOOST_REQUIRE(f.store->ExpireLeases().ok());
  auto again = f.store->Acquire(w->worker_id());
  BOOST_REQUIRE(again->has_job());
  BOOST_REQUIRE(
      f.store->Fail(w->worker_id(), again->lease_id(), "boom", true).ok());  // attempts used up
  auto other = f.store->Submit(Spec("two"));
  BOOST_REQUIRE(f.store->Cancel(*other).ok());
  text = Scrape(f.registry);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_comparisons_submitted_total") == 2);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_lease_grants_total") == 2);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_lease_expiries_total") == 1);
  BOOST_TEST(ExpositionValue(
                 text, "tcobench_coordinator_job_requeues_total{reason=\"lease_expired\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_jobs_finished_total{state=\"failed\"}") ==
             1);
  BOOST_TEST(
      ExpositionValue(text, "tcobench_coordinator_jobs_finished_total{state=\"cancelled\"}") == 1);
}

BOOST_AUTO_TEST_CASE(gauges_count_by_state_and_workers_by_name) {
  Fixture f("metrics-gauges");
  StoreCollector collector(f.store.get(), {});
  auto w1 = f.store->Register(Inventory("w1"));
  auto w2 = f.store->Register(Inventory("w2"));
  BOOST_REQUIRE(w1.ok() && w2.ok());
  BOOST_REQUIRE(f.store->Submit(Spec("a")).ok());
  BOOST_REQUIRE(f.store->Submit(Spec("b")).ok());
  f.clock.t += 10;
  BOOST_REQUIRE(f.store->Acquire(w1->worker_id())->has_job());
  std::string text = Scrape(collector);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_store_up") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_queue_depth") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_oldest_queued_job_age_seconds") == 10);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_jobs{state=\"leased\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_comparisons{state=\"running\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_comparisons{state=\"failed\"}") == 0);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_workers{state=\"busy\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_workers{state=\"idle\"}") ==
             1);  // w2: silent 10 s < lease
  // w2 stays silent past the lease: lost; an hour later it no longer counts.
  f.clock.t += 25;
  BOOST_REQUIRE(f.store->Heartbeat(w1->worker_id(), "").ok());
  text = Scrape(collector);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_workers{state=\"lost\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_workers{state=\"busy\"}") == 1);
  // w1 restarts under its name: the new registration replaces the old one.
  BOOST_REQUIRE(f.store->Register(Inventory("w1")).ok());
  text = Scrape(collector);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_workers{state=\"busy\"}") == 0);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_workers{state=\"idle\"}") == 1);
  f.clock.t +=
      3000;  // both silent: lost (the lease's job is re-queued by ExpireLeases, not by a scrape)
  text = Scrape(collector);
  BOOST_TEST(ExpositionValue(text, "tcobench_coordinator_workers{state=\"lost\"}") == 2);
  f.clock.t += 700;  // over an hour past the lease: gone
  BOOST_TEST(ExpositionValue(Scrape(collector), "tcobench_coordinator_workers{state=\"lost\"}") ==
             0);  // forgotten
}

BOOST_AUTO_TEST_CASE(results_are_exposed_for_the_newest_and_the_tagged_comparisons_only) {
  Fixture f("metrics-results");
  auto w = f.store->Register(Inventory("w"));
  BOOST_REQUIRE(w.ok());
  const std::string oldest = f.RunOne(w->worker_id(), "oldest", 0.010);
  const std::string middle = f.RunOne(w->worker_id(), "middle", 0.020);
  const std::string newest = f.RunOne(w->worker_id(), "newest", 0.030);
  BOOST_REQUIRE(f.store->Tag(oldest, "release-1").ok());
  CoordinatorMetricsOptions o;
  o.result_comparisons = 1;
  o.tags = 5;
  StoreCollector collector(f.store.get(), o);
  const std::string text = Scrape(collector);
  auto series = [](const std::string& id, const std::string& percentile) {
    return "tcobench_result_ttft_seconds{comparison_id=\"" + id +
           "\",endpoint=\"\",hardware=\"cpu\",load=\"\",output_tokens=\"4\",percentile=\"" + percentile +
           "\",prompt_tokens=\"8\",runtime=\"engine\",variant=\"a\"}";
  };
  BOOST_TEST(ExpositionValue(text, series(newest, "50")) == 0.030);
  BOOST_TEST(ExpositionValue(text, series(newest, "99")) == 0.060);
  BOOST_TEST(ExpositionValue(text, series(oldest, "50")) == 0.010);  // tagged
  BOOST_TEST(ExpositionValue(text, series(middle, "50")) == -1);     // aged out
  BOOST_TEST(ExpositionValue(text, "tcobench_tag_info{comparison_id=\"" + oldest +
                                       "\",tag=\"release-1\"}") == 1);
  const std::string labels =
      "{comparison_id=\"" + newest +
      "\",endpoint=\"\",hardware=\"cpu\",load=\"\",output_tokens=\"4\",prompt_tokens=\"8\",runtime=\"engine\","
      "variant=\"a\"}";
  BOOST_TEST(ExpositionValue(text, "tcobench_result_output_tokens_per_second" + labels) == 100);
  BOOST_TEST(ExpositionValue(text, "tcobench_result_perplexity" + labels) == 7.5);
  // $0.36/h at 100 tokens/s: $1 per million output tokens (energy is not priced without joules).
  BOOST_TEST(ExpositionValue(text, "tcobench_result_usd_per_million_output_tokens" + labels) >
             0.99);
  BOOST_TEST(
      ExpositionValue(text, "tcobench_result_energy_joules_per_token{comparison_id=\"" + newest +
                                "\",endpoint=\"\",energy_source=\"model\",hardware=\"cpu\",load=\"\","
                                "output_tokens=\"4\",prompt_tokens=\"8\",runtime=\"engine\",variant=\"a\"}") == 0.5);
  BOOST_TEST(ExpositionValue(text, "tcobench_result_recommended" + labels) == 1);
}

BOOST_AUTO_TEST_CASE(the_newest_gate_verdict_per_pair_is_exposed) {
  Fixture f("metrics-gate");
  auto w = f.store->Register(Inventory("w"));
  const std::string base = f.RunOne(w->worker_id(), "base", 0.01);
  const std::string cand = f.RunOne(w->worker_id(), "cand", 0.02);
  BOOST_REQUIRE(f.store->Tag(base, "main").ok());
  for (auto overall : {v1::MetricVerdict::PASS, v1::MetricVerdict::REGRESSION}) {
    v1::GateVerdict v;
    v.set_baseline_ref("main");
    v.set_candidate_ref(cand);
    v.set_baseline_comparison_id("main");
    v.set_candidate_comparison_id(cand);
    v.set_overall(overall);
    v1::MetricVerdict* m = v.add_metrics();
    m->set_metric("ttft_p99");
    m->set_variant("a");
    m->set_hardware("cpu");
    m->set_verdict(overall);
    m->set_relative_change(overall == v1::MetricVerdict::PASS ? 0.01 : 1.0);
    BOOST_REQUIRE(f.store->RecordVerdict(v).ok());
    f.clock.t += 1;
  }
  StoreCollector collector(f.store.get(), {});
  const std::string text = Scrape(collector);
  const std::string pair = "baseline_ref=\"main\",candidate_ref=\"" + cand + "\"";
  BOOST_TEST(ExpositionValue(text, "tcobench_gate_verdict{" + pair + ",verdict=\"regression\"}") ==
             1);
  BOOST_TEST(ExpositionValue(text, "tcobench_gate_verdict{" + pair + ",verdict=\"pass\"}") == 0);
  BOOST_TEST(ExpositionValue(text, "tcobench_gate_verdict_timestamp_seconds{" + pair + "}") ==
             1.7e9 + 3);
  BOOST_TEST(text.find("tcobench_gate_metric_relative_change{" + pair) != std::string::npos);
  BOOST_TEST(ExpositionValue(Scrape(f.registry),
                             "tcobench_gate_verdicts_total{verdict=\"regression\"}") == 1);
}

BOOST_AUTO_TEST_CASE(endpoint_rows_carry_runtime_endpoint_and_load_with_goodput_errors_and_capacity) {
  Fixture f("metrics-endpoint");
  auto w = f.store->Register(Inventory("w"));
  BOOST_REQUIRE(w.ok());
  // A sweep at 2 and 8 req/s against endpoint "fast": capacity 2; at 8 req/s
  // 3 timeouts and 1 broken stream of 40.
  const std::string id = f.RunOne(w->worker_id(), "sweep", 0.01, [](v1::ComparisonResult* r) {
    v1::VariantResult first = r->results(0);
    r->clear_results();
    for (double qps : {2.0, 8.0}) {
      v1::VariantResult* v = r->add_results();
      *v = first;
      v->set_runtime("openai");
      v->set_endpoint("fast");
      v->set_target_qps(qps);
      v1::EndpointLoadResult* l = v->mutable_load();
      l->set_requests(40);
      l->set_goodput_requests_per_second(qps == 2 ? 2.0 : 4.5);
      l->set_good_fraction(qps == 2 ? 1.0 : 0.6);
      if (qps == 8) {
        l->set_failed(4);
        l->set_error_rate(0.1);
        (*l->mutable_errors())["timeout"] = 3;
        (*l->mutable_errors())["broken_stream"] = 1;
      }
      l->set_capacity(qps == 2);
      l->set_slo_met(qps == 2);
    }
  });
  const std::string text = Scrape(StoreCollector(f.store.get(), {}));
  auto labels = [&](const std::string& load, const std::string& extra) {
    return "{comparison_id=\"" + id + "\",endpoint=\"fast\",hardware=\"cpu\"," + extra + "load=\"" + load +
           "\",output_tokens=\"4\",prompt_tokens=\"8\",runtime=\"openai\",variant=\"a\"}";
  };
  BOOST_TEST(ExpositionValue(text, "tcobench_result_goodput_requests_per_second" + labels("2 req/s", "")) == 2.0);
  BOOST_TEST(ExpositionValue(text, "tcobench_result_goodput_requests_per_second" + labels("8 req/s", "")) == 4.5);
  BOOST_TEST(ExpositionValue(text, "tcobench_result_good_requests_ratio" + labels("8 req/s", "")) == 0.6);
  BOOST_TEST(ExpositionValue(text, "tcobench_result_error_ratio" + labels("8 req/s", "")) == 0.1);
  BOOST_TEST(ExpositionValue(text, "tcobench_result_requests" + labels("8 req/s", "")) == 40);
  // Failures by kind, every kind present (zeros too).
  auto failed = [&](const std::string& load, const std::string& kind) {
    const std::string l = labels(load, "");
    return ExpositionValue(text, "tcobench_result_failed_requests{comparison_id=\"" + id +
                                     "\",endpoint=\"fast\",hardware=\"cpu\",kind=\"" + kind + "\"," +
                                     l.substr(l.find("load=")));
  };
  BOOST_TEST(failed("8 req/s", "timeout") == 3);
  BOOST_TEST(failed("8 req/s", "broken_stream") == 1);
  BOOST_TEST(failed("8 req/s", "connect") == 0);
  BOOST_TEST(failed("2 req/s", "timeout") == 0);
  // Two sweep points: two distinct TTFT series, not one clobbered.
  BOOST_TEST(ExpositionValue(text, "tcobench_result_ttft_seconds{comparison_id=\"" + id +
                                       "\",endpoint=\"fast\",hardware=\"cpu\",load=\"8 req/s\","
                                       "output_tokens=\"4\",percentile=\"50\",prompt_tokens=\"8\","
                                       "runtime=\"openai\",variant=\"a\"}") == 0.01);
  // Capacity: the sweep's, without a load label.
  BOOST_TEST(ExpositionValue(text, "tcobench_result_capacity{comparison_id=\"" + id +
                                       "\",endpoint=\"fast\",hardware=\"cpu\",output_tokens=\"4\","
                                       "prompt_tokens=\"8\",runtime=\"openai\",unit=\"requests_per_second\","
                                       "variant=\"a\"}") == 2);
}
