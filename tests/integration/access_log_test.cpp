// The access log (log.access) of a running bgproxy: one line per request, with what an operator
// looks for (client, method, path, status, color, endpoint, upstream time, bytes), in JSON or text,
// and a file let go at a reload (for logrotate).
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace json = boost::json;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class AccessLogTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  std::string config(std::string_view format) const {
    return make_config({.blue = {blue.address()},
                        .green = {green.address()},
                        .top = fmt::format("log:\n  format: {}\n  access: true\n  access_file: "
                                           "$DIR/access.log\n",
                                           format)});
  }

  // JSON lines by their path: each worker writes its own lines, so their order says nothing.
  static std::map<std::string, json::object> records_by_path(
      const std::vector<std::string>& lines) {
    std::map<std::string, json::object> by_path;
    for (const auto& line : lines) {
      auto record = json::parse(line).as_object();
      by_path[std::string(record.at("path").as_string())] = std::move(record);
    }
    return by_path;
  }

  // The lines of `path` once it has `n` (they are written at least once a second).
  static std::vector<std::string> wait_lines(const std::string& path, std::size_t n) {
    std::vector<std::string> lines;
    wait_until(
        [&] {
          lines = lines_of(read_file(path));
          return lines.size() >= n;
        },
        10s);
    return lines;
  }
};

TEST_F(AccessLogTest, OneJsonLinePerRequestWithWhatAnOperatorLooksFor) {
  Bgproxy proxy(config("json"));
  ASSERT_TRUE(proxy.start());
  const Tally t = send_requests(proxy.proxy_port(), 10);
  ASSERT_EQ(t.status(200), 10) << t.to_string();
  const auto overridden =
      http_request(proxy.proxy_port(), "POST", "/orders?id=7", {{"X-Bluegreen", "green"}}, "hello");
  ASSERT_EQ(overridden.status, 200u) << overridden.error;
  // Refused before routing: two Host fields.
  const auto refused =
      raw_exchange(proxy.proxy_port(), "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  ASSERT_TRUE(refused.starts_with("HTTP/1.1 400")) << refused;

  const auto lines = wait_lines(proxy.dir() + "/access.log", 12);
  ASSERT_EQ(lines.size(), 12u);
  std::vector<json::object> records;
  for (const auto& line : lines) {
    const auto parsed = json::parse(line);
    ASSERT_TRUE(parsed.is_object()) << line;
    records.push_back(parsed.as_object());
  }
  int split = 0;
  for (const auto& r : records) {
    EXPECT_EQ(r.at("type"), "access");
    EXPECT_EQ(r.at("client"), "127.0.0.1");
    EXPECT_TRUE(r.at("ts").as_string().ends_with("Z"));
    if (r.at("route") != "split") continue;
    ++split;
    EXPECT_EQ(r.at("method"), "GET");
    EXPECT_EQ(r.at("status").as_int64(), 200);
    EXPECT_EQ(r.at("color"), "blue");
    EXPECT_EQ(r.at("endpoint").as_string(), blue.address());
    EXPECT_GT(r.at("bytes").as_int64(), 0);
    EXPECT_LE(r.at("upstream_ms").to_number<double>(), r.at("ms").to_number<double>());
    EXPECT_EQ(r.at("outcome"), "answered");
  }
  EXPECT_EQ(split, 10);

  const auto find_route = [&](std::string_view route) -> const json::object* {
    for (const auto& r : records) {
      if (r.at("route").as_string() == route) return &r;
    }
    return nullptr;
  };
  const json::object* override_line = find_route("override");
  ASSERT_NE(override_line, nullptr);
  EXPECT_EQ(override_line->at("method"), "POST");
  EXPECT_EQ(override_line->at("path"), "/orders?id=7");
  EXPECT_EQ(override_line->at("color"), "green");
  EXPECT_EQ(override_line->at("endpoint").as_string(), green.address());

  const json::object* refused_line = find_route("none");
  ASSERT_NE(refused_line, nullptr);
  EXPECT_EQ(refused_line->at("status").as_int64(), 400);
  EXPECT_EQ(refused_line->at("color"), "none");
  EXPECT_TRUE(refused_line->at("endpoint").is_null());
  EXPECT_TRUE(refused_line->at("upstream_ms").is_null());
  EXPECT_EQ(refused_line->at("outcome"), "refused");
}

// A 504 of a slow backend and a 502 (or 503) of a color nothing listens for tell the operator
// why in their outcome, where the status alone would not.
TEST_F(AccessLogTest, TheOutcomeSaysWhyTheProxyAnsweredItself) {
  const std::uint16_t closed = free_port();  // nothing listens: the connect is refused
  Bgproxy proxy(make_config(
      {.blue = {blue.address()},
       .green = {fmt::format("127.0.0.1:{}", closed)},
       .timeouts = "drain: 2s\nupstream_response: 300ms",
       .top = "log:\n  format: json\n  access: true\n  access_file: $DIR/access.log\n"}));
  ASSERT_TRUE(proxy.start());
  blue.set_latency(2s);
  EXPECT_EQ(http_request(proxy.proxy_port(), "GET", "/slow").status, 504u);
  const auto dead = http_request(proxy.proxy_port(), "GET", "/dead", {{"X-Bluegreen", "green"}});
  ASSERT_TRUE(dead.status == 502u || dead.status == 503u) << dead.status;

  // Each worker writes its own lines: they are found by path, not by order.
  const auto lines = wait_lines(proxy.dir() + "/access.log", 2);
  ASSERT_EQ(lines.size(), 2u);
  auto by_path = records_by_path(lines);
  ASSERT_EQ(by_path.count("/slow"), 1u);
  ASSERT_EQ(by_path.count("/dead"), 1u);
  EXPECT_EQ(by_path["/slow"].at("status").as_int64(), 504);
  EXPECT_EQ(by_path["/slow"].at("outcome"), "upstream_timeout");
  // The health check may have found the endpoint down first: then no endpoint was left.
  EXPECT_EQ(by_path["/dead"].at("outcome"), dead.status == 502u ? "connect_failed" : "no_endpoint");
}

// A client that leaves in the middle of its response, over HTTP/1.1 and over HTTP/2: the line
// keeps the status the client got, and its outcome says the response was cut on the client's side
// (neither answered whole nor failed by the upstream), with the bytes that got through.
TEST_F(AccessLogTest, AClientThatLeavesMidResponseIsGoneWithTheStatusItGot) {
  Bgproxy proxy(make_config(
      {.blue = {blue.address()},
       .green = {green.address()},
       .top = "protocols: [http1, h2c]\nlog:\n  format: json\n  access: true\n  access_file: "
              "$DIR/access.log\n"}));
  ASSERT_TRUE(proxy.start());
  for (TestBackend* backend : {&blue, &green}) backend->set_slow(400ms, 10);  // a 4 s body
  const auto whole = http_request(proxy.proxy_port(), "GET", "/whole");
  ASSERT_EQ(whole.status, 200u) << whole.error;
  // Both clients leave after 1.5 s, with the head and a few pieces of the body.
  const auto http1 =
      raw_exchange(proxy.proxy_port(), "GET /cut-http1 HTTP/1.1\r\nHost: a\r\n\r\n", 1500ms);
  ASSERT_TRUE(http1.starts_with("HTTP/1.1 200")) << http1;
  const auto http2 =
      run_process({"/usr/bin/curl", "-s", "--http2-prior-knowledge", "--max-time", "1.5", "-o",
                   "/dev/null", fmt::format("http://127.0.0.1:{}/cut-http2", proxy.proxy_port())},
                  30s);
  ASSERT_EQ(http2.exit_code, 28) << "curl should have given up at --max-time: " << http2.err;

  const auto lines = wait_lines(proxy.dir() + "/access.log", 3);
  ASSERT_EQ(lines.size(), 3u);
  auto by_path = records_by_path(lines);
  ASSERT_EQ(by_path.size(), 3u);
  EXPECT_EQ(by_path["/whole"].at("outcome"), "answered");
  const std::int64_t whole_bytes = by_path["/whole"].at("bytes").as_int64();
  // An HTTP/2 line counts the body's bytes only (the head goes through HPACK).
  const std::map<std::string, std::int64_t> whole_of = {
      {"/cut-http1", whole_bytes}, {"/cut-http2", static_cast<std::int64_t>(whole.body.size())}};
  for (const auto& [path, whole_size] : whole_of) {
    const json::object& record = by_path[path];
    EXPECT_EQ(record.at("status").as_int64(), 200) << path;
    EXPECT_EQ(record.at("outcome"), "client_gone") << path;
    EXPECT_GT(record.at("bytes").as_int64(), 0) << path;
    EXPECT_LT(record.at("bytes").as_int64(), whole_size) << path;
  }
}

TEST_F(AccessLogTest, TextLinesAndAFileLetGoAtAReload) {
  Bgproxy proxy(config("text"));
  ASSERT_TRUE(proxy.start());
  const std::string path = proxy.dir() + "/access.log";
  ASSERT_EQ(http_request(proxy.proxy_port(), "GET", "/before").status, 200u);
  const auto before = wait_lines(path, 1);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_NE(before[0].find(" 127.0.0.1 \"GET /before HTTP/1.1\" 200 bytes="), std::string::npos)
      << before[0];
  EXPECT_NE(before[0].find(
                fmt::format("color=blue route=split endpoint={} upstream_ms=", blue.address())),
            std::string::npos)
      << before[0];

  // logrotate: the file is moved away, bgproxy is told to reload, and writes to a new file.
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  proxy.signal(SIGHUP);
  ASSERT_TRUE(proxy.wait_log("reloaded")) << proxy.log();
  ASSERT_EQ(http_request(proxy.proxy_port(), "GET", "/after").status, 200u);
  const auto after = wait_lines(path, 1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0].find("GET /after"), std::string::npos) << after[0];
  EXPECT_EQ(lines_of(read_file(path + ".1")).size(), 1u);
}

TEST_F(AccessLogTest, AnAccessFileThatCannotBeOpenedIsAClearError) {
  Bgproxy proxy(
      make_config({.blue = {blue.address()},
                   .green = {green.address()},
                   .top = "log:\n  access: true\n  access_file: /nonexistent-dir/access.log\n"}));
  proxy.launch();
  const auto code = proxy.wait_exit(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(proxy.log().find("cannot open the access log /nonexistent-dir/access.log"),
            std::string::npos)
      << proxy.log();
}

TEST_F(AccessLogTest, LinesAFullDiskDropsAreCountedAndReportedWhileRequestsGoOn) {
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .top = "log:\n  access: true\n  access_file: /dev/full\n"}));
  ASSERT_TRUE(proxy.start());
  const Tally t = send_requests(proxy.proxy_port(), 5);
  EXPECT_EQ(t.status(200), 5) << t.to_string();
  double lost = 0;
  wait_until(
      [&] {
        lost =
            metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_access_log_lines_lost_total");
        return lost >= 5;
      },
      10s);
  EXPECT_EQ(lost, 5);
  EXPECT_TRUE(proxy.wait_log("access log: 1 write(s) failed")) << proxy.log();
}

}  // namespace
}  // namespace bgt
