#define BOOST_TEST_MODULE worker_metrics
#include "workers/daemon/metrics.h"

#include <prometheus/text_serializer.h>

#include <boost/test/unit_test.hpp>

#include "tests/test_support.h"

using namespace tcobench;
using tcobench::testing::ExpositionValue;

namespace {

std::string Scrape(prometheus::Registry& r) {
  return prometheus::TextSerializer().Serialize(r.Collect());
}

}  // namespace

BOOST_AUTO_TEST_CASE(phases_jobs_tokens_and_energy) {
  prometheus::Registry registry;
  v1::WorkerInventory inv;
  inv.set_name("w1");
  inv.set_isa("avx2");
  inv.set_threads(2);
  WorkerMetrics m(registry, inv);
  std::string text = Scrape(registry);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_phase{phase=\"idle\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_busy") == 0);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_jobs_total{outcome=\"succeeded\"}") == 0);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_energy_joules_total{source=\"rapl\"}") == 0);
  BOOST_TEST(
      text.find("tcobench_worker_info{isa=\"avx2\",threads=\"2\",version=\"\",worker=\"w1\"} 1") !=
      std::string::npos);

  m.SetPhase("measuring");
  text = Scrape(registry);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_phase{phase=\"measuring\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_phase{phase=\"idle\"}") == 0);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_busy") == 1);

  v1::ComparisonResult result;
  result.mutable_manifest()->set_host_lock_wait_seconds(1.5);
  for (int i = 0; i < 2; ++i) {  // two workload points of one job
    v1::VariantResult* r = result.add_results();
    r->mutable_memory()->set_load_seconds(0.2);
    r->mutable_energy()->set_source("rapl");
    r->mutable_energy()->set_joules(10);
    r->mutable_energy()->set_average_watts(40 + i);
    for (int k = 0; k < 3; ++k) {
      v1::RequestSample* s = r->add_samples();
      s->set_prompt_tokens(16);
      s->set_output_tokens(8);
    }
  }
  m.JobFinished("succeeded", &result);
  m.JobFinished("handed_back", nullptr);
  m.SetPhase("idle");
  text = Scrape(registry);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_jobs_total{outcome=\"succeeded\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_jobs_total{outcome=\"handed_back\"}") == 1);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_tokens_total{kind=\"prompt\"}") == 96);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_tokens_total{kind=\"output\"}") == 48);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_energy_joules_total{source=\"rapl\"}") == 20);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_power_watts{source=\"rapl\"}") == 41);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_model_load_seconds_count") ==
             1);  // one load per job
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_host_lock_wait_seconds_total") == 1.5);
  BOOST_TEST(ExpositionValue(text, "tcobench_worker_busy") == 0);
}
