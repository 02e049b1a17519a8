// libFuzzer target over what the gRPC health check reads from the network
// (controller/grpc_message.h): a response body as an endpoint may send it. Whatever the bytes:
//   1. decoding reads nothing outside them (ASan) and never throws;
//   2. a body it accepts is exactly one uncompressed message: a 0 flag and a length that covers
//      the rest;
//   3. the request the check sends, for a service named by the input, is itself well framed: read
//      as a response, its one field (a string, not the status varint) is passed over and the
//      status is protobuf's default, UNKNOWN.
// A violated property aborts, which libFuzzer reports with the input.
#include <cstdint>
#include <string_view>

#include "controller/grpc_message.h"

#include "tests/fuzz/require.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bgp::grpc_health;
  using bgp::fuzz::require;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (decode_check_response(bytes)) {
    require(bytes.size() >= 5 && bytes[0] == '\0', "an accepted body is one uncompressed message");
    const auto length = static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[1])) << 24 |
                        static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[2])) << 16 |
                        static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[3])) << 8 |
                        static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[4]));
    require(length == bytes.size() - 5, "an accepted message's length covers the rest");
  }
  const auto request = encode_check_request(bytes);
  const auto read_back = decode_check_response(request);
  require(read_back == ServingStatus::unknown, "the request's framing reads back");
  return 0;
}
