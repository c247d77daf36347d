// The coordinator's state and its rules, over SQLite (WAL, versioned schema):
// comparisons expanded into jobs (variant x hardware target), workers, and
// job leases with deadlines that heartbeats extend. Independent of gRPC so
// the rules are unit-tested directly; every method is thread-safe (one lock,
// one connection) and each change is one transaction, so a killed
// coordinator restarts from its database with nothing lost.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/base/mutex.h"
#include "common/spec/spec.h"
#include "services/coordinator/selector.h"
#include "tcobench/v1/coordinator.pb.h"

namespace tcobench {

// What happened in the store, for counters (services/coordinator/metrics):
// told after the change, under the store's lock, so a listener must be quick
// and must not call back into the store.
struct StoreEvent {
  enum Kind {
    kSubmitted,      // a comparison was accepted
    kLeaseGranted,
    kLeaseExpired,   // a worker stopped heartbeating
    kJobRequeued,    // detail: "lease_expired" or "worker_failed"
    kJobSucceeded,
    kJobFailed,      // for good; detail as kJobRequeued
    kJobCancelled,   // `count` jobs of a cancelled comparison
    kGateVerdict,    // detail: "pass", "regression" or "inconclusive"
  };
  Kind kind;
  std::string detail;
  int64_t count = 1;
};

struct StoreOptions {
  double lease_seconds = 30;      // a lease's life without a heartbeat
  double heartbeat_seconds = 5;   // what workers are told to use
  int max_attempts = 3;           // leases per job before it fails
  std::function<double()> now;    // seconds since the epoch; default: the system clock
  std::function<void(const StoreEvent&)> on_event;  // may be empty
  SpecLimits limits;              // what Submit accepts
  int max_jobs_per_worker = 1;    // leases one worker may hold at once
};

// Counts for gauges, read at each scrape.
struct StoreStats {
  std::map<v1::Comparison::State, int64_t> comparisons;
  std::map<v1::Job::State, int64_t> jobs;
  // One per worker name (its newest registration): a worker restarted under
  // its name replaces its old self. LOST ones drop out after `forget_lost`.
  std::map<v1::Worker::State, int64_t> workers;
  double oldest_queued_job_seconds = 0;  // age of the oldest queued job; 0 when none
};

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::filesystem::path& data_dir,
                                                     StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const StoreOptions& options() const { return options_; }

  // Users.
  // `owner`: the principal submitting it ("" without authentication).
  absl::StatusOr<std::string> Submit(const v1::ComparisonSpec& spec, const std::string& owner = "");
  // Who submitted a comparison (id or tag).
  absl::StatusOr<std::string> OwnerOf(const std::string& ref);
  absl::StatusOr<v1::Comparison> Get(const std::string& id);
  absl::StatusOr<std::vector<v1::Comparison>> List(int limit);
  absl::StatusOr<v1::Comparison> Cancel(const std::string& id);
  absl::Status Delete(const std::string& id);
  absl::StatusOr<v1::GetReportResponse> Report(const std::string& id);
  absl::StatusOr<std::vector<v1::Worker>> Workers();
  // The worker (an id, or a name: its newest registration) gets no new
  // jobs; its next AcquireJob tells it to stop.
  absl::StatusOr<v1::Worker> Drain(const std::string& worker);
  // Every method taking a comparison id also takes a tag. A tag moves when
  // set again; the response says where it pointed before.
  absl::StatusOr<v1::TagComparisonResponse> Tag(const std::string& ref, const std::string& tag);
  // Release-gate verdicts between two comparisons (ids or tags, stored as ids).
  absl::StatusOr<std::string> RecordVerdict(v1::GateVerdict verdict);
  // Newest first; those whose candidate is `ref` when it is not empty.
  absl::StatusOr<std::vector<v1::GateVerdict>> Verdicts(const std::string& ref, int limit);
  // Gauges: counts by state; see StoreStats.
  absl::StatusOr<StoreStats> Stats(double forget_lost_seconds);
  // Ids of the newest `limit` comparisons that succeeded, newest first.
  absl::StatusOr<std::vector<std::string>> RecentSucceeded(int limit);
  // The newest `limit` tags (most recently set first): tag -> comparison id.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Tags(int limit);
  // Blocks until the comparison's state differs from `seen` (its serialized
  // bytes) or `timeout_seconds` pass; returns the current state.
  absl::StatusOr<v1::Comparison> WaitForChange(const std::string& id, const std::string& seen,
                                               double timeout_seconds);

  // Workers.
  absl::StatusOr<v1::RegisterWorkerResponse> Register(const v1::WorkerInventory& inventory);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const std::string& worker_id,
                                                  const std::string& lease_id);
  absl::StatusOr<v1::AcquireJobResponse> Acquire(const std::string& worker_id);
  absl::StatusOr<bool> Progress(const std::string& worker_id, const std::string& lease_id,
                                const std::string& stage, double fraction);
  absl::Status Complete(const std::string& worker_id, const std::string& lease_id,
                        const v1::ComparisonResult& result);
  absl::Status Fail(const std::string& worker_id, const std::string& lease_id,
                    const std::string& reason, bool retryable);

  // Housekeeping (the coordinator runs these periodically): re-queue jobs
  // whose lease expired; delete finished comparisons older than `days`.
  absl::Status ExpireLeases();
  absl::StatusOr<int> DeleteFinishedOlderThan(double days);
  // Copies the write-ahead log into the database (PASSIVE) on a second
  // connection, without the store's lock: requests go on meanwhile. The
  // coordinator calls it every second; nothing else checkpoints.
  absl::Status Checkpoint();

 private:
  Store(sqlite3* db, StoreOptions options);
  double Now() const { return options_.now(); }
  absl::Status Exec(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Commit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // COMMIT, or ROLLBACK when it fails
  // An id or a tag -> the id.
  absl::StatusOr<std::string> ResolveLocked(const std::string& ref) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::Comparison> LoadLocked(const std::string& ref) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets waiting_reason on each queued job of `c` that no live worker can run.
  absl::Status ExplainQueuedLocked(v1::Comparison* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A comparison's spec, parsed once (specs never change once stored).
  absl::StatusOr<std::shared_ptr<const v1::ComparisonSpec>> SpecLocked(const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status UpdateComparisonStateLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::AcquireJobResponse> AcquireLocked(const std::string& worker_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CompleteLocked(const std::string& worker_id, const std::string& lease_id,
                              const v1::ComparisonResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StaleLeaseLocked(const std::string& worker_id, const std::string& lease_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `reason`: "lease_expired" or "worker_failed", for the event.
  absl::Status RequeueOrFailLocked(const std::string& job_id, int attempts, const std::string& why,
                                   const char* reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Changed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(StoreEvent::Kind kind, std::string detail = "", int64_t count = 1) const {
    if (options_.on_event) options_.on_event(StoreEvent{kind, std::move(detail), count});
  }
  double DeadlineLocked(const std::string& lease_id, double stored) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FlushLocked(bool workers_too) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StoreOptions options_;  // fixed at Open
  // The checkpointing connection: only Checkpoint() uses it.
  Mutex checkpoint_mu_;
  sqlite3* checkpoint_db_ ABSL_GUARDED_BY(checkpoint_mu_) = nullptr;
  // Everything else: one lock, one connection.
  mutable Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  CondVar changed_;  // signalled with version_ bumped
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::shared_ptr<const v1::ComparisonSpec>> specs_ ABSL_GUARDED_BY(mu_);
  // Heartbeats and progress reports land here first (no database write per
  // call); FlushLocked writes them, from ExpireLeases and Workers.
  std::set<std::string> known_workers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::WorkerInventory> inventories_ ABSL_GUARDED_BY(mu_);  // parsed once per worker
  std::map<std::string, double> last_seen_ ABSL_GUARDED_BY(mu_);        // worker -> time
  std::map<std::string, double> lease_deadlines_ ABSL_GUARDED_BY(mu_);  // lease -> extended deadline
  double last_worker_flush_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tcobench
