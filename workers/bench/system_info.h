// Facts about this machine and process that every measurement carries.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace tcobench {

std::string CpuModelName();  // from /proc/cpuinfo, or "unknown"
std::string CpuFlags();      // the "flags" line of /proc/cpuinfo
int CpuCount();              // CPUs this process may run on
int64_t MemoryBytes();       // MemTotal of /proc/meminfo
std::string OsName();        // PRETTY_NAME of /etc/os-release
std::string KernelVersion(); // uname: sysname release
std::string HostName();
std::string CompilerVersion();  // the compiler that built this binary
int64_t PeakRssBytes();      // this process's peak resident set (VmHWM)
// Resets the peak resident set to the current one (Linux clear_refs), so a
// later PeakRssBytes covers only what follows; false where unsupported.
bool ResetPeakRss();
std::string BuildCommit();   // the git commit the binary was built from
std::string UtcTimestamp();  // now, ISO 8601 with seconds, "Z"

// A whole file's bytes ("PATH: cannot read" when it cannot be opened);
// with `field`, errors start "FIELD: " (the spec field that named it).
absl::StatusOr<std::string> ReadFileText(const std::filesystem::path& path);
absl::StatusOr<std::string> ReadFileText(const std::filesystem::path& path, const std::string& field);

// A spec's path under its root (the model or data root), unless absolute.
// Workers confine job paths to their roots before running
// (CheckPathsConfined); a local run reads what its user names.
std::filesystem::path ResolvePath(const std::filesystem::path& root, const std::string& path);

// Lower-case hex SHA-256 of a file's bytes.
absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path);

}  // namespace tcobench
