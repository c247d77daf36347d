#include "workers/daemon/metrics.h"

#include "common/metrics/metrics_server.h"

namespace tcobench {
namespace {

constexpr const char* kPhases[] = {"idle",      "preparing", "loading", "waiting_for_lock",
                                   "measuring", "accuracy"};

}  // namespace

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry, const v1::WorkerInventory& inventory)
    : registered_(prometheus::BuildGauge()
                      .Name("tcobench_worker_registered")
                      .Help("1 once the worker has registered with its coordinator")
                      .Register(registry)
                      .Add({})),
      busy_(prometheus::BuildGauge()
                .Name("tcobench_worker_busy")
                .Help("1 while the worker runs a job, 0 when idle")
                .Register(registry)
                .Add({})),
      phase_(prometheus::BuildGauge()
                 .Name("tcobench_worker_phase")
                 .Help("1 for the phase the worker is in (idle, preparing, loading, "
                       "waiting_for_lock, measuring, "
                       "accuracy), 0 for the others")
                 .Register(registry)),
      jobs_(prometheus::BuildCounter()
                .Name("tcobench_worker_jobs_total")
                .Help("Jobs run, by outcome (succeeded, failed, handed_back, refused)")
                .Register(registry)),
      tokens_(prometheus::BuildCounter()
                  .Name("tcobench_worker_tokens_total")
                  .Help("Tokens processed in measured requests, by kind (prompt, output)")
                  .Register(registry)),
      energy_(prometheus::BuildCounter()
                  .Name("tcobench_worker_energy_joules_total")
                  .Help("Energy over measured windows, by source (nvml, rapl, model = an estimate)")
                  .Register(registry)),
      power_(prometheus::BuildGauge()
                 .Name("tcobench_worker_power_watts")
                 .Help("Average power over the last measured window, by energy source")
                 .Register(registry)),
      load_seconds_(prometheus::BuildHistogram()
                        .Name("tcobench_worker_model_load_seconds")
                        .Help("Time to open and map a job's model")
                        .Register(registry)
                        .Add({}, SecondsBuckets())),
      lock_wait_(
          prometheus::BuildCounter()
              .Name("tcobench_worker_host_lock_wait_seconds_total")
              .Help(
                  "Time spent waiting for the host-wide measurement lock (other workers measuring)")
              .Register(registry)
              .Add({})) {
  prometheus::BuildGauge()
      .Name("tcobench_worker_info")
      .Help("1, labelled with what the worker presents (name, ISA, threads, version)")
      .Register(registry)
      .Add({{"worker", inventory.name()},
            {"isa", inventory.isa()},
            {"threads", std::to_string(inventory.threads())},
            {"version", inventory.version()}})
      .Set(1);
  for (const char* p : kPhases) phase_.Add({{"phase", p}}).Set(p == std::string("idle") ? 1 : 0);
  for (const char* o : {"succeeded", "failed", "handed_back", "refused"})
    jobs_.Add({{"outcome", o}});
  for (const char* k : {"prompt", "output"}) tokens_.Add({{"kind", k}});
  for (const char* s : {"nvml", "rapl", "prometheus", "model"}) energy_.Add({{"source", s}});
}

void WorkerMetrics::SetRegistered(bool registered) { registered_.Set(registered ? 1 : 0); }

void WorkerMetrics::SetPhase(const std::string& phase) {
  MutexLock lock(&mu_);
  for (const char* p : kPhases) phase_.Add({{"phase", p}}).Set(phase == p ? 1 : 0);
  busy_.Set(phase == "idle" ? 0 : 1);
}

void WorkerMetrics::JobFinished(const char* outcome, const v1::ComparisonResult* result) {
  MutexLock lock(&mu_);
  jobs_.Add({{"outcome", outcome}}).Increment();
  if (result == nullptr) return;
  lock_wait_.Increment(result->manifest().host_lock_wait_seconds());
  double prompt = 0, output = 0;
  for (int i = 0; i < result->results_size(); ++i) {
    const v1::VariantResult& r = result->results(i);
    if (i == 0) load_seconds_.Observe(r.memory().load_seconds());  // one load per job
    for (const v1::RequestSample& s : r.samples()) {
      prompt += s.prompt_tokens();
      output += s.output_tokens();
    }
    const std::string& source = r.energy().source();
    if (!source.empty() && source != "none") {
      energy_.Add({{"source", source}}).Increment(r.energy().joules());
      power_.Add({{"source", source}}).Set(r.energy().average_watts());
    }
  }
  tokens_.Add({{"kind", "prompt"}}).Increment(prompt);
  tokens_.Add({{"kind", "output"}}).Increment(output);
}

}  // namespace tcobench
