// HTTP/1.1 message rules of docs/proxying.md that do no I/O: which upstream responses are refused,
// hop-by-hop headers, forwarding headers, and the proxy's own error responses. Pure functions,
// tested without sockets. (Request heads: request_head.h.)
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

namespace bgp {

namespace http = boost::beast::http;

// Whether an upstream's final response head frames its body unambiguously: a status from 100 to
// 599, HTTP/1.0 or 1.1, and a Transfer-Encoding (if any) that is one field holding exactly
// "chunked" on HTTP/1.1 with no Content-Length. Anything else gets the client a 502.
bool is_acceptable_response(const http::response_header<>& head) noexcept;

// Removes the hop-by-hop headers (http1::is_hop_by_hop) and every header Connection lists, Upgrade
// excepted while `upgrading` (then `Connection: upgrade` is set).
// Framing headers listed in Connection (Content-Length, Transfer-Encoding, Host) are kept, so that
// a `Connection: content-length` cannot change how the next hop delimits the message.
void strip_hop_by_hop(http::fields& fields, bool upgrading);

// Appends the client to X-Forwarded-For (all existing values kept, in one field), sets
// X-Forwarded-Proto to `scheme` (how the client reached this proxy: http or https), and appends
// this proxy to Via. The field-by-field model that relay_head.h's writers are tested against.
void add_forwarding_headers(http::fields& fields, std::string_view client_ip,
                            unsigned received_version, std::string_view scheme);

// Appends "1.1 bgproxy" (or "1.0 bgproxy" for an HTTP/1.0 message) to Via.
void add_via(http::fields& fields, unsigned received_version);

bool expects_continue(const http::request_header<>& head) noexcept;

// Whether the request asks to upgrade to h2c (RFC 7540 section 3.2, removed by RFC 9113): such a
// request is served as HTTP/1.1, its Upgrade not followed (HTTP/2 is by prior knowledge or ALPN).
bool asks_for_h2c(const http::request_header<>& head) noexcept;

// Requests that may be sent again after an upstream dropped them (RFC 9110 section 9.2.2).
bool is_idempotent(http::verb method) noexcept;

// A response with no body: to HEAD, 1xx, 204, 304.
bool response_has_no_body(http::verb request_method, unsigned status) noexcept;

// The proxy's own answer (400, 408, 413, 431, 502, 503, 504, ...) with a short text body.
http::response<http::string_body> make_error_response(http::status status, unsigned version,
                                                      bool keep_alive);

}  // namespace bgp
