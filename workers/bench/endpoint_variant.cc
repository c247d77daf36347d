#include "workers/bench/endpoint_variant.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/status_macros.h"
#include "common/spec/spec.h"
#include "workers/bench/endpoint_accuracy.h"
#include "workers/bench/interference.h"
#include "workers/bench/prometheus_meter.h"
#include "workers/bench/results.h"
#include "workers/bench/system_info.h"
#include "workers/endpoint/load.h"
#include "workers/energy/energy_meter.h"
#include "workers/engine/gguf.h"
#include "workers/engine/rng.h"
#include "workers/engine/tokenizer.h"

namespace tcobench {
namespace {

namespace fs = std::filesystem;

// Words of filler text for synthetic prompts when the workload names no text.
constexpr char kFiller[] =
    "The old lighthouse keeper climbed the stairs every evening to light the lamp that guided ships past the "
    "rocks. One winter night a storm rolled in from the sea, and the wind howled against the glass while the "
    "waves broke high over the harbour wall. He trimmed the wick, polished the lens and watched the beam sweep "
    "across the dark water, counting the seconds between each flash as his father had taught him long ago.";

// Where request i's prompt comes from.
class PromptSource {
 public:
  static absl::StatusOr<PromptSource> Make(const v1::ComparisonSpec& spec, const v1::Variant& v,
                                           const LocalRunOptions& o, std::string* how) {
    PromptSource s;
    s.seed_ = spec.workload().seed();
    const v1::Workload& w = spec.workload();
    if (!w.requests_file().empty()) {
      TCOBENCH_ASSIGN_OR_RETURN(std::string text, ReadFileText(ResolvePath(o.data_root, w.requests_file()),
                                                                "workload.requestsFile"));
      int line_no = 0;
      for (absl::string_view line : absl::StrSplit(text, '\n')) {
        ++line_no;
        if (absl::StripAsciiWhitespace(line).empty()) continue;
        const nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
        const std::string at = absl::StrCat("workload.requestsFile line ", line_no);
        if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(at + ": not a JSON object");
        EndpointPrompt p;
        if (j.contains("prompt") && j["prompt"].is_string()) {
          p.prompt = j["prompt"].get<std::string>();
        } else if (j.contains("messages") && j["messages"].is_array()) {
          p.messages_json = j["messages"].dump();
          for (const auto& m : j["messages"]) {
            if (m.is_object() && m.contains("content") && m["content"].is_string()) {
              p.prompt += m["content"].get<std::string>();
            }
          }
        } else {
          return absl::InvalidArgumentError(at + ": needs \"prompt\" (a string) or \"messages\" (a list)");
        }
        p.max_tokens = -1;
        if (j.contains("max_tokens")) {
          if (!j["max_tokens"].is_number_integer() || j["max_tokens"].get<int64_t>() < 1) {
            return absl::InvalidArgumentError(at + ": max_tokens must be a whole number from 1");
          }
          p.max_tokens = j["max_tokens"].get<int>();
        }
        s.requests_.push_back(std::move(p));
      }
      if (s.requests_.empty()) return absl::InvalidArgumentError("workload.requestsFile: no requests in it");
      *how = absl::StrCat(s.requests_.size(), " requests from ", w.requests_file());
    }
    std::string text = kFiller;
    if (!w.prompt_text().empty()) {
      TCOBENCH_ASSIGN_OR_RETURN(text, ReadFileText(ResolvePath(o.data_root, w.prompt_text()), "workload.promptText"));
    }
    if (!v.tokenizer().empty()) {
      TCOBENCH_ASSIGN_OR_RETURN(s.gguf_, GgufFile::Open(ResolvePath(o.model_root, v.tokenizer())));
      TCOBENCH_ASSIGN_OR_RETURN(s.tokenizer_, Tokenizer::FromGguf(*s.gguf_));
      s.corpus_ = s.tokenizer_->Encode(text, AddSpecial::kNo);
      if (s.requests_.empty()) *how = absl::StrCat("prompts of exact token counts (tokenizer ", v.tokenizer(), ")");
    } else {
      for (absl::string_view word : absl::StrSplit(text, absl::ByAnyChar(" \n\t\r"), absl::SkipEmpty())) {
        s.words_.emplace_back(word);
      }
      if (s.requests_.empty()) {
        *how = "prompts of N words (no tokenizer: the server's usage gives their token counts)";
      }
    }
    return s;
  }

  EndpointPrompt Get(uint64_t index, int32_t prompt_tokens, int32_t output_tokens) const {
    const uint64_t r = Rng(seed_ * 0x100000001B3ull + index).Next();  // request i's draw, whatever came before
    if (!requests_.empty()) {
      EndpointPrompt p = requests_[r % requests_.size()];
      if (p.max_tokens < 0) p.max_tokens = output_tokens;
      return p;
    }
    EndpointPrompt p;
    p.max_tokens = output_tokens;
    const size_t n = static_cast<size_t>(prompt_tokens);
    if (tokenizer_ != nullptr && !corpus_.empty()) {
      std::vector<int32_t> ids;
      const size_t start = corpus_.size() > n ? r % (corpus_.size() - n) : 0;
      for (size_t i = 0; i < n; ++i) ids.push_back(corpus_[(start + i) % corpus_.size()]);
      p.prompt = tokenizer_->Decode(ids, /*strip_leading_space=*/true);
      p.prompt_tokens = prompt_tokens;
    } else {
      const size_t start = words_.size() > n ? r % (words_.size() - n) : 0;
      for (size_t i = 0; i < n && !words_.empty(); ++i) {
        if (i > 0) p.prompt += ' ';
        p.prompt += words_[(start + i) % words_.size()];
      }
    }
    return p;
  }

  int64_t CountTokens(absl::string_view text) const {
    return static_cast<int64_t>(tokenizer_->Encode(text, AddSpecial::kNo).size());
  }
  bool has_tokenizer() const { return tokenizer_ != nullptr; }

 private:
  uint64_t seed_ = 1;
  std::vector<EndpointPrompt> requests_;
  std::shared_ptr<GgufFile> gguf_;
  std::shared_ptr<Tokenizer> tokenizer_;
  std::vector<int32_t> corpus_;
  std::vector<std::string> words_;
};

// Energy for endpoint runs: the GPUs of this host through NVML (whole-GPU
// energy: other processes on them count too), RAPL when asked for (the
// server must be on this host), else none: the report prices hardware time.
absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenEndpointMeter(const LocalRunOptions& o, const EndpointTarget& target,
                                                               std::string* note) {
  if (!target.energy_query.empty() && o.energy != "none") {
    absl::StatusOr<std::unique_ptr<EnergyMeter>> m =
        OpenPrometheusMeter(ParseEnergyQuery(target.energy_prometheus, target.energy_query));
    if (m.ok()) {
      *note = "";
      return m;
    }
    // The run goes on without energy (docs/endpoints.md, "Energy").
    *note = absl::StrCat("no energy: the Prometheus query failed (", m.status().message(),
                         "); the cost report prices hardware time only");
    return std::unique_ptr<EnergyMeter>();
  }
  if (o.energy == "rapl") {
    *note = "RAPL of this host's CPU packages (the server must run here); ";
    return OpenRaplMeter(o.powercap_root);
  }
  if (o.energy == "nvml" || o.energy == "auto") {
    auto nvml = OpenNvmlMeter(o.nvml_library);
    if (nvml.ok()) {
      *note = "whole-GPU energy of this host's GPUs (other processes on them count too); ";
      return nvml;
    }
    if (o.energy == "nvml") return nvml.status();
    *note = absl::StrCat("no energy source for an endpoint: NVML unavailable (", nvml.status().message(),
                         "); the cost report prices hardware time only");
    return std::unique_ptr<EnergyMeter>();
  }
  *note = absl::StrCat("energy '", o.energy, "' does not apply to an endpoint (the CPU model estimates the "
                       "engine's own work); the cost report prices hardware time only");
  return std::unique_ptr<EnergyMeter>();
}

EndpointLoad LoadOf(v1::Workload::Scenario s) {
  switch (s) {
    case v1::Workload::SERVER: return EndpointLoad::kServer;
    case v1::Workload::OFFLINE: return EndpointLoad::kOffline;
    case v1::Workload::CONCURRENCY: return EndpointLoad::kConcurrency;
    default: return EndpointLoad::kSingleStream;
  }
}

// Fills one point's row from its run.
void FillRow(const EndpointRun& run, const RequestSlo& slo, uint64_t seed, int repetition, v1::VariantResult* out) {
  v1::EndpointLoadResult* load = out->mutable_load();
  std::vector<double> itl;
  int64_t good = 0, out_tokens = 0, succeeded = 0;
  std::map<std::string, int64_t> sources;
  double server_tpot = 0;
  int64_t server_n = 0;
  for (const EndpointRecord& r : run.records) {
    if (r.error != RequestError::kNone) {
      ++(*load->mutable_errors())[RequestErrorName(r.error)];
      if (load->error_examples_size() < 5) {
        load->add_error_examples(absl::StrCat(RequestErrorName(r.error), ": ", r.error_detail));
      }
      continue;
    }
    ++succeeded;
    ++sources[TokenSourceName(r.token_source)];
    if (MeetsSlo(r, slo)) ++good;
    out_tokens += r.output_tokens;
    AppendInterTokenLatencies(r, &itl);
    if (r.server_tpot_seconds >= 0) server_tpot += r.server_tpot_seconds, ++server_n;
    const RequestMetrics m = MetricsOf(r);
    v1::RequestSample* s = out->add_samples();
    s->set_repetition(repetition);
    s->set_prompt_tokens(static_cast<int32_t>(std::max<int64_t>(0, r.prompt_tokens)));
    s->set_output_tokens(static_cast<int32_t>(r.output_tokens));
    s->set_arrival_seconds(r.scheduled);
    s->set_queue_seconds(std::max(0.0, r.sent - r.scheduled));
    s->set_ttft_seconds(m.ttft);
    s->set_tpot_seconds(std::max(0.0, m.tpot));
    s->set_e2e_seconds(m.e2e);
    s->set_server_tpot_seconds(r.server_tpot_seconds);
  }
  const int64_t n = static_cast<int64_t>(run.records.size());
  const double window = run.window_seconds;
  load->set_requests(n);
  load->set_failed(n - succeeded);
  load->set_error_rate(n > 0 ? static_cast<double>(n - succeeded) / n : 0);
  load->set_goodput_requests_per_second(window > 0 ? good / window : 0);
  load->set_good_fraction(n > 0 ? static_cast<double>(good) / n : 0);
  FillSummary(itl, seed, load->mutable_itl_seconds());
  std::string source;
  for (const auto& [name, count] : sources) source = source.empty() ? name : source + "+" + name;
  load->set_token_count_source(source);
  load->set_achieved_requests_per_second(window > 0 ? n / window : 0);
  load->set_late_sends(run.late_sends);
  load->set_ended_early(run.ended_early);
  load->set_server_tpot_seconds(server_n > 0 ? server_tpot / server_n : 0);
  load->set_client_cpu_seconds_per_request(run.client_seconds_per_request);
  load->set_slo_ttft_seconds(slo.ttft_seconds);
  load->set_slo_tpot_seconds(slo.tpot_seconds);
  load->set_output_tokens(out_tokens);
  out->set_measured_seconds(window);
  v1::Throughput* th = out->mutable_throughput();
  th->set_requests_per_second(window > 0 ? succeeded / window : 0);
  th->set_output_tokens_per_second(window > 0 ? out_tokens / window : 0);
  out->add_run_output_tokens_per_second(th->output_tokens_per_second());
  out->set_repetitions(1);
  SummarizeSamples(seed, out);
  JudgeEndpointSlo(out);
}

}  // namespace

std::vector<FlagSpec> EndpointFlagSpecs() {
  return {{"endpoint", "", true, "NAME=URL",
           "an OpenAI-compatible server variants with runtime 'openai' may name, e.g. "
           "local=http://127.0.0.1:8080/v1 (repeatable)"},
          {"endpoint-key-file", "", true, "NAME=FILE", "the API key of endpoint NAME, read from FILE (repeatable)"},
          {"endpoint-energy", "", true, "NAME=QUERY",
           "the energy of endpoint NAME's hardware: a PromQL power in watts (e.g. "
           "'sum(DCGM_FI_DEV_POWER_USAGE{Hostname=\"gpu1\"})'), or 'joules:QUERY' for an energy counter, "
           "evaluated over each measured window against --prometheus (repeatable)"},
          {"prometheus", "", true, "URL", "the Prometheus --endpoint-energy queries, e.g. http://127.0.0.1:9090"}};
}

absl::Status ParseEndpointArgs(const Args& args, std::map<std::string, EndpointTarget>* out) {
  const std::string prometheus = args.Get("prometheus", "");
  for (const std::string& e : args.GetAll("endpoint")) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--endpoint '", e, "': expected NAME=URL"));
    }
    const std::string name = e.substr(0, eq), url = e.substr(eq + 1);
    TCOBENCH_RETURN_IF_ERROR(ParseHttpUrl(url).status());
    if (out->count(name) > 0) return absl::InvalidArgumentError(absl::StrCat("--endpoint '", name, "' given twice"));
    (*out)[name].url = url;
  }
  for (const std::string& k : args.GetAll("endpoint-key-file")) {
    const size_t eq = k.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--endpoint-key-file '", k, "': expected NAME=FILE"));
    }
    const std::string name = k.substr(0, eq);
    auto it = out->find(name);
    if (it == out->end()) {
      return absl::InvalidArgumentError(absl::StrCat("--endpoint-key-file '", name, "': no --endpoint of that name"));
    }
    absl::StatusOr<std::string> key = ReadFileText(k.substr(eq + 1));
    if (!key.ok()) return absl::InvalidArgumentError(absl::StrCat("--endpoint-key-file ", k, ": ", key.status().message()));
    it->second.api_key = std::string(absl::StripAsciiWhitespace(*key));
  }
  if (!prometheus.empty()) {
    if (absl::StatusOr<HttpUrl> u = ParseHttpUrl(prometheus); !u.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--prometheus: ", u.status().message()));
    }
  }
  for (const std::string& e : args.GetAll("endpoint-energy")) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == e.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--endpoint-energy '", e, "': expected NAME=QUERY"));
    }
    const std::string name = e.substr(0, eq);
    auto it = out->find(name);
    if (it == out->end()) {
      return absl::InvalidArgumentError(absl::StrCat("--endpoint-energy '", name, "': no --endpoint of that name"));
    }
    if (prometheus.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--endpoint-energy '", name, "': needs --prometheus URL (the Prometheus to query)"));
    }
    if (!it->second.energy_query.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--endpoint-energy '", name, "' given twice"));
    }
    it->second.energy_prometheus = prometheus;
    it->second.energy_query = e.substr(eq + 1);
  }
  return absl::OkStatus();
}

namespace {

// One load point of the workload: the rate (SERVER) or the users.
struct LoadPoint {
  double qps = 0;
  int users = 1;
};

// The workload's load points, in order: a sweep's values, else its one.
std::vector<LoadPoint> LoadPoints(const v1::Workload& w) {
  std::vector<LoadPoint> points;
  const int users = w.scenario() == v1::Workload::SINGLE_STREAM ? 1 : std::max(1, w.concurrency());
  for (double q : w.target_qps_sweep()) points.push_back({q, users});
  for (int32_t c : w.concurrency_sweep()) points.push_back({0, c});
  if (points.empty()) points.push_back({w.scenario() == v1::Workload::SERVER ? w.target_qps() : 0, users});
  return points;
}

// Measures points of one endpoint variant: everything but the point is
// fixed when it is made.
class EndpointMeasurer {
 public:
  static absl::StatusOr<std::unique_ptr<EndpointMeasurer>> Make(const EndpointVariantRun& run) {
    const v1::Variant& variant = run.variant;
    const LocalRunOptions& o = run.o;
    auto target = o.endpoints.find(variant.endpoint());
    if (target == o.endpoints.end()) {
      std::vector<std::string> names;
      for (const auto& [name, t] : o.endpoints) names.push_back(name);
      return absl::FailedPreconditionError(absl::StrCat(
          "variant ", variant.name(), ": endpoint '", variant.endpoint(), "' is not configured here (",
          names.empty() ? std::string("no --endpoint given") : "known: " + absl::StrJoin(names, ", "), ")"));
    }
    std::unique_ptr<EndpointMeasurer> m(new EndpointMeasurer(run));
    TCOBENCH_ASSIGN_OR_RETURN(m->base_.url, ParseHttpUrl(target->second.url));
    TCOBENCH_ASSIGN_OR_RETURN(m->base_.api, ParseOpenAiApi(variant.api()));
    m->base_.api_key = target->second.api_key;
    m->base_.model = variant.served_model();
    const v1::Workload& w = run.spec.workload();
    m->base_.load = LoadOf(w.scenario());
    m->base_.burstiness = w.burstiness() > 0 ? w.burstiness() : 1.0;
    m->base_.measured_runs = w.measured_runs();
    m->base_.min_duration_seconds = w.min_duration_seconds();
    m->base_.request_timeout_seconds = w.request_timeout_seconds() > 0 ? w.request_timeout_seconds() : 300;
    m->base_.should_stop = o.should_stop;
    std::string prompts_how;
    TCOBENCH_ASSIGN_OR_RETURN(m->prompts_, PromptSource::Make(run.spec, variant, o, &prompts_how));
    if (m->prompts_.has_tokenizer()) {
      m->base_.count_tokens = [p = &m->prompts_](absl::string_view t) { return p->CountTokens(t); };
    }
    TCOBENCH_ASSIGN_OR_RETURN(m->meter_, OpenEndpointMeter(o, target->second, &m->meter_note_));
    m->slo_.ttft_seconds = run.spec.cost().slo().ttft_p99_seconds();
    m->slo_.tpot_seconds = run.spec.cost().slo().tpot_p99_seconds();
    m->Progress(absl::StrCat("endpoint ", variant.endpoint(), " (", variant.api().empty() ? "chat" : variant.api(),
                             "), ", prompts_how));
    return m;
  }

  // One point; `warm_up`: the workload's warm-up requests go first.
  absl::StatusOr<v1::VariantResult> Measure(int32_t p, int32_t n_out, const std::string& hardware,
                                            const LoadPoint& point, bool warm_up, const std::string& label) {
    const v1::Workload& w = run_.spec.workload();
    EndpointLoadOptions lo = base_;
    lo.target_qps = point.qps;
    lo.concurrency = point.users;
    lo.warmup_runs = warm_up ? w.warmup_runs() : 0;
    lo.seed = w.seed() + static_cast<uint64_t>(run_.repetition) * 7919u + static_cast<uint64_t>(point.users) * 104729u +
              static_cast<uint64_t>(point.qps * 1000);
    lo.prompt = [this, p, n_out](uint64_t i) { return prompts_.Get(i, p, n_out); };
    MeasuredWindow window(meter_.get(), kForeignCpuNotJudged);
    lo.on_window_open = [&] { window.Open(); };
    lo.on_window_close = [&] { window.Close(); };
    const std::string where = w.scenario() == v1::Workload::SERVER ? absl::StrCat(point.qps, " req/s")
                                                                   : absl::StrCat(point.users, " in flight");
    Progress(absl::StrCat(ScenarioName(w.scenario()), " ", where, ", prompt ", p, " output ", n_out, label,
                          ": measuring"));
    std::shared_ptr<void> lock;
    if (run_.lock_for_measuring) {
      TCOBENCH_ASSIGN_OR_RETURN(lock, run_.lock_for_measuring());
    }
    absl::StatusOr<EndpointRun> measured = RunEndpointLoad(lo);
    lock.reset();
    const v1::Variant& variant = run_.variant;
    if (!measured.ok()) {
      return Prefixed(absl::StrCat("variant ", variant.name(), " on endpoint ", variant.endpoint()), measured.status());
    }
    v1::VariantResult one;
    one.set_variant(variant.name());
    one.set_hardware(hardware);
    one.set_runtime("openai");
    one.set_endpoint(variant.endpoint());
    one.set_scenario(ScenarioName(w.scenario()));
    one.set_prompt_tokens(p);
    one.set_output_tokens(n_out);
    one.set_warmup_runs(lo.warmup_runs);
    one.set_concurrency(point.users);
    one.set_target_qps(point.qps);
    one.set_advertised_usd_per_hour(run_.o.cost_per_hour_usd);
    FillRow(*measured, slo_, w.seed(), run_.repetition, &one);
    *one.mutable_interference() = window.interference();
    FillEnergy(meter_.get(), window.reading(), meter_note_, one.load().output_tokens(),
               one.load().requests() - one.load().failed(), meter_note_, one.mutable_energy());
    const v1::EndpointLoadResult& l = one.load();
    Progress(absl::StrFormat("%s: goodput %.3g req/s (%.0f%% good), %d failed, TTFT p99 %.1f ms, TPOT p99 %.1f ms",
                             where, l.goodput_requests_per_second(), 100 * l.good_fraction(), l.failed(),
                             1e3 * one.latency().ttft_seconds().p99(), 1e3 * one.latency().tpot_seconds().p99()));
    return one;
  }

 private:
  explicit EndpointMeasurer(const EndpointVariantRun& run) : run_(run) {}
  void Progress(const std::string& line) const {
    if (run_.o.progress) run_.o.progress(absl::StrCat(run_.variant.name(), ": ", line));
  }

  const EndpointVariantRun& run_;
  EndpointLoadOptions base_;
  PromptSource prompts_;
  std::unique_ptr<EnergyMeter> meter_;
  std::string meter_note_;
  RequestSlo slo_;
};

// Whether a sweep stops after its latest point (`rows`: the points so far,
// in order), and why: the SLO broken, or goodput grown under 5% over the
// last two steps.
std::string SweepStop(const std::vector<const v1::VariantResult*>& rows) {
  const v1::EndpointLoadResult& last = rows.back()->load();
  if (!last.slo_met()) return "sweep stopped: the SLO was broken at this point";
  if (rows.size() < 3) return "";
  double before = 0;
  for (size_t i = 0; i + 2 < rows.size(); ++i) before = std::max(before, rows[i]->load().goodput_requests_per_second());
  const double g1 = rows[rows.size() - 2]->load().goodput_requests_per_second();
  const double g2 = last.goodput_requests_per_second();
  if (g1 < before * 1.05 && g2 < std::max(before, g1) * 1.05) return "sweep stopped: goodput grew under 5% over two steps";
  return "";
}

// Marks the capacity among one sweep's rows: the highest load whose point
// met the SLO.
void MarkCapacity(const std::vector<v1::VariantResult*>& rows) {
  auto load = [](const v1::VariantResult* r) { return r->target_qps() > 0 ? r->target_qps() : r->concurrency(); };
  v1::VariantResult* best = nullptr;
  for (v1::VariantResult* r : rows) {
    r->mutable_load()->set_capacity(false);
    if (r->load().slo_met() && (best == nullptr || load(r) > load(best))) best = r;
  }
  if (best != nullptr) best->mutable_load()->set_capacity(true);
}

}  // namespace

absl::Status RunEndpointVariant(const EndpointVariantRun& run, int* first_result, v1::ComparisonResult* result) {
  const v1::Workload& w = run.spec.workload();
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<EndpointMeasurer> measurer, EndpointMeasurer::Make(run));
  TCOBENCH_ASSIGN_OR_RETURN(std::vector<int32_t> p_lengths, SweepValues(w.prompt_tokens(), "workload.promptTokens"));
  TCOBENCH_ASSIGN_OR_RETURN(std::vector<int32_t> o_lengths, SweepValues(w.output_tokens(), "workload.outputTokens"));
  if (!w.requests_file().empty()) p_lengths.resize(1);  // the file's prompts
  const std::vector<LoadPoint> points = LoadPoints(w);
  const bool sweeping = points.size() > 1;
  auto stopped = [&] { return run.o.should_stop && run.o.should_stop(); };

  if (run.repetition > 0) {
    // Later runs measure again the points the first one measured, row by row.
    for (int i = *first_result; i < result->results_size() && result->results(i).variant() == run.variant.name();
         ++i) {
      if (stopped()) return absl::CancelledError("stopped");
      v1::VariantResult* row = result->mutable_results(i);
      TCOBENCH_ASSIGN_OR_RETURN(
          v1::VariantResult one,
          measurer->Measure(row->prompt_tokens(), row->output_tokens(), row->hardware(),
                            {row->target_qps(), row->concurrency()}, false,
                            absl::StrCat(", run ", run.repetition + 1, "/", w.repetitions())));
      MergeRun(one, w.seed(), row);
    }
  } else {
    *first_result = result->results_size();
    for (int32_t p : p_lengths) {
      for (int32_t n_out : o_lengths) {
        for (const v1::Hardware& hw : run.spec.hardware()) {
          const int first_point = result->results_size();
          std::vector<const v1::VariantResult*> so_far;
          for (size_t k = 0; k < points.size(); ++k) {
            if (stopped()) return absl::CancelledError("stopped");
            TCOBENCH_ASSIGN_OR_RETURN(
                *result->add_results(),
                measurer->Measure(p, n_out, hw.name(), points[k], k == 0,
                                  sweeping ? absl::StrCat(" (sweep point ", k + 1, "/", points.size(), ")") : ""));
            if (!sweeping || w.sweep_runs_every_point()) continue;
            so_far.clear();
            for (int i = first_point; i < result->results_size(); ++i) so_far.push_back(&result->results(i));
            const std::string stop = SweepStop(so_far);
            if (!stop.empty() && k + 1 < points.size()) {
              result->mutable_results(result->results_size() - 1)->mutable_load()->set_sweep_note(stop);
              break;
            }
          }
        }
      }
    }
  }
  std::vector<v1::VariantResult*> rows;
  for (int i = *first_result; i < result->results_size() && result->results(i).variant() == run.variant.name(); ++i) {
    rows.push_back(result->mutable_results(i));
  }
  // Accuracy, once (the first repetition), after the measured points: every
  // row of the variant carries it.
  if (run.repetition == 0 && run.spec.has_accuracy() && !rows.empty()) {
    if (stopped()) return absl::CancelledError("stopped");
    const EndpointTarget& target = run.o.endpoints.at(run.variant.endpoint());
    EndpointScorer scorer;
    TCOBENCH_ASSIGN_OR_RETURN(scorer.url, ParseHttpUrl(target.url));
    TCOBENCH_ASSIGN_OR_RETURN(scorer.api, ParseOpenAiApi(run.variant.api()));
    scorer.api_key = target.api_key;
    scorer.model = run.variant.served_model();
    if (w.request_timeout_seconds() > 0) scorer.timeout_seconds = w.request_timeout_seconds();
    scorer.progress = [&](const std::string& line) {
      if (run.o.progress) run.o.progress(absl::StrCat(run.variant.name(), ": ", line));
    };
    if (run.o.on_phase) run.o.on_phase("accuracy");
    v1::AccuracyResult accuracy;
    TCOBENCH_RETURN_IF_ERROR(MeasureEndpointAccuracy(run.spec, scorer, run.o, &accuracy));
    for (v1::VariantResult* r : rows) *r->mutable_accuracy() = accuracy;
  }
  if (!sweeping) return absl::OkStatus();
  // Each sweep's capacity, over the runs so far: rows of one sweep share
  // prompt, output and hardware.
  std::map<std::tuple<int32_t, int32_t, std::string>, std::vector<v1::VariantResult*>> sweeps;
  for (v1::VariantResult* r : rows) sweeps[{r->prompt_tokens(), r->output_tokens(), r->hardware()}].push_back(r);
  for (const auto& [key, rows] : sweeps) MarkCapacity(rows);
  return absl::OkStatus();
}

}  // namespace tcobench
