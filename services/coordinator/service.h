// The gRPC face of the coordinator: CoordinatorService over a Store.
#pragma once

#include <grpcpp/grpcpp.h>

#include "services/coordinator/store.h"
#include "common/security/auth.h"
#include "tcobench/v1/coordinator.grpc.pb.h"

namespace tcobench {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Who may call what (docs/security.md). Without a token table every call is
// allowed (loopback use); with one, user calls need a client or admin token,
// worker calls a worker or admin token, DrainWorker an admin token, and a
// client may cancel, delete and tag only what it submitted.
struct AccessOptions {
  const TokenTable* tokens = nullptr;      // null: authentication off
  double max_requests_per_second = 50;     // per client, user calls; 0: no limit
  // Told each refusal: missing_token, bad_token, wrong_role, not_owner,
  // rate_limited (for metrics).
  std::function<void(const char* reason)> on_refused;
  std::function<double()> now;             // default: a steady clock
};

class CoordinatorServiceImpl final : public v1::CoordinatorService::Service {
 public:
  explicit CoordinatorServiceImpl(Store* store, AccessOptions access = {});

  grpc::Status SubmitComparison(grpc::ServerContext*, const v1::SubmitComparisonRequest*,
                                v1::SubmitComparisonResponse*) override;
  grpc::Status GetComparison(grpc::ServerContext*, const v1::GetComparisonRequest*,
                             v1::GetComparisonResponse*) override;
  grpc::Status ListComparisons(grpc::ServerContext*, const v1::ListComparisonsRequest*,
                               v1::ListComparisonsResponse*) override;
  grpc::Status WatchComparison(grpc::ServerContext*, const v1::WatchComparisonRequest*,
                               grpc::ServerWriter<v1::WatchComparisonResponse>*) override;
  grpc::Status CancelComparison(grpc::ServerContext*, const v1::CancelComparisonRequest*,
                                v1::CancelComparisonResponse*) override;
  grpc::Status DeleteComparison(grpc::ServerContext*, const v1::DeleteComparisonRequest*,
                                v1::DeleteComparisonResponse*) override;
  grpc::Status GetReport(grpc::ServerContext*, const v1::GetReportRequest*,
                         v1::GetReportResponse*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse*) override;
  grpc::Status TagComparison(grpc::ServerContext*, const v1::TagComparisonRequest*,
                             v1::TagComparisonResponse*) override;
  grpc::Status RecordGateVerdict(grpc::ServerContext*, const v1::RecordGateVerdictRequest*,
                                 v1::RecordGateVerdictResponse*) override;
  grpc::Status ListGateVerdicts(grpc::ServerContext*, const v1::ListGateVerdictsRequest*,
                                v1::ListGateVerdictsResponse*) override;
  grpc::Status RegisterWorker(grpc::ServerContext*, const v1::RegisterWorkerRequest*,
                              v1::RegisterWorkerResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse*) override;
  grpc::Status AcquireJob(grpc::ServerContext*, const v1::AcquireJobRequest*,
                          v1::AcquireJobResponse*) override;
  grpc::Status ReportProgress(grpc::ServerContext*, const v1::ReportProgressRequest*,
                              v1::ReportProgressResponse*) override;
  grpc::Status CompleteJob(grpc::ServerContext*, const v1::CompleteJobRequest*,
                           v1::CompleteJobResponse*) override;
  grpc::Status FailJob(grpc::ServerContext*, const v1::FailJobRequest*, v1::FailJobResponse*) override;
  grpc::Status DrainWorker(grpc::ServerContext*, const v1::DrainWorkerRequest*,
                           v1::DrainWorkerResponse*) override;

  enum class Access { kUser, kWorker, kAdmin };
  // The caller, when it may make a call of this kind: UNAUTHENTICATED without
  // a valid token, PERMISSION_DENIED for the wrong role, RESOURCE_EXHAUSTED
  // past its request rate.
  grpc::Status Admit(grpc::ServerContext* ctx, Access access, Principal* who);

 private:
  // A client may change only its own comparisons; admins any.
  grpc::Status CheckOwner(const Principal& who, const std::string& ref);
  grpc::Status Refuse(const char* reason, grpc::StatusCode code, const std::string& message);

  Store* store_;
  AccessOptions access_;
  RateLimiter limiter_;
};

}  // namespace tcobench
