// The HTTP/2 front of a running bgproxy, with real clients (curl, nghttp): h2c by prior knowledge
// on `listen`, h2 by ALPN on the TLS listener, each stream forwarded to an HTTP/1.1 backend.
#include <csignal>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/raw_conn.h"
#include "support/test_certs.h"

namespace bgt {
namespace {

using bgp::testing::make_certificate;

constexpr const char* kCurl = "/usr/bin/curl";

class Http2Test : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  std::string config(std::string top = "protocols: [http1, h2c]\n") {
    return make_config({.blue = {blue.address()}, .green = {green.address()}, .top = top});
  }

  static std::string url(const Bgproxy& proxy, std::string_view path = "/") {
    return fmt::format("http://127.0.0.1:{}{}", proxy.proxy_port(), path);
  }

  // curl by prior knowledge with `args`; its output is what -w printed.
  static ProcessResult h2c(std::vector<std::string> args) {
    std::vector<std::string> argv{kCurl, "-s", "--http2-prior-knowledge", "--max-time", "20"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, 30s);
  }
};

TEST_F(Http2Test, CurlByPriorKnowledgeGetsTheBackendsAnswerOverHttp2) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  blue.set_echo(true);
  const auto r = h2c({"-w", "\n%{http_code} %{http_version}", "-H", "Cookie: a=1", "-H",
                      "Cookie: b=2", url(proxy, "/hello?x=1")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("\n200 2")) << r.out;
  EXPECT_TRUE(r.out.starts_with(R"({"backend":"blue-1")")) << r.out;

  const auto received = blue.received();
  ASSERT_EQ(received.size(), 1u);
  const auto& request = received.back();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/hello?x=1");
  EXPECT_EQ(request.version, "1.1");
  EXPECT_EQ(request.header("Host"), fmt::format("127.0.0.1:{}", proxy.proxy_port()));
  EXPECT_EQ(request.header("Cookie"), "a=1; b=2") << "HTTP/2 cookie crumbs joined for HTTP/1";
  EXPECT_EQ(request.header("X-Forwarded-Proto"), "http");
  EXPECT_EQ(request.header("X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(request.header("Via"), "2.0 bgproxy");

  // The exchange is counted once, as an HTTP/1 request is.
  EXPECT_TRUE(wait_until([&] {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_requests_total",
                      {R"(color="blue")", R"(code="2xx")"}) == 1;
  }));
}

TEST_F(Http2Test, WithoutH2cThePrefaceIsNotServed) {
  Bgproxy proxy(config(""));
  ASSERT_TRUE(proxy.start());
  const auto r = h2c({"-o", "/dev/null", "-w", "%{http_code}", url(proxy)});
  EXPECT_NE(r.out, "200") << "h2c is off unless `protocols` lists it";
  // The preface is an HTTP/1.1 request of version 2.0 there: 505, and nothing goes upstream.
  Conn conn(proxy.proxy_port());
  ASSERT_TRUE(conn.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  const auto refused = conn.response();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 505u);
  EXPECT_EQ(blue.requests() + green.requests(), 0u);
  // HTTP/1.1 still works beside h2c.
  Bgproxy both(config());
  ASSERT_TRUE(both.start());
  EXPECT_EQ(http_request(both.proxy_port(), "GET", "/").status, 200u);
}

// RFC 9113 removed the h2c upgrade: the request is answered over HTTP/1.1 and its Upgrade (with
// HTTP2-Settings) goes no further.
TEST_F(Http2Test, AnUpgradeToH2cIsAnsweredOverHttp1) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  blue.set_echo(true);
  const auto r = run_process({kCurl, "-s", "--http2", "--max-time", "20", "-o", "/dev/null", "-w",
                              "%{http_code} %{http_version}", url(proxy, "/up")},
                             30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200 1.1");
  const auto received = blue.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received.back().header("Upgrade"), "");
  EXPECT_EQ(received.back().header("HTTP2-Settings"), "");
}

TEST_F(Http2Test, ABodyGoesUpAndALargeResponseComesBackWhole) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  blue.set_echo(true);
  TempDir dir;
  const std::string upload(300 * 1024, 'u');  // over the 64 KiB stream window
  std::ofstream(dir.path() + "/upload", std::ios::binary) << upload;
  const auto r = h2c({"-o", dir.path() + "/echo", "-w", "%{http_code} %{http_version}",
                      "--data-binary", "@" + dir.path() + "/upload", url(proxy, "/up")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200 2");
  const auto received = blue.received();
  ASSERT_FALSE(received.empty());
  EXPECT_EQ(received.back().method, "POST");
  EXPECT_EQ(received.back().body.size(), upload.size());
  EXPECT_EQ(received.back().body, upload);

  // A response many windows long, read by a client that keeps up.
  blue.set_echo(false);
  blue.set_body_padding(4 * 1024 * 1024);
  const auto big = h2c({"-o", "/dev/null", "-w", "%{http_code} %{size_download}", url(proxy)});
  ASSERT_EQ(big.exit_code, 0) << big.err;
  EXPECT_EQ(big.out, fmt::format("200 {}", 4 * 1024 * 1024 + std::string("blue-1").size()));
}

// nghttp sends its requests as concurrent streams of one connection and prints a line per
// response in its statistics.
TEST_F(Http2Test, ManyStreamsOnOneConnectionAreEachAnsweredAndCountedOnce) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  constexpr int kStreams = 40;
  const auto r = run_process(
      {"/usr/bin/nghttp", "-n", "-s", "-m", std::to_string(kStreams), url(proxy, "/many")}, 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int answered = 0;
  for (auto at = r.out.find(" 200 "); at != std::string::npos; at = r.out.find(" 200 ", at + 1)) {
    ++answered;
  }
  EXPECT_EQ(answered, kStreams) << r.out;
  EXPECT_TRUE(wait_until([&] {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_requests_total") == kStreams;
  }));
  EXPECT_EQ(blue.received().size(), static_cast<std::size_t>(kStreams));
}

TEST_F(Http2Test, TheProxysOwnAnswersComeOverHttp2) {
  blue.stop();  // a dead endpoint: every connect fails
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  const auto r = h2c({"-o", "/dev/null", "-w", "%{http_code} %{http_version}", url(proxy)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "502 2");
  EXPECT_TRUE(wait_until([&] {
    const auto metrics = proxy.admin("GET", "/metrics").body;
    return metric_sum(metrics, "bgproxy_requests_total", {R"(code="5xx")"}) == 1 &&
           metric_sum(metrics, "bgproxy_upstream_errors_total", {R"(kind="connect")"}) >= 1;
  }));
}

TEST_F(Http2Test, H2OverTlsIsChosenByAlpn) {
  const std::uint16_t tls_port = free_port();
  Bgproxy proxy(
      config(fmt::format("protocols: [http1, h2c]\ntls:\n  listen: 127.0.0.1:{}\n"
                         "  cert: $DIR/server.crt\n  key: $DIR/server.key\n"
                         "  alpn: [h2, http/1.1]\n",
                         tls_port)));
  const auto certificate = make_certificate("proxy.test");
  std::ofstream(proxy.dir() + "/server.crt") << certificate.cert_pem;
  std::ofstream(proxy.dir() + "/server.key") << certificate.key_pem;
  ASSERT_TRUE(proxy.start());
  blue.set_echo(true);
  const std::string https = fmt::format("https://127.0.0.1:{}/tls", tls_port);
  const auto h2 = run_process({kCurl, "-sk", "--http2", "--max-time", "20", "-o", "/dev/null", "-w",
                               "%{http_code} %{http_version}", https},
                              30s);
  ASSERT_EQ(h2.exit_code, 0) << h2.err;
  EXPECT_EQ(h2.out, "200 2");
  EXPECT_EQ(blue.received().back().header("X-Forwarded-Proto"), "https");
  EXPECT_EQ(blue.received().back().header("Transfer-Encoding"), "") << "a GET has no body";
  // A client that asks for HTTP/1.1 by ALPN still gets it.
  const auto h1 = run_process({kCurl, "-sk", "--http1.1", "--max-time", "20", "-o", "/dev/null",
                               "-w", "%{http_code} %{http_version}", https},
                              30s);
  ASSERT_EQ(h1.exit_code, 0) << h1.err;
  EXPECT_EQ(h1.out, "200 1.1");
}

// An upstream that dies in the middle of a body: the client sees its stream reset, never a short
// body that looks whole; the exchange keeps its status and the color an upstream error.
TEST_F(Http2Test, AnUpstreamThatDiesInABodyResetsTheStream) {
  ScriptedBackend backend([](Conn& peer) {
    if (peer.read_until("\r\n\r\n", 10s).empty()) return;
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
  });  // the connection closes here
  Bgproxy proxy(make_config({.blue = {backend.address()},
                             .green = {backend.address()},
                             .top = "protocols: [http1, h2c]\n"}));
  ASSERT_TRUE(proxy.start());
  const auto r = h2c({"-o", "/dev/null", "-w", "%{http_code}", url(proxy)});
  EXPECT_NE(r.exit_code, 0) << "curl must see the stream fail";
  // The head may or may not have gone out before the reset: either way no 100-byte body.
  EXPECT_TRUE(r.out == "200" || r.out == "000") << r.out;
  EXPECT_TRUE(wait_until([&] {
    const auto metrics = proxy.admin("GET", "/metrics").body;
    return metric_sum(metrics, "bgproxy_upstream_errors_total", {R"(kind="reset")"}) == 1 &&
           metric_sum(metrics, "bgproxy_requests_total", {R"(code="2xx")"}) == 1;
  }));
}

// SIGTERM while a stream waits for its upstream: the stream is answered, then the proxy exits.
TEST_F(Http2Test, ADrainLetsAStreamInFlightFinish) {
  blue.set_latency(1500ms);
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  auto client = std::async(std::launch::async, [&] {
    return h2c({"-o", "/dev/null", "-w", "%{http_code} %{http_version}", url(proxy, "/slow")});
  });
  ASSERT_TRUE(wait_until([&] { return blue.received().size() == 1; }));
  proxy.signal(SIGTERM);
  const auto r = client.get();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200 2");
  EXPECT_EQ(proxy.wait_exit(10s), 0);
}

// A real gRPC client (grpcio) through the HTTP/2 front: the proxy's own answers are gRPC
// statuses in trailers-only responses, counted by color and code.
TEST_F(Http2Test, AGrpcClientGetsUnavailableFromTheProxyItself) {
  blue.stop();  // connects fail
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  const std::string script =
      "import grpc, sys\n"
      "channel = grpc.insecure_channel(sys.argv[1])\n"
      "call = channel.unary_unary('/echo.Echo/Say', request_serializer=lambda b: b,\n"
      "                           response_deserializer=lambda b: b)\n"
      "try:\n"
      "    call(b'hi', timeout=10)\n"
      "    print('OK')\n"
      "except grpc.RpcError as e:\n"
      "    print(e.code().name, e.details())\n";
  const auto r = run_process(
      {"/usr/bin/python3", "-c", script, fmt::format("127.0.0.1:{}", proxy.proxy_port())}, 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "UNAVAILABLE bgproxy: 502 Bad Gateway\n");
  EXPECT_TRUE(wait_until([&] {
    const auto metrics = proxy.admin("GET", "/metrics").body;
    return metric_sum(metrics, "bgproxy_grpc_responses_total",
                      {R"(color="blue")", R"(code="UNAVAILABLE")"}) == 1;
  }));
}

}  // namespace
}  // namespace bgt
