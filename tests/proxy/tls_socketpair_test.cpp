// TlsStream, the real transport code, on a socketpair(AF_UNIX, SOCK_STREAM): an in-kernel stream,
// no network. Its peer is an OpenSSL client over memory BIOs that the test pumps by hand, sending
// the client's records into the socket 3 bytes at a time, so that every TLS record arrives cut
// into pieces: the handshake must still complete, bytes arrive in order, bytes decrypted but not
// yet read are reported (the session reads those before it waits for the socket, or it would miss
// a pipelined request), and close_notify is EOF while a bare close is a truncation.
#include <sys/socket.h>

#include <array>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_stream.h"
#include "support/fd.h"
#include "support/test_certs.h"

namespace bgp::testing {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::size_t kPiece = 3;  // bytes per write of the client's records
// Rounds in a row in which nothing moved: the exchange is stuck (it would hang on a connection).
constexpr int kIdleRounds = 3;
constexpr int kMaxRounds = 20000;  // a bound far above what any exchange here takes

// A TLS client whose bytes go through memory BIOs instead of a socket.
class MemoryClient {
 public:
  MemoryClient() : ctx_(SSL_CTX_new(TLS_client_method())) {
    if (!ctx_) throw std::bad_alloc();
    // Certificate checks are tls_stream_test's; here only the transport is under test.
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);
    ssl_.reset(SSL_new(ctx_.get()));
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    if (!ssl_ || in_ == nullptr || out_ == nullptr) throw std::bad_alloc();
    SSL_set_bio(ssl_.get(), in_, out_);  // the SSL owns both BIOs from here
    SSL_set_connect_state(ssl_.get());
  }

  bool handshake() { return SSL_do_handshake(ssl_.get()) == 1; }
  // One record (the data is small).
  bool write(std::string_view data) {
    return SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }
  void close_notify() { SSL_shutdown(ssl_.get()); }

  // Up to `n` bytes of what the client sent, taken from its output.
  std::string take_output(std::size_t n) {
    std::string bytes(n, '\0');
    const int got = BIO_read(out_, bytes.data(), static_cast<int>(n));
    bytes.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return bytes;
  }
  void give_input(std::string_view bytes) {
    BIO_write(in_, bytes.data(), static_cast<int>(bytes.size()));
  }

 private:
  SslCtxPtr ctx_;
  SslPtr ssl_;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
};

struct Read {
  error_code ec;
  std::size_t bytes = 0;
};

class TlsOverSocketpair : public ::testing::Test {
 protected:
  TlsOverSocketpair() {
    std::array<int, 2> fds{};
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds.data()) != 0)
      throw std::runtime_error("socketpair");
    client_end_.reset(fds[1]);
    tcp::socket socket(io_);
    socket.assign(tcp::v4(), fds[0]);  // any stream descriptor: its family is never asked
    server_.emplace(TlsStream::server(std::move(socket), server_context()));
  }

  std::shared_ptr<const TlsServerContext> server_context() {
    TlsConfig config;
    config.listen = Address{"127.0.0.1", 0};
    config.cert = files_ + ".crt";
    config.key = files_ + ".key";
    auto built = TlsServerContext::create(config, std::make_shared<TicketKeys>());
    if (!built.ok()) throw std::runtime_error(built.error);
    return built.context;
  }

  // One round: kPiece bytes of the client's records into the socket, the server runs what that
  // made ready, and what the server sent goes to the client. False when nothing moved.
  bool round() {
    const std::string piece = client_.take_output(kPiece);
    if (!piece.empty() && !send_all(client_end_.get(), piece)) return false;
    io_.restart();
    const std::size_t handlers = io_.poll();
    bool received = false;
    std::array<char, 4096> buffer;
    for (;;) {
      const auto n = ::recv(client_end_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n <= 0) break;
      client_.give_input({buffer.data(), static_cast<std::size_t>(n)});
      received = true;
    }
    return !piece.empty() || handlers > 0 || received;
  }

  // Rounds until `done` (which may drive the client); false when the exchange got stuck first.
  bool pump_until(const std::function<bool()>& done) {
    int idle = 0;
    for (int i = 0; i < kMaxRounds && idle < kIdleRounds; ++i) {
      if (done()) return true;
      idle = round() ? 0 : idle + 1;
    }
    return done();
  }

  bool handshake() {
    std::optional<error_code> server_done;
    server_->async_handshake([&](error_code ec) { server_done = ec; });
    if (!pump_until([&] { return client_.handshake() && server_done; })) return false;
    EXPECT_FALSE(*server_done) << server_done->message() << ": " << server_->error_detail();
    return !*server_done;
  }

  // A read of the server's, run as far as the bytes already there allow (no more rounds).
  std::optional<Read> read_now(net::mutable_buffer into) {
    std::optional<Read> read;
    server_->async_read_some(into, [&](error_code ec, std::size_t n) { read = Read{ec, n}; });
    io_.restart();
    io_.poll();
    return read;
  }

  CertDir dir_;
  std::string files_ = dir_.write("server", make_certificate("proxy.test"));
  net::io_context io_;
  std::optional<TlsStream> server_;
  Fd client_end_;
  MemoryClient client_;
};

TEST_F(TlsOverSocketpair, AHandshakeCutIntoThreeBytePiecesCompletes) {
  ASSERT_TRUE(handshake());
  EXPECT_EQ(SSL_version(server_->native_handle()), TLS1_3_VERSION);
}

TEST_F(TlsOverSocketpair, RecordsCutIntoPiecesArriveInOrder) {
  ASSERT_TRUE(handshake());
  const std::array<std::string_view, 3> records{"GET /a HTTP/1.1\r\n", "Host: x\r\n", "\r\n"};
  for (const auto record : records) ASSERT_TRUE(client_.write(record));
  std::string expected;
  for (const auto record : records) expected += record;
  std::string got(expected.size(), '\0');
  std::optional<Read> read;
  net::async_read(*server_, net::buffer(got), [&](error_code ec, std::size_t n) {
    read = Read{ec, n};
  });
  ASSERT_TRUE(pump_until([&] { return read.has_value(); })) << "the server waited for more";
  EXPECT_FALSE(read->ec) << read->ec.message();
  EXPECT_EQ(got, expected);
}

// Two pipelined requests in one record: a read of the first few bytes leaves the rest decrypted in
// OpenSSL, not on the socket. has_buffered_input() must say so, and a read gets it with no more
// bytes arriving.
TEST_F(TlsOverSocketpair, BytesDecryptedButNotReadAreReported) {
  ASSERT_TRUE(handshake());
  const std::string requests =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(client_.write(requests));
  std::array<char, 5> first{};
  std::optional<Read> read;
  server_->async_read_some(net::buffer(first), [&](error_code ec, std::size_t n) {
    read = Read{ec, n};
  });
  ASSERT_TRUE(pump_until([&] { return read.has_value(); }));
  ASSERT_FALSE(read->ec) << read->ec.message();
  ASSERT_EQ(read->bytes, first.size());
  EXPECT_TRUE(server_->has_buffered_input());

  std::string rest(requests.size(), '\0');
  const auto second = read_now(net::buffer(rest));
  ASSERT_TRUE(second) << "buffered bytes waited for the socket";
  ASSERT_FALSE(second->ec) << second->ec.message();
  rest.resize(second->bytes);
  EXPECT_EQ(std::string(first.data(), first.size()) + rest, requests);
  EXPECT_FALSE(server_->has_buffered_input());
}

// Two requests in two records that arrive together: OpenSSL reads both off the socket (read
// ahead) and a read returns the first record's bytes. The second waits in OpenSSL undecrypted:
// has_buffered_input() must still say so, or a connection that parks on the socket waits forever.
TEST_F(TlsOverSocketpair, RecordsReadAheadButNotDecryptedAreReported) {
  ASSERT_TRUE(handshake());
  const std::string a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(client_.write(a));
  ASSERT_TRUE(client_.write(b));
  ASSERT_TRUE(send_all(client_end_.get(), client_.take_output(64 * 1024)));  // both, at once
  std::string got(a.size() + b.size(), '\0');
  const auto first = read_now(net::buffer(got));
  ASSERT_TRUE(first);
  ASSERT_FALSE(first->ec) << first->ec.message();
  ASSERT_EQ(first->bytes, a.size());  // one record per read
  EXPECT_TRUE(server_->has_buffered_input());

  std::string rest(b.size(), '\0');
  const auto second = read_now(net::buffer(rest));
  ASSERT_TRUE(second) << "a record read ahead waited for the socket";
  ASSERT_FALSE(second->ec) << second->ec.message();
  EXPECT_EQ(rest.substr(0, second->bytes), b);
  EXPECT_FALSE(server_->has_buffered_input());
}

// The second record arrives cut short: OpenSSL reads its start ahead, so has_buffered_input()
// says so, but a read would wait for its rest. read_returns_at_once() tells the two apart (the
// HTTP/2 front starts its streams rather than wait for a record the client may never finish).
TEST_F(TlsOverSocketpair, AReadReturnsAtOnceOnlyForAWholeRecord) {
  ASSERT_TRUE(handshake());
  const std::string a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(client_.write(a));
  ASSERT_TRUE(client_.write(b));
  const std::string records = client_.take_output(64 * 1024);
  const std::size_t cut = records.size() - 3;  // the second record, short of its last 3 bytes
  ASSERT_TRUE(send_all(client_end_.get(), records.substr(0, cut)));
  std::string got(a.size() + b.size(), '\0');
  const auto first = read_now(net::buffer(got));
  ASSERT_TRUE(first);
  ASSERT_FALSE(first->ec) << first->ec.message();
  ASSERT_EQ(first->bytes, a.size());
  EXPECT_TRUE(server_->has_buffered_input());
  EXPECT_FALSE(server_->read_returns_at_once());

  ASSERT_TRUE(send_all(client_end_.get(), records.substr(cut)));
  EXPECT_TRUE(server_->read_returns_at_once());
  std::string rest(b.size(), '\0');
  const auto second = read_now(net::buffer(rest));
  ASSERT_TRUE(second) << "a whole record waited for the socket";
  ASSERT_FALSE(second->ec) << second->ec.message();
  EXPECT_EQ(rest.substr(0, second->bytes), b);
  EXPECT_FALSE(server_->read_returns_at_once());
}

TEST_F(TlsOverSocketpair, CloseNotifyInPiecesIsEof) {
  ASSERT_TRUE(handshake());
  client_.close_notify();
  std::array<char, 16> buffer{};
  std::optional<Read> read;
  server_->async_read_some(net::buffer(buffer), [&](error_code ec, std::size_t n) {
    read = Read{ec, n};
  });
  ASSERT_TRUE(pump_until([&] { return read.has_value(); }));
  EXPECT_EQ(read->ec, net::error::eof) << read->ec.message();
}

// A peer gone without close_notify, in the middle of a record: the body it carried may be cut
// short, which the session must not take for a clean end.
TEST_F(TlsOverSocketpair, AClosedSocketMidRecordIsATruncation) {
  ASSERT_TRUE(handshake());
  ASSERT_TRUE(client_.write("GET /a HTTP/1.1\r\n"));
  const std::string part = client_.take_output(kPiece * 4);
  ASSERT_TRUE(send_all(client_end_.get(), part));
  client_end_.reset();
  std::array<char, 64> buffer{};
  std::optional<Read> read;
  server_->async_read_some(net::buffer(buffer), [&](error_code ec, std::size_t n) {
    read = Read{ec, n};
  });
  for (int i = 0; i < kIdleRounds && !read; ++i) {
    io_.restart();
    io_.poll();
  }
  ASSERT_TRUE(read) << "the server waited on a closed socket";
  EXPECT_EQ(read->ec, make_error_code(TlsErrc::truncated)) << read->ec.message();
}

}  // namespace
}  // namespace bgp::testing
