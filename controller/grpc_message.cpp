#include "controller/grpc_message.h"

#include <algorithm>

namespace bgp::grpc_health {

namespace {

// Protobuf's wire format, as much as two one-field messages need.
constexpr std::uint8_t kServiceTag = 0x0a;  // field 1, length-delimited
constexpr unsigned kStatusField = 1;
enum WireType : unsigned { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };
constexpr std::size_t kMaxVarintBytes = 10;
constexpr std::size_t kPrefixBytes = 5;  // gRPC's: compressed flag, 4-byte big-endian length

void append_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// Reads one varint from the front of `in`; nullopt when it is cut short or too long.
std::optional<std::uint64_t> take_varint(std::string_view& in) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < std::min(in.size(), kMaxVarintBytes); ++i) {
    const auto byte = static_cast<std::uint8_t>(in[i]);
    value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      in.remove_prefix(i + 1);
      return value;
    }
  }
  return std::nullopt;
}

// Skips the value of a field this decoder does not read (a newer schema may add fields).
bool skip_value(std::string_view& in, unsigned wire_type) {
  std::optional<std::uint64_t> length;
  switch (wire_type) {
    case varint:
      return take_varint(in).has_value();
    case fixed64:
      length = 8;
      break;
    case fixed32:
      length = 4;
      break;
    case length_delimited:
      length = take_varint(in);
      break;
    default:  // groups, long deprecated, and invalid types
      return false;
  }
  if (!length || *length > in.size()) return false;
  in.remove_prefix(static_cast<std::size_t>(*length));
  return true;
}

std::uint32_t read_be32(std::string_view bytes) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = value << 8 | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

}  // namespace

std::string encode_check_request(std::string_view service) {
  std::string message;
  if (!service.empty()) {  // proto3 leaves a field at its default ("") out
    message.push_back(static_cast<char>(kServiceTag));
    append_varint(message, service.size());
    message.append(service);
  }
  const auto length = static_cast<std::uint32_t>(message.size());
  std::string framed{'\0', static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                     static_cast<char>(length >> 8), static_cast<char>(length)};
  return framed + message;
}

std::optional<ServingStatus> decode_check_response(std::string_view body) {
  // One uncompressed message (we sent no grpc-accept-encoding), nothing after it.
  if (body.size() < kPrefixBytes || body[0] != '\0') return std::nullopt;
  if (read_be32(body.substr(1)) != body.size() - kPrefixBytes) return std::nullopt;
  std::string_view message = body.substr(kPrefixBytes);
  auto status = ServingStatus::unknown;  // proto3: an absent field holds its default
  while (!message.empty()) {
    const auto tag = take_varint(message);
    if (!tag || *tag >> 3 == 0) return std::nullopt;
    const auto wire_type = static_cast<unsigned>(*tag & 7);
    if (*tag >> 3 != kStatusField || wire_type != varint) {
      if (!skip_value(message, wire_type)) return std::nullopt;
      continue;
    }
    const auto value = take_varint(message);
    if (!value) return std::nullopt;
    status = static_cast<ServingStatus>(*value);  // the last one wins, as protobuf has it
  }
  return status;
}

}  // namespace bgp::grpc_health
