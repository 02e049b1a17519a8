// The heads written by relay_head.h against the field-by-field rewrite they replace on the hot path
// (http_framing.h's strip_hop_by_hop, add_forwarding_headers, add_via, then Beast's serializer):
// the same request heads byte for byte, the same response fields, and a fast-path response parse
// that never accepts what Beast's parser would read differently.
#include "proxy/http1/relay_head.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "proxy/http1/http_framing.h"
#include "tests/support/simple_fields.h"

namespace bgp {
namespace {

// --- requests ------------------------------------------------------------------------------

struct ParsedRequest {
  http::request_header<> head;
  BodyFraming framing;
  bool upgrade = false;
  bool expects_continue = false;
};

ParsedRequest parse_request(std::string_view bytes) {
  RequestParser parser;
  HeadLimits limits;
  const HeadVerdict verdict = read_request_head(bytes, limits, parser);
  EXPECT_FALSE(verdict.refusal) << bytes;
  ParsedRequest parsed;
  parsed.head = parser.get().base();
  parsed.framing = verdict.framing;
  parsed.upgrade = parser.upgrade();
  parsed.expects_continue = expects_continue(parser.get());
  return parsed;
}

// What the session did before relay_head.h: rewrite the fields, then serialize the header.
std::string rewritten_request(ParsedRequest request, std::string_view client_ip,
                              std::string_view default_host, std::string_view scheme) {
  auto& head = request.head;
  const unsigned received_version = head.version();
  strip_hop_by_hop(head, request.upgrade);
  if (request.expects_continue) head.erase(http::field::expect);
  if (request.framing.kind == BodyFraming::Kind::length) {
    head.set(http::field::content_length, std::to_string(request.framing.length));
  }
  if (request.framing.kind == BodyFraming::Kind::chunked) {
    head.set(http::field::transfer_encoding, "chunked");
  }
  if (head.find(http::field::host) == head.end()) head.set(http::field::host, default_host);
  add_forwarding_headers(head, client_ip, received_version, scheme);
  head.version(11);
  std::ostringstream out;
  out << head;
  return out.str();
}

std::string written_request(const ParsedRequest& request, std::string_view client_ip,
                            std::string_view default_host, std::string_view scheme) {
  UpstreamRequestOptions options;
  options.scheme = scheme;
  options.client_ip = client_ip;
  options.default_host = default_host;
  options.framing = request.framing;
  options.received_version = request.head.version();
  options.upgrade = request.upgrade;
  options.drop_expect = request.expects_continue;
  std::string out;
  write_upstream_request_head(request.head, options, out);
  return out;
}

// The table by Beast's enum says what the names say.
TEST(KnownField, OfABeastFieldIsThatOfItsName) {
  for (unsigned f = 1; f <= static_cast<unsigned>(http::field::xref); ++f) {
    const auto field = static_cast<http::field>(f);
    EXPECT_EQ(known_field(field), http1::known_field(http::to_string(field)))
        << http::to_string(field);
  }
  EXPECT_EQ(known_field(http::field::unknown), http1::KnownField::other);
  EXPECT_EQ(known_field(http::field::keep_alive), http1::KnownField::keep_alive);
  http::fields fields;
  fields.insert("PROXY-connection", "keep-alive");
  EXPECT_EQ(known_field(fields.begin()->name()), http1::KnownField::proxy_connection);
}

TEST(WriteUpstreamRequestHead, MatchesTheFieldRewriteByteForByte) {
  const std::vector<std::string> heads = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /x?y=1 HTTP/1.0\r\n\r\n",
      "GET /x HTTP/1.0\r\nHost: b:8080\r\nConnection: keep-alive\r\n\r\n",
      "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
      "PUT /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret, Content-Length\r\n"
      "X-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\nTE: trailers\r\n"
      "Trailer: X-Sum\r\nUpgrade: h2c\r\nX-Keep: k\r\n\r\n",
      "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: k\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\n"
      "X-Forwarded-Proto: https\r\nVia: 1.0 edge\r\nVIA: 1.1 mid\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:\r\nVia: \r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For, via\r\n"
      "X-Forwarded-For: 1.2.3.4\r\nVia: 1.1 old\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 3\r\n\r\n",
      "GET http://example.com/abs?q HTTP/1.1\r\nHost: other\r\nAccept: */*\r\n\r\n",
      "DELETE /r HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: b=2\r\nX-Empty:\r\n\r\n",
      "PATCH /r HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
  };
  for (const auto& bytes : heads) {
    const ParsedRequest request = parse_request(bytes);
    for (const std::string_view scheme : {"http", "https"}) {  // the plain and the TLS listener
      EXPECT_EQ(written_request(request, "192.0.2.7", "10.0.0.9:9001", scheme),
                rewritten_request(request, "192.0.2.7", "10.0.0.9:9001", scheme))
          << scheme << " " << bytes;
    }
  }
}

TEST(WriteUpstreamRequestHead, AddsForwardingHeadersAndNormalizesFraming) {
  const ParsedRequest request =
      parse_request("POST /p HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(written_request(request, "192.0.2.7", "up:1", "https"),
            "POST /p HTTP/1.1\r\nContent-Length: 3\r\nHost: up:1\r\n"
            "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nVia: 1.0 bgproxy\r\n\r\n");
}

// --- responses -----------------------------------------------------------------------------

struct BeastResponse {
  bool ok = false;
  http::response_header<> head;
  bool keep_alive = false;
  bool need_eof = false;
  std::optional<std::uint64_t> content_length;
};

BeastResponse beast_parse(std::string_view bytes, bool head_request = false) {
  http::response_parser<http::empty_body> parser;
  parser.eager(false);
  if (head_request) parser.skip(true);
  boost::system::error_code ec;
  const auto used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  BeastResponse parsed;
  parsed.ok = !ec && parser.is_header_done() && used == bytes.size() &&
              is_acceptable_response(parser.get());
  if (!parsed.ok) return parsed;
  parsed.head = parser.get().base();
  parsed.keep_alive = parser.get().keep_alive();
  parsed.need_eof = parser.need_eof();
  if (const auto length = parser.content_length()) parsed.content_length = *length;
  return parsed;
}

// What the session did before relay_head.h with a response head.
std::string rewritten_response(http::response_header<> head, unsigned client_version,
                               bool keep_alive) {
  strip_hop_by_hop(head, false);
  add_via(head, head.version());
  http::response<http::empty_body> message(std::move(head));
  message.version(client_version);
  message.keep_alive(keep_alive);
  std::ostringstream out;
  out << message.base();
  return out.str();
}

// The fields of a serialized head, for comparing heads whose lines differ only in whitespace.
std::vector<std::pair<std::string, std::string>> fields_of(const http::response_header<>& head) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& field : head) fields.emplace_back(field.name_string(), field.value());
  return fields;
}

http::response_header<> reparse(const std::string& bytes) {
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  EXPECT_FALSE(ec) << bytes;
  EXPECT_TRUE(parser.is_header_done()) << bytes;
  return parser.get().base();
}

const std::vector<std::string>& simple_heads() {
  static const std::vector<std::string> heads = {
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
      "Connection: keep-alive\r\n\r\n",
      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.0 200 OK\r\nContent-Length: 10\r\nConnection: keep-alive\r\n\r\n",
      "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n",
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
      "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
      "HTTP/1.1 200 \r\nContent-Length:3\r\n\r\n",
      "HTTP/1.1 200 OK\r\nVia: 1.0 a\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n"
      "via: 1.1 b\r\nTE: x\r\nTrailer: y\r\nUpgrade: h2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Tab: a\tb \r\nX-Obs: caf\xc3\xa9\r\nContent-Length:  7  \r\n\r\n",
      "HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: CLOSE , \r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nVia:\r\nContent-Length: 1\r\n\r\n",
  };
  return heads;
}

TEST(ParseSimpleResponse, ReadsWhatBeastReads) {
  for (const auto& bytes : simple_heads()) {
    const auto simple = parse_simple_response(bytes);
    ASSERT_TRUE(simple) << bytes;
    const BeastResponse beast = beast_parse(bytes);
    ASSERT_TRUE(beast.ok) << bytes;
    EXPECT_EQ(simple->status, beast.head.result_int()) << bytes;
    EXPECT_EQ(simple->version, beast.head.version()) << bytes;
    EXPECT_EQ(simple->keep_alive, beast.keep_alive) << bytes;
    EXPECT_EQ(simple->content_length, beast.content_length) << bytes;
  }
}

TEST(WriteClientResponseHead, HasTheFieldsOfTheFieldRewrite) {
  for (const auto& bytes : simple_heads()) {
    const auto simple = parse_simple_response(bytes);
    ASSERT_TRUE(simple) << bytes;
    const BeastResponse beast = beast_parse(bytes);
    for (unsigned client_version : {10u, 11u}) {
      for (bool keep_alive : {false, true}) {
        std::string written;
        write_client_response_head(bytes, *simple, client_version, keep_alive, written);
        const auto expected = reparse(rewritten_response(beast.head, client_version, keep_alive));
        const auto actual = reparse(written);
        EXPECT_EQ(actual.version(), expected.version()) << bytes;
        EXPECT_EQ(actual.result_int(), expected.result_int()) << bytes;
        EXPECT_EQ(actual.reason(), expected.reason()) << bytes;
        EXPECT_EQ(fields_of(actual), fields_of(expected)) << bytes << written;
      }
    }
  }
}

TEST(ParseSimpleResponse, LeavesEverythingElseToBeast) {
  const std::vector<std::string> heads = {
      // a field `Connection: close` removes
      "HTTP/1.1 200 OK\r\nClose: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Bad: a\x01"
      "b\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Bad: a\x7f"
      "b\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX Bad: a\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: a\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Bad : a\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
      "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
      "HTTP/1.1 600 Odd\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 099 Odd\r\nContent-Length: 1\r\n\r\n",
      "HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.2 200 OK\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1  200 OK\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\nContent-Length: 1\r\n\r\n",
      "http/1.1 200 OK\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: X-Private\r\nX-Private: 1\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nextra",
      "HTTP/1.1 200 OK\r\nProxy-Connection: keep-alive\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
      "HTTP/1.1 200 OK\r\nTE: a\r\nTE: b\r\nTE: c\r\nTE: d\r\nTE: e\r\nTE: f\r\nTE: g\r\nTE: h\r\n"
      "TE: i\r\n\r\n",
  };
  for (const auto& bytes : heads) EXPECT_FALSE(parse_simple_response(bytes)) << bytes;
}

// A simple head with one to three random bytes replaced, inserted or erased.
std::string damaged_simple_head(std::mt19937& random) {
  static const std::string alphabet =
      std::string("\r\n\t :,;=/\"()\x01\x7f\x80\xff") + "aAzZ09-_.+" + std::string(1, '\0');
  std::string bytes = simple_heads()[random() % simple_heads().size()];
  const int edits = 1 + static_cast<int>(random() % 3);
  for (int e = 0; e < edits && !bytes.empty(); ++e) {
    const std::size_t at = random() % bytes.size();
    const char c = alphabet[random() % alphabet.size()];
    switch (random() % 3) {
      case 0:
        bytes[at] = c;
        break;
      case 1:
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      default:
        bytes.erase(at, 1);
        break;
    }
  }
  return bytes;
}

// Random damage to simple heads: whatever the fast path still accepts, Beast reads the same way.
TEST(ParseSimpleResponse, NeverDisagreesWithBeastOnDamagedHeads) {
  std::mt19937 random(12345);
  int accepted = 0;
  for (int round = 0; round < 100000; ++round) {
    const std::string bytes = damaged_simple_head(random);
    const auto simple = parse_simple_response(bytes);
    if (!simple) continue;
    ++accepted;
    const BeastResponse beast = beast_parse(bytes);
    ASSERT_TRUE(beast.ok) << ::testing::PrintToString(bytes);
    EXPECT_EQ(simple->status, beast.head.result_int()) << ::testing::PrintToString(bytes);
    EXPECT_EQ(simple->version, beast.head.version()) << ::testing::PrintToString(bytes);
    EXPECT_EQ(simple->keep_alive, beast.keep_alive) << ::testing::PrintToString(bytes);
    EXPECT_EQ(simple->content_length, beast.content_length) << ::testing::PrintToString(bytes);
  }
  EXPECT_GT(accepted, 5000);  // the damage leaves many heads simple: the check had work to do
}

// --- the raw bytes of response heads --------------------------------------------------------

// Well-formed heads the fast path leaves to Beast: the raw check passes them.
TEST(ResponseHeadBytesValid, AcceptsStrictHeads) {
  for (const auto& bytes : simple_heads()) EXPECT_TRUE(response_head_bytes_valid(bytes)) << bytes;
  const std::vector<std::string> heads = {
      "HTTP/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 200 \r\n\r\n",
      "HTTP/1.0 200 \tReason\twith tabs and  spaces \r\n\r\n",
      "HTTP/1.1 200 caf\xc3\xa9 \x80\xff\r\nX-A: b\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
      "HTTP/1.2 600 Odd\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 000 Zero\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaces:   \r\nX-Tab:\ta\tb\r\n\r\n",
      "HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~0aZ: v\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A: \"quoted\", (comment); a=b\r\n\r\n",
      // trailing whitespace in a framing field: legal in a response (refused in a request)
      "HTTP/1.1 200 OK\r\nContent-Length: 1 \r\n\r\n",
      "HTTP/1.1 200 OK\r\ncontent-length: 1\t\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \r\n\r\n",
  };
  for (const auto& bytes : heads) EXPECT_TRUE(response_head_bytes_valid(bytes)) << bytes;
}

// Shapes that break a raw rule; Beast's parser reads several of them anyway.
const std::vector<std::string>& raw_refused_heads() {
  using namespace std::string_literals;  // for the NUL bytes
  static const std::vector<std::string> heads = {
      "",
      "\r\n",
      "HTTP/1.1 200 OK\r\n",                  // no empty line
      "HTTP/1.1 200 OK\r\n\r\nbody",          // bytes after it
      "HTTP/1.1 200 OK\r\nA: b\r\n",          // likewise
      "\r\nHTTP/1.1 200 OK\r\n\r\n",          // empty line first
      " HTTP/1.1 200 OK\r\n\r\n",             // leading space
      "HTTP/1.1 200 OK\n\n",                  // bare LF ends
      "HTTP/1.1 200 OK\nA: b\r\n\r\n",        // bare LF in the status line
      "HTTP/1.1 200 OK\r\nA: b\n\r\n",        // bare LF after a field
      "HTTP/1.1 200 OK\r\nA: b\r\n\n",        // bare LF as the empty line
      "HTTP/1.1 200 OK\r\nA: b\nc\r\n\r\n",   // bare LF inside a value
      "HTTP/1.1 200 O\rK\r\n\r\n",            // bare CR in the reason
      "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",   // bare CR in a value
      "HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n",    // CR CR LF
      "HTTP/1.1 200 OK\r\n\r\r\n",            // CR CR LF as the empty line
      "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n"s,  // NUL in a value
      "HTTP/1.1 200 O\0K\r\n\r\n"s,           // NUL in the reason
      "HTTP/1.1 200 OK\r\nA\0: b\r\n\r\n"s,   // NUL in a name
      "HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n",  // control byte in a value
      "HTTP/1.1 200 OK\r\nA: b\x1f\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA: b\x7f\r\n\r\n",  // DEL in a value
      "HTTP/1.1 200 O\x01K\r\n\r\n",          // control byte in the reason
      "HTTP/1.1 200 O\x7fK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",   // obs-fold with SP
      "HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n",  // obs-fold with HTAB
      "HTTP/1.1 200 OK\r\n A: b\r\n\r\n",        // whitespace before the first field
      "HTTP/1.1 200 OK\r\n \r\n\r\n",            // a whitespace line
      "HTTP/1.1 200 OK\r\nA : b\r\n\r\n",        // whitespace before the colon
      "HTTP/1.1 200 OK\r\nA\t: b\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: b\r\n\r\n",  // no name
      "HTTP/1.1 200 OK\r\nA b\r\n\r\n",  // no colon
      "HTTP/1.1 200 OK\r\nA\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA B: c\r\n\r\n",  // bytes that are no token in a name
      "HTTP/1.1 200 OK\r\nA(B): c\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA\"B: c\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA/B: c\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-\xc3\xa9: c\r\n\r\n",
      "HTTP/1.1 200\r\n\r\n",  // no SP after the status code
      "HTTP/1.1 200\tOK\r\n\r\n",
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.10 200 OK\r\n\r\n",
      "HTTP/1 200 OK\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.x 200 OK\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "HTTP/1.1\t200 OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
  };
  return heads;
}

TEST(ResponseHeadBytesValid, RefusesRawByteViolations) {
  for (const auto& bytes : raw_refused_heads()) {
    EXPECT_FALSE(response_head_bytes_valid(bytes)) << ::testing::PrintToString(bytes);
  }
}

// Every prefix of a head short of its end is incomplete, so refused.
TEST(ResponseHeadBytesValid, RefusesEveryTruncation) {
  const std::string head = "HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 1\r\n\r\n";
  ASSERT_TRUE(response_head_bytes_valid(head));
  for (std::size_t n = 0; n < head.size(); ++n) {
    EXPECT_FALSE(response_head_bytes_valid(std::string_view(head).substr(0, n))) << n;
  }
}

// The fast path reads no head the raw check refuses: the table, then random damage.
TEST(ParseSimpleResponse, RefusesWhatTheRawCheckRefuses) {
  for (const auto& bytes : raw_refused_heads()) {
    EXPECT_FALSE(parse_simple_response(bytes)) << ::testing::PrintToString(bytes);
  }
  std::mt19937 random(54321);
  int refused = 0;
  for (int round = 0; round < 100000; ++round) {
    const std::string bytes = damaged_simple_head(random);
    if (response_head_bytes_valid(bytes)) continue;
    ++refused;
    EXPECT_FALSE(parse_simple_response(bytes)) << ::testing::PrintToString(bytes);
  }
  EXPECT_GT(refused, 5000);  // the damage breaks many heads: the check had work to do
}

TEST(FindHeadEnd, FindsTheEmptyLineAcrossReads) {
  const std::string head = "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
  std::size_t scanned = 0;
  bool bare_lf = false;
  for (std::size_t n = 0; n < 24; ++n) {
    EXPECT_EQ(find_head_end(std::string_view(head).substr(0, n), scanned, bare_lf), 0u) << n;
    EXPECT_FALSE(bare_lf);
  }
  EXPECT_EQ(find_head_end(head, scanned, bare_lf), 25u);
}

TEST(FindHeadEnd, ReportsABareLineFeed) {
  std::size_t scanned = 0;
  bool bare_lf = false;
  EXPECT_EQ(find_head_end("HTTP/1.1 200 OK\nA: b\r\n\r\n", scanned, bare_lf), 0u);
  EXPECT_TRUE(bare_lf);
}

// An HTTP/2 request as an HTTP/1.1 upstream gets it: the authority as Host, the forwarding fields
// extended, what HTTP/1 must not get from HTTP/2 dropped, and the framing the proxy chose.
TEST(Http2ToHttp1, TheRequestHeadCarriesTheAuthorityAndTheForwardingFields) {
  const std::vector<HeaderField> fields{{"accept", "*/*"},
                                        {"host", "api.test"},
                                        {"te", "trailers"},
                                        {"content-length", "5"},
                                        {"x-forwarded-for", "10.0.0.1"},
                                        {"x-forwarded-proto", "forged"},
                                        {"via", "1.1 edge"},
                                        {"cookie", "a=1; b=2"}};
  UpstreamRequestOptions options;
  options.client_ip = "127.0.0.2";
  options.framing = {BodyFraming::Kind::length, 5};
  options.scheme = "https";
  std::string out;
  write_upstream_request_head(Http2RequestHead{"POST", "/p?q=1", "api.test", fields}, options, out);
  EXPECT_EQ(out,
            "POST /p?q=1 HTTP/1.1\r\nHost: api.test\r\naccept: */*\r\ncookie: a=1; b=2\r\n"
            "Content-Length: 5\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.2\r\n"
            "X-Forwarded-Proto: https\r\nVia: 1.1 edge, 2.0 bgproxy\r\n\r\n");

  out.clear();
  options.framing = {BodyFraming::Kind::chunked, 0};
  write_upstream_request_head(Http2RequestHead{"PUT", "/", "a", {}}, options, out);
  EXPECT_NE(out.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
}

// The HTTP/2 front's fast path reads a simple head's fields without Beast's parser.
TEST(Http2ToHttp1, ASimpleResponsesFieldsAreTheParsedHeadsFields) {
  for (const auto& bytes : simple_heads()) {
    const auto simple = parse_simple_response(bytes);
    ASSERT_TRUE(simple) << bytes;
    std::vector<HeaderField> expected;
    response_fields_for_http2(beast_parse(bytes).head, expected);
    EXPECT_EQ(testing::simple_fields_for_http2(bytes, *simple), expected) << bytes;
  }
}

// Found by the response fuzzer: Beast lists a repeated name's fields together, the fast path in
// the head's order; each name's values keep their order either way.
TEST(Http2ToHttp1, ASimpleResponsesRepeatedFieldsKeepTheHeadsOrder) {
  const std::string bytes =
      "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nContent-Length: 0\r\n\r\n";
  const auto simple = parse_simple_response(bytes);
  ASSERT_TRUE(simple);
  const std::vector<HeaderField> expected{
      {"x-a", "1"}, {"x-b", "2"}, {"x-a", "3"}, {"content-length", "0"}, {"via", "1.1 bgproxy"}};
  EXPECT_EQ(testing::simple_fields_for_http2(bytes, *simple), expected);
}

TEST(Http2ToHttp1, TheResponseFieldsLoseWhatHttp2MustNotCarry) {
  http::response_header<> head;
  head.version(11);
  head.result(200);
  head.insert("Content-Type", "text/plain");
  head.insert("Connection", "keep-alive, X-Private");
  head.insert("X-Private", "secret");
  head.insert("Keep-Alive", "timeout=5");
  head.insert("Transfer-Encoding", "chunked");
  head.insert("Set-Cookie", "a=1");
  head.insert("Set-Cookie", "b=2");
  head.insert("Via", "1.0 origin");
  std::vector<HeaderField> fields;
  response_fields_for_http2(head, fields);
  const std::vector<HeaderField> expected{{"content-type", "text/plain"},
                                          {"set-cookie", "a=1"},
                                          {"set-cookie", "b=2"},
                                          {"via", "1.0 origin, 1.1 bgproxy"}};
  EXPECT_EQ(fields, expected);
}

TEST(Http2Upstream, AnHttp2RequestKeepsItsFieldsButHost) {
  const std::vector<HeaderField> fields{{"accept", "*/*"},
                                        {"host", "api.test"},
                                        {"te", "trailers"},
                                        {"content-type", "application/grpc"},
                                        {"expect", "100-continue"},
                                        {"x-forwarded-for", "10.0.0.1"},
                                        {"x-forwarded-proto", "forged"},
                                        {"via", "2 edge"}};
  UpstreamRequestOptions options;
  options.client_ip = "127.0.0.2";
  options.scheme = "https";
  std::vector<HeaderField> out;
  http2_upstream_fields(fields, options, out);
  const std::vector<HeaderField> expected{{"accept", "*/*"},
                                          {"te", "trailers"},
                                          {"content-type", "application/grpc"},
                                          {"x-forwarded-for", "10.0.0.1, 127.0.0.2"},
                                          {"x-forwarded-proto", "https"},
                                          {"via", "2 edge, 2.0 bgproxy"}};
  EXPECT_EQ(out, expected);
}

TEST(Http2Upstream, AnHttp1RequestLosesItsHopByHopFieldsAndNamesItsLength) {
  http::request_header<> head;
  head.version(11);
  head.method(http::verb::post);
  head.target("/p");
  head.insert("Host", "api.test");
  head.insert("Connection", "keep-alive, X-Private");
  head.insert("X-Private", "secret");
  head.insert("Keep-Alive", "timeout=5");
  head.insert("TE", "trailers, deflate");
  head.insert("Transfer-Encoding", "chunked");
  head.insert("Upgrade", "websocket");
  head.insert("Cookie", "a=1; b=2");
  head.insert("X-Forwarded-Proto", "forged");
  UpstreamRequestOptions options;
  options.client_ip = "127.0.0.2";
  options.framing = {BodyFraming::Kind::length, 5};
  std::vector<HeaderField> out;
  http2_upstream_fields(head, options, out);
  const std::vector<HeaderField> expected{{"te", "trailers"},
                                          {"cookie", "a=1; b=2"},
                                          {"content-length", "5"},
                                          {"x-forwarded-for", "127.0.0.2"},
                                          {"x-forwarded-proto", "http"},
                                          {"via", "1.1 bgproxy"}};
  EXPECT_EQ(out, expected);

  out.clear();
  options.framing = {BodyFraming::Kind::chunked, 0};  // HTTP/2 frames it: no length, no coding
  http::request_header<> get;
  get.method(http::verb::get);
  get.insert("TE", "gzip");
  http2_upstream_fields(get, options, out);
  for (const auto& field : out) {
    EXPECT_NE(field.name, "content-length");
    EXPECT_NE(field.name, "te") << "only `te: trailers` may cross into HTTP/2";
  }
}

TEST(Http2Upstream, TheClientsHeadTakesTheFramingItIsGiven) {
  const std::vector<HeaderField> fields{
      {"content-type", "application/json"}, {"content-length", "99"}, {"via", "2 origin"}};
  std::string out;
  write_client_head_for_http2(200, fields, {BodyFraming::Kind::chunked, 0}, 11, true, out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nVia: 2 origin, 2.0 bgproxy\r\n\r\n");
  out.clear();
  write_client_head_for_http2(404, {}, {BodyFraming::Kind::length, 0}, 10, true, out);
  EXPECT_EQ(out,
            "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nVia: 2.0 bgproxy\r\n"
            "Connection: keep-alive\r\n\r\n");
  out.clear();
  write_client_head_for_http2(204, {}, {}, 11, false, out);
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\nVia: 2.0 bgproxy\r\nConnection: close\r\n\r\n");
}

}  // namespace
}  // namespace bgp
