// The machine's memory read bandwidth, measured one fixed way so decode speed
// can be stated as a fraction of it: a 1 GiB buffer (transparent huge pages
// requested), read by 2 threads with a read-only reduction, median of 5.
#pragma once

#include <cstdint>
#include <vector>

namespace tcobench {

struct BandwidthResult {
  double bytes_per_second = 0;  // median
  std::vector<double> samples;  // bytes per second of each run
  int64_t buffer_bytes = 0;
  int threads = 0;
};

BandwidthResult MeasureReadBandwidth(int64_t buffer_bytes = int64_t{1} << 30, int threads = 2,
                                     int runs = 5);

}  // namespace tcobench
