// The strict reading of request heads (proxy/http1/request_head.h): every refused shape of the
// hardening table with its status, the shapes that pass, and the body-side limits of the parser it
// prepares.
#include "proxy/http1/request_head.h"

#include <array>
#include <iterator>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "proxy/refused_heads.h"

namespace bgp {
namespace {

using boost::system::error_code;
using namespace bgp::testing;  // the table of refused heads and its limits

struct Outcome {
  std::optional<http::status> refusal;
  BodyFraming framing;
  std::string target;
  std::string host;
  std::size_t head_size = 0;
};

// What the session does with the start of a connection: find the head, then read it.
Outcome read(std::string_view bytes, HeadLimits limits = {}) {
  const HeadScan scan = scan_request_head(bytes, {}, limits);
  if (scan.refusal) return {scan.refusal, {}, {}, {}, 0};
  if (scan.end == 0) {
    ADD_FAILURE() << "incomplete head";
    return {};
  }
  RequestParser parser;
  const HeadVerdict verdict = read_request_head(bytes.substr(0, scan.end), limits, parser);
  Outcome outcome{verdict.refusal, verdict.framing, {}, {}, scan.end};
  if (!verdict.refusal) {
    outcome.target = std::string(parser.get().target());
    outcome.host = std::string(parser.get()[http::field::host]);
  }
  return outcome;
}

// Feeds `body` to a parser that accepted its head, as the session does; the first error.
error_code feed_body(RequestParser& parser, std::string_view body) {
  std::array<char, 256> sink;
  while (!parser.is_done()) {
    parser.get().body() = {sink.data(), sink.size(), true};
    error_code ec;
    const auto used = parser.put(boost::asio::buffer(body.data(), body.size()), ec);
    body.remove_prefix(used);
    if (ec == http::error::need_buffer) continue;
    if (ec) return ec;
    if (used == 0) return http::error::need_more;
  }
  return {};
}

error_code body_error(std::string_view head, std::string_view body, HeadLimits limits = {}) {
  RequestParser parser;
  const HeadVerdict verdict = read_request_head(head, limits, parser);
  if (verdict.refusal) return http::error::bad_value;
  return feed_body(parser, body);
}

class RefusedHead : public ::testing::TestWithParam<Shape> {};

TEST_P(RefusedHead, GetsItsStatus) {
  EXPECT_EQ(read(GetParam().bytes, small_limits()).refusal, GetParam().status);
}

INSTANTIATE_TEST_SUITE_P(Table, RefusedHead, ::testing::ValuesIn(refused_heads()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ReadRequestHead, AcceptsPlainRequests) {
  auto outcome = read("GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nX-Empty:\r\n\r\nrest");
  EXPECT_FALSE(outcome.refusal);
  EXPECT_EQ(outcome.framing, BodyFraming{});
  EXPECT_EQ(outcome.target, "/a?b=c");
  EXPECT_EQ(outcome.head_size, std::string_view("GET /a?b=c HTTP/1.1\r\nHost: example.com:8080"
                                                "\r\nX-Empty:\r\n\r\n")
                                   .size());

  outcome = read("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n");
  EXPECT_FALSE(outcome.refusal);
  EXPECT_EQ(outcome.framing.kind, BodyFraming::Kind::chunked);

  outcome = read("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0012\r\n\r\n");
  EXPECT_FALSE(outcome.refusal);
  EXPECT_EQ(outcome.framing, (BodyFraming{BodyFraming::Kind::length, 12}));

  EXPECT_FALSE(read("GET / HTTP/1.0\r\n\r\n").refusal);  // HTTP/1.0 needs no Host
  EXPECT_FALSE(read("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").refusal);
  EXPECT_FALSE(read("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").refusal);
  EXPECT_FALSE(read("GET / HTTP/1.1\r\nHost: 10.0.0.1\r\nX-Obs: caf\xc3\xa9\r\n\r\n").refusal);
  EXPECT_FALSE(read("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n").refusal);
}

TEST(ReadRequestHead, DuplicateIdenticalLengthsFrameOnce) {
  const auto outcome =
      read("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  EXPECT_FALSE(outcome.refusal);
  EXPECT_EQ(outcome.framing, (BodyFraming{BodyFraming::Kind::length, 5}));
}

TEST(ReadRequestHead, AbsoluteFormBecomesOriginFormWithItsAuthorityAsHost) {
  auto outcome = read("GET http://Example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_FALSE(outcome.refusal);
  EXPECT_EQ(outcome.target, "/p?q=1");
  EXPECT_EQ(outcome.host, "Example.com:8080");

  outcome = read("GET HTTP://example.com?q HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_FALSE(outcome.refusal);
  EXPECT_EQ(outcome.target, "/?q");
  EXPECT_EQ(outcome.host, "example.com");
}

// Found by the fuzz target (tests/fuzz/regressions/absolute-form-http10-adds-host): on HTTP/1.0
// an absolute form without Host adds the field, so a head may hold one field more than it came
// with.
TEST(ReadRequestHead, AbsoluteFormOnHttp10WithoutHostGetsOne) {
  HeadLimits limits;
  limits.max_fields = 1;
  RequestParser parser;
  const std::string_view head = "GET http://[::1]:8/p HTTP/1.0\r\nX-A: b\r\n\r\n";
  const HeadVerdict verdict = read_request_head(head, limits, parser);
  EXPECT_FALSE(verdict.refusal);
  EXPECT_EQ(parser.get()[http::field::host], "[::1]:8");
  EXPECT_EQ(std::distance(parser.get().begin(), parser.get().end()), 2);
}

// Found by the fuzz target (tests/fuzz/regressions/repeated-fields-grouped-by-name): Beast keeps
// the order of fields of one name but moves a repeated field next to the first of its name.
TEST(ReadRequestHead, RepeatedFieldsKeepTheirOrderPerName) {
  RequestParser parser;
  const HeadVerdict verdict =
      read_request_head("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nA: 3\r\n\r\n", {}, parser);
  ASSERT_FALSE(verdict.refusal);
  std::string order;
  for (const auto& field : parser.get()) order += std::string(field.value());
  EXPECT_EQ(order, "h132");
}

// Found by the fuzz target under ASan
// (tests/fuzz/regressions/scheme-case-differs-at-end-of-target): Beast 1.81's iequals read one byte
// past a target that ends right after "Http://".
TEST(ReadRequestHead, SchemeComparedWithinTheTarget) {
  RequestParser parser;
  EXPECT_EQ(read_request_head("E. Http:// HTTP/1.1\r\nHost:x\r\n\r\n", {}, parser).refusal, kBad);
}

TEST(ReadRequestHead, LimitsAreExactlyAtTheirBounds) {
  const HeadLimits limits = small_limits();
  const std::string line = "GET /" + std::string(100 - 14, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 100u);
  EXPECT_FALSE(read(get_line(line), limits).refusal);
  // 200 bytes of field lines: "Host: x\r\n" (9) + "X: " + 186 + "\r\n" (191).
  EXPECT_FALSE(read("GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(186, 'v') + "\r\n\r\n", limits)
                   .refusal);
  EXPECT_EQ(
      read("GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(187, 'v') + "\r\n\r\n", limits).refusal,
      http::status::request_header_fields_too_large);
  EXPECT_FALSE(read(post("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"), limits).refusal);  // 5 fields
}

TEST(ScanRequestHead, FindsTheEndAcrossReads) {
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
  HeadScan scan;
  for (std::size_t n = 1; n <= head.size() && scan.end == 0; ++n) {
    scan = scan_request_head(std::string_view(head).substr(0, n), scan, {});
    ASSERT_FALSE(scan.refusal);
  }
  EXPECT_EQ(scan.end, head.size() - 4);
  EXPECT_EQ(scan.line_end, 16u);
}

TEST(ScanRequestHead, TellsALongRequestLineFromALargeHeaderBlock) {
  const HeadLimits limits = small_limits();
  // Without an end of line in sight: which limit a head breaks shows before it is complete.
  EXPECT_EQ(scan_request_head("GET /" + std::string(200, 'a'), {}, limits).refusal,
            http::status::uri_too_long);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nX: " + std::string(300, 'a'), {}, limits).refusal,
            http::status::request_header_fields_too_large);
  EXPECT_FALSE(
      scan_request_head("GET / HTTP/1.1\r\nX: " + std::string(150, 'a'), {}, limits).refusal);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\nHost: a\n\n", {}, limits).refusal, kBad);
}

// A line over a limit that ends in a bare LF: read whole, the LF used to be seen first (400);
// read a byte at a time, the limit was (414, 431). The limit wins either way now.
TEST(ScanRequestHead, ALimitWinsOverABareLfPastItWhereverReadsStop) {
  const HeadLimits limits = small_limits();
  const std::string long_line = "GET /" + std::string(120, 'a') + " HTTP/1.1\nHost: x\r\n\r\n";
  const std::string large_block = post("X-A: " + std::string(195, 'a') + "\n");
  for (const auto& [head, status] :
       {std::pair{long_line, http::status::uri_too_long},
        std::pair{large_block, http::status::request_header_fields_too_large}}) {
    EXPECT_EQ(scan_request_head(head, {}, limits).refusal, status) << head;
    HeadScan scan;
    for (std::size_t n = 1; n <= head.size() && !scan.refusal; ++n) {
      scan = scan_request_head(std::string_view(head).substr(0, n), scan, limits);
    }
    EXPECT_EQ(scan.refusal, status) << head;
  }
  // Within the limits a bare LF is still a 400, however it arrives.
  EXPECT_EQ(scan_request_head(post("X-A: b\n"), {}, limits).refusal, kBad);
}

TEST(LeadingEmptyLines, CountsWholeLinesOnly) {
  EXPECT_EQ(leading_empty_lines("\r\n\r\nGET"), 4u);
  EXPECT_EQ(leading_empty_lines("\r"), 0u);
  EXPECT_EQ(leading_empty_lines("GET"), 0u);
}

TEST(IsValidHost, FollowsTheUriGrammar) {
  for (const char* good : {"a", "example.com", "a-b.c_d~e", "a:1", "a:65535", "10.0.0.1:80",
                           "[::1]", "[::ffff:10.0.0.1]:8080", "%41b"}) {
    EXPECT_TRUE(is_valid_host(good)) << good;
  }
  for (const char* bad : {"", ":80", "a:", "a:b", "a:123456", "a b", "a@b", "a/b", "[::1", "[]",
                          "[::1]x", "[x]", "%4", "%zz", "a\tb"}) {
    EXPECT_FALSE(is_valid_host(bad)) << bad;
  }
}

TEST(IsValidHost, AcceptsIpLiteralsOfRfc3986) {
  for (const char* good :
       {"[::1]", "[::1]:8080", "[2001:db8::1]", "[::ffff:192.0.2.1]", "[1:2:3:4:5:6:7:8]",
        "[v1.fe]", "[::]", "[1::]", "[1:2:3:4:5:6:7::]", "[::2:3:4:5:6:7:8]", "[1:2:3:4:5:6::8]",
        "[ABCD:ef01::]", "[1:2:3:4:5:6:0.0.0.0]", "[::255.255.255.255]", "[1:2:3:4:5::10.0.0.1]",
        "[V1F.a:b!$&'()*+,;=-._~]", "[::1]:65535"}) {
    EXPECT_TRUE(is_valid_host(good)) << good;
  }
}

TEST(IsValidHost, RefusesMalformedIpLiterals) {
  for (const char* bad :
       {"[::1", "[]", "[:::1]", "[1::2::3]", "[1:2:3:4:5:6:7:8:9]", "[12345::]", "[::1%25eth0]",
        "[::ffff:256.0.0.1]", "[::1]x", "[::1]:80a", "[g::1]", "[::ffff:01.2.3.4]",
        // more of the grammar's edges
        "[::1]:", "[::1]:65536", "[::1]]", "[[::1]]", "[1:2:3:4:5:6:7]", "[1:2:3:4:5:6:7:8::]",
        "[::1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7::8]", "[:1::]", "[1:]", "[1::2:]", "[:]",
        "[1:2:3:4:5:6::1.2.3.4]", "[1.2.3.4]", "[1.2.3.4::]", "[::1.2.3]", "[::1.2.3.4.5]",
        "[::1.2.3.4:1]", "[::1..3.4]", "[::1.2.3.1000]", "[::fe80%eth0]", "[v.fe]", "[v1.]",
        "[v1fe]", "[vg.fe]", "[v1.f/e]", "[v1.f@e]", "[ ::1]"}) {
    EXPECT_FALSE(is_valid_host(bad)) << bad;
  }
}

// An absolute-form authority is held to the same grammar, then becomes Host.
TEST(ReadRequestHead, AbsoluteFormWithIpLiteralAuthority) {
  auto outcome = read("GET http://[2001:db8::1]:8080/p HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_FALSE(outcome.refusal);
  EXPECT_EQ(outcome.target, "/p");
  EXPECT_EQ(outcome.host, "[2001:db8::1]:8080");
  for (const char* authority : {"[::1", "[1::2::3]", "[::1]:80a", "[::ffff:01.2.3.4]", "[::1]:"}) {
    EXPECT_EQ(read(get_line(std::string("GET http://") + authority + "/ HTTP/1.1")).refusal, kBad)
        << authority;
  }
}

// --- the body, read by the parser the head left ready ------------------------------------------

constexpr std::string_view kChunkedHead =
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(RequestBody, PlainChunksPass) {
  EXPECT_FALSE(body_error(kChunkedHead, "5\r\nhello\r\n5;name=value\r\nworld\r\n0\r\n\r\n"));
}

TEST(RequestBody, ChunkSizeMustBePlainHex) {
  for (const char* bad :
       {"0x5\r\nhello\r\n0\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n", " 5\r\nhello\r\n0\r\n\r\n",
        "5 \r\nhello\r\n0\r\n\r\n", "10000000000000000\r\n", "5\nhello\r\n0\r\n\r\n"}) {
    const auto ec = body_error(kChunkedHead, bad);
    EXPECT_TRUE(ec && ec != http::error::need_more) << bad;
  }
}

TEST(RequestBody, ChunkExtensionsOver4KiBAreRefused) {
  const std::string fits = "1;" + std::string(kMaxChunkExtensions - 1, 'e') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_FALSE(body_error(kChunkedHead, fits));
  const std::string over = "1;" + std::string(kMaxChunkExtensions, 'e') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_EQ(body_error(kChunkedHead, over), http::error::bad_chunk_extension);
}

TEST(RequestBody, ChunkedBodyOverTheLimitIsRefused) {
  HeadLimits limits;
  limits.max_body_bytes = 10;
  EXPECT_FALSE(body_error(kChunkedHead, "a\r\n0123456789\r\n0\r\n\r\n", limits));
  EXPECT_EQ(body_error(kChunkedHead, "a\r\n0123456789\r\n1\r\nx\r\n0\r\n\r\n", limits),
            http::error::body_limit);
}

TEST(RequestBody, FramingFieldsInTrailersAreRefused) {
  EXPECT_FALSE(body_error(kChunkedHead, "1\r\nx\r\n0\r\nX-Checksum: 1\r\n\r\n"));
  EXPECT_TRUE(body_error(kChunkedHead, "1\r\nx\r\n0\r\nContent-Length: 1\r\n\r\n"));
  EXPECT_TRUE(body_error(kChunkedHead, "1\r\nx\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

TEST(RequestBody, TrailersAreNotAddedToTheHead) {
  RequestParser parser;
  ASSERT_FALSE(read_request_head(kChunkedHead, {}, parser).refusal);
  EXPECT_FALSE(feed_body(parser, "1\r\nx\r\n0\r\nHost: evil\r\nX-Checksum: 1\r\n\r\n"));
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(parser.get().count(http::field::host), 1u);
  EXPECT_EQ(parser.get()[http::field::host], "x");
  EXPECT_EQ(parser.get().count("X-Checksum"), 0u);
}

TEST(IsFramingRefusal, CoversTheRefusalsAndNothingElse) {
  for (auto status :
       {http::status::bad_request, http::status::payload_too_large, http::status::uri_too_long,
        http::status::expectation_failed, http::status::request_header_fields_too_large,
        http::status::not_implemented, http::status::http_version_not_supported}) {
    EXPECT_TRUE(is_framing_refusal(status)) << status;
  }
  for (auto status : {http::status::ok, http::status::request_timeout, http::status::bad_gateway,
                      http::status::service_unavailable}) {
    EXPECT_FALSE(is_framing_refusal(status)) << status;
  }
}

TEST(StatusForParseError, MapsLimits) {
  EXPECT_EQ(status_for_parse_error(http::error::header_limit),
            http::status::request_header_fields_too_large);
  EXPECT_EQ(status_for_parse_error(http::error::body_limit), http::status::payload_too_large);
  EXPECT_EQ(status_for_parse_error(http::error::bad_field), http::status::bad_request);
}

}  // namespace
}  // namespace bgp
