// The service as it runs: a real coordinator process and real worker
// processes on loopback, driven through the tcobench CLI; workers and the
// coordinator killed with SIGKILL mid-run.
#define BOOST_TEST_MODULE service
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/test_support.h"

namespace tcobench::testing {
namespace {

using nlohmann::json;

// A port nobody listens on, below Linux's ephemeral range (32768-60999):
// a port from that range can be handed to an outgoing connection (a worker
// reconnecting) while the coordinator is down, and its restart could not bind.
int FreePort() {
  static unsigned seed = static_cast<unsigned>(getpid()) * 7919u;
  for (int attempt = 0; attempt < 200; ++attempt) {
    seed = seed * 1103515245u + 12345u;
    const int port = 20000 + static_cast<int>((seed >> 8) % 12000);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) return port;
  }
  BOOST_FAIL("no free port in 20000-31999");
  return 0;
}

// A background process (a coordinator or a worker), killed when dropped.
class Process {
 public:
  Process(const std::string& binary, const std::vector<std::string>& args, const std::string& log,
          const std::string& isa = "") {
    std::fflush(nullptr);  // the child must not write the parent's buffers again
    pid_ = fork();
    if (pid_ == 0) {
      if (!isa.empty()) setenv("TCOBENCH_ISA", isa.c_str(), 1);
      freopen(log.c_str(), "w", stdout);
      freopen(log.c_str(), "a", stderr);
      std::vector<char*> argv;
      const std::string path = std::string(TCOBENCH_BIN_DIR) + "/" + binary;
      argv.push_back(const_cast<char*>(path.c_str()));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Process() { Kill(SIGKILL); }
  void Kill(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
  }
  int exit_code() const { return exit_code_; }
  // False once the process has exited (reaped here).
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    return false;
  }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

struct Cluster {
  int port = FreePort();
  std::string addr = "127.0.0.1:" + std::to_string(port);
  std::filesystem::path dir;
  std::unique_ptr<Process> coordinator;
  std::vector<std::unique_ptr<Process>> workers;

  explicit Cluster(const std::string& name) : dir(TempDir() / name) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    StartCoordinator();
  }
  int starts = 0;
  void StartCoordinator() {
    ++starts;
    coordinator = std::make_unique<Process>(
        "tcobench-coordinator",
        std::vector<std::string>{"--listen", addr, "--data-dir", (dir / "data").string(), "--lease-seconds", "3",
                                 "--metrics-listen", "127.0.0.1:0"},
        (dir / ("coordinator" + std::to_string(starts) + ".log")).string());
    // Serving once it says so (each start has its own log). Sanitized
    // builds on a busy 2-core machine start slowly: up to a minute.
    const std::filesystem::path log = dir / ("coordinator" + std::to_string(starts) + ".log");
    for (int i = 0; i < 600; ++i) {
      if (ReadText(log).find("listening on") != std::string::npos) return;
      if (!coordinator->Running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    BOOST_FAIL("the coordinator did not start (exit code " << coordinator->exit_code() << "); its log:\n"
                                                            << ReadText(log));
  }
  Process* AddWorker(const std::string& name, const std::string& tier, const std::string& isa,
                     const std::filesystem::path& root = {}) {
    workers.push_back(std::make_unique<Process>(
        "tcobench-worker",
        std::vector<std::string>{"--coordinator", addr, "--name", name, "--model-root",
                                 root.empty() ? SharedPath("models").string() : root.string(), "--data-root",
                                 root.empty() ? SharedPath("data").string() : root.string(),
                                 "--cache-dir", (dir / "cache").string(), "--labels", "tier=" + tier,
                                 "--threads", "1", "--energy", "model", "--lock-file", (dir / "lock").string(),
                                 "--metrics-listen", "127.0.0.1:0"},
        (dir / (name + ".log")).string(), isa));
    return workers.back().get();
  }
  CommandResult Cli(const std::string& args) { return RunTcobench(args + " --coordinator " + addr); }
  json Comparison(const std::string& id) {
    const CommandResult r = Cli("list --format json");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json list = json::parse(r.out);  // kept alive: the loop walks inside it
    for (const json& c : list["comparisons"]) {
      if (c["id"] == id) return c;
    }
    return json();
  }
  // Waits until pred(comparison) holds, up to `seconds`.
  json WaitFor(const std::string& id, const std::function<bool(const json&)>& pred, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      json c = Comparison(id);
      if (!c.is_null() && pred(c)) return c;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    BOOST_FAIL("timed out waiting on " << id << ": " << Comparison(id).dump());
    return json();
  }
};

// A synthesized ktiny F16 model, models/m.gguf in the cluster's folder
// (no shared/ needed); returns the folder.
std::filesystem::path SynthModel(const Cluster& cluster) {
  const auto root = cluster.dir / "models";
  std::filesystem::create_directories(root);
  const CommandResult r =
      RunTcobench("model synth " + Quote((root / "m.gguf").string()) + " --shape ktiny --type F16");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return root;
}

std::string Spec(const std::string& name, double min_seconds, const std::string& hardware,
                 const std::string& cost = "") {
  const std::string body = R"({"name": ")" + name + R"(", "baseline": "f32",
    "variants": [{"name": "f32", "model": "stories260K.gguf"},
                 {"name": "q8_0", "model": "stories260K.gguf", "quantize": "Q8_0"}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 32, "outputTokens": 16, "warmupRuns": 1,
                 "measuredRuns": 5, "minDurationSeconds": )" + std::to_string(min_seconds) + R"(},
    "accuracy": {"perplexity": {"text": "tinystories/TinyStories-valid.head32k.txt", "ctx": 128, "maxChunks": 2},
                 "klDivergence": true},
    "hardware": )" + hardware + (cost.empty() ? "" : R"(, "cost": )" + cost) + "}";
  const std::string path = (TempDir() / (name + ".json")).string();
  WriteText(path, body);
  return path;
}

const char* kTwoTargets = R"([{"name": "big", "selector": {"labels": {"tier": "big"}, "isa": "avx2"}},
                              {"name": "small", "selector": {"labels": {"tier": "small"}}}])";

bool Done(const json& c) {
  return c["state"] == "SUCCEEDED" || c["state"] == "FAILED" || c["state"] == "CANCELLED";
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_workers_two_hardware_classes, *boost::unit_test::precondition(NeedsShared())) {
  Cluster cluster("two");
  cluster.AddWorker("big", "big", "avx2");
  cluster.AddWorker("small", "small", "scalar");
  // Both targets priced in the spec: each job's spec keeps only its own
  // target's price (every job used to fail "cost.hardware.small: no hardware
  // target has this name" on the worker).
  const char* kBothPriced = R"({"hardware": {"big": {"usdPerHour": 0.10}, "small": {"usdPerHour": 0.05}}})";
  CommandResult r =
      cluster.Cli("submit " + Quote(Spec("two", 0, kTwoTargets, kBothPriced)) + " --wait --format json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  BOOST_TEST(id.rfind("cmp-", 0) == 0u);
  const json report = json::parse(r.out.substr(r.out.find('\n') + 1));
  std::set<std::string> pairs;
  for (const json& v : report["results"]) pairs.insert(v["variant"].get<std::string>() + "@" + v["hardware"].get<std::string>());
  BOOST_TEST(pairs == (std::set<std::string>{"f32@big", "f32@small", "q8_0@big", "q8_0@small"}));
  std::set<std::string> isas;
  for (const json& m : report["job_manifests"]) isas.insert(m["isa"].get<std::string>());
  BOOST_TEST(isas == (std::set<std::string>{"avx2", "scalar"}));
  r = cluster.Cli("workers");
  BOOST_TEST(r.out.find("tier=big") != std::string::npos);
  BOOST_TEST(r.out.find("scalar") != std::string::npos);
  r = cluster.Cli("report " + id);
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.find("q8_0") != std::string::npos);
  r = cluster.Cli("report " + id + " --format json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json priced = json::parse(r.out);
  std::map<std::string, double> prices;
  for (const json& row : priced["cost"]["rows"]) {
    BOOST_TEST(row["price_source"] == "spec: rented", row.dump());
    prices[row["hardware"].get<std::string>()] = row["usd_per_hour"].get<double>();
  }
  BOOST_TEST(prices == (std::map<std::string, double>{{"big", 0.10}, {"small", 0.05}}));
  // Unknown ids and invalid specs: clear errors, exit 2.
  r = cluster.Cli("report cmp-nope");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("no comparison or tag 'cmp-nope'") != std::string::npos, r.err);
  r = cluster.Cli("delete cmp-nope");
  BOOST_TEST(r.exit_code == 2);
  // A model path escaping the root fails its jobs with the reason, at once.
  const std::string escape = Spec("escape", 0, R"([{"name": "any", "selector": {}}])");
  std::string body = ReadText(escape);
  body.replace(body.find("\"stories260K.gguf\"}"), 18, "\"../models/stories260K.gguf\"");
  WriteText(escape, body);
  r = cluster.Cli("submit " + Quote(escape) + " --wait");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("leaves the root") != std::string::npos, r.err);
  // Deleting leaves the others.
  BOOST_TEST(cluster.Cli("delete " + id).exit_code == 0);
  BOOST_TEST(cluster.Comparison(id).is_null());
}

BOOST_AUTO_TEST_CASE(killed_worker_job_is_released_and_completes_once,
                     *boost::unit_test::precondition(NeedsShared())) {
  Cluster cluster("killworker");
  Process* doomed = cluster.AddWorker("doomed", "big", "avx2");
  CommandResult r = cluster.Cli("submit " + Quote(Spec("kill", 3.0, R"([{"name": "big", "selector": {"labels": {"tier": "big"}}}])")));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  // Wait until the doomed worker is measuring (past loading), then kill it.
  cluster.WaitFor(id, [](const json& c) {
    for (const json& j : c["jobs"]) {
      if (j["state"] == "LEASED" && j["stage"].get<std::string>().find("measuring") != std::string::npos) return true;
    }
    return false;
  }, 60);
  doomed->Kill(SIGKILL);
  cluster.AddWorker("rescuer", "big", "avx2");
  const json c = cluster.WaitFor(id, Done, 120);
  BOOST_TEST(c["state"] == "SUCCEEDED");
  int reattempted = 0;
  for (const json& j : c["jobs"]) {
    if (j["attempts"].get<int>() >= 2) {
      ++reattempted;
      BOOST_TEST(j["attempt_errors"][0].get<std::string>().find("lease expired") != std::string::npos);
    }
  }
  BOOST_TEST(reattempted >= 1);
  r = cluster.Cli("report " + id + " --format json");
  BOOST_REQUIRE(r.exit_code == 0);
  BOOST_TEST(json::parse(r.out)["result"]["results"].size() == 2u);  // exactly one result per job
}

BOOST_AUTO_TEST_CASE(coordinator_killed_and_restarted_loses_nothing,
                     *boost::unit_test::precondition(NeedsShared())) {
  Cluster cluster("killcoord");
  cluster.AddWorker("w", "big", "avx2");
  CommandResult r = cluster.Cli("submit " + Quote(Spec("first", 0, R"([{"name": "big", "selector": {}}])")) + " --wait");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string first = r.out.substr(0, r.out.find('\n'));
  r = cluster.Cli("submit " + Quote(Spec("second", 2.0, R"([{"name": "big", "selector": {}}])")));
  BOOST_REQUIRE(r.exit_code == 0);
  const std::string second = r.out.substr(0, r.out.find('\n'));
  cluster.WaitFor(second, [](const json& c) { return c["state"] == "RUNNING"; }, 60);
  cluster.coordinator->Kill(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  cluster.StartCoordinator();
  const json c = cluster.WaitFor(second, Done, 120);
  BOOST_TEST(c["state"] == "SUCCEEDED");
  BOOST_TEST(cluster.Comparison(first)["state"] == "SUCCEEDED");
  r = cluster.Cli("report " + first + " --format json");
  BOOST_TEST(json::parse(r.out)["result"]["results"].size() == 2u);
  // A clean stop: SIGTERM, exit 0.
  cluster.workers[0]->Kill(SIGTERM);
  BOOST_TEST(cluster.workers[0]->exit_code() == 0);
  cluster.coordinator->Kill(SIGTERM);
  BOOST_TEST(cluster.coordinator->exit_code() == 0);
}

}  // namespace tcobench::testing

namespace tcobench::testing {

BOOST_AUTO_TEST_CASE(cancel_stops_a_comparison, *boost::unit_test::precondition(NeedsShared())) {
  Cluster cluster("cancel");
  cluster.AddWorker("w", "big", "avx2");
  CommandResult r = cluster.Cli("submit " + Quote(Spec("long", 3.0, R"([{"name": "big", "selector": {}}])")));
  BOOST_REQUIRE(r.exit_code == 0);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  cluster.WaitFor(id, [](const json& c) { return c["state"] == "RUNNING"; }, 60);
  r = cluster.Cli("cancel " + id);
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.find("CANCELLED") != std::string::npos);
  json c = cluster.Comparison(id);
  BOOST_TEST(c["state"] == "CANCELLED");
  for (const json& j : c["jobs"]) BOOST_TEST(j["state"] == "CANCELLED");
  // The worker stops the cancelled job and takes the next comparison.
  r = cluster.Cli("submit " + Quote(Spec("after", 0, R"([{"name": "big", "selector": {}}])")) + " --wait");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(cluster.Comparison(id)["state"] == "CANCELLED");  // nothing stored late
  r = cluster.Cli("report " + id + " --format json");
  BOOST_TEST(json::parse(r.out)["result"]["results"].size() <= 1u);
}

// The README's first command: the whole service in one go, nothing left behind.
BOOST_AUTO_TEST_CASE(demo_runs_and_leaves_nothing_behind) {
  const auto dir = TempDir() / "demo";
  const CommandResult r = RunTcobench("demo --keep " + Quote(dir.string()));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  // A result row for each variant on each worker's hardware, and the cost.
  for (const char* row : {"q4_k_m +avx2-1t ", "q8_0 +avx512-2t ", "f16 +avx2-1t "}) {
    BOOST_TEST(std::regex_search(r.out, std::regex(std::string("(^|\n)") + row)), row << " missing in\n" << r.out);
  }
  BOOST_TEST(r.out.find("recommendation: Serve ") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("workers exited 0 and 0, coordinator 0") != std::string::npos);
  const nlohmann::json report = nlohmann::json::parse(ReadText(dir / "report.json"));
  BOOST_TEST(report["results"].size() == 6u);
  // No coordinator or worker of this demo still runs.
  // ("[t]" keeps the pattern from matching this shell's own command line.)
  const std::string cmd = "pgrep -f " + Quote("[t]cobench-(worker|coordinator) .*" + dir.string()) + " >/dev/null";
  BOOST_TEST(std::system(cmd.c_str()) != 0);
}

}  // namespace tcobench::testing

namespace tcobench::testing {

// The release gate end to end: a baseline, its rerun on the same worker, and
// a candidate measured on a worker slowed on purpose (the scalar kernels);
// tags, recorded verdicts, JUnit and Markdown. A synthesized model, so
// shared/ is not needed.
BOOST_AUTO_TEST_CASE(gate_flags_a_slowed_worker_and_passes_a_rerun) {
  Cluster cluster("gate");
  const auto root = SynthModel(cluster);
  CommandResult r;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "A small dog ran across the field to find the red ball near the old tree. ";
  WriteText((root / "text.txt").string(), text);
  const std::string body = R"({"name": "gate e2e", "baseline": "f16",
    "variants": [{"name": "f16", "model": "m.gguf"}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 32, "outputTokens": 16, "warmupRuns": 2,
                 "measuredRuns": 30},
    "accuracy": {"perplexity": {"text": "text.txt", "ctx": 64, "maxChunks": 4}}})";
  const std::string spec = (cluster.dir / "spec.json").string();
  WriteText(spec, body);
  const std::string policy = (cluster.dir / "policy.json").string();
  WriteText(policy, R"({"ignoreContamination": true, "metrics": {
    "ttft_p99": {"min_effect": 0.2}, "tpot_p50": {"min_effect": 0.2},
    "decode_tokens_per_second": {"min_effect": 0.2}, "ppl_ratio": {}, "mean_kld": {}}})");
  // Reruns of one build on a shared 2-core VM differ by up to 1.9x in speed
  // (the host's, not the engine's: `model bench -r 300` six times in a row
  // gave 1890 to 3572 tokens/s; docs/gate.md), more than a single run's
  // requests can show. The rerun is gated with a minimum effect above that
  // noise; the slowed worker, 13x to 30x slower, with the issue's 0.2.
  // ctest runs other suites beside this one, so the runs may be marked
  // contaminated; this test is about the decision rule, which the policy
  // then applies to the numbers alone (contamination has its own test).
  const std::string rerun_policy = (cluster.dir / "rerun-policy.json").string();
  WriteText(rerun_policy, R"({"ignoreContamination": true, "metrics": {
    "ttft_p99": {"min_effect": 1.5}, "tpot_p50": {"min_effect": 1.5},
    "decode_tokens_per_second": {"min_effect": 1.5}, "ppl_ratio": {}, "mean_kld": {}}})");
  auto submit = [&] {
    CommandResult s = cluster.Cli("submit " + Quote(spec) + " --wait");
    BOOST_REQUIRE_MESSAGE(s.exit_code == 0, s.out << s.err);
    return s.out.substr(0, s.out.find('\n'));
  };
  cluster.AddWorker("fast", "any", "", root);
  const std::string base = submit();
  const std::string rerun = submit();
  cluster.workers[0]->Kill(SIGTERM);
  cluster.AddWorker("slowed", "any", "scalar", root);
  const std::string slow = submit();

  r = cluster.Cli("tag " + base + " release/1.0");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("release/1.0 -> " + base) != std::string::npos, r.out);
  // The rerun passes.
  r = cluster.Cli("gate --baseline release/1.0 --candidate " + rerun + " --policy " + Quote(rerun_policy));
  BOOST_TEST(r.exit_code == 0, r.out << r.err);
  BOOST_TEST(r.out.find("gate: pass") == 0, r.out);
  BOOST_TEST(r.err.find("verdict recorded as gate-") != std::string::npos, r.err);
  // The slowed worker's comparison is a regression, naming the metrics.
  const std::string junit = (cluster.dir / "gate.xml").string(), md = (cluster.dir / "gate.md").string();
  r = cluster.Cli("gate --baseline release/1.0 --candidate " + slow + " --policy " + Quote(policy) + " --junit " +
                  Quote(junit) + " --markdown " + Quote(md));
  BOOST_TEST(r.exit_code == 1, r.out << r.err);
  BOOST_TEST(r.out.find("gate: regression") == 0, r.out);
  for (const char* metric : {"ttft_p99", "tpot_p50", "decode_tokens_per_second"}) {
    bool flagged = false;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      flagged |= line.rfind(metric, 0) == 0 && line.find(" regression ") != std::string::npos;
    }
    BOOST_TEST(flagged, metric << " not flagged:\n" << r.out);
  }
  const std::string xml = ReadText(junit), markdown = ReadText(md);
  BOOST_TEST(xml.find("<failure type=\"regression\"") != std::string::npos, xml);
  BOOST_TEST(xml.find("name=\"ttft_p99 (32/16)\"") != std::string::npos, xml);
  BOOST_TEST(markdown.find("### tcobench gate: **regression**") == 0, markdown);
  // JSON for machines; the same verdict.
  r = cluster.Cli("gate --baseline " + base + " --candidate " + slow + " --policy " + Quote(policy) +
                  " --format json --no-record");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(json::parse(r.out)["overall"] == "REGRESSION");
  // Usage and input errors: exit 2, never 1.
  r = cluster.Cli("gate --baseline " + base);
  BOOST_TEST(r.exit_code == 2);
  r = cluster.Cli("gate --baseline no-such-tag --candidate " + slow);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("no comparison or tag 'no-such-tag'") != std::string::npos, r.err);
  const std::string bad = (cluster.dir / "bad.json").string();
  const std::string bad_body = R"({"metrics": {"ttft_p95": {}}})";
  WriteText(bad, bad_body);
  r = cluster.Cli("gate --baseline " + base + " --candidate " + slow + " --policy " + Quote(bad));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("metrics.ttft_p95: unknown metric") != std::string::npos, r.err);
  // Reports by tag, with the cost, in every format.
  r = cluster.Cli("report release/1.0 --format csv");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("variant,hardware,scenario") == 0);
  r = cluster.Cli("report release/1.0 --format json");
  BOOST_TEST(json::parse(r.out)["comparison_id"] == base);
  BOOST_TEST(json::parse(r.out)["cost"]["rows"].size() == 1u);
}

}  // namespace tcobench::testing

namespace tcobench::testing {

// Repetitions through the service: one job per target runs both variants,
// interleaved on one worker, and the report keeps each run's samples.
BOOST_AUTO_TEST_CASE(repetitions_run_interleaved_on_one_worker) {
  Cluster cluster("reps");
  const auto root = SynthModel(cluster);
  CommandResult r;
  const std::string spec = (cluster.dir / "spec.json").string();
  WriteText(spec, R"({"name": "reps", "baseline": "f16",
    "variants": [{"name": "f16", "model": "m.gguf"}, {"name": "q8", "model": "m.gguf", "quantize": "Q8_0"}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 16, "outputTokens": 8, "measuredRuns": 5,
                 "repetitions": 3}})");
  cluster.AddWorker("one", "any", "", root);
  r = cluster.Cli("submit " + Quote(spec) + " --wait");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  r = cluster.Cli("report " + id + " --format json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json report = json::parse(r.out);
  const json& rows = report["result"]["results"];
  BOOST_REQUIRE(rows.size() == 2u);
  for (const json& row : rows) {
    BOOST_TEST(row["repetitions"].get<double>() == 3);
    std::set<double> runs;
    for (const json& s : row["samples"]) runs.insert(s.contains("repetition") ? s["repetition"].get<double>() : 0.0);
    BOOST_TEST(runs.size() == 3u);
    BOOST_TEST(row["run_output_tokens_per_second"].size() == 3u);
  }
  // The worker's log shows the runs alternating between the variants.
  const std::string log = ReadText(cluster.dir / "one.log");
  const size_t f1 = log.find("f16: SINGLE_STREAM prompt 16 output 8, run 1/3");
  const size_t q1 = log.find("q8: SINGLE_STREAM prompt 16 output 8, run 1/3");
  const size_t f2 = log.find("f16: SINGLE_STREAM prompt 16 output 8, run 2/3");
  BOOST_TEST((f1 != std::string::npos && q1 != std::string::npos && f2 != std::string::npos), log);
  BOOST_TEST((f1 < q1 && q1 < f2), log);
}

}  // namespace tcobench::testing
