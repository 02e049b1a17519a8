// The heads bgproxy sends, written straight into one flat buffer (no field nodes, no serializer):
// the request head for the upstream, and the client's response head on the fast path. Pure
// functions, tested against the field-by-field rewrite of http_framing.h (strip_hop_by_hop,
// add_forwarding_headers, add_via) that they replace on the hot path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>

#include "proxy/header_view.h"
#include "proxy/http1/request_head.h"
#include "proxy/http1/syntax.h"

namespace bgp {

namespace http = boost::beast::http;

struct UpstreamRequestOptions {
  std::string_view client_ip;     // appended to X-Forwarded-For
  std::string_view default_host;  // Host when the request has none (HTTP/1.0)
  BodyFraming framing;            // sent as one normalized Content-Length or Transfer-Encoding
  unsigned received_version = 11;
  bool upgrade = false;              // Upgrade and `Connection: upgrade` pass
  bool drop_expect = false;          // this proxy answers `Expect: 100-continue` itself
  std::string_view scheme = "http";  // X-Forwarded-Proto: how the client reached this proxy
};

// http1::known_field of a field Beast parsed, by the enum Beast named it with: one load where the
// name would take a compare (the writers below ask for every field).
http1::KnownField known_field(http::field name) noexcept;

// Appends the HTTP/1.1 head the upstream gets for an accepted request: hop-by-hop headers (and
// those Connection lists) removed, framing normalized, Host added when missing, X-Forwarded-For,
// X-Forwarded-Proto and Via set. The same fields, in the same order, as the rewrite of the parsed
// fields followed by Beast's serializer.
void write_upstream_request_head(const http::request_header<>& request,
                                 const UpstreamRequestOptions& options, std::string& out);

// A request that arrived on an HTTP/2 stream, as its codec checked it: names in lower case, no
// connection-specific fields, cookie crumbs joined.
struct Http2RequestHead {
  std::string_view method;
  std::string_view path;
  std::string_view authority;
  std::span<const HeaderField> fields;  // the regular fields
};

// The HTTP/1.1 head an upstream gets for an HTTP/2 request: Host from the authority; `host`, `te`,
// `expect` (answered by the proxy) and `content-length` (framing is options.framing's) dropped;
// forwarding fields as above, with Via "2.0 bgproxy".
void write_upstream_request_head(const Http2RequestHead& request,
                                 const UpstreamRequestOptions& options, std::string& out);

// The regular fields an HTTP/2 upstream gets (docs/http2.md, "HTTP/2 upstreams"), with the
// forwarding fields as above. For an HTTP/2 stream's request: its fields without `host` (the
// authority carries it) and `expect` (answered by the proxy); Via "2.0 bgproxy".
void http2_upstream_fields(std::span<const HeaderField> fields,
                           const UpstreamRequestOptions& options, std::vector<HeaderField>& out);
// For an HTTP/1 request: names in lower case; hop-by-hop fields (and those its Connection lists),
// Host, Transfer-Encoding and a `te` other than trailers dropped; content-length from
// options.framing.
void http2_upstream_fields(const http::request_header<>& request,
                           const UpstreamRequestOptions& options, std::vector<HeaderField>& out);

// The HTTP/1 head a client gets for an HTTP/2 upstream's response: the status line with the
// client's version, the fields with the body's framing as `framing` says (content-length
// replaced), Via appended, and Connection as `keep_alive` needs it.
void write_client_head_for_http2(unsigned status, std::span<const HeaderField> fields,
                                 const BodyFraming& framing, unsigned client_version,
                                 bool keep_alive, std::string& out);

// The fields an HTTP/2 client gets for an upstream's HTTP/1 response head: names in lower case,
// hop-by-hop fields (and those its Connection lists) and Transfer-Encoding dropped, Via appended.
void response_fields_for_http2(const http::response_header<>& response,
                               std::vector<HeaderField>& out);

// An upstream response head the fast path relays without Beast's parser: a final status (200 to
// 599), HTTP/1.0 or 1.1, strictly formed lines, no Transfer-Encoding, at most one Content-Length
// (plain digits), at most one Connection field listing only `close` or `keep-alive`, no field
// named Close (which `Connection: close` would remove), and at most a few fields to drop or
// rewrite. Every such head means the same to Beast's parser; anything else
// goes to it. Its lines are at least as strict as response_head_bytes_valid (request_head.h)
// wants, without a second pass over the head: whatever that refuses, this refuses too.
struct SimpleResponse {
  struct Span {
    std::uint16_t begin = 0;
    std::uint16_t end = 0;
  };
  static constexpr std::size_t kMaxDropped = 8;  // hop-by-hop and Via lines
  static constexpr std::size_t kMaxVia = 4;

  unsigned version = 11;  // 10 or 11
  unsigned status = 200;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = true;  // the upstream keeps the connection open after it (Beast's keep_alive())
  std::uint16_t status_line_end = 0;        // just past the status line's CRLF
  std::uint16_t fields_end = 0;             // where the empty line that ends the head starts
  std::array<Span, kMaxDropped> dropped{};  // lines not relayed, in order
  std::array<Span, kMaxVia> via{};          // values of Via (rewritten), in order
  std::uint8_t dropped_count = 0;
  std::uint8_t via_count = 0;
};

// `head` runs through the empty line that ends it (at most 64 KB). nullopt: not simple (use
// Beast's parser).
std::optional<SimpleResponse> parse_simple_response(std::string_view head) noexcept;

// The fields an HTTP/2 client gets for a simple response (as response_fields_for_http2 gives for
// the same head parsed by Beast, which lists a repeated name's fields together; here they keep
// the head's order), read from `upstream_head` without a parser and without an allocation once
// `out` and `scratch` have room: values point into the head; names in lower case and Via's value
// are written into `scratch` (cleared first), which must live as long as `out` is read.
void response_fields_for_http2(std::string_view upstream_head, const SimpleResponse& response,
                               std::vector<HeaderFieldRef>& out, std::string& scratch);

// Appends the client's head for a simple response: the status line with the client's version,
// the fields without hop-by-hop ones, Via appended, and Connection as `keep_alive` needs it.
void write_client_response_head(std::string_view upstream_head, const SimpleResponse& response,
                                unsigned client_version, bool keep_alive, std::string& out);

// Where the head at the start of `bytes` ends (just past its empty line); 0 while incomplete.
// `scanned` is where the previous call stopped (bytes before it are not searched again).
// Sets `bare_lf` when a line ends in LF alone (Beast's parser refuses it).
std::size_t find_head_end(std::string_view bytes, std::size_t& scanned, bool& bare_lf) noexcept;

}  // namespace bgp
