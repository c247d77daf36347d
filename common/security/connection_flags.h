// The flags of every program that dials the coordinator (the CLI's client
// commands and the worker): its address and the connection's security
// (docs/security.md), turned into ClientOptions.
#pragma once

#include "absl/status/statusor.h"
#include "common/base/flags.h"
#include "common/security/transport.h"

namespace tcobench {

inline const FlagSpec kCoordinatorFlag = {
    "coordinator", "", true, "ADDR",
    "coordinator address (default $TCOBENCH_COORDINATOR, else 127.0.0.1:7700)"};

// `spec` with --tls-ca, --tls-cert, --tls-key and --token-file added when it
// has --coordinator (unchanged otherwise, and when it has them already).
CommandSpec WithConnectionFlags(CommandSpec spec);

// --coordinator, else $TCOBENCH_COORDINATOR, else 127.0.0.1:7700.
std::string CoordinatorAddress(const Args& args);

// The connection --coordinator, --tls-ca, --tls-cert, --tls-key and
// --token-file (else $TCOBENCH_TOKEN) describe; errors name the flag.
absl::StatusOr<ClientOptions> ConnectionOptions(const Args& args);

}  // namespace tcobench
