// What the client commands share: the coordinator's address and a stub for
// it, and a server error as one readable line with its exit code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/base/flags.h"
#include "common/security/connection_flags.h"
#include "tcobench/v1/coordinator.grpc.pb.h"

namespace tcobench::cli {

using CoordinatorStub = v1::CoordinatorService::Stub;

absl::StatusOr<std::unique_ptr<CoordinatorStub>> Connect(const Args& args);
// Prints the error; returns 2 for the caller's mistakes, 1 otherwise.
int ReportRpc(const grpc::Status& s, const Args& args);
// One unary call on a fresh connection, with a 30 s deadline:
// Call(args, &CoordinatorStub::CancelComparison, req, &resp).
template <typename Req, typename Resp>
grpc::Status Call(const Args& args,
                  grpc::Status (CoordinatorStub::*rpc)(grpc::ClientContext*, const Req&, Resp*),
                  const Req& req, Resp* resp) {
  auto stub = Connect(args);
  if (!stub.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(stub.status().message()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return (stub->get()->*rpc)(&ctx, req, resp);
}

}  // namespace tcobench::cli
