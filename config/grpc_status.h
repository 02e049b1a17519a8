// gRPC status codes (grpc/doc/statuscodes.md): their names, and a set of them as the judge counts
// errors (docs/http2.md, "gRPC").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bgp {

inline constexpr std::size_t kGrpcCodes = 17;  // OK (0) .. UNAUTHENTICATED (16)

inline constexpr std::array<std::string_view, kGrpcCodes> kGrpcCodeNames{
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// A set of codes, one bit each.
class GrpcCodeSet {
 public:
  constexpr GrpcCodeSet() = default;
  constexpr GrpcCodeSet(std::initializer_list<std::uint8_t> codes) {
    for (const auto code : codes) add(code);
  }
  constexpr void add(std::uint8_t code) noexcept {
    if (code < kGrpcCodes) bits_ |= 1u << code;
  }
  constexpr bool contains(std::uint8_t code) const noexcept {
    return code < kGrpcCodes && (bits_ >> code & 1u) != 0;
  }
  constexpr bool operator==(const GrpcCodeSet&) const = default;

 private:
  std::uint32_t bits_ = 0;
};

// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS: the server failed.
// Not NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED, ... (the caller's mistake) nor CANCELLED.
inline constexpr GrpcCodeSet kDefaultGrpcErrorCodes{2, 4, 12, 13, 14, 15};

// The status a gRPC client gets for an HTTP status the proxy answers with itself (or an upstream
// answered without a gRPC status), after gRPC's HTTP-to-gRPC mapping: 502 and 503 (no endpoint,
// a failed connect or upstream) UNAVAILABLE, 408 and 504 DEADLINE_EXCEEDED, 413 and 431
// RESOURCE_EXHAUSTED, 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 and 501
// UNIMPLEMENTED, 429 UNAVAILABLE, 200 OK, anything else UNKNOWN.
std::uint8_t grpc_status_for_http(unsigned http_status) noexcept;

// A code by its name ("UNAVAILABLE", any case) or its number ("14").
std::optional<std::uint8_t> grpc_code_from_text(std::string_view text) noexcept;

}  // namespace bgp
