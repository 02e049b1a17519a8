#include "proxy/http1/response_head.h"

#include <boost/asio/buffer.hpp>

#include "proxy/buffer_pool.h"
#include "proxy/http1/http_framing.h"
#include "proxy/http1/request_head.h"

namespace bgp {

std::size_t ResponseHeadScan::next_read(std::string_view buffered, error_code& ec) noexcept {
  size = find_head_end(buffered, scanned, bare_lf);
  if (done()) return 0;
  if (buffered.size() >= kUpstreamHeadLimit) {
    ec = http::error::header_limit;
    return 0;
  }
  // The first read takes a pool block (almost any head fits); a longer head reads more at once.
  return buffered.empty() ? BufferPool::kBlockSize : 16 * 1024;
}

std::optional<SimpleResponse> simple_response_head(std::string_view buffered,
                                                   const ResponseHeadScan& scan,
                                                   http::verb method) noexcept {
  if (scan.bare_lf || scan.size == 0) return std::nullopt;
  auto simple = parse_simple_response(buffered.substr(0, scan.size));
  if (simple && !simple->content_length && !response_has_no_body(method, simple->status)) {
    return std::nullopt;  // a body delimited by the connection's end: Beast's parser reads it
  }
  return simple;
}

error_code parse_response_head(std::string_view buffered, const ResponseHeadScan& scan,
                               http::verb method, UpstreamResponseParser& parser,
                               std::size_t& used) {
  used = 0;
  // With a bare LF the head's end is unknown: Beast's parser gets what came (and refuses it).
  const std::string_view head = scan.bare_lf ? buffered : buffered.substr(0, scan.size);
  // Beast's parser reads more than a strict reader would (obs-fold, control bytes): a head that
  // the same raw-byte rules as a request's refuse is not relayed.
  if (!scan.bare_lf && !response_head_bytes_valid(head)) return http::error::bad_field;
  parser.header_limit(static_cast<std::uint32_t>(kUpstreamHeadLimit));
  parser.body_limit(boost::none);
  if (method == http::verb::head) parser.skip(true);
  error_code ec;
  used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (!ec && !parser.is_header_done()) ec = http::error::partial_message;
  if (ec) return ec;
  // An ambiguous final response is not relayed, and its connection not reused.
  if (!is_interim_status(parser.get().result_int()) && !is_acceptable_response(parser.get())) {
    return http::error::bad_transfer_encoding;
  }
  return {};
}

}  // namespace bgp
