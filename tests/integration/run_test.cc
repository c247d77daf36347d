// `tcobench run --local` and `tcobench spec validate` as a user runs them:
// real processes on the real stories260K model and evaluation data.
#define BOOST_TEST_MODULE run
#include <nlohmann/json.hpp>

#include "tests/test_support.h"

namespace tcobench::testing {
namespace {

using nlohmann::json;

std::string WriteSpec(const std::string& name, const std::string& body) {
  const std::string path = (TempDir() / name).string();
  WriteText(path, body);
  return path;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, from);
  return s.replace(at, from.size(), to);
}

// 64-bit integers are strings in the proto JSON mapping.
int64_t Int(const json& v) { return v.is_string() ? std::stoll(v.get<std::string>()) : v.get<int64_t>(); }

std::string Roots() {
  return " --model-root " + Quote(SharedPath("models").string()) + " --data-root " +
         Quote(SharedPath("data").string()) + " --cache-dir " + Quote((TempDir() / "cache").string());
}

// The issue's example, reduced for CI: fewer runs, two perplexity chunks,
// ten HellaSwag tasks.
const char* kReduced = R"({
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
    "minDurationSeconds": 0.5
  },
  "accuracy": {
    "perplexity": {"text": "tinystories/TinyStories-valid.head32k.txt", "ctx": 128, "maxChunks": 4},
    "klDivergence": true,
    "choice": [{"task": "HELLASWAG", "file": "hellaswag/hellaswag_val_full.txt", "limit": 10}]
  },
  "hardware": [{"name": "cpu", "selector": {"class": "cpu"}}],
  "cost": {"energyUsdPerKwh": 0.15, "pue": 1.2, "gridGramsCo2PerKwh": 350}
})";

void CheckSummary(const json& s, double max_seconds) {
  BOOST_TEST(Int(s["n"]) >= 1);
  for (const char* k : {"p50", "p90", "p99", "mean", "ci95_low", "ci95_high"}) {
    BOOST_TEST(s[k].get<double>() > 0.0, k);
    BOOST_TEST(s[k].get<double>() < max_seconds, k);
  }
  BOOST_TEST(s["p50"].get<double>() <= s["p90"].get<double>());
  BOOST_TEST(s["p90"].get<double>() <= s["p99"].get<double>());
  BOOST_TEST(s["ci95_low"].get<double>() <= s["p50"].get<double>());
  BOOST_TEST(s["ci95_high"].get<double>() >= s["p50"].get<double>());
}

BOOST_AUTO_TEST_CASE(reduced_example_runs_locally, *boost::unit_test::precondition(NeedsShared())) {
  const std::string spec = WriteSpec("reduced.json", kReduced);
  const std::string out = (TempDir() / "results.json").string();
  CommandResult r = RunTcobench("spec validate " + Quote(spec));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = RunTcobench("run " + Quote(spec) + " --local --threads 2" + Roots() + " --output " + Quote(out));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST_MESSAGE(r.out);
  BOOST_TEST(r.out.find("q8_0") != std::string::npos);
  BOOST_TEST(r.err.find("quantizing to Q8_0") != std::string::npos);  // progress on stderr
  const json j = json::parse(ReadText(out));

  const json& m = j["manifest"];
  BOOST_TEST(!m["tcobench_version"].get<std::string>().empty());
  BOOST_TEST(!m["git_commit"].get<std::string>().empty());
  BOOST_TEST(m["compiler"].get<std::string>().find("g++") != std::string::npos);
  BOOST_TEST(!m["isa"].get<std::string>().empty());
  BOOST_TEST(m["threads"] == 2);
  BOOST_TEST(m["cpu_cores"].get<int>() >= 1);
  BOOST_TEST(!m["cpu_model"].get<std::string>().empty());
  BOOST_TEST(!m["cpu_flags"].get<std::string>().empty());
  BOOST_TEST(Int(m["memory_bytes"]) > 0);
  BOOST_TEST(!m["os"].get<std::string>().empty());
  BOOST_TEST(m["kernel"].get<std::string>().find("Linux") != std::string::npos);
  BOOST_TEST(m["seed"] == "1");  // uint64 in the proto JSON mapping is a string
  BOOST_TEST(m["start_time"].get<std::string>().back() == 'Z');
  BOOST_TEST(m["end_time"].get<std::string>() >= m["start_time"].get<std::string>());
  BOOST_REQUIRE(m["models"].size() == 2u);
  BOOST_TEST(m["models"][0]["sha256"].get<std::string>().size() == 64u);
  BOOST_TEST(Int(m["models"][0]["tensor_types"]["F32"]) > 0);
  BOOST_TEST(m["models"][1]["quantized_from"] == "Q8_0");
  BOOST_TEST(Int(m["models"][1]["tensor_types"]["Q8_0"]) > 0);
  BOOST_TEST(m["models"][1]["source_sha256"] == m["models"][0]["sha256"]);
  BOOST_TEST(m["models"][1]["sha256"] != m["models"][0]["sha256"]);

  BOOST_REQUIRE(j["results"].size() == 2u);
  for (const json& v : j["results"]) {
    BOOST_TEST_CONTEXT(v["variant"]) {
      BOOST_TEST(v["hardware"] == "cpu");
      BOOST_TEST(v["scenario"] == "SINGLE_STREAM");
      BOOST_TEST(v["samples"].size() >= 10u);
      BOOST_TEST(v["measured_seconds"].get<double>() >= 0.5);
      CheckSummary(v["latency"]["ttft_seconds"], 5.0);
      CheckSummary(v["latency"]["tpot_seconds"], 1.0);
      CheckSummary(v["latency"]["e2e_seconds"], 10.0);
      BOOST_TEST(v["latency"]["e2e_seconds"]["p50"].get<double>() >
                 v["latency"]["ttft_seconds"]["p50"].get<double>());
      const json& th = v["throughput"];
      for (const char* k : {"prefill_tokens_per_second", "decode_tokens_per_second",
                            "requests_per_second", "output_tokens_per_second"}) {
        BOOST_TEST(th[k].get<double>() > 0.0, k);
      }
      const json& e = v["energy"];
      BOOST_TEST((e["source"] == "rapl" || e["source"] == "model"));
      BOOST_TEST(e["joules"].get<double>() > 0.0);
      BOOST_TEST(e["joules_per_token"].get<double>() > 0.0);
      BOOST_TEST(e["average_watts"].get<double>() > 0.0);
      BOOST_TEST(e["average_watts"].get<double>() < 2000.0);
      BOOST_TEST(e["uncertainty_fraction"].get<double>() > 0.0);
      const json& mem = v["memory"];
      BOOST_TEST(Int(mem["peak_rss_bytes"]) > 0);
      BOOST_TEST(Int(mem["model_bytes"]) > 0);
      BOOST_TEST(mem["load_seconds"].get<double>() > 0.0);
      const json& acc = v["accuracy"];
      BOOST_TEST(acc["perplexity"]["ppl"].get<double>() > 1.0);
      BOOST_TEST(acc["perplexity"]["ppl"].get<double>() < 20.0);
      BOOST_TEST(acc["perplexity"]["bits_per_byte"].get<double>() > 0.0);
      BOOST_TEST(Int(acc["perplexity"]["chunks"]) == 4);
      BOOST_REQUIRE(acc["choice"].size() == 1u);
      BOOST_TEST(acc["choice"][0]["task"] == "HELLASWAG");
      BOOST_TEST(Int(acc["choice"][0]["n"]) == 10);
      const json& s0 = v["samples"][0];
      BOOST_TEST(s0["prompt_tokens"] == 64);
      BOOST_TEST(s0["output_tokens"] == 32);
      BOOST_TEST(s0["prompt_ids"].size() == 64u);
      BOOST_TEST(v["harness_overhead"]["seconds_per_step"].get<double>() > 0.0);
      BOOST_TEST(v["harness_overhead"]["fraction_of_decode_step"].get<double>() < 0.05);
    }
  }
  // KL divergence: not for the baseline; small for Q8_0 against F32.
  BOOST_TEST(j["results"][0]["accuracy"]["kld"]["applicable"] == false);
  const json& kld = j["results"][1]["accuracy"]["kld"];
  BOOST_TEST(kld["applicable"] == true);
  BOOST_TEST(kld["mean_kld"].get<double>() > 0.0);
  BOOST_TEST(kld["mean_kld"].get<double>() < 0.01);
  BOOST_TEST(kld["same_top1"].get<double>() > 0.9);

  // A second run takes the quantized variant from the cache.
  r = RunTcobench("run " + Quote(spec) + " --local --threads 2 --energy model" + Roots() +
                  " --format json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(r.err.find("quantizing") == std::string::npos);
  BOOST_TEST(json::parse(r.out)["results"][1]["energy"]["source"] == "model");
}

BOOST_AUTO_TEST_CASE(server_and_offline_with_a_sweep, *boost::unit_test::precondition(NeedsShared())) {
  for (const std::string scenario : {"SERVER", "OFFLINE"}) {
    const std::string spec = WriteSpec(scenario + ".json", R"({
      "name": "load", "baseline": "f32",
      "variants": [{"name": "f32", "model": "stories260K.gguf"}],
      "workload": {"scenario": ")" + scenario + R"(", "promptTokens": [16, 32], "outputTokens": 8,
                   "measuredRuns": 12, "targetQps": 50, "concurrency": 4, "seed": 7}
    })");
    const CommandResult r = RunTcobench("run " + Quote(spec) + " --local --threads 2 --format json" + Roots());
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json j = json::parse(r.out);
    BOOST_REQUIRE(j["results"].size() == 2u);  // the prompt-length sweep
    BOOST_TEST(j["results"][0]["prompt_tokens"] == 16);
    BOOST_TEST(j["results"][1]["prompt_tokens"] == 32);
    for (const json& v : j["results"]) {
      BOOST_TEST(v["scenario"] == scenario);
      BOOST_TEST(v["samples"].size() >= 12u);
      BOOST_TEST(v["concurrency"] == 4);
      CheckSummary(v["latency"]["e2e_seconds"], 10.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_clearly, *boost::unit_test::precondition(NeedsShared())) {
  std::string body = Replace(kReduced, "\"measuredRuns\": 10", "\"measuredRuns\": 0");
  CommandResult r = RunTcobench("spec validate " + Quote(WriteSpec("zero.json", body)));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("workload.measuredRuns") != std::string::npos, r.err);
  r = RunTcobench("run " + Quote(WriteSpec("zero2.json", body)) + " --local" + Roots());
  BOOST_TEST(r.exit_code == 2);
  // A wrong pin fails the run and names the digest.
  body = Replace(kReduced, "\"model\": \"stories260K.gguf\"}",
                 "\"model\": \"stories260K.gguf\", \"sha256\": \"" + std::string(64, '0') + "\"}");
  r = RunTcobench("run " + Quote(WriteSpec("pin.json", body)) + " --local" + Roots());
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("variants[0].sha256") != std::string::npos, r.err);
  // Without --local the spec goes to a coordinator: none listens here.
  r = RunTcobench("run " + Quote(WriteSpec("ok.json", kReduced)) + " --coordinator 127.0.0.1:1");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("not reachable") != std::string::npos, r.err);
  // A missing model names the field and the path.
  body = Replace(kReduced, "{\"name\": \"f32\",  \"model\": \"stories260K.gguf\"}",
                 "{\"name\": \"f32\",  \"model\": \"nope.gguf\"}");
  r = RunTcobench("run " + Quote(WriteSpec("missing.json", body)) + " --local" + Roots());
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("variants[0].model") != std::string::npos, r.err);
  for (const char* cmd : {"run --help", "spec validate --help"}) {
    r = RunTcobench(cmd);
    BOOST_TEST(r.exit_code == 0);
    BOOST_TEST(r.out.find("usage:") != std::string::npos);
  }
}

}  // namespace
}  // namespace tcobench::testing
