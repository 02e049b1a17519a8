#include "config/grpc_status.h"

#include <charconv>

namespace bgp {

std::uint8_t grpc_status_for_http(unsigned http_status) noexcept {
  switch (http_status) {
    case 200:
      return 0;
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
    case 501:
      return 12;
    case 408:
    case 504:
      return 4;
    case 413:
    case 431:
      return 8;
    case 429:
    case 502:
    case 503:
      return 14;
    default:
      return 2;
  }
}

std::optional<std::uint8_t> grpc_code_from_text(std::string_view text) noexcept {
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec == std::errc{} && end == text.data() + text.size()) {
    if (number < kGrpcCodes) return static_cast<std::uint8_t>(number);
    return std::nullopt;
  }
  for (std::size_t code = 0; code < kGrpcCodes; ++code) {
    const std::string_view name = kGrpcCodeNames[code];
    if (name.size() != text.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      const char c = text[i];
      same = (c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c) == name[i];
    }
    if (same) return static_cast<std::uint8_t>(code);
  }
  return std::nullopt;
}

}  // namespace bgp
