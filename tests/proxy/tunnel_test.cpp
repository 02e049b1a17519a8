// The tunnel of an upgraded connection (proxy/tunnel.h), the session's own code, over Beast's
// in-memory test streams whose reads return a few bytes at a time: the bytes that came behind
// either head go first, then bytes both ways as they come; a direction that ends ends the other
// side's sending, and the other direction goes on until it ends too.
//
// No sockets and no time: the tunnel runs on an io_context with poll(), which returns when nothing
// is ready; a tunnel still running then waits for bytes (as on a real connection).
#include <array>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/ostream.hpp>

#include "proxy/tunnel.h"
#include "tests/support/piece_stream.h"

namespace bgp::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using TestStream = beast::test::stream;

constexpr std::size_t kWhole = 1 << 20;  // a read takes all the stream holds
constexpr std::array<std::size_t, 3> kReadSizes{1, 3, kWhole};

// The proxy's end of one connection: `stream`, whose writes the `peer` reads. end_sending() (what
// the tunnel calls when the other direction ended) lets the peer read to the end of what was
// written, then EOF.
class TunnelEnd : public PieceStream {
 public:
  TunnelEnd(TestStream& stream, TestStream& peer) noexcept : PieceStream(stream), peer_(peer) {}

  void end_sending() noexcept {
    sending_ended = true;
    peer_.close_remote();
  }

  bool sending_ended = false;

 private:
  TestStream& peer_;
};

// Found by the tunnel's call (argument-dependent lookup), as connection.h's are for sockets.
net::awaitable<void> end_sending(TunnelEnd& end) {
  end.end_sending();
  co_return;
}

// No clock: counts the deadlines the tunnel sets.
struct CountingGuard {
  void arm(Clock::time_point) noexcept { ++armed; }
  int armed = 0;
};

// An upgraded connection: the client's and the upstream's connections to the proxy, each with
// the bytes that came behind its head; what the client and the upstream sent comes `read_size`
// bytes per read.
struct Upgraded {
  explicit Upgraded(std::size_t read_size) {
    client.connect(client_peer);
    upstream.connect(upstream_peer);
    client.read_size(read_size);
    upstream.read_size(read_size);
  }

  // Runs the tunnel as far as the bytes allow (it is started once); true when it ended.
  bool run() {
    if (!started) {
      started = true;
      net::co_spawn(io,
                    tunnel(client_end, from_client, upstream_end, from_upstream, guard,
                           std::chrono::seconds(1)),
                    [this](const std::exception_ptr& e) {
                      EXPECT_FALSE(e) << "the tunnel threw";
                      done = true;
                    });
    }
    for (int round = 0; round < 1000 && !done; ++round) {
      if (io.poll() == 0) break;
    }
    return done;
  }

  // Destroyed in reverse: the tunnel still waiting (a failed test) goes with the io_context,
  // before the buffers and the guard it refers to.
  beast::flat_buffer from_client;    // read behind the request head
  beast::flat_buffer from_upstream;  // read behind the 101
  CountingGuard guard;
  bool started = false;
  bool done = false;
  net::io_context io;
  TestStream client{io};
  TestStream client_peer{io};
  TestStream upstream{io};
  TestStream upstream_peer{io};
  TunnelEnd client_end{client, client_peer};
  TunnelEnd upstream_end{upstream, upstream_peer};
};

void put(beast::flat_buffer& buffer, std::string_view bytes) {
  beast::ostream(buffer) << bytes;
}

TEST(Tunnel, BytesBehindTheHeadsGoFirstThenBothWaysUntilBothEnd) {
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE("read size " + std::to_string(size));
    Upgraded up(size);
    put(up.from_client, "early client bytes|");
    put(up.from_upstream, "early upstream bytes|");
    up.client.append("a client frame, and another");
    up.client.close_remote();  // the client ends its sending
    up.upstream.append("an upstream frame");
    up.upstream.close_remote();

    ASSERT_TRUE(up.run()) << "the tunnel waits although both directions ended";
    EXPECT_EQ(up.upstream_peer.str(), "early client bytes|a client frame, and another");
    EXPECT_EQ(up.client_peer.str(), "early upstream bytes|an upstream frame");
    EXPECT_TRUE(up.client_end.sending_ended);
    EXPECT_TRUE(up.upstream_end.sending_ended);
    EXPECT_EQ(up.from_client.size(), 0u);
    EXPECT_EQ(up.from_upstream.size(), 0u);
    EXPECT_GT(up.guard.armed, 0);
  }
}

TEST(Tunnel, ADirectionThatEndsLeavesTheOtherOpenUntilItEndsToo) {
  for (const std::size_t size : kReadSizes) {
    SCOPED_TRACE("read size " + std::to_string(size));
    Upgraded up(size);
    up.client.append("ping");
    up.client.close_remote();

    EXPECT_FALSE(up.run()) << "the upstream's direction is still open";
    EXPECT_EQ(up.upstream_peer.str(), "ping");
    EXPECT_TRUE(up.upstream_end.sending_ended);  // the upstream is told the client ended
    EXPECT_FALSE(up.client_end.sending_ended);

    net::write(up.upstream_peer, net::buffer(std::string_view("pong")));
    EXPECT_FALSE(up.run());
    EXPECT_EQ(up.client_peer.str(), "pong");

    up.upstream_peer.close();  // the upstream ends its sending
    ASSERT_TRUE(up.run());
    EXPECT_TRUE(up.client_end.sending_ended);
  }
}

}  // namespace
}  // namespace bgp::testing
