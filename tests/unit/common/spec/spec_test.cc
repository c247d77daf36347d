#define BOOST_TEST_MODULE spec_check
#include "common/spec/spec.h"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace tcobench;

namespace {

// The example of the issue, exactly as written.
const char* kExample = R"({
  "name": "stories260K: F32 vs Q8_0",
  "baseline": "f32",
  "variants": [
    {"name": "f32",  "model": "stories260K.gguf"},
    {"name": "q8_0", "model": "stories260K.gguf", "quantize": "Q8_0"}
  ],
  "workload": {
    "scenario": "SINGLE_STREAM",
    "promptTokens": 64,
    "outputTokens": 32,
    "warmupRuns": 2,
    "measuredRuns": 10,
    "minDurationSeconds": 2
  },
  "accuracy": {
    "perplexity": {"text": "tinystories/TinyStories-valid.head32k.txt", "ctx": 128},
    "klDivergence": true,
    "choice": [{"task": "HELLASWAG", "file": "hellaswag/hellaswag_val_full.txt", "limit": 50}]
  },
  "hardware": [{"name": "cpu", "selector": {"class": "cpu"}}],
  "cost": {"energyUsdPerKwh": 0.15, "pue": 1.2, "gridGramsCo2PerKwh": 350}
})";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, from);
  return s.replace(at, from.size(), to);
}

// The message of validating a modified example.
std::string ErrorOf(const std::string& json) {
  auto spec = ParseSpecJson(json);
  if (!spec.ok()) return std::string(spec.status().message());
  const absl::Status s = ValidateSpec(*spec);
  return s.ok() ? "" : std::string(s.message());
}

// A change to a spec and the words its validation error must contain.
struct Case {
  std::string from, to, expect;
};

// Each case applied to `base` alone gives an error naming what it broke.
void ExpectErrors(const std::string& base, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    const std::string err = ErrorOf(Replace(base, c.from, c.to));
    BOOST_TEST(err.find(c.expect) != std::string::npos, "'" << c.to << "' gave '" << err << "'");
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_example_is_accepted_as_written) {
  auto spec = ParseSpecJson(kExample);
  BOOST_REQUIRE_MESSAGE(spec.ok(), spec.status().message());
  BOOST_TEST(ValidateSpec(*spec).ok());
  BOOST_TEST(spec->variants_size() == 2);
  BOOST_TEST(spec->variants(1).quantize() == "Q8_0");
  BOOST_TEST(spec->workload().scenario() == v1::Workload::SINGLE_STREAM);
  BOOST_TEST(*SweepValues(spec->workload().prompt_tokens(), "p") == std::vector<int32_t>{64});
  BOOST_TEST(spec->accuracy().choice(0).task() == v1::Accuracy::Choice::HELLASWAG);
  BOOST_TEST(spec->hardware(0).selector().class_() == "cpu");
  BOOST_TEST(spec->cost().pue() == 1.2);
  const v1::ComparisonSpec d = WithDefaults(*spec);
  BOOST_TEST(d.workload().seed() == 1u);
  BOOST_TEST(d.workload().concurrency() == 1);
  // snake_case spellings are accepted too, and the output uses them.
  const std::string json = ToJson(d);
  BOOST_TEST(json.find("\"prompt_tokens\"") != std::string::npos);
  BOOST_TEST(ParseSpecJson(json).ok());
}

BOOST_AUTO_TEST_CASE(sweeps_are_lists) {
  auto spec = ParseSpecJson(Replace(kExample, "\"promptTokens\": 64", "\"promptTokens\": [16, 64, 128]"));
  BOOST_REQUIRE(spec.ok());
  BOOST_TEST(ValidateSpec(*spec).ok());
  BOOST_TEST(*SweepValues(spec->workload().prompt_tokens(), "p") == (std::vector<int32_t>{16, 64, 128}));
}

BOOST_AUTO_TEST_CASE(invalid_specs_name_the_field) {
  ExpectErrors(kExample, {
      {"\"minDurationSeconds\": 2", "\"minDurationSeconds\": 2, \"bogus\": 1", "bogus"},
      {"\"baseline\": \"f32\"", "\"baseline\": \"f16\"", "baseline: 'f16' is not a variant's name"},
      {"\"measuredRuns\": 10", "\"measuredRuns\": 0", "workload.measuredRuns: must be at least 1"},
      {"\"scenario\": \"SINGLE_STREAM\"", "\"scenario\": \"BATCH\"", "BATCH"},
      {"\"scenario\": \"SINGLE_STREAM\"", "\"scenario\": \"SERVER\"", "workload.targetQps"},
      {"\"promptTokens\": 64", "\"promptTokens\": 0", "workload.promptTokens"},
      {"\"promptTokens\": 64", "\"promptTokens\": \"many\"", "workload.promptTokens"},
      {"\"promptTokens\": 64,", "", "workload.promptTokens: missing"},
      {"{\"name\": \"q8_0\"", "{\"name\": \"f32\"", "variants[1].name: 'f32' is used twice"},
      {"\"model\": \"stories260K.gguf\"}", "\"model\": \"\"}", "variants[0].model: missing"},
      {"\"quantize\": \"Q8_0\"", "\"quantize\": \"Q8_0\", \"sha256\": \"abc\"", "variants[1].sha256"},
      {"\"ctx\": 128", "\"ctx\": 4", "accuracy.perplexity.ctx"},
      {"\"task\": \"HELLASWAG\"", "\"task\": \"TASK_UNSPECIFIED\"", "accuracy.choice[0].task"},
      {"\"pue\": 1.2", "\"pue\": 0.5", "cost.pue"},
      {"\"warmupRuns\": 2", "\"warmupRuns\": \"two\"", "warmup_runs"},
  });
  BOOST_TEST(!ParseSpecJson("{not json").ok());
  BOOST_TEST(ErrorOf("{}").find("variants") != std::string::npos);
}

// Endpoint variants (docs/endpoints.md): a name, never a URL; sweeps over
// rate and concurrency as lists, for endpoints only.
BOOST_AUTO_TEST_CASE(endpoint_variants_and_load_sweeps) {
  const std::string endpoint = R"({"name": "e", "baseline": "server",
    "variants": [{"name": "server", "runtime": "openai", "endpoint": "local", "api": "completions"}],
    "workload": {"scenario": "SERVER", "promptTokens": 32, "outputTokens": 32, "measuredRuns": 10,
                 "targetQps": [1, 2, 4]}})";
  auto spec = ParseSpecJson(endpoint);
  BOOST_REQUIRE_MESSAGE(spec.ok(), spec.status().message());
  BOOST_TEST(ValidateSpec(*spec).ok(), ValidateSpec(*spec).message());
  BOOST_TEST(std::vector<double>(spec->workload().target_qps_sweep().begin(),
                                 spec->workload().target_qps_sweep().end()) == (std::vector<double>{1, 2, 4}));
  auto users = ParseSpecJson(Replace(Replace(endpoint, "\"SERVER\"", "\"CONCURRENCY\""),
                                     "\"targetQps\": [1, 2, 4]", "\"concurrency\": [1, 8, 64]"));
  BOOST_REQUIRE(users.ok());
  BOOST_TEST(ValidateSpec(*users).ok(), ValidateSpec(*users).message());
  BOOST_TEST(users->workload().concurrency_sweep_size() == 3);
  ExpectErrors(endpoint, {
      {"\"endpoint\": \"local\"", "\"endpoint\": \"http://10.0.0.1:8000/v1\"", "variants[0].endpoint"},
      {", \"endpoint\": \"local\"", "", "variants[0].endpoint: missing"},
      {"\"runtime\": \"openai\"", "\"runtime\": \"vllm\"", "variants[0].runtime: 'vllm' is unknown"},
      {"\"api\": \"completions\"", "\"api\": \"embeddings\"", "variants[0].api"},
      {"\"api\": \"completions\"", "\"api\": \"chat\", \"quantize\": \"Q8_0\"", "variants[0].quantize"},
      {"[1, 2, 4]", "[1, 0]", "every rate of a sweep must be positive"},
      {"\"SERVER\"", "\"OFFLINE\"", "a list of rates sweeps SERVER only"},
      {"\"measuredRuns\": 10", "\"measuredRuns\": 10, \"burstiness\": -1", "workload.burstiness"},
      // An engine variant beside: one value per field, and at most 16 sequences.
      {"\"api\": \"completions\"}", "\"api\": \"completions\"}, {\"name\": \"m\", \"model\": \"m.gguf\"}",
       "endpoint variants only"},
  });
  // Endpoint fields on an engine variant are refused, naming the field.
  BOOST_TEST(ErrorOf(Replace(kExample, "\"quantize\": \"Q8_0\"", "\"quantize\": \"Q8_0\", \"endpoint\": \"x\""))
                 .find("variants[1].endpoint: applies to runtime 'openai' only") != std::string::npos);
  BOOST_TEST(ErrorOf(Replace(kExample, "\"scenario\": \"SINGLE_STREAM\"", "\"scenario\": \"CONCURRENCY\""))
                 .find("endpoints only") != std::string::npos);
}

// llama.cpp variants: settings validated with the field named; GPU layers
// "all" or a count, defaulting to all on a class gpu target.
BOOST_AUTO_TEST_CASE(llamacpp_variants_and_their_settings) {
  const std::string llama = Replace(kExample, "\"quantize\": \"Q8_0\"",
                                    "\"quantize\": \"Q8_0\", \"runtime\": \"llamacpp\", \"threads\": 2, "
                                    "\"llamacpp\": {\"batch\": 256, \"flashAttention\": \"on\", "
                                    "\"kvCacheType\": \"q8_0\", \"gpuLayers\": \"all\"}");
  auto spec = ParseSpecJson(llama);
  BOOST_REQUIRE_MESSAGE(spec.ok(), spec.status().message());
  BOOST_TEST(ValidateSpec(*spec).ok(), ValidateSpec(*spec).message());
  const v1::LlamaCppSettings& s = spec->variants(1).llamacpp();
  BOOST_TEST(s.batch() == 256);
  BOOST_TEST(*LlamaCppGpuLayers(s, false) == -1);
  BOOST_TEST(*LlamaCppGpuLayers(v1::LlamaCppSettings(), true) == -1);   // unset on a GPU target: all
  BOOST_TEST(*LlamaCppGpuLayers(v1::LlamaCppSettings(), false) == 0);   // elsewhere: none
  auto twelve = ParseSpecJson(Replace(llama, "\"gpuLayers\": \"all\"", "\"gpuLayers\": 12"));
  BOOST_REQUIRE(twelve.ok());
  BOOST_TEST(*LlamaCppGpuLayers(twelve->variants(1).llamacpp(), true) == 12);
  ExpectErrors(llama, {
      {"\"runtime\": \"llamacpp\"", "\"runtime\": \"llama.cpp\"", "'llama.cpp' is unknown (engine, llamacpp, openai)"},
      {"\"flashAttention\": \"on\"", "\"flashAttention\": \"yes\"", "variants[1].llamacpp.flashAttention: 'yes'"},
      {"\"kvCacheType\": \"q8_0\"", "\"kvCacheType\": \"q3_k\"", "variants[1].llamacpp.kvCacheType: 'q3_k' is unknown"},
      {"\"gpuLayers\": \"all\"", "\"gpuLayers\": \"most\"", "variants[1].llamacpp.gpuLayers"},
      {"\"gpuLayers\": \"all\"", "\"gpuLayers\": -3", "variants[1].llamacpp.gpuLayers"},
      {"\"gpuLayers\": \"all\"", "\"gpuLayers\": 2.5", "variants[1].llamacpp.gpuLayers"},
      {"\"batch\": 256", "\"batch\": -1", "variants[1].llamacpp.batch"},
      {"\"runtime\": \"llamacpp\", ", "", "variants[1].llamacpp: applies to runtime 'llamacpp' only"},
  });
}
