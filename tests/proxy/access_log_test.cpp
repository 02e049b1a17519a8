#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace bgp {
namespace {

using std::chrono::microseconds;

// 2026-11-30T10:00:05.250Z
std::chrono::system_clock::time_point at_250ms() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 30} + hours{10} + seconds{5} + milliseconds{250};
}

AccessRecord sample() {
  return {.client = "10.1.2.3",
          .method = "GET",
          .target = "/a?q=1",
          .status = 200,
          .bytes = 1432,
          .color = "green",
          .endpoint = "10.0.0.7:8080",
          .upstream = microseconds{812},
          .total = microseconds{1045}};
}

// What a buffer holds, through a pipe (flush() writes to a file descriptor).
std::string flushed(AccessLogBuffer& buffer) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  {
    const AccessLogFile in(fds[1], true);
    buffer.flush(in);
  }
  std::string out;
  char chunk[4096];
  for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) out.append(chunk, n);
  ::close(fds[0]);
  return out;
}

TEST(AccessLog, ATextLineHasEveryFieldInOrder) {
  AccessLogBuffer buffer;
  buffer.append(sample(), LogFormat::text, at_250ms());
  EXPECT_EQ(flushed(buffer),
            "2026-11-30T10:00:05.250Z 10.1.2.3 \"GET /a?q=1 HTTP/1.1\" 200 bytes=1432 color=green "
            "route=split endpoint=10.0.0.7:8080 upstream_ms=0.812 ms=1.045 outcome=answered\n");
  EXPECT_TRUE(buffer.empty());
}

TEST(AccessLog, AJsonLineParsesWithTheSameFields) {
  AccessLogBuffer buffer;
  buffer.append(sample(), LogFormat::json, at_250ms());
  const auto line = flushed(buffer);
  ASSERT_TRUE(line.ends_with("}\n")) << line;
  const auto record = boost::json::parse(line).as_object();
  EXPECT_EQ(record.at("ts"), "2026-11-30T10:00:05.250Z");
  EXPECT_EQ(record.at("path"), "/a?q=1");
  EXPECT_EQ(record.at("version"), "HTTP/1.1");
  EXPECT_EQ(record.at("status").as_int64(), 200);
  EXPECT_EQ(record.at("bytes").as_int64(), 1432);
  EXPECT_EQ(record.at("endpoint"), "10.0.0.7:8080");
  EXPECT_DOUBLE_EQ(record.at("upstream_ms").to_number<double>(), 0.812);
  EXPECT_DOUBLE_EQ(record.at("ms").to_number<double>(), 1.045);
  EXPECT_EQ(record.at("outcome"), "answered");
}

TEST(AccessLog, NoEndpointAndNoUpstreamAreDashesOrNull) {
  AccessRecord refused = sample();
  refused.method = "-";
  refused.target = "-";
  refused.endpoint = "";
  refused.upstream.reset();
  refused.route = Route::refused;
  refused.color = "none";
  AccessLogBuffer buffer;
  buffer.append(refused, LogFormat::text, at_250ms());
  const auto text = flushed(buffer);
  EXPECT_NE(text.find("\"- - HTTP/1.1\""), std::string::npos) << text;
  EXPECT_NE(text.find("color=none route=none endpoint=- upstream_ms=- "), std::string::npos)
      << text;
  buffer.append(refused, LogFormat::json, at_250ms());
  const auto record = boost::json::parse(flushed(buffer)).as_object();
  EXPECT_TRUE(record.at("endpoint").is_null());
  EXPECT_TRUE(record.at("upstream_ms").is_null());
}

TEST(AccessLog, ATargetCanNeitherBreakALineNorForgeAField) {
  AccessRecord odd = sample();
  odd.target = "/a\"b\\c\n\x01";
  AccessLogBuffer buffer;
  buffer.append(odd, LogFormat::text, at_250ms());
  const auto text = flushed(buffer);
  EXPECT_NE(text.find(R"(/a\x22b\x5cc\x0a\x01 HTTP/1.1")"), std::string::npos) << text;
  EXPECT_EQ(text.find('\n'), text.size() - 1);
  buffer.append(odd, LogFormat::json, at_250ms());
  const auto record = boost::json::parse(flushed(buffer)).as_object();
  EXPECT_EQ(record.at("path"), "/a\"b\\c\n\x01");
}

TEST(AccessLog, AFullBufferIsWrittenAsWholeLines) {
  AccessLogBuffer buffer;
  std::size_t lines = 0;
  while (!buffer.full()) {
    buffer.append(sample(), LogFormat::text, at_250ms());
    ++lines;
  }
  const auto text = flushed(buffer);
  EXPECT_EQ(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')), lines);
  EXPECT_GE(text.size(), AccessLogBuffer::kFlushAt);
}

TEST(AccessLog, AFailedWriteReportsTheLinesItDropped) {
  AccessLogBuffer buffer;
  for (int i = 0; i < 3; ++i) buffer.append(sample(), LogFormat::text, at_250ms());
  const AccessLogFile read_only(::open("/dev/null", O_RDONLY | O_CLOEXEC), true);
  EXPECT_EQ(buffer.flush(read_only), 3u);
  EXPECT_TRUE(buffer.empty());  // dropped, not kept to grow
}

}  // namespace
}  // namespace bgp
