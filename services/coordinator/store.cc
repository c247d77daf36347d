#include "services/coordinator/store.h"

#include "services/coordinator/selector.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/spec/spec.h"
#include "common/base/status_macros.h"
#include "services/coordinator/sqlite.h"
#include "services/coordinator/store_internal.h"

// The store's core: opening and migrating the database, comparisons (submit,
// read, cancel, delete, retention), tags and gate verdicts. Workers, jobs and
// leases are in leases.cc; the metrics' read models in store_stats.cc.

namespace tcobench {

using internal::IsoTime;
using internal::JobSpec;
using internal::kErrorSeparator;
using internal::NewId;
using internal::NoSuchRef;
using internal::Stmt;
using internal::SystemNow;
using internal::Terminal;

namespace {

namespace fs = std::filesystem;

// Schema versions: each entry upgrades the database by one version, in one
// transaction. Append, never edit.
const char* const kMigrations[] = {
    // 1: comparisons, jobs, workers.
    R"(CREATE TABLE comparisons(
         id TEXT PRIMARY KEY, spec BLOB NOT NULL, state INTEGER NOT NULL,
         created REAL NOT NULL, finished REAL, error TEXT NOT NULL DEFAULT '');
       CREATE TABLE jobs(
         id TEXT PRIMARY KEY,
         comparison_id TEXT NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
         seq INTEGER NOT NULL, variant TEXT NOT NULL, hardware TEXT NOT NULL,
         state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
         worker_id TEXT NOT NULL DEFAULT '', lease_id TEXT NOT NULL DEFAULT '',
         lease_deadline REAL NOT NULL DEFAULT 0, errors TEXT NOT NULL DEFAULT '',
         stage TEXT NOT NULL DEFAULT '', fraction REAL NOT NULL DEFAULT 0,
         updated REAL NOT NULL, result BLOB);
       CREATE INDEX jobs_by_state ON jobs(state);
       CREATE INDEX jobs_by_comparison ON jobs(comparison_id, seq);
       CREATE TABLE workers(
         id TEXT PRIMARY KEY, inventory BLOB NOT NULL, registered REAL NOT NULL,
         last_seen REAL NOT NULL);
       CREATE TABLE leases(
         id TEXT PRIMARY KEY, job_id TEXT NOT NULL, worker_id TEXT NOT NULL,
         granted REAL NOT NULL);)",
    // 2: completions, progress and heartbeats find their job by lease.
    R"(CREATE INDEX jobs_by_lease ON jobs(lease_id);)",
    // 3: tags (names that move between comparisons) and release-gate verdicts.
    R"(CREATE TABLE tags(
         name TEXT PRIMARY KEY,
         comparison_id TEXT NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
         updated REAL NOT NULL);
       CREATE INDEX tags_by_comparison ON tags(comparison_id);
       CREATE TABLE gate_verdicts(
         id TEXT PRIMARY KEY, baseline_id TEXT NOT NULL, candidate_id TEXT NOT NULL,
         overall INTEGER NOT NULL, verdict BLOB NOT NULL, created REAL NOT NULL);
       CREATE INDEX gate_verdicts_by_candidate ON gate_verdicts(candidate_id, created);)",
    // 4: who submitted each comparison; drained workers.
    R"(ALTER TABLE comparisons ADD COLUMN owner TEXT NOT NULL DEFAULT '';
       ALTER TABLE workers ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;)",
};

}  // namespace

namespace internal {

double SystemNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string IsoTime(double seconds) {
  if (seconds <= 0) return "";
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {
struct IdSource {
  Mutex mu;
  std::mt19937_64 rng ABSL_GUARDED_BY(mu){std::random_device{}() ^ static_cast<uint64_t>(SystemNow() * 1e6)};
};
}  // namespace

std::string NewId(const char* prefix) {
  static IdSource* const source = new IdSource();  // never destroyed: ids may be made at exit
  MutexLock lock(&source->mu);
  return absl::StrCat(prefix, absl::Hex(source->rng(), absl::kZeroPad16));
}

v1::ComparisonSpec JobSpec(const v1::ComparisonSpec& spec, const std::string& variant,
                           const std::string& hardware) {
  v1::ComparisonSpec out = spec;
  out.clear_variants();
  for (const v1::Variant& v : spec.variants()) {
    if (variant == kAllVariantsJob || v.name() == variant || v.name() == spec.baseline()) *out.add_variants() = v;
  }
  out.clear_hardware();
  for (const v1::Hardware& h : spec.hardware()) {
    if (h.name() == hardware) *out.add_hardware() = h;
  }
  // Every field that names a target goes with the targets dropped, or the
  // worker's own ValidateSpec refuses the job (the baseline, the only field
  // naming a variant, is kept above).
  auto* prices = out.mutable_cost()->mutable_hardware();
  for (auto it = prices->begin(); it != prices->end();) it = it->first == hardware ? std::next(it) : prices->erase(it);
  return out;
}

absl::Status NoSuchRef(const std::string& ref) {
  return absl::NotFoundError(absl::StrCat("no comparison or tag '", ref, "'"));
}

}  // namespace internal

namespace {
StoreOptions WithClock(StoreOptions options) {
  if (!options.now) options.now = SystemNow;
  return options;
}
}  // namespace

Store::Store(sqlite3* db, StoreOptions options) : options_(WithClock(std::move(options))), db_(db) {}

Store::~Store() {
  sqlite3_close(checkpoint_db_);
  sqlite3_close(db_);
}

absl::Status Store::Checkpoint() {
  MutexLock lock(&checkpoint_mu_);
  int log = 0, done = 0;
  const int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return absl::InternalError(absl::StrCat("checkpoint: ", sqlite3_errmsg(checkpoint_db_)));
  }
  return absl::OkStatus();
}

absl::Status Store::Exec(const std::string& sql) { return internal::ExecSql(db_, sql); }

absl::Status Store::Commit() {
  absl::Status s = Exec("COMMIT");
  if (!s.ok()) (void)Exec("ROLLBACK");  // a failed COMMIT (disk full) leaves the transaction open
  return s;
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const fs::path& data_dir, StoreOptions options) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("--data-dir ", data_dir.string(), ": ", ec.message()));
  const fs::path file = data_dir / "coordinator.db";
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db != nullptr ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat(file.string(), ": ", msg));
  }
  std::unique_ptr<Store> store(new Store(db, std::move(options)));
  MutexLock lock(&store->mu_);  // no other thread has the store yet; held for the analysis
  sqlite3_busy_timeout(db, 5000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                             "PRAGMA foreign_keys=ON",
                             // Checkpoints run from Checkpoint() on their own connection,
                             // never inside a request (they were its latency tail).
                             "PRAGMA wal_autocheckpoint=0"}) {
    TCOBENCH_RETURN_IF_ERROR(store->Exec(pragma));
  }
  if (absl::Status s = store->Exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
      !s.ok()) {
    return s;
  }
  int64_t version = 0;
  {
    Stmt q(db, "SELECT version FROM schema_version");
    if (q.Step()) version = q.Int(0);
  }
  const int64_t latest = static_cast<int64_t>(std::size(kMigrations));
  if (version > latest) {
    return absl::FailedPreconditionError(absl::StrCat(
        file.string(), " has schema version ", version, ", newer than this coordinator's ", latest));
  }
  for (int64_t v = version; v < latest; ++v) {
    TCOBENCH_RETURN_IF_ERROR(store->Exec("BEGIN IMMEDIATE"));
    absl::Status s = store->Exec(kMigrations[v]);
    if (s.ok()) s = store->Exec(absl::StrCat("DELETE FROM schema_version; INSERT INTO schema_version VALUES(", v + 1, ")"));
    if (!s.ok()) {
      (void)store->Exec("ROLLBACK");
      return absl::InternalError(absl::StrCat("migrating ", file.string(), " to version ", v + 1, ": ", s.message()));
    }
    if (absl::Status c = store->Exec("COMMIT"); !c.ok()) return c;
  }
  {
    Stmt q(db, "SELECT id FROM workers");
    while (q.Step()) store->known_workers_.insert(q.Text(0));
  }
  {
    MutexLock checkpoint_lock(&store->checkpoint_mu_);
    if (sqlite3_open_v2(file.c_str(), &store->checkpoint_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      return absl::UnavailableError(absl::StrCat(file.string(), ": cannot open a second connection"));
    }
    sqlite3_busy_timeout(store->checkpoint_db_, 1000);
  }
  // After a restart, running jobs' workers get one lease period to reach us
  // again before their leases count as expired.
  if (absl::Status s = Stmt(db, "UPDATE jobs SET lease_deadline = MAX(lease_deadline, ?) WHERE state = ?")
                           .Bind(1, store->Now() + store->options_.lease_seconds)
                           .Bind(2, int64_t{v1::Job::LEASED}).Run();
      !s.ok()) {
    return s;
  }
  return store;
}

void Store::Changed() {
  ++version_;
  changed_.SignalAll();
}

absl::StatusOr<std::string> Store::Submit(const v1::ComparisonSpec& raw, const std::string& owner) {
  TCOBENCH_RETURN_IF_ERROR(CheckSpecLimits(raw, options_.limits));
  TCOBENCH_RETURN_IF_ERROR(ValidateSpec(raw));
  const v1::ComparisonSpec spec = WithDefaults(raw);
  MutexLock lock(&mu_);
  const std::string id = NewId("cmp-");
  const double now = Now();
  TCOBENCH_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status s = Stmt(db_, "INSERT INTO comparisons(id, spec, state, created, owner) VALUES(?,?,?,?,?)")
                       .Bind(1, id).BindBlob(2, spec.SerializeAsString())
                       .Bind(3, int64_t{v1::Comparison::QUEUED}).Bind(4, now).Bind(5, owner).Run();
  int64_t seq = 0;
  // With repetitions, a job per target runs every variant, interleaved.
  std::vector<std::string> job_variants;
  if (spec.workload().repetitions() > 1) {
    job_variants.push_back(kAllVariantsJob);
  } else {
    for (const v1::Variant& v : spec.variants()) job_variants.push_back(v.name());
  }
  for (const std::string& variant : job_variants) {
    for (const v1::Hardware& h : spec.hardware()) {
      if (!s.ok()) break;
      s = Stmt(db_, "INSERT INTO jobs(id, comparison_id, seq, variant, hardware, state, updated) "
                    "VALUES(?,?,?,?,?,?,?)")
              .Bind(1, NewId("job-")).Bind(2, id).Bind(3, seq++).Bind(4, variant).Bind(5, h.name())
              .Bind(6, int64_t{v1::Job::QUEUED}).Bind(7, now).Run();
    }
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  if (absl::Status c = Commit(); !c.ok()) return c;
  Emit(StoreEvent::kSubmitted);
  Changed();
  return id;
}


absl::StatusOr<std::string> Store::ResolveLocked(const std::string& ref) {
  Stmt q(db_, "SELECT id FROM comparisons WHERE " TCOBENCH_BY_REF);
  q.Bind(1, ref);
  if (q.Step()) return q.Text(0);
  TCOBENCH_RETURN_IF_ERROR(q.status());
  return NoSuchRef(ref);
}

absl::StatusOr<v1::Comparison> Store::LoadLocked(const std::string& ref) {
  v1::Comparison c;
  {
    Stmt q(db_, "SELECT id, spec, state, created, finished, error, owner FROM comparisons WHERE " TCOBENCH_BY_REF);
    q.Bind(1, ref);
    if (!q.Step()) {
      TCOBENCH_RETURN_IF_ERROR(q.status());
      return NoSuchRef(ref);
    }
    c.set_id(q.Text(0));
    if (!c.mutable_spec()->ParseFromString(q.Blob(1))) return absl::DataLossError("stored spec unreadable");
    c.set_state(static_cast<v1::Comparison::State>(q.Int(2)));
    c.set_created_time(IsoTime(q.Double(3)));
    if (!q.IsNull(4)) c.set_finished_time(IsoTime(q.Double(4)));
    c.set_error(q.Text(5));
    c.set_owner(q.Text(6));
  }
#undef TCOBENCH_BY_REF
  const std::string& id = c.id();
  {
    Stmt q(db_, "SELECT name FROM tags WHERE comparison_id = ? ORDER BY name");
    q.Bind(1, id);
    while (q.Step()) c.add_tags(q.Text(0));
    TCOBENCH_RETURN_IF_ERROR(q.status());
  }
  Stmt q(db_, "SELECT id, variant, hardware, state, attempts, worker_id, errors, stage, fraction, "
              "updated FROM jobs WHERE comparison_id = ? ORDER BY seq");
  q.Bind(1, id);
  while (q.Step()) {
    v1::Job* j = c.add_jobs();
    j->set_id(q.Text(0));
    j->set_comparison_id(id);
    j->set_variant(q.Text(1));
    j->set_hardware(q.Text(2));
    j->set_state(static_cast<v1::Job::State>(q.Int(3)));
    j->set_attempts(static_cast<int32_t>(q.Int(4)));
    j->set_worker_id(q.Text(5));
    const std::string errors = q.Text(6);
    if (!errors.empty()) {
      for (absl::string_view e : absl::StrSplit(errors, kErrorSeparator)) j->add_attempt_errors(std::string(e));
    }
    j->set_stage(q.Text(7));
    j->set_fraction_done(q.Double(8));
    j->set_updated_time(IsoTime(q.Double(9)));
  }
  TCOBENCH_RETURN_IF_ERROR(q.status());
  TCOBENCH_RETURN_IF_ERROR(ExplainQueuedLocked(&c));
  return c;
}

absl::Status Store::ExplainQueuedLocked(v1::Comparison* c) {
  bool queued = false;
  for (const v1::Job& j : c->jobs()) queued |= j.state() == v1::Job::QUEUED;
  if (!queued) return absl::OkStatus();
  // Live workers: heard from within a lease time (the store's or this
  // process's latest word on them).
  std::vector<v1::WorkerInventory> live;
  const double now = Now();
  Stmt q(db_, "SELECT id, inventory, last_seen FROM workers WHERE draining = 0");
  while (q.Step()) {
    double seen = q.Double(2);
    if (auto it = last_seen_.find(q.Text(0)); it != last_seen_.end()) seen = std::max(seen, it->second);
    if (now - seen > options_.lease_seconds) continue;
    live.emplace_back().ParseFromString(q.Blob(1));
  }
  TCOBENCH_RETURN_IF_ERROR(q.status());
  for (v1::Job& j : *c->mutable_jobs()) {
    if (j.state() != v1::Job::QUEUED) continue;
    if (live.empty()) {
      j.set_waiting_reason("no live worker");
      continue;
    }
    std::string first_why;
    bool any = false;
    for (const v1::WorkerInventory& w : live) {
      std::string why;
      if (JobMatches(c->spec(), j.variant(), j.hardware(), w, &why)) {
        any = true;
        break;
      }
      if (first_why.empty()) first_why = absl::StrCat(why, " on worker ", w.name());
    }
    if (!any) j.set_waiting_reason(absl::StrCat("no live worker matches: ", first_why));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const v1::ComparisonSpec>> Store::SpecLocked(const std::string& id) {
  auto it = specs_.find(id);
  if (it != specs_.end()) return it->second;
  Stmt q(db_, "SELECT spec FROM comparisons WHERE id = ?");
  q.Bind(1, id);
  if (!q.Step()) return absl::NotFoundError(absl::StrCat("no comparison '", id, "'"));
  auto spec = std::make_shared<v1::ComparisonSpec>();
  if (!spec->ParseFromString(q.Blob(0))) return absl::DataLossError("stored spec unreadable");
  if (specs_.size() > 4096) specs_.clear();  // a bounded cache of immutable specs
  specs_.emplace(id, spec);
  return std::shared_ptr<const v1::ComparisonSpec>(spec);
}

absl::StatusOr<v1::Comparison> Store::Get(const std::string& id) {
  MutexLock lock(&mu_);
  return LoadLocked(id);
}

absl::StatusOr<std::vector<v1::Comparison>> Store::List(int limit) {
  MutexLock lock(&mu_);
  std::vector<std::string> ids;
  {
    Stmt q(db_, "SELECT id FROM comparisons ORDER BY created DESC, id LIMIT ?");
    q.Bind(1, int64_t{limit > 0 ? limit : 100});
    while (q.Step()) ids.push_back(q.Text(0));
    TCOBENCH_RETURN_IF_ERROR(q.status());
  }
  std::vector<v1::Comparison> out;
  for (const std::string& id : ids) {
    auto c = LoadLocked(id);
    if (!c.ok()) return c.status();
    out.push_back(std::move(*c));
  }
  return out;
}

absl::StatusOr<v1::Comparison> Store::WaitForChange(const std::string& id, const std::string& seen,
                                                    double timeout_seconds) {
  MutexLock lock(&mu_);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(timeout_seconds));
  while (true) {
    auto c = LoadLocked(id);
    if (!c.ok() || c->SerializeAsString() != seen) return c;
    const uint64_t v = version_;
    while (version_ == v) {
      if (!changed_.WaitUntil(&mu_, deadline) && version_ == v) return LoadLocked(id);
    }
  }
}

absl::Status Store::UpdateComparisonStateLocked(const std::string& id) {
  // Counts per job state (an index lookup), not the whole comparison.
  int64_t current = 0;
  {
    Stmt q(db_, "SELECT state FROM comparisons WHERE id = ?");
    q.Bind(1, id);
    if (!q.Step()) return q.status();
    current = q.Int(0);
  }
  if (Terminal(static_cast<v1::Comparison::State>(current))) return absl::OkStatus();
  int64_t total = 0, terminal = 0, failed = 0, queued = 0;
  {
    Stmt q(db_, "SELECT state, COUNT(*) FROM jobs WHERE comparison_id = ? GROUP BY state");
    q.Bind(1, id);
    while (q.Step()) {
      const auto st = static_cast<v1::Job::State>(q.Int(0));
      total += q.Int(1);
      if (Terminal(st)) terminal += q.Int(1);
      if (st == v1::Job::FAILED) failed += q.Int(1);
      if (st == v1::Job::QUEUED) queued += q.Int(1);
    }
    TCOBENCH_RETURN_IF_ERROR(q.status());
  }
  const bool all_done = terminal == total;
  v1::Comparison::State state = queued == total ? v1::Comparison::QUEUED : v1::Comparison::RUNNING;
  if (all_done) state = failed > 0 ? v1::Comparison::FAILED : v1::Comparison::SUCCEEDED;
  if (state == current) return absl::OkStatus();
  std::string error;
  if (all_done && failed > 0) {
    std::vector<std::string> failures;
    Stmt q(db_, "SELECT variant, hardware, errors FROM jobs WHERE comparison_id = ? AND state = ? ORDER BY seq");
    q.Bind(1, id).Bind(2, int64_t{v1::Job::FAILED});
    while (q.Step()) {
      const std::string errors = q.Text(2);
      const size_t last = errors.rfind(kErrorSeparator);
      failures.push_back(absl::StrCat(q.Text(0), "@", q.Text(1), ": ",
                                      errors.empty() ? "failed" : errors.substr(last == std::string::npos ? 0 : last + 1)));
    }
    error = absl::StrJoin(failures, "; ");
  }
  Stmt u(db_, "UPDATE comparisons SET state = ?, finished = ?, error = ? WHERE id = ?");
  u.Bind(1, int64_t{state});
  if (all_done) u.Bind(2, Now());
  u.Bind(3, error).Bind(4, id);
  return u.Run();
}

absl::StatusOr<v1::Comparison> Store::Cancel(const std::string& id) {
  MutexLock lock(&mu_);
  auto c = LoadLocked(id);
  if (!c.ok()) return c.status();
  if (Terminal(c->state())) return c;  // nothing to stop
  const double now = Now();
  absl::Status s = Stmt(db_, "UPDATE jobs SET state = ?, updated = ? WHERE comparison_id = ? AND state IN (?, ?)")
                       .Bind(1, int64_t{v1::Job::CANCELLED}).Bind(2, now).Bind(3, c->id())
                       .Bind(4, int64_t{v1::Job::QUEUED}).Bind(5, int64_t{v1::Job::LEASED}).Run();
  if (s.ok()) {
    Emit(StoreEvent::kJobCancelled, "", sqlite3_changes(db_));
    s = Stmt(db_, "UPDATE comparisons SET state = ?, finished = ? WHERE id = ?")
            .Bind(1, int64_t{v1::Comparison::CANCELLED}).Bind(2, now).Bind(3, c->id()).Run();
  }
  if (!s.ok()) return s;
  Changed();
  return LoadLocked(c->id());
}

absl::Status Store::Delete(const std::string& id) {
  MutexLock lock(&mu_);
  auto c = LoadLocked(id);
  if (!c.ok()) return c.status();
  absl::Status s = Stmt(db_, "DELETE FROM comparisons WHERE id = ?").Bind(1, c->id()).Run();
  specs_.erase(c->id());
  if (s.ok()) Changed();
  return s;
}

absl::StatusOr<v1::GetReportResponse> Store::Report(const std::string& id) {
  MutexLock lock(&mu_);
  auto c = LoadLocked(id);
  if (!c.ok()) return c.status();
  v1::GetReportResponse out;
  *out.mutable_comparison() = *c;
  v1::ComparisonResult* r = out.mutable_result();
  *r->mutable_spec() = c->spec();
  Stmt q(db_, "SELECT result, variant FROM jobs WHERE comparison_id = ? AND state = ? ORDER BY seq");
  q.Bind(1, c->id()).Bind(2, int64_t{v1::Job::SUCCEEDED});
  bool first = true;
  while (q.Step()) {
    v1::ComparisonResult part;
    if (!part.ParseFromString(q.Blob(0))) return absl::DataLossError("stored result unreadable");
    if (first) *r->mutable_manifest() = part.manifest();
    first = false;
    *r->add_job_manifests() = part.manifest();
    for (const v1::VariantResult& v : part.results()) {
      // Not the baseline's rows a one-variant job ran for KL divergence.
      if (v.variant() == q.Text(1) || q.Text(1) == kAllVariantsJob) *r->add_results() = v;
    }
  }
  TCOBENCH_RETURN_IF_ERROR(q.status());
  return out;
}

absl::StatusOr<std::vector<v1::Worker>> Store::Workers() {
  MutexLock lock(&mu_);
  TCOBENCH_RETURN_IF_ERROR(FlushLocked(/*workers_too=*/true));
  std::vector<v1::Worker> out;
  Stmt q(db_, "SELECT w.id, w.inventory, w.last_seen, "
              "(SELECT j.id FROM jobs j WHERE j.worker_id = w.id AND j.state = ? LIMIT 1), w.draining "
              "FROM workers w ORDER BY w.registered");
  q.Bind(1, int64_t{v1::Job::LEASED});
  const double now = Now();
  while (q.Step()) {
    v1::Worker w;
    w.set_id(q.Text(0));
    w.mutable_inventory()->ParseFromString(q.Blob(1));
    w.set_last_seen_time(IsoTime(q.Double(2)));
    w.set_job_id(q.Text(3));
    w.set_draining(q.Int(4) != 0);
    w.set_state(now - q.Double(2) > options_.lease_seconds ? v1::Worker::LOST
                : w.job_id().empty()                      ? v1::Worker::IDLE
                                                          : v1::Worker::BUSY);
    out.push_back(std::move(w));
  }
  TCOBENCH_RETURN_IF_ERROR(q.status());
  return out;
}

absl::StatusOr<v1::Worker> Store::Drain(const std::string& ref) {
  {
    MutexLock lock(&mu_);
    // An id, else the newest registration under that name.
    std::string id;
    {
      Stmt q(db_, "SELECT id, inventory FROM workers ORDER BY registered DESC");
      while (q.Step() && id.empty()) {
        v1::WorkerInventory inv;
        inv.ParseFromString(q.Blob(1));
        if (q.Text(0) == ref || inv.name() == ref) id = q.Text(0);
      }
      TCOBENCH_RETURN_IF_ERROR(q.status());
    }
    if (id.empty()) return absl::NotFoundError(absl::StrCat("no worker '", ref, "'"));
    if (absl::Status s = Stmt(db_, "UPDATE workers SET draining = 1 WHERE id = ?").Bind(1, id).Run(); !s.ok()) {
      return s;
    }
    Changed();
  }
  absl::StatusOr<std::vector<v1::Worker>> all = Workers();
  if (!all.ok()) return all.status();
  for (v1::Worker& w : *all) {
    if (w.draining() && (w.id() == ref || w.inventory().name() == ref)) return std::move(w);
  }
  return absl::NotFoundError(absl::StrCat("no worker '", ref, "'"));
}

absl::StatusOr<std::string> Store::OwnerOf(const std::string& ref) {
  MutexLock lock(&mu_);
  Stmt q(db_, "SELECT owner FROM comparisons WHERE id = ?1 OR id IN (SELECT comparison_id FROM tags WHERE name = ?1)");
  q.Bind(1, ref);
  if (q.Step()) return q.Text(0);
  TCOBENCH_RETURN_IF_ERROR(q.status());
  return NoSuchRef(ref);
}

absl::StatusOr<int> Store::DeleteFinishedOlderThan(double days) {
  MutexLock lock(&mu_);
  absl::Status s = Stmt(db_, "DELETE FROM comparisons WHERE state IN (?, ?, ?) AND finished < ?")
                       .Bind(1, int64_t{v1::Comparison::SUCCEEDED}).Bind(2, int64_t{v1::Comparison::FAILED})
                       .Bind(3, int64_t{v1::Comparison::CANCELLED}).Bind(4, Now() - days * 86400).Run();
  if (!s.ok()) return s;
  const int n = sqlite3_changes(db_);
  specs_.clear();
  if (n > 0) Changed();
  return n;
}

namespace {

// Tags: what a person types in a shell and a CI variable holds, and never an
// id's form (ids resolve first).
absl::Status CheckTagName(const std::string& tag) {
  if (tag.empty()) return absl::InvalidArgumentError("tag: missing");
  if (tag.size() > 128) return absl::InvalidArgumentError("tag: at most 128 characters");
  for (char ch : tag) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '.' || ch == '_' || ch == '-' || ch == '/';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("tag: '", tag, "' may hold letters, digits, '.', '_', '-' and '/' only"));
    }
  }
  if (tag.rfind("cmp-", 0) == 0) return absl::InvalidArgumentError("tag: must not start with 'cmp-' (an id's form)");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::TagComparisonResponse> Store::Tag(const std::string& ref, const std::string& tag) {
  TCOBENCH_RETURN_IF_ERROR(CheckTagName(tag));
  MutexLock lock(&mu_);
  absl::StatusOr<std::string> id = ResolveLocked(ref);
  if (!id.ok()) return id.status();
  v1::TagComparisonResponse out;
  {
    Stmt q(db_, "SELECT comparison_id FROM tags WHERE name = ?");
    q.Bind(1, tag);
    if (q.Step() && q.Text(0) != *id) out.set_previous_comparison_id(q.Text(0));
    TCOBENCH_RETURN_IF_ERROR(q.status());
  }
  absl::Status s = Stmt(db_, "INSERT INTO tags(name, comparison_id, updated) VALUES(?, ?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET comparison_id = excluded.comparison_id, "
                             "updated = excluded.updated")
                       .Bind(1, tag).Bind(2, *id).Bind(3, Now()).Run();
  if (!s.ok()) return s;
  auto c = LoadLocked(*id);
  if (!c.ok()) return c.status();
  *out.mutable_comparison() = std::move(*c);
  Changed();
  return out;
}

absl::StatusOr<std::string> Store::RecordVerdict(v1::GateVerdict verdict) {
  MutexLock lock(&mu_);
  // Both sides must be comparisons here; refs (tags) are kept as given.
  for (std::string* id : {verdict.mutable_baseline_comparison_id(), verdict.mutable_candidate_comparison_id()}) {
    if (id->empty()) return absl::InvalidArgumentError("verdict: both comparison ids are needed");
    absl::StatusOr<std::string> resolved = ResolveLocked(*id);
    if (!resolved.ok()) return resolved.status();
    *id = *resolved;
  }
  if (verdict.overall() == v1::MetricVerdict::VERDICT_UNSPECIFIED) {
    return absl::InvalidArgumentError("verdict.overall: missing");
  }
  const double now = Now();
  verdict.set_time(IsoTime(now));
  const std::string id = NewId("gate-");
  absl::Status s = Stmt(db_, "INSERT INTO gate_verdicts(id, baseline_id, candidate_id, overall, verdict, created) "
                             "VALUES(?,?,?,?,?,?)")
                       .Bind(1, id).Bind(2, verdict.baseline_comparison_id())
                       .Bind(3, verdict.candidate_comparison_id()).Bind(4, int64_t{verdict.overall()})
                       .BindBlob(5, verdict.SerializeAsString()).Bind(6, now).Run();
  if (!s.ok()) return s;
  Emit(StoreEvent::kGateVerdict, absl::AsciiStrToLower(v1::MetricVerdict::Verdict_Name(verdict.overall())));
  Changed();
  return id;
}

absl::StatusOr<std::vector<v1::GateVerdict>> Store::Verdicts(const std::string& ref, int limit) {
  MutexLock lock(&mu_);
  std::string id;
  if (!ref.empty()) {
    absl::StatusOr<std::string> resolved = ResolveLocked(ref);
    if (!resolved.ok()) return resolved.status();
    id = *resolved;
  }
  Stmt q(db_, "SELECT verdict FROM gate_verdicts WHERE (? = '' OR candidate_id = ?) ORDER BY created DESC LIMIT ?");
  q.Bind(1, id).Bind(2, id).Bind(3, int64_t{limit > 0 ? limit : 100});
  std::vector<v1::GateVerdict> out;
  while (q.Step()) {
    v1::GateVerdict v;
    if (!v.ParseFromString(q.Blob(0))) return absl::DataLossError("stored gate verdict unreadable");
    out.push_back(std::move(v));
  }
  TCOBENCH_RETURN_IF_ERROR(q.status());
  return out;
}
}  // namespace tcobench
