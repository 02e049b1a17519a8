// The upstream response head's one judge (response_head.h), which both fronts call: which heads
// are refused and with what error, which go to the fast path, and what a parsed head leaves.
#include "proxy/http1/response_head.h"

#include "proxy/buffer_pool.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace bgp {
namespace {

ResponseHeadScan scan_of(std::string_view bytes) {
  ResponseHeadScan scan;
  scan.size = find_head_end(bytes, scan.scanned, scan.bare_lf);
  return scan;
}

error_code judge(std::string_view bytes, http::verb method = http::verb::get) {
  UpstreamResponseParser parser;
  std::size_t used = 0;
  return parse_response_head(bytes, scan_of(bytes), method, parser, used);
}

struct Refused {
  const char* name;
  std::string head;
  http::error error;
};

class RefusedResponseHead : public ::testing::TestWithParam<Refused> {};

TEST_P(RefusedResponseHead, IsRefusedWithItsError) {
  const Refused& c = GetParam();
  EXPECT_EQ(judge(c.head), c.error) << c.head;
  EXPECT_FALSE(simple_response_head(c.head, scan_of(c.head), http::verb::get)) << c.head;
}

INSTANTIATE_TEST_SUITE_P(
    ResponseHead, RefusedResponseHead,
    ::testing::Values(
        Refused{"LengthAndChunked",
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                http::error::bad_transfer_encoding},
        Refused{
            "TwoTransferEncodings",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            http::error::bad_transfer_encoding},
        Refused{"TransferEncodingNotChunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                http::error::bad_transfer_encoding},
        Refused{"Http2StatusLine", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                http::error::bad_field},
        Refused{"Status999", "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
                http::error::bad_transfer_encoding},
        Refused{"ObsFold", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: b\r\n c\r\n\r\n",
                http::error::bad_field},
        Refused{"ControlByteInValue", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: b\x01c\r\n\r\n",
                http::error::bad_field},
        Refused{"BareCarriageReturn", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: b\rc\r\n\r\n",
                http::error::bad_field}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ResponseHeadScan, AsksForBytesUntilTheHeadEndsOrIsTooLong) {
  ResponseHeadScan scan;
  error_code ec;
  EXPECT_EQ(scan.next_read("", ec), BufferPool::kBlockSize);
  std::string bytes = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
  EXPECT_GT(scan.next_read(bytes, ec), 0u);
  EXPECT_FALSE(scan.done());
  bytes += "\r\nnext";
  EXPECT_EQ(scan.next_read(bytes, ec), 0u);
  EXPECT_FALSE(ec);
  EXPECT_EQ(scan.size, bytes.size() - 4);

  ResponseHeadScan long_scan;
  const std::string long_head = "HTTP/1.1 200 OK\r\nX-A: " + std::string(kUpstreamHeadLimit, 'a');
  EXPECT_EQ(long_scan.next_read(long_head, ec), 0u);
  EXPECT_EQ(ec, http::error::header_limit);
  EXPECT_FALSE(long_scan.done());

  ResponseHeadScan bare;
  error_code bare_ec;
  EXPECT_EQ(bare.next_read("HTTP/1.1 200 OK\nX", bare_ec), 0u);
  EXPECT_TRUE(bare.bare_lf);
  EXPECT_FALSE(bare_ec);
}

TEST(ResponseHead, ASimpleHeadIsLeftToTheFastPath) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
  const auto simple = simple_response_head(head, scan_of(head), http::verb::get);
  ASSERT_TRUE(simple);
  EXPECT_EQ(simple->status, 200u);
  EXPECT_EQ(simple->content_length, 3u);
  EXPECT_EQ(scan_of(head).size, head.size() - 3);
}

TEST(ResponseHead, ABodyUntilTheCloseIsNotSimpleUnlessThereIsNoBody) {
  const std::string head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
  EXPECT_FALSE(simple_response_head(head, scan_of(head), http::verb::get));
  EXPECT_TRUE(simple_response_head(head, scan_of(head), http::verb::head));
  const std::string no_content = "HTTP/1.1 204 No Content\r\n\r\n";
  EXPECT_TRUE(simple_response_head(no_content, scan_of(no_content), http::verb::get));
}

TEST(ResponseHead, AChunkedHeadIsParsedAndWhatFollowsItIsLeft) {
  const std::string bytes =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3\r\nok\n\r\n0\r\n\r\n";
  const ResponseHeadScan scan = scan_of(bytes);
  EXPECT_FALSE(simple_response_head(bytes, scan, http::verb::get));
  UpstreamResponseParser parser;
  std::size_t used = 0;
  EXPECT_FALSE(parse_response_head(bytes, scan, http::verb::get, parser, used));
  EXPECT_EQ(used, scan.size);
  EXPECT_TRUE(parser.is_header_done());
  EXPECT_TRUE(parser.chunked());
  EXPECT_EQ(parser.get()["X-A"], "b");
}

TEST(ResponseHead, AnInterimHeadIsParsedNotJudged) {
  const std::string bytes = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n";
  UpstreamResponseParser parser;
  std::size_t used = 0;
  EXPECT_FALSE(parse_response_head(bytes, scan_of(bytes), http::verb::post, parser, used));
  EXPECT_EQ(used, std::string_view("HTTP/1.1 100 Continue\r\n\r\n").size());
  EXPECT_TRUE(is_interim_status(parser.get().result_int()));
  EXPECT_FALSE(is_interim_status(101));
  EXPECT_FALSE(is_interim_status(200));
}

TEST(ResponseHead, ABareLineFeedGoesToBeastWhichRefusesIt) {
  const std::string bytes = "HTTP/1.1 200 OK\nContent-Length: 0\n\n";
  const ResponseHeadScan scan = scan_of(bytes);
  EXPECT_TRUE(scan.bare_lf);
  EXPECT_TRUE(scan.done());
  EXPECT_FALSE(simple_response_head(bytes, scan, http::verb::get));
  EXPECT_TRUE(judge(bytes));
}

TEST(ResponseHead, AResponseToHeadHasNoBodyToRead) {
  const std::string bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  UpstreamResponseParser parser;
  std::size_t used = 0;
  EXPECT_FALSE(parse_response_head(bytes, scan_of(bytes), http::verb::head, parser, used));
  EXPECT_TRUE(parser.is_done());
}

}  // namespace
}  // namespace bgp
