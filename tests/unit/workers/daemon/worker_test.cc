#define BOOST_TEST_MODULE worker
#include "workers/daemon/worker.h"

#include <boost/test/unit_test.hpp>

#include "tests/test_support.h"
#include "workers/bench/comparison.h"
#include "workers/engine/cuda/cuda_backend.h"

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
  spec.mutable_accuracy()->mutable_perplexity()->set_text("small.txt");
  // An endpoint variant: no model, but its tokenizer and requests file are
  // confined like any other file.
  fs::create_symlink("/etc", root / "models" / "out");
  v1::Variant* server = spec.add_variants();
  server->set_runtime("openai");
  server->set_tokenizer("m.gguf");
  BOOST_TEST(CheckPathsConfined(spec, root / "models", root / "data").ok());
  server->set_tokenizer("out/passwd");
  BOOST_TEST(std::string(CheckPathsConfined(spec, root / "models", root / "data").message()).find(
                 "variants[1].tokenizer") == 0);
  server->set_tokenizer("m.gguf");
  spec.mutable_workload()->set_requests_file("../big.txt");
  BOOST_TEST(std::string(CheckPathsConfined(spec, root / "models", root / "data").message()).find(
                 "workload.requestsFile") == 0);
  spec.mutable_workload()->set_requests_file("big.txt");
  BOOST_TEST(std::string(CheckTextSizes(spec, root / "data", 1000).message()).find("workload.requestsFile") == 0);
}

// Jobs and local runs find their device from the targets' selector classes.
BOOST_AUTO_TEST_CASE(the_device_follows_the_selector_class) {
  v1::ComparisonSpec spec;
  spec.add_hardware()->set_name("any");
  BOOST_TEST(*ResolveDevice(spec, "auto") == "cpu");
  BOOST_TEST(*ResolveDevice(spec, "cuda") == "cuda:0");
  spec.mutable_hardware(0)->mutable_selector()->set_class_("gpu");
  BOOST_TEST(*ResolveDevice(spec, "auto") == "cuda:0");
  BOOST_TEST(*ResolveDevice(spec, "cuda:1") == "cuda:1");
  const auto on_cpu = ResolveDevice(spec, "cpu");
  BOOST_REQUIRE(!on_cpu.ok());
  BOOST_TEST(std::string(on_cpu.status().message()) ==
             "hardware 'any' asks for class gpu, but the device is cpu (use --device cuda:N)");
  auto* cpu = spec.add_hardware();
  cpu->set_name("box");
  cpu->mutable_selector()->set_class_("cpu");
  const auto mixed = ResolveDevice(spec, "auto");
  BOOST_REQUIRE(!mixed.ok());
  BOOST_TEST(std::string(mixed.status().message()).find("need different devices") != std::string::npos);
  BOOST_TEST(!ResolveDevice(spec, "tpu:0").ok());
  spec.mutable_hardware(0)->mutable_selector()->set_class_("fpga");
  BOOST_TEST(std::string(ResolveDevice(spec, "auto").status().message()) ==
             "hardware 'any': selector class 'fpga' is unknown (cpu, gpu)");
}

// A worker offers its GPUs to gpu-class jobs only when its build can run the
// engine there; a CPU-only build says so through the inventory.
BOOST_AUTO_TEST_CASE(the_inventory_offers_gpus_only_with_a_runtime) {
  const v1::WorkerInventory inv = LocalInventory(WorkerOptions{});
  if (!CudaBackendBuilt() || ListCudaDevices().empty()) {
    BOOST_TEST(!inv.gpu_runtime());
    BOOST_TEST(inv.gpu_device().empty());
  } else {
    BOOST_TEST(inv.gpu_runtime());
    BOOST_TEST(inv.gpu_device() == "cuda:0");
  }
}
