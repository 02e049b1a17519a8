// An HTTP/1.1 upstream's response head, read and judged in one place for both fronts (the HTTP/1
// session and the HTTP/2 front), so that a response one of them refuses with a 502 the other
// refuses too (docs/proxying.md). Reading: ResponseHeadScan. Judging, with no I/O:
// simple_response_head() for the fast path, else parse_response_head().
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/verb.hpp>

#include "proxy/http1/relay_head.h"

namespace bgp {

namespace http = boost::beast::http;
using boost::system::error_code;

using UpstreamResponseParser = http::response_parser<http::buffer_body>;

// The most a response head may take; a longer one is refused (502).
constexpr std::size_t kUpstreamHeadLimit = 64 * 1024;

// Where the head at the start of the bytes read so far ends, and what to read until it does. The
// read loop each front runs (awaited in place: the HTTP/1 session's hot path has no coroutine
// frame to spare):
//   ResponseHeadScan scan;
//   while (std::size_t want = scan.next_read(bytes read so far, ec)) read up to `want` more bytes;
struct ResponseHeadScan {
  std::size_t size = 0;     // just past the empty line that ends it; 0 while incomplete
  std::size_t scanned = 0;  // bytes searched already (find_head_end, relay_head.h)
  bool bare_lf = false;     // a line ends in LF alone: the head is left to Beast's parser
  bool done() const noexcept { return size > 0 || bare_lf; }

  // Looks for the head's end in `buffered` (all bytes read so far; those scanned before are not
  // searched again). Returns how many bytes to read next: 0 when done() or when `buffered` holds
  // kUpstreamHeadLimit bytes without the end of a head (then `ec` is http::error::header_limit).
  std::size_t next_read(std::string_view buffered, error_code& ec) noexcept;
};

// A status passed over before the final response (100, 103; not 101, which ends the exchange).
constexpr bool is_interim_status(unsigned status) noexcept {
  return status / 100 == 1 && status != 101;
}

// The head `scan` found at the start of `buffered` as the fast path takes it (relay_head.h), the
// head left in the buffer; nullopt for any other head, which goes to parse_response_head(). A body
// delimited by the connection's end is never simple.
std::optional<SimpleResponse> simple_response_head(std::string_view buffered,
                                                   const ResponseHeadScan& scan,
                                                   http::verb method) noexcept;

// Judges the head `scan` found at the start of `buffered` and parses it into `parser` (fresh;
// body_limit none, skip for a HEAD request). `used`: the bytes of `buffered` the head took (with a
// bare LF, what Beast's parser read of them). Errors, each a 502 for the client:
// http::error::bad_field for raw bytes Beast's parser reads more leniently than the proxy's rules
// (obs-fold, control bytes: response_head_bytes_valid); Beast's own parse errors;
// http::error::partial_message for a head Beast finds incomplete; and, for a final (not interim)
// status, http::error::bad_transfer_encoding for framing that is ambiguous or a version or status
// out of range (is_acceptable_response).
error_code parse_response_head(std::string_view buffered, const ResponseHeadScan& scan,
                               http::verb method, UpstreamResponseParser& parser,
                               std::size_t& used);

}  // namespace bgp
