#include "proxy/http1/syntax.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace bgp::http1 {
namespace {

TEST(Http1Syntax, CharacterClasses) {
  for (char c : std::string_view("!#$%&'*+-.^_`|~09azAZ")) EXPECT_TRUE(is_token_char(c)) << c;
  for (char c : std::string_view(" \t\"(),/:;<=>?@[\\]{}\r\n\x7f\x80")) {
    EXPECT_FALSE(is_token_char(c)) << static_cast<int>(c);
  }
  EXPECT_TRUE(is(kFieldValue, ' '));
  EXPECT_TRUE(is(kFieldValue, '\t'));
  EXPECT_TRUE(is(kFieldValue, '~'));
  EXPECT_TRUE(is(kFieldValue, '\x80'));
  EXPECT_TRUE(is(kFieldValue, '\xff'));
  for (char c : std::string_view("\r\n\x7f\x01", 5)) EXPECT_FALSE(is(kFieldValue, c));
  EXPECT_TRUE(is(kHex, 'f'));
  EXPECT_TRUE(is(kHex, 'F'));
  EXPECT_FALSE(is(kHex, 'g'));
  EXPECT_TRUE(is(kHost, '~'));
  EXPECT_TRUE(is(kHost, '='));
  EXPECT_FALSE(is(kHost, '%'));  // pct-encoding is checked as a sequence
  EXPECT_FALSE(is(kHost, ':'));
  static_assert(is_digit('0') && is_digit('9') && !is_digit('a'));
}

TEST(Http1Syntax, TrimRemovesOnlySpacesAndTabs) {
  EXPECT_EQ(trim(" \t a b \t "), "a b");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(trim("\r\nx\r\n"), "\r\nx\r\n");
  static_assert(trim("  x ") == "x");
}

TEST(Http1Syntax, IequalsComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("chunked", "chunke"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("[", "{"));  // 0x5b and 0x7b differ by the case bit, but are not letters
  EXPECT_FALSE(iequals("\xc4", "\xe4"));  // no case outside ASCII
  static_assert(iequals("HTTP://", "http://"));
}

// Beast 1.81's iequals read one byte past both strings when their last characters differed in
// case only; strings ending at the end of their own allocation make ASan see such a read.
TEST(Http1Syntax, IequalsReadsNothingPastItsInputs) {
  const auto exact = [](std::string_view text) {
    auto bytes = std::make_unique<char[]>(text.size());
    std::copy(text.begin(), text.end(), bytes.get());
    return bytes;
  };
  const auto upper = exact("HTTP://");
  const auto lower = exact("http://");
  EXPECT_TRUE(iequals({upper.get(), 7}, {lower.get(), 7}));
  const auto a = exact("xA");
  const auto b = exact("xa");
  EXPECT_TRUE(iequals({a.get(), 2}, {b.get(), 2}));
}

TEST(Http1Syntax, ParseLengthTakesOnlyPlainDigits) {
  EXPECT_EQ(parse_length("0"), 0u);
  EXPECT_EQ(parse_length("42"), 42u);
  EXPECT_EQ(parse_length("007"), 7u);
  EXPECT_EQ(parse_length("999999999999999999"), 999999999999999999u);  // 18 digits
  EXPECT_EQ(parse_length("1000000000000000000"), std::nullopt);        // 19 digits
  EXPECT_EQ(parse_length(""), std::nullopt);
  EXPECT_EQ(parse_length("+1"), std::nullopt);
  EXPECT_EQ(parse_length("-1"), std::nullopt);
  EXPECT_EQ(parse_length(" 1"), std::nullopt);
  EXPECT_EQ(parse_length("1 "), std::nullopt);
  EXPECT_EQ(parse_length("1,1"), std::nullopt);
  EXPECT_EQ(parse_length("0x10"), std::nullopt);
}

TEST(Http1Syntax, ConnectionCannotRemoveFramingOrHost) {
  for (bool upgrading : {false, true}) {
    EXPECT_FALSE(removable_by_connection("Content-Length", upgrading));
    EXPECT_FALSE(removable_by_connection("transfer-encoding", upgrading));
    EXPECT_FALSE(removable_by_connection("HOST", upgrading));
    EXPECT_FALSE(removable_by_connection("connection", upgrading));
    EXPECT_TRUE(removable_by_connection("X-Secret", upgrading));
    EXPECT_TRUE(removable_by_connection("keep-alive", upgrading));
  }
  EXPECT_TRUE(removable_by_connection("Upgrade", false));
  EXPECT_FALSE(removable_by_connection("Upgrade", true));
}

// Every byte at every position: a letter of `lower` matches itself and its upper case, any other
// byte only itself (the word compare and the byte loop alike).
TEST(Http1Syntax, EqualsLowerIsExactForEveryByte) {
  for (std::string_view lower :
       {"te", "x1-y", "keep-alive", "proxy-connection", "x-forwarded-for"}) {
    ASSERT_TRUE(equals_lower(lower, lower));
    for (std::size_t i = 0; i < lower.size(); ++i) {
      for (int b = 0; b < 256; ++b) {
        std::string name(lower);
        name[i] = static_cast<char>(b);
        const bool letter = lower[i] >= 'a' && lower[i] <= 'z';
        const bool same = b == lower[i] || (letter && b == lower[i] - ('a' - 'A'));
        EXPECT_EQ(equals_lower(name, lower), same) << lower << " at " << i << ": byte " << b;
      }
    }
    EXPECT_FALSE(equals_lower(std::string(lower) + "x", lower));
    EXPECT_FALSE(equals_lower(lower.substr(1), lower));
  }
  static_assert(equals_lower("Keep-Alive", "keep-alive") &&
                !equals_lower("keep\ralive", "keep-alive"));
}

std::string upper_case(std::string_view lower) {
  std::string upper(lower);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
  return upper;
}

// Each name as it is, in upper case, and with every other byte in upper case.
std::vector<std::string> in_any_case(std::string_view lower) {
  const std::string upper = upper_case(lower);
  std::string mixed(lower);
  for (std::size_t i = 0; i < mixed.size(); i += 2) mixed[i] = upper[i];
  return {std::string(lower), upper, mixed};
}

TEST(Http1Syntax, HopByHopNamesInAnyCase) {
  const std::pair<std::string_view, KnownField> hop_by_hop[] = {
      {"connection", KnownField::connection},
      {"keep-alive", KnownField::keep_alive},
      {"proxy-connection", KnownField::proxy_connection},
      {"te", KnownField::te},
      {"trailer", KnownField::trailer},
      {"upgrade", KnownField::upgrade}};
  for (const auto& [lower, known] : hop_by_hop) {
    for (const std::string& name : in_any_case(lower)) {
      EXPECT_EQ(known_field(name), known) << name;
      EXPECT_TRUE(is_hop_by_hop(name)) << name;
      EXPECT_EQ(drops_as_hop_by_hop(known_field(name), true), known != KnownField::upgrade) << name;
      EXPECT_TRUE(drops_as_hop_by_hop(known_field(name), false)) << name;
    }
  }
  static_assert(known_field("Proxy-Connection") == KnownField::proxy_connection);
  static_assert(is_hop_by_hop("TE") && !is_hop_by_hop("Via"));
}

// Transfer-Encoding is of one hop too, but framing: each writer of a head sets its own.
TEST(Http1Syntax, OtherKnownNamesAreNotHopByHop) {
  const std::pair<std::string_view, KnownField> others[] = {
      {"content-length", KnownField::content_length},
      {"transfer-encoding", KnownField::transfer_encoding},
      {"via", KnownField::via},
      {"close", KnownField::close}};
  for (const auto& [lower, known] : others) {
    for (const std::string& name : in_any_case(lower)) {
      EXPECT_EQ(known_field(name), known) << name;
      EXPECT_FALSE(is_hop_by_hop(name)) << name;
      EXPECT_FALSE(drops_as_hop_by_hop(known_field(name), false)) << name;
    }
  }
}

TEST(Http1Syntax, NearMissesAreNotKnown) {
  const auto unknown = [](std::string_view name) {
    return known_field(name) == KnownField::other && !is_hop_by_hop(name);
  };
  for (std::string_view name : {"", "t", "tee", "ter", "x-te", "t\xc5", "\xd4\x65", "trailers",
                                "trailer ", " upgrade", "upgrades", "upgradE:", "upgrad\xc5"}) {
    EXPECT_TRUE(unknown(name)) << name;
  }
  for (std::string_view name : {"keep_alive", "keepalive", "keep-alivex", "keep\ralive",
                                "keep alive", "connectio", "connections", "Connection\r",
                                "proxy_connection", "proxy-connections", "proxy-connectioN\x80"}) {
    EXPECT_TRUE(unknown(name)) << name;
  }
  for (std::string_view name : {"content_length", "transfer-encodinG ", "vi", "viaa", "closed",
                                "host", "expect", "sec-websocket-key"}) {
    EXPECT_TRUE(unknown(name)) << name;
  }
  EXPECT_TRUE(unknown({"te\0", 3}));
}

}  // namespace
}  // namespace bgp::http1
