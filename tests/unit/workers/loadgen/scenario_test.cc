#define BOOST_TEST_MODULE scenario
#include "workers/loadgen/scenario.h"

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <thread>

using namespace tcobench;

namespace {

// A runtime whose calls take known times: prefill 2 ms, a step 1 ms.
class SleepRuntime final : public Runtime {
 public:
  int max_sequences() const override { return 16; }
  int32_t vocab_size() const override { return 100; }
  absl::StatusOr<int32_t> Prefill(int, std::span<const int32_t> prompt) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ++prefills;
    prompt_tokens += static_cast<int64_t>(prompt.size());
    return 1;
  }
  absl::Status Step(std::span<const int> seqs, std::span<const int32_t>,
                    std::span<int32_t> next) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    max_batch = std::max(max_batch, static_cast<int>(seqs.size()));
    for (int32_t& n : next) n = 2;
    return absl::OkStatus();
  }
  int prefills = 0;
  int64_t prompt_tokens = 0;
  int max_batch = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(single_stream_runs_requests_one_after_another) {
  SleepRuntime rt;
  ScenarioOptions o;
  o.prompt_tokens = 8;
  o.output_tokens = 4;
  o.warmup_runs = 2;
  o.measured_runs = 5;
  int opened = 0, closed = 0;
  o.on_window_open = [&] { ++opened; };
  o.on_window_close = [&] { ++closed; };
  auto run = RunScenario(rt, o);
  BOOST_REQUIRE_MESSAGE(run.ok(), run.status().message());
  BOOST_TEST(opened == 1);
  BOOST_TEST(closed == 1);
  BOOST_TEST(rt.prefills == 7);  // warm-up included
  BOOST_REQUIRE(run->requests.size() == 5u);
  BOOST_TEST(rt.max_batch == 1);
  for (size_t i = 0; i < run->requests.size(); ++i) {
    const RequestTiming& t = run->requests[i];
    BOOST_TEST(t.prompt_index == i + 2);  // warm-up used prompts 0 and 1
    BOOST_TEST(t.output_tokens == 4);
    BOOST_TEST(t.first_token - t.start >= 0.002);
    BOOST_TEST(t.end - t.first_token >= 0.003);  // three steps
    if (i > 0) BOOST_TEST(t.arrival >= run->requests[i - 1].end);
  }
  BOOST_TEST(run->steps == 15);
  BOOST_TEST(run->decode_tokens == 15);
  BOOST_TEST(run->prefill_tokens == 40);
  BOOST_TEST(run->window_seconds >= run->requests.back().end);
}

BOOST_AUTO_TEST_CASE(run_continues_until_min_duration) {
  SleepRuntime rt;
  ScenarioOptions o;
  o.prompt_tokens = 4;
  o.output_tokens = 2;
  o.measured_runs = 1;
  o.min_duration_seconds = 0.1;
  auto run = RunScenario(rt, o);
  BOOST_REQUIRE(run.ok());
  BOOST_TEST(run->window_seconds >= 0.1);
  BOOST_TEST(run->requests.size() > 5u);  // ~3 ms per request
}

BOOST_AUTO_TEST_CASE(offline_issues_everything_and_batches) {
  SleepRuntime rt;
  ScenarioOptions o;
  o.scenario = Scenario::kOffline;
  o.prompt_tokens = 4;
  o.output_tokens = 5;
  o.measured_runs = 8;
  o.concurrency = 4;
  auto run = RunScenario(rt, o);
  BOOST_REQUIRE(run.ok());
  BOOST_REQUIRE(run->requests.size() == 8u);
  for (const RequestTiming& t : run->requests) BOOST_TEST(t.arrival == 0.0);
  BOOST_TEST(rt.max_batch == 4);
  // Later requests wait for a free sequence: queueing shows in their latency.
  BOOST_TEST(run->requests.back().start > run->requests.front().end - 1e-9);
  BOOST_TEST(run->decode_tokens == 8 * 4);
}

BOOST_AUTO_TEST_CASE(server_arrivals_are_poisson_and_latency_counts_queueing) {
  SleepRuntime rt;
  ScenarioOptions o;
  o.scenario = Scenario::kServer;
  o.prompt_tokens = 4;
  o.output_tokens = 3;
  o.measured_runs = 40;
  o.target_qps = 400;
  o.concurrency = 8;
  o.seed = 9;
  auto run = RunScenario(rt, o);
  BOOST_REQUIRE(run.ok());
  BOOST_REQUIRE(run->requests.size() == 40u);
  double last = -1;
  for (const RequestTiming& t : run->requests) {
    BOOST_TEST(t.arrival >= last);
    BOOST_TEST(t.start >= t.arrival);
    BOOST_TEST(t.end > t.first_token);
    last = t.arrival;
  }
  // 39 exponential gaps with mean 2.5 ms: their mean is well within 1..5 ms.
  const double mean_gap = run->requests.back().arrival / 39;
  BOOST_TEST(mean_gap > 0.001);
  BOOST_TEST(mean_gap < 0.005);
  // Same seed, same arrivals.
  SleepRuntime rt2;
  auto again = RunScenario(rt2, o);
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->requests[17].arrival == run->requests[17].arrival);
}

BOOST_AUTO_TEST_CASE(prompts_are_reproducible) {
  ScenarioOptions o;
  o.seed = 5;
  std::vector<int32_t> a(16), b(16), c(16);
  PromptFor(o, 50, 3, a);
  PromptFor(o, 50, 3, b);
  PromptFor(o, 50, 4, c);
  BOOST_TEST(a == b);
  BOOST_TEST(a != c);
  for (int32_t id : a) BOOST_TEST((id >= 0 && id < 50));
  const std::vector<int32_t> corpus = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                                       25, 26, 27, 28, 29};
  o.prompt_corpus = corpus;
  std::vector<int32_t> w(4);
  PromptFor(o, 50, 7, w);
  for (size_t i = 1; i < w.size(); ++i) BOOST_TEST(w[i] == w[i - 1] + 1);  // a window of the text
}

BOOST_AUTO_TEST_CASE(null_runtime_overhead_is_tiny) {
  auto rt = MakeNullRuntime(8, 100);
  ScenarioOptions o;
  o.scenario = Scenario::kOffline;
  o.prompt_tokens = 64;
  o.output_tokens = 64;
  o.measured_runs = 50;
  o.concurrency = 8;
  auto run = RunScenario(*rt, o);
  BOOST_REQUIRE(run.ok());
  BOOST_TEST(run->steps > 0);
  const double per_step = run->window_seconds / run->steps;
  BOOST_TEST_MESSAGE("harness per step: " << per_step * 1e6 << " us");
  BOOST_TEST(per_step < 50e-6);  // microseconds, against decode steps of milliseconds
}
