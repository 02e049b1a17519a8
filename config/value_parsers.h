// Parsers of single config values that say what is wrong, so that the loader's messages can be
// precise. config.h's parse_* functions are thin wrappers that drop the explanation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace bgp::config_detail {

template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string error;  // why `value` is empty, e.g. "unknown unit 'd' (use ms, s, m or h)"

  static Parsed fail(std::string why) { return {std::nullopt, std::move(why)}; }
};

// The longest duration accepted: 100 years, so that adding it to any clock's now() cannot overflow.
inline constexpr Duration kMaxDuration = std::chrono::hours(24 * 365 * 100);

Parsed<Duration> parse_duration_explained(std::string_view text);
// Port 0 parses ("pick a free port"); callers that need a real port reject it.
Parsed<Address> parse_address_explained(std::string_view text);
Parsed<std::uint32_t> parse_weight_explained(double percent);

// Whole YAML scalars (no surrounding text): "42", "0.25".
Parsed<std::uint64_t> parse_unsigned(std::string_view text);
Parsed<double> parse_number(std::string_view text);

// Empty string when `text` is acceptable, else why not. Callers allow "" (= feature off)
// themselves.
std::string check_host(std::string_view host);
std::string check_http_token(std::string_view text);  // RFC 9110 token: header and cookie names
std::string check_url_path(std::string_view path);    // starts with '/', no spaces or controls
std::string check_webhook_url(std::string_view url);  // http[s]://host[:port][/path]

// Optimal string alignment distance (a swap of two neighbours counts 1), for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace bgp::config_detail
