// The data plane end to end (docs/proxying.md): the real bgproxy between test clients and in-test
// backends on loopback. Split and stickiness, overrides, what is forwarded and what is not,
// keep-alive, the proxy's own error answers, 100-continue, upgrades and refused request shapes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>

#include "integration/harness.h"
#include "integration/raw_conn.h"
#include "support/http_reply.h"

namespace bgt {
namespace {

namespace http = boost::beast::http;
using bgp::http1::iequals;
using bgp::testing::contains_nocase;

// Printable, position-dependent bytes: a shifted or truncated copy does not compare equal.
std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return out;
}

// `n` GETs on one keep-alive connection, pipelined `batch` at a time (few round trips, so that
// thousands of requests stay quick under ASan); a missing answer counts as status 0.
Tally pipelined(std::uint16_t port, int n, int batch = 50) {
  Tally tally;
  Conn conn(port);
  std::string requests;
  for (int i = 0; i < batch; ++i) requests += "GET /split HTTP/1.1\r\nHost: t\r\n\r\n";
  for (int sent = 0; sent < n; sent += batch) {
    const int count = std::min(batch, n - sent);
    if (!conn.send(std::string_view(requests).substr(0, requests.size() / batch * count))) break;
    for (int i = 0; i < count; ++i) {
      const auto reply = conn.response();
      if (!reply) {
        while (tally.total < n) tally.add(HttpResponse{});
        return tally;
      }
      HttpResponse r;
      r.status = reply->status;
      r.body = reply->body;
      tally.add(r);
    }
  }
  return tally;
}

class ProxyTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  ConfigSpec spec() const { return {.blue = {blue.address()}, .green = {green.address()}}; }

  static void set_green(const Bgproxy& proxy, int percent) {
    const auto r = proxy.admin("PUT", "/weights", fmt::format(R"({{"green": {}}})", percent));
    ASSERT_EQ(r.status, 200u) << r.body << r.error;
    ASSERT_EQ(weight_of(proxy.status(), "green"), percent);
  }

  // Polls /metrics until the sum of `name`{labels} reaches `at_least`; the last sum seen.
};

// --- split, stickiness, override ---------------------------------------------------------------

TEST_F(ProxyTest, SplitFollowsTheWeights) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());

  set_green(proxy, 25);
  constexpr int kConnections = 4, kPerConnection = 1250;
  std::vector<std::future<Tally>> runs;
  for (int i = 0; i < kConnections; ++i) {
    runs.push_back(std::async(std::launch::async,
                              [&] { return pipelined(proxy.proxy_port(), kPerConnection); }));
  }
  Tally tally;
  for (auto& run : runs) tally.merge(run.get());
  ASSERT_EQ(tally.status(200), kConnections * kPerConnection) << tally.to_string();
  const double share = static_cast<double>(tally.of("green")) / tally.total;
  EXPECT_NEAR(share, 0.25, 0.02) << tally.to_string();
  EXPECT_EQ(tally.of("blue") + tally.of("green"), tally.total) << tally.to_string();

  set_green(proxy, 0);
  const Tally none = pipelined(proxy.proxy_port(), 200);
  EXPECT_EQ(none.of("blue"), 200) << none.to_string();

  set_green(proxy, 100);
  const Tally all = pipelined(proxy.proxy_port(), 200);
  EXPECT_EQ(all.of("green"), 200) << all.to_string();
}

// 200 keys, each sent 3 times at 25% green, then once more at 50%: a key keeps its color, and
// keys only ever move blue -> green as green's weight rises.
void expect_sticky(const Bgproxy& proxy, const std::function<Headers(int key)>& headers_for) {
  constexpr int kKeys = 200;
  const auto color_of_key = [&](HttpClient& client, int key) {
    const HttpResponse r = client.request("GET", "/", headers_for(key));
    EXPECT_EQ(r.status, 200u) << r.error;
    return color_of(r);
  };
  std::vector<std::string> at25(kKeys);
  {
    HttpClient client(proxy.proxy_port());
    for (int key = 0; key < kKeys; ++key) {
      at25[key] = color_of_key(client, key);
      for (int again = 0; again < 2; ++again) {
        ASSERT_EQ(color_of_key(client, key), at25[key]) << "key " << key << " changed color";
      }
    }
  }
  const auto greens = std::count(at25.begin(), at25.end(), "green");
  EXPECT_GT(greens, 20) << "25% of 200 keys should be about 50";
  EXPECT_LT(greens, 80) << "25% of 200 keys should be about 50";

  const auto r = proxy.admin("PUT", "/weights", R"({"green": 50})");
  ASSERT_EQ(r.status, 200u) << r.body;
  HttpClient client(proxy.proxy_port());
  int moved_to_green = 0;
  for (int key = 0; key < kKeys; ++key) {
    const std::string now = color_of_key(client, key);
    if (at25[key] == "green") {
      EXPECT_EQ(now, "green") << "key " << key << " moved green -> blue as green's weight rose";
    } else if (now == "green") {
      ++moved_to_green;
    }
  }
  const int at50 = static_cast<int>(greens) + moved_to_green;
  EXPECT_GT(at50, 70) << "50% of 200 keys should be about 100";
  EXPECT_LT(at50, 130) << "50% of 200 keys should be about 100";
}

TEST_F(ProxyTest, StickyHeaderKeepsEachKeyOnOneColor) {
  ConfigSpec s = spec();
  s.routing = "sticky_header: X-User-Id\n";
  Bgproxy proxy(make_config(s));
  ASSERT_TRUE(proxy.start());
  set_green(proxy, 25);
  expect_sticky(proxy, [](int key) { return Headers{{"X-User-Id", fmt::format("user-{}", key)}}; });
}

TEST_F(ProxyTest, StickyCookieKeepsEachKeyOnOneColor) {
  ConfigSpec s = spec();
  s.routing = "sticky_cookie: session\n";
  Bgproxy proxy(make_config(s));
  ASSERT_TRUE(proxy.start());
  set_green(proxy, 25);
  expect_sticky(proxy, [](int key) {
    return Headers{{"Cookie", fmt::format("theme=dark; session=s{}-{}; lang=en", key, key * 31)}};
  });
}

TEST_F(ProxyTest, OverrideHeaderPicksTheColor) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());

  set_green(proxy, 0);
  Tally t = send_requests(proxy.proxy_port(), 20, {{"X-Bluegreen", "green"}});
  EXPECT_EQ(t.of("green"), 20) << t.to_string();

  set_green(proxy, 100);
  t = send_requests(proxy.proxy_port(), 20, {{"X-Bluegreen", "blue"}});
  EXPECT_EQ(t.of("blue"), 20) << t.to_string();
  // An unknown color is ignored (session.cpp routes by weight), not refused.
  t = send_requests(proxy.proxy_port(), 20, {{"X-Bluegreen", "purple"}});
  EXPECT_EQ(t.of("green"), 20) << t.to_string();
}

// "Only real traffic counts": what the override header routes and what the proxy refuses before
// routing is served and shows in /metrics, but never moves the window a rollout is judged on.
TEST_F(ProxyTest, OverridesAndRefusalsNeverCountInTheRolloutWindow) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());
  // A rollout at its first step (10% green), long enough that the window is not renewed here.
  const auto started =
      proxy.admin("POST", "/rollout/start", R"({"steps":[10,100],"step_duration":"10m"})");
  ASSERT_EQ(started.status, 200u) << started.body;

  // Judged traffic first, so that the window is not empty to begin with.
  constexpr int kSplit = 40;
  const Tally split = send_requests(proxy.proxy_port(), kSplit);
  ASSERT_EQ(split.status(200), kSplit) << split.to_string();
  boost::json::value before;
  ASSERT_TRUE(wait_until([&] {
    before = proxy.status();
    return window_requests(before, "blue") + window_requests(before, "green") == kSplit;
  })) << boost::json::serialize(before);

  // N requests sent to the candidate by the override header: all served by green.
  constexpr int kOverrides = 30;
  const Tally forced = send_requests(proxy.proxy_port(), kOverrides, {{"X-Bluegreen", "green"}});
  EXPECT_EQ(forced.of("green"), kOverrides) << forced.to_string();
  EXPECT_EQ(forced.status(200), kOverrides) << forced.to_string();

  // Requests the proxy answers itself before routing, one per connection (each is closed after).
  const std::vector<std::pair<std::string, unsigned>> refusals{
      {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
      // The override header does not give a refused request a color.
      {"GET / HTTP/2.0\r\nHost: t\r\nX-Bluegreen: green\r\n\r\n", 505},
      {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501},
      {"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n folded\r\n\r\n", 400},  // obs-fold
      {"GET / HTTP/1.1\r\nX-Bluegreen: blue\r\n\r\n", 400},             // no Host
  };
  for (const auto& [bytes, status] : refusals) {
    Conn conn(proxy.proxy_port());
    ASSERT_TRUE(conn.send(bytes)) << bytes;
    const auto reply = conn.response();
    ASSERT_TRUE(reply) << bytes;
    EXPECT_EQ(reply->status, status) << bytes;
  }
  const auto kRefused = static_cast<double>(refusals.size());

  // /metrics shows them, each under its own labels (waited for: a request is recorded just after
  // its answer went out).
  EXPECT_EQ(wait_metric(proxy, "bgproxy_requests_total",
                        {R"(color="green")", R"(route="override")"}, kOverrides),
            kOverrides);
  EXPECT_EQ(wait_metric(proxy, "bgproxy_requests_total", {R"(color="none")", R"(route="none")"},
                        kRefused),
            kRefused);
  const std::string metrics = proxy.admin("GET", "/metrics").body;
  EXPECT_EQ(metric_sum(metrics, "bgproxy_requests_total",
                       {R"(color="green")", R"(route="override")", R"(code="2xx")"}),
            kOverrides);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_requests_total", {R"(route="override")"}), kOverrides);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_requests_total", {R"(color="none")", R"(code="5xx")"}), 3);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_requests_total", {R"(color="none")", R"(code="4xx")"}), 2);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_requests_total", {R"(route="split")"}), kSplit);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_requests_total"), kSplit + kOverrides + kRefused);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_request_duration_seconds_count",
                       {R"(color="green")", R"(route="override")"}),
            kOverrides);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_request_duration_seconds_count", {R"(color="none")"}),
            kRefused);

  // Every one of them is recorded by now (the metrics read the same shards): the judged window
  // did not move for either color.
  const auto after = proxy.status();
  EXPECT_EQ(window_requests(after, "green"), window_requests(before, "green"))
      << boost::json::serialize(after);
  EXPECT_EQ(window_requests(after, "blue"), window_requests(before, "blue"))
      << boost::json::serialize(after);
  EXPECT_EQ(string_at(after, "state"), "progressing") << boost::json::serialize(after);
}

// A keep-alive connection opened before a weight change: its next request follows the new weights
// (a rollback to 0% must not leave every idle connection one more request on the bad color).
TEST_F(ProxyTest, WeightChangeAppliesToOpenKeepAliveConnections) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());
  Conn conn(proxy.proxy_port());
  constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(conn.send(kGet));
  auto reply = conn.response();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body, "blue-1");

  set_green(proxy, 100);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(conn.send(kGet));
    reply = conn.response();
    ASSERT_TRUE(reply) << "the connection was dropped";
    EXPECT_EQ(reply->body, "green-1") << "request " << i << " after the change";
  }
}

// --- forwarding --------------------------------------------------------------------------------

TEST_F(ProxyTest, MethodTargetBodiesAndCustomHeadersPassUnchanged) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());
  HttpClient client(proxy.proxy_port());

  auto r = client.request("PATCH", "/a/b%20c/?x=1&y=two&x=3", {{"X-Custom-Req", "abc 123"}});
  ASSERT_EQ(r.status, 200u) << r.error;
  EXPECT_EQ(r.header("X-Backend"), "blue-1");  // the backend's own header reaches the client
  auto seen = blue.received().back();
  EXPECT_EQ(seen.method, "PATCH");
  EXPECT_EQ(seen.target, "/a/b%20c/?x=1&y=two&x=3");
  EXPECT_EQ(seen.header("X-Custom-Req"), "abc 123");

  const std::string mib = pattern(1024 * 1024);
  r = client.request("POST", "/upload", {{"Content-Type", "application/octet-stream"}}, mib);
  ASSERT_EQ(r.status, 200u) << r.error;
  seen = blue.received().back();
  EXPECT_EQ(seen.target, "/upload");
  EXPECT_EQ(seen.body.size(), mib.size());
  EXPECT_TRUE(seen.body == mib) << "the 1 MiB body changed on the way";

  // A chunked request body, its chunks sent one by one.
  Conn conn(proxy.proxy_port());
  ASSERT_TRUE(conn.connected());
  const std::string big = pattern(40000);
  ASSERT_TRUE(conn.send("POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  ASSERT_TRUE(conn.send("6\r\nchunk1\r\n"));
  ASSERT_TRUE(conn.send(fmt::format("{:x}\r\n{}\r\n", big.size(), big)));
  ASSERT_TRUE(conn.send("0\r\n\r\n"));
  const auto reply = conn.response();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  seen = blue.received().back();
  EXPECT_EQ(seen.target, "/chunked");
  EXPECT_TRUE(seen.body == "chunk1" + big) << "chunked body of " << seen.body.size() << " bytes";
}

TEST_F(ProxyTest, ChunkedResponseReachesTheClientIntact) {
  const std::string big = pattern(100000);
  ScriptedBackend chunked([&](Conn& peer) {
    while (!peer.read_until("\r\n\r\n").empty()) {
      peer.send(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
      peer.send("5\r\nhello\r\n");
      peer.send(fmt::format("{:x}\r\n{}\r\n", big.size(), big));
      peer.send("6;ext=1\r\n world\r\n");
      peer.send("0\r\n\r\n");
    }
  });
  Bgproxy proxy(make_config({.blue = {chunked.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  HttpClient client(proxy.proxy_port());
  for (int i = 0; i < 3; ++i) {  // also: the connection stays usable after a chunked body
    const auto r = client.request("GET", "/stream");
    ASSERT_EQ(r.status, 200u) << r.error;
    EXPECT_EQ(r.body.size(), 5 + big.size() + 6);
    EXPECT_TRUE(r.body == "hello" + big + " world") << "chunked response changed on the way";
  }
}

TEST_F(ProxyTest, HopByHopHeadersAreNotForwardedEitherWay) {
  ScriptedBackend hoppy([](Conn& peer) {
    while (!peer.read_until("\r\n\r\n").empty()) {
      peer.send(
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Resp-Hop\r\n"
          "X-Resp-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
          "TE: trailers\r\nTrailer: X-Checksum\r\nUpgrade: h2c\r\nX-Custom-Resp: kept\r\n\r\nok");
    }
  });
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {hoppy.address()}}));
  ASSERT_TRUE(proxy.start());

  // Request side: the backend sees none of them.
  Conn conn(proxy.proxy_port());
  ASSERT_TRUE(conn.send(
      "GET /hop HTTP/1.1\r\nHost: t\r\nConnection: close, X-Hop-Secret\r\nX-Hop-Secret: 1\r\n"
      "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"
      "Trailer: X-Checksum\r\nUpgrade: h2c\r\nX-Custom-Req: kept\r\n\r\n"));
  const auto reply = conn.response();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_FALSE(reply->keep_alive);
  EXPECT_TRUE(conn.closed_within(2s)) << "Connection: close was not honoured";
  const auto seen = blue.received().back();
  EXPECT_EQ(seen.target, "/hop");
  EXPECT_EQ(seen.header("X-Custom-Req"), "kept");
  for (const char* name :
       {"X-Hop-Secret", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade"}) {
    EXPECT_EQ(seen.header(name), "") << name << " reached the backend";
  }
  // The client's Connection tokens are not the upstream connection's business.
  EXPECT_FALSE(contains_nocase(seen.header("Connection"), "close")) << seen.header("Connection");
  EXPECT_FALSE(contains_nocase(seen.header("Connection"), "hop")) << seen.header("Connection");

  // Response side: the client sees none of the backend's.
  ASSERT_EQ(proxy.admin("PUT", "/weights", R"({"green": 100})").status, 200u);
  const auto r = http_request(proxy.proxy_port(), "GET", "/");
  ASSERT_EQ(r.status, 200u) << r.error;
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(r.header("X-Custom-Resp"), "kept");
  for (const char* name :
       {"X-Resp-Hop", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade"}) {
    EXPECT_EQ(r.header(name), "") << name << " reached the client";
  }
  EXPECT_FALSE(contains_nocase(r.header("Connection"), "x-resp-hop")) << r.header("Connection");
}

TEST_F(ProxyTest, ForwardingHeadersAreAdded) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());

  auto r = http_request(proxy.proxy_port(), "GET", "/", {{"X-Forwarded-For", "203.0.113.7"}});
  ASSERT_EQ(r.status, 200u) << r.error;
  EXPECT_TRUE(contains_nocase(r.header("Via"), "bgproxy")) << r.header("Via");
  auto seen = blue.received().back();
  EXPECT_EQ(seen.header("X-Forwarded-For"), "203.0.113.7, 127.0.0.1");
  EXPECT_EQ(seen.header("X-Forwarded-Proto"), "http");
  EXPECT_TRUE(contains_nocase(seen.header("Via"), "bgproxy")) << seen.header("Via");

  r = http_request(proxy.proxy_port(), "GET", "/", {{"Via", "1.1 edge"}});
  ASSERT_EQ(r.status, 200u) << r.error;
  seen = blue.received().back();
  EXPECT_EQ(seen.header("X-Forwarded-For"), "127.0.0.1");
  EXPECT_TRUE(seen.header("Via").starts_with("1.1 edge,")) << seen.header("Via");
}

// --- connections -------------------------------------------------------------------------------

TEST_F(ProxyTest, KeepAliveReusesUpstreamConnections) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());
  const Tally t = send_requests(proxy.proxy_port(), 300);
  ASSERT_EQ(t.of("blue"), 300) << t.to_string();
  EXPECT_EQ(blue.requests(), 300u);
  EXPECT_LE(blue.connections(), 3u) << "300 requests on one client connection";
}

TEST_F(ProxyTest, Http10ClientsGetAnAnswer) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());

  Conn plain(proxy.proxy_port());
  ASSERT_TRUE(plain.send("GET /old HTTP/1.0\r\nHost: t\r\n\r\n"));
  auto reply = plain.response();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->version, 10u);
  EXPECT_EQ(reply->body, "blue-1");
  EXPECT_TRUE(plain.closed_within(2s)) << "an HTTP/1.0 connection without keep-alive stays open";

  Conn kept(proxy.proxy_port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept.send("GET /old HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"));
    reply = kept.response();
    ASSERT_TRUE(reply) << "request " << i << " on an HTTP/1.0 keep-alive connection";
    EXPECT_EQ(reply->status, 200u);
    EXPECT_EQ(reply->body, "blue-1");
    EXPECT_TRUE(reply->keep_alive);
  }
}

// --- the proxy's own errors --------------------------------------------------------------------

TEST_F(ProxyTest, RefusedEndpointIs502AndCounted) {
  const auto dead = fmt::format("127.0.0.1:{}", free_port());
  Bgproxy proxy(make_config({.blue = {dead}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  for (int i = 0; i < 3; ++i) {
    const auto r = http_request(proxy.proxy_port(), "GET", "/");
    EXPECT_EQ(r.status, 502u) << r.error;
  }
  EXPECT_GE(wait_metric(proxy, "bgproxy_requests_total", {R"(color="blue")", R"(code="5xx")"}, 3),
            3);
  EXPECT_GE(wait_metric(proxy, "bgproxy_upstream_errors_total",
                        {R"(color="blue")", R"(kind="connect")"}, 3),
            3);
}

TEST_F(ProxyTest, DeadEndpointIsSkippedForTheNextOne) {
  const auto dead = fmt::format("127.0.0.1:{}", free_port());
  Bgproxy proxy(make_config({.blue = {dead, blue.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  Tally t;
  for (int i = 0; i < 10; ++i) t.add(http_request(proxy.proxy_port(), "GET", "/"));
  t.merge(send_requests(proxy.proxy_port(), 20));
  EXPECT_EQ(t.of("blue"), 30) << t.to_string();
  EXPECT_EQ(t.status(200), 30) << t.to_string();
  // The per-endpoint figures point at the dead one: its failed connects, the other's answers.
  const std::string dead_endpoint = fmt::format(R"(endpoint="{}")", dead);
  const std::string good_endpoint = fmt::format(R"(endpoint="{}")", blue.address());
  EXPECT_GE(wait_metric(proxy, "bgproxy_endpoint_requests_total", {good_endpoint}, 30), 30);
  const auto metrics = proxy.admin("GET", "/metrics").body;
  EXPECT_GE(metric_sum(metrics, "bgproxy_endpoint_upstream_errors_total",
                       {dead_endpoint, R"(kind="connect")"}),
            1);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_endpoint_requests_total", {dead_endpoint}), 0);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_endpoint_upstream_errors_total", {good_endpoint}), 0);
}

TEST_F(ProxyTest, SlowUpstreamIs504AfterUpstreamResponseTimeout) {
  ConfigSpec s = spec();
  s.timeouts = "upstream_response: 300ms\ndrain: 2s";
  Bgproxy proxy(make_config(s));
  ASSERT_TRUE(proxy.start());
  blue.set_latency(2s);
  const auto started = Clock::now();
  const auto r = http_request(proxy.proxy_port(), "GET", "/");
  const auto took = std::chrono::duration_cast<Ms>(Clock::now() - started);
  EXPECT_EQ(r.status, 504u) << r.error;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1500ms) << "the proxy waited for the slow backend";
  EXPECT_GE(wait_metric(proxy, "bgproxy_upstream_errors_total",
                        {R"(color="blue")", R"(kind="timeout")"}, 1),
            1);
  EXPECT_GE(wait_metric(proxy, "bgproxy_requests_total", {R"(color="blue")", R"(code="5xx")"}, 1),
            1);
}

TEST_F(ProxyTest, UnhealthyColorIs503) {
  // Green is live (a candidate with no healthy endpoint would be rolled back instead).
  ConfigSpec s = spec();
  s.backends = "live: green\n" + fast_health_check(1);
  Bgproxy proxy(make_config(s));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(send_requests(proxy.proxy_port(), 5).of("green"), 5);

  green.set_path_status("/health", 500);
  HttpResponse r;
  EXPECT_TRUE(wait_until(
      [&] {
        r = http_request(proxy.proxy_port(), "GET", "/", {}, {}, 2s);
        return r.status == 503;
      },
      5s, 50ms))
      << "last answer: " << r.status << " " << r.body << r.error;
  EXPECT_EQ(color_of(r), "") << "green is down: no fallback to blue, a 503";
  EXPECT_GE(wait_metric(proxy, "bgproxy_requests_total", {R"(color="green")", R"(code="5xx")"}, 1),
            1);
  EXPECT_EQ(metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_endpoint_healthy",
                       {R"(color="green")"}),
            0);
}

// --- 100-continue and upgrades -----------------------------------------------------------------

TEST_F(ProxyTest, ExpectContinueGetsA100ThenTheAnswer) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());
  Conn conn(proxy.proxy_port());
  const std::string body = pattern(5000);
  ASSERT_TRUE(conn.send(fmt::format(
      "PUT /items/7 HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
      body.size())));
  const auto interim = conn.response(3s);  // the body is sent only after this
  ASSERT_TRUE(interim) << "no 100 Continue";
  ASSERT_EQ(interim->status, 100u);
  ASSERT_TRUE(conn.send(body));
  const auto reply = conn.response(3s);
  ASSERT_TRUE(reply) << "no final answer after the body";
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->body, "blue-1");
  const auto seen = blue.received().back();
  EXPECT_EQ(seen.target, "/items/7");
  EXPECT_TRUE(seen.body == body) << seen.body.size() << " bytes arrived";
}

TEST_F(ProxyTest, WebsocketUpgradeIsTunnelled) {
  ScriptedBackend ws([](Conn& peer) {
    const std::string head = peer.read_until("\r\n\r\n");
    if (!contains_nocase(head, "upgrade: websocket")) {
      peer.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    peer.send(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    for (std::string bytes = peer.read_some(); !bytes.empty(); bytes = peer.read_some()) {
      if (!peer.send(bytes)) break;
    }
  });
  Bgproxy proxy(make_config({.blue = {ws.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());

  Conn conn(proxy.proxy_port());
  ASSERT_TRUE(conn.send(
      "GET /socket HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  const auto reply = conn.response();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->status, 101u);
  EXPECT_TRUE(iequals(reply->header("Upgrade"), "websocket")) << reply->header("Upgrade");
  EXPECT_TRUE(contains_nocase(reply->header("Connection"), "upgrade"));

  ASSERT_TRUE(conn.send("ping-1"));
  EXPECT_EQ(conn.read_exactly(6), "ping-1");
  std::string binary = pattern(70000);
  binary[10] = '\0';
  binary[20000] = '\xff';
  ASSERT_TRUE(conn.send(binary));
  EXPECT_TRUE(conn.read_exactly(binary.size()) == binary) << "tunnelled bytes changed";
}

// --- refused request shapes --------------------------------------------------------------------

TEST_F(ProxyTest, AmbiguousRequestsAre400AndNeverReachABackend) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());
  const std::vector<std::pair<std::string, std::string>> cases{
      {"Content-Length with Transfer-Encoding",
       "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"},
      {"differing Content-Lengths",
       "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc"},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n"},
      {"invalid header byte", "GET / HTTP/1.1\r\nHost: t\r\nX-Bad\x01Name: v\r\n\r\n"},
  };
  for (const auto& [what, bytes] : cases) {
    Conn conn(proxy.proxy_port());
    ASSERT_TRUE(conn.send(bytes)) << what;
    const auto reply = conn.response();
    ASSERT_TRUE(reply) << what << ": no answer";
    EXPECT_EQ(reply->status, 400u) << what;
    EXPECT_TRUE(conn.closed_within(3s)) << what << ": connection left open";
  }
  EXPECT_EQ(blue.requests() + green.requests(), 0u);
}

TEST_F(ProxyTest, OverLimitsAre431And413) {
  ConfigSpec s = spec();
  s.top = "limits:\n  max_header_bytes: 2048\n  max_body_bytes: 1024\n";
  Bgproxy proxy(make_config(s));
  ASSERT_TRUE(proxy.start());

  Conn headers(proxy.proxy_port());
  ASSERT_TRUE(headers.send(
      fmt::format("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", std::string(4000, 'h'))));
  auto reply = headers.response();
  ASSERT_TRUE(reply) << "no answer to an over-long header block";
  EXPECT_EQ(reply->status, 431u);
  EXPECT_TRUE(headers.closed_within(3s)) << "a refused connection stays open";

  Conn body(proxy.proxy_port());
  ASSERT_TRUE(body.send(fmt::format("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n{}",
                                    std::string(4096, 'b'))));
  reply = body.response();
  ASSERT_TRUE(reply) << "no answer to an over-long body";
  EXPECT_EQ(reply->status, 413u);
  EXPECT_TRUE(body.closed_within(3s)) << "a refused connection stays open";

  EXPECT_EQ(blue.requests() + green.requests(), 0u);
  // Within the limits all is well.
  EXPECT_EQ(http_request(proxy.proxy_port(), "POST", "/", {}, std::string(1024, 'b')).status, 200u);
}

}  // namespace
}  // namespace bgt
