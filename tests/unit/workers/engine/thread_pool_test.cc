#define BOOST_TEST_MODULE thread_pool
#include "workers/engine/thread_pool.h"

#include <boost/test/unit_test.hpp>
#include <atomic>
#include <thread>
#include <vector>

using namespace tcobench;

// Every index runs exactly once per call, over many back-to-back calls (the
// decode step's pattern), with more threads than this machine has cores so
// that workers are often descheduled and join late or not at all.
BOOST_AUTO_TEST_CASE(each_index_once_across_many_jobs_and_oversubscription) {
  const int threads = static_cast<int>(std::thread::hardware_concurrency()) * 2 + 1;
  ThreadPool pool(threads);
  std::vector<std::atomic<int>> hits(997);
  for (int job = 0; job < 3000; ++job) {
    const int64_t n = 1 + job % 997;
    pool.ParallelFor(n, 1 + job % 7, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    });
    // The call returns only when every chunk is done: check now, not later.
    for (int64_t i = 0; i < n; ++i) BOOST_TEST_REQUIRE(hits[static_cast<size_t>(i)].exchange(0) == 1);
  }
}

// The thread index each chunk sees is one of the pool's.
BOOST_AUTO_TEST_CASE(thread_indices_are_the_pools) {
  ThreadPool pool(4);
  std::atomic<int> bad{0};
  for (int job = 0; job < 200; ++job) {
    pool.ParallelFor(64, 1, [&](int64_t, int64_t) {
      const int t = ThreadPool::CurrentThreadIndex();
      if (t < 0 || t >= 4) bad.fetch_add(1);
    });
  }
  BOOST_TEST(bad.load() == 0);
}

// A pool idle long enough for its workers to block wakes for the next job.
BOOST_AUTO_TEST_CASE(wakes_after_blocking) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int job = 0; job < 5; ++job) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    pool.ParallelFor(1000, 10, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum.fetch_add(i, std::memory_order_relaxed);
    });
  }
  BOOST_TEST(sum.load() == 5 * 999 * 1000 / 2);
}
