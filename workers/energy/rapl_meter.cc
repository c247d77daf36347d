#include <algorithm>
#include <chrono>
#include <fstream>
#include "common/base/mutex.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/clock.h"
#include "workers/energy/energy_meter.h"
#include "workers/energy/poller.h"

namespace tcobench {
namespace {

namespace fs = std::filesystem;

// One powercap zone's energy counter.
struct Zone {
  std::string name;  // "package-0", "dram"
  fs::path energy_file;
  uint64_t max_range_uj = 0;
  uint64_t last_uj = 0;
  double joules = 0;  // accumulated in the current window
};

absl::StatusOr<std::string> ReadLine(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::PermissionDeniedError(absl::StrCat(
        path.string(), " is not readable", fs::exists(path) ? " (permission denied?)" : ""));
  }
  return line;
}

absl::StatusOr<uint64_t> ReadCounter(const fs::path& path) {
  auto line = ReadLine(path);
  if (!line.ok()) return line.status();
  try {
    return std::stoull(*line);
  } catch (const std::exception&) {
    return absl::DataLossError(absl::StrCat(path.string(), ": not a counter: '", *line, "'"));
  }
}

class RaplMeter final : public EnergyMeter {
 public:
  RaplMeter(std::vector<Zone> zones, double poll_seconds)
      : zones_(std::move(zones)), poll_seconds_(poll_seconds) {}

  std::string source() const override { return "rapl"; }

  absl::Status Start() override {
    poller_.Stop();
    MutexLock lock(&mu_);
    for (Zone& z : zones_) {
      auto v = ReadCounter(z.energy_file);
      if (!v.ok()) return v.status();
      z.last_uj = *v;
      z.joules = 0;
    }
    status_ = absl::OkStatus();
    start_ = std::chrono::steady_clock::now();
    poller_.Start(poll_seconds_, [this] { Sample(); });
    return absl::OkStatus();
  }

  absl::StatusOr<EnergyReading> Stop() override {
    poller_.Stop();
    Sample();
    MutexLock lock(&mu_);
    if (!status_.ok()) return status_;
    EnergyReading r;
    r.source = "rapl";
    r.seconds = SecondsSince(start_);
    std::vector<std::string> parts;
    for (const Zone& z : zones_) {
      r.joules += z.joules;
      parts.push_back(absl::StrCat(z.name, " ", z.joules, " J"));
    }
    // RAPL package energy is the processor's own running estimate; it tracks
    // wall-socket measurements within a few percent (docs/energy.md).
    r.uncertainty_fraction = 0.05;
    r.detail = absl::StrCat("powercap RAPL: ", absl::StrJoin(parts, ", "));
    return r;
  }

 private:
  // Adds each counter's increase since the last sample; a counter lower than
  // before has wrapped once at max_energy_range_uj.
  void Sample() {
    MutexLock lock(&mu_);
    for (Zone& z : zones_) {
      auto v = ReadCounter(z.energy_file);
      if (!v.ok()) {
        status_ = v.status();
        continue;
      }
      const uint64_t delta = *v >= z.last_uj ? *v - z.last_uj : *v + z.max_range_uj - z.last_uj;
      z.joules += static_cast<double>(delta) * 1e-6;
      z.last_uj = *v;
    }
  }

  Mutex mu_;  // the poller's thread samples while a measurement runs
  std::vector<Zone> zones_ ABSL_GUARDED_BY(mu_);
  const double poll_seconds_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point start_ ABSL_GUARDED_BY(mu_);
  Poller poller_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EnergyMeter>> OpenRaplMeter(const fs::path& powercap_root,
                                                           double poll_seconds) {
  std::vector<Zone> zones;
  std::error_code ec;
  std::vector<fs::path> packages;
  for (const auto& entry : fs::directory_iterator(powercap_root, ec)) {
    const std::string name = entry.path().filename().string();
    // Top-level zones only ("intel-rapl:0"); subzones are "intel-rapl:0:1".
    if (name.rfind("intel-rapl:", 0) == 0 && name.find(':', 11) == std::string::npos) {
      packages.push_back(entry.path());
    }
  }
  if (ec || packages.empty()) {
    return absl::NotFoundError(absl::StrCat("no RAPL zones under ", powercap_root.string()));
  }
  std::sort(packages.begin(), packages.end());
  auto add_zone = [&](const fs::path& dir) -> absl::Status {
    Zone z;
    auto name = ReadLine(dir / "name");
    z.name = name.ok() ? *name : dir.filename().string();
    z.energy_file = dir / "energy_uj";
    auto range = ReadCounter(dir / "max_energy_range_uj");
    if (!range.ok()) return range.status();
    z.max_range_uj = *range;
    auto now = ReadCounter(z.energy_file);
    if (!now.ok()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "RAPL counter ", z.energy_file.string(),
          " is not readable (recent kernels allow only root: run as root or grant read access)"));
    }
    zones.push_back(std::move(z));
    return absl::OkStatus();
  };
  for (const fs::path& pkg : packages) {
    if (absl::Status s = add_zone(pkg); !s.ok()) return s;
    // DRAM is a subzone of its package; core/uncore subzones are already in
    // the package total and are not added.
    for (const auto& sub : fs::directory_iterator(pkg, ec)) {
      const std::string sub_name = sub.path().filename().string();
      if (sub_name.rfind(pkg.filename().string() + ":", 0) != 0) continue;
      auto name = ReadLine(sub.path() / "name");
      if (name.ok() && *name == "dram") {
        if (absl::Status s = add_zone(sub.path()); !s.ok()) return s;
      }
    }
  }
  return std::unique_ptr<EnergyMeter>(new RaplMeter(std::move(zones), poll_seconds));
}

}  // namespace tcobench
