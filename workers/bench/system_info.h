// Facts about this machine and process that every measurement carries.
#pragma once

#include <cstdint>
#include <string>

namespace tcobench {

std::string CpuModelName();  // from /proc/cpuinfo, or "unknown"
int64_t PeakRssBytes();      // this process's peak resident set so far
std::string BuildCommit();   // the git commit the binary was built from

}  // namespace tcobench
