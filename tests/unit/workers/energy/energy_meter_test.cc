#define BOOST_TEST_MODULE energy_meter
#include "workers/energy/energy_meter.h"

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace tcobench;
namespace fs = std::filesystem;

namespace {

// Written whole, then renamed into place: the meter's poller reads these
// files while the test changes them, and must never see one half-written
// (an empty counter reads as an unreadable one; seen under TSan).
void Write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  const fs::path tmp = p.string() + ".tmp";
  std::ofstream(tmp) << s << "\n";
  fs::rename(tmp, p);
}

// A powercap tree: package 0 with core and dram subzones, package 1 alone.
struct FakeSysfs {
  fs::path root;
  static constexpr uint64_t kMax = 262143328850ull;
  FakeSysfs() {
    root = fs::temp_directory_path() / ("tcobench-rapl-" + std::to_string(::getpid()));
    fs::remove_all(root);
    Zone("intel-rapl:0", "package-0", 1000);
    Zone("intel-rapl:0/intel-rapl:0:0", "core", 500);
    Zone("intel-rapl:0/intel-rapl:0:1", "dram", 2000);
    Zone("intel-rapl:1", "package-1", 7000);
    Write(root / "intel-rapl-mmio:0" / "name", "package-0");  // not a RAPL zone we read
  }
  ~FakeSysfs() { fs::remove_all(root); }
  void Zone(const std::string& dir, const std::string& name, uint64_t uj) {
    Write(root / dir / "name", name);
    Write(root / dir / "max_energy_range_uj", std::to_string(kMax));
    Set(dir, uj);
  }
  void Set(const std::string& dir, uint64_t uj) { Write(root / dir / "energy_uj", std::to_string(uj)); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(rapl_sums_packages_and_dram_and_counts_wraps) {
  FakeSysfs fake;
  auto meter = OpenRaplMeter(fake.root, 0.01);
  BOOST_REQUIRE_MESSAGE(meter.ok(), meter.status().message());
  BOOST_REQUIRE((*meter)->Start().ok());
  // package-0 climbs to near its maximum, then wraps past zero.
  fake.Set("intel-rapl:0", FakeSysfs::kMax - 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the poller sees it
  fake.Set("intel-rapl:0", 200);
  fake.Set("intel-rapl:0/intel-rapl:0:0", 900000500);  // core: inside the package, not added
  fake.Set("intel-rapl:0/intel-rapl:0:1", 2000 + 3000000);
  fake.Set("intel-rapl:1", 7000 + 1000000);
  auto r = (*meter)->Stop();
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  // package-0: (max - 100 - 1000) + (200 + max - (max - 100)) uJ; dram 3 J; package-1 1 J.
  const double want = (static_cast<double>(FakeSysfs::kMax) - 1100 + 300) * 1e-6 + 3.0 + 1.0;
  BOOST_TEST(r->joules == want, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(r->source == "rapl");
  BOOST_TEST(r->uncertainty_fraction > 0);
  BOOST_TEST(r->detail.find("dram") != std::string::npos);
  BOOST_TEST(r->detail.find("core") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(rapl_missing_or_unreadable_says_why) {
  auto none = OpenRaplMeter("/nonexistent/powercap");
  BOOST_REQUIRE(!none.ok());
  BOOST_TEST(std::string(none.status().message()).find("no RAPL zones") != std::string::npos);
  FakeSysfs fake;
  // A counter that cannot be read (a directory in its place: the same
  // failure as a root-only file, which a test running as root cannot make).
  fs::remove(fake.root / "intel-rapl:1" / "energy_uj");
  fs::create_directory(fake.root / "intel-rapl:1" / "energy_uj");
  auto denied = OpenRaplMeter(fake.root);
  BOOST_REQUIRE(!denied.ok());
  BOOST_TEST(std::string(denied.status().message()).find("not readable") != std::string::npos,
             denied.status().message());
}

BOOST_AUTO_TEST_CASE(nvml_energy_counter_and_power_integration) {
  const std::string lib = TCOBENCH_FAKE_NVML;
  setenv("FAKE_NVML_MODE", "counter", 1);
  {
    auto meter = OpenNvmlMeter(lib, 0.01);
    BOOST_REQUIRE_MESSAGE(meter.ok(), meter.status().message());
    BOOST_REQUIRE((*meter)->Start().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto r = (*meter)->Stop();
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->source == "nvml");
    BOOST_TEST(r->joules / r->seconds == 150.0, boost::test_tools::tolerance(0.05));
    BOOST_TEST(r->detail.find("energy counter") != std::string::npos);
  }
  setenv("FAKE_NVML_MODE", "power", 1);
  {
    auto meter = OpenNvmlMeter(lib, 0.01);
    BOOST_REQUIRE_MESSAGE(meter.ok(), meter.status().message());
    BOOST_REQUIRE((*meter)->Start().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto r = (*meter)->Stop();
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(r->joules / r->seconds == 200.0, boost::test_tools::tolerance(0.05));
    BOOST_TEST(r->detail.find("power sampled") != std::string::npos);
  }
  const GpuInventory inv = ProbeGpus(lib);
  BOOST_TEST(inv.driver == "999.1");
  BOOST_REQUIRE(inv.names.size() == 1u);
  BOOST_TEST(inv.names[0].find("Fake GPU") != std::string::npos);
  BOOST_TEST(inv.names[0].find("80.0 GiB") != std::string::npos, inv.names[0]);  // its memory
  BOOST_REQUIRE(inv.memory_bytes.size() == 1u);
  BOOST_TEST(inv.memory_bytes[0] == int64_t{80} << 30);
}

BOOST_AUTO_TEST_CASE(nvml_failures_say_why) {
  const std::string lib = TCOBENCH_FAKE_NVML;
  setenv("FAKE_NVML_MODE", "noperm", 1);
  auto denied = OpenNvmlMeter(lib);
  BOOST_REQUIRE(!denied.ok());
  BOOST_TEST(std::string(denied.status().message()).find("Insufficient Permissions") != std::string::npos,
             denied.status().message());
  setenv("FAKE_NVML_MODE", "nogpu", 1);
  auto none = OpenNvmlMeter(lib);
  BOOST_REQUIRE(!none.ok());
  BOOST_TEST(std::string(none.status().message()).find("no GPUs") != std::string::npos);
  auto missing = OpenNvmlMeter("/nonexistent/libnvidia-ml.so.1");
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(std::string(missing.status().message()).find("cannot load") != std::string::npos);
  BOOST_TEST(ProbeGpus("/nonexistent/libnvidia-ml.so.1").names.empty());
}

BOOST_AUTO_TEST_CASE(cpu_model_estimate_follows_its_formula) {
  double cpu = 10.0;
  CpuModelOptions o;
  o.tdp_watts = 100;
  o.cores_total = 4;
  o.cores_used = 2;
  o.cpu_seconds = [&] { return cpu; };
  auto meter = MakeCpuModelMeter(o);
  BOOST_REQUIRE(meter->Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  cpu = 10.08;
  auto r = meter->Stop();
  BOOST_REQUIRE(r.ok());
  const double want = 100 * (0.3 * r->seconds * 2 / 4 + 0.7 * 0.08 / 4);
  BOOST_TEST(r->joules == want, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(r->source == "model");
  BOOST_TEST(r->uncertainty_fraction == 0.5);
  BOOST_TEST(r->detail.find("estimate") != std::string::npos);
  bool known = false;
  BOOST_TEST(TableTdpWatts("AMD EPYC 7763 64-Core Processor", 2, &known) == 280.0 / 128 * 2,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(known);
  BOOST_TEST(TableTdpWatts("Some Laptop CPU", 4, &known) == 40.0);
  BOOST_TEST(!known);
}
