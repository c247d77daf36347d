#include "workers/bench/system_info.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "common/base/status_macros.h"
#include "absl/strings/str_cat.h"
#include "common/base/build_info.h"

namespace tcobench {
namespace {

// The value after "key" and a colon on the first line of `file` starting
// with key, or "".
std::string ProcField(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const size_t start = line.find_first_not_of(" \t", colon + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

}  // namespace

std::string CpuModelName() {
  const std::string name = ProcField("/proc/cpuinfo", "model name");
  return name.empty() ? "unknown" : name;
}

std::string CpuFlags() { return ProcField("/proc/cpuinfo", "flags"); }

int CpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
}

int64_t MemoryBytes() {
  const std::string kb = ProcField("/proc/meminfo", "MemTotal");
  return kb.empty() ? 0 : std::stoll(kb) * 1024;
}

std::string OsName() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "unknown";
}

std::string KernelVersion() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return absl::StrCat(u.sysname, " ", u.release);
}

std::string HostName() {
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

std::string CompilerVersion() {
#if defined(__clang__)
  return absl::StrCat("clang ", __clang_version__);
#elif defined(__GNUC__)
  return absl::StrCat("g++ ", __VERSION__);
#else
  return "unknown";
#endif
}

int64_t PeakRssBytes() {
  const std::string kb = ProcField("/proc/self/status", "VmHWM");
  if (!kb.empty()) return std::stoll(kb) * 1024;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  return static_cast<bool>(out.flush());
}

std::string BuildCommit() { return BuildCommitId(); }

std::string UtcTimestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

absl::StatusOr<std::string> ReadFileText(const std::filesystem::path& path, const std::string& field) {
  absl::StatusOr<std::string> text = ReadFileText(path);
  if (!text.ok()) return Prefixed(field, text.status());
  return text;
}

std::filesystem::path ResolvePath(const std::filesystem::path& root, const std::string& path) {
  const std::filesystem::path p(path);
  return p.is_absolute() ? p : root / p;
}

absl::StatusOr<std::string> ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot read"));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 unavailable");
  }
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  }
  if (std::ferror(f.get())) return absl::DataLossError(absl::StrCat(path.string(), ": read error"));
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

}  // namespace tcobench
