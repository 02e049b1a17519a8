#include "proxy/http1/syntax.h"

#include <algorithm>
#include <memory>
#include <string>

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

}  // namespace
}  // namespace bgp::http1
