// Reads that leave a drained socket to epoll (proxy/edge_read.h): what arrived before a read that
// drained the socket, an end of stream or a reset, still ends the next read at once; bytes that
// come after a write are read when they come.
#include "proxy/edge_read.h"

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "proxy/upstream_stream.h"

namespace bgp {
namespace {

namespace net = boost::asio;
using boost::system::error_code;
using net::ip::tcp;
using namespace std::chrono_literals;

struct ReadResult {
  error_code ec;
  std::string bytes;
};

class EdgeReadTest : public ::testing::Test {
 protected:
  EdgeReadTest() {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    near.connect(acceptor.local_endpoint());
    far = acceptor.accept();
    enable_drain_reports(near);
  }

  // Runs the context until `result` is set, for 5 s at most.
  template <typename T>
  bool run_until(const std::optional<T>& result) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!result && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(50ms);
    }
    return result.has_value();
  }

  std::optional<ReadResult> read_edge() {
    std::optional<ReadResult> result;
    buffer.assign(64, '\0');
    async_read_some_edge(near, net::buffer(buffer), drain, [&](error_code ec, std::size_t n) {
      result = ReadResult{ec, buffer.substr(0, n)};
    });
    run_until(result);
    return result;
  }

  // Waits until the near socket has `events` pending (bytes, FIN, reset all arrived).
  void wait_for(short events) {
    pollfd p{near.native_handle(), events, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
  }

  // Lets the reactor see (and report) what is pending while no read waits: the case where a
  // reset's report is already taken when the read that drains the socket runs.
  void let_reactor_report() {
    auto work = net::make_work_guard(io);  // else poll() returns before asking epoll
    io.restart();
    io.poll();
  }

  void reset_far() {
    const linger abort{1, 0};
    ::setsockopt(far.native_handle(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    far.close();
  }

  net::io_context io;
  tcp::socket near{io};
  tcp::socket far{io};
  SocketDrain drain;
  std::string buffer;
};

TEST_F(EdgeReadTest, AShortReadDrainsTheSocketAndAFullOneDoesNot) {
  net::write(far, net::buffer(std::string(64, 'x')));
  wait_for(POLLIN);
  const auto full = read_edge();
  ASSERT_TRUE(full);
  EXPECT_EQ(full->bytes.size(), 64u);
  EXPECT_FALSE(drain.drained());

  net::write(far, net::buffer(std::string("ab")));
  wait_for(POLLIN);
  const auto short_read = read_edge();
  ASSERT_TRUE(short_read);
  EXPECT_EQ(short_read->bytes, "ab");
  EXPECT_TRUE(drain.drained());
}

TEST_F(EdgeReadTest, BytesThatComeAfterAWriteEndTheWaitingRead) {
  net::write(far, net::buffer(std::string("request")));
  wait_for(POLLIN);
  ASSERT_TRUE(read_edge());
  ASSERT_TRUE(drain.drained());

  std::optional<error_code> wrote;
  async_write_some_edge(near, net::buffer(std::string_view("response")), drain,
                        [&](error_code ec, std::size_t) { wrote = ec; });
  ASSERT_TRUE(run_until(wrote));
  EXPECT_FALSE(*wrote);
  EXPECT_FALSE(drain.drained());

  std::optional<ReadResult> next;
  buffer.assign(64, '\0');
  async_read_some_edge(near, net::buffer(buffer), drain, [&](error_code ec, std::size_t n) {
    next = ReadResult{ec, buffer.substr(0, n)};
  });
  io.restart();
  io.poll();
  EXPECT_FALSE(next);  // nothing sent yet
  net::write(far, net::buffer(std::string("next")));
  ASSERT_TRUE(run_until(next));
  EXPECT_FALSE(next->ec);
  EXPECT_EQ(next->bytes, "next");
}

TEST_F(EdgeReadTest, AnEndOfStreamBehindTheBytesIsReadAtOnce) {
  net::write(far, net::buffer(std::string("last")));
  far.shutdown(tcp::socket::shutdown_send);
  wait_for(POLLRDHUP);
  let_reactor_report();
  const auto bytes = read_edge();
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->bytes, "last");
  EXPECT_FALSE(drain.drained());  // the FIN is still to read
  const auto end = read_edge();
  ASSERT_TRUE(end) << "the end of stream was left waiting";
  EXPECT_EQ(end->ec, net::error::eof);
}

TEST_F(EdgeReadTest, AResetBehindTheBytesEndsTheNextReadAtOnce) {
  net::write(far, net::buffer(std::string("partial")));
  reset_far();
  wait_for(POLLHUP);
  let_reactor_report();
  const auto bytes = read_edge();
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->bytes, "partial");
  const auto reset = read_edge();
  ASSERT_TRUE(reset) << "the reset was left waiting";
  EXPECT_EQ(reset->ec, net::error::connection_reset);
}

TEST_F(EdgeReadTest, ARearmedSocketEndsAnOrdinaryReadOnAResetAlreadyThere) {
  net::write(far, net::buffer(std::string("partial")));
  reset_far();
  wait_for(POLLHUP);
  let_reactor_report();
  ASSERT_TRUE(read_edge());
  ASSERT_TRUE(drain.drained());
  rearm(near, drain);
  std::optional<error_code> ordinary;
  buffer.assign(64, '\0');
  near.async_read_some(net::buffer(buffer), [&](error_code ec, std::size_t) { ordinary = ec; });
  ASSERT_TRUE(run_until(ordinary)) << "the reset was left waiting";
  EXPECT_EQ(*ordinary, net::error::connection_reset);
}

// An upstream connection: the read of a response after the request's write waits for epoll, and
// the response is read when it comes.
TEST_F(EdgeReadTest, AnUpstreamStreamReadsTheResponseAfterItsRequest) {
  UpstreamStream upstream(std::move(near));
  for (int round = 0; round < 3; ++round) {
    std::optional<error_code> wrote;
    upstream.async_write_some(net::buffer(std::string_view("GET")),
                              [&](error_code ec, std::size_t) { wrote = ec; });
    ASSERT_TRUE(run_until(wrote));
    ASSERT_FALSE(*wrote);
    std::string request(3, '\0');
    net::read(far, net::buffer(request));
    EXPECT_EQ(request, "GET");

    std::optional<ReadResult> response;
    buffer.assign(64, '\0');
    upstream.async_read_some(net::buffer(buffer), [&](error_code ec, std::size_t n) {
      response = ReadResult{ec, buffer.substr(0, n)};
    });
    net::write(far, net::buffer(std::string("200")));
    ASSERT_TRUE(run_until(response)) << round;
    EXPECT_FALSE(response->ec);
    EXPECT_EQ(response->bytes, "200");
  }
}

}  // namespace
}  // namespace bgp
