#include "config/value_parsers.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

namespace bgp {
namespace config_detail {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_alpha(char c) {
  return is_lower(c) || (c >= 'A' && c <= 'Z');
}

struct DurationUnit {
  std::string_view name;
  Duration size;
};
// Largest first: format_duration picks the first one that divides exactly.
constexpr std::array<DurationUnit, 4> kDurationUnits{{
    {"h", std::chrono::hours(1)},
    {"m", std::chrono::minutes(1)},
    {"s", std::chrono::seconds(1)},
    {"ms", std::chrono::milliseconds(1)},
}};

std::optional<Duration> unit_size(std::string_view name) {
  for (const auto& unit : kDurationUnits) {
    if (unit.name == name) return unit.size;
  }
  return std::nullopt;
}

// Takes the leading run of characters satisfying `pred` off `text`.
template <typename Pred>
std::string_view take_while(std::string_view& text, Pred pred) {
  const auto end = std::find_if_not(text.begin(), text.end(), pred);
  const auto taken = text.substr(0, static_cast<std::size_t>(end - text.begin()));
  text.remove_prefix(taken.size());
  return taken;
}

bool parses_as(int family, const std::string& host) {
  std::array<unsigned char, 16> bytes{};
  return inet_pton(family, host.c_str(), bytes.data()) == 1;
}

bool is_ipv4_like(std::string_view host) {
  return std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
}

bool is_hostname_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.';
}

Parsed<std::uint16_t> parse_port(std::string_view text) {
  const auto number = parse_unsigned(text);
  if (!number.value) return Parsed<std::uint16_t>::fail(fmt::format("invalid port '{}'", text));
  if (*number.value > 65535) {
    return Parsed<std::uint16_t>::fail(fmt::format("port {} is out of range 1..65535", text));
  }
  return {static_cast<std::uint16_t>(*number.value), {}};
}

bool is_tchar(char c) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return is_alpha(c) || is_digit(c) || kSymbols.find(c) != std::string_view::npos;
}

bool is_visible_ascii(char c) {
  return c > 0x20 && c < 0x7f;
}

std::string check_authority(std::string_view authority) {
  if (authority.find('@') != std::string_view::npos) return "user:password@ is not supported";
  if (authority.starts_with('[') && authority.ends_with(']')) {  // IPv6 without a port
    const auto host = std::string(authority.substr(1, authority.size() - 2));
    return parses_as(AF_INET6, host) ? "" : fmt::format("'{}' is not an IPv6 address", host);
  }
  if (authority.find(':') == std::string_view::npos) return check_host(authority);
  const auto address = parse_address_explained(authority);
  if (address.value && address.value->port == 0) return "the port must be 1..65535";
  return address.error;
}

// Why `url` is not http[s]://host[:port][/path], or "".
std::string webhook_url_problem(std::string_view url) {
  const std::string_view scheme = url.starts_with("https://") ? "https://" : "http://";
  if (!url.starts_with(scheme)) return "it must start with http:// or https://";
  const auto rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  if (auto why = check_authority(rest.substr(0, slash)); !why.empty()) return why;
  return slash == std::string_view::npos ? "" : check_url_path(rest.substr(slash));
}

}  // namespace

Parsed<Duration> parse_duration_explained(std::string_view text) {
  using Result = Parsed<Duration>;
  if (text.empty()) return Result::fail("empty duration (e.g. 10s)");
  if (text.front() == '-') return Result::fail("a duration cannot be negative");
  std::string_view rest = text;
  Duration total{0};
  while (!rest.empty()) {
    const auto digits = take_while(rest, is_digit);
    if (digits.empty()) return Result::fail("expected a number (e.g. 250ms, 10s, 5m, 1h30m)");
    if (!rest.empty() && rest.front() == '.') {
      return Result::fail("the amount must be a whole number (use a smaller unit: 1500ms)");
    }
    const auto unit = take_while(rest, is_alpha);
    if (unit.empty()) return Result::fail("a unit is required (ms, s, m or h)");
    const auto size = unit_size(unit);
    if (!size) return Result::fail(fmt::format("unknown unit '{}' (use ms, s, m or h)", unit));
    const auto amount = parse_unsigned(digits);
    const auto room = (kMaxDuration - total) / *size;
    if (!amount.value || *amount.value > static_cast<std::uint64_t>(room)) {
      return Result::fail(fmt::format("too long (at most {})", format_duration(kMaxDuration)));
    }
    total += *size * static_cast<Duration::rep>(*amount.value);
  }
  return {total, {}};
}

Parsed<Address> parse_address_explained(std::string_view text) {
  using Result = Parsed<Address>;
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") {
      return Result::fail("expected [ipv6]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!parses_as(AF_INET6, std::string(host))) {
      return Result::fail(fmt::format("'{}' is not an IPv6 address", host));
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return Result::fail("expected host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Result::fail("an IPv6 address needs brackets: [::1]:8080");
    }
    if (auto why = check_host(host); !why.empty()) return Result::fail(std::move(why));
  }
  const auto port_number = parse_port(port);
  if (!port_number.value) return Result::fail(port_number.error);
  return {Address{std::string(host), *port_number.value}, {}};
}

Parsed<std::uint32_t> parse_weight_explained(double percent) {
  using Result = Parsed<std::uint32_t>;
  if (!std::isfinite(percent) || percent < 0 || percent > 100) {
    return Result::fail("must be between 0 and 100 (percent)");
  }
  const auto basis_points = static_cast<std::uint32_t>(std::llround(percent * 100));
  // 10.5 * 100 is 1050.0000000000002 in binary floating point: compare with a tolerance.
  if (std::abs(percent - basis_points / 100.0) > 1e-9) {
    return Result::fail("at most two decimals are allowed (e.g. 0.25)");
  }
  return {basis_points, {}};
}

Parsed<std::uint64_t> parse_unsigned(std::string_view text) {
  using Result = Parsed<std::uint64_t>;
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || !is_digit(text.front()) || stop != end) {
    return Result::fail(fmt::format("expected a whole number, got '{}'", text));
  }
  if (ec == std::errc::result_out_of_range) {
    return Result::fail(fmt::format("the number {} is too large", text));
  }
  return {value, {}};
}

Parsed<double> parse_number(std::string_view text) {
  using Result = Parsed<double>;
  double value = 0;
  const auto* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || stop != end || !std::isfinite(value)) {
    return Result::fail(fmt::format("expected a number, got '{}'", text));
  }
  return {value, {}};
}

std::string check_host(std::string_view host) {
  if (host.empty()) return "the host is empty";
  if (is_ipv4_like(host)) {
    return parses_as(AF_INET, std::string(host)) ? std::string()
                                                 : fmt::format("'{}' is not an IPv4 address", host);
  }
  const bool plausible =
      host.size() <= 253 && std::all_of(host.begin(), host.end(), is_hostname_char);
  return plausible ? std::string() : fmt::format("'{}' is not a valid host name", host);
}

std::string check_http_token(std::string_view text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), is_tchar)) return {};
  return fmt::format("'{}' is not a valid HTTP token (letters, digits and !#$%&'*+-.^_`|~)", text);
}

std::string check_url_path(std::string_view path) {
  if (!path.starts_with('/')) return fmt::format("'{}' must start with '/'", path);
  if (!std::all_of(path.begin(), path.end(), is_visible_ascii)) {
    return fmt::format("'{}' contains spaces or control characters", path);
  }
  return {};
}

std::string check_webhook_url(std::string_view url) {
  const auto why = webhook_url_problem(url);
  return why.empty() ? why : fmt::format("invalid webhook URL '{}': {}", url, why);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t columns = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * columns);
  auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * columns + j]; };
  for (std::size_t i = 0; i <= a.size(); ++i) at(i, 0) = i;
  for (std::size_t j = 0; j <= b.size(); ++j) at(0, j) = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
      }
    }
  }
  return at(a.size(), b.size());
}

}  // namespace config_detail

// ---- the public parsers of config.h ----

std::optional<Duration> parse_duration(std::string_view text) {
  return config_detail::parse_duration_explained(text).value;
}

std::string format_duration(Duration d) {
  if (d < Duration::zero()) return "-" + format_duration(-d);
  if (d == Duration::zero()) return "0s";
  for (const auto& unit : config_detail::kDurationUnits) {
    if (d % unit.size == Duration::zero()) return fmt::format("{}{}", d / unit.size, unit.name);
  }
  return fmt::format("{}ms", d.count());  // unreachable: every duration is whole milliseconds
}

std::optional<Address> parse_address(std::string_view text) {
  return config_detail::parse_address_explained(text).value;
}

std::optional<std::uint32_t> parse_weight_bp(double percent) {
  return config_detail::parse_weight_explained(percent).value;
}

std::string Address::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

bool is_loopback(const Address& address) {
  std::string host = address.host;
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host == "localhost") return true;
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET, host.c_str(), bytes.data()) == 1) return bytes[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), bytes.data()) != 1) return false;
  static constexpr std::array<unsigned char, 16> kIpv6Loopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                               0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr std::array<unsigned char, 12> kIpv4MappedPrefix{0, 0, 0, 0, 0,    0,
                                                                   0, 0, 0, 0, 0xff, 0xff};
  const bool ipv4_mapped =
      std::equal(kIpv4MappedPrefix.begin(), kIpv4MappedPrefix.end(), bytes.begin());
  return bytes == kIpv6Loopback || (ipv4_mapped && bytes[12] == 127);
}

}  // namespace bgp
