// The harness's promise: nothing inside the measured window allocates. Every
// operator new in the process (all threads: the engine's pool included) is
// counted while the window is open, on the real engine with a synthetic
// model, in each scenario.
#define BOOST_TEST_MODULE no_alloc
#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/test_support.h"
#include "workers/bench/engine_runtime.h"
#include "workers/loadgen/scenario.h"
#include "workers/engine/synth.h"

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

BOOST_AUTO_TEST_CASE(measured_window_allocates_nothing) {
  const auto path = TempDir() / "noalloc-ktiny.gguf";
  SynthOptions so;
  so.type = TensorType::kF16;
  BOOST_REQUIRE(SynthesizeModel(*FindSynthShape("ktiny"), so, path).ok());
  auto model = LlamaModel::Open(path, ModelOptions{2, false});
  BOOST_REQUIRE(model.ok());
  for (Scenario scenario : {Scenario::kSingleStream, Scenario::kServer, Scenario::kOffline}) {
    ScenarioOptions o;
    o.scenario = scenario;
    o.prompt_tokens = 24;  // the matrix-matrix path
    o.output_tokens = 6;
    o.warmup_runs = 2;
    o.measured_runs = 12;
    o.concurrency = scenario == Scenario::kSingleStream ? 1 : 4;
    o.target_qps = 500;
    auto runtime = MakeEngineRuntime(**model, o.concurrency, 64);
    BOOST_REQUIRE(runtime.ok());
    // A first run sizes everything (the warm-up is one request at a time,
    // so batched buffers first grow inside a window).
    BOOST_REQUIRE(RunScenario(**runtime, o).ok());
    g_allocations = 0;
    o.on_window_open = [] { g_counting = true; };
    o.on_window_close = [] { g_counting = false; };
    auto run = RunScenario(**runtime, o);
    BOOST_REQUIRE(run.ok());
    BOOST_TEST(run->requests.size() >= 12u);
    BOOST_TEST(g_allocations.load() == 0, "scenario " << static_cast<int>(scenario) << ": "
                                                      << g_allocations.load() << " allocations");
  }
}

}  // namespace tcobench::testing
