#include "workers/bench/bandwidth.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include "common/base/clock.h"

namespace tcobench {
namespace {

// Sums 64-bit words; the compiler vectorises the loop, and the result is kept
// so the reads cannot be optimised away.
uint64_t SumWords(const uint64_t* p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  for (; i < n; ++i) s0 += p[i];
  return s0 + s1 + s2 + s3;
}

}  // namespace

BandwidthResult MeasureReadBandwidth(int64_t buffer_bytes, int threads, int runs) {
  BandwidthResult r;
  r.buffer_bytes = buffer_bytes;
  r.threads = threads;
  void* mem = mmap(nullptr, static_cast<size_t>(buffer_bytes), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return r;
  madvise(mem, static_cast<size_t>(buffer_bytes), MADV_HUGEPAGE);
  std::memset(mem, 1, static_cast<size_t>(buffer_bytes));  // fault every page in before timing
  const uint64_t* words = static_cast<const uint64_t*>(mem);
  const size_t n_words = static_cast<size_t>(buffer_bytes) / 8;
  volatile uint64_t sink = 0;
  for (int run = 0; run < runs; ++run) {
    std::vector<uint64_t> sums(threads);
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t begin = n_words * t / threads, end = n_words * (t + 1) / threads;
        sums[t] = SumWords(words + begin, end - begin);
      });
    }
    for (std::thread& th : pool) th.join();
    const double seconds = SecondsSince(t0);
    for (uint64_t s : sums) sink = sink + s;
    r.samples.push_back(static_cast<double>(buffer_bytes) / seconds);
  }
  munmap(mem, static_cast<size_t>(buffer_bytes));
  std::vector<double> sorted = r.samples;
  std::sort(sorted.begin(), sorted.end());
  r.bytes_per_second = sorted[sorted.size() / 2];
  return r;
}

}  // namespace tcobench
