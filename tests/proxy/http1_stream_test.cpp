// The HTTP/1 codec as the session drives it, over Beast's in-memory test stream whose reads return
// a few bytes at a time (read_size 1, 3, 7, or all there is), as Beast tests its own relay: request
// heads found incrementally and read, bodies through ChunkCheckedStream and Beast's parser, and
// upstream response heads and chunked bodies. What a client or backend gets must not depend on
// where the reads split: the bytes relayed, the verdicts, and an error instead of a wait.
//
// No sockets and no time: each exchange runs on its own io_context with poll(), which returns when
// nothing is ready; an operation still pending then waits for bytes that are not coming, which on
// a real connection would be a hang until a timeout.
//
// Beast's test stream is templates in its header; its non-template parts (stream_state, the test
// error category) are compiled into bgproxy_proxy with the rest of Beast (boost/beast/src.hpp, in
// proxy/asio_impl.cpp), so the test needs nothing more.
#include <array>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include "proxy/http1/chunk_checked_stream.h"
#include "proxy/http1/chunk_lines.h"
#include "proxy/http1/read_request.h"
#include "proxy/http1/relay_body.h"
#include "proxy/http1/relay_head.h"
#include "proxy/http1/request_head.h"
#include "proxy/http1/upstream_leg.h"
#include "proxy/refused_heads.h"
#include "tests/support/piece_stream.h"

namespace bgp::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using TestStream = beast::test::stream;
using ResponseParser = http::response_parser<http::buffer_body>;

constexpr auto as_values = net::as_tuple(net::deferred);

constexpr std::size_t kWhole = 1 << 20;  // a read takes all the stream holds
constexpr std::array<std::size_t, 4> kReadSizes{1, 3, 7, kWhole};
constexpr std::size_t kReadChunk = 16 * 1024;  // what the session asks for per read of a head
// The relay buffer, small so that a body passes it in several pieces (Beast's need_buffer), as a
// large one passes the session's 16 KB.
constexpr std::size_t kRelay = 5;

// One direction of a connection as the proxy reads it: the bytes the peer sent, delivered at most
// `read_size` per read, then EOF unless `stays_open`. Members are destroyed in reverse: an
// operation still pending on the stream goes before the buffer and parsers it refers to.
template <typename Parser>
struct Wire {
  Wire(std::string_view bytes, std::size_t read_size, bool stays_open) : sent(bytes) {
    stream.append(bytes);
    stream.read_size(read_size);
    if (!stays_open) stream.close_remote();
  }

  // Runs `exchange` as far as the bytes allow; false when it still waits for more.
  bool run(net::awaitable<void> exchange) {
    net::co_spawn(io, std::move(exchange), [this](const std::exception_ptr& e) {
      EXPECT_FALSE(e) << "the exchange threw";
      done = true;
    });
    // poll() runs what is ready, including what that posts; a bound instead of trust.
    for (int round = 0; round < 100 && !done; ++round) {
      if (io.poll() == 0) break;
    }
    return done;
  }

  std::size_t taken() const { return sent.size() - stream.str().size(); }  // read off the stream
  // What the proxy has not used yet: buffered, then still on the stream.
  std::string rest() const { return std::string(readable(buffer)) + std::string(stream.str()); }

  std::string sent;
  bool done = false;
  beast::flat_buffer buffer;
  Parser parser;
  net::io_context io;
  TestStream stream{io};
  PieceStream reads{stream};  // what the proxy's code reads through
};

// --- the session's steps, over any stream ----------------------------------------------------
// Heads and bodies go through the proxy's own code (proxy/http1/read_request.h, upstream_leg.h,
// relay_body.h); only a simple response's body reads (the session's fast path, interleaved with
// its writes to the client) are written out here again.

struct Head {
  std::optional<http::status> refusal;
  BodyFraming framing;
  error_code error;  // the stream ended inside the head
};

// What guards the head's reads here: no clock, and no client to leave.
struct NoGuard {
  void arm(Clock::time_point) noexcept {}
  error_code timed(const error_code& ec) const noexcept { return ec; }
  void watch(UpstreamStream*) noexcept {}
  bool abandoned() const noexcept { return false; }
};

// The head as the session reads it (read_request_head_bytes, its own code), then judges it.
net::awaitable<Head> read_head(PieceStream& stream, beast::flat_buffer& buffer,
                               const HeadLimits& limits, RequestParser& parser) {
  NoGuard guard;
  const RequestHeadRead read = co_await read_request_head_bytes(stream, buffer, limits, false,
                                                                guard, Clock::time_point::max());
  if (read.end == RequestHeadRead::End::refused) co_return Head{read.refusal, {}, {}};
  if (read.end != RequestHeadRead::End::head) co_return Head{{}, {}, http::error::end_of_stream};
  const HeadVerdict verdict =
      read_request_head(readable(buffer).substr(0, read.size), limits, parser);
  buffer.consume(read.size);
  co_return Head{verdict.refusal, verdict.framing, {}};
}

// --- a request, as a client sends it ------------------------------------------------------------

struct Request {
  Head head;
  std::string body;  // what the upstream got, its chunks decoded when the body ended cleanly
  error_code body_error;
  bool finished = false;  // false: still waiting for bytes
  std::size_t taken = 0;  // bytes read off the stream
  std::string rest;       // what follows, for the next request
};

// The body of a whole message (a request when isRequest) as its reader takes it; "<incomplete>"
// when it is not whole.
template <bool isRequest>
std::string body_as_read(std::string_view message) {
  http::parser<isRequest, http::string_body> parser;
  parser.eager(true);
  error_code ec;
  std::size_t used = 0;
  while (!ec && !parser.is_done() && used < message.size()) {
    const std::size_t n = parser.put(net::buffer(message.data() + used, message.size() - used), ec);
    if (n == 0) break;
    used += n;
  }
  return parser.is_done() ? parser.get().body() : std::string("<incomplete>");
}

// A chunked body as the upstream reads it.
std::string chunked_body_as_read(std::string_view chunks) {
  return body_as_read<true>("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            std::string(chunks));
}

// The request as the session takes it: its head, then its body held (hold_request_body_bytes) and
// sent with the head (body_piece), the rest streamed upstream (relay_request_body), all by the
// session's own code; the upstream's end is a test stream whose bytes are read back.
net::awaitable<void> receive(Wire<RequestParser>& wire, const HeadLimits& limits, Request& out) {
  out.head = co_await read_head(wire.reads, wire.buffer, limits, wire.parser);
  if (out.head.refusal || out.head.error) co_return;
  // What came behind the head starts the body: its chunk lines are checked before any read.
  const bool chunked = out.head.framing.kind == BodyFraming::Kind::chunked;
  ChunkLines lines;
  if (chunked && !lines.feed(readable(wire.buffer))) {
    out.body_error = http::error::bad_chunk;
    co_return;
  }
  ChunkCheckedStream<PieceStream> from(wire.reads, chunked ? &lines : nullptr);
  if (wire.parser.is_done()) co_return;
  NoGuard guard;
  std::array<char, kRelay> relay;
  std::size_t held = 0;
  out.body_error = co_await hold_request_body_bytes(wire.parser, from, wire.buffer, relay, held,
                                                    guard, Clock::time_point::max());
  ChunkSizeLine size_line;
  std::string upstream_got = beast::buffers_to_string(
      body_piece(size_line, relay.data(), held, chunked, wire.parser.is_done()));
  if (!out.body_error && !wire.parser.is_done()) {
    TestStream to_upstream(wire.io);
    TestStream upstream(wire.io);
    to_upstream.connect(upstream);
    PieceStream writes(to_upstream);
    const RelayResult relayed =
        co_await relay_request_body(wire.parser, from, wire.buffer, std::chrono::seconds(1), writes,
                                    std::chrono::seconds(1), chunked, relay, guard);
    out.body_error = relayed.ec;
    upstream_got += upstream.str();
  }
  out.body = chunked && !out.body_error ? chunked_body_as_read(upstream_got) : upstream_got;
}

Request receive_request(std::string_view bytes, std::size_t read_size, bool stays_open = false,
                        const HeadLimits& limits = small_limits()) {
  Wire<RequestParser> wire(bytes, read_size, stays_open);
  Request got;
  got.finished = wire.run(receive(wire, limits, got));
  got.taken = wire.taken();
  got.rest = wire.rest();
  return got;
}

// Reads at every size in kReadSizes give what `check` wants.
template <typename Check>
void at_every_read_size(std::string_view bytes, Check check, bool stays_open = false) {
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE("read size " + std::to_string(size));
    check(receive_request(bytes, size, stays_open), size);
  }
}

constexpr std::string_view kNext = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";

TEST(RequestOverAStream, ALengthBodyArrivesWholeAndTheNextRequestWaits) {
  const std::string request =
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nhello, world" + std::string(kNext);
  at_every_read_size(request, [](const Request& got, std::size_t) {
    ASSERT_TRUE(got.finished);
    EXPECT_FALSE(got.head.refusal);
    EXPECT_EQ(got.head.framing, (BodyFraming{BodyFraming::Kind::length, 12}));
    EXPECT_FALSE(got.body_error) << got.body_error.message();
    EXPECT_EQ(got.body, "hello, world");
    EXPECT_EQ(got.rest, kNext);  // pipelined: untouched, whether buffered or not yet read
  });
}

TEST(RequestOverAStream, AChunkedBodyWithExtensionsAndATrailerArrivesByteExact) {
  const std::string request =
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n7 ; a=\"b c\"\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n" +
      std::string(kNext);
  at_every_read_size(request, [](const Request& got, std::size_t) {
    ASSERT_TRUE(got.finished);
    EXPECT_EQ(got.head.framing.kind, BodyFraming::Kind::chunked);
    EXPECT_FALSE(got.body_error) << got.body_error.message();
    EXPECT_EQ(got.body, "hello, world");
    EXPECT_EQ(got.rest, kNext);
  });
}

// The next request follows the last chunk in the same read: its bytes are not chunk lines (a bare
// LF there must not fail this body) and stay for the next head.
TEST(RequestOverAStream, BytesAfterTheLastChunkAreNotCheckedAsChunkLines) {
  const std::string next = "GET /n HTTP/1.1\nHost: x\n\n";
  const std::string request =
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
      next;
  at_every_read_size(request, [&](const Request& got, std::size_t) {
    ASSERT_TRUE(got.finished);
    EXPECT_FALSE(got.body_error) << got.body_error.message();
    EXPECT_EQ(got.body, "abc");
    EXPECT_EQ(got.rest, next);
  });
}

struct Malformed {
  const char* name;
  std::string body;  // the chunked body as sent, up to and including the offending byte
  error_code error;  // what the read fails with
};

// A malformed chunk line fails the body read as soon as its bytes are read, though the client has
// not closed and more bytes are on their way: nothing waits for a CRLF or the end.
TEST(RequestOverAStream, AMalformedChunkLineFailsTheReadAtOnce) {
  const std::vector<Malformed> cases{
      {"BareLfAfterSize", "5\n", http::error::bad_chunk},
      {"BareLfAfterData", "5\r\nhello\n", http::error::bad_chunk},
      {"BareLfInTrailer", "5\r\nhello\r\n0\r\nX-T: 1\n", http::error::bad_chunk},
      {"BadHex", "5\r\nhello\r\nzz", http::error::bad_chunk},
      {"NoSize", "5\r\nhello\r\n;a\r\n", http::error::bad_chunk},
      // ChunkLines lets the bytes of a long extension pass; the parser's limit refuses it once
      // its line is complete.
      {"OverlongExtension", "a;a=" + std::string(kMaxChunkExtensions, 'x') + "\r\n",
       http::error::bad_chunk_extension},
  };
  const std::string head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  // What follows would continue a 10-byte chunk correctly: only the offending line fails.
  const std::string more = "abcdefghij\r\n0\r\n\r\n" + std::string(kNext);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string request = head + c.body + more;
    at_every_read_size(
        request,
        [&](const Request& got, std::size_t size) {
          ASSERT_TRUE(got.finished) << "the read waited for more bytes";
          EXPECT_EQ(got.body_error, c.error) << got.body_error.message();
          // No read beyond the one that brought the offending byte (the stream is open).
          EXPECT_LE(got.taken, std::max(head.size() + c.body.size() + size - 1, size));
        },
        /*stays_open=*/true);
  }
}

TEST(RequestOverAStream, AChunkedBodyOverTheLimitFailsAtItsSize) {
  const std::string request = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                              std::string("3e9\r\n") + std::string(1001, 'a') + "\r\n0\r\n\r\n";
  at_every_read_size(request, [](const Request& got, std::size_t) {
    ASSERT_TRUE(got.finished);
    EXPECT_EQ(got.body_error, http::error::body_limit);
    EXPECT_EQ(got.body, "");  // refused by its chunk size, before any of its bytes
  });
}

TEST(RequestOverAStream, AClientGoneInsideItsBodyIsAPartialMessage) {
  const std::string request = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello";
  at_every_read_size(request, [](const Request& got, std::size_t) {
    ASSERT_TRUE(got.finished);
    EXPECT_EQ(got.body_error, http::error::partial_message);
    EXPECT_EQ(got.body, "hello");
  });
}

// --- the same verdicts at every read size ---------------------------------------------------

struct Case {
  std::string name;
  std::string bytes;
};

std::vector<Case> verdict_cases() {
  std::vector<Case> cases{
      {"Get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"LeadingEmptyLines", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"LoneCrBeforeTheRequestLine", "\rGET / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"Pipelined", "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(kNext)},
      {"LengthBody", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"},
      {"LengthAtTheLimit",
       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b')},
      {"Chunked",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       "1;a=b\r\nx\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\nU: 2\r\n\r\n"},
      {"ChunkedBareLf",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n"},
      {"ChunkedFramingInTrailer",
       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabc\r\n0\r\nContent-Length: 3\r\n\r\n"},
      {"HeadCutShort", "GET / HTTP/1.1\r\nHost: x\r\n"},
      {"RequestLineAtTheLimit", get_line("GET /" + std::string(86, 'a') + " HTTP/1.1")},
      {"HeaderBlockAtTheLimit", post("X-A: " + std::string(184, 'a') + "\r\n")},
      {"HeaderBlockOverTheLimit", post("X-A: " + std::string(185, 'a') + "\r\n")},
      // A bare LF past a limit: which one is seen first must not depend on the reads.
      {"BareLfPastTheHeaderLimit", post("X-A: " + std::string(195, 'a') + "\n")},
      {"BareLfPastTheRequestLineLimit",
       "GET /" + std::string(120, 'a') + " HTTP/1.1\nHost: x\r\n\r\n"},
  };
  for (const Shape& shape : refused_heads()) cases.push_back({shape.name, shape.bytes});
  return cases;
}

// What a client would see of a request: the verdict on its head, how the body read ended, and
// when it ended cleanly the body relayed and what is left for the next request. After a failed
// read the connection is done with, and the body bytes relayed before it depend on the reads by
// design: the session streams what passed and ends the upstream connection before the last chunk.
std::string summary(const Request& got) {
  std::string s = got.finished ? "" : "waiting; ";
  s += "refusal " + std::to_string(got.head.refusal ? static_cast<int>(*got.head.refusal) : 0);
  s += "; head error " + got.head.error.message();
  s += "; framing " + std::to_string(static_cast<int>(got.head.framing.kind)) + "/" +
       std::to_string(got.head.framing.length);
  s += "; body error " + got.body_error.message();
  if (!got.head.refusal && !got.head.error && !got.body_error) {
    s += "; body [" + got.body + "]; rest [" + got.rest + "]";
  }
  return s;
}

TEST(RequestOverAStream, TheVerdictsDoNotDependOnWhereReadsSplit) {
  for (const Case& c : verdict_cases()) {
    SCOPED_TRACE(c.name);
    const Request whole = receive_request(c.bytes, kWhole);
    EXPECT_TRUE(whole.finished);
    for (const std::size_t size : kReadSizes) {
      EXPECT_EQ(summary(receive_request(c.bytes, size)), summary(whole)) << "read size " << size;
    }
  }
}

// The table's statuses hold when the heads arrive a byte at a time too.
TEST(RequestOverAStream, RefusedHeadsGetTheirStatusAtEveryReadSize) {
  for (const Shape& shape : refused_heads()) {
    SCOPED_TRACE(shape.name);
    for (const std::size_t size : kReadSizes) {
      EXPECT_EQ(receive_request(shape.bytes, size).head.refusal, shape.status) << size;
    }
  }
}

// With h2c on, a connection's first bytes are HTTP/2's preface or a request, whichever read brings
// the byte that tells them apart; a request read after a partial match is read whole.
TEST(RequestOverAStream, ThePrefaceIsToldFromARequestAtEveryReadSize) {
  constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::string request = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE(size);
    for (const bool preface : {true, false}) {
      Wire<RequestParser> wire(preface ? kPreface : std::string_view(request), size, true);
      RequestHeadRead read;
      const auto sniff = [&]() -> net::awaitable<void> {
        NoGuard guard;
        read = co_await read_request_head_bytes(wire.reads, wire.buffer, small_limits(), true,
                                                guard, Clock::time_point::max());
      };
      ASSERT_TRUE(wire.run(sniff())) << "the read waited for more bytes";
      EXPECT_EQ(read.end, preface ? RequestHeadRead::End::http2 : RequestHeadRead::End::head);
      if (!preface) {
        EXPECT_EQ(read.size, request.size());
      }
    }
  }
}

// --- an upstream's response -------------------------------------------------------------------

struct Response {
  std::optional<SimpleResponse> simple;
  unsigned status = 0;
  std::string body;     // as the client reads it (a relayed chunked body decoded)
  std::string written;  // a parsed response: the bytes the relay wrote to the client
  error_code error;
  bool finished = false;
  std::size_t taken = 0;
  std::string rest;
};

// The reads of Http1UpstreamForward::relay_simple_response (http1_upstream_forward.h): never more
// than the body's remaining bytes.
net::awaitable<error_code> read_simple_body(PieceStream& stream, beast::flat_buffer& buffer,
                                            std::uint64_t length, std::string& body) {
  for (;;) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size()));
    body.append(readable(buffer).substr(0, take));
    buffer.consume(take);
    length -= take;
    if (length == 0) co_return error_code{};
    auto [ec, n] = co_await stream.async_read_some(
        buffer.prepare(static_cast<std::size_t>(std::min<std::uint64_t>(length, kReadChunk))),
        as_values);
    if (ec) co_return ec;
    buffer.commit(n);
  }
}

// The head as both fronts read it (read_final_response_head, the leg's own code); the body as
// the session relays it.
net::awaitable<void> receive(Wire<ResponseParser>& wire, Response& out) {
  NoGuard guard;
  FinalResponseHead head;
  out.error = co_await read_final_response_head(wire.reads, wire.buffer, guard, head,
                                                http::verb::get, false, std::chrono::seconds(1));
  if (out.error) co_return;
  out.simple = head.simple;
  if (head.simple) {
    out.status = head.simple->status;
    wire.buffer.consume(head.size);
    out.error = co_await read_simple_body(wire.reads, wire.buffer,
                                          head.simple->content_length.value_or(0), out.body);
    co_return;
  }
  // Any other head went through Beast's parser; its chunk lines go through ChunkCheckedStream, its
  // body to a client stream by the session's relay (relay_response_body).
  ResponseParser& parser = *head.parser;
  out.status = parser.get().result_int();
  ChunkLines lines;
  if (parser.chunked() && !lines.feed(readable(wire.buffer))) {
    out.error = http::error::bad_chunk;
    co_return;
  }
  ChunkCheckedStream<PieceStream> from(wire.reads, parser.chunked() ? &lines : nullptr);
  TestStream to_client(wire.io);
  TestStream client(wire.io);
  to_client.connect(client);
  PieceStream writes(to_client);
  http::response_serializer<http::buffer_body> serializer{parser.get()};
  std::array<char, kRelay> relay;
  const RelayResult relayed =
      co_await relay_response_body(parser, from, wire.buffer, std::chrono::seconds(1), serializer,
                                   writes, std::chrono::seconds(1), relay, guard);
  out.error = relayed.ec;
  out.written = std::string(client.str());
  out.body = body_as_read<false>(out.written);
}

Response receive_response(std::string_view bytes, std::size_t read_size, bool stays_open) {
  Wire<ResponseParser> wire(bytes, read_size, stays_open);
  Response got;
  got.finished = wire.run(receive(wire, got));
  got.taken = wire.taken();
  got.rest = wire.rest();
  return got;
}

constexpr std::string_view kChunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

// An upstream connection stays open after its response; anything it sent after the body (a
// misbehaving backend) stays unread or buffered, where the session sees it and does not reuse the
// connection.
TEST(ResponseOverAStream, ALengthResponseIsReadToItsLengthAndNoFurther) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b\r\n\r\nhello, world";
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE(size);
    const Response got = receive_response(response + "extra", size, /*stays_open=*/true);
    ASSERT_TRUE(got.finished);
    ASSERT_TRUE(got.simple);
    EXPECT_EQ(got.status, 200u);
    EXPECT_EQ(got.simple->content_length, 12u);
    EXPECT_FALSE(got.error) << got.error.message();
    EXPECT_EQ(got.body, "hello, world");
    EXPECT_EQ(got.rest, "extra");
  }
}

TEST(ResponseOverAStream, AChunkedResponseArrivesByteExact) {
  const std::string response = std::string(kChunkedHead) +
                               "5;ext=1\r\nhello\r\n7\r\n, world\r\n"
                               "0\r\nX-Checksum: abc\r\n\r\n";
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE(size);
    const Response got = receive_response(response, size, /*stays_open=*/true);
    ASSERT_TRUE(got.finished) << "the body's end was not seen";
    EXPECT_FALSE(got.simple);
    EXPECT_EQ(got.status, 200u);
    EXPECT_FALSE(got.error) << got.error.message();
    EXPECT_TRUE(got.written.starts_with("HTTP/1.1 200 OK\r\n")) << got.written;
    EXPECT_EQ(got.body, "hello, world") << got.written;
    EXPECT_EQ(got.rest, "");
  }
}

TEST(ResponseOverAStream, AMalformedChunkFailsAtOnce) {
  for (const std::string body : {"5\nhello\r\n", "5\r\nhello\n0\r\n", "5\r\nhelloXY", "g\r\n",
                                 "5\r\nhello\r\n0\r\nX-T: 1\n\r\n"}) {
    SCOPED_TRACE(body);
    const std::string response = std::string(kChunkedHead) + body;
    for (const std::size_t size : kReadSizes) {
      SCOPED_TRACE(size);
      // The upstream keeps the connection open and sends more: only the check ends the read.
      const Response got = receive_response(response + "more bytes\r\n", size, true);
      ASSERT_TRUE(got.finished) << "the read waited for more bytes";
      EXPECT_EQ(got.error, http::error::bad_chunk) << got.error.message();
      EXPECT_LE(got.taken, std::max(response.size() + size - 1, size));
    }
  }
}

// A line ended by LF alone ends the scan where it is (no wait for a CRLF CRLF that never comes),
// and the head is refused (a 502), whichever read brought the LF.
TEST(ResponseOverAStream, ABareLfInTheHeadIsRefusedAtEveryReadSize) {
  const std::string response = "HTTP/1.1 200 OK\r\nA: b\nContent-Length: 0\r\n\r\n";
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE(size);
    const Response got = receive_response(response, size, true);
    ASSERT_TRUE(got.finished) << "the read waited for more bytes";
    EXPECT_TRUE(got.error);
    EXPECT_FALSE(got.simple);
  }
}

// Interim responses are passed over at every read size; the final one follows.
TEST(ResponseOverAStream, InterimResponsesArePassedOver) {
  const std::string response =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE(size);
    const Response got = receive_response(response, size, true);
    ASSERT_TRUE(got.finished);
    EXPECT_FALSE(got.error) << got.error.message();
    EXPECT_EQ(got.status, 200u);
    EXPECT_EQ(got.body, "ok");
  }
}

// A 101 to a request that asked for no upgrade is refused, at every read size.
TEST(ResponseOverAStream, ASwitchNobodyAskedForIsRefused) {
  const std::string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE(size);
    const Response got = receive_response(response, size, true);
    ASSERT_TRUE(got.finished);
    EXPECT_EQ(got.error, http::error::bad_status);
  }
}

}  // namespace
}  // namespace bgp::testing
