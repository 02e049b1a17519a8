// An HTTP/1.1 upstream's response head, read and judged in one place for both fronts (the HTTP/1
// session and the HTTP/2 front), so that a response one of them refuses with a 502 the other
// refuses too (docs/proxying.md, "Upstream responses"). Reading: read_response_head(). Judging,
// with no I/O: simple_response_head() for the fast path, else parse_response_head().
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/verb.hpp>

#include "proxy/buffer_pool.h"
#include "proxy/http1/relay_head.h"

namespace bgp {

namespace http = boost::beast::http;
using boost::system::error_code;

using UpstreamResponseParser = http::response_parser<http::buffer_body>;

// The most a response head may take; a longer one is refused (502).
constexpr std::size_t kUpstreamHeadLimit = 64 * 1024;

// Where the head at the start of the bytes read so far ends.
struct ResponseHeadScan {
  std::size_t size = 0;     // just past the empty line that ends it; 0 while incomplete
  std::size_t scanned = 0;  // bytes searched already (find_head_end, relay_head.h)
  bool bare_lf = false;     // a line ends in LF alone: the head is left to Beast's parser
  bool done() const noexcept { return size > 0 || bare_lf; }
};

// Reads from `upstream` into `buffer` (a flat DynamicBuffer, which may hold bytes already) until
// the head at its start is whole or has a bare LF. Errors: the read's, or http::error::header_limit
// when kUpstreamHeadLimit bytes hold no end of a head. The caller's deadline bounds the reads.
template <typename Stream, typename Buffer>
boost::asio::awaitable<error_code> read_response_head(Stream& upstream, Buffer& buffer,
                                                      ResponseHeadScan& scan) {
  constexpr auto as_values = boost::asio::as_tuple(boost::asio::deferred);
  scan = {};
  for (;;) {
    const auto data = buffer.data();
    scan.size = find_head_end({static_cast<const char*>(data.data()), data.size()}, scan.scanned,
                              scan.bare_lf);
    if (scan.done()) co_return error_code{};
    if (buffer.size() >= kUpstreamHeadLimit) co_return http::error::header_limit;
    // The first read takes a pool block (almost any head fits); a longer head reads more at once.
    const std::size_t want = buffer.size() == 0 ? BufferPool::kBlockSize : 16 * 1024;
    auto [ec, n] = co_await upstream.async_read_some(buffer.prepare(want), as_values);
    if (ec) co_return ec;
    buffer.commit(n);
  }
}

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
