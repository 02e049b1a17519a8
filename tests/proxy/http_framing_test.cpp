#include "proxy/http_framing.h"

#include <gtest/gtest.h>
#include <boost/beast/http/error.hpp>

namespace bgp {
namespace {

http::request_header<> head_with(std::initializer_list<std::pair<const char*, const char*>> fields,
                                 unsigned version = 11) {
  http::request_header<> head;
  head.method(http::verb::post);
  head.target("/");
  head.version(version);
  for (const auto& [name, value] : fields) head.insert(name, value);
  return head;
}

TEST(CheckRequestFraming, AcceptsPlainShapes) {
  EXPECT_FALSE(check_request_framing(head_with({})));
  EXPECT_FALSE(check_request_framing(head_with({{"Content-Length", "5"}})));
  EXPECT_FALSE(
      check_request_framing(head_with({{"Content-Length", "5"}, {"Content-Length", "5"}})));
  EXPECT_FALSE(check_request_framing(head_with({{"Transfer-Encoding", "chunked"}})));
  EXPECT_FALSE(check_request_framing(head_with({{"Transfer-Encoding", "gzip, Chunked"}})));
}

TEST(CheckRequestFraming, RefusesSmugglingShapes) {
  const auto bad = http::status::bad_request;
  EXPECT_EQ(
      check_request_framing(head_with({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}})),
      bad);
  EXPECT_EQ(check_request_framing(head_with({{"Transfer-Encoding", "chunked, gzip"}})), bad);
  EXPECT_EQ(check_request_framing(head_with({{"Transfer-Encoding", "chunked, chunked"}})), bad);
  EXPECT_EQ(check_request_framing(
                head_with({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}})),
            bad);
  EXPECT_EQ(check_request_framing(head_with({{"Transfer-Encoding", "identity"}})), bad);
  EXPECT_EQ(check_request_framing(head_with({{"Transfer-Encoding", "chunked"}}, 10)), bad);
  EXPECT_EQ(check_request_framing(head_with({{"Content-Length", "5"}, {"Content-Length", "6"}})),
            bad);
  EXPECT_EQ(check_request_framing(head_with({{"Content-Length", "5, 6"}})), bad);
  EXPECT_EQ(check_request_framing(head_with({{"Content-Length", "-1"}})), bad);
  EXPECT_EQ(check_request_framing(head_with({{"Content-Length", "0x10"}})), bad);
  EXPECT_EQ(check_request_framing(head_with({{"Content-Length", ""}})), bad);
}

TEST(ScanRequestHead, FindsTheEndAcrossReads) {
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
  auto scan = scan_request_head(std::string_view(head).substr(0, 20), 0);
  EXPECT_EQ(scan.end, 0u);
  scan = scan_request_head(head, scan.scanned);
  EXPECT_EQ(scan.end, head.size() - 4);
  EXPECT_FALSE(scan.malformed);
}

TEST(ScanRequestHead, BareLineFeedIsMalformed) {
  EXPECT_TRUE(scan_request_head("GET / HTTP/1.1\nHost: a\n\n", 0).malformed);
}

TEST(CheckRawRequestHead, RefusesObsFold) {
  EXPECT_FALSE(check_raw_request_head("GET / HTTP/1.1\r\nA: b\r\n\r\n"));
  EXPECT_EQ(check_raw_request_head("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"),
            http::status::bad_request);
  EXPECT_EQ(check_raw_request_head("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n"),
            http::status::bad_request);
}

TEST(LeadingEmptyLines, CountsWholeLinesOnly) {
  EXPECT_EQ(leading_empty_lines("\r\n\r\nGET"), 4u);
  EXPECT_EQ(leading_empty_lines("\r"), 0u);
  EXPECT_EQ(leading_empty_lines("GET"), 0u);
}

TEST(StripHopByHop, RemovesListedAndStandardHopHeaders) {
  http::fields fields;
  fields.insert("Connection", "keep-alive, X-Secret, Content-Length, Host");
  fields.insert("Connection", "close");
  fields.insert("X-Secret", "s");
  fields.insert("Keep-Alive", "timeout=5");
  fields.insert("Proxy-Connection", "keep-alive");
  fields.insert("TE", "trailers");
  fields.insert("Trailer", "X-Checksum");
  fields.insert("Upgrade", "websocket");
  fields.insert("Content-Length", "3");
  fields.insert("Host", "a");
  fields.insert("X-End-To-End", "yes");
  strip_hop_by_hop(fields, false);
  for (const char* gone :
       {"Connection", "X-Secret", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade"}) {
    EXPECT_EQ(fields.count(gone), 0u) << gone;
  }
  EXPECT_EQ(fields["Content-Length"], "3");  // framing is never removed through Connection
  EXPECT_EQ(fields["Host"], "a");
  EXPECT_EQ(fields["X-End-To-End"], "yes");
}

TEST(StripHopByHop, KeepsUpgradeWhenUpgrading) {
  http::fields fields;
  fields.insert("Connection", "Upgrade, keep-alive");
  fields.insert("Upgrade", "websocket");
  strip_hop_by_hop(fields, true);
  EXPECT_EQ(fields["Upgrade"], "websocket");
  EXPECT_EQ(fields["Connection"], "upgrade");
}

TEST(ForwardingHeaders, AppendToExistingValues) {
  http::fields fields;
  fields.insert("X-Forwarded-For", "10.0.0.1");
  fields.insert("X-Forwarded-For", "10.0.0.2");
  fields.insert("Via", "1.1 edge");
  fields.insert("X-Forwarded-Proto", "https");
  add_forwarding_headers(fields, "127.0.0.1", 11);
  EXPECT_EQ(fields["X-Forwarded-For"], "10.0.0.1, 10.0.0.2, 127.0.0.1");
  EXPECT_EQ(fields.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(fields["X-Forwarded-Proto"], "http");
  EXPECT_EQ(fields["Via"], "1.1 edge, 1.1 bgproxy");
}

TEST(ErrorResponse, SaysWhatHappened) {
  const auto response = make_error_response(http::status::bad_gateway, 11, false);
  EXPECT_EQ(response.result(), http::status::bad_gateway);
  EXPECT_EQ(response.body(), "502 Bad Gateway\n");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(response[http::field::content_length], "16");
}

TEST(StatusForParseError, MapsLimits) {
  EXPECT_EQ(status_for_parse_error(http::error::header_limit),
            http::status::request_header_fields_too_large);
  EXPECT_EQ(status_for_parse_error(http::error::body_limit), http::status::payload_too_large);
  EXPECT_EQ(status_for_parse_error(http::error::bad_field), http::status::bad_request);
}

}  // namespace
}  // namespace bgp
