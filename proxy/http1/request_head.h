// The strict reading of a request head (docs/proxying.md): where a head ends, which heads are
// refused and with which status, and how the body after an accepted head is framed. Pure functions
// over bytes (no I/O), shared by the session and the fuzz target (tests/fuzz).
//
// Beast's parser accepts shapes that other HTTP implementations read differently (obs-fold, bare
// line ends, `Transfer-Encoding: gzip` with `Content-Length`, several Host fields, ...). A request
// head is therefore read in three steps: a one-pass check of the raw bytes, Beast's parse, then
// checks of the parsed fields. Whatever passes means the same to every strict HTTP/1.1 reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/beast/core/string_type.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/system/error_code.hpp>

namespace bgp {

namespace http = boost::beast::http;

inline constexpr std::size_t kMaxRequestLine = 8192;      // bytes, without its CRLF: else 414
inline constexpr std::size_t kMaxHeaderFields = 100;      // field lines in a head: else 431
inline constexpr std::size_t kMaxChunkExtensions = 4096;  // bytes after a chunk size: else 400

// Beast's request parser that also refuses chunk extensions over kMaxChunkExtensions and keeps no
// trailer field. Beast keeps a reference to the callback, so the parser stays where it was built.
class RequestParser : public http::request_parser<http::buffer_body> {
 public:
  RequestParser() { on_chunk_header(extension_limit_); }
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

 private:
  // Beast adds trailer fields to the head's fields, where the head relayed upstream after the
  // body was read would carry them (`Host: evil` in a trailer). Trailers are checked by Beast's
  // parser (no framing field) and then dropped here: they are not forwarded.
  void on_field_impl(http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::system::error_code& ec) override;

  struct ExtensionLimit {
    void operator()(std::uint64_t, boost::beast::string_view extensions,
                    boost::system::error_code& ec) const;
  };
  ExtensionLimit extension_limit_;
};

struct HeadLimits {
  std::size_t max_request_line = kMaxRequestLine;
  std::size_t max_header_bytes = 16384;  // the field lines after the request line, CRLFs included
  std::size_t max_fields = kMaxHeaderFields;
  std::uint64_t max_body_bytes = 0;  // 0 = unlimited

  // The most bytes a head within these limits takes, both CRLFs that end it included.
  std::size_t max_head_bytes() const noexcept { return max_request_line + max_header_bytes + 4; }
};

// Finding the end of a head in bytes that arrive a piece at a time.
struct HeadScan {
  std::size_t end = 0;       // just past the empty line that ends the head; 0 = not yet
  std::size_t line_end = 0;  // just past the request line's CRLF; 0 = not yet
  std::size_t scanned = 0;   // where the next scan resumes
  // 400 for a bare LF, 414 for a request line over the limit, 431 for a header block over it.
  std::optional<http::status> refusal;
};

// Continues `previous` (a default HeadScan at first) over `bytes`: the same bytes as last time,
// possibly with more appended. `bytes` starts with the request line (see leading_empty_lines).
HeadScan scan_request_head(std::string_view bytes, HeadScan previous,
                           const HeadLimits& limits) noexcept;

// How many bytes of empty lines precede a request line (RFC 9112 section 2.2 lets a server ignore
// them).
std::size_t leading_empty_lines(std::string_view bytes) noexcept;

// How the body after a head is delimited.
struct BodyFraming {
  enum class Kind { none, length, chunked };
  Kind kind = Kind::none;
  std::uint64_t length = 0;  // with Kind::length

  bool operator==(const BodyFraming&) const = default;
};

// A head's verdict: the status it is refused with, or how its body is framed.
struct HeadVerdict {
  std::optional<http::status> refusal;
  BodyFraming framing;
};

// Reads one complete head (through the empty line that ends it, as scan_request_head found it)
// into `parser`, which must be fresh. When accepted, the head is in parser.get(): an absolute-form
// target rewritten to origin form and Host set to its authority; and the parser is ready for the
// body (body limit, chunk extension limit). After a refusal the parser is of no further use.
HeadVerdict read_request_head(std::string_view head, const HeadLimits& limits,
                              RequestParser& parser);

// The answer to a request Beast's parser rejected (also while reading a body): 431 head too
// large, 413 body too large, else 400.
http::status status_for_parse_error(const boost::system::error_code& ec) noexcept;

// The raw-byte step alone: the request line, the field lines, their line ends and the limits.
std::optional<http::status> check_raw_request_head(std::string_view head,
                                                   const HeadLimits& limits) noexcept;

// Whether `status` is one that read_request_head() or a body's framing refuses a request with
// (400, 413, 414, 417, 431, 501, 505): the connection is closed after it.
bool is_framing_refusal(http::status status) noexcept;

// The raw-byte step for an upstream's response head, `head` running exactly through the empty
// line that ends it: the status line "HTTP/1.x" SP 3DIGIT SP reason (HTAB / SP / VCHAR /
// obs-text), then field lines held to the request rules above (token names, no whitespace before
// the colon, no obs-fold, no control bytes, CR only in CRLF), but for trailing whitespace in a
// framing field, which a response may have. No limits, no allocation, one pass. Beast's parser
// accepts more: for the session to call before it gives a head to Beast's parser.
// parse_simple_response (relay_head.h) refuses every head this refuses.
bool response_head_bytes_valid(std::string_view head) noexcept;

// A Host value (or an absolute-form authority): uri-host [":" port], RFC 9110 section 7.2 and RFC
// 3986 section 3.2.2; an IP-literal (IPv6address or IPvFuture, no zone id), an IPv4 address or a
// reg-name; no userinfo; a port of one to five digits, 65535 at most, not empty.
bool is_valid_host(std::string_view host) noexcept;

// An HTTP/2 :path the HTTP/1 request line could carry: origin-form (starting with '/') or "*",
// visible ASCII without '#' (a fragment is never sent).
bool is_valid_http2_path(std::string_view path) noexcept;

}  // namespace bgp
