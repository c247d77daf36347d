// The harness's promise: nothing inside the measured window allocates. Every
// operator new in the process (all threads: the engine's pool included) is
// counted while the window is open, on the real engine with a synthetic
// model, in each scenario, from a cold start: a fresh runtime whose only
// preparation is the scenario's own warm-up.
#define BOOST_TEST_MODULE no_alloc
#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/test_support.h"
#include "workers/bench/engine_runtime.h"
#include "workers/engine/synth.h"
#include "workers/loadgen/scenario.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace tcobench::testing {

// Every family the engine runs (llama, qwen2, qwen3, gemma3, phi3).
BOOST_AUTO_TEST_CASE(measured_window_allocates_nothing) {
  for (const char* family : {"ktiny", "ktiny-qwen2", "ktiny-qwen3", "ktiny-gemma3", "ktiny-phi3"}) {
    BOOST_TEST_CONTEXT(family) {
      const auto path = TempDir() / (std::string("noalloc-") + family + ".gguf");
      SynthOptions so;
      so.type = TensorType::kF16;
      BOOST_REQUIRE(SynthesizeModel(*FindSynthShape(family), so, path).ok());
      auto model = LlamaModel::Open(path, ModelOptions{2, false});
      BOOST_REQUIRE(model.ok());
      // A long prompt (the matrix-matrix path) with a few streams, and a short
      // one with more streams than prompt tokens: there a batched decode step
      // needs more rows than any prefill did. The other families run the
      // first and the last (the same operations; the sanitized suite runs
      // this test too).
      struct Shape {
        int32_t prompt_tokens;
        int concurrency;
      };
      const bool all = std::string(family) == "ktiny";
      int k = 0;
      for (const auto& [scenario, shape] :
           {std::pair{Scenario::kSingleStream, Shape{24, 1}},
            std::pair{Scenario::kServer, Shape{24, 4}}, std::pair{Scenario::kOffline, Shape{24, 4}},
            std::pair{Scenario::kServer, Shape{2, 8}},
            std::pair{Scenario::kOffline, Shape{2, 8}}}) {
        if (!all && k++ % 4 != 0) continue;
        ScenarioOptions o;
        o.scenario = scenario;
        o.prompt_tokens = shape.prompt_tokens;
        o.output_tokens = 6;
        o.warmup_runs = 2;
        o.measured_runs = 12;
        o.concurrency = shape.concurrency;
        o.target_qps = 500;
        auto runtime = MakeEngineRuntime(**model, o.concurrency, 64);
        BOOST_REQUIRE(runtime.ok());
        g_allocations = 0;
        o.on_window_open = [] { g_counting = true; };
        o.on_window_close = [] { g_counting = false; };
        auto run = RunScenario(**runtime, o);
        BOOST_REQUIRE(run.ok());
        BOOST_TEST(run->requests.size() >= 12u);
        BOOST_TEST(g_allocations.load() == 0,
                   "scenario " << static_cast<int>(scenario) << ", prompt " << o.prompt_tokens
                               << ", concurrency " << o.concurrency << ": " << g_allocations.load()
                               << " allocations");
      }
    }
  }
}

}  // namespace tcobench::testing
