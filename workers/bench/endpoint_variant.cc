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
#include "workers/bench/interference.h"
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
absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenEndpointMeter(const LocalRunOptions& o, std::string* note) {
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
  // The SLO's p99 bounds over the point, and no failures.
  const v1::Latency& lat = out->latency();
  load->set_slo_met(succeeded > 0 && succeeded == n &&
                    (slo.ttft_seconds <= 0 || lat.ttft_seconds().p99() <= slo.ttft_seconds) &&
                    (slo.tpot_seconds <= 0 || lat.tpot_seconds().p99() <= slo.tpot_seconds));
}

}  // namespace

absl::Status ParseEndpointFlags(const std::vector<std::string>& endpoints, const std::vector<std::string>& key_files,
                                std::map<std::string, EndpointTarget>* out) {
  for (const std::string& e : endpoints) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--endpoint '", e, "': expected NAME=URL"));
    }
    const std::string name = e.substr(0, eq), url = e.substr(eq + 1);
    TCOBENCH_RETURN_IF_ERROR(ParseHttpUrl(url).status());
    if (out->count(name) > 0) return absl::InvalidArgumentError(absl::StrCat("--endpoint '", name, "' given twice"));
    (*out)[name].url = url;
  }
  for (const std::string& k : key_files) {
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
  return absl::OkStatus();
}

absl::Status RunEndpointVariant(const EndpointVariantRun& run, int* first_result, v1::ComparisonResult* result) {
  const v1::ComparisonSpec& spec = run.spec;
  const v1::Variant& variant = run.variant;
  const LocalRunOptions& o = run.o;
  const v1::Workload& w = spec.workload();
  auto progress = [&](const std::string& line) {
    if (o.progress) o.progress(absl::StrCat(variant.name(), ": ", line));
  };
  auto target = o.endpoints.find(variant.endpoint());
  if (target == o.endpoints.end()) {
    std::vector<std::string> names;
    for (const auto& [name, t] : o.endpoints) names.push_back(name);
    return absl::FailedPreconditionError(absl::StrCat(
        "variant ", variant.name(), ": endpoint '", variant.endpoint(), "' is not configured here (",
        names.empty() ? std::string("no --endpoint given") : "known: " + absl::StrJoin(names, ", "), ")"));
  }
  TCOBENCH_ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(target->second.url));
  TCOBENCH_ASSIGN_OR_RETURN(OpenAiApi api, ParseOpenAiApi(variant.api()));
  std::string prompts_how;
  TCOBENCH_ASSIGN_OR_RETURN(PromptSource prompts, PromptSource::Make(spec, variant, o, &prompts_how));
  std::string meter_note;
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<EnergyMeter> meter, OpenEndpointMeter(o, &meter_note));
  TCOBENCH_ASSIGN_OR_RETURN(std::vector<int32_t> p_lengths, SweepValues(w.prompt_tokens(), "workload.promptTokens"));
  TCOBENCH_ASSIGN_OR_RETURN(std::vector<int32_t> o_lengths, SweepValues(w.output_tokens(), "workload.outputTokens"));
  if (!w.requests_file().empty()) p_lengths.resize(1);  // the file's prompts
  // The load points: a sweep's values, else the workload's one.
  std::vector<double> rates(w.target_qps_sweep().begin(), w.target_qps_sweep().end());
  std::vector<int> users(w.concurrency_sweep().begin(), w.concurrency_sweep().end());
  if (rates.empty()) rates.push_back(w.target_qps());
  if (users.empty()) users.push_back(std::max(1, w.concurrency()));
  const bool sweep_rates = w.target_qps_sweep_size() > 0;
  const size_t points = sweep_rates ? rates.size() : users.size();
  const bool sweeping = points > 1;
  RequestSlo slo;
  slo.ttft_seconds = spec.cost().slo().ttft_p99_seconds();
  slo.tpot_seconds = spec.cost().slo().tpot_p99_seconds();
  progress(absl::StrCat("endpoint ", variant.endpoint(), " (", variant.api().empty() ? "chat" : variant.api(),
                        "), ", prompts_how));

  if (run.repetition == 0) *first_result = result->results_size();
  int row = *first_result;
  for (int32_t p : p_lengths) {
    for (int32_t n_out : o_lengths) {
      for (const v1::Hardware& hw : spec.hardware()) {
        double best_goodput = 0;
        int flat_steps = 0;
        int capacity_row = -1;
        std::vector<int> rows_here;
        for (size_t k = 0; k < points; ++k) {
          if (o.should_stop && o.should_stop()) return absl::CancelledError("stopped");
          if (run.repetition > 0) {  // later runs measure the points the first one did
            const bool has_row = row < result->results_size() && result->results(row).variant() == variant.name() &&
                                 result->results(row).prompt_tokens() == p &&
                                 result->results(row).output_tokens() == n_out &&
                                 result->results(row).hardware() == hw.name() &&
                                 (sweep_rates ? result->results(row).target_qps() == rates[k]
                                              : result->results(row).concurrency() == users[k] ||
                                                    w.scenario() == v1::Workload::SINGLE_STREAM);
            if (!has_row) break;
          }
          EndpointLoadOptions lo;
          lo.url = url;
          lo.api_key = target->second.api_key;
          lo.api = api;
          lo.model = variant.served_model();
          lo.load = LoadOf(w.scenario());
          lo.target_qps = sweep_rates ? rates[k] : rates[0];
          lo.burstiness = w.burstiness() > 0 ? w.burstiness() : 1.0;
          lo.concurrency = sweep_rates ? users[0] : users[k];
          lo.warmup_runs = k == 0 ? w.warmup_runs() : 0;
          lo.measured_runs = w.measured_runs();
          lo.min_duration_seconds = w.min_duration_seconds();
          lo.request_timeout_seconds = w.request_timeout_seconds() > 0 ? w.request_timeout_seconds() : 300;
          lo.seed = w.seed() + static_cast<uint64_t>(run.repetition) * 7919u + k * 104729u;
          lo.prompt = [&, p, n_out](uint64_t i) { return prompts.Get(i, p, n_out); };
          if (prompts.has_tokenizer()) lo.count_tokens = [&](absl::string_view t) { return prompts.CountTokens(t); };
          lo.should_stop = o.should_stop;
          absl::StatusOr<EnergyReading> reading = absl::UnavailableError("no energy meter");
          absl::Status meter_start = absl::OkStatus();
          InterferenceMonitor interference;
          v1::VariantResult one;
          lo.on_window_open = [&] {
            interference.Start();
            if (meter != nullptr) meter_start = meter->Start();
          };
          lo.on_window_close = [&] {
            if (meter != nullptr) reading = meter_start.ok() ? meter->Stop() : meter_start;
            v1::Interference seen = interference.Stop();
            // The server's own work is "foreign" CPU here when it runs on
            // this host: recorded, not held against the run.
            if (seen.contaminated()) {
              seen.set_contaminated(false);
              seen.set_reason(absl::StrCat("not judged for an endpoint (its server may run here): ", seen.reason()));
            }
            *one.mutable_interference() = seen;
          };
          const std::string point =
              w.scenario() == v1::Workload::SERVER
                  ? absl::StrCat(lo.target_qps, " req/s")
                  : absl::StrCat(w.scenario() == v1::Workload::SINGLE_STREAM ? 1 : lo.concurrency, " in flight");
          progress(absl::StrCat(ScenarioName(w.scenario()), " ", point, ", prompt ", p, " output ", n_out,
                                sweeping ? absl::StrCat(" (sweep point ", k + 1, "/", points, ")") : std::string(),
                                ": measuring"));
          std::shared_ptr<void> lock;
          if (run.lock_for_measuring) {
            TCOBENCH_ASSIGN_OR_RETURN(lock, run.lock_for_measuring());
          }
          absl::StatusOr<EndpointRun> measured = RunEndpointLoad(lo);
          lock.reset();
          if (!measured.ok()) {
            return absl::Status(measured.status().code(),
                                absl::StrCat("variant ", variant.name(), " on endpoint ", variant.endpoint(), ": ",
                                             measured.status().message()));
          }
          one.set_variant(variant.name());
          one.set_hardware(hw.name());
          one.set_runtime("openai");
          one.set_endpoint(variant.endpoint());
          one.set_scenario(ScenarioName(w.scenario()));
          one.set_prompt_tokens(p);
          one.set_output_tokens(n_out);
          one.set_warmup_runs(lo.warmup_runs);
          one.set_concurrency(w.scenario() == v1::Workload::SINGLE_STREAM ? 1 : lo.concurrency);
          one.set_target_qps(w.scenario() == v1::Workload::SERVER ? lo.target_qps : 0);
          one.set_advertised_usd_per_hour(o.cost_per_hour_usd);
          FillRow(*measured, slo, w.seed(), run.repetition, &one);
          FillEnergy(meter.get(), reading, meter_note, one.load().output_tokens(),
                     one.load().requests() - one.load().failed(), meter_note, one.mutable_energy());
          const v1::EndpointLoadResult& l = one.load();
          progress(absl::StrCat(point, ": goodput ", absl::StrFormat("%.3g", l.goodput_requests_per_second()),
                                " req/s (", absl::StrFormat("%.0f", 100 * l.good_fraction()), "% good), ", l.failed(),
                                " failed, TTFT p99 ", absl::StrFormat("%.1f", 1e3 * one.latency().ttft_seconds().p99()),
                                " ms, TPOT p99 ", absl::StrFormat("%.1f", 1e3 * one.latency().tpot_seconds().p99()),
                                " ms"));
          v1::VariantResult* r = nullptr;
          if (run.repetition == 0) {
            r = result->add_results();
            *r = std::move(one);
          } else {
            r = result->mutable_results(row++);
            MergeRun(one, w.seed(), r);
            r->mutable_load()->set_slo_met(r->load().slo_met() && l.slo_met());
          }
          const int r_index = run.repetition == 0 ? result->results_size() - 1 : row - 1;
          rows_here.push_back(r_index);
          if (!sweeping) continue;
          const double goodput = r->load().goodput_requests_per_second();
          if (r->load().slo_met()) capacity_row = r_index;
          if (w.sweep_runs_every_point() || k + 1 == points) continue;
          if (!r->load().slo_met()) {
            r->mutable_load()->set_sweep_note("sweep stopped: the SLO was broken at this point");
            break;
          }
          flat_steps = goodput < best_goodput * 1.05 ? flat_steps + 1 : 0;
          best_goodput = std::max(best_goodput, goodput);
          if (flat_steps >= 2) {
            r->mutable_load()->set_sweep_note("sweep stopped: goodput grew under 5% over two steps");
            break;
          }
        }
        if (sweeping) {
          for (int i : rows_here) result->mutable_results(i)->mutable_load()->set_capacity(false);
          if (capacity_row >= 0) result->mutable_results(capacity_row)->mutable_load()->set_capacity(true);
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tcobench
