// Faults lose nothing: what a client and the proxy's own counts show when a backend answers early
// or sends a broken body, when endpoints change under load, when the admin port is flooded and
// when the proxy drains. The real bgproxy binary on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/beast/http.hpp>

#include "integration/harness.h"
#include "integration/raw_conn.h"

namespace bgt {
namespace {

namespace http = boost::beast::http;

// Descriptors the process holds now (/proc/PID/fd); -1 when unreadable.
int open_fds(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return -1;
  int n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++n;
  }
  return n;
}

double metric(const Bgproxy& proxy, std::string_view name, const std::vector<std::string>& labels) {
  return metric_sum(proxy.admin("GET", "/metrics").body, name, labels);
}

// A backend that reads one request head, then runs `answer` on the connection.
ScriptedBackend answering(std::function<void(Conn&)> answer) {
  return ScriptedBackend([answer = std::move(answer)](Conn& peer) {
    if (peer.read_until("\r\n\r\n", 10s).empty()) return;
    answer(peer);
  });
}

// =================================================================================================
// Item 7: broken chunk lines get a status, not a hang or a bare close.

TEST(Faults, AMalformedUpstreamChunkBeforeAnyByteWentOutIsA502) {
  auto backend = answering([](Conn& peer) {
    peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    peer.closed_within(5s);
  });
  Bgproxy proxy(make_config({.blue = {backend.address()}, .green = {backend.address()}}));
  ASSERT_TRUE(proxy.start());
  for (int i = 0; i < 3; ++i) {
    Conn client(proxy.proxy_port());
    const auto reply = client.get("/");
    ASSERT_TRUE(reply) << "a bare close instead of an answer";
    EXPECT_EQ(reply->status, 502u);
  }
  // A request is counted when its connection is done with it, which may follow the reply.
  EXPECT_TRUE(
      wait_until([&] { return metric(proxy, "bgproxy_requests_total", {R"(code="5xx")"}) == 3; }));
  EXPECT_EQ(metric(proxy, "bgproxy_upstream_errors_total", {R"(kind="reset")"}), 3);
}

TEST(Faults, AMalformedUpstreamChunkAfterTheHeadWentOutClosesTheClient) {
  std::atomic<bool> go_on{false};
  auto backend = answering([&](Conn& peer) {
    peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    wait_until([&] { return go_on.load(); }, 5s);
    peer.send("zz\r\n");
    peer.closed_within(5s);
  });
  Bgproxy proxy(make_config({.blue = {backend.address()}, .green = {backend.address()}}));
  ASSERT_TRUE(proxy.start());
  Conn client(proxy.proxy_port());
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_FALSE(client.read_until("hello", 5s).empty()) << "the first chunk was not relayed";
  go_on = true;
  EXPECT_TRUE(client.closed_within(5s));
  EXPECT_TRUE(wait_until(
      [&] { return metric(proxy, "bgproxy_upstream_errors_total", {R"(kind="reset")"}) == 1; }));
}

// A backend that counts the connections it got and the bytes it received on them.
struct CountingBackend {
  std::atomic<int> connections{0};
  std::atomic<std::size_t> bytes{0};
  ScriptedBackend server{[this](Conn& peer) {
    ++connections;
    for (;;) {
      const std::string got = peer.read_some(10s);
      if (got.empty()) return;
      bytes += got.size();
    }
  }};
};

TEST(Faults, ABareLfInARequestChunkLineIs400AtOnceAndNothingGoesUpstream) {
  CountingBackend backend;
  Bgproxy proxy(
      make_config({.blue = {backend.server.address()}, .green = {backend.server.address()}}));
  ASSERT_TRUE(proxy.start());
  const std::vector<std::string> bodies = {
      "5\nhello\n0\n\n",       "5\nhello\r\n0\r\n\r\n",
      "5\r\nhello\r\n0\n\n",   "5\r\nhello\r\n0\r\nX-T: 1\n\r\n",
      "5\r\nhello\n0\r\n\r\n", "zz\r\nhello\r\n0\r\n\r\n"};
  for (const auto& body : bodies) {
    Conn client(proxy.proxy_port());
    const auto start = Clock::now();
    ASSERT_TRUE(
        client.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body));
    const auto reply = client.response(5s);
    ASSERT_TRUE(reply) << "no answer within 5 s for " << body;
    EXPECT_EQ(reply->status, 400u) << body;
    EXPECT_LT(Clock::now() - start, 2s) << body;
    EXPECT_TRUE(client.closed_within(3s));
  }
  EXPECT_EQ(backend.bytes.load(), 0u) << "a request head reached the backend";
}

TEST(Faults, ABareLfPastTheHeldPartIs400AtOnceAndTheUpstreamGetsNoMore) {
  CountingBackend backend;
  Bgproxy proxy(
      make_config({.blue = {backend.server.address()}, .green = {backend.server.address()}}));
  ASSERT_TRUE(proxy.start());
  Conn client(proxy.proxy_port());
  ASSERT_TRUE(client.send(
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  // The proxy holds a body for 100 ms at most; the head goes upstream after it.
  ASSERT_TRUE(wait_until([&] { return backend.bytes.load() > 0; }, 5s));
  const std::size_t before = backend.bytes.load();
  const auto start = Clock::now();
  // Only bare LFs follow: a reader that waits for a CRLF waits until its timeout.
  ASSERT_TRUE(client.send("5\nworld\n0\n\n"));
  const auto reply = client.response(5s);
  ASSERT_TRUE(reply) << "no answer within 5 s";
  EXPECT_EQ(reply->status, 400u);
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_TRUE(client.closed_within(3s));
  EXPECT_EQ(backend.bytes.load(), before) << "bytes behind the bad line went upstream";
}

// =================================================================================================
// Item 5: an upstream that answers before it read the whole body.

TEST(Faults, AnEarlyUpstreamAnswerIsRelayedAndCountedAsWhatTheBackendSaid) {
  auto backend = answering([](Conn& peer) {
    peer.send(
        "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
        "too large");
    // The connection closes with the body unread: the kernel resets it.
  });
  Bgproxy proxy(make_config({.blue = {backend.address()}, .green = {backend.address()}}));
  ASSERT_TRUE(proxy.start());
  constexpr int kRuns = 5;
  constexpr std::size_t kBody = 5 * 1024 * 1024;
  const std::string chunk(64 * 1024, 'x');
  for (int run = 0; run < kRuns; ++run) {
    Conn client(proxy.proxy_port());
    ASSERT_TRUE(client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                            std::to_string(kBody) + "\r\n\r\n"));
    // The body streams from another thread until the proxy stops taking it.
    auto sender = std::async(std::launch::async, [&] {
      for (std::size_t sent = 0; sent < kBody; sent += chunk.size()) {
        if (!client.send(chunk)) return;
      }
    });
    const auto reply = client.response(10s);
    ASSERT_TRUE(reply) << "run " << run << ": no answer";
    EXPECT_EQ(reply->status, 413u) << "run " << run;
    EXPECT_EQ(reply->body, "too large");
    EXPECT_FALSE(reply->keep_alive) << "the rest of the body was never read";
    client.closed_within(5s);
    client.shutdown();  // ends the sender if it still writes
    sender.wait();
  }
  // A request is counted when its connection is done with it (after the close).
  EXPECT_TRUE(wait_until(
      [&] { return metric(proxy, "bgproxy_requests_total", {R"(code="4xx")"}) == kRuns; }));
  EXPECT_EQ(metric(proxy, "bgproxy_requests_total", {}), kRuns);
  EXPECT_EQ(metric(proxy, "bgproxy_upstream_errors_total", {}), 0);
}

// =================================================================================================
// Item 3: pooled upstream connections do not outlive their endpoint or their idle time.

// `n` requests at once, each on a connection of its own (closed on return); how many got a 200.
int burst(std::uint16_t port, int n, const std::string& headers) {
  std::vector<std::unique_ptr<Conn>> clients;
  for (int i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<Conn>(port));
    clients.back()->send("GET / HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n");
  }
  int ok = 0;
  for (auto& client : clients) {
    const auto reply = client->response(10s);
    if (reply && reply->status == 200) ++ok;
  }
  return ok;
}

constexpr int kBurst = 60;
constexpr int kSlack = 4;  // descriptors a moment's admin or log activity may hold

TEST(Faults, EndpointsRemovedByAReloadHaveTheirPooledConnectionsClosedAtOnce) {
  TestBackend blue("blue-1"), green_a("green-a"), green_b("green-b");
  green_a.set_latency(100ms);  // the burst's requests overlap: one upstream connection each
  green_b.set_latency(100ms);
  const auto config = [&](const TestBackend& green) {
    return make_config({.blue = {blue.address()},
                        .green = {green.address()},
                        .timeouts = "drain: 2s\nupstream_idle: 10m"});
  };
  Bgproxy proxy(config(green_a));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(send_requests(proxy.proxy_port(), 1).of("blue"), 1);
  const int baseline = open_fds(proxy.pid());
  ASSERT_GT(baseline, 0);
  for (int round = 0; round < 3; ++round) {
    const TestBackend& next = round % 2 == 0 ? green_b : green_a;
    EXPECT_EQ(burst(proxy.proxy_port(), kBurst, "X-Bluegreen: green\r\n"), kBurst);
    // The burst's upstream connections wait in the pool (upstream_idle is long).
    EXPECT_TRUE(wait_until([&] { return open_fds(proxy.pid()) >= baseline + kBurst / 2; }, 5s))
        << "fds " << open_fds(proxy.pid()) << ", baseline " << baseline;
    proxy.rewrite_config(config(next));
    proxy.signal(SIGHUP);
    EXPECT_TRUE(wait_until([&] { return open_fds(proxy.pid()) <= baseline + kSlack; }, 3s))
        << "round " << round << ": fds " << open_fds(proxy.pid()) << ", baseline " << baseline;
  }
  EXPECT_EQ(burst(proxy.proxy_port(), kBurst, "X-Bluegreen: green\r\n"), kBurst);
}

TEST(Faults, IdlePooledConnectionsCloseAfterUpstreamIdleWithoutFurtherTraffic) {
  TestBackend blue("blue-1"), green("green-1");
  green.set_latency(100ms);
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .timeouts = "drain: 2s\nupstream_idle: 1s"}));
  ASSERT_TRUE(proxy.start());
  const int baseline = open_fds(proxy.pid());
  EXPECT_EQ(burst(proxy.proxy_port(), kBurst, "X-Bluegreen: green\r\n"), kBurst);
  EXPECT_TRUE(wait_until([&] { return open_fds(proxy.pid()) >= baseline + kBurst / 2; }, 5s));
  // Nothing uses the pool any more: the timer closes the connections 1-2 s after their use.
  EXPECT_TRUE(wait_until([&] { return open_fds(proxy.pid()) <= baseline + kSlack; }, 5s))
      << "fds " << open_fds(proxy.pid()) << ", baseline " << baseline;
}

TEST(Faults, PooledConnectionsTheUpstreamClosedAreClosedToo) {
  TestBackend blue("blue-1"), green("green-1");
  green.set_latency(100ms);
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .timeouts = "drain: 2s\nupstream_idle: 10m"}));
  ASSERT_TRUE(proxy.start());
  const int baseline = open_fds(proxy.pid());
  EXPECT_EQ(burst(proxy.proxy_port(), kBurst, "X-Bluegreen: green\r\n"), kBurst);
  EXPECT_TRUE(wait_until([&] { return open_fds(proxy.pid()) >= baseline + kBurst / 2; }, 5s));
  green.stop();  // closes every connection: the pool's sockets sit in CLOSE-WAIT
  EXPECT_TRUE(wait_until([&] { return open_fds(proxy.pid()) <= baseline + kSlack; }, 5s))
      << "fds " << open_fds(proxy.pid()) << ", baseline " << baseline;
}

// =================================================================================================
// Item 6: a drain answers every request that arrived and resets nothing.

// What keep-alive clients saw around a drain, request by request.
struct DrainCounts {
  std::atomic<int> sent{0};         // requests written whole
  std::atomic<int> answered{0};     // ... that got a whole response
  std::atomic<int> fin_first{0};    // ... that got a clean close (FIN) before any response byte
  std::atomic<int> reset{0};        // ... whose connection was reset
  std::atomic<int> reset_fresh{0};  // ... of them the first request on a new connection
  std::atomic<int> cut{0};  // ... that got part of a response, or nothing before the timeout
  std::atomic<int> idle_closed{0};  // connections the proxy closed (FIN) between two requests

  std::string to_string() const {
    return "sent " + std::to_string(sent) + ", answered " + std::to_string(answered) +
           ", closed with FIN before an answer " + std::to_string(fin_first) + ", reset " +
           std::to_string(reset) + " (" + std::to_string(reset_fresh) + " on a new connection)" +
           ", cut " + std::to_string(cut) + ", idle connections closed " +
           std::to_string(idle_closed);
  }
};

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
  ::close(fd);
  return -1;
}

enum class Outcome { answered_keep_alive, answered_close, fin_first, reset, cut };

// Reads one response on `fd` and says how it ended.
Outcome read_outcome(int fd) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  std::string pending;
  bool any = false;
  const auto deadline = Clock::now() + 10s;
  while (!parser.is_done()) {
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return Outcome::cut;
    char chunk[4096];
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0) return errno == ECONNRESET ? Outcome::reset : Outcome::cut;
    if (n == 0) return any ? Outcome::cut : Outcome::fin_first;
    any = true;
    pending.append(chunk, static_cast<std::size_t>(n));
    boost::system::error_code ec;
    const auto used = parser.put(boost::asio::buffer(pending), ec);
    pending.erase(0, used);
    if (ec && ec != http::error::need_more) return Outcome::cut;
  }
  return parser.get().keep_alive() ? Outcome::answered_keep_alive : Outcome::answered_close;
}

// A keep-alive client sending requests back to back (a new connection after a Connection: close)
// until it cannot connect any more or `until` passes.
void drain_client(std::uint16_t port, DrainCounts& counts, Clock::time_point until) {
  static constexpr std::string_view kRequest = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  while (Clock::now() < until) {
    const int fd = connect_to(port);
    if (fd < 0) return;  // the proxy stopped listening
    for (bool fresh = true; Clock::now() < until; fresh = false) {
      // A close that arrived while the connection was idle: this request is not sent on it.
      pollfd p{fd, POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) > 0) {
        ++counts.idle_closed;
        break;
      }
      if (::send(fd, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(kRequest.size())) {
        ++counts.idle_closed;  // the connection was gone before this request was written
        break;
      }
      ++counts.sent;
      const Outcome outcome = read_outcome(fd);
      if (outcome == Outcome::answered_keep_alive) {
        ++counts.answered;
        continue;
      }
      if (outcome == Outcome::answered_close) ++counts.answered;
      if (outcome == Outcome::fin_first) ++counts.fin_first;
      if (outcome == Outcome::reset) ++counts.reset;
      if (outcome == Outcome::reset && fresh) ++counts.reset_fresh;
      if (outcome == Outcome::cut) ++counts.cut;
      break;
    }
    ::close(fd);
  }
}

TEST(Faults, DrainUnderBusyKeepAliveConnectionsLosesNoRequest) {
  constexpr int kClients = 64;
  TestBackend blue("blue-1"), green("green-1");
  blue.set_latency(5ms);  // requests are in flight when the signal comes
  Bgproxy proxy(make_config(
      {.blue = {blue.address()}, .green = {green.address()}, .timeouts = "drain: 10s"}));
  ASSERT_TRUE(proxy.start());
  DrainCounts counts;
  std::vector<std::thread> clients;
  const auto until = Clock::now() + 30s;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] { drain_client(proxy.proxy_port(), counts, until); });
  }
  EXPECT_TRUE(wait_until([&] { return counts.answered >= kClients * 20; }, 20s));
  proxy.signal(SIGTERM);
  for (auto& client : clients) client.join();
  EXPECT_EQ(proxy.wait_exit(15s), 0) << proxy.log();
  std::cout << "drain: " << counts.to_string() << "\n";
  RecordProperty("drain", counts.to_string());
  EXPECT_EQ(counts.reset, 0) << counts.to_string();
  EXPECT_EQ(counts.cut, 0) << counts.to_string();
  // A request that crossed the proxy's FIN on an idle connection is the only one allowed to go
  // unanswered: the client sees a clean close before any byte of an answer (HTTP lets it retry).
  // Busy clients send within the drain's grace for idle connections, so hardly any do.
  EXPECT_LE(counts.fin_first, kClients / 8) << counts.to_string();
  EXPECT_EQ(counts.sent - counts.answered - counts.fin_first, 0) << counts.to_string();
}

// Clients that open a new connection for every request, as the drain begins: a connection that
// was made is served (a listener closing with it in its queue, or its handshake under way, would
// reset it); the others find the port closed.
TEST(Faults, ConnectionsOpenedAsTheDrainBeginsAreServedOrRefused) {
  constexpr int kClients = 32;
  TestBackend blue("blue-1"), green("green-1");
  Bgproxy proxy(make_config(
      {.blue = {blue.address()}, .green = {green.address()}, .timeouts = "drain: 10s"}));
  ASSERT_TRUE(proxy.start());
  static constexpr std::string_view kRequest =
      "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  DrainCounts counts;
  std::atomic<int> refused{0}, refused_after_a_retry{0};
  const auto until = Clock::now() + 30s;
  const auto client = [&] {
    while (Clock::now() < until) {
      const auto connect_began = Clock::now();
      const int fd = connect_to(proxy.proxy_port());
      if (fd < 0) {
        ++refused;
        if (Clock::now() - connect_began >= 900ms) ++refused_after_a_retry;
        return;
      }
      if (::send(fd, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(kRequest.size())) {
        ++counts.sent;
        const Outcome outcome = read_outcome(fd);
        if (outcome == Outcome::answered_close) ++counts.answered;
        if (outcome == Outcome::fin_first) ++counts.fin_first;
        if (outcome == Outcome::reset) ++counts.reset;
        if (outcome == Outcome::cut || outcome == Outcome::answered_keep_alive) ++counts.cut;
      } else {
        ++counts.idle_closed;
      }
      ::close(fd);
    }
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) clients.emplace_back(client);
  EXPECT_TRUE(wait_until([&] { return counts.answered >= kClients * 20; }, 20s));
  proxy.signal(SIGTERM);
  for (auto& thread : clients) thread.join();
  EXPECT_EQ(proxy.wait_exit(15s), 0) << proxy.log();
  std::cout << "drain: " << counts.to_string() << ", refused " << refused << "\n";
  EXPECT_EQ(refused, kClients) << "every client ends refused by the closed port";
  // A client connects again within a millisecond of its last answer, so its SYN reaches the
  // listener while it still accepts: the proxy drops it, and the SYN sent again a second later
  // finds the port closed. A listener that took it instead would serve it and refuse the next
  // connect at once.
  EXPECT_GE(refused_after_a_retry, kClients / 2) << "refused " << refused;
  EXPECT_EQ(counts.reset, 0) << counts.to_string();
  EXPECT_EQ(counts.cut, 0) << counts.to_string();
  EXPECT_EQ(counts.idle_closed, 0) << counts.to_string();
  EXPECT_LE(counts.fin_first, kClients / 8) << counts.to_string();
  EXPECT_EQ(counts.sent - counts.answered - counts.fin_first, 0) << counts.to_string();
}

TEST(Faults, ADrainServesARequestOnAnIdleConnectionAndClosesTheOthersWithFin) {
  constexpr int kIdle = 10;
  TestBackend blue("blue-1"), green("green-1");
  Bgproxy proxy(
      make_config({.blue = {blue.address()}, .green = {green.address()}, .timeouts = "drain: 5s"}));
  ASSERT_TRUE(proxy.start());
  static constexpr std::string_view kRequest = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  std::vector<int> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(connect_to(proxy.proxy_port()));
    ASSERT_GE(idle.back(), 0);
    ASSERT_EQ(::send(idle.back(), kRequest.data(), kRequest.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(kRequest.size()));
    ASSERT_EQ(read_outcome(idle.back()), Outcome::answered_keep_alive);
  }
  proxy.signal(SIGTERM);
  // A request on an idle connection as the drain begins is answered...
  ASSERT_EQ(::send(idle[0], kRequest.data(), kRequest.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(kRequest.size()));
  const Outcome first = read_outcome(idle[0]);
  EXPECT_TRUE(first == Outcome::answered_close || first == Outcome::answered_keep_alive);
  // ... and the connections that stay idle end with a FIN, never a reset.
  for (int fd : idle) {
    if (fd != idle[0]) {
      EXPECT_EQ(read_outcome(fd), Outcome::fin_first);
    }
    ::close(fd);
  }
  EXPECT_EQ(proxy.wait_exit(10s), 0) << proxy.log();
}

// =================================================================================================
// Item 4: the admin port has its own share of the descriptors.

TEST(Faults, IdleAdminConnectionsDoNotStarveTheDataPlane) {
  constexpr int kIdleAdmin = 400;
  TestBackend blue("blue-1"), green("green-1");
  Bgproxy proxy(make_config(
      {.blue = {blue.address()}, .green = {green.address()}, .admin = "idle_timeout: 2s\n"}));
  proxy.set_launcher({"/usr/bin/prlimit", "--nofile=256:256"});
  ASSERT_TRUE(proxy.start());
  // 10000 connections need 20000+ descriptors: the start says the data plane takes fewer.
  EXPECT_TRUE(proxy.wait_log("descriptor limit (RLIMIT_NOFILE) 256 is too low")) << proxy.log();

  std::vector<std::unique_ptr<Conn>> idle;
  for (int i = 0; i < kIdleAdmin; ++i) idle.push_back(std::make_unique<Conn>(proxy.admin_port()));
  EXPECT_TRUE(proxy.wait_log("connection(s) refused: admin.max_connections (64) are open"))
      << proxy.log();
  EXPECT_LE(open_fds(proxy.pid()), 256);

  // The data plane answers, on a kept connection and on new ones.
  const Tally kept = send_requests(proxy.proxy_port(), 50);
  EXPECT_EQ(kept.status(200), 50) << kept.to_string();
  EXPECT_EQ(burst(proxy.proxy_port(), kBurst, ""), kBurst);

  // The idle admin connections are closed after admin.idle_timeout: the admin port answers again.
  EXPECT_TRUE(wait_until([&] { return proxy.admin("GET", "/healthz").status == 200; }, 10s));
}

}  // namespace
}  // namespace bgt
