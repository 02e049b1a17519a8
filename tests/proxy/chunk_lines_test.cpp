#include "proxy/http1/chunk_lines.h"

#include <string_view>

#include <gtest/gtest.h>

namespace bgp {
namespace {

// The verdict on `body` fed whole, and byte by byte (how it may arrive).
struct Verdict {
  bool ok;
  bool done;
};
Verdict check(std::string_view body) {
  ChunkLines whole;
  const bool ok = whole.feed(body);
  ChunkLines pieces;
  for (const char c : body) pieces.feed(std::string_view(&c, 1));
  EXPECT_EQ(pieces.failed(), !ok) << body;
  EXPECT_EQ(pieces.done(), whole.done()) << body;
  return {ok, whole.done()};
}

TEST(ChunkLines, WellFormedBodiesEnd) {
  for (const auto body : {"5\r\nhello\r\n0\r\n\r\n", "5;a=b\r\nhello\r\n0\r\n\r\n",
                          "A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", "0\r\n\r\n"}) {
    const auto v = check(body);
    EXPECT_TRUE(v.ok && v.done) << body;
  }
}

TEST(ChunkLines, AnUnfinishedBodyIsNeitherDoneNorFailed) {
  const auto v = check("5\r\nhel");
  EXPECT_TRUE(v.ok);
  EXPECT_FALSE(v.done);
}

TEST(ChunkLines, LinesNotEndingInCrlfFail) {
  for (const auto body : {"5\nhello\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "5\r\nhelloXY",
                          "0\r\nX-T: 1\n\r\n", "0\r\n\n", "5;a\nb\r\n", "5\r\r\n"}) {
    EXPECT_FALSE(check(body).ok) << body;
  }
}

TEST(ChunkLines, BadSizesFail) {
  for (const auto body : {"zz\r\n", "\r\n", "-1\r\n", "12345678901234567\r\n", "5\x01\r\n"}) {
    EXPECT_FALSE(check(body).ok) << body;
  }
}

TEST(ChunkLines, BytesAfterTheBodyAreNotLookedAt) {
  const auto v = check("0\r\n\r\nGET / HTTP/1.1\n\n");
  EXPECT_TRUE(v.ok && v.done);
}

}  // namespace
}  // namespace bgp
