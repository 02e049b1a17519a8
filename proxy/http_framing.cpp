#include "proxy/http_framing.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include <fmt/format.h>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/container/small_vector.hpp>

namespace bgp {

namespace {

using boost::beast::iequals;

constexpr std::string_view kXForwardedFor = "X-Forwarded-For";
constexpr std::string_view kXForwardedProto = "X-Forwarded-Proto";
constexpr std::size_t kMaxLengthDigits = 18;  // fits in 64 bits with room to spare

std::string_view trim(std::string_view s) noexcept {
  const auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Calls `f(element)` for each comma-separated element of a header value, trimmed.
template <typename F>
void for_each_list_element(std::string_view value, F&& f) {
  for (;;) {
    const auto comma = value.find(',');
    f(trim(value.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

// Exactly one "chunked", and it is the last coding; no empty elements, no parameters.
bool is_single_final_chunked(std::string_view value) noexcept {
  int chunked = 0;
  bool valid = true;
  bool last_is_chunked = false;
  for_each_list_element(value, [&](std::string_view coding) {
    valid = valid && !coding.empty();
    last_is_chunked = iequals(coding, "chunked");
    if (last_is_chunked) ++chunked;
  });
  return valid && chunked == 1 && last_is_chunked;
}

std::optional<std::uint64_t> parse_length(std::string_view digits) noexcept {
  if (digits.empty() || digits.size() > kMaxLengthDigits) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

// Every Content-Length value (in any number of fields and lists) is a number, and all are equal.
template <typename Range>
bool content_lengths_agree(Range fields) noexcept {
  std::optional<std::uint64_t> first;
  bool valid = true;
  for (auto it = fields.first; it != fields.second; ++it) {
    for_each_list_element(it->value(), [&](std::string_view text) {
      const auto length = parse_length(text);
      valid = valid && length && (!first || *first == *length);
      if (!first) first = length;
    });
  }
  return valid;
}

// Joins every value of a repeated field into one comma-separated list.
std::string joined_values(const http::fields& fields, std::string_view name) {
  std::string joined;
  const auto range = fields.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) {
    if (!joined.empty()) joined += ", ";
    joined += it->value();
  }
  return joined;
}

void append_to_list(http::fields& fields, std::string_view name, std::string_view element) {
  std::string value = joined_values(fields, name);
  if (!value.empty()) value += ", ";
  value += element;
  fields.set(name, value);
}

// A header named in Connection that is removed: never one that frames the message or names it.
bool removable_by_connection(std::string_view name, bool upgrading) noexcept {
  if (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
      iequals(name, "host") || iequals(name, "connection")) {
    return false;
  }
  return !(upgrading && iequals(name, "upgrade"));
}

}  // namespace

HeadScan scan_request_head(std::string_view bytes, std::size_t from) noexcept {
  HeadScan scan;
  for (auto lf = bytes.find('\n', from); lf != std::string_view::npos;
       lf = bytes.find('\n', lf + 1)) {
    if (lf == 0 || bytes[lf - 1] != '\r') {
      scan.malformed = true;
      return scan;
    }
    if (lf >= 3 && bytes[lf - 2] == '\n' && bytes[lf - 3] == '\r') {
      scan.end = lf + 1;
      return scan;
    }
  }
  scan.scanned = bytes.size();
  return scan;
}

std::size_t leading_empty_lines(std::string_view bytes) noexcept {
  std::size_t n = 0;
  while (bytes.substr(n, 2) == "\r\n") n += 2;
  return n;
}

std::optional<http::status> check_raw_request_head(std::string_view head) noexcept {
  // obs-fold: a line that starts with whitespace continues the previous field (RFC 9112 5.2).
  for (auto lf = head.find('\n'); lf != std::string_view::npos; lf = head.find('\n', lf + 1)) {
    if (lf + 1 < head.size() && (head[lf + 1] == ' ' || head[lf + 1] == '\t')) {
      return http::status::bad_request;
    }
  }
  return std::nullopt;
}

std::optional<http::status> check_request_framing(const http::request_header<>& head) noexcept {
  const auto encodings = head.equal_range(http::field::transfer_encoding);
  const auto lengths = head.equal_range(http::field::content_length);
  const bool has_encoding = encodings.first != encodings.second;
  const bool has_length = lengths.first != lengths.second;
  if (has_encoding) {
    const bool one_field = std::next(encodings.first) == encodings.second;
    if (has_length || head.version() < 11 || !one_field ||
        !is_single_final_chunked(encodings.first->value())) {
      return http::status::bad_request;
    }
  }
  if (has_length && !content_lengths_agree(lengths)) return http::status::bad_request;
  return std::nullopt;
}

http::status status_for_parse_error(const boost::system::error_code& ec) noexcept {
  if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  return http::status::bad_request;
}

void strip_hop_by_hop(http::fields& fields, bool upgrading) {
  // The listed names point into Connection's values, which stay until Connection is erased last.
  boost::container::small_vector<std::string_view, 8> listed;
  const auto connection = fields.equal_range(http::field::connection);
  for (auto it = connection.first; it != connection.second; ++it) {
    for (auto token : http::token_list{it->value()}) listed.push_back(token);
  }
  for (std::string_view name : listed) {
    if (removable_by_connection(name, upgrading)) fields.erase(name);
  }
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::proxy_connection);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::connection);
  if (upgrading) {
    fields.set(http::field::connection, "upgrade");
  } else {
    fields.erase(http::field::upgrade);
  }
}

void add_via(http::fields& fields, unsigned received_version) {
  append_to_list(fields, "Via", received_version == 10 ? "1.0 bgproxy" : "1.1 bgproxy");
}

void add_forwarding_headers(http::fields& fields, std::string_view client_ip,
                            unsigned received_version) {
  append_to_list(fields, kXForwardedFor, client_ip);
  fields.set(kXForwardedProto, "http");
  add_via(fields, received_version);
}

bool expects_continue(const http::request_header<>& head) noexcept {
  const auto it = head.find(http::field::expect);
  return it != head.end() && iequals(trim(it->value()), "100-continue");
}

bool is_idempotent(http::verb method) noexcept {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::options:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::trace:
      return true;
    default:
      return false;
  }
}

bool response_has_no_body(http::verb request_method, unsigned status) noexcept {
  return request_method == http::verb::head || status / 100 == 1 || status == 204 || status == 304;
}

http::response<http::string_body> make_error_response(http::status status, unsigned version,
                                                      bool keep_alive) {
  http::response<http::string_body> response{status, version};
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.body() =
      fmt::format("{} {}\n", static_cast<unsigned>(status), http::obsolete_reason(status));
  response.keep_alive(keep_alive);
  response.prepare_payload();
  return response;
}

}  // namespace bgp
