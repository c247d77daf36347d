#define BOOST_TEST_MODULE worker
#include "workers/daemon/worker.h"

#include <boost/test/unit_test.hpp>

#include "tests/test_support.h"

using namespace tcobench;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_CASE(job_files_stay_in_their_roots_and_texts_within_their_size) {
  const fs::path root = tcobench::testing::TempDir() / "worker-roots";
  fs::remove_all(root);
  fs::create_directories(root / "models");
  fs::create_directories(root / "data");
  tcobench::testing::WriteText(root / "models" / "m.gguf", "x");
  tcobench::testing::WriteText(root / "data" / "small.txt", std::string(100, 'a'));
  tcobench::testing::WriteText(root / "data" / "big.txt", std::string(5000, 'a'));
  fs::create_symlink("/etc", root / "data" / "out");
  v1::ComparisonSpec spec;
  spec.add_variants()->set_model("m.gguf");
  spec.mutable_accuracy()->mutable_perplexity()->set_text("small.txt");
  BOOST_TEST(CheckPathsConfined(spec, root / "models", root / "data").ok());
  BOOST_TEST(CheckTextSizes(spec, root / "data", 1000).ok());

  spec.mutable_accuracy()->mutable_perplexity()->set_text("big.txt");
  const absl::Status big = CheckTextSizes(spec, root / "data", 1000);
  BOOST_TEST(big.code() == absl::StatusCode::kInvalidArgument);
  BOOST_TEST(std::string(big.message()) ==
             "accuracy.perplexity.text: 'big.txt' is 5000 bytes, at most 1000 (worker --max-text-bytes)");

  for (const char* bad : {"/etc/passwd", "../models/m.gguf", "out/passwd"}) {
    spec.mutable_accuracy()->mutable_perplexity()->set_text(bad);
    const absl::Status s = CheckPathsConfined(spec, root / "models", root / "data");
    BOOST_TEST_INFO(bad);
    BOOST_TEST(s.code() == absl::StatusCode::kInvalidArgument);
    BOOST_TEST(std::string(s.message()).find("accuracy.perplexity.text") == 0);
  }
}
