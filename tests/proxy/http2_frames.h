// Hand-built HTTP/2 frames and HPACK blocks, and the frames read back out of a codec's output:
// for what no peer library sends (attacks, broken peers). Shared by the server codec's tests
// (http2_server_session_test.cpp) and the client codec's (http2_client_session_test.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bgp::testing::h2 {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
enum : std::uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
enum : std::uint8_t { kEndStream = 1, kAck = 1, kEndHeaders = 4 };

inline std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

inline std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                         std::string_view payload = {}) {
  const auto n = payload.size();
  std::string f = {static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
                   static_cast<char>(type), static_cast<char>(flags)};
  return f + be32(stream) + std::string(payload);
}

// An HPACK integer with an N-bit prefix (RFC 7541 5.1) after the bits in `first`.
inline std::string hpack_int(std::uint8_t first, unsigned prefix_bits, std::size_t value) {
  const std::size_t max = (1u << prefix_bits) - 1;
  if (value < max) return {static_cast<char>(first | value)};
  std::string out = {static_cast<char>(first | max)};
  for (value -= max; value >= 128; value /= 128) out += static_cast<char>(value % 128 + 128);
  return out + static_cast<char>(value);
}
inline std::string hpack_string(std::string_view s) {
  return hpack_int(0, 7, s.size()) + std::string(s);
}
// A field literally, not indexed (RFC 7541 6.2.2), with its name spelled out.
inline std::string literal(std::string_view name, std::string_view value) {
  return std::string(1, '\0') + hpack_string(name) + hpack_string(value);
}

struct Frame {
  std::uint8_t type;
  std::uint8_t flags;
  std::uint32_t stream;
  std::string payload;
};
inline std::uint32_t read_be32(std::string_view b, std::size_t at) {
  return (std::uint32_t{static_cast<std::uint8_t>(b[at])} << 24) |
         (std::uint32_t{static_cast<std::uint8_t>(b[at + 1])} << 16) |
         (std::uint32_t{static_cast<std::uint8_t>(b[at + 2])} << 8) |
         static_cast<std::uint8_t>(b[at + 3]);
}
// The frames of `bytes` (which must start at a frame: a client's output without its preface).
inline std::vector<Frame> frames_of(std::string_view bytes) {
  std::vector<Frame> out;
  while (bytes.size() >= 9) {
    const std::size_t n = read_be32(bytes, 0) >> 8;
    out.push_back({static_cast<std::uint8_t>(bytes[3]), static_cast<std::uint8_t>(bytes[4]),
                   read_be32(bytes, 5) & 0x7fffffff, std::string(bytes.substr(9, n))});
    bytes.remove_prefix(std::min(bytes.size(), 9 + n));
  }
  return out;
}
inline std::vector<std::uint32_t> goaway_codes(std::string_view bytes) {
  std::vector<std::uint32_t> codes;
  for (const auto& f : frames_of(bytes)) {
    if (f.type == kGoaway) codes.push_back(read_be32(f.payload, 4));
  }
  return codes;
}
inline std::optional<std::uint32_t> reset_code(std::string_view bytes, std::uint32_t stream) {
  for (const auto& f : frames_of(bytes)) {
    if (f.type == kRstStream && f.stream == stream) return read_be32(f.payload, 0);
  }
  return std::nullopt;
}

}  // namespace bgp::testing::h2
