#include "workers/bench/comparison.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/build_info.h"
#include "common/base/clock.h"
#include "common/base/statistics.h"
#include "common/base/status_macros.h"
#include "common/spec/spec.h"
#include "workers/bench/endpoint_variant.h"
#include "workers/bench/engine_runtime.h"
#include "workers/bench/interference.h"
#include "workers/bench/results.h"
#include "workers/bench/system_info.h"
#include "workers/energy/energy_meter.h"
#include "workers/engine/cuda/cuda_backend.h"
#include "workers/engine/evaluators.h"
#include "workers/engine/isa.h"
#include "workers/engine/llama_model.h"
#include "workers/engine/quantizer.h"
#include "workers/engine/tensor_type.h"
#include "workers/llamacpp/llamacpp.h"
#include "workers/loadgen/scenario.h"

namespace tcobench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void Progress(const LocalRunOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

void Phase(const LocalRunOptions& o, const char* phase) {
  if (o.on_phase) o.on_phase(phase);
}

// A variant's model file, made if the spec asks for a quantized one.
struct PreparedModel {
  fs::path path;
  std::string sha256;
  std::string source_sha256;
};

absl::StatusOr<PreparedModel> PrepareModel(const v1::Variant& v, int index,
                                           const LocalRunOptions& o, v1::ModelInfo* info) {
  const std::string at = absl::StrCat("variants[", index, "]");
  const fs::path source = ResolvePath(o.model_root, v.model());
  if (!fs::is_regular_file(source)) {
    return absl::NotFoundError(absl::StrCat(at, ".model: no file ", source.string()));
  }
  PreparedModel m;
  Progress(o, absl::StrCat(v.name(), ": hashing ", source.string()));
  TCOBENCH_ASSIGN_OR_RETURN(m.source_sha256, Sha256File(source));
  if (!v.sha256().empty() && v.sha256() != m.source_sha256) {
    return absl::FailedPreconditionError(absl::StrCat(at, ".sha256: ", source.string(), " has sha256 ",
                                                      m.source_sha256, ", the spec pins ", v.sha256()));
  }
  m.path = source;
  m.sha256 = m.source_sha256;
  if (!v.quantize().empty()) {
    const std::optional<QuantRecipe> recipe = FindQuantRecipe(v.quantize());
    if (!recipe.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".quantize: unknown type '", v.quantize(),
                                                     "'; known: ", QuantRecipeNames()));
    }
    const fs::path dir = o.cache_dir / "variants";
    m.path = dir / absl::StrCat(m.source_sha256.substr(0, 16), "-", recipe->name, ".gguf");
    if (!fs::is_regular_file(m.path)) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) {
        return absl::PermissionDeniedError(
            absl::StrCat("cache directory ", dir.string(), ": ", ec.message()));
      }
      Progress(o, absl::StrCat(v.name(), ": quantizing to ", recipe->name, " (made once, cached in ",
                               dir.string(), ")"));
      // Written under a temporary name and renamed: a cut-off run leaves no
      // half file behind that a later run would take for the variant.
      const fs::path tmp = fs::path(m.path).concat(absl::StrCat(".tmp", ::getpid()));
      QuantizeOptions qo;
      qo.n_threads = o.threads;
      QuantizeSummary summary;
      if (absl::Status s = QuantizeModel(source, tmp, *recipe, qo, &summary); !s.ok()) {
        fs::remove(tmp, ec);
        return absl::Status(s.code(), absl::StrCat(at, ".quantize: ", s.message()));
      }
      fs::rename(tmp, m.path, ec);
      if (ec) return absl::InternalError(absl::StrCat("cannot place ", m.path.string(), ": ", ec.message()));
    }
    TCOBENCH_ASSIGN_OR_RETURN(m.sha256, Sha256File(m.path));
    info->set_quantized_from(recipe->name);
  }
  info->set_variant(v.name());
  info->set_path(m.path.string());
  info->set_source_path(source.string());
  info->set_sha256(m.sha256);
  info->set_source_sha256(m.source_sha256);
  info->set_file_bytes(static_cast<int64_t>(fs::file_size(m.path)));
  return m;
}

absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenMeter(const LocalRunOptions& o, int threads,
                                                       const std::string& device, std::string* why) {
  auto model_meter = [&] {
    CpuModelOptions mo;
    mo.tdp_watts = o.cpu_tdp_watts;
    mo.cpu_model = CpuModelName();
    mo.cores_total = CpuCount();
    mo.cores_used = threads;
    return MakeCpuModelMeter(mo);
  };
  if (o.energy == "none") return std::unique_ptr<EnergyMeter>();
  if (o.energy == "model") return model_meter();
  if (o.energy == "rapl") return OpenRaplMeter(o.powercap_root);
  if (o.energy == "nvml") return OpenNvmlMeter(o.nvml_library);
  if (o.energy != "auto") {
    return absl::InvalidArgumentError(
        absl::StrCat("--energy: unknown source '", o.energy, "' (auto, rapl, nvml, model, none)"));
  }
  if (device != "cpu") {  // on a GPU: its own energy counter first
    auto nvml = OpenNvmlMeter(o.nvml_library);
    if (nvml.ok()) return nvml;
    *why = absl::StrCat("NVML unavailable (", nvml.status().message(), "); ");
  }
  auto rapl = OpenRaplMeter(o.powercap_root);
  if (rapl.ok()) return rapl;
  absl::StrAppend(why, "RAPL unavailable (", rapl.status().message(), "); ");
  return model_meter();
}

bool SameVocabulary(const LogitsModel& a, const LogitsModel& b) {
  return a.n_vocab() == b.n_vocab() && a.TokenTexts() == b.TokenTexts();
}

// A variant's model loaded into its runtime: the engine's, or libllama's.
struct Loaded {
  std::unique_ptr<LlamaModel> model;            // engine
  std::unique_ptr<LogitsModel> engine_logits;   // engine: the evaluators' view of `model`
  std::unique_ptr<LlamaCppModel> llama;         // llamacpp
  double load_seconds = 0;
  int threads = 0;

  const LogitsModel& logits() const { return llama != nullptr ? *llama : *engine_logits; }
  absl::StatusOr<std::unique_ptr<Runtime>> MakeRuntime(int n_seq, int64_t n_ctx) const {
    if (llama != nullptr) return llama->MakeRuntime(n_seq, n_ctx);
    return MakeEngineRuntime(*model, n_seq, n_ctx);
  }
};

// The runtime a variant runs on (the spec leaves the engine unnamed).
std::string RuntimeOf(const v1::Variant& v) { return v.runtime().empty() ? std::string("engine") : v.runtime(); }

// Whether a llamacpp variant offloads layers to a GPU (its energy then comes
// from NVML first, as the engine's on a GPU device does).
bool UsesGpu(const v1::Variant& v, const std::string& device) {
  if (v.runtime() != "llamacpp") return device != "cpu";
  const absl::StatusOr<int> layers = LlamaCppGpuLayers(v.llamacpp(), device != "cpu");
  return layers.ok() && *layers != 0;
}

absl::StatusOr<Loaded> Load(const v1::Variant& v, const fs::path& path, int threads, const std::string& device,
                            const LocalRunOptions& o) {
  Loaded l;
  l.threads = threads;
  const auto t = Clock::now();
  if (v.runtime() == "llamacpp") {
    TCOBENCH_ASSIGN_OR_RETURN(std::shared_ptr<LlamaCppLibrary> lib,
                              OpenLlamaCpp(o.llama_lib));
    LlamaCppOptions lo;
    lo.threads = threads;
    lo.batch = v.llamacpp().batch();
    lo.ubatch = v.llamacpp().ubatch();
    if (!v.llamacpp().flash_attention().empty()) lo.flash_attention = v.llamacpp().flash_attention();
    if (!v.llamacpp().kv_cache_type().empty()) lo.kv_cache_type = v.llamacpp().kv_cache_type();
    TCOBENCH_ASSIGN_OR_RETURN(lo.gpu_layers, LlamaCppGpuLayers(v.llamacpp(), device != "cpu"));
    TCOBENCH_ASSIGN_OR_RETURN(l.llama, LlamaCppModel::Open(std::move(lib), path, lo));
  } else {
    TCOBENCH_ASSIGN_OR_RETURN(l.model,
                              LlamaModel::Open(path, ModelOptions{threads, /*populate=*/true, device}));
    l.engine_logits = EngineLogits(*l.model);
  }
  l.load_seconds = SecondsSince(t);
  return l;
}

absl::Status RunAccuracy(const v1::ComparisonSpec& spec, const v1::Variant& variant,
                         const LogitsModel& model, const fs::path& baseline_path, int threads,
                         const std::string& device, const LocalRunOptions& o,
                         v1::AccuracyResult* out) {
  if (!spec.has_accuracy()) return absl::OkStatus();
  const v1::Accuracy& acc = spec.accuracy();
  if (acc.has_perplexity()) {
    const auto& p = acc.perplexity();
    TCOBENCH_ASSIGN_OR_RETURN(std::string text,
                              ReadFileText(ResolvePath(o.data_root, p.text()), "accuracy.perplexity.text"));
    ChunkOptions co;
    co.ctx = p.ctx();
    co.max_chunks = p.max_chunks();
    co.progress = [&](int64_t done, int64_t total) {
      Progress(o, absl::StrCat(variant.name(), ": perplexity chunk ", done, "/", total));
    };
    TCOBENCH_ASSIGN_OR_RETURN(PerplexityResult r, EvaluatePerplexity(model, text, co));
    v1::PerplexityResult* pr = out->mutable_perplexity();
    pr->set_text(p.text());
    pr->set_ctx(p.ctx());
    pr->set_ppl(r.ppl);
    pr->set_ppl_stderr(r.ppl_stderr);
    pr->set_mean_nll(r.mean_nll);
    pr->set_bits_per_byte(r.bits_per_byte);
    pr->set_chunks(r.chunks);
    pr->set_scored_tokens(r.scored_tokens);
    if (acc.kl_divergence()) {
      v1::KldResult* k = out->mutable_kld();
      if (variant.name() == spec.baseline()) {
        k->set_applicable(false);
        k->set_note("this is the baseline");
      } else if (baseline_path.empty()) {
        k->set_applicable(false);
        k->set_note("the baseline runs on an endpoint: its logits are not available here");
      } else {
        const v1::Variant* base_variant = nullptr;
        for (const v1::Variant& v : spec.variants()) {
          if (v.name() == spec.baseline()) base_variant = &v;
        }
        TCOBENCH_ASSIGN_OR_RETURN(Loaded base, Load(*base_variant, baseline_path, threads, device, o));
        if (!SameVocabulary(base.logits(), model)) {
          k->set_applicable(false);
          k->set_note("vocabulary differs from the baseline's: KL divergence and top-1 agreement do "
                      "not apply; compare perplexity's bits per byte");
        } else {
          co.progress = [&](int64_t done, int64_t total) {
            Progress(o, absl::StrCat(variant.name(), ": KL divergence chunk ", done, "/", total));
          };
          TCOBENCH_ASSIGN_OR_RETURN(KldResult r2, EvaluateKld(base.logits(), model, text, co));
          k->set_applicable(true);
          k->set_mean_kld(r2.mean_kld);
          k->set_mean_kld_stderr(r2.mean_kld_stderr);
          k->set_kld_p99(r2.kld_p99);
          k->set_kld_median(r2.kld_median);
          k->set_kld_max(r2.kld_max);
          k->set_same_top1(r2.same_top1);
          k->set_same_top1_stderr(r2.same_top1_stderr);
          k->set_rms_dp(r2.rms_dp);
          k->set_ppl_ratio(r2.ppl_ratio);
          k->set_scored_tokens(r2.scored_tokens);
        }
      }
    }
  }
  for (int i = 0; i < acc.choice_size(); ++i) {
    const auto& c = acc.choice(i);
    TCOBENCH_ASSIGN_OR_RETURN(std::vector<ChoiceTask> tasks, LoadChoiceTasks(c, i, o.data_root));
    TCOBENCH_ASSIGN_OR_RETURN(
        ChoiceResult r, EvaluateChoice(model, tasks, [&](int64_t done, int64_t total) {
          Progress(o, absl::StrCat(variant.name(), ": ", TaskName(c.task()), " ", done, "/", total));
        }));
    v1::ChoiceResult* cr = out->add_choice();
    cr->set_task(TaskName(c.task()));
    cr->set_file(c.file());
    cr->set_n(r.n);
    cr->set_accuracy(r.accuracy);
    cr->set_accuracy_stderr(r.accuracy_stderr);
    cr->set_accuracy_unnormalized(r.accuracy_unnormalized);
    cr->set_accuracy_unnormalized_stderr(r.accuracy_unnormalized_stderr);
    cr->set_method("loglikelihood");
  }
  return absl::OkStatus();
}

Scenario ToScenario(v1::Workload::Scenario s) {
  switch (s) {
    case v1::Workload::SERVER:
      return Scenario::kServer;
    case v1::Workload::OFFLINE:
      return Scenario::kOffline;
    default:
      return Scenario::kSingleStream;
  }
}

// One point of the sweep on a loaded model.
absl::Status MeasurePoint(const v1::ComparisonSpec& spec, const v1::Variant& variant,
                          const Loaded& loaded, int32_t prompt_tokens, int32_t output_tokens,
                          std::span<const int32_t> corpus, EnergyMeter* meter,
                          const std::string& meter_note, const LocalRunOptions& o, int repetition,
                          v1::VariantResult* out) {
  const v1::Workload& w = spec.workload();
  ScenarioOptions so;
  so.scenario = ToScenario(w.scenario());
  so.prompt_tokens = prompt_tokens;
  so.output_tokens = output_tokens;
  so.warmup_runs = w.warmup_runs();
  so.measured_runs = w.measured_runs();
  so.min_duration_seconds = w.min_duration_seconds();
  so.target_qps = w.target_qps();
  so.concurrency = w.concurrency();
  so.seed = w.seed();
  so.prompt_corpus = corpus;
  const int64_t n_ctx =
      variant.ctx() > 0 ? variant.ctx() : static_cast<int64_t>(prompt_tokens) + output_tokens + 1;
  if (n_ctx < prompt_tokens + output_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("variant ", variant.name(), ": ctx ", n_ctx,
                                                   " is shorter than prompt + output tokens"));
  }
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<Runtime> runtime, loaded.MakeRuntime(so.concurrency, n_ctx));
  MeasuredWindow window(meter);
  so.on_window_open = [&] { window.Open(); };
  so.on_window_close = [&] { window.Close(); };
  const std::string run_label =
      w.repetitions() > 1 ? absl::StrCat(", run ", repetition + 1, "/", w.repetitions()) : std::string();
  Progress(o, absl::StrCat(variant.name(), ": ", ScenarioName(w.scenario()), " prompt ", prompt_tokens,
                           " output ", output_tokens, run_label, ": measuring (", so.warmup_runs, " warm-up, >= ",
                           so.measured_runs, " requests, >= ", so.min_duration_seconds, " s)"));
  TCOBENCH_ASSIGN_OR_RETURN(ScenarioRun run, RunScenario(*runtime, so));
  *out->mutable_interference() = window.interference();
  if (out->interference().contaminated()) {
    Progress(o, absl::StrCat(variant.name(), ": contaminated measurement: ", out->interference().reason()));
  }

  // The harness alone: the same loop around a runtime that does nothing.
  std::unique_ptr<Runtime> null_runtime = MakeNullRuntime(so.concurrency, runtime->vocab_size());
  ScenarioOptions no = so;
  no.scenario = Scenario::kOffline;
  no.warmup_runs = 1;
  no.min_duration_seconds = 0;
  no.on_window_open = no.on_window_close = nullptr;
  TCOBENCH_ASSIGN_OR_RETURN(ScenarioRun null_run, RunScenario(*null_runtime, no));

  out->set_variant(variant.name());
  out->set_runtime(RuntimeOf(variant));
  out->set_scenario(ScenarioName(w.scenario()));
  out->set_prompt_tokens(prompt_tokens);
  out->set_output_tokens(output_tokens);
  out->set_warmup_runs(so.warmup_runs);
  out->set_concurrency(so.concurrency);
  out->set_target_qps(so.target_qps);
  out->set_measured_seconds(run.window_seconds);
  int64_t out_tokens = 0;
  std::vector<int32_t> prompt(static_cast<size_t>(prompt_tokens));
  for (const RequestTiming& t : run.requests) {
    out_tokens += t.output_tokens;
    v1::RequestSample* s = out->add_samples();
    s->set_repetition(repetition);
    s->set_prompt_tokens(t.prompt_tokens);
    s->set_output_tokens(t.output_tokens);
    s->set_arrival_seconds(t.arrival);
    s->set_queue_seconds(t.start - t.arrival);
    s->set_ttft_seconds(t.first_token - t.arrival);
    s->set_tpot_seconds(t.output_tokens > 1 ? (t.end - t.first_token) / (t.output_tokens - 1) : 0);
    s->set_e2e_seconds(t.end - t.arrival);
    PromptFor(so, runtime->vocab_size(), t.prompt_index, prompt);
    for (int32_t id : prompt) s->add_prompt_ids(id);
  }
  out->set_repetitions(1);
  v1::Throughput* th = out->mutable_throughput();
  th->set_prefill_tokens_per_second(run.prefill_seconds > 0 ? run.prefill_tokens / run.prefill_seconds : 0);
  th->set_decode_tokens_per_second(run.decode_seconds > 0 ? run.decode_tokens / run.decode_seconds : 0);
  th->set_requests_per_second(run.window_seconds > 0 ? run.requests.size() / run.window_seconds : 0);
  th->set_output_tokens_per_second(run.window_seconds > 0 ? out_tokens / run.window_seconds : 0);
  out->add_run_output_tokens_per_second(th->output_tokens_per_second());
  SummarizeSamples(so.seed, out);

  FillEnergy(meter, window.reading(), meter_note, out_tokens, static_cast<int64_t>(run.requests.size()),
             "energy not measured (--energy none)", out->mutable_energy());
  v1::HarnessOverhead* h = out->mutable_harness_overhead();
  if (null_run.steps > 0 && run.steps > 0) {
    const double per_step = null_run.window_seconds / static_cast<double>(null_run.steps);
    h->set_seconds_per_step(per_step);
    h->set_fraction_of_decode_step(per_step / (run.decode_seconds / static_cast<double>(run.steps)));
  }
  return absl::OkStatus();
}

absl::Status Stopped(const LocalRunOptions& o) {
  if (o.should_stop && o.should_stop()) return absl::CancelledError("run stopped");
  return absl::OkStatus();
}

// A flock held for the object's life; the wait is measured. Measuring
// takes it exclusive; the other CPU-heavy phases (quantizing, accuracy)
// take it shared, so that they run side by side on a host but never beside
// a measurement (which would be contaminated: docs/harness.md).
enum class LockMode { kShared, kExclusive };
class HostLock {
 public:
  static absl::StatusOr<std::unique_ptr<HostLock>> Take(const fs::path& file, double* waited,
                                                        LockMode mode = LockMode::kExclusive) {
    const int fd = ::open(file.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("host lock ", file.string(), ": cannot open"));
    const auto t = Clock::now();
    while (::flock(fd, mode == LockMode::kExclusive ? LOCK_EX : LOCK_SH) != 0) {
      if (errno != EINTR) {
        ::close(fd);
        return absl::InternalError(absl::StrCat("host lock ", file.string(), ": flock failed"));
      }
    }
    *waited += SecondsSince(t);
    return std::unique_ptr<HostLock>(new HostLock(fd));
  }
  ~HostLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  explicit HostLock(int fd) : fd_(fd) {}
  int fd_;
};

// The machine and build the result was measured on, and the device.
void FillHostManifest(const v1::ComparisonSpec& spec, const LocalRunOptions& o, int threads,
                      const std::string& device, v1::Manifest* m) {
  m->set_start_time(UtcTimestamp());
  m->set_tcobench_version(VersionString());
  m->set_git_commit(BuildCommitId());
  m->set_compiler(CompilerVersion());
  m->set_isa(IsaName(ActiveIsa()));
  m->set_cpu_model(CpuModelName());
  m->set_cpu_cores(CpuCount());
  m->set_cpu_flags(CpuFlags());
  m->set_memory_bytes(MemoryBytes());
  m->set_os(OsName());
  m->set_kernel(KernelVersion());
  m->set_hostname(HostName());
  m->set_seed(spec.workload().seed());
  const GpuInventory gpus = ProbeGpus(o.nvml_library);
  for (size_t i = 0; i < gpus.names.size(); ++i) {
    m->set_gpu(m->gpu().empty() ? gpus.names[i] : absl::StrCat(m->gpu(), "; ", gpus.names[i]));
  }
  m->set_gpu_driver(gpus.driver);
  m->set_threads(threads);
  m->set_device(device);
  if (device != "cpu") {
    const absl::StatusOr<int> index = CudaDeviceIndex(device);
    for (const CudaDeviceInfo& d : ListCudaDevices()) {
      if (!index.ok() || d.index != *index) continue;
      m->set_device_description(absl::StrFormat("%s, %.1f GiB, compute capability %d.%d", d.name,
                                                d.memory_bytes / 1073741824.0, d.compute_major,
                                                d.compute_minor));
      m->set_cuda_version(absl::StrFormat("driver %d.%d, runtime %d.%d", d.driver_version / 1000,
                                          d.driver_version % 1000 / 10, d.runtime_version / 1000,
                                          d.runtime_version % 1000 / 10));
      m->set_gpu_clocks(absl::StrFormat("SM %d MHz, memory %d MHz (maxima)", d.sm_clock_mhz,
                                        d.memory_clock_mhz));
    }
  }
}

// Every variant's file, made (quantized) where needed, before anything is
// timed; `baseline` is the baseline variant's.
absl::StatusOr<std::vector<PreparedModel>> PrepareModels(const v1::ComparisonSpec& spec, const LocalRunOptions& o,
                                                         v1::Manifest* m, fs::path* baseline, double* lock_wait) {
  Phase(o, "preparing");
  std::unique_ptr<HostLock> shared;  // hashing and quantizing use the CPUs: never beside a measurement
  if (!o.host_lock_file.empty()) {
    TCOBENCH_ASSIGN_OR_RETURN(shared, HostLock::Take(o.host_lock_file, lock_wait, LockMode::kShared));
  }
  std::vector<PreparedModel> models;
  for (int i = 0; i < spec.variants_size(); ++i) {
    if (spec.variants(i).runtime() == "openai") {  // the server has its model: nothing to prepare
      v1::ModelInfo* info = m->add_models();
      info->set_variant(spec.variants(i).name());
      info->set_runtime("openai");
      info->set_source_path(absl::StrCat("openai endpoint ", spec.variants(i).endpoint(),
                                         spec.variants(i).served_model().empty()
                                             ? std::string()
                                             : absl::StrCat(", model ", spec.variants(i).served_model())));
      models.emplace_back();
      continue;
    }
    TCOBENCH_ASSIGN_OR_RETURN(PreparedModel pm, PrepareModel(spec.variants(i), i, o, m->add_models()));
    if (spec.variants(i).name() == spec.baseline()) *baseline = pm.path;
    models.push_back(std::move(pm));
  }
  return models;
}

// A loaded model's size, parameters and tensor types, for the manifest and
// each result's memory section.
struct ModelSize {
  int64_t bytes = 0, n_params = 0;
};
ModelSize DescribeModel(const GgufFile& gguf, v1::ModelInfo* info) {
  std::map<std::string, int64_t> types;
  ModelSize size;
  for (const GgufTensorInfo& t : gguf.tensors()) {
    ++types[TypeName(t.type)];
    size.bytes += t.n_bytes;
    size.n_params += t.n_elements;
  }
  for (const auto& [name, count] : types) (*info->mutable_tensor_types())[name] = count;
  info->set_n_params(size.n_params);
  return size;
}

// What one variant's run needs besides its model.
struct VariantRun {
  const v1::ComparisonSpec& spec;
  const std::vector<int32_t>& prompts;
  const std::vector<int32_t>& outputs;
  const std::string& prompt_text;  // "" for random prompts
  const fs::path& baseline_path;
  const LocalRunOptions& o;
  const std::string& device;  // resolved
};

// Loads one variant, measures every workload point on every hardware target
// under the host's measurement lock, then, after its last run, its accuracy
// suites (not timed: the lock is released first). Run `repetition` of
// workload.repetitions: the first adds the variant's result rows (from
// *first_result on), later ones add their samples to those rows.
absl::Status RunVariant(const VariantRun& run, int index, const PreparedModel& prepared, int default_threads,
                        int repetition, int* first_result, double* lock_wait, v1::ComparisonResult* result) {
  const v1::ComparisonSpec& spec = run.spec;
  const LocalRunOptions& o = run.o;
  const v1::Variant& variant = spec.variants(index);
  const int threads = variant.threads() > 0 ? variant.threads() : default_threads;
  std::string meter_note;
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<EnergyMeter> meter,
                            OpenMeter(o, threads, UsesGpu(variant, run.device) ? "gpu" : "cpu", &meter_note));
  ResetPeakRss();
  Phase(o, "loading");
  Progress(o, absl::StrCat(variant.name(), ": loading ", prepared.path.string(),
                           variant.runtime() == "llamacpp" ? " into libllama" : ""));
  TCOBENCH_ASSIGN_OR_RETURN(Loaded loaded, Load(variant, prepared.path, threads, run.device, o));
  v1::ModelInfo* info = result->mutable_manifest()->mutable_models(index);
  info->set_runtime(RuntimeOf(variant));
  ModelSize size;
  if (loaded.llama != nullptr) {
    TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> gguf, GgufFile::Open(prepared.path));
    size = DescribeModel(*gguf, info);
    info->set_runtime_build(loaded.llama->build().Describe());
    info->set_runtime_system_info(loaded.llama->build().system_info);
    info->set_runtime_options(loaded.llama->OptionsSummary());
  } else {
    size = DescribeModel(loaded.model->gguf(), info);
  }
  std::vector<int32_t> corpus;
  if (!run.prompt_text.empty()) corpus = loaded.logits().Encode(run.prompt_text, /*add_special=*/false);

  if (repetition == 0) *first_result = result->results_size();
  int row = *first_result;
  std::unique_ptr<HostLock> lock;
  if (!o.host_lock_file.empty()) {
    Phase(o, "waiting_for_lock");
    Progress(o, absl::StrCat(variant.name(), ": waiting for the host's measurement lock"));
    TCOBENCH_ASSIGN_OR_RETURN(lock, HostLock::Take(o.host_lock_file, lock_wait));
  }
  Phase(o, "measuring");
  for (int32_t p : run.prompts) {
    for (int32_t n_out : run.outputs) {
      for (const v1::Hardware& hw : spec.hardware()) {
        TCOBENCH_RETURN_IF_ERROR(Stopped(o));
        v1::VariantResult one;
        one.set_hardware(hw.name());
        one.set_advertised_usd_per_hour(o.cost_per_hour_usd);
        TCOBENCH_RETURN_IF_ERROR(
            MeasurePoint(spec, variant, loaded, p, n_out, corpus, meter.get(), meter_note, o, repetition, &one));
        v1::VariantResult* r = nullptr;
        if (repetition == 0) {
          r = result->add_results();
          *r = std::move(one);
        } else {
          r = result->mutable_results(row++);
          MergeRun(one, spec.workload().seed(), r);
        }
        v1::Memory* mem = r->mutable_memory();
        mem->set_model_bytes(size.bytes);
        mem->set_bits_per_weight(size.n_params > 0 ? 8.0 * size.bytes / size.n_params : 0);
        mem->set_load_seconds(loaded.load_seconds);
        mem->set_peak_rss_bytes(PeakRssBytes());
      }
    }
  }
  lock.reset();
  TCOBENCH_RETURN_IF_ERROR(Stopped(o));
  if (repetition + 1 < std::max(1, spec.workload().repetitions())) return absl::OkStatus();
  v1::AccuracyResult accuracy;
  // Accuracy is not timed: other workers' accuracy runs may share the host,
  // but no measurement runs beside it.
  if (!o.host_lock_file.empty()) {
    TCOBENCH_ASSIGN_OR_RETURN(lock, HostLock::Take(o.host_lock_file, lock_wait, LockMode::kShared));
  }
  Phase(o, "accuracy");
  TCOBENCH_RETURN_IF_ERROR(RunAccuracy(spec, variant, loaded.logits(), run.baseline_path, threads, run.device, o,
                                       &accuracy));
  for (int r = *first_result; r < result->results_size() && result->results(r).variant() == variant.name(); ++r) {
    *result->mutable_results(r)->mutable_accuracy() = accuracy;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ResolveDevice(const v1::ComparisonSpec& spec, const std::string& device) {
  if (device != "auto" && device != "cpu" && !CudaDeviceIndex(device).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device '", device, "' is unknown; devices: auto, cpu, cuda, cuda:N"));
  }
  bool wants_gpu = false, wants_cpu = false;
  std::string gpu_target, cpu_target;
  for (const v1::Hardware& h : spec.hardware()) {
    const std::string& cls = h.selector().class_();
    if (cls == "gpu") {
      wants_gpu = true;
      gpu_target = h.name();
    } else if (cls == "cpu") {
      wants_cpu = true;
      cpu_target = h.name();
    } else if (!cls.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("hardware '", h.name(), "': selector class '",
                                                     cls, "' is unknown (cpu, gpu)"));
    }
  }
  if (wants_gpu && wants_cpu) {
    return absl::InvalidArgumentError(absl::StrCat(
        "targets '", cpu_target, "' (class cpu) and '", gpu_target,
        "' (class gpu) need different devices: a local run measures on one; run them as "
        "separate comparisons, or through a coordinator with a worker for each"));
  }
  const bool gpu_device = device != "auto" && device != "cpu";
  if (device == "auto") return wants_gpu ? std::string("cuda:0") : std::string("cpu");
  if (wants_gpu && !gpu_device) {
    return absl::InvalidArgumentError(absl::StrCat("hardware '", gpu_target,
                                                   "' asks for class gpu, but the device is ",
                                                   device, " (use --device cuda:N)"));
  }
  if (wants_cpu && gpu_device) {
    return absl::InvalidArgumentError(absl::StrCat("hardware '", cpu_target,
                                                   "' asks for class cpu, but the device is ",
                                                   device));
  }
  return device == "cuda" ? std::string("cuda:0") : device;
}

FlagSpec LlamaLibFlagSpec() {
  return {"llama-lib", "", true, "PATH",
          absl::StrCat("libllama.so for variants with runtime llamacpp (default: ",
                       DefaultLlamaLib().empty() ? std::string("none in this build") : DefaultLlamaLib().string(), ")")};
}

absl::StatusOr<LlamaCppBuild> OpenLlamaLibArg(const Args& args, fs::path* path) {
  *path = args.Has("llama-lib") ? fs::path(args.Get("llama-lib")) : DefaultLlamaLib();
  TCOBENCH_ASSIGN_OR_RETURN(std::shared_ptr<LlamaCppLibrary> lib, OpenLlamaCpp(*path));
  return BuildOf(*lib);
}

fs::path DefaultCacheDir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "tcobench";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".cache" / "tcobench";
  }
  return fs::temp_directory_path() / "tcobench-cache";
}

absl::StatusOr<v1::ComparisonResult> RunComparisonLocal(const v1::ComparisonSpec& raw_spec,
                                                        const LocalRunOptions& o) {
  TCOBENCH_RETURN_IF_ERROR(ValidateSpec(raw_spec));
  const v1::ComparisonSpec spec = WithDefaults(raw_spec);
  TCOBENCH_ASSIGN_OR_RETURN(const std::string device, ResolveDevice(spec, o.device));
  if (o.cache_dir.empty()) return absl::InvalidArgumentError("no cache directory");
  TCOBENCH_ASSIGN_OR_RETURN(std::vector<int32_t> prompts,
                            SweepValues(spec.workload().prompt_tokens(), "workload.promptTokens"));
  TCOBENCH_ASSIGN_OR_RETURN(std::vector<int32_t> outputs,
                            SweepValues(spec.workload().output_tokens(), "workload.outputTokens"));

  // llama.cpp variants: the library opens and can place what they ask
  // for, checked before anything is prepared or measured.
  for (const v1::Variant& v : spec.variants()) {
    if (v.runtime() != "llamacpp" || (!o.measure_only.empty() && v.name() != o.measure_only)) continue;
    TCOBENCH_ASSIGN_OR_RETURN(std::shared_ptr<LlamaCppLibrary> lib, OpenLlamaCpp(o.llama_lib));
    if (UsesGpu(v, device) && !BuildOf(*lib).gpu_offload) {
      return absl::InvalidArgumentError(absl::StrCat(
          "variant ", v.name(), ": GPU layers asked for, but ", BuildOf(*lib).Describe(),
          " has no GPU backend (", BuildOf(*lib).system_info, "); set llamacpp.gpuLayers to 0 or name a GPU build"));
    }
  }

  v1::ComparisonResult result;
  *result.mutable_spec() = spec;
  const int default_threads = o.threads > 0 ? o.threads : CpuCount();
  FillHostManifest(spec, o, default_threads, device, result.mutable_manifest());
  fs::path baseline_path;
  double lock_wait = 0;
  TCOBENCH_ASSIGN_OR_RETURN(std::vector<PreparedModel> models,
                            PrepareModels(spec, o, result.mutable_manifest(), &baseline_path, &lock_wait));
  // Prompts from a text, when the workload names one (tokenized per model).
  std::string prompt_text;
  if (!spec.workload().prompt_text().empty()) {
    TCOBENCH_ASSIGN_OR_RETURN(prompt_text, ReadFileText(ResolvePath(o.data_root, spec.workload().prompt_text()),
                                                    "workload.promptText"));
  }
  const VariantRun run{spec, prompts, outputs, prompt_text, baseline_path, o, device};
  // Repetitions interleave the variants (A B A B ...), so that a drift of
  // the machine over time lands on all of them alike.
  std::vector<int> first_result(static_cast<size_t>(spec.variants_size()), 0);
  for (int rep = 0; rep < std::max(1, spec.workload().repetitions()); ++rep) {
    for (int i = 0; i < spec.variants_size(); ++i) {
      if (!o.measure_only.empty() && spec.variants(i).name() != o.measure_only) continue;
      TCOBENCH_RETURN_IF_ERROR(Stopped(o));
      if (spec.variants(i).runtime() == "openai") {
        EndpointVariantRun er{spec, spec.variants(i), o, rep, nullptr};
        if (!o.host_lock_file.empty()) {
          er.lock_for_measuring = [&]() -> absl::StatusOr<std::shared_ptr<void>> {
            Phase(o, "waiting_for_lock");
            TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<HostLock> lock, HostLock::Take(o.host_lock_file, &lock_wait));
            Phase(o, "measuring");
            return std::shared_ptr<void>(std::move(lock));
          };
        }
        Phase(o, "measuring");
        TCOBENCH_RETURN_IF_ERROR(RunEndpointVariant(er, &first_result[static_cast<size_t>(i)], &result));
        continue;
      }
      TCOBENCH_RETURN_IF_ERROR(RunVariant(run, i, models[i], default_threads, rep, &first_result[static_cast<size_t>(i)],
                                          &lock_wait, &result));
    }
  }
  result.mutable_manifest()->set_host_lock_wait_seconds(lock_wait);
  result.mutable_manifest()->set_end_time(UtcTimestamp());
  return result;
}

}  // namespace tcobench
