#include "proxy/http1/http_framing.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>

#include <fmt/format.h>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/container/small_vector.hpp>

#include "proxy/http1/syntax.h"

namespace bgp {

namespace {

using http1::iequals;
using http1::removable_by_connection;
using http1::trim;

constexpr std::string_view kXForwardedFor = "X-Forwarded-For";
constexpr std::string_view kXForwardedProto = "X-Forwarded-Proto";

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

}  // namespace

bool is_acceptable_response(const http::response_header<>& head) noexcept {
  const unsigned status = head.result_int();
  if (status < 100 || status > 599 || (head.version() != 10 && head.version() != 11)) return false;
  const auto encodings = head.equal_range(http::field::transfer_encoding);
  if (encodings.first == encodings.second) return true;
  return std::next(encodings.first) == encodings.second && head.version() == 11 &&
         head.count(http::field::content_length) == 0 &&
         iequals(encodings.first->value(), "chunked");
}

void strip_hop_by_hop(http::fields& fields, bool upgrading) {
  // The listed names point into Connection's values, which stay until the listed fields are gone.
  boost::container::small_vector<std::string_view, 8> listed;
  const auto connection = fields.equal_range(http::field::connection);
  for (auto it = connection.first; it != connection.second; ++it) {
    for (auto token : http::token_list{it->value()}) listed.push_back(token);
  }
  for (std::string_view name : listed) {
    if (removable_by_connection(name, upgrading)) fields.erase(name);
  }
  for (auto it = fields.begin(); it != fields.end();) {
    const bool drop = http1::drops_as_hop_by_hop(http1::known_field(it->name_string()), upgrading);
    it = drop ? fields.erase(it) : std::next(it);
  }
  if (upgrading) fields.set(http::field::connection, "upgrade");
}

void add_via(http::fields& fields, unsigned received_version) {
  append_to_list(fields, "Via", received_version == 10 ? "1.0 bgproxy" : "1.1 bgproxy");
}

void add_forwarding_headers(http::fields& fields, std::string_view client_ip,
                            unsigned received_version, std::string_view scheme) {
  append_to_list(fields, kXForwardedFor, client_ip);
  fields.set(kXForwardedProto, scheme);
  add_via(fields, received_version);
}

bool expects_continue(const http::request_header<>& head) noexcept {
  const auto it = head.find(http::field::expect);
  return it != head.end() && iequals(trim(it->value()), "100-continue");
}

bool asks_for_h2c(const http::request_header<>& head) noexcept {
  for (const auto& field : head) {
    if (field.name() != http::field::upgrade) continue;
    for (auto token : http::token_list{field.value()}) {
      if (iequals(token, "h2c")) return true;
    }
  }
  return false;
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
