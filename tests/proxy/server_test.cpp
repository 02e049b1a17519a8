// The data plane over real loopback sockets: an in-process Server between a TestClient and
// TestBackends the test controls.
#include "proxy/server.h"

#include <array>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "proxy/proxy_harness.h"
#include "proxy/test_http.h"

namespace bgp::testing {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  ProxyHarness proxy;
};

// --- forwarding ----------------------------------------------------------------------------------

TEST_F(ServerTest, ForwardsMethodTargetBodyAndHeaders) {
  TestBackend backend([](BackendExchange& ex) {
    ex.response.result(http::status::created);
    ex.response.set("X-From-Backend", "yes");
    ex.response.body() = "echo:" + ex.request.body();
  });
  proxy.start({endpoint_at(backend.endpoint())});

  auto request = make_request(http::verb::post, "/a/b?x=1&y=two", "hello body");
  request.set("X-Custom", "kept");
  request.set("X-Forwarded-For", "10.0.0.1");
  const auto response = fetch(proxy.proxy(), request);

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::created);
  EXPECT_EQ(response->body(), "echo:hello body");
  EXPECT_EQ(field(*response, "X-From-Backend"), "yes");
  EXPECT_EQ(field(*response, "Via"), "1.1 bgproxy");
  ASSERT_EQ(backend.request_count(), 1u);
  const auto seen = backend.requests()[0];
  EXPECT_EQ(seen.method(), http::verb::post);
  EXPECT_EQ(seen.target(), "/a/b?x=1&y=two");
  EXPECT_EQ(seen.body(), "hello body");
  EXPECT_EQ(field(seen, "X-Custom"), "kept");
  EXPECT_EQ(field(seen, "Host"), "test.local");
  EXPECT_EQ(field(seen, "X-Forwarded-For"), "10.0.0.1, 127.0.0.1");
  EXPECT_EQ(field(seen, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(field(seen, "Via"), "1.1 bgproxy");
}

TEST_F(ServerTest, RemovesHopByHopHeadersBothWays) {
  TestBackend backend([](BackendExchange& ex) {
    ex.response.set("Connection", "X-Response-Hop");
    ex.response.set("X-Response-Hop", "secret");
    ex.response.set("Keep-Alive", "timeout=3");
    ex.response.set("X-End-To-End", "kept");
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Request-Hop\r\n"
      "X-Request-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
      "TE: trailers\r\nUpgrade: h2c\r\nX-End-To-End: kept\r\n\r\n"));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::ok);
  EXPECT_EQ(field(*response, "X-Response-Hop"), "");
  EXPECT_EQ(field(*response, "Keep-Alive"), "");
  EXPECT_EQ(field(*response, "Connection"), "");  // HTTP/1.1 keep-alive needs none
  EXPECT_EQ(field(*response, "X-End-To-End"), "kept");
  ASSERT_EQ(backend.request_count(), 1u);
  const auto seen = backend.requests()[0];
  for (const char* gone :
       {"Connection", "X-Request-Hop", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade"}) {
    EXPECT_EQ(field(seen, gone), "") << gone;
  }
  EXPECT_EQ(field(seen, "X-End-To-End"), "kept");
}

TEST_F(ServerTest, StreamsChunkedBodiesBothWays) {
  TestBackend backend([](BackendExchange& ex) {
    ex.response.body() = std::string(100000, 'r');
    ex.response.chunked(true);
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(
      client.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::ok);
  EXPECT_TRUE(response->chunked());
  EXPECT_EQ(response->body(), std::string(100000, 'r'));
  ASSERT_EQ(backend.request_count(), 1u);
  EXPECT_EQ(backend.requests()[0].body(), "hello world");
}

TEST_F(ServerTest, StreamsALargeBodyThroughInPieces) {
  TestBackend backend([](BackendExchange& ex) { ex.response.body() = ex.request.body(); });
  proxy.config.limits.max_body_bytes = 0;  // unlimited
  proxy.start({endpoint_at(backend.endpoint())});

  std::string body(3 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < body.size(); i += 4096) body[i] = static_cast<char>('a' + i % 26);
  const auto response = fetch(proxy.proxy(), make_request(http::verb::put, "/big", body));

  ASSERT_TRUE(response);
  EXPECT_EQ(response->body(), body);
}

TEST_F(ServerTest, HeadResponseHasNoBodyAndTheConnectionGoesOn) {
  TestBackend backend([](BackendExchange& ex) {
    if (ex.request.method() == http::verb::head) {
      ex.response.content_length(1234);
      ex.response.body().clear();
    }
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(make_request(http::verb::head, "/")));
  const auto head = client.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(field(*head, "Content-Length"), "1234");
  ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
  const auto get = client.read_response();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body(), "ok");
}

TEST_F(ServerTest, CloseDelimitedUpstreamBodyReachesAnHttp11ClientChunked) {
  TestBackend backend([](BackendExchange& ex) {
    ex.raw = [](tcp::socket& socket) {  // no Content-Length, no chunking: the close ends the body
      net::write(socket, net::buffer(std::string_view("HTTP/1.1 200 OK\r\n\r\nuntil the close")));
    };
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  for (int i = 0; i < 2; ++i) {  // the client's connection outlives the upstream's
    ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
    const auto response = client.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_TRUE(response->chunked());
    EXPECT_EQ(response->body(), "until the close");
  }
}

// Server-sent events and long polls: each chunk reaches the client when the upstream sends it.
TEST_F(ServerTest, AStreamedChunkedResponseIsRelayedAsItComes) {
  Gate next_event;
  TestBackend backend([&](BackendExchange& ex) {
    ex.raw = [&](tcp::socket& socket) {
      net::write(socket, net::buffer(std::string_view(
                             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n9\r\ndata: one\r\n")));
      if (!next_event.wait()) return;
      net::write(socket, net::buffer(std::string_view("9\r\ndata: two\r\n0\r\n\r\n")));
    };
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(make_request(http::verb::get, "/events")));
  std::string received;
  while (received.find("data: one") == std::string::npos) {
    const std::string more = client.read_some();
    ASSERT_FALSE(more.empty()) << "the first event did not come before the stream ended: "
                               << received;
    received += more;
  }
  EXPECT_EQ(received.find("data: two"), std::string::npos);
  next_event.open();
  while (received.find("0\r\n\r\n") == std::string::npos) {
    const std::string more = client.read_some();
    ASSERT_FALSE(more.empty()) << received;
    received += more;
  }
  EXPECT_NE(received.find("data: two"), std::string::npos);
}

TEST_F(ServerTest, UpstreamFailingMidBodyClosesTheClientAndCountsAsAnError) {
  TestBackend backend([](BackendExchange& ex) {
    ex.raw = [](tcp::socket& socket) {
      net::write(
          socket,
          net::buffer(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")));
    };
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
  EXPECT_FALSE(client.read_response());  // the truncated response is not completed
  EXPECT_TRUE(client.wait_closed());
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::blue).errors, 1u);
  EXPECT_EQ(totals.of(Color::blue).upstream_errors[static_cast<int>(UpstreamError::reset)], 1u);
}

// --- HTTP/1.0 clients ----------------------------------------------------------------------------

TEST_F(ServerTest, Http10ClientGetsAChunkedResponseUnchunkedAndTheClose) {
  TestBackend backend([](BackendExchange& ex) {
    ex.response.body() = "streamed body";
    ex.response.chunked(true);
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send("GET /old HTTP/1.0\r\n\r\n"));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->version(), 10u);
  EXPECT_EQ(response->result(), http::status::ok);
  EXPECT_EQ(field(*response, "Transfer-Encoding"), "");
  EXPECT_EQ(response->body(), "streamed body");
  EXPECT_TRUE(client.wait_closed());
  ASSERT_EQ(backend.request_count(), 1u);
  EXPECT_EQ(backend.requests()[0].version(), 11u);  // upstream side is HTTP/1.1
  // HTTP/1.1 needs a Host: the upstream's address stands in for the one a 1.0 client left out.
  EXPECT_EQ(field(backend.requests()[0], "Host"), "127.0.0.1:" + std::to_string(backend.port()));
}

TEST_F(ServerTest, Http10ClientWithKeepAliveKeepsTheConnection) {
  TestBackend backend;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto response = client.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->body(), "ok");
    EXPECT_EQ(field(*response, "Connection"), "keep-alive");
  }
}

// --- keep-alive to upstreams ---------------------------------------------------------------------

TEST_F(ServerTest, ReusesUpstreamConnections) {
  TestBackend backend;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.send(make_request(http::verb::get, "/keep")));
    ASSERT_TRUE(client.read_response()) << i;
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(fetch(proxy.proxy(), make_request(http::verb::get, "/")));

  EXPECT_EQ(backend.request_count(), 10u);
  EXPECT_EQ(backend.connections(), 1u);
}

TEST_F(ServerTest, RetriesAnIdempotentRequestWhenAPooledConnectionWasClosed) {
  // The backend keeps connections open after the first response but drops the second request
  // unanswered, as an upstream closing an idle connection at the wrong moment does.
  TestBackend backend([](BackendExchange& ex) {
    if (ex.index_on_connection > 0) ex.raw = [](tcp::socket&) {};
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
    const auto response = client.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->result(), http::status::ok) << i;
  }
  EXPECT_EQ(backend.connections(), 2u);
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::blue).requests, 2u);
  EXPECT_EQ(totals.of(Color::blue).errors, 0u);
}

TEST_F(ServerTest, DoesNotRetryANonIdempotentRequestTheUpstreamMayHaveSeen) {
  TestBackend backend([](BackendExchange& ex) {
    if (ex.index_on_connection > 0) ex.raw = [](tcp::socket&) {};
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(make_request(http::verb::post, "/")));
  ASSERT_TRUE(client.read_response());
  ASSERT_TRUE(client.send(make_request(http::verb::post, "/")));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::bad_gateway);
  EXPECT_EQ(backend.request_count(), 2u);
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::blue).upstream_errors[static_cast<int>(UpstreamError::reset)], 1u);
}

// --- failures ------------------------------------------------------------------------------------

TEST_F(ServerTest, DeadEndpointGets502) {
  proxy.start({endpoint_at(dead_endpoint())});

  const auto response = fetch(proxy.proxy(), make_request(http::verb::get, "/"));

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::bad_gateway);
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::blue).requests, 1u);
  EXPECT_EQ(totals.of(Color::blue).errors, 1u);
  EXPECT_EQ(totals.of(Color::blue).upstream_errors[static_cast<int>(UpstreamError::connect)], 1u);
}

TEST_F(ServerTest, GarbageFromTheUpstreamGets502) {
  TestBackend backend([](BackendExchange& ex) {
    ex.raw = [](tcp::socket& socket) {
      net::write(socket, net::buffer(std::string_view("this is not HTTP\r\n\r\n")));
    };
  });
  proxy.start({endpoint_at(backend.endpoint())});

  const auto response = fetch(proxy.proxy(), make_request(http::verb::get, "/"));

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::bad_gateway);
}

TEST_F(ServerTest, NoHealthyEndpointGets503) {
  TestBackend backend;
  proxy.start({endpoint_at(backend.endpoint(), false)});

  TestClient client(proxy.proxy());
  for (int i = 0; i < 2; ++i) {  // a request without a body keeps its connection
    ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
    const auto response = client.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->result(), http::status::service_unavailable);
  }
  EXPECT_EQ(backend.request_count(), 0u);
  EXPECT_EQ(proxy.totals_after_stop().of(Color::blue).errors, 2u);
}

TEST_F(ServerTest, SlowUpstreamGets504) {
  Gate release;
  TestBackend backend([&](BackendExchange&) { release.wait(); });
  proxy.config.timeouts.upstream_response = std::chrono::milliseconds(200);
  proxy.start({endpoint_at(backend.endpoint())});

  const auto started = std::chrono::steady_clock::now();
  const auto response = fetch(proxy.proxy(), make_request(http::verb::get, "/slow"));
  const auto waited = std::chrono::steady_clock::now() - started;
  release.open();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::gateway_timeout);
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_LT(waited, std::chrono::seconds(3));
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::blue).upstream_errors[static_cast<int>(UpstreamError::timeout)], 1u);
}

TEST_F(ServerTest, ConnectFailureIsRetriedOnTheNextEndpoint) {
  TestBackend backend;
  proxy.start({endpoint_at(dead_endpoint()), endpoint_at(backend.endpoint())});

  for (int i = 0; i < 4; ++i) {
    const auto response = fetch(proxy.proxy(), make_request(http::verb::get, "/"));
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->result(), http::status::ok) << i;
  }
  EXPECT_EQ(backend.request_count(), 4u);
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::blue).errors, 0u);
  EXPECT_GE(totals.of(Color::blue).upstream_errors[static_cast<int>(UpstreamError::connect)], 1u);
}

// --- routing -------------------------------------------------------------------------------------

TEST_F(ServerTest, RoutesByWeightAndOverrideHeader) {
  TestBackend blue([](BackendExchange& ex) { ex.response.body() = "blue"; });
  TestBackend green([](BackendExchange& ex) { ex.response.body() = "green"; });
  proxy.start({endpoint_at(blue.endpoint())}, {endpoint_at(green.endpoint())},
              Weights::all_to(Color::green));

  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(fetch(proxy.proxy(), make_request(http::verb::get, "/"))->body(), "green");
  }
  auto forced = make_request(http::verb::get, "/");
  forced.set("X-Bluegreen", "Blue");
  EXPECT_EQ(fetch(proxy.proxy(), forced)->body(), "blue");

  proxy.publish({endpoint_at(blue.endpoint())}, {endpoint_at(green.endpoint())},
                Weights::all_to(Color::blue));
  EXPECT_EQ(fetch(proxy.proxy(), make_request(http::verb::get, "/"))->body(), "blue");

  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::green).requests, 5u);
  EXPECT_EQ(totals.of(Color::blue).requests, 1u);  // the split's: the judged traffic
  EXPECT_EQ(totals.overridden_of(Color::blue).requests, 1u);
  EXPECT_EQ(totals.overridden_of(Color::green).requests, 0u);
}

// --- 100-continue and upgrades -------------------------------------------------------------------

TEST_F(ServerTest, AnswersExpectContinueBeforeReadingTheBody) {
  TestBackend backend([](BackendExchange& ex) { ex.response.body() = "got:" + ex.request.body(); });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(
      "PUT /file HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  const auto interim = client.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->result(), http::status::continue_);
  ASSERT_TRUE(client.send("12345"));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->body(), "got:12345");
  ASSERT_EQ(backend.request_count(), 1u);
  EXPECT_EQ(field(backend.requests()[0], "Expect"), "");
}

TEST_F(ServerTest, TunnelsAnUpgradedConnection) {
  TestBackend backend([](BackendExchange& ex) {
    ex.response.result(http::status::switching_protocols);
    ex.response.set(http::field::connection, "Upgrade");
    ex.response.set(http::field::upgrade, "websocket");
    ex.response.body().clear();
    ex.response.content_length(boost::none);
    ex.after = [](tcp::socket& socket) {  // an echo server from now on
      std::array<char, 1024> buffer;
      boost::system::error_code ec;
      for (;;) {
        const auto n = socket.read_some(net::buffer(buffer), ec);
        if (ec) return;
        net::write(socket, net::buffer(buffer.data(), n), ec);
        if (ec) return;
      }
    };
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(
      client.send("GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n"));
  const auto switched = client.read_response();
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->result(), http::status::switching_protocols);
  EXPECT_EQ(field(*switched, "Upgrade"), "websocket");
  EXPECT_EQ(field(*switched, "Connection"), "upgrade");

  for (std::string message : {"hello", "frames both ways"}) {
    ASSERT_TRUE(client.send(message));
    std::string echoed;
    while (echoed.size() < message.size()) {
      const auto more = client.read_some();
      ASSERT_FALSE(more.empty());
      echoed += more;
    }
    EXPECT_EQ(echoed, message);
  }
  const auto seen = backend.requests().at(0);
  EXPECT_EQ(field(seen, "Upgrade"), "websocket");
  EXPECT_EQ(field(seen, "Connection"), "upgrade");
  client.shutdown_send();
  EXPECT_TRUE(client.wait_closed());
}

// A tunnel's deadline is the connection's one deadline, pushed on by a byte either way: an upstream
// that only talks keeps it open past client_idle; once both sides are quiet it closes.
TEST_F(ServerTest, ATunnelLivesWhileEitherSideTalksAndClosesWhenBothAreQuiet) {
  TestBackend backend([](BackendExchange& ex) {
    ex.response.result(http::status::switching_protocols);
    ex.response.set(http::field::connection, "Upgrade");
    ex.response.set(http::field::upgrade, "events");
    ex.response.body().clear();
    ex.response.content_length(boost::none);
    ex.after = [](tcp::socket& socket) {  // pushes a byte every 50 ms, 20 times, then is quiet
      boost::system::error_code ec;
      for (int i = 0; i < 20 && !ec; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        net::write(socket, net::buffer("x", 1), ec);
      }
      std::array<char, 16> ignored;
      socket.read_some(net::buffer(ignored), ec);  // until the proxy closes
    };
  });
  proxy.config.timeouts.client_idle = std::chrono::milliseconds(300);
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(
      client.send("GET /events HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                  "Upgrade: events\r\n\r\n"));
  const auto switched = client.read_response();
  ASSERT_TRUE(switched);
  ASSERT_EQ(switched->result(), http::status::switching_protocols);
  std::string pushed;
  while (pushed.size() < 20) {  // a second of pushes: over three times client_idle
    const auto more = client.read_some();
    ASSERT_FALSE(more.empty()) << "closed after " << pushed.size() << " pushes";
    pushed += more;
  }
  EXPECT_EQ(pushed, std::string(20, 'x'));
  EXPECT_TRUE(client.wait_closed());  // both quiet: closed after client_idle
}

TEST_F(ServerTest, UpgradeRefusedByTheUpstreamIsAnOrdinaryResponse) {
  TestBackend backend([](BackendExchange& ex) { ex.response.result(http::status::bad_request); });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(
      "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::bad_request);
  EXPECT_EQ(response->body(), "ok");
}

// --- refusals ------------------------------------------------------------------------------------

class RefusedRequest : public ::testing::TestWithParam<std::pair<const char*, std::string>> {
 protected:
  ProxyHarness proxy;
};

TEST_P(RefusedRequest, Gets400AndTheCloseAndNeverReachesTheBackend) {
  TestBackend backend;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(GetParam().second));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::bad_request);
  EXPECT_FALSE(response->keep_alive());
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(backend.request_count(), 0u);
  EXPECT_EQ(backend.connections(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    SmugglingShapes, RefusedRequest,
    ::testing::Values(
        std::pair{"LengthAndChunked",
                  std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")},
        std::pair{"ChunkedAndLength",
                  std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                              "Content-Length: 5\r\n\r\n0\r\n\r\n")},
        std::pair{
            "ChunkedNotLast",
            std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")},
        std::pair{"IdentityEncoding",
                  std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n")},
        std::pair{"DifferingLengths",
                  std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                              "Content-Length: 6\r\n\r\nhello!")},
        std::pair{"MalformedLength",
                  std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello")},
        std::pair{"ObsFold", std::string("GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n")},
        std::pair{"SpaceInFieldName",
                  std::string("GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n")},
        std::pair{"BareLineFeeds", std::string("GET / HTTP/1.1\nHost: x\n\n")},
        std::pair{"NotHttp", std::string("HELLO THERE\r\n\r\n")}),
    [](const auto& info) { return std::string(info.param.first); });

TEST_F(ServerTest, HeadTooLargeGets431) {
  TestBackend backend;
  proxy.config.limits.max_header_bytes = 1024;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(
      client.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n"));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::request_header_fields_too_large);
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(backend.request_count(), 0u);
}

TEST_F(ServerTest, DeclaredBodyTooLargeGets413) {
  TestBackend backend;
  proxy.config.limits.max_body_bytes = 100;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" +
                          std::string(101, 'b')));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::payload_too_large);
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(backend.request_count(), 0u);
}

TEST_F(ServerTest, ChunkedBodyGrowingTooLargeGets413) {
  TestBackend backend;
  proxy.config.limits.max_body_bytes = 100;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(
      client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "64\r\n" +
                  std::string(100, 'b') + "\r\n1\r\nb\r\n0\r\n\r\n"));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::payload_too_large);
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(backend.request_count(), 0u);  // the backend never saw a whole request
}

TEST_F(ServerTest, IncompleteHeadGets408AfterTheHeaderTimeout) {
  TestBackend backend;
  proxy.config.timeouts.client_header = std::chrono::milliseconds(200);
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: x\r\n"));
  const auto response = client.read_response();

  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::request_timeout);
  EXPECT_TRUE(client.wait_closed());
  // Refused before routing: counted against no color.
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.refused.requests, 1u);
  EXPECT_EQ(totals.refused.by_class[3], 1u);  // 4xx
  EXPECT_EQ(totals.of(Color::blue).requests + totals.of(Color::green).requests, 0u);
}

TEST_F(ServerTest, SilentConnectionIsClosedWithoutAnAnswer) {
  proxy.config.timeouts.client_header = std::chrono::milliseconds(100);
  proxy.start({endpoint_at(dead_endpoint())});

  TestClient client(proxy.proxy());
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(proxy.totals_after_stop().of(Color::blue).requests, 0u);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  TestBackend backend;
  proxy.config.timeouts.client_idle = std::chrono::milliseconds(150);
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
  ASSERT_TRUE(client.read_response());
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(ServerTest, ConnectionsOverTheLimitAreClosed) {
  TestBackend backend;
  proxy.config.limits.max_connections = 1;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient first(proxy.proxy());
  ASSERT_TRUE(first.send(make_request(http::verb::get, "/")));
  ASSERT_TRUE(first.read_response());
  TestClient second(proxy.proxy());
  EXPECT_TRUE(second.wait_closed());
  ASSERT_TRUE(first.send(make_request(http::verb::get, "/")));  // unaffected
  EXPECT_TRUE(first.read_response());
}

// --- start-up and draining -----------------------------------------------------------------------

TEST_F(ServerTest, StartThrowsWhenThePortIsTaken) {
  TestBackend occupant;
  proxy.config.listen = {"127.0.0.1", occupant.port()};
  EXPECT_THROW(proxy.start({endpoint_at(occupant.endpoint())}), std::system_error);
}

TEST_F(ServerTest, SeveralWorkersShareOnePort) {
  TestBackend backend;
  proxy.config.workers = 3;
  proxy.start({endpoint_at(backend.endpoint())});

  for (int i = 0; i < 12; ++i) {
    const auto response = fetch(proxy.proxy(), make_request(http::verb::get, "/"));
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->result(), http::status::ok);
  }
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::blue).requests, 12u);
  EXPECT_EQ(totals.downstream_connections, 0);
}

// The kernel's SO_REUSEPORT hash alone would split 40 connections 20/20 one time in eight.
TEST_F(ServerTest, ConnectionsAreSpreadEvenlyOverTheWorkers) {
  TestBackend backend;
  proxy.config.workers = 2;
  proxy.start({endpoint_at(backend.endpoint())});

  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 40; ++i) {
    clients.push_back(std::make_unique<TestClient>(proxy.proxy()));
    ASSERT_TRUE(clients.back()->send(make_request(http::verb::get, "/"))) << i;
    ASSERT_TRUE(clients.back()->read_response()) << i;
  }
  const auto first = proxy.worker_totals(0);
  const auto second = proxy.worker_totals(1);
  EXPECT_EQ(first.downstream_connections + second.downstream_connections, 40);
  EXPECT_EQ(first.downstream_connections, 20);
  EXPECT_EQ(second.downstream_connections, 20);
  for (auto& client : clients) {  // each connection still works where it went
    ASSERT_TRUE(client->send(make_request(http::verb::get, "/")));
    EXPECT_TRUE(client->read_response());
  }
  EXPECT_EQ(proxy.totals_after_stop().of(Color::blue).requests, 80u);
}

TEST_F(ServerTest, DrainFinishesTheRequestInFlightAndClosesIdleConnections) {
  Gate release;
  TestBackend backend([&](BackendExchange& ex) {
    if (ex.request.target() == "/slow") release.wait();
  });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient idle(proxy.proxy());
  ASSERT_TRUE(idle.send(make_request(http::verb::get, "/")));
  ASSERT_TRUE(idle.read_response());
  TestClient busy(proxy.proxy());
  ASSERT_TRUE(busy.send(make_request(http::verb::get, "/slow")));
  ASSERT_TRUE(backend.wait_for_requests(2));

  auto drained =
      std::async(std::launch::async, [&] { proxy.server().drain(std::chrono::seconds(10)); });
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_FALSE(TestClient(proxy.proxy(), std::chrono::milliseconds(500)).connected());
  EXPECT_EQ(drained.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  release.open();
  const auto response = busy.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::ok);
  EXPECT_FALSE(response->keep_alive());
  EXPECT_TRUE(busy.wait_closed());
  EXPECT_EQ(drained.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST_F(ServerTest, DrainTimeoutClosesWhatIsStillOpen) {
  Gate release;
  TestBackend backend([&](BackendExchange&) { release.wait(); });
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient busy(proxy.proxy());
  ASSERT_TRUE(busy.send(make_request(http::verb::get, "/stuck")));
  ASSERT_TRUE(backend.wait_for_requests(1));
  const auto started = std::chrono::steady_clock::now();
  proxy.server().drain(std::chrono::milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - started;
  release.open();

  EXPECT_GE(took, std::chrono::milliseconds(200));
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_TRUE(busy.wait_closed());
}

}  // namespace
}  // namespace bgp::testing
