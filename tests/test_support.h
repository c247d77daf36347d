// Shared helpers for tests: where ../shared is, skipping when it is absent,
// temporary directories and running the built binaries.
#pragma once

#include <sys/wait.h>

#include <boost/test/results_collector.hpp>
#include <boost/test/tree/traverse.hpp>
#include <boost/test/tree/visitor.hpp>
#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tcobench::testing {

// The value a test goes on with: a failed requirement naming `what` and the
// status when `v` holds an error, never a dereference of one.
template <typename T>
T ValueOf(absl::StatusOr<T> v, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(v.ok(), what << ": " << v.status().ToString());
  return std::move(v).value();
}

// `p`, required not to be null.
template <typename T>
T* NonNull(T* p, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(p != nullptr, what << ": not found");
  return p;
}

// The shared/ folder: $TCOBENCH_SHARED, else ../shared beside the project.
inline std::filesystem::path SharedDir() {
  if (const char* env = std::getenv("TCOBENCH_SHARED")) return env;
  return TCOBENCH_DEFAULT_SHARED_DIR;
}

inline std::filesystem::path SharedPath(const std::string& rel) { return SharedDir() / rel; }

// How many test cases of this binary were skipped for want of shared/.
inline int& SharedSkips() {
  static int skips = 0;
  return skips;
}

// Precondition for tests that need shared/: skipped, saying why, when absent.
// A binary that skipped any case this way exits with kSkipExitCode when
// nothing failed (SkippedWithoutShared below), which ctest reports as
// "Skipped", never "Passed" (tests/CMakeLists.txt: SKIP_RETURN_CODE).
struct NeedsShared {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id id) const {
    boost::test_tools::assertion_result r(
        std::filesystem::exists(SharedPath("models/stories260K.gguf")));
    if (!r) {
      ++SharedSkips();
      r.message() << "skipped: shared models/data not found at " << SharedDir()
                  << " (set TCOBENCH_SHARED to the shared/ folder)";
      // Also on stdout, so the skip shows in ctest -V and CI logs.
      std::printf("SKIPPED %s: shared models/data not found at %s (set TCOBENCH_SHARED)\n",
                  boost::unit_test::framework::get(id, boost::unit_test::TUT_ANY).p_name->c_str(),
                  SharedDir().c_str());
    }
    return r;
  }
};

inline constexpr int kSkipExitCode = 77;

// Counts the test cases that ran and failed.
class FailedCases : public boost::unit_test::test_tree_visitor {
 public:
  void visit(const boost::unit_test::test_case& tc) override {
    const boost::unit_test::test_results& r = boost::unit_test::results_collector.results(tc.p_id);
    if (!r.p_skipped && !r.passed()) ++failed;
  }
  int failed = 0;
};

// Global fixture: after the last case, a binary that skipped cases for want
// of shared/ and failed none exits with kSkipExitCode (a failure still fails).
struct SkippedWithoutShared {
  void setup() {}
  void teardown() {
    if (SharedSkips() == 0) return;
    FailedCases failed;
    boost::unit_test::traverse_test_tree(boost::unit_test::framework::master_test_suite(), failed, true);
    if (failed.failed > 0) return;
    std::printf("SKIPPED: %d test case(s) need the shared models/data at %s; the others passed\n",
                SharedSkips(), SharedDir().c_str());
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(kSkipExitCode);
  }
};
BOOST_TEST_GLOBAL_FIXTURE(SkippedWithoutShared);

inline std::filesystem::path TempDir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tcobench-test-XXXXXX").string();
    const char* made = mkdtemp(tmpl.data());
    if (made == nullptr) std::abort();
    return std::filesystem::path(made);
  }();
  return dir;
}

inline std::vector<uint8_t> ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline std::string ReadText(const std::filesystem::path& p) {
  const std::vector<uint8_t> bytes = ReadFile(p);
  return std::string(bytes.begin(), bytes.end());
}

inline void WriteText(const std::filesystem::path& p, const std::string& text) {
  WriteFile(p, std::vector<uint8_t>(text.begin(), text.end()));
}

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `tcobench ARGS` (a shell-quoted string) and captures its output.
inline CommandResult RunTcobench(const std::string& args) {
  static int counter = 0;
  const std::filesystem::path out = TempDir() / ("out" + std::to_string(counter) + ".txt");
  const std::filesystem::path err = TempDir() / ("err" + std::to_string(counter++) + ".txt");
  // TCOBENCH_BIN_DIR overrides the build's bin/ (binaries copied to a GPU machine).
  const char* bin_env = std::getenv("TCOBENCH_BIN_DIR");
  const std::string bin = bin_env != nullptr ? bin_env : TCOBENCH_BIN_DIR;
  const std::string cmd = bin + "/tcobench " + args + " >" +
                          out.string() + " 2>" + err.string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const std::vector<uint8_t> o = ReadFile(out), e = ReadFile(err);
  r.out.assign(o.begin(), o.end());
  r.err.assign(e.begin(), e.end());
  return r;
}

// log-softmax of one row of logits, in double.
inline std::vector<double> LogSoftmax(const float* x, int64_t n) {
  double max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, static_cast<double>(x[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
  const double lse = max + std::log(sum);
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] - lse;
  return out;
}

// The device the engine tests run models on: TCOBENCH_TEST_DEVICE (cuda:0
// on a GPU machine), else the CPU. EngineDeviceFlag() is " --device DEV" or "".
inline std::string EngineDevice() {
  const char* d = std::getenv("TCOBENCH_TEST_DEVICE");
  return d != nullptr && *d != '\0' ? std::string(d) : std::string("cpu");
}
inline std::string EngineDeviceFlag() {
  return EngineDevice() == "cpu" ? std::string() : " --device " + EngineDevice();
}
// A command failed only because the test device's backend lacks a tensor type.
inline bool UnsupportedOnDevice(const CommandResult& r) {
  return EngineDevice() != "cpu" && r.exit_code != 0 &&
         r.err.find("does not support") != std::string::npos;
}

inline std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A sample's value in Prometheus text exposition: the line that starts with
// `series` (name and labels exactly as exposed); -1 when there is none.
inline double ExpositionValue(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

}  // namespace tcobench::testing
