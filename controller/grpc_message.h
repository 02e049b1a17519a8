// The two messages of the gRPC health protocol (grpc.health.v1) in protobuf's wire format, and
// gRPC's message framing: what the health check sends and reads (controller/grpc_health.h). Pure
// and without dependencies beyond the standard library, so that the fuzz target builds it alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bgp::grpc_health {

// HealthCheckResponse.ServingStatus; a server may send a value not listed here.
enum class ServingStatus : std::uint64_t {
  unknown = 0,
  serving = 1,
  not_serving = 2,
  service_unknown = 3,
};

// The request body: HealthCheckRequest{service} as one gRPC message, a 5-byte prefix (not
// compressed, big-endian length) and the protobuf.
std::string encode_check_request(std::string_view service);

// The status in a response body that is exactly one uncompressed gRPC message holding a
// HealthCheckResponse; nullopt when it is anything else.
std::optional<ServingStatus> decode_check_response(std::string_view body);

}  // namespace bgp::grpc_health
