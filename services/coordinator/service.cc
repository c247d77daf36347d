#include "services/coordinator/service.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace tcobench {
namespace {

grpc::Status Required(const std::string& value, const char* field) {
  if (!value.empty()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat(field, ": missing"));
}

bool Ended(v1::Comparison::State s) {
  return s == v1::Comparison::SUCCEEDED || s == v1::Comparison::FAILED || s == v1::Comparison::CANCELLED;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// "ipv4:127.0.0.1:5555" -> "ipv4:127.0.0.1": a client without a token is its host.
std::string PeerHost(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos || colon < 5 ? peer : peer.substr(0, colon);
}

}  // namespace

CoordinatorServiceImpl::CoordinatorServiceImpl(Store* store, AccessOptions access)
    : store_(store),
      access_(std::move(access)),
      limiter_(access_.max_requests_per_second, access_.now ? access_.now : SteadySeconds) {}

grpc::Status CoordinatorServiceImpl::Refuse(const char* reason, grpc::StatusCode code,
                                            const std::string& message) {
  if (access_.on_refused) access_.on_refused(reason);
  return grpc::Status(code, message);
}

grpc::Status CoordinatorServiceImpl::Admit(grpc::ServerContext* ctx, Access access, Principal* who) {
  *who = Principal{Role::kAdmin, ""};
  if (access_.tokens != nullptr) {
    std::string header;
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("authorization"); it != md.end()) header.assign(it->second.data(), it->second.size());
    absl::StatusOr<Principal> p = access_.tokens->Authenticate(header);
    if (!p.ok()) {
      return Refuse(header.empty() ? "missing_token" : "bad_token", grpc::StatusCode::UNAUTHENTICATED,
                    std::string(p.status().message()));
    }
    *who = std::move(*p);
    const bool allowed = who->role == Role::kAdmin ||
                         (access == Access::kUser && who->role == Role::kClient) ||
                         (access == Access::kWorker && who->role == Role::kWorker);
    if (!allowed) {
      const char* needs = access == Access::kUser     ? "a client or admin"
                          : access == Access::kWorker ? "a worker or admin"
                                                      : "an admin";
      return Refuse("wrong_role", grpc::StatusCode::PERMISSION_DENIED,
                    absl::StrCat(who->name, " has a ", RoleName(who->role), " token; this call needs ", needs,
                                 " token"));
    }
  }
  if (access == Access::kUser && access_.max_requests_per_second > 0) {
    const std::string client = access_.tokens != nullptr ? who->name : PeerHost(ctx->peer());
    if (!limiter_.Allow(client)) {
      return Refuse("rate_limited", grpc::StatusCode::RESOURCE_EXHAUSTED,
                    absl::StrCat("too many requests from ", client, ": at most ", access_.max_requests_per_second,
                                 " a second (coordinator --max-requests-per-second); retry shortly"));
    }
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::CheckOwner(const Principal& who, const std::string& ref) {
  if (access_.tokens == nullptr || who.role == Role::kAdmin) return grpc::Status::OK;
  absl::StatusOr<std::string> owner = store_->OwnerOf(ref);
  if (!owner.ok()) return ToGrpcStatus(owner.status());
  if (*owner == who.name) return grpc::Status::OK;
  return Refuse("not_owner", grpc::StatusCode::PERMISSION_DENIED,
                absl::StrCat(ref, " was submitted by ", owner->empty() ? "nobody (before authentication)" : *owner,
                             "; ", who.name, " may change only its own comparisons"));
}

grpc::Status CoordinatorServiceImpl::SubmitComparison(grpc::ServerContext* ctx,
                                                      const v1::SubmitComparisonRequest* req,
                                                      v1::SubmitComparisonResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  auto id = store_->Submit(req->spec(), who.name);
  if (!id.ok()) return ToGrpcStatus(id.status());
  resp->set_comparison_id(*id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::GetComparison(grpc::ServerContext* ctx, const v1::GetComparisonRequest* req,
                                                   v1::GetComparisonResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  auto c = store_->Get(req->comparison_id());
  if (!c.ok()) return ToGrpcStatus(c.status());
  *resp->mutable_comparison() = std::move(*c);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ListComparisons(grpc::ServerContext* ctx,
                                                     const v1::ListComparisonsRequest* req,
                                                     v1::ListComparisonsResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  if (req->limit() < 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit: must not be negative");
  auto list = store_->List(req->limit());
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& c : *list) *resp->add_comparisons() = std::move(c);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::WatchComparison(grpc::ServerContext* ctx,
                                                     const v1::WatchComparisonRequest* req,
                                                     grpc::ServerWriter<v1::WatchComparisonResponse>* writer) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  std::string seen;
  while (!ctx->IsCancelled()) {
    auto c = store_->WaitForChange(req->comparison_id(), seen, 1.0);
    if (!c.ok()) return ToGrpcStatus(c.status());
    std::string bytes = c->SerializeAsString();
    if (bytes != seen) {
      v1::WatchComparisonResponse resp;
      *resp.mutable_comparison() = *c;
      if (!writer->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "watcher went away");
      seen = std::move(bytes);
    }
    if (Ended(c->state())) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
}

grpc::Status CoordinatorServiceImpl::CancelComparison(grpc::ServerContext* ctx,
                                                      const v1::CancelComparisonRequest* req,
                                                      v1::CancelComparisonResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  if (grpc::Status o = CheckOwner(who, req->comparison_id()); !o.ok()) return o;
  auto c = store_->Cancel(req->comparison_id());
  if (!c.ok()) return ToGrpcStatus(c.status());
  *resp->mutable_comparison() = std::move(*c);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::DeleteComparison(grpc::ServerContext* ctx,
                                                      const v1::DeleteComparisonRequest* req,
                                                      v1::DeleteComparisonResponse*) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  if (grpc::Status o = CheckOwner(who, req->comparison_id()); !o.ok()) return o;
  return ToGrpcStatus(store_->Delete(req->comparison_id()));
}

grpc::Status CoordinatorServiceImpl::GetReport(grpc::ServerContext* ctx, const v1::GetReportRequest* req,
                                               v1::GetReportResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  auto r = store_->Report(req->comparison_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ListWorkers(grpc::ServerContext* ctx, const v1::ListWorkersRequest*,
                                                 v1::ListWorkersResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  auto w = store_->Workers();
  if (!w.ok()) return ToGrpcStatus(w.status());
  for (auto& x : *w) *resp->add_workers() = std::move(x);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::TagComparison(grpc::ServerContext* ctx, const v1::TagComparisonRequest* req,
                                                   v1::TagComparisonResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  if (grpc::Status o = CheckOwner(who, req->comparison_id()); !o.ok()) return o;
  auto r = store_->Tag(req->comparison_id(), req->tag());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::RecordGateVerdict(grpc::ServerContext* ctx, const v1::RecordGateVerdictRequest* req,
                                                       v1::RecordGateVerdictResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  auto id = store_->RecordVerdict(req->verdict());
  if (!id.ok()) return ToGrpcStatus(id.status());
  resp->set_verdict_id(*id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ListGateVerdicts(grpc::ServerContext* ctx, const v1::ListGateVerdictsRequest* req,
                                                      v1::ListGateVerdictsResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kUser, &who); !a.ok()) return a;
  if (req->limit() < 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit: must not be negative");
  auto list = store_->Verdicts(req->comparison_id(), req->limit());
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& v : *list) *resp->add_verdicts() = std::move(v);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::RegisterWorker(grpc::ServerContext* ctx, const v1::RegisterWorkerRequest* req,
                                                    v1::RegisterWorkerResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kWorker, &who); !a.ok()) return a;
  auto r = store_->Register(req->inventory());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* req,
                                               v1::HeartbeatResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kWorker, &who); !a.ok()) return a;
  if (auto s = Required(req->worker_id(), "worker_id"); !s.ok()) return s;
  auto r = store_->Heartbeat(req->worker_id(), req->lease_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::AcquireJob(grpc::ServerContext* ctx, const v1::AcquireJobRequest* req,
                                                v1::AcquireJobResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kWorker, &who); !a.ok()) return a;
  if (auto s = Required(req->worker_id(), "worker_id"); !s.ok()) return s;
  auto r = store_->Acquire(req->worker_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ReportProgress(grpc::ServerContext* ctx, const v1::ReportProgressRequest* req,
                                                    v1::ReportProgressResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kWorker, &who); !a.ok()) return a;
  if (auto s = Required(req->lease_id(), "lease_id"); !s.ok()) return s;
  auto cancel = store_->Progress(req->worker_id(), req->lease_id(), req->stage(), req->fraction_done());
  if (!cancel.ok()) return ToGrpcStatus(cancel.status());
  resp->set_cancel_job(*cancel);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::CompleteJob(grpc::ServerContext* ctx, const v1::CompleteJobRequest* req,
                                                 v1::CompleteJobResponse*) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kWorker, &who); !a.ok()) return a;
  if (auto s = Required(req->lease_id(), "lease_id"); !s.ok()) return s;
  return ToGrpcStatus(store_->Complete(req->worker_id(), req->lease_id(), req->result()));
}

grpc::Status CoordinatorServiceImpl::FailJob(grpc::ServerContext* ctx, const v1::FailJobRequest* req,
                                             v1::FailJobResponse*) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kWorker, &who); !a.ok()) return a;
  if (auto s = Required(req->lease_id(), "lease_id"); !s.ok()) return s;
  return ToGrpcStatus(store_->Fail(req->worker_id(), req->lease_id(), req->reason(), req->retryable()));
}

grpc::Status CoordinatorServiceImpl::DrainWorker(grpc::ServerContext* ctx, const v1::DrainWorkerRequest* req,
                                                 v1::DrainWorkerResponse* resp) {
  Principal who;
  if (grpc::Status a = Admit(ctx, Access::kAdmin, &who); !a.ok()) return a;
  if (auto s = Required(req->worker(), "worker"); !s.ok()) return s;
  auto w = store_->Drain(req->worker());
  if (!w.ok()) return ToGrpcStatus(w.status());
  *resp->mutable_worker() = std::move(*w);
  return grpc::Status::OK;
}

}  // namespace tcobench
