// An HTTP/2 upstream connection (proxy/http2/upstream.h) still open when its worker goes: the
// worker's context, then its io_context, as Server::Worker destroys them. Its watch is an entry in
// the context's deadline wheel; nothing may touch the wheel once it is gone (ASan sees it), and
// the connection must be freed with the coroutine frames that hold it.
#include "proxy/http2/upstream.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

#include "metrics/stats.h"
#include "proxy/worker.h"

namespace bgp {
namespace {

namespace net = boost::asio;
using net::ip::tcp;

class Http2UpstreamConnectionTest : public ::testing::Test {
 protected:
  Http2UpstreamConnectionTest() {
    endpoint_.resolved = acceptor_->local_endpoint();
    endpoint_.address = {"127.0.0.1", endpoint_.resolved.port()};
    endpoint_.label = endpoint_.address.to_string();
    endpoint_.http2 = true;
  }

  // Runs the worker's loop until `done` holds (at most 5 s).
  template <typename Done>
  bool run_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_->run_one_for(std::chrono::milliseconds(50));
    }
    return done();
  }

  // The worker goes with the connection still open: first its context, then its io_context (the
  // test's own sockets before both).
  void end_worker() {
    peer_.reset();
    acceptor_.reset();
    context_.reset();
    io_.reset();
  }

  // Accepts the connection and reads its first `bytes.size()` bytes; then `read` holds.
  void accept_and_read(std::span<char> bytes, bool& read) {
    acceptor_->async_accept(*peer_, [this, bytes, &read](const boost::system::error_code& ec) {
      if (ec) return;
      net::async_read(
          *peer_, net::buffer(bytes.data(), bytes.size()),
          [&read](const boost::system::error_code& read_ec, std::size_t) { read = !read_ec; });
    });
  }

  BufferPool buffers_;
  StatsRegistry stats_{1};
  Logger log_;
  SnapshotSlot snapshots_;
  Config config_;
  std::optional<net::io_context> io_{std::in_place};
  std::unique_ptr<WorkerContext> context_ = std::make_unique<WorkerContext>(
      io_->get_executor(), buffers_, snapshots_, stats_.shard(0), log_, 1);
  std::optional<tcp::acceptor> acceptor_{std::in_place, *io_,
                                         tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), 0)};
  std::optional<tcp::socket> peer_{std::in_place, *io_};
  Endpoint endpoint_;
};

// Connected (its preface read by the peer), its watch waiting for its next check.
TEST_F(Http2UpstreamConnectionTest, EndsWithItsWorkerWhenConnected) {
  std::array<char, 24> preface{};
  bool preface_read = false;
  accept_and_read(preface, preface_read);
  std::weak_ptr<Http2Upstream> connection =
      context_->http2_upstreams.connection_for(*context_, endpoint_, config_);
  ASSERT_TRUE(run_until([&] { return preface_read; }));
  EXPECT_EQ(std::string_view(preface.data(), 3), "PRI");
  EXPECT_GE(context_->deadlines.linked(), 1u) << "the watch waits in the wheel";
  end_worker();
  EXPECT_TRUE(connection.expired());
}

// Still in its TLS handshake (the peer never answers), its watch armed for the connect deadline.
TEST_F(Http2UpstreamConnectionTest, EndsWithItsWorkerWhileConnecting) {
  BackendTlsConfig tls;
  tls.enabled = true;
  tls.verify = false;
  endpoint_.tls = TlsClientContext::create(tls).context;
  ASSERT_TRUE(endpoint_.tls);
  std::array<char, 1> hello{};
  bool hello_read = false;
  accept_and_read(hello, hello_read);
  std::weak_ptr<Http2Upstream> connection =
      context_->http2_upstreams.connection_for(*context_, endpoint_, config_);
  ASSERT_TRUE(run_until([&] { return hello_read; }));
  EXPECT_EQ(hello[0], '\x16') << "a TLS handshake record";
  EXPECT_GE(context_->deadlines.linked(), 1u) << "the watch waits in the wheel";
  end_worker();
  EXPECT_TRUE(connection.expired());
}

}  // namespace
}  // namespace bgp
