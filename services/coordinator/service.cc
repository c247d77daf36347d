#include "services/coordinator/service.h"

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

grpc::Status CoordinatorServiceImpl::SubmitComparison(grpc::ServerContext*,
                                                      const v1::SubmitComparisonRequest* req,
                                                      v1::SubmitComparisonResponse* resp) {
  auto id = store_->Submit(req->spec());
  if (!id.ok()) return ToGrpcStatus(id.status());
  resp->set_comparison_id(*id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::GetComparison(grpc::ServerContext*, const v1::GetComparisonRequest* req,
                                                   v1::GetComparisonResponse* resp) {
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  auto c = store_->Get(req->comparison_id());
  if (!c.ok()) return ToGrpcStatus(c.status());
  *resp->mutable_comparison() = std::move(*c);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ListComparisons(grpc::ServerContext*,
                                                     const v1::ListComparisonsRequest* req,
                                                     v1::ListComparisonsResponse* resp) {
  if (req->limit() < 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit: must not be negative");
  auto list = store_->List(req->limit());
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& c : *list) *resp->add_comparisons() = std::move(c);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::WatchComparison(grpc::ServerContext* ctx,
                                                     const v1::WatchComparisonRequest* req,
                                                     grpc::ServerWriter<v1::WatchComparisonResponse>* writer) {
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

grpc::Status CoordinatorServiceImpl::CancelComparison(grpc::ServerContext*,
                                                      const v1::CancelComparisonRequest* req,
                                                      v1::CancelComparisonResponse* resp) {
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  auto c = store_->Cancel(req->comparison_id());
  if (!c.ok()) return ToGrpcStatus(c.status());
  *resp->mutable_comparison() = std::move(*c);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::DeleteComparison(grpc::ServerContext*,
                                                      const v1::DeleteComparisonRequest* req,
                                                      v1::DeleteComparisonResponse*) {
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  return ToGrpcStatus(store_->Delete(req->comparison_id()));
}

grpc::Status CoordinatorServiceImpl::GetReport(grpc::ServerContext*, const v1::GetReportRequest* req,
                                               v1::GetReportResponse* resp) {
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  auto r = store_->Report(req->comparison_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                                 v1::ListWorkersResponse* resp) {
  auto w = store_->Workers();
  if (!w.ok()) return ToGrpcStatus(w.status());
  for (auto& x : *w) *resp->add_workers() = std::move(x);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::TagComparison(grpc::ServerContext*, const v1::TagComparisonRequest* req,
                                                   v1::TagComparisonResponse* resp) {
  if (auto s = Required(req->comparison_id(), "comparison_id"); !s.ok()) return s;
  auto r = store_->Tag(req->comparison_id(), req->tag());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::RecordGateVerdict(grpc::ServerContext*, const v1::RecordGateVerdictRequest* req,
                                                       v1::RecordGateVerdictResponse* resp) {
  auto id = store_->RecordVerdict(req->verdict());
  if (!id.ok()) return ToGrpcStatus(id.status());
  resp->set_verdict_id(*id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ListGateVerdicts(grpc::ServerContext*, const v1::ListGateVerdictsRequest* req,
                                                      v1::ListGateVerdictsResponse* resp) {
  if (req->limit() < 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit: must not be negative");
  auto list = store_->Verdicts(req->comparison_id(), req->limit());
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (auto& v : *list) *resp->add_verdicts() = std::move(v);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::RegisterWorker(grpc::ServerContext*, const v1::RegisterWorkerRequest* req,
                                                    v1::RegisterWorkerResponse* resp) {
  auto r = store_->Register(req->inventory());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* req,
                                               v1::HeartbeatResponse* resp) {
  if (auto s = Required(req->worker_id(), "worker_id"); !s.ok()) return s;
  auto r = store_->Heartbeat(req->worker_id(), req->lease_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::AcquireJob(grpc::ServerContext*, const v1::AcquireJobRequest* req,
                                                v1::AcquireJobResponse* resp) {
  if (auto s = Required(req->worker_id(), "worker_id"); !s.ok()) return s;
  auto r = store_->Acquire(req->worker_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ReportProgress(grpc::ServerContext*, const v1::ReportProgressRequest* req,
                                                    v1::ReportProgressResponse* resp) {
  if (auto s = Required(req->lease_id(), "lease_id"); !s.ok()) return s;
  auto cancel = store_->Progress(req->worker_id(), req->lease_id(), req->stage(), req->fraction_done());
  if (!cancel.ok()) return ToGrpcStatus(cancel.status());
  resp->set_cancel_job(*cancel);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::CompleteJob(grpc::ServerContext*, const v1::CompleteJobRequest* req,
                                                 v1::CompleteJobResponse*) {
  if (auto s = Required(req->lease_id(), "lease_id"); !s.ok()) return s;
  return ToGrpcStatus(store_->Complete(req->worker_id(), req->lease_id(), req->result()));
}

grpc::Status CoordinatorServiceImpl::FailJob(grpc::ServerContext*, const v1::FailJobRequest* req,
                                             v1::FailJobResponse*) {
  if (auto s = Required(req->lease_id(), "lease_id"); !s.ok()) return s;
  return ToGrpcStatus(store_->Fail(req->worker_id(), req->lease_id(), req->reason(), req->retryable()));
}

}  // namespace tcobench
