// The store's workers, jobs and leases: registration, heartbeats, the
// job/lease state machine (QUEUED -> LEASED -> SUCCEEDED | FAILED, re-queued
// while attempts remain) and lease expiry.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/coordinator/selector.h"
#include "common/base/status_macros.h"
#include "common/spec/spec.h"
#include "services/coordinator/sqlite.h"
#include "services/coordinator/store.h"
#include "services/coordinator/store_internal.h"

namespace tcobench {

using internal::IsoTime;
using internal::JobSpec;
using internal::kErrorSeparator;
using internal::NewId;
using internal::Stmt;
using internal::Terminal;

// Why a lease is not a job's current one: it was granted once (expired and
// re-queued, or its comparison deleted) or never.
absl::Status Store::StaleLeaseLocked(const std::string& worker_id, const std::string& lease_id) {
  Stmt q(db_, "SELECT job_id FROM leases WHERE id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (q.Step()) {
    return absl::FailedPreconditionError(
        absl::StrCat("lease ", lease_id, " of job ", q.Text(0),
                     " has expired: the job was re-queued or removed"));
  }
  return absl::NotFoundError(
      absl::StrCat("no lease '", lease_id, "' held by worker '", worker_id, "'"));
}

absl::StatusOr<v1::RegisterWorkerResponse> Store::Register(const v1::WorkerInventory& inventory) {
  if (inventory.name().empty()) return absl::InvalidArgumentError("inventory.name: missing");
  MutexLock lock(&mu_);
  const std::string id = NewId("wrk-");
  const double now = Now();
  absl::Status s =
      Stmt(db_, "INSERT INTO workers(id, inventory, registered, last_seen) VALUES(?,?,?,?)")
          .Bind(1, id)
          .BindBlob(2, inventory.SerializeAsString())
          .Bind(3, now)
          .Bind(4, now)
          .Run();
  if (!s.ok()) return s;
  known_workers_.insert(id);
  v1::RegisterWorkerResponse r;
  r.set_worker_id(id);
  r.set_heartbeat_interval_seconds(options_.heartbeat_seconds);
  r.set_lease_seconds(options_.lease_seconds);
  return r;
}

absl::StatusOr<v1::HeartbeatResponse> Store::Heartbeat(const std::string& worker_id,
                                                       const std::string& lease_id) {
  MutexLock lock(&mu_);
  const double now = Now();
  // Heartbeats touch memory only (the most frequent call); ExpireLeases
  // writes them to the database a few times a second.
  if (known_workers_.count(worker_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no worker '", worker_id, "': register again"));
  }
  last_seen_[worker_id] = now;
  v1::HeartbeatResponse r;
  if (lease_id.empty()) return r;
  Stmt q(db_, "SELECT state, lease_deadline FROM jobs WHERE lease_id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (!q.Step()) {
    r.set_cancel_job(true);  // unknown lease: the job is gone (deleted)
    return r;
  }
  const auto state = static_cast<v1::Job::State>(q.Int(0));
  if (state == v1::Job::CANCELLED) {
    r.set_cancel_job(true);
    return r;
  }
  if (state != v1::Job::LEASED || DeadlineLocked(lease_id, q.Double(1)) < now) {
    return absl::FailedPreconditionError(absl::StrCat("lease ", lease_id, " has expired"));
  }
  const double deadline = now + options_.lease_seconds;
  lease_deadlines_[lease_id] = deadline;
  r.set_lease_deadline_time(IsoTime(deadline));
  return r;
}

double Store::DeadlineLocked(const std::string& lease_id, double stored) const {
  auto it = lease_deadlines_.find(lease_id);
  return it == lease_deadlines_.end() ? stored : std::max(stored, it->second);
}

absl::Status Store::FlushLocked(bool workers_too) {
  // Worker last-seen times matter only to `workers` listings: they are
  // written every few seconds, not with every lease sweep (a thousand rows
  // would hold the lock for milliseconds several times a second).
  const bool write_workers = workers_too || Now() - last_worker_flush_ >= 5.0;
  if ((last_seen_.empty() || !write_workers) && lease_deadlines_.empty()) return absl::OkStatus();
  TCOBENCH_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status s;
  if (write_workers) {
    for (const auto& [worker, t] : last_seen_) {
      if (s.ok())
        s = Stmt(db_, "UPDATE workers SET last_seen = ? WHERE id = ?")
                .Bind(1, t)
                .Bind(2, worker)
                .Run();
    }
  }
  for (const auto& [lease, d] : lease_deadlines_) {
    if (s.ok()) {
      s = Stmt(db_,
               "UPDATE jobs SET lease_deadline = MAX(lease_deadline, ?) WHERE lease_id = ? AND "
               "state = ?")
              .Bind(1, d)
              .Bind(2, lease)
              .Bind(3, int64_t{v1::Job::LEASED})
              .Run();
    }
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  if (write_workers) {
    last_seen_.clear();
    last_worker_flush_ = Now();
  }
  lease_deadlines_.clear();
  return Commit();
}

// One transaction per call: one commit instead of one per statement.
absl::StatusOr<v1::AcquireJobResponse> Store::Acquire(const std::string& worker_id) {
  MutexLock lock(&mu_);
  TCOBENCH_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto r = AcquireLocked(worker_id);
  if (absl::Status s = r.ok() ? Commit() : Exec("ROLLBACK"); !s.ok() && r.ok()) return s;
  if (r.ok() && r->has_job()) Emit(StoreEvent::kLeaseGranted);
  return r;
}

absl::StatusOr<v1::AcquireJobResponse> Store::AcquireLocked(const std::string& worker_id) {
  auto known = inventories_.find(worker_id);
  if (known == inventories_.end()) {
    Stmt w(db_, "SELECT inventory FROM workers WHERE id = ?");
    w.Bind(1, worker_id);
    if (!w.Step())
      return absl::NotFoundError(absl::StrCat("no worker '", worker_id, "': register again"));
    v1::WorkerInventory parsed;
    parsed.ParseFromString(w.Blob(0));
    known = inventories_.emplace(worker_id, std::move(parsed)).first;
  }
  const v1::WorkerInventory& inv = known->second;
  const double now = Now();
  last_seen_[worker_id] = now;
  v1::AcquireJobResponse r;
  {
    // Drained: no job, ever again. At its limit: no job now.
    Stmt d(db_,
           "SELECT draining, (SELECT COUNT(*) FROM jobs WHERE worker_id = ?1 AND state = ?2) "
           "FROM workers WHERE id = ?1");
    d.Bind(1, worker_id).Bind(2, int64_t{v1::Job::LEASED});
    if (d.Step()) {
      if (d.Int(0) != 0) {
        r.set_drain(true);
        return r;
      }
      if (d.Int(1) >= options_.max_jobs_per_worker) return r;
    }
    TCOBENCH_RETURN_IF_ERROR(d.status());
  }
  // Jobs in the order they were submitted (rowid), through the state index.
  Stmt q(db_,
         "SELECT id, variant, hardware, attempts, comparison_id FROM jobs "
         "WHERE state = ? ORDER BY rowid");
  q.Bind(1, int64_t{v1::Job::QUEUED});
  while (q.Step()) {
    auto spec_or = SpecLocked(q.Text(4));
    if (!spec_or.ok()) return spec_or.status();
    const v1::ComparisonSpec& spec = **spec_or;
    const std::string hardware = q.Text(2);
    std::string why;
    if (!JobMatches(spec, q.Text(1), hardware, inv, &why)) continue;
    const std::string job_id = q.Text(0), lease = NewId("lease-"), cmp = q.Text(4);
    const double deadline = now + options_.lease_seconds;
    absl::Status s = Stmt(db_,
                          "UPDATE jobs SET state = ?, attempts = attempts + 1, worker_id = ?, "
                          "lease_id = ?, lease_deadline = ?, stage = 'leased', fraction = 0, "
                          "updated = ? WHERE id = ?")
                         .Bind(1, int64_t{v1::Job::LEASED})
                         .Bind(2, worker_id)
                         .Bind(3, lease)
                         .Bind(4, deadline)
                         .Bind(5, now)
                         .Bind(6, job_id)
                         .Run();
    if (s.ok()) {
      s = Stmt(db_, "INSERT INTO leases(id, job_id, worker_id, granted) VALUES(?,?,?,?)")
              .Bind(1, lease)
              .Bind(2, job_id)
              .Bind(3, worker_id)
              .Bind(4, now)
              .Run();
    }
    if (!s.ok()) return s;
    // A lease never ends a comparison: at most it starts it running.
    if (absl::Status u = Stmt(db_, "UPDATE comparisons SET state = ? WHERE id = ? AND state = ?")
                             .Bind(1, int64_t{v1::Comparison::RUNNING})
                             .Bind(2, cmp)
                             .Bind(3, int64_t{v1::Comparison::QUEUED})
                             .Run();
        !u.ok()) {
      return u;
    }
    r.set_has_job(true);
    r.set_job_id(job_id);
    r.set_lease_id(lease);
    r.set_variant(q.Text(1));
    r.set_hardware(hardware);
    r.set_lease_seconds(options_.lease_seconds);
    *r.mutable_spec() = JobSpec(spec, q.Text(1), hardware);
    Changed();
    return r;
  }
  TCOBENCH_RETURN_IF_ERROR(q.status());
  return r;
}

absl::StatusOr<bool> Store::Progress(const std::string& worker_id, const std::string& lease_id,
                                     const std::string& stage, double fraction) {
  MutexLock lock(&mu_);
  const double now = Now();
  Stmt q(db_, "SELECT state, lease_deadline FROM jobs WHERE lease_id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (!q.Step()) return StaleLeaseLocked(worker_id, lease_id);
  const auto state = static_cast<v1::Job::State>(q.Int(0));
  if (state == v1::Job::CANCELLED) return true;
  if (state != v1::Job::LEASED || DeadlineLocked(lease_id, q.Double(1)) < now) {
    return absl::FailedPreconditionError(absl::StrCat("lease ", lease_id, " has expired"));
  }
  last_seen_[worker_id] = now;
  lease_deadlines_[lease_id] = now + options_.lease_seconds;
  absl::Status s =
      Stmt(db_, "UPDATE jobs SET stage = ?, fraction = ?, updated = ? WHERE lease_id = ?")
          .Bind(1, stage)
          .Bind(2, std::clamp(fraction, 0.0, 1.0))
          .Bind(3, now)
          .Bind(4, lease_id)
          .Run();
  if (!s.ok()) return s;
  Changed();
  return false;
}

absl::Status Store::Complete(const std::string& worker_id, const std::string& lease_id,
                             const v1::ComparisonResult& result) {
  MutexLock lock(&mu_);
  TCOBENCH_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  const absl::Status r = CompleteLocked(worker_id, lease_id, result);
  if (absl::Status s = r.ok() ? Commit() : Exec("ROLLBACK"); !s.ok() && r.ok()) return s;
  return r;
}

absl::Status Store::CompleteLocked(const std::string& worker_id, const std::string& lease_id,
                                   const v1::ComparisonResult& result) {
  const double now = Now();
  Stmt q(db_,
         "SELECT id, state, lease_deadline, comparison_id, variant FROM jobs "
         "WHERE lease_id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (!q.Step()) return StaleLeaseLocked(worker_id, lease_id);
  const std::string job_id = q.Text(0), cmp = q.Text(3), variant = q.Text(4);
  const auto state = static_cast<v1::Job::State>(q.Int(1));
  if (state == v1::Job::SUCCEEDED) return absl::OkStatus();  // a repeat: acknowledged, nothing new
  if (state != v1::Job::LEASED || DeadlineLocked(lease_id, q.Double(2)) < now) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lease ", lease_id, state == v1::Job::CANCELLED ? " was cancelled" : " has expired",
        ": the result is not stored"));
  }
  bool has_variant = false;
  for (const v1::VariantResult& v : result.results())
    has_variant = has_variant || v.variant() == variant || variant == kAllVariantsJob;
  if (!has_variant) {
    return absl::InvalidArgumentError(
        absl::StrCat("result has no results for variant '", variant, "'"));
  }
  absl::Status s = Stmt(db_,
                        "UPDATE jobs SET state = ?, result = ?, stage = 'done', fraction = 1, "
                        "updated = ? WHERE id = ?")
                       .Bind(1, int64_t{v1::Job::SUCCEEDED})
                       .BindBlob(2, result.SerializeAsString())
                       .Bind(3, now)
                       .Bind(4, job_id)
                       .Run();
  if (s.ok()) s = UpdateComparisonStateLocked(cmp);
  if (s.ok()) {
    Emit(StoreEvent::kJobSucceeded);
    Changed();
  }
  return s;
}

absl::Status Store::RequeueOrFailLocked(const std::string& job_id, int attempts,
                                        const std::string& why, const char* reason) {
  Stmt q(db_, "SELECT errors FROM jobs WHERE id = ?");
  q.Bind(1, job_id);
  std::string errors = q.Step() ? q.Text(0) : "";
  if (!errors.empty()) errors += kErrorSeparator;
  errors += absl::StrCat("attempt ", attempts, ": ", why);
  const bool again = attempts < options_.max_attempts;
  absl::Status s = Stmt(db_,
                        "UPDATE jobs SET state = ?, errors = ?, lease_id = '', stage = ?, updated "
                        "= ? WHERE id = ?")
                       .Bind(1, int64_t{again ? v1::Job::QUEUED : v1::Job::FAILED})
                       .Bind(2, errors)
                       .Bind(3, again ? std::string("re-queued") : std::string("failed"))
                       .Bind(4, Now())
                       .Bind(5, job_id)
                       .Run();
  if (s.ok()) Emit(again ? StoreEvent::kJobRequeued : StoreEvent::kJobFailed, reason);
  return s;
}

absl::Status Store::Fail(const std::string& worker_id, const std::string& lease_id,
                         const std::string& reason, bool retryable) {
  MutexLock lock(&mu_);
  Stmt q(
      db_,
      "SELECT id, state, attempts, comparison_id FROM jobs WHERE lease_id = ? AND worker_id = ?");
  q.Bind(1, lease_id).Bind(2, worker_id);
  if (!q.Step()) return StaleLeaseLocked(worker_id, lease_id);
  const std::string job_id = q.Text(0), cmp = q.Text(3);
  if (static_cast<v1::Job::State>(q.Int(1)) != v1::Job::LEASED)
    return absl::OkStatus();  // already settled
  const int attempts = retryable ? static_cast<int>(q.Int(2)) : options_.max_attempts;
  absl::Status s =
      RequeueOrFailLocked(job_id, attempts, reason.empty() ? "failed" : reason, "worker_failed");
  if (s.ok()) s = UpdateComparisonStateLocked(cmp);
  if (s.ok()) Changed();
  return s;
}

absl::Status Store::ExpireLeases() {
  MutexLock lock(&mu_);
  TCOBENCH_RETURN_IF_ERROR(FlushLocked(/*workers_too=*/false));
  std::vector<std::tuple<std::string, int, std::string, std::string>> expired;
  {
    Stmt q(db_,
           "SELECT id, attempts, worker_id, comparison_id FROM jobs WHERE state = ? AND "
           "lease_deadline < ?");
    q.Bind(1, int64_t{v1::Job::LEASED}).Bind(2, Now());
    while (q.Step())
      expired.emplace_back(q.Text(0), static_cast<int>(q.Int(1)), q.Text(2), q.Text(3));
    TCOBENCH_RETURN_IF_ERROR(q.status());
  }
  for (const auto& [job, attempts, worker, cmp] : expired) {
    Emit(StoreEvent::kLeaseExpired);
    absl::Status s = RequeueOrFailLocked(
        job, attempts, absl::StrCat("lease expired: worker ", worker, " stopped heartbeating"),
        "lease_expired");
    if (s.ok()) s = UpdateComparisonStateLocked(cmp);
    if (!s.ok()) return s;
  }
  if (!expired.empty()) Changed();
  return absl::OkStatus();
}
}  // namespace tcobench
