#include "proxy/http1/syntax.h"

namespace bgp::http1 {

namespace {
constexpr std::size_t kMaxLengthDigits = 18;
}  // namespace

std::optional<std::uint64_t> parse_length(std::string_view digits) noexcept {
  if (digits.empty() || digits.size() > kMaxLengthDigits) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : digits) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

bool removable_by_connection(std::string_view name, bool upgrading) noexcept {
  if (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
      iequals(name, "host") || iequals(name, "connection")) {
    return false;
  }
  return !(upgrading && iequals(name, "upgrade"));
}

}  // namespace bgp::http1
