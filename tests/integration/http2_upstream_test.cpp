// HTTP/2 to upstreams (docs/http2.md, "HTTP/2 upstreams"): a running bgproxy speaking h2c to a
// real HTTP/2 server (tests/integration/h2_echo.py on python3-h2, which answers with what it got),
// for HTTP/1 clients and HTTP/2 clients alike.
#include <fstream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include "integration/harness.h"
#include "support/test_certs.h"

namespace bgt {
namespace {

namespace json = boost::json;

ScriptServer echo_server(std::string name, std::vector<std::string> options = {}) {
  std::vector<std::string> args{"$PORT", std::move(name)};
  args.insert(args.end(), options.begin(), options.end());
  return ScriptServer("h2_echo.py", std::move(args));
}

std::string config(const ScriptServer& blue, const std::vector<std::string>& green = {}) {
  return make_config({.blue = {blue.address()},
                      .green = green.empty() ? std::vector{blue.address()} : green,
                      .color_keys = "protocol: h2c\n",
                      .top = "protocols: [http1, h2c]\n"});
}

// The value of field `name` the echo server received ("" when absent; "|"-joined when repeated).
std::string field(const json::value& echo, std::string_view name) {
  std::string out;
  for (const auto& pair : echo.at("fields").as_array()) {
    if (pair.as_array().at(0).as_string() != name) continue;
    if (!out.empty()) out += "|";
    out += std::string(pair.as_array().at(1).as_string());
  }
  return out;
}

TEST(Http2Upstream, AnHttp1RequestReachesAnH2cBackendTranslated) {
  const auto blue = echo_server("blue-1");
  Bgproxy proxy(config(blue));
  ASSERT_TRUE(proxy.start());
  const auto r = http_request(proxy.proxy_port(), "POST", "/p?q=1",
                              {{"Cookie", "a=1; b=2"},
                               {"Connection", "X-Drop"},
                               {"X-Drop", "1"},
                               {"TE", "trailers"},
                               {"Keep-Alive", "timeout=5"},
                               {"X-Custom", "kept"}},
                              "hello");
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  const auto echo = r.json();
  ASSERT_TRUE(echo.is_object()) << r.body;
  EXPECT_EQ(echo.at("method").as_string(), "POST");
  EXPECT_EQ(echo.at("path").as_string(), "/p?q=1");
  EXPECT_EQ(echo.at("authority").as_string(), fmt::format("127.0.0.1:{}", proxy.proxy_port()))
      << "Host becomes :authority";
  EXPECT_EQ(echo.at("scheme").as_string(), "http");
  EXPECT_EQ(echo.at("body").as_string(), "hello");
  EXPECT_EQ(field(echo, "host"), "");
  EXPECT_EQ(field(echo, "content-length"), "5");
  EXPECT_EQ(field(echo, "cookie"), "a=1; b=2");
  EXPECT_EQ(field(echo, "te"), "trailers");
  EXPECT_EQ(field(echo, "x-custom"), "kept");
  EXPECT_EQ(field(echo, "x-drop"), "") << "a field Connection lists is hop-by-hop";
  EXPECT_EQ(field(echo, "connection"), "");
  EXPECT_EQ(field(echo, "keep-alive"), "");
  EXPECT_EQ(field(echo, "x-forwarded-for"), "127.0.0.1");
  EXPECT_EQ(field(echo, "via"), "1.1 bgproxy");
  // The response as HTTP/1.1: no length from the upstream, so chunked; Via names the hop.
  EXPECT_EQ(r.header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r.header("Via"), "2.0 bgproxy");
  EXPECT_EQ(r.header("X-Backend"), "blue-1");
}

TEST(Http2Upstream, BodiesOfEveryFramingCrossBothWays) {
  const auto blue = echo_server("blue-1");
  Bgproxy proxy(config(blue));
  ASSERT_TRUE(proxy.start());
  // A chunked request body longer than the hold and the stream window, streamed through.
  const std::string upload(300 * 1024, 'u');
  TempDir dir;
  std::ofstream(dir.path() + "/upload", std::ios::binary) << upload;
  const auto r = run_process(
      {"/usr/bin/curl", "-s", "--http1.1", "--max-time", "20", "-H", "Transfer-Encoding: chunked",
       "-H", "X-With-Length: 1", "--data-binary", "@" + dir.path() + "/upload",
       fmt::format("http://127.0.0.1:{}/up", proxy.proxy_port())},
      30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto echo = json::parse(r.out);
  EXPECT_EQ(echo.at("body_length").as_int64(), static_cast<std::int64_t>(upload.size()));
  EXPECT_EQ(field(echo, "content-length"), "") << "a chunked body has no length to announce";
  EXPECT_EQ(field(echo, "transfer-encoding"), "");

  // Trailers from the upstream reach an HTTP/1.1 client in the last chunk.
  const auto raw =
      raw_exchange(proxy.proxy_port(),
                   "GET /t HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nX-Want-Trailers: 1\r\n"
                   "Connection: close\r\n\r\n",
                   10s);
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 200 OK\r\n")) << raw;
  EXPECT_NE(raw.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << raw;
  EXPECT_TRUE(raw.ends_with("\r\n0\r\nx-checksum: 0\r\n\r\n")) << raw;

  // An HTTP/1.0 client gets a body without length until the close.
  const auto old = raw_exchange(proxy.proxy_port(), "GET /old HTTP/1.0\r\nHost: a\r\n\r\n", 10s);
  EXPECT_TRUE(old.starts_with("HTTP/1.0 200 OK\r\n")) << old;
  EXPECT_EQ(old.find("Transfer-Encoding"), std::string::npos) << old;
  EXPECT_TRUE(old.ends_with("}")) << old;
}

// RFC 9113 section 8.7: a refused stream was not processed, so even a POST is sent again.
TEST(Http2Upstream, ARefusedStreamIsSentAgainEvenForAPost) {
  const auto blue = echo_server("blue-1", {"--refuse-first", "1"});
  Bgproxy proxy(config(blue));
  ASSERT_TRUE(proxy.start());
  const auto r = http_request(proxy.proxy_port(), "POST", "/once", {}, "payload");
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  EXPECT_EQ(r.json().at("body").as_string(), "payload");
  EXPECT_TRUE(wait_until([&] {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_requests_total",
                      {R"(code="2xx")"}) == 1;
  }));
  EXPECT_EQ(metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_upstream_errors_total"), 0);
}

// Many streams of one HTTP/2 client share one upstream connection (the peer allows 100).
TEST(Http2Upstream, StreamsAreMultiplexedOnOneUpstreamConnection) {
  const auto blue = echo_server("blue-1");
  Bgproxy proxy(config(blue));
  ASSERT_TRUE(proxy.start());
  constexpr int kStreams = 40;
  const auto r = run_process({"/usr/bin/nghttp", "-n", "-s", "-m", std::to_string(kStreams),
                              fmt::format("http://127.0.0.1:{}/many", proxy.proxy_port())},
                             30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(wait_until([&] {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_requests_total",
                      {R"(code="2xx")"}) == kStreams;
  })) << r.out;
  const auto metrics = proxy.admin("GET", "/metrics").body;
  EXPECT_EQ(metric_sum(metrics, "bgproxy_upstream_connections_opened_total"), 1) << metrics;

  // An HTTP/2 client's request crosses with its fields as they came: the authority, no host.
  const auto one = run_process(
      {"/usr/bin/curl", "-s", "--http2-prior-knowledge", "--max-time", "20", "-H", "X-Custom: kept",
       fmt::format("http://127.0.0.1:{}/one?x=1", proxy.proxy_port())},
      30s);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto echo = json::parse(one.out);
  EXPECT_EQ(echo.at("path").as_string(), "/one?x=1");
  EXPECT_EQ(echo.at("authority").as_string(), fmt::format("127.0.0.1:{}", proxy.proxy_port()));
  EXPECT_EQ(field(echo, "x-custom"), "kept");
  EXPECT_EQ(field(echo, "via"), "2.0 bgproxy");
}

// h2: HTTP/2 over TLS, agreed on by ALPN, the upstream's certificate verified.
TEST(Http2Upstream, H2OverTlsIsSpokenOnlyToAnUpstreamThatAgreesByAlpn) {
  TempDir dir;
  const auto certificate = bgp::testing::make_certificate("backend.test");
  const auto cert = dir.write("backend.crt", certificate.cert_pem);
  const auto key = dir.write("backend.key", certificate.key_pem);
  const auto h2 = echo_server("tls-h2", {"--tls", cert, key, "h2"});
  const auto h1_only = echo_server("tls-h1", {"--tls", cert, key, "http/1.1"});
  const auto tls_config = [&](const ScriptServer& server) {
    return make_config(
        {.blue = {server.address()},
         .green = {server.address()},
         .color_keys = fmt::format("protocol: h2\ntls:\n  enabled: true\n  ca: {}\n", cert)});
  };
  Bgproxy proxy(tls_config(h2));
  ASSERT_TRUE(proxy.start());
  const auto r = http_request(proxy.proxy_port(), "GET", "/secure");
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  EXPECT_EQ(r.json().at("scheme").as_string(), "https");
  EXPECT_EQ(r.json().at("backend").as_string(), "tls-h2");

  // An upstream that only speaks HTTP/1.1 over TLS is not sent HTTP/2 at all.
  Bgproxy refused(tls_config(h1_only));
  ASSERT_TRUE(refused.start());
  EXPECT_EQ(http_request(refused.proxy_port(), "GET", "/").status, 502u);
  EXPECT_NE(refused.log().find("did not agree to HTTP/2 in ALPN"), std::string::npos)
      << refused.log();
}

// An idle connection is closed after timeouts.upstream_idle; the next request opens another.
TEST(Http2Upstream, AnIdleConnectionIsClosedAndAnotherOpened) {
  const auto blue = echo_server("blue-1");
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {blue.address()},
                             .color_keys = "protocol: h2c\n",
                             .timeouts = "drain: 2s\nupstream_idle: 1s"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(http_request(proxy.proxy_port(), "GET", "/").status, 200u);
  EXPECT_TRUE(wait_until([&] {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_http2_connections_ended_total",
                      {R"(side="upstream")", R"(reason="closed")"}) == 1;
  }));
  ASSERT_EQ(http_request(proxy.proxy_port(), "GET", "/").status, 200u);
  EXPECT_EQ(
      metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_upstream_connections_opened_total"),
      2);
}

// A connection whose upstream went silent, PINGs included, is found dead by its PING
// (http2_ping_interval of silence, then http2_ping_timeout for the ACK), long before the
// request's own timeout.
TEST(Http2Upstream, ASilentConnectionIsFoundDeadByItsPing) {
  const auto blue = echo_server("blue-1", {"--freeze-after", "1"});
  Bgproxy proxy(
      make_config({.blue = {blue.address()},
                   .green = {blue.address()},
                   .color_keys = "protocol: h2c\n",
                   .timeouts = "drain: 2s\nupstream_response: 120s\nhttp2_ping_interval: 4s\n"
                               "http2_ping_timeout: 2s"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(http_request(proxy.proxy_port(), "GET", "/").status, 200u);
  const auto started = std::chrono::steady_clock::now();
  const auto hung = http_request(proxy.proxy_port(), "GET", "/hangs", {}, {}, 60s);
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(hung.status, 502u) << hung.error;
  EXPECT_LT(waited, 40s) << "found dead by the PING, not by upstream_response";
  EXPECT_GE(waited, 4s) << "a connection is pinged after http2_ping_interval, not before";
}

// The HTTP check (health_check.path) of an endpoint spoken to in HTTP/2 goes over HTTP/2 too: an
// h2c-only server passes it, an HTTP/1.1-only one fails it.
TEST(Http2Upstream, HealthChecksSpeakTheColorsProtocol) {
  const auto h2 = echo_server("blue-1");
  TestBackend h1_only("blue-2");
  Bgproxy proxy(make_config({.blue = {h2.address(), h1_only.address()},
                             .green = {h2.address()},
                             .backends = fast_health_check(1),
                             .color_keys = "protocol: h2c\n"}));
  ASSERT_TRUE(proxy.start());
  const auto healthy = [&](const std::string& address) {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_endpoint_healthy",
                      {fmt::format(R"(endpoint="{}")", address), R"(color="blue")"});
  };
  EXPECT_TRUE(wait_until([&] { return healthy(h1_only.address()) == 0; }))
      << "an HTTP/1.1-only endpoint fails a check sent over HTTP/2";
  // Checks every 100 ms, one failure flips: by now the h2 endpoint passed several.
  EXPECT_EQ(healthy(h2.address()), 1);
  for (const auto& request : h1_only.received()) {
    EXPECT_NE(request.target, "/health") << "a check went over HTTP/1.1";
  }
  EXPECT_EQ(http_request(proxy.proxy_port(), "GET", "/").status, 200u);
}

// A connect that does not complete (here the TLS handshake with a listener that never reads) is
// given up at timeouts.upstream_connect, long before the request's own timeout.
TEST(Http2Upstream, AConnectThatHangsIsGivenUpAtTheConnectTimeout) {
  TempDir dir;
  const auto certificate = bgp::testing::make_certificate("backend.test");
  const auto cert = dir.write("backend.crt", certificate.cert_pem);
  // The kernel completes the TCP connect (the listen backlog); nothing is ever accepted.
  boost::asio::io_context io;
  const boost::asio::ip::tcp::acceptor silent(io,
                                              {boost::asio::ip::make_address_v4("127.0.0.1"), 0});
  const std::string address = fmt::format("127.0.0.1:{}", silent.local_endpoint().port());
  Bgproxy proxy(make_config(
      {.blue = {address},
       .green = {address},
       .color_keys = fmt::format("protocol: h2\ntls:\n  enabled: true\n  ca: {}\n", cert),
       .timeouts = "upstream_connect: 1s\nupstream_response: 60s"}));
  ASSERT_TRUE(proxy.start());
  const auto started = std::chrono::steady_clock::now();
  const auto r = http_request(proxy.proxy_port(), "GET", "/", {}, {}, 45s);
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 504u) << r.error << r.body;
  EXPECT_GE(waited, 1s) << "a connect is given its whole upstream_connect";
  EXPECT_LT(waited, 30s) << "given up at upstream_connect, not at upstream_response";
  EXPECT_GE(metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_upstream_errors_total",
                       {R"(kind="connect")"}),
            1);
}

TEST(Http2Upstream, ADeadEndpointIsPassedOverForTheNextOne) {
  const auto live = echo_server("blue-2");
  const std::string dead = fmt::format("127.0.0.1:{}", free_port());
  Bgproxy proxy(make_config({.blue = {dead, live.address()},
                             .green = {live.address()},
                             .color_keys = "protocol: h2c\n"}));
  ASSERT_TRUE(proxy.start());
  for (int i = 0; i < 4; ++i) {
    const auto r = http_request(proxy.proxy_port(), "GET", "/");
    EXPECT_EQ(r.status, 200u) << r.error << r.body;
  }
  EXPECT_GE(metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_upstream_errors_total",
                       {R"(kind="connect")"}),
            1);
}

}  // namespace
}  // namespace bgt
