// A background thread that calls a function at a fixed interval until
// stopped (the meters' counter and power sampling).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "common/base/mutex.h"

namespace tcobench {

class Poller {
 public:
  Poller() = default;
  ~Poller() { Stop(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void Start(double interval_seconds, std::function<void()> tick) {
    Stop();
    {
      MutexLock lock(&mu_);
      stop_ = false;
    }
    thread_ = std::thread([this, interval_seconds, tick = std::move(tick)] {
      const auto interval = std::chrono::duration<double>(interval_seconds);
      const auto step = std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
      while (true) {
        {
          MutexLock lock(&mu_);
          // Woken early only to stop (or spuriously): wait out the interval.
          const auto deadline = std::chrono::steady_clock::now() + step;
          while (!stop_ && cv_.WaitUntil(&mu_, deadline)) {
          }
          if (stop_) return;
        }
        tick();
      }
    });
  }

  void Stop() {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    if (thread_.joinable()) thread_.join();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = true;
  std::thread thread_;
};

}  // namespace tcobench
