// HTTP/1.1 message rules of SPEC section 6 that do no I/O: where a request head ends, which
// requests are refused (request smuggling shapes), hop-by-hop headers, forwarding headers, and the
// proxy's own error responses. Pure functions, tested without sockets.
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

// The result of scanning received bytes for the end of a request head.
struct HeadScan {
  std::size_t end = 0;      // offset just past the empty line ending the head; 0 = not yet
  bool malformed = false;   // a bare LF: no valid head can follow
  std::size_t scanned = 0;  // where the next scan may resume
};

// Looks for the CRLF CRLF that ends a head, resuming at `from` (a previous scan's `scanned`).
HeadScan scan_request_head(std::string_view bytes, std::size_t from) noexcept;

// How many bytes of empty lines precede a request line (RFC 9112 section 2.2 lets a server ignore
// them).
std::size_t leading_empty_lines(std::string_view bytes) noexcept;

// Checks on the raw head that Beast's parser does not make (it unfolds obs-fold silently).
// Returns the status to refuse the request with, if any.
std::optional<http::status> check_raw_request_head(std::string_view head) noexcept;

// Checks the framing of a parsed request head: the one place where ambiguous framing is refused
// (Content-Length with Transfer-Encoding, a Transfer-Encoding other than one final "chunked",
// malformed or differing Content-Length). Returns the status to refuse the request with, if any.
std::optional<http::status> check_request_framing(const http::request_header<>& head) noexcept;

// The answer to a request Beast's parser rejected: 431 head too large, 413 body too large, else
// 400.
http::status status_for_parse_error(const boost::system::error_code& ec) noexcept;

// Removes the hop-by-hop headers: Connection and every header it lists, Keep-Alive,
// Proxy-Connection, TE, Trailer, and Upgrade unless `upgrading` (then `Connection: upgrade` stays).
// Framing headers listed in Connection (Content-Length, Transfer-Encoding, Host) are kept, so that
// a `Connection: content-length` cannot change how the next hop delimits the message.
void strip_hop_by_hop(http::fields& fields, bool upgrading);

// Appends the client to X-Forwarded-For (all existing values kept, in one field), sets
// X-Forwarded-Proto: http, and appends this proxy to Via.
void add_forwarding_headers(http::fields& fields, std::string_view client_ip,
                            unsigned received_version);

// Appends "1.1 bgproxy" (or "1.0 bgproxy" for an HTTP/1.0 message) to Via.
void add_via(http::fields& fields, unsigned received_version);

bool expects_continue(const http::request_header<>& head) noexcept;

// Requests that may be sent again after an upstream dropped them (RFC 9110 section 9.2.2).
bool is_idempotent(http::verb method) noexcept;

// A response with no body: to HEAD, 1xx, 204, 304.
bool response_has_no_body(http::verb request_method, unsigned status) noexcept;

// The proxy's own answer (400, 408, 413, 431, 502, 503, 504, ...) with a short text body.
http::response<http::string_body> make_error_response(http::status status, unsigned version,
                                                      bool keep_alive);

}  // namespace bgp
