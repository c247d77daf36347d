#define BOOST_TEST_MODULE coordinator_store
#include "services/coordinator/store.h"

#include <boost/test/unit_test.hpp>
#include <functional>
#include <set>

#include "common/spec/spec.h"
#include "services/coordinator/selector.h"
#include "tests/test_support.h"

using namespace tcobench;

namespace {

// A clock the test moves by hand.
struct Clock {
  double t = 1.7e9;
  std::function<double()> fn() {
    return [this] { return t; };
  }
};

// Leases jobs to `worker` until none is left, calling `each` on every one;
// returns how many there were.
int AcquireAll(Store& store, const std::string& worker,
               const std::function<void(const v1::AcquireJobResponse*)>& each) {
  int jobs = 0;
  while (true) {
    auto j = store.Acquire(worker);
    BOOST_REQUIRE(j.ok());
    if (!j->has_job()) return jobs;
    ++jobs;
    each(&*j);
  }
}

v1::ComparisonSpec Spec() {
  auto spec = ParseSpecJson(R"({
    "name": "two targets", "baseline": "a",
    "variants": [{"name": "a", "model": "m.gguf"}, {"name": "b", "model": "m.gguf", "quantize": "Q8_0"}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 8, "outputTokens": 4, "measuredRuns": 1},
    "hardware": [{"name": "big", "selector": {"class": "cpu", "isa": "avx512", "labels": {"tier": "big"}}},
                 {"name": "small", "selector": {"class": "cpu", "minMemoryBytes": "1000"}}]
  })");
  BOOST_REQUIRE_MESSAGE(spec.ok(), spec.status().message());
  return *spec;
}

v1::WorkerInventory Inventory(const std::string& name, const std::string& isa,
                              const std::string& tier) {
  v1::WorkerInventory inv;
  inv.set_name(name);
  inv.set_isa(isa);
  inv.set_memory_bytes(1 << 30);
  if (!tier.empty()) (*inv.mutable_labels())["tier"] = tier;
  return inv;
}

v1::ComparisonResult ResultFor(const std::string& variant) {
  v1::ComparisonResult r;
  r.mutable_manifest()->set_hostname("h");
  r.add_results()->set_variant(variant);
  return r;
}

std::filesystem::path FreshDir(const std::string& name) {
  const auto dir = tcobench::testing::TempDir() / name;
  std::filesystem::remove_all(dir);
  return dir;
}

}  // namespace

BOOST_AUTO_TEST_CASE(jobs_go_to_matching_workers_and_complete_once) {
  Clock clock;
  StoreOptions options{30, 5, 3, clock.fn()};
  options.max_jobs_per_worker = 8;  // this test leases several jobs to one worker
  auto store = Store::Open(FreshDir("match"), options);
  BOOST_REQUIRE(store.ok());
  auto id = (*store)->Submit(Spec());
  BOOST_REQUIRE(id.ok());
  auto c = (*store)->Get(*id);
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->jobs_size() == 4);  // 2 variants x 2 targets
  BOOST_TEST(c->state() == v1::Comparison::QUEUED);

  auto small = (*store)->Register(Inventory("small", "avx2", ""));
  auto big = (*store)->Register(Inventory("big", "avx512", "big"));
  BOOST_REQUIRE(small.ok());
  BOOST_REQUIRE(big.ok());
  // The small worker never gets a "big" job.
  std::vector<v1::AcquireJobResponse> small_jobs;
  while (true) {
    auto j = (*store)->Acquire(small->worker_id());
    BOOST_REQUIRE(j.ok());
    if (!j->has_job()) break;
    BOOST_TEST(j->hardware() == "small");
    BOOST_TEST(j->spec().hardware_size() == 1);
    small_jobs.push_back(*j);
  }
  BOOST_TEST(small_jobs.size() == 2u);
  // The job spec keeps the baseline for KL divergence.
  BOOST_TEST(small_jobs[1].variant() == "b");
  BOOST_TEST(small_jobs[1].spec().variants_size() == 2);
  auto bj = (*store)->Acquire(big->worker_id());
  BOOST_REQUIRE(bj.ok());
  BOOST_TEST(bj->has_job());
  BOOST_TEST(bj->hardware() == "big");
  BOOST_TEST((*store)->Get(*id)->state() == v1::Comparison::RUNNING);

  // Complete, then a repeat under the same lease: acknowledged, nothing new.
  const auto& j0 = small_jobs[0];
  BOOST_TEST((*store)->Complete(small->worker_id(), j0.lease_id(), ResultFor(j0.variant())).ok());
  BOOST_TEST((*store)->Complete(small->worker_id(), j0.lease_id(), ResultFor(j0.variant())).ok());
  auto report = (*store)->Report(*id);
  BOOST_REQUIRE(report.ok());
  BOOST_TEST(report->result().results_size() == 1);
  // A result without the job's variant is refused.
  BOOST_TEST((*store)->Complete(small->worker_id(), small_jobs[1].lease_id(), ResultFor("zzz")).code() ==
             absl::StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(expired_lease_is_requeued_and_late_completion_refused) {
  Clock clock;
  auto store = Store::Open(FreshDir("lease"), StoreOptions{30, 5, 2, clock.fn()});
  BOOST_REQUIRE(store.ok());
  v1::ComparisonSpec spec = Spec();
  spec.mutable_hardware()->RemoveLast();  // just "big"
  spec.mutable_variants()->RemoveLast();  // just "a"
  auto id = (*store)->Submit(spec);
  BOOST_REQUIRE(id.ok());
  auto w1 = (*store)->Register(Inventory("w1", "avx512", "big"));
  auto w2 = (*store)->Register(Inventory("w2", "avx512", "big"));
  auto lease1 = (*store)->Acquire(w1->worker_id());
  BOOST_REQUIRE(lease1->has_job());
  // Heartbeats extend the lease.
  clock.t += 20;
  BOOST_TEST((*store)->Heartbeat(w1->worker_id(), lease1->lease_id()).ok());
  clock.t += 20;
  BOOST_TEST((*store)->ExpireLeases().ok());
  BOOST_TEST(!(*store)->Acquire(w2->worker_id())->has_job());  // still held
  // Then w1 goes silent past its deadline.
  clock.t += 31;
  BOOST_TEST((*store)->ExpireLeases().ok());
  auto c = (*store)->Get(*id);
  BOOST_TEST(c->jobs(0).state() == v1::Job::QUEUED);
  BOOST_REQUIRE(c->jobs(0).attempt_errors_size() == 1);
  BOOST_TEST(c->jobs(0).attempt_errors(0).find("lease expired") != std::string::npos);
  auto lease2 = (*store)->Acquire(w2->worker_id());
  BOOST_REQUIRE(lease2->has_job());
  // w1 comes back with its old lease: refused, nothing stored.
  const absl::Status late = (*store)->Complete(w1->worker_id(), lease1->lease_id(), ResultFor("a"));
  BOOST_TEST(late.code() == absl::StatusCode::kFailedPrecondition);
  BOOST_TEST((*store)->Complete(w2->worker_id(), lease2->lease_id(), ResultFor("a")).ok());
  c = (*store)->Get(*id);
  BOOST_TEST(c->state() == v1::Comparison::SUCCEEDED);
  BOOST_TEST((*store)->Report(*id)->result().results_size() == 1);
}

BOOST_AUTO_TEST_CASE(attempts_are_bounded_and_failures_explained) {
  Clock clock;
  auto store = Store::Open(FreshDir("attempts"), StoreOptions{30, 5, 2, clock.fn()});
  v1::ComparisonSpec spec = Spec();
  spec.mutable_hardware()->RemoveLast();
  spec.mutable_variants()->RemoveLast();
  auto id = (*store)->Submit(spec);
  auto w = (*store)->Register(Inventory("w", "avx512", "big"));
  auto l1 = (*store)->Acquire(w->worker_id());
  BOOST_TEST((*store)->Fail(w->worker_id(), l1->lease_id(), "out of memory", true).ok());
  auto l2 = (*store)->Acquire(w->worker_id());
  BOOST_REQUIRE(l2->has_job());
  BOOST_TEST((*store)->Fail(w->worker_id(), l2->lease_id(), "out of memory again", true).ok());
  auto c = (*store)->Get(*id);
  BOOST_TEST(c->state() == v1::Comparison::FAILED);
  BOOST_TEST(c->jobs(0).attempt_errors_size() == 2);
  BOOST_TEST(c->error().find("out of memory again") != std::string::npos);
  // A non-retryable failure (a missing model) fails at once.
  auto id2 = (*store)->Submit(spec);
  auto l3 = (*store)->Acquire(w->worker_id());
  BOOST_TEST((*store)->Fail(w->worker_id(), l3->lease_id(), "variants[0].model: no file", false).ok());
  BOOST_TEST((*store)->Get(*id2)->state() == v1::Comparison::FAILED);
}

BOOST_AUTO_TEST_CASE(cancel_delete_retention_and_restart) {
  Clock clock;
  const auto dir = FreshDir("restart");
  std::string kept, cancelled;
  {
    auto store = Store::Open(dir, StoreOptions{30, 5, 3, clock.fn()});
    BOOST_REQUIRE(store.ok());
    cancelled = *(*store)->Submit(Spec());
    kept = *(*store)->Submit(Spec());
    auto w = (*store)->Register(Inventory("w", "avx2", ""));
    auto lease = (*store)->Acquire(w->worker_id());
    BOOST_REQUIRE(lease->has_job());
    auto c = (*store)->Cancel(cancelled);
    BOOST_REQUIRE(c.ok());
    BOOST_TEST(c->state() == v1::Comparison::CANCELLED);
    // The worker learns at its next heartbeat, and its result is refused.
    BOOST_TEST((*store)->Heartbeat(w->worker_id(), lease->lease_id())->cancel_job());
    BOOST_TEST((*store)->Complete(w->worker_id(), lease->lease_id(), ResultFor(lease->variant())).code() ==
               absl::StatusCode::kFailedPrecondition);
    BOOST_TEST((*store)->Get("cmp-nope").status().code() == absl::StatusCode::kNotFound);
    BOOST_TEST((*store)->Delete("cmp-nope").code() == absl::StatusCode::kNotFound);
  }
  {
    // Reopened: everything is still there.
    auto store = Store::Open(dir, StoreOptions{30, 5, 3, clock.fn()});
    BOOST_REQUIRE(store.ok());
    BOOST_TEST((*store)->List(10)->size() == 2u);
    BOOST_TEST((*store)->Get(cancelled)->state() == v1::Comparison::CANCELLED);
    BOOST_TEST((*store)->Get(kept)->jobs_size() == 4);
    BOOST_TEST((*store)->Workers()->size() == 1u);
    // Retention: the cancelled one is finished; 2 days later it goes.
    clock.t += 2 * 86400;
    BOOST_TEST(*(*store)->DeleteFinishedOlderThan(1) == 1);
    BOOST_TEST((*store)->List(10)->size() == 1u);
    BOOST_TEST((*store)->Delete(kept).ok());
    BOOST_TEST((*store)->List(10)->empty());
  }
}

BOOST_AUTO_TEST_CASE(invalid_specs_are_refused_with_the_field) {
  auto store = Store::Open(FreshDir("invalid"));
  BOOST_REQUIRE(store.ok());
  v1::ComparisonSpec spec = Spec();
  spec.set_baseline("nope");
  auto id = (*store)->Submit(spec);
  BOOST_TEST(id.status().code() == absl::StatusCode::kInvalidArgument);
  BOOST_TEST(std::string(id.status().message()).find("baseline") != std::string::npos);
  spec = Spec();
  spec.mutable_hardware(0)->mutable_selector()->set_isa("avx1024");
  BOOST_TEST(std::string((*store)->Submit(spec).status().message()).find("hardware[0].selector.isa") !=
             std::string::npos);
  BOOST_TEST((*store)->List(10)->empty());
}

BOOST_AUTO_TEST_CASE(tags_move_resolve_and_go_with_their_comparison) {
  Clock clock;
  const auto dir = FreshDir("tags");
  auto store = Store::Open(dir, StoreOptions{30, 5, 3, clock.fn()});
  BOOST_REQUIRE(store.ok());
  auto a = (*store)->Submit(Spec());
  auto b = (*store)->Submit(Spec());
  BOOST_REQUIRE(a.ok() && b.ok());
  auto t = (*store)->Tag(*a, "release/1.0");
  BOOST_REQUIRE_MESSAGE(t.ok(), t.status().message());
  BOOST_TEST(t->previous_comparison_id().empty());
  BOOST_TEST(t->comparison().tags(0) == "release/1.0");
  BOOST_TEST((*store)->Get("release/1.0")->id() == *a);
  BOOST_TEST((*store)->Report("release/1.0")->comparison().id() == *a);
  // Moves, like a forced git tag, and says from where.
  t = (*store)->Tag(*b, "release/1.0");
  BOOST_REQUIRE(t.ok());
  BOOST_TEST(t->previous_comparison_id() == *a);
  BOOST_TEST((*store)->Get("release/1.0")->id() == *b);
  BOOST_TEST((*store)->Get(*a)->tags().empty());
  // A tag of a tag is a tag of its comparison.
  BOOST_TEST((*store)->Tag("release/1.0", "latest")->comparison().id() == *b);
  // Bad names and unknown targets name the problem.
  BOOST_TEST(std::string((*store)->Tag(*a, "has space").status().message()).find("tag:") == 0);
  BOOST_TEST(std::string((*store)->Tag(*a, "cmp-x").status().message()).find("id's form") != std::string::npos);
  BOOST_TEST((*store)->Tag("nope", "x").status().code() == absl::StatusCode::kNotFound);
  // Gate verdicts, stored against ids and listed newest first.
  v1::GateVerdict v;
  v.set_baseline_comparison_id(*a);
  v.set_candidate_comparison_id("latest");
  v.set_overall(v1::MetricVerdict::REGRESSION);
  BOOST_TEST((*store)->RecordVerdict(v).ok());
  clock.t += 1;
  v.set_overall(v1::MetricVerdict::PASS);
  BOOST_TEST((*store)->RecordVerdict(v).ok());
  auto list = (*store)->Verdicts(*b, 10);
  BOOST_REQUIRE(list.ok());
  BOOST_REQUIRE(list->size() == 2u);
  BOOST_TEST((*list)[0].overall() == v1::MetricVerdict::PASS);
  BOOST_TEST((*list)[0].candidate_comparison_id() == *b);
  BOOST_TEST((*store)->Verdicts(*a, 10)->empty());
  v.set_overall(v1::MetricVerdict::VERDICT_UNSPECIFIED);
  BOOST_TEST(!(*store)->RecordVerdict(v).ok());
  // Deleting a comparison removes its tags; a restart keeps the others.
  BOOST_TEST((*store)->Delete("latest").ok());
  BOOST_TEST((*store)->Get("release/1.0").status().code() == absl::StatusCode::kNotFound);
  BOOST_TEST((*store)->Tag(*a, "keep").ok());
  store->reset();
  auto again = Store::Open(dir, StoreOptions{30, 5, 3, clock.fn()});
  BOOST_REQUIRE(again.ok());
  BOOST_TEST((*again)->Get("keep")->id() == *a);
}

BOOST_AUTO_TEST_CASE(leases_per_worker_are_bounded_and_a_drained_worker_gets_none) {
  Clock clock;
  StoreOptions options{30, 5, 3, clock.fn()};
  options.max_jobs_per_worker = 1;
  auto store = Store::Open(FreshDir("drain"), options);
  BOOST_REQUIRE(store.ok());
  BOOST_REQUIRE((*store)->Submit(Spec(), "alice").ok());
  auto w = (*store)->Register(Inventory("small", "avx2", ""));
  BOOST_REQUIRE(w.ok());
  auto first = (*store)->Acquire(w->worker_id());
  BOOST_REQUIRE(first.ok() && first->has_job());
  auto second = (*store)->Acquire(w->worker_id());  // holds one already
  BOOST_TEST(!second->has_job());
  BOOST_TEST(!second->drain());
  BOOST_TEST((*store)->Complete(w->worker_id(), first->lease_id(), ResultFor(first->variant())).ok());
  // Drained by name: no job, and told to stop.
  auto drained = (*store)->Drain("small");
  BOOST_REQUIRE(drained.ok());
  BOOST_TEST(drained->draining());
  auto after = (*store)->Acquire(w->worker_id());
  BOOST_TEST(!after->has_job());
  BOOST_TEST(after->drain());
  BOOST_TEST((*store)->Drain("nobody").status().code() == absl::StatusCode::kNotFound);
  // The owner is kept and reported.
  auto list = (*store)->List(1);
  BOOST_REQUIRE(list.ok() && list->size() == 1);
  BOOST_TEST((*list)[0].owner() == "alice");
  BOOST_TEST(*(*store)->OwnerOf((*list)[0].id()) == "alice");
}

BOOST_AUTO_TEST_CASE(spec_limits_are_enforced_with_the_flag_named) {
  Clock clock;
  StoreOptions options{30, 5, 3, clock.fn()};
  options.limits.max_variants = 1;
  options.limits.max_output_tokens = 2;
  auto store = Store::Open(FreshDir("limits"), options);
  BOOST_REQUIRE(store.ok());
  auto too_many = (*store)->Submit(Spec());
  BOOST_TEST(too_many.status().code() == absl::StatusCode::kInvalidArgument);
  BOOST_TEST(std::string(too_many.status().message()).find("--max-variants") != std::string::npos);
  v1::ComparisonSpec one = Spec();
  one.mutable_variants()->RemoveLast();
  auto too_long = (*store)->Submit(one);
  BOOST_TEST(std::string(too_long.status().message()) ==
             "workload.outputTokens: 4 tokens, at most 2 (coordinator --max-output-tokens)");
  options.limits = SpecLimits{};
  options.limits.max_spec_bytes = 10;
  auto store2 = Store::Open(FreshDir("limits2"), options);
  BOOST_TEST(std::string((*store2)->Submit(one).status().message()).find("--max-spec-bytes") != std::string::npos);
}

// A job's spec is the comparison's narrowed to the job's variant and target;
// every field that names a target or a variant is narrowed with it, so the
// worker's own validation accepts it (issue 19: a cost block pricing two
// targets failed every job with "cost.hardware.small: no hardware target
// has this name").
BOOST_AUTO_TEST_CASE(job_specs_stay_valid_when_cost_prices_every_target) {
  Clock clock;
  StoreOptions options{30, 5, 3, clock.fn()};
  options.max_jobs_per_worker = 8;
  auto store = Store::Open(FreshDir("priced"), options);
  BOOST_REQUIRE(store.ok());
  v1::ComparisonSpec spec = Spec();
  (*spec.mutable_cost()->mutable_hardware())["big"].set_usd_per_hour(0.10);
  (*spec.mutable_cost()->mutable_hardware())["small"].set_usd_per_hour(0.05);
  BOOST_REQUIRE_MESSAGE(ValidateSpec(spec).ok(), ValidateSpec(spec).message());
  BOOST_REQUIRE((*store)->Submit(spec).ok());
  auto big = (*store)->Register(Inventory("big", "avx512", "big"));
  BOOST_REQUIRE(big.ok());
  std::set<std::string> targets;
  const int jobs = AcquireAll(**store, big->worker_id(), [&](const v1::AcquireJobResponse* j) {
    targets.insert(j->hardware());
    const absl::Status valid = ValidateSpec(j->spec());
    BOOST_TEST(valid.ok(), j->variant() << "@" << j->hardware() << ": " << valid.message());
    BOOST_TEST(j->spec().hardware_size() == 1);
    // The job's own target keeps its price; the others' are gone with them.
    BOOST_TEST(j->spec().cost().hardware().size() == 1u);
    BOOST_TEST(j->spec().cost().hardware().count(j->hardware()) == 1u);
  });
  BOOST_TEST(jobs == 4);  // the big worker matches both targets
  BOOST_TEST(targets == (std::set<std::string>{"big", "small"}));
}

// With repetitions, one job per target runs every variant (so its runs
// interleave on one worker), and its result keeps every variant's rows.
BOOST_AUTO_TEST_CASE(repetitions_make_one_job_per_target_for_every_variant) {
  Clock clock;
  StoreOptions options{30, 5, 3, clock.fn()};
  options.max_jobs_per_worker = 8;
  auto store = Store::Open(FreshDir("reps"), options);
  BOOST_REQUIRE(store.ok());
  v1::ComparisonSpec spec = Spec();
  spec.mutable_workload()->set_repetitions(5);
  auto id = (*store)->Submit(spec);
  BOOST_REQUIRE(id.ok());
  auto big = (*store)->Register(Inventory("big", "avx512", "big"));
  BOOST_REQUIRE(big.ok());
  const int jobs = AcquireAll(**store, big->worker_id(), [&](const v1::AcquireJobResponse* j) {
    BOOST_TEST(j->variant() == kAllVariantsJob);
    BOOST_TEST(j->spec().variants_size() == 2);
    BOOST_TEST(ValidateSpec(j->spec()).ok());
    v1::ComparisonResult both = ResultFor("a");
    both.add_results()->set_variant("b");
    both.mutable_results(0)->set_hardware(j->hardware());
    both.mutable_results(1)->set_hardware(j->hardware());
    BOOST_TEST((*store)->Complete(big->worker_id(), j->lease_id(), both).ok());
  });
  BOOST_TEST(jobs == 2);  // one per target
  auto report = (*store)->Report(*id);
  BOOST_REQUIRE(report.ok());
  BOOST_TEST(report->result().results_size() == 4);  // both variants on both targets
}

// Class gpu needs a worker that reported GPUs and can run the engine on
// them; the reason names which is missing.
BOOST_AUTO_TEST_CASE(gpu_selectors_need_a_gpu_runtime) {
  v1::Hardware::Selector gpu;
  gpu.set_class_("gpu");
  v1::WorkerInventory w = Inventory("w", "avx512", "");
  std::string why;
  BOOST_TEST(!SelectorMatches(gpu, w, &why));
  BOOST_TEST(why == "class gpu (worker has no GPU)");
  w.add_gpus("GPU 0 NVIDIA H200, 139.8 GiB");
  BOOST_TEST(!SelectorMatches(gpu, w, &why));
  BOOST_TEST(why == "class gpu (worker's build cannot run the engine on its GPUs: no CUDA backend)");
  w.set_gpu_runtime(true);
  BOOST_TEST(SelectorMatches(gpu, w, &why));
  v1::Hardware::Selector cpu;
  cpu.set_class_("cpu");
  BOOST_TEST(SelectorMatches(cpu, w, &why));  // every worker has a CPU
}

namespace tcobench {

// A variant on an endpoint goes only to a worker advertising that endpoint
// (names only); until one is live the job stays queued and says why.
BOOST_AUTO_TEST_CASE(endpoint_jobs_wait_for_a_worker_advertising_the_endpoint) {
  Clock clock;
  StoreOptions options{30, 5, 3, clock.fn()};
  auto store = Store::Open(FreshDir("endpoints"), options);
  BOOST_REQUIRE(store.ok());
  auto spec = ParseSpecJson(R"({"name": "e", "baseline": "server",
    "variants": [{"name": "server", "runtime": "openai", "endpoint": "vllm"}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 8, "outputTokens": 4, "measuredRuns": 1},
    "hardware": [{"name": "gpu", "selector": {"class": "gpu"}}]})");
  BOOST_REQUIRE(spec.ok());
  auto id = (*store)->Submit(*spec);
  BOOST_REQUIRE(id.ok());
  auto c = (*store)->Get(*id);
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->jobs(0).waiting_reason() == "no live worker");
  // A GPU worker without the endpoint: no job, and the reason names it.
  v1::WorkerInventory plain = Inventory("plain", "avx2", "");
  plain.add_gpus("H100");
  auto w1 = (*store)->Register(plain);
  BOOST_REQUIRE(w1.ok());
  BOOST_TEST(!(*store)->Acquire(w1->worker_id())->has_job());
  c = (*store)->Get(*id);
  BOOST_TEST(c->jobs(0).waiting_reason().find("endpoint 'vllm' (worker advertises none)") != std::string::npos,
             c->jobs(0).waiting_reason());
  // One advertising it takes the job; class gpu needs its GPUs, not the
  // engine's CUDA backend (the server runs the model).
  v1::WorkerInventory served = plain;
  served.set_name("served");
  served.add_endpoints("vllm");
  auto w2 = (*store)->Register(served);
  BOOST_REQUIRE(w2.ok());
  auto job = (*store)->Acquire(w2->worker_id());
  BOOST_REQUIRE(job.ok());
  BOOST_TEST(job->has_job());
  BOOST_TEST((*store)->Get(*id)->jobs(0).waiting_reason() == "");
}

// A llamacpp variant goes only to a worker listing the runtime (one that
// opened a libllama); on a class gpu target, only to one whose libllama has
// a GPU backend.
BOOST_AUTO_TEST_CASE(llamacpp_jobs_go_to_workers_with_a_libllama) {
  Clock clock;
  StoreOptions options{30, 5, 3, clock.fn()};
  auto store = Store::Open(FreshDir("llamacpp"), options);
  BOOST_REQUIRE(store.ok());
  auto spec = ParseSpecJson(R"({"name": "l", "baseline": "llama",
    "variants": [{"name": "llama", "model": "m.gguf", "runtime": "llamacpp"}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 8, "outputTokens": 4, "measuredRuns": 1},
    "hardware": [{"name": "gpu", "selector": {"class": "gpu"}}]})");
  BOOST_REQUIRE(spec.ok());
  auto id = (*store)->Submit(*spec);
  BOOST_REQUIRE(id.ok());
  v1::WorkerInventory plain = Inventory("plain", "avx2", "");
  plain.add_gpus("H100");
  plain.add_runtimes("engine");
  auto w1 = (*store)->Register(plain);
  BOOST_REQUIRE(w1.ok());
  BOOST_TEST(!(*store)->Acquire(w1->worker_id())->has_job());
  std::string why = (*store)->Get(*id)->jobs(0).waiting_reason();
  BOOST_TEST(why.find("runtime llamacpp (worker has no libllama") != std::string::npos, why);
  // A CPU-only libllama: not for a class gpu target.
  v1::WorkerInventory cpu_lib = plain;
  cpu_lib.set_name("cpu-lib");
  cpu_lib.add_runtimes("llamacpp");
  cpu_lib.set_llama_cpp_build("libllama 0.5.0-dev (de3ff81) at /x/libllama.so");
  auto w2 = (*store)->Register(cpu_lib);
  BOOST_REQUIRE(w2.ok());
  BOOST_TEST(!(*store)->Acquire(w2->worker_id())->has_job());
  std::string no_gpu;
  BOOST_TEST(!JobMatches(*spec, "llama", "gpu", cpu_lib, &no_gpu));
  BOOST_TEST(no_gpu.find("no GPU backend") != std::string::npos, no_gpu);
  v1::WorkerInventory gpu_lib = cpu_lib;
  gpu_lib.set_name("gpu-lib");
  gpu_lib.set_llama_cpp_gpu(true);
  auto w3 = (*store)->Register(gpu_lib);
  BOOST_REQUIRE(w3.ok());
  BOOST_TEST((*store)->Acquire(w3->worker_id())->has_job());
}

}  // namespace tcobench
