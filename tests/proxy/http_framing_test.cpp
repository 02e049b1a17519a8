#include "proxy/http1/http_framing.h"

#include <gtest/gtest.h>

namespace bgp {
namespace {

http::response_header<> response_with(
    unsigned status, std::initializer_list<std::pair<const char*, const char*>> fields,
    unsigned version = 11) {
  http::response_header<> head;
  head.result(status);
  head.version(version);
  for (const auto& [name, value] : fields) head.insert(name, value);
  return head;
}

TEST(IsAcceptableResponse, AcceptsPlainFraming) {
  EXPECT_TRUE(is_acceptable_response(response_with(200, {})));
  EXPECT_TRUE(is_acceptable_response(response_with(200, {{"Content-Length", "5"}})));
  EXPECT_TRUE(is_acceptable_response(response_with(200, {{"Transfer-Encoding", "chunked"}})));
  EXPECT_TRUE(is_acceptable_response(response_with(204, {}, 10)));
}

TEST(IsAcceptableResponse, RefusesAmbiguousFramingAndBadStatusLines) {
  EXPECT_FALSE(is_acceptable_response(
      response_with(200, {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}})));
  EXPECT_FALSE(is_acceptable_response(response_with(200, {{"Transfer-Encoding", "gzip"}})));
  EXPECT_FALSE(
      is_acceptable_response(response_with(200, {{"Transfer-Encoding", "gzip, chunked"}})));
  EXPECT_FALSE(is_acceptable_response(
      response_with(200, {{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}})));
  EXPECT_FALSE(is_acceptable_response(response_with(200, {{"Transfer-Encoding", "chunked"}}, 10)));
  EXPECT_FALSE(is_acceptable_response(response_with(99, {})));
  EXPECT_FALSE(is_acceptable_response(response_with(600, {})));
  EXPECT_FALSE(is_acceptable_response(response_with(200, {}, 20)));
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

// Of every field Beast knows, exactly the hop-by-hop ones go (when Beast's enum was the list).
TEST(StripHopByHop, RemovesExactlyTheHopByHopFieldsOfBeastsList) {
  const auto last = static_cast<unsigned>(http::field::xref);
  for (bool upgrading : {false, true}) {
    http::fields fields;
    for (unsigned f = 1; f <= last; ++f) fields.insert(static_cast<http::field>(f), "v");
    strip_hop_by_hop(fields, upgrading);
    for (unsigned f = 1; f <= last; ++f) {
      const auto field = static_cast<http::field>(f);
      const bool hop = field == http::field::connection || field == http::field::keep_alive ||
                       field == http::field::proxy_connection || field == http::field::te ||
                       field == http::field::trailer || field == http::field::upgrade;
      const bool kept = (upgrading && field == http::field::upgrade) ||
                        (upgrading && field == http::field::connection) || !hop;
      EXPECT_EQ(fields.count(field), kept ? 1u : 0u) << http::to_string(field);
    }
  }
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
  fields.insert("X-Forwarded-Proto", "http");
  add_forwarding_headers(fields, "127.0.0.1", 11, "https");
  EXPECT_EQ(fields["X-Forwarded-For"], "10.0.0.1, 10.0.0.2, 127.0.0.1");
  EXPECT_EQ(fields.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(fields["X-Forwarded-Proto"], "https") << "the scheme given, not the client's";
  EXPECT_EQ(fields.count("X-Forwarded-Proto"), 1u);
  EXPECT_EQ(fields["Via"], "1.1 edge, 1.1 bgproxy");
}

TEST(ErrorResponse, SaysWhatHappened) {
  const auto response = make_error_response(http::status::bad_gateway, 11, false);
  EXPECT_EQ(response.result(), http::status::bad_gateway);
  EXPECT_EQ(response.body(), "502 Bad Gateway\n");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(response[http::field::content_length], "16");
}

TEST(AsksForH2c, FindsTheTokenInAnyUpgradeField) {
  http::request_header<> head;
  EXPECT_FALSE(asks_for_h2c(head));
  head.insert(http::field::upgrade, "websocket");
  EXPECT_FALSE(asks_for_h2c(head));
  head.insert(http::field::upgrade, "foo, H2C");
  EXPECT_TRUE(asks_for_h2c(head));
}

}  // namespace
}  // namespace bgp
