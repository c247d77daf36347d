// The tcobench command as a user runs it: real processes, real files.
#define BOOST_TEST_MODULE cli
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/test_support.h"

namespace tcobench::testing {
namespace {

using nlohmann::json;

std::string Ktiny() {
  static const std::string path = [] {
    const std::string p = (TempDir() / "cli-ktiny.gguf").string();
    const CommandResult r =
        RunTcobench("model synth " + Quote(p) + " --shape ktiny --type F16 --seed 3");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return p;
  }();
  return path;
}

std::string ShortText() {
  const std::string path = (TempDir() / "short.txt").string();
  const std::string text = "Once upon a time there was a cat.";
  WriteText(path, text);
  return path;
}

BOOST_AUTO_TEST_CASE(version_and_help) {
  CommandResult r = RunTcobench("--version");
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.rfind("tcobench ", 0) == 0u);
  for (const char* cmd : {"--help", "model info --help", "model logits --help",
                          "model synth --help", "model quantize --help", "generate --help",
                          "eval perplexity --help", "eval kld --help", "eval choice --help"}) {
    r = RunTcobench(cmd);
    BOOST_TEST(r.exit_code == 0, cmd);
    BOOST_TEST(r.out.find("usage:") != std::string::npos, cmd);
  }
  r = RunTcobench("frobnicate");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("unknown command") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(synth_then_info_json) {
  const CommandResult r = RunTcobench("model info " + Quote(Ktiny()) + " --format json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  BOOST_TEST(j["architecture"] == "llama");
  BOOST_TEST(j["n_vocab"] == 1024);
  BOOST_TEST(j["n_embd"] == 256);
  BOOST_TEST(j["n_layer"] == 4);
  BOOST_TEST(j["n_head"] == 4);
  BOOST_TEST(j["n_head_kv"] == 2);
  BOOST_TEST(j["n_ctx"] == 2048);
  // 4 x (256*256 + 2*256*128 + 256*256 + 3*256*768) + 1024*256 matrices, 9 norms of 256.
  const int64_t matrices = 4 * (256 * 256 * 2 + 2 * 256 * 128 + 3 * 256 * 768) + 1024 * 256;
  const int64_t norms = 9 * 256;
  BOOST_TEST(j["n_params"] == matrices + norms);
  BOOST_TEST(j["n_bytes"] == matrices * 2 + norms * 4);
  BOOST_TEST(j["tensor_types"]["F16"]["count"] == 29);
  BOOST_TEST(j["tensor_types"]["F32"]["count"] == 9);
  BOOST_TEST(std::fabs(j["bits_per_weight"].get<double>() -
                       8.0 * (matrices * 2 + norms * 4) / (matrices + norms)) < 1e-9);
  const CommandResult table = RunTcobench("model info " + Quote(Ktiny()));
  BOOST_TEST(table.exit_code == 0);
  BOOST_TEST(table.out.find("bits per weight") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(logits_file_layout) {
  const std::string out = (TempDir() / "l.f32").string();
  const CommandResult r = RunTcobench("model logits " + Quote(Ktiny()) +
                                      " --tokens 1,5,9 --output " + Quote(out) + " -t 2");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(std::filesystem::file_size(out) == 3u * 1024u * 4u);
}

BOOST_AUTO_TEST_CASE(generate_is_reproducible_and_stdout_is_text_only) {
  const std::string cmd =
      "generate " + Quote(Ktiny()) + " --prompt 'Once upon' -n 12 --temp 0.9 --seed 7 -t 2";
  const CommandResult a = RunTcobench(cmd), b = RunTcobench(cmd);
  BOOST_REQUIRE_MESSAGE(a.exit_code == 0, a.err);
  BOOST_TEST(a.out == b.out);
  BOOST_TEST(!a.out.empty());
  BOOST_TEST(a.err.find("decode:") != std::string::npos);
  BOOST_TEST(a.out.find("tokens/s") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(synth_in_a_quantized_type_applies_the_recipe) {
  const std::string out = (TempDir() / "ktiny-q4km.gguf").string();
  CommandResult r =
      RunTcobench("model synth " + Quote(out) + " --shape ktiny --type Q4_K_M --seed 2 -t 2");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(!std::filesystem::exists(out + ".synth-f32.tmp"));
  r = RunTcobench("model info " + Quote(out) + " --format json");
  const json j = json::parse(r.out);
  // ktiny: 24 Q4_K matrices, Q6_K for the tied embedding and the more-bits
  // layers' attn_v and ffn_down (layers 2 and 3 of 4), as llama-quantize does.
  BOOST_TEST(j["tensor_types"]["Q4_K"]["count"] == 24);
  BOOST_TEST(j["tensor_types"]["Q6_K"]["count"] == 5);
  BOOST_TEST(j["file_type"] == 15);
  r = RunTcobench("generate " + Quote(out) + " -n 4 --temp 0 -t 2");
  BOOST_TEST(r.exit_code == 0, r.err);
}

BOOST_AUTO_TEST_CASE(model_bench_reports_what_it_measured) {
  CommandResult r = RunTcobench("model bench " + Quote(Ktiny()) +
                                " -p 8 -n 4 -r 2 -t 2 -b 3 --no-bandwidth --format json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  BOOST_TEST(j["prefill_samples"].size() == 2u);
  BOOST_TEST(j["decode_samples"].size() == 2u);
  BOOST_TEST(j["prefill_tokens_per_second"].get<double>() > 0);
  BOOST_TEST(j["decode_tokens_per_second"].get<double>() > 0);
  BOOST_TEST(j["batch"] == 3);
  BOOST_TEST(j["threads"] == 2);
  BOOST_TEST(j["read_bandwidth_bytes_per_second"] == 0);  // --no-bandwidth
  BOOST_TEST(j["peak_rss_bytes"].get<int64_t>() >= j["model_bytes"].get<int64_t>());
  BOOST_TEST(j["model_bytes"] == 4 * (256 * 256 * 2 + 2 * 256 * 128 + 3 * 256 * 768) * 2 +
                                     1024 * 256 * 2 + 9 * 256 * 4);
  BOOST_TEST(j["kv_cache_bytes"] ==
             3 * 2 * 4 * 8 * 128 * 4);  // 3 sequences x K,V x 4 layers x 8 positions x 128 x f32
  BOOST_TEST(!j["isa"].get<std::string>().empty());
  BOOST_TEST(j["build_commit"].get<std::string>() != "");
  r = RunTcobench("model bench " + Quote(Ktiny()) + " -b 17");
  BOOST_TEST(r.exit_code == 2);
}

// -d: each test starts after that much context, in every sequence; the
// cache holds exactly -d plus the longer test, so a test that did not start
// from the -d tokens (a second run, a second sequence) would overflow it.
BOOST_AUTO_TEST_CASE(model_bench_runs_after_a_context_depth) {
  CommandResult r = RunTcobench("model bench " + Quote(Ktiny()) +
                                " -p 8 -n 4 -d 600 -r 2 -t 2 -b 2 --no-bandwidth --format json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  BOOST_TEST(j["n_depth"] == 600);
  BOOST_TEST(j["prefill_samples"].size() == 2u);
  BOOST_TEST(j["decode_samples"].size() == 2u);
  BOOST_TEST(j["decode_tokens_per_second"].get<double>() > 0);
  BOOST_TEST(j["kv_cache_bytes"] == 2 * 2 * 4 * (600 + 8) * 128 * 4);  // 2 sequences, K and V, 4 layers
  r = RunTcobench("model bench " + Quote(Ktiny()) + " -p 8 -n 4 -d 20 -r 1 -t 2 --no-bandwidth");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("pp8 @ d20") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("tg4 @ d20") != std::string::npos, r.out);
  r = RunTcobench("model bench " + Quote(Ktiny()) + " -d -5");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("n-depth") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(bad_input_gives_one_line_and_exit_2) {
  const std::string bad = (TempDir() / "bad.gguf").string();
  WriteFile(bad, {'G', 'G', 'U', 'F', 3, 0, 0, 0, 1});
  for (const std::string& cmd :
       {"model info " + Quote(bad), "model info " + Quote((TempDir() / "nope.gguf").string()),
        "generate " + Quote(bad) + " -n 1",
        "model logits " + Quote(Ktiny()) + " --tokens 1,x --output /dev/null",
        "model logits " + Quote(Ktiny()) + " --tokens 1,99999 --output /dev/null",
        std::string("model synth /dev/null --shape nope"), "generate " + Quote(Ktiny()) + " -n -3",
        "generate " + Quote(Ktiny()) + " --bogus",
        "model quantize " + Quote(Ktiny()) + " /dev/null --type Q7_Z",
        "model quantize " + Quote(Ktiny()) + " " + Quote(Ktiny()) + " --type Q8_0",
        "eval perplexity " + Quote(Ktiny()) + " --text /nonexistent.txt",
        "eval perplexity " + Quote(Ktiny()) + " --text " + Quote(ShortText()) + " --ctx 512",
        "eval choice " + Quote(Ktiny()) + " --task mmlu /dev/null",
        "eval choice " + Quote(Ktiny()) + " --task hellaswag " + Quote(Ktiny())}) {
    const CommandResult r = RunTcobench(cmd);
    BOOST_TEST(r.exit_code == 2, cmd << " -> " << r.exit_code);
    BOOST_TEST(r.err.rfind("tcobench: ", 0) == 0u, cmd << ": " << r.err);
    BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, cmd << ": " << r.err);
  }
  const CommandResult r = RunTcobench("model info " + Quote(bad));
  BOOST_TEST(r.err.find("bad.gguf") != std::string::npos);
  BOOST_TEST(r.err.find("byte") != std::string::npos);
}

}  // namespace

namespace {

// CPU-bound processes, one per CPU, for the life of the object.
class BusyLoops {
 public:
  BusyLoops() {
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) {
      const pid_t pid = ::fork();
      BOOST_REQUIRE(pid >= 0);
      if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", "while :; do :; done", static_cast<char*>(nullptr));
        ::_exit(127);
      }
      pids_.push_back(pid);
    }
  }
  ~BusyLoops() {
    for (pid_t pid : pids_) ::kill(pid, SIGKILL);
    for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
  }

 private:
  std::vector<pid_t> pids_;
};

}  // namespace

// Issue 19: a comparison measured while CPU-bound processes compete for
// every core is marked contaminated (result file and summary), and a gate
// involving it is inconclusive (exit 3) saying why. With two repetitions,
// the runs are kept apart.
BOOST_AUTO_TEST_CASE(competing_processes_contaminate_and_the_gate_is_inconclusive) {
  const std::string spec = (TempDir() / "busy-spec.json").string();
  WriteText(spec, R"({"name": "interference", "baseline": "f16",
    "variants": [{"name": "f16", "model": ")" + Ktiny() + R"("}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 32, "outputTokens": 16, "warmupRuns": 2,
                 "measuredRuns": 20, "minDurationSeconds": 0.5, "repetitions": 2}})");
  const std::string cache = " --cache-dir " + Quote((TempDir() / "cache").string());
  const std::string base = (TempDir() / "busy-base.json").string(), cand = (TempDir() / "busy-cand.json").string();
  CommandResult r = RunTcobench("run --local " + Quote(spec) + cache + " --energy none --output " + Quote(base));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  {
    BusyLoops busy;
    r = RunTcobench("run --local " + Quote(spec) + cache + " --energy none --output " + Quote(cand));
  }
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("CONTAMINATED: f16 @ cpu (32/16): other processes used") != std::string::npos, r.out);
  const nlohmann::json result = nlohmann::json::parse(ReadText(cand));
  for (const auto& row : result["results"]) {
    BOOST_TEST(row["interference"]["contaminated"].get<bool>());
    BOOST_TEST(row["interference"]["foreign_cpu_fraction"].get<double>() > 0.1);
    BOOST_TEST(row["repetitions"].get<double>() == 2);
    std::set<double> runs;
    for (const auto& s : row["samples"]) runs.insert(s.contains("repetition") ? s["repetition"].get<double>() : 0.0);
    BOOST_TEST(runs.size() == 2u);
  }
  r = RunTcobench("gate --baseline " + Quote(base) + " --candidate " + Quote(cand));
  BOOST_TEST(r.exit_code == 3, r.out << r.err);
  BOOST_TEST(r.out.find("gate: inconclusive") == 0, r.out);
  BOOST_TEST(r.out.find("candidate contaminated (other processes used") != std::string::npos, r.out);
}

}  // namespace tcobench::testing
