// A fixed pool of worker threads for data-parallel loops. Made once per model
// (never per call). ParallelFor is called from one thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tcobench {

class ThreadPool {
 public:
  // n_threads counts the calling thread: n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // A non-owning reference to a callable fn(begin, end): unlike
  // std::function it never allocates, so the engine's hot path does not
  // either. Valid while the callable lives (ParallelFor's call).
  class RangeFn {
   public:
    template <typename F>
    RangeFn(const F& f)  // NOLINT: implicit, so lambdas pass straight in
        : obj_(&f), call_([](const void* o, int64_t b, int64_t e) { (*static_cast<const F*>(o))(b, e); }) {}
    void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

   private:
    const void* obj_;
    void (*call_)(const void*, int64_t, int64_t);
  };

  // Runs fn(begin, end) over [0, n) split into chunks of at most `grain`
  // items, on all threads; returns when every chunk is done.
  void ParallelFor(int64_t n, int64_t grain, RangeFn fn);

  // Inside fn: which of the pool's threads runs this chunk, 0..n_threads-1
  // (0: the thread that called ParallelFor), for per-thread scratch space
  // sized up front instead of allocated on a thread's first chunk.
  static int CurrentThreadIndex();

 private:
  void WorkerLoop(int index);
  void RunChunks();

  const int n_threads_;
  std::vector<std::thread> workers_;
  // A job is shared by whichever workers join it while it is open: the
  // caller runs chunks too and waits only for the workers that joined, never
  // for one the OS has not scheduled yet. So when other processes compete
  // for the cores, a descheduled worker costs its share of chunks, not the
  // whole step (issue 19: decode fell 22x on a busy 2-core machine).
  //
  // state_: the job's generation (bits 32-63), open (bit 31) and the number
  // of workers inside it (bits 0-30). A worker joins by raising the count
  // while the job is open and the generation is the one it saw; the caller
  // closes the job when the count is zero, after which nobody can join, so
  // the job's fields below are never read by a late worker.
  //
  // Workers and the caller first spin for a short while (kSpin) on the
  // atomics, so that the back-to-back jobs of a decode step cost no sleep
  // and wake-up; past that they block on the
  // condition variables. mu_ guards no data of its own (the shared state is
  // atomic): it pairs each wait with the change that ends it, so no wake-up
  // is lost. It stays a std::mutex, not common/base/mutex.h: the engine's
  // hot path takes no dependency for an annotation with nothing to annotate.
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> state_{0};
  std::atomic<bool> caller_waiting_{false};  // set under mu_
  std::atomic<bool> stop_{false};            // set under mu_
  // The current job (written before the job opens).
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  std::atomic<int64_t> next_{0};
};

}  // namespace tcobench
