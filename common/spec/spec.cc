#include "common/spec/spec.h"

#include <tuple>

#include <set>

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/spec/cost_spec.h"

namespace tcobench {

absl::Status FieldError(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

namespace {

bool IsEndpointName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

absl::Status ParseJsonInto(absl::string_view json, google::protobuf::Message* message, absl::string_view what) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(std::string(json), message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a valid ", what, ": ", std::string(status.message())));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ComparisonSpec> ParseSpecJson(absl::string_view json) {
  // workload.targetQps and workload.concurrency may be lists (sweeps): they
  // move to targetQpsSweep / concurrencySweep, where the proto keeps lists.
  std::string text(json);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("workload") && j["workload"].is_object()) {
    nlohmann::json& w = j["workload"];
    bool moved = false;
    for (const auto& [key, sweep] : {std::pair{"targetQps", "targetQpsSweep"}, std::pair{"target_qps", "targetQpsSweep"},
                                     std::pair{"concurrency", "concurrencySweep"}}) {
      if (w.contains(key) && w[key].is_array()) {
        w[sweep] = w[key];
        w.erase(key);
        moved = true;
      }
    }
    if (moved) text = j.dump();
  }
  v1::ComparisonSpec spec;
  if (absl::Status s = ParseJsonInto(text, &spec, "comparison spec"); !s.ok()) return s;
  return spec;
}

absl::StatusOr<std::vector<int32_t>> SweepValues(const google::protobuf::Value& value,
                                                 absl::string_view field) {
  std::vector<double> numbers;
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      numbers.push_back(value.number_value());
      break;
    case google::protobuf::Value::kListValue:
      for (const auto& v : value.list_value().values()) {
        if (v.kind_case() != google::protobuf::Value::kNumberValue) {
          return FieldError(field, "a list must hold numbers only");
        }
        numbers.push_back(v.number_value());
      }
      if (numbers.empty()) return FieldError(field, "the list is empty");
      break;
    case google::protobuf::Value::KIND_NOT_SET:
      return FieldError(field, "missing (a token count, or a list of them)");
    default:
      return FieldError(field, "must be a token count or a list of token counts");
  }
  std::vector<int32_t> out;
  for (double n : numbers) {
    if (n < 1 || n > 1 << 20 || n != static_cast<double>(static_cast<int32_t>(n))) {
      return FieldError(field, absl::StrCat("token counts are whole numbers from 1; got ", n));
    }
    out.push_back(static_cast<int32_t>(n));
  }
  return out;
}

absl::Status CheckSpecLimits(const v1::ComparisonSpec& spec, const SpecLimits& limits) {
  auto over = [](absl::string_view field, int64_t n, absl::string_view unit, int64_t max, absl::string_view flag) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", n, " ", unit, ", at most ", max, " (coordinator ", flag, ")"));
  };
  const int64_t bytes = static_cast<int64_t>(spec.ByteSizeLong());
  if (bytes > limits.max_spec_bytes) return over("spec", bytes, "bytes", limits.max_spec_bytes, "--max-spec-bytes");
  if (spec.variants_size() > limits.max_variants) {
    return over("variants", spec.variants_size(), "variants", limits.max_variants, "--max-variants");
  }
  if (spec.hardware_size() > limits.max_hardware) {
    return over("hardware", spec.hardware_size(), "targets", limits.max_hardware, "--max-hardware");
  }
  for (const auto& [value, field, max, flag] :
       {std::tuple{&spec.workload().prompt_tokens(), "workload.promptTokens", limits.max_prompt_tokens,
                   "--max-prompt-tokens"},
        std::tuple{&spec.workload().output_tokens(), "workload.outputTokens", limits.max_output_tokens,
                   "--max-output-tokens"}}) {
    absl::StatusOr<std::vector<int32_t>> lengths = SweepValues(*value, field);
    if (!lengths.ok()) continue;  // ValidateSpec reports it
    for (int32_t n : *lengths) {
      if (n > max) return over(field, n, "tokens", max, flag);
    }
  }
  if (spec.workload().measured_runs() > limits.max_measured_runs) {
    return over("workload.measuredRuns", spec.workload().measured_runs(), "requests", limits.max_measured_runs,
                "--max-measured-runs");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> LlamaCppGpuLayers(const v1::LlamaCppSettings& s, bool gpu_target) {
  const google::protobuf::Value& g = s.gpu_layers();
  switch (g.kind_case()) {
    case google::protobuf::Value::KIND_NOT_SET:
      return gpu_target ? -1 : 0;
    case google::protobuf::Value::kStringValue:
      if (g.string_value() == "all") return -1;
      if (int n = 0; absl::SimpleAtoi(g.string_value(), &n) && n >= 0) return n;
      break;
    case google::protobuf::Value::kNumberValue:
      if (g.number_value() >= 0 && g.number_value() <= 100000 && g.number_value() == static_cast<int>(g.number_value())) {
        return static_cast<int>(g.number_value());
      }
      break;
    default:
      break;
  }
  return absl::InvalidArgumentError("must be \"all\" or a whole number of layers (0: none)");
}

namespace {
absl::Status ValidateLlamaCpp(const v1::LlamaCppSettings& s, const std::string& at) {
  if (s.batch() < 0 || s.batch() > 1 << 20) return FieldError(at + ".batch", "out of range (1..1048576; 0: 2048)");
  if (s.ubatch() < 0 || s.ubatch() > 1 << 20) return FieldError(at + ".ubatch", "out of range (1..1048576; 0: 512)");
  if (const std::string& f = s.flash_attention(); !f.empty() && f != "auto" && f != "on" && f != "off") {
    return FieldError(at + ".flashAttention", absl::StrCat("'", f, "' is unknown (auto, on, off)"));
  }
  static const std::set<std::string> kKv = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"};
  if (!s.kv_cache_type().empty() && kKv.count(absl::AsciiStrToLower(s.kv_cache_type())) == 0) {
    return FieldError(at + ".kvCacheType", absl::StrCat("'", s.kv_cache_type(),
                                                         "' is unknown (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1)"));
  }
  if (absl::StatusOr<int> g = LlamaCppGpuLayers(s, false); !g.ok()) return FieldError(at + ".gpuLayers", g.status().message());
  return absl::OkStatus();
}
}  // namespace

absl::Status ValidateSpec(const v1::ComparisonSpec& spec) {
  if (spec.variants().empty()) return FieldError("variants", "at least one variant is needed");
  std::set<std::string> names;
  for (int i = 0; i < spec.variants_size(); ++i) {
    const v1::Variant& v = spec.variants(i);
    const std::string at = absl::StrCat("variants[", i, "]");
    if (v.name().empty()) return FieldError(at + ".name", "missing");
    if (!names.insert(v.name()).second) {
      return FieldError(at + ".name", absl::StrCat("'", v.name(), "' is used twice"));
    }
    if (!v.runtime().empty() && v.runtime() != "engine" && v.runtime() != "openai" && v.runtime() != "llamacpp") {
      return FieldError(at + ".runtime", absl::StrCat("'", v.runtime(), "' is unknown (engine, llamacpp, openai)"));
    }
    if (v.has_llamacpp()) {
      if (v.runtime() != "llamacpp") return FieldError(at + ".llamacpp", "applies to runtime 'llamacpp' only");
      TCOBENCH_RETURN_IF_ERROR(ValidateLlamaCpp(v.llamacpp(), at + ".llamacpp"));
    }
    if (v.runtime() == "openai") {
      if (v.endpoint().empty()) {
        return FieldError(at + ".endpoint", "missing: the name of an endpoint a worker serves (--endpoint NAME=URL)");
      }
      if (!IsEndpointName(v.endpoint())) {
        return FieldError(at + ".endpoint", absl::StrCat("'", v.endpoint(),
                                                         "' is not an endpoint name (letters, digits, '_', '-', "
                                                         "'.'; URLs belong on the worker's command line)"));
      }
      if (!v.api().empty() && v.api() != "chat" && v.api() != "completions") {
        return FieldError(at + ".api", absl::StrCat("'", v.api(), "' is unknown (chat, completions)"));
      }
      if (!v.quantize().empty()) {
        return FieldError(at + ".quantize", "an endpoint serves its own model; quantize applies to engine variants");
      }
      if (v.threads() != 0 || v.ctx() != 0) {
        return FieldError(at + (v.threads() != 0 ? ".threads" : ".ctx"), "applies to engine and llamacpp variants only");
      }
    } else {
      if (v.model().empty()) return FieldError(at + ".model", "missing");
      for (const auto& [field, value] : {std::pair{".endpoint", &v.endpoint()}, std::pair{".servedModel", &v.served_model()},
                                         std::pair{".api", &v.api()}, std::pair{".tokenizer", &v.tokenizer()}}) {
        if (!value->empty()) return FieldError(at + field, "applies to runtime 'openai' only");
      }
    }
    if (!v.sha256().empty() && !IsHex64(v.sha256())) {
      return FieldError(at + ".sha256", "must be 64 hexadecimal digits");
    }
    if (v.threads() < 0 || v.threads() > 1024) return FieldError(at + ".threads", "out of range");
    if (v.ctx() < 0) return FieldError(at + ".ctx", "must not be negative");
  }
  if (spec.baseline().empty()) return FieldError("baseline", "missing (a variant name)");
  if (names.count(spec.baseline()) == 0) {
    return FieldError("baseline", absl::StrCat("'", spec.baseline(), "' is not a variant's name"));
  }
  if (!spec.has_workload()) return FieldError("workload", "missing");
  const v1::Workload& w = spec.workload();
  if (w.scenario() == v1::Workload::SCENARIO_UNSPECIFIED) {
    return FieldError("workload.scenario", "missing (SINGLE_STREAM, SERVER, OFFLINE or CONCURRENCY)");
  }
  if (auto s = SweepValues(w.prompt_tokens(), "workload.promptTokens"); !s.ok()) return s.status();
  if (auto s = SweepValues(w.output_tokens(), "workload.outputTokens"); !s.ok()) return s.status();
  if (w.warmup_runs() < 0) return FieldError("workload.warmupRuns", "must not be negative");
  if (w.measured_runs() < 1) return FieldError("workload.measuredRuns", "must be at least 1");
  if (w.repetitions() < 0 || w.repetitions() > 100) {
    return FieldError("workload.repetitions", "must be between 1 and 100 (0: the default, 1)");
  }
  if (w.min_duration_seconds() < 0 || w.min_duration_seconds() > 86400) {
    return FieldError("workload.minDurationSeconds", "must be between 0 and 86400");
  }
  bool any_engine = false;
  for (const v1::Variant& v : spec.variants()) any_engine |= v.runtime() != "openai";
  // The engine runs at most 16 sequences; an endpoint's users are threads here.
  const int max_concurrency = any_engine ? 16 : 4096;
  std::vector<int32_t> concurrencies(w.concurrency_sweep().begin(), w.concurrency_sweep().end());
  if (concurrencies.empty()) concurrencies.push_back(w.concurrency());
  for (int32_t c : concurrencies) {
    if (c < 0 || c > max_concurrency || (c == 0 && !w.concurrency_sweep().empty())) {
      return FieldError("workload.concurrency",
                        absl::StrCat(c, ": must be between 1 and ", max_concurrency,
                                     any_engine ? " (the engine's sequences; endpoint-only specs allow 4096)" : ""));
    }
  }
  if (w.scenario() == v1::Workload::SINGLE_STREAM && (w.concurrency() > 1 || !w.concurrency_sweep().empty())) {
    return FieldError("workload.concurrency", "SINGLE_STREAM runs one request at a time");
  }
  if (w.scenario() == v1::Workload::CONCURRENCY && any_engine) {
    return FieldError("workload.scenario",
                      "CONCURRENCY (closed-loop users) runs against endpoints only; engine variants use OFFLINE");
  }
  if (w.scenario() == v1::Workload::SERVER && !(w.target_qps() > 0) && w.target_qps_sweep().empty()) {
    return FieldError("workload.targetQps", "SERVER needs a positive arrival rate (or a list of them)");
  }
  if (w.target_qps() < 0) return FieldError("workload.targetQps", "must not be negative");
  for (double q : w.target_qps_sweep()) {
    if (!(q > 0)) return FieldError("workload.targetQps", absl::StrCat("every rate of a sweep must be positive; got ", q));
  }
  if (!w.target_qps_sweep().empty() && w.scenario() != v1::Workload::SERVER) {
    return FieldError("workload.targetQps", "a list of rates sweeps SERVER only");
  }
  if (!w.concurrency_sweep().empty() && w.scenario() != v1::Workload::CONCURRENCY &&
      w.scenario() != v1::Workload::OFFLINE) {
    return FieldError("workload.concurrency", "a list sweeps CONCURRENCY or OFFLINE only");
  }
  if (any_engine && (!w.target_qps_sweep().empty() || !w.concurrency_sweep().empty())) {
    return FieldError(w.target_qps_sweep().empty() ? "workload.concurrency" : "workload.targetQps",
                      "a list (a sweep) runs against endpoint variants only; engine variants take one value");
  }
  if (!w.target_qps_sweep().empty() && !w.concurrency_sweep().empty()) {
    return FieldError("workload", "sweep targetQps or concurrency, not both");
  }
  if (w.burstiness() < 0) return FieldError("workload.burstiness", "must not be negative (1: Poisson)");
  if (w.request_timeout_seconds() < 0) return FieldError("workload.requestTimeoutSeconds", "must not be negative");
  if (!w.requests_file().empty() && any_engine) {
    return FieldError("workload.requestsFile", "requests files drive endpoint variants only");
  }
  if (spec.has_accuracy()) {
    const v1::Accuracy& a = spec.accuracy();
    if (a.has_perplexity()) {
      if (a.perplexity().text().empty()) return FieldError("accuracy.perplexity.text", "missing");
      if (a.perplexity().ctx() < 8) return FieldError("accuracy.perplexity.ctx", "must be at least 8");
      if (a.perplexity().max_chunks() < 0) {
        return FieldError("accuracy.perplexity.maxChunks", "must not be negative");
      }
    }
    if (a.kl_divergence() && !a.has_perplexity()) {
      return FieldError("accuracy.klDivergence", "needs accuracy.perplexity (its text and ctx)");
    }
    for (int i = 0; i < a.choice_size(); ++i) {
      const std::string at = absl::StrCat("accuracy.choice[", i, "]");
      if (a.choice(i).task() == v1::Accuracy::Choice::TASK_UNSPECIFIED) {
        return FieldError(at + ".task", "missing (HELLASWAG or ARC_EASY)");
      }
      if (a.choice(i).file().empty()) return FieldError(at + ".file", "missing");
      if (a.choice(i).limit() < 0) return FieldError(at + ".limit", "must not be negative");
    }
  }
  std::set<std::string> hw_names;
  for (int i = 0; i < spec.hardware_size(); ++i) {
    const std::string at = absl::StrCat("hardware[", i, "]");
    if (spec.hardware(i).name().empty()) return FieldError(at + ".name", "missing");
    if (!hw_names.insert(spec.hardware(i).name()).second) {
      return FieldError(at + ".name", absl::StrCat("'", spec.hardware(i).name(), "' is used twice"));
    }
    const auto& sel = spec.hardware(i).selector();
    if (!sel.class_().empty() && sel.class_() != "cpu" && sel.class_() != "gpu") {
      return FieldError(at + ".selector.class", absl::StrCat("'", sel.class_(), "': cpu or gpu"));
    }
    if (!sel.isa().empty() && sel.isa() != "scalar" && sel.isa() != "avx2" && sel.isa() != "avx512") {
      return FieldError(at + ".selector.isa", absl::StrCat("'", sel.isa(), "': scalar, avx2 or avx512"));
    }
    if (sel.min_memory_bytes() < 0) {
      return FieldError(at + ".selector.minMemoryBytes", "must not be negative");
    }
  }
  if (spec.has_cost()) {
    if (absl::Status s = ValidateCost(spec.cost()); !s.ok()) return s;
    for (const auto& [name, price] : spec.cost().hardware()) {
      const bool named = spec.hardware().empty() ? name == "cpu" : hw_names.count(name) > 0;
      if (!named) {
        return FieldError(absl::StrCat("cost.hardware.", name), "no hardware target has this name");
      }
    }
  }
  return absl::OkStatus();
}

v1::ComparisonSpec WithDefaults(v1::ComparisonSpec spec) {
  v1::Workload* w = spec.mutable_workload();
  if (w->seed() == 0) w->set_seed(1);
  if (w->concurrency() == 0) w->set_concurrency(w->scenario() == v1::Workload::SINGLE_STREAM ? 1 : 8);
  if (spec.hardware().empty()) {
    v1::Hardware* h = spec.add_hardware();
    h->set_name("cpu");
    h->mutable_selector()->set_class_("cpu");
  }
  return spec;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string ScenarioName(v1::Workload::Scenario s) { return v1::Workload::Scenario_Name(s); }
std::string TaskName(v1::Accuracy::Choice::Task t) { return v1::Accuracy::Choice::Task_Name(t); }

}  // namespace tcobench
