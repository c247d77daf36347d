// Elapsed wall time on the monotonic clock, in seconds: the one way the
// project turns a steady_clock start point into a figure it reports.
#pragma once

#include <chrono>

namespace tcobench {

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tcobench
