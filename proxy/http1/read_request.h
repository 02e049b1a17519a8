// Reading an HTTP/1 request head off a client stream, for the session and for the stream tests
// (tests/proxy/http1_stream_test.cpp), which run it over reads of a few bytes: what the client
// gets must not depend on where its bytes were split.
#pragma once

#include <cstddef>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>

#include "proxy/buffer_pool.h"
#include "proxy/connection.h"
#include "proxy/http1/request_head.h"
#include "proxy/http2/front.h"

namespace bgp {

// How the read of a request head ended.
struct RequestHeadRead {
  enum class End { head, refused, timed_out, closed, http2 };
  End end = End::head;
  std::size_t size = 0;  // End::head: the head's bytes, at the start of the buffer
  http::status refusal = http::status::bad_request;  // End::refused: the scan's verdict
};

// Bytes asked for per read of a head: a head bigger than the first read grows the buffer by this.
constexpr std::size_t kHeadReadChunk = 16 * 1024;

// Reads from `stream` into `buffer` (what it holds first counts) until a whole request head is
// buffered, its leading empty lines dropped; the scan (request_head.h) refuses a head over
// `limits` or malformed as soon as its bytes show it. Each read must end by `deadline`
// (guard.arm; guard.timed tells the timeout). With `sniff_http2`, HTTP/2's preface is looked for
// first (End::http2: the buffer holds it).
template <typename Stream, typename Buffer, typename Guard>
net::awaitable<RequestHeadRead> read_request_head_bytes(Stream& stream, Buffer& buffer,
                                                        const HeadLimits& limits, bool sniff_http2,
                                                        Guard& guard, Clock::time_point deadline) {
  HeadScan scan;
  for (;;) {
    if (sniff_http2) {
      const Preface preface = match_http2_preface(readable(buffer));
      if (preface == Preface::yes) co_return RequestHeadRead{RequestHeadRead::End::http2};
      sniff_http2 = preface == Preface::partial;
    }
    if (!sniff_http2) {
      if (const auto empty = leading_empty_lines(readable(buffer)); empty > 0) {
        buffer.consume(empty);
        scan = {};
      }
      scan = scan_request_head(readable(buffer), scan, limits);
      if (scan.refusal) {
        co_return RequestHeadRead{RequestHeadRead::End::refused, 0, *scan.refusal};
      }
      if (scan.end > 0) co_return RequestHeadRead{RequestHeadRead::End::head, scan.end};
    }
    guard.arm(deadline);
    auto [read_ec, n] = co_await stream.async_read_some(buffer.prepare(kHeadReadChunk), as_values);
    const error_code ec = guard.timed(read_ec);
    if (ec == net::error::timed_out) co_return RequestHeadRead{RequestHeadRead::End::timed_out};
    if (ec) co_return RequestHeadRead{RequestHeadRead::End::closed};  // it left inside a head
    buffer.commit(n);
  }
}

}  // namespace bgp
