// The gRPC face of the coordinator: CoordinatorService over a Store.
#pragma once

#include <grpcpp/grpcpp.h>

#include "services/coordinator/store.h"
#include "tcobench/v1/coordinator.grpc.pb.h"

namespace tcobench {

grpc::Status ToGrpcStatus(const absl::Status& status);

class CoordinatorServiceImpl final : public v1::CoordinatorService::Service {
 public:
  explicit CoordinatorServiceImpl(Store* store) : store_(store) {}

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

 private:
  Store* store_;
};

}  // namespace tcobench
