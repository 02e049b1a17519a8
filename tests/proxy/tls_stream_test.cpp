// TlsStream and the TLS contexts over loopback: handshake and echo, refused versions, ALPN,
// resumption across a rebuilt server context, upstream verification, certificate reload.
#include <array>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "proxy/tls_harness.h"

namespace bgp::testing {
namespace {

using ::testing::HasSubstr;
namespace http = boost::beast::http;
constexpr auto as_values = net::as_tuple(net::deferred);

// Echoes what it reads until the peer's close_notify, then sends its own.
net::awaitable<void> echo(TlsStream& stream, error_code& ended) {
  std::array<char, 64> buffer{};
  for (;;) {
    const std::tuple<error_code, std::size_t> read =
        co_await stream.async_read_some(net::buffer(buffer), as_values);
    if (std::get<0>(read)) {
      ended = std::get<0>(read);
      break;
    }
    const std::tuple<error_code, std::size_t> written =
        co_await net::async_write(stream, net::buffer(buffer.data(), std::get<1>(read)), as_values);
    if (std::get<0>(written)) co_return;
  }
  const std::tuple<error_code> shut = co_await stream.async_shutdown(as_values);
  std::ignore = shut;
}

// Writes `message` 3 bytes at a time and reads the echo back; "" when anything failed.
net::awaitable<void> send_in_pieces(TlsStream& stream, std::string message, std::string& echoed) {
  for (std::size_t at = 0; at < message.size(); at += 3) {
    const auto piece =
        net::buffer(message.data() + at, std::min<std::size_t>(3, message.size() - at));
    const std::tuple<error_code, std::size_t> written =
        co_await net::async_write(stream, piece, as_values);
    if (std::get<0>(written)) co_return;
  }
  std::string back(message.size(), '\0');
  const std::tuple<error_code, std::size_t> read =
      co_await net::async_read(stream, net::buffer(back), as_values);
  if (!std::get<0>(read)) echoed = back;
}

class TlsStreamTest : public ::testing::Test {
 protected:
  TlsHarness h;

  struct Pair {
    TlsStream server;
    TlsStream client;
  };
  Pair open(const std::shared_ptr<const TlsServerContext>& server,
            const std::shared_ptr<const TlsClientContext>& client) {
    auto [client_socket, server_socket] = h.connect();
    return {TlsStream::server(std::move(server_socket), server),
            TlsStream::client(std::move(client_socket), client, h.endpoint())};
  }

  // One echo round over an established pair; the echoed text.
  std::string echo_round(Pair& pair, const std::string& message) {
    error_code ended;
    std::string echoed;
    bool server_done = false;
    bool client_done = false;
    net::co_spawn(h.io, echo(pair.server, ended), [&](std::exception_ptr) { server_done = true; });
    net::co_spawn(h.io, send_in_pieces(pair.client, message, echoed),
                  [&](std::exception_ptr) { client_done = true; });
    EXPECT_TRUE(h.run_until([&] { return client_done; }));
    // The client's close_notify ends the echo loop.
    bool shut = false;
    pair.client.async_shutdown([&](error_code) { shut = true; });
    EXPECT_TRUE(h.run_until([&] { return shut && server_done; }));
    EXPECT_EQ(ended, net::error::eof);
    return echoed;
  }
};

TEST_F(TlsStreamTest, HandshakeThenEchoInThreeByteWrites) {
  auto pair = open(h.server_context(h.server_files), h.client_context(h.server_files));
  const auto done = h.handshake(pair.server, pair.client);
  ASSERT_FALSE(done.server) << done.server.message() << " " << pair.server.error_detail();
  ASSERT_FALSE(done.client) << done.client.message() << " " << pair.client.error_detail();
  EXPECT_EQ(pair.server.alpn(), "http/1.1");
  EXPECT_EQ(pair.client.alpn(), "http/1.1");
  EXPECT_EQ(pair.server.sni(), "");  // an IP address is not sent as SNI
  EXPECT_EQ(SSL_version(pair.server.native_handle()), TLS1_3_VERSION);
  const std::string message = "GET / HTTP/1.1\r\nHost: a\r\n\r\n, in pieces of three bytes";
  EXPECT_EQ(echo_round(pair, message), message);
}

TEST_F(TlsStreamTest, GatherWritesArriveInOrder) {
  auto pair = open(h.server_context(h.server_files), h.client_context(h.server_files));
  ASSERT_FALSE(h.handshake(pair.server, pair.client).client);
  const std::string large(20000, 'x');  // past one record: written over several write_some
  const std::array<net::const_buffer, 4> pieces{net::buffer("head\r\n", 6), net::buffer("", 0),
                                                net::buffer("body", 4), net::buffer(large)};
  bool written = false;
  net::async_write(pair.client, pieces, [&](error_code ec, std::size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 10 + large.size());
    written = true;
  });
  std::string got(10 + large.size(), '\0');
  bool read = false;
  net::async_read(pair.server, net::buffer(got), [&](error_code ec, std::size_t) {
    EXPECT_FALSE(ec);
    read = true;
  });
  ASSERT_TRUE(h.run_until([&] { return written && read; }));
  EXPECT_EQ(got, "head\r\nbody" + large);
}

TEST_F(TlsStreamTest, DecryptedBytesWaitingInOpenSslAreReported) {
  auto pair = open(h.server_context(h.server_files), h.client_context(h.server_files));
  ASSERT_FALSE(h.handshake(pair.server, pair.client).client);
  bool written = false;
  net::async_write(pair.client, net::buffer("0123456789", 10),
                   [&](error_code, std::size_t) { written = true; });
  char one = 0;
  bool read = false;
  pair.server.async_read_some(net::buffer(&one, 1), [&](error_code ec, std::size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 1u);
    read = true;
  });
  ASSERT_TRUE(h.run_until([&] { return written && read; }));
  EXPECT_TRUE(pair.server.has_buffered_input());    // the record's rest, decrypted
  EXPECT_EQ(pair.server.socket().available(), 0u);  // a socket wait would never wake for them
}

TEST_F(TlsStreamTest, BeastReadsAndWritesHttpOverIt) {
  auto pair = open(h.server_context(h.server_files), h.client_context(h.server_files));
  ASSERT_FALSE(h.handshake(pair.server, pair.client).client);
  http::request<http::string_body> request{http::verb::post, "/hello", 11};
  request.set(http::field::host, "proxy.test");
  request.body() = "ping";
  request.prepare_payload();
  bool sent = false;
  http::async_write(pair.client, request, [&](error_code ec, std::size_t) {
    EXPECT_FALSE(ec);
    sent = true;
  });
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> received;
  bool got = false;
  http::async_read(pair.server, buffer, received, [&](error_code ec, std::size_t) {
    EXPECT_FALSE(ec) << ec.message();
    got = true;
  });
  ASSERT_TRUE(h.run_until([&] { return sent && got; }));
  EXPECT_EQ(received.target(), "/hello");
  EXPECT_EQ(received.body(), "ping");
}

// A client that only speaks TLS 1.1 (OpenSSL needs security level 0 to even offer it).
TEST_F(TlsStreamTest, Tls11IsRefused) {
  SslCtxPtr old(SSL_CTX_new(TLS_client_method()));
  ASSERT_TRUE(old);
  SSL_CTX_set_security_level(old.get(), 0);
  ASSERT_EQ(SSL_CTX_set_min_proto_version(old.get(), TLS1_1_VERSION), 1);
  ASSERT_EQ(SSL_CTX_set_max_proto_version(old.get(), TLS1_1_VERSION), 1);
  ASSERT_EQ(SSL_CTX_set_cipher_list(old.get(), "DEFAULT:@SECLEVEL=0"), 1);
  SslPtr ssl(SSL_new(old.get()));
  SSL_set_connect_state(ssl.get());
  auto [client_socket, server_socket] = h.connect();
  TlsStream server = TlsStream::server(std::move(server_socket), h.server_context(h.server_files));
  TlsStream client(std::move(client_socket), std::move(ssl), nullptr);
  const auto done = h.handshake(server, client);
  EXPECT_EQ(classify_handshake_failure(done.server), HandshakeFailure::protocol_version)
      << done.server.message() << ": " << server.error_detail();
  EXPECT_EQ(classify_handshake_failure(done.client), HandshakeFailure::protocol_version)
      << done.client.message() << ": " << client.error_detail();
  EXPECT_EQ(name(HandshakeFailure::protocol_version), "protocol_version");
}

TEST_F(TlsStreamTest, AlpnWithoutOverlapIsAFatalAlert) {
  auto pair = open(h.server_context(h.server_files), h.client_context(h.server_files));
  const unsigned char h2_only[] = {2, 'h', '2'};
  ASSERT_EQ(SSL_set_alpn_protos(pair.client.native_handle(), h2_only, sizeof h2_only), 0);
  const auto done = h.handshake(pair.server, pair.client);
  EXPECT_EQ(classify_handshake_failure(done.server), HandshakeFailure::no_alpn)
      << pair.server.error_detail();
  // The client got alert 120 (no_application_protocol).
  EXPECT_EQ(classify_handshake_failure(done.client), HandshakeFailure::no_alpn)
      << pair.client.error_detail();
  EXPECT_THAT(pair.client.error_detail(), HasSubstr("no application protocol"));
}

TEST_F(TlsStreamTest, AClientWithoutAlpnIsServed) {
  auto pair = open(h.server_context(h.server_files), h.client_context(h.server_files));
  ASSERT_EQ(SSL_set_alpn_protos(pair.client.native_handle(), nullptr, 0), 0);
  const auto done = h.handshake(pair.server, pair.client);
  ASSERT_FALSE(done.server) << pair.server.error_detail();
  EXPECT_EQ(pair.server.alpn(), "");
}

// Resumption for TLS 1.2 and 1.3: a ticket from one server context resumes on a rebuilt one
// (the ticket keys outlive contexts), and not on one with other keys.
TEST_F(TlsStreamTest, TicketsResumeAcrossARebuiltServerContext) {
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    const auto client = h.client_context(h.server_files);
    {
      auto first = open(h.server_context(h.server_files), client);
      SSL_set_max_proto_version(first.client.native_handle(), version);
      ASSERT_FALSE(h.handshake(first.server, first.client).client);
      EXPECT_FALSE(first.client.resumed());
      EXPECT_EQ(echo_round(first, "abc"), "abc");  // 1.3 tickets arrive after the handshake
    }
    ASSERT_EQ(client->sessions().size(), 1u);
    auto second = open(h.server_context(h.server_files), client);  // rebuilt: a reload
    SSL_set_max_proto_version(second.client.native_handle(), version);
    ASSERT_FALSE(h.handshake(second.server, second.client).client);
    EXPECT_TRUE(second.client.resumed());
    EXPECT_TRUE(second.server.resumed());

    h.ticket_keys = std::make_shared<TicketKeys>();  // a new process: other keys
    auto third = open(h.server_context(h.server_files), client);
    SSL_set_max_proto_version(third.client.native_handle(), version);
    ASSERT_FALSE(h.handshake(third.server, third.client).client);
    EXPECT_FALSE(third.server.resumed());
  }
}

// Two endpoints of one color, each a process with its own ticket keys: a session of one does not
// resume on the other, so a cache with one slot for the color would make every alternate
// connection a full handshake. Each endpoint keeps its own.
TEST_F(TlsStreamTest, EachUpstreamEndpointResumesItsOwnSession) {
  const auto client = h.client_context(h.server_files);
  const auto server_a = h.server_context(h.server_files);
  h.ticket_keys = std::make_shared<TicketKeys>();
  const auto server_b = h.server_context(h.server_files);
  tcp::acceptor acceptor_b{h.io, {net::ip::make_address("127.0.0.1"), 0}};
  const Address endpoint_b{"127.0.0.1", acceptor_b.local_endpoint().port()};
  const auto open_b = [&] {
    tcp::socket socket(h.io);
    socket.connect(acceptor_b.local_endpoint());
    return Pair{TlsStream::server(acceptor_b.accept(), server_b),
                TlsStream::client(std::move(socket), client, endpoint_b)};
  };
  for (const int round : {1, 2, 3}) {
    SCOPED_TRACE(round);
    auto a = open(server_a, client);
    ASSERT_FALSE(h.handshake(a.server, a.client).client) << a.client.error_detail();
    EXPECT_EQ(a.server.resumed(), round > 1);
    EXPECT_EQ(echo_round(a, "abc"), "abc");  // 1.3 tickets arrive after the handshake
    auto b = open_b();
    ASSERT_FALSE(h.handshake(b.server, b.client).client) << b.client.error_detail();
    EXPECT_EQ(b.server.resumed(), round > 1);
    EXPECT_EQ(echo_round(b, "abc"), "abc");
    EXPECT_EQ(client->sessions().size(), 2u);
  }
}

// Every connection after the first resumes, in TLS 1.3 too, where OpenSSL marks a session it
// resumed as used up (and the server's next ticket with it): the cache keeps its own copy.
TEST_F(TlsStreamTest, EveryNextUpstreamConnectionResumes) {
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    const auto client = h.client_context(h.server_files);
    const auto server = h.server_context(h.server_files);
    for (const int round : {1, 2, 3, 4}) {
      SCOPED_TRACE(round);
      auto pair = open(server, client);
      SSL_set_max_proto_version(pair.client.native_handle(), version);
      ASSERT_FALSE(h.handshake(pair.server, pair.client).client) << pair.client.error_detail();
      EXPECT_EQ(pair.client.resumed(), round > 1);
      EXPECT_EQ(pair.server.resumed(), round > 1);
      EXPECT_EQ(echo_round(pair, "abc"), "abc");  // 1.3 tickets arrive after the handshake
    }
  }
}

TEST_F(TlsStreamTest, RotatedTicketKeysStillResume) {
  const auto client = h.client_context(h.server_files);
  const auto server = h.server_context(h.server_files);
  {
    auto first = open(server, client);
    ASSERT_FALSE(h.handshake(first.server, first.client).client);
    EXPECT_EQ(echo_round(first, "abc"), "abc");
  }
  h.ticket_keys->rotate();
  auto second = open(server, client);
  ASSERT_FALSE(h.handshake(second.server, second.client).client);
  EXPECT_TRUE(second.server.resumed());
}

TEST_F(TlsStreamTest, UpstreamVerificationNeedsTheRightCaAndName) {
  const auto other = h.dir.write("other", make_certificate("other.test"));
  {
    auto pair =
        open(h.server_context(h.server_files), h.client_context(h.server_files, "localhost"));
    const auto done = h.handshake(pair.server, pair.client);
    EXPECT_FALSE(done.client) << pair.client.error_detail();
    EXPECT_EQ(pair.server.sni(), "localhost");
  }
  {
    auto pair = open(h.server_context(h.server_files), h.client_context(other));
    const auto done = h.handshake(pair.server, pair.client);
    EXPECT_EQ(done.client, make_error_code(TlsErrc::bad_certificate));
    EXPECT_EQ(pair.client.error_detail(), "certificate verify failed: self-signed certificate");
    EXPECT_EQ(classify_handshake_failure(done.server), HandshakeFailure::bad_certificate)
        << pair.server.error_detail();  // the client's alert
  }
  {
    auto pair =
        open(h.server_context(h.server_files), h.client_context(h.server_files, "wrong.test"));
    const auto done = h.handshake(pair.server, pair.client);
    EXPECT_EQ(done.client, make_error_code(TlsErrc::bad_certificate));
    EXPECT_EQ(pair.client.error_detail(), "certificate verify failed: hostname mismatch");
  }
}

TEST_F(TlsStreamTest, ReloadServesTheNewCertificateToNewConnectionsOnly) {
  TlsServerContextSlot slot(h.ticket_keys);
  ASSERT_EQ(slot.reload(h.listener(h.server_files)), "");
  const auto renewed = h.dir.write(
      "renewed", make_certificate("renewed.test", -std::chrono::hours(1), std::chrono::hours(48)));
  std::string both;  // one CA file that trusts both (self-signed: their names must differ)
  for (const std::string& files : {h.server_files, renewed}) {
    std::ifstream in(files + ".crt");
    both.append(std::istreambuf_iterator<char>(in), {});
  }
  BackendTlsConfig trust_both;
  trust_both.enabled = true;
  trust_both.ca = h.dir.write("both.pem", both);
  const auto client = TlsClientContext::create(trust_both).context;
  ASSERT_TRUE(client);

  auto old_pair = open(slot.current(), client);
  ASSERT_FALSE(h.handshake(old_pair.server, old_pair.client).client);
  const auto old_expiry = slot.current()->cert_not_after();

  EXPECT_THAT(slot.reload(h.listener(h.dir.write("junk", TestCertificate{"x", "y"}))),
              HasSubstr("holds no PEM certificate"));
  EXPECT_EQ(slot.current()->cert_not_after(), old_expiry);  // a bad pair leaves the old one

  ASSERT_EQ(slot.reload(h.listener(renewed)), "");
  EXPECT_GT(slot.current()->cert_not_after(), old_expiry + 12 * 3600);
  auto new_pair = open(slot.current(), client);
  SSL_set_session(new_pair.client.native_handle(), nullptr);  // a full handshake shows the cert
  const auto done = h.handshake(new_pair.server, new_pair.client);
  ASSERT_FALSE(done.client) << done.client.message() << ": " << new_pair.client.error_detail();
  const X509* served = SSL_get0_peer_certificate(new_pair.client.native_handle());
  ASSERT_NE(served, nullptr);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notAfter(served), old_expiry + 12 * 3600), 1);

  EXPECT_EQ(echo_round(old_pair, "still here"), "still here");  // the open one carries on
}

TEST_F(TlsStreamTest, AStalledHandshakeCancelledByItsDeadlineIsATimeout) {
  auto [client_socket, server_socket] = h.connect();
  TlsStream server = TlsStream::server(std::move(server_socket), h.server_context(h.server_files));
  error_code result;
  bool done = false;
  server.async_handshake([&](error_code ec) {
    result = ec;
    done = true;
  });
  net::post(h.io, [&] { server.socket().cancel(); });  // what the deadline wheel does
  ASSERT_TRUE(h.run_until([&] { return done; }));
  EXPECT_EQ(classify_handshake_failure(result), HandshakeFailure::timeout);
}

TEST_F(TlsStreamTest, PlainHttpOnTheTlsPortIsNotTls) {
  auto [client_socket, server_socket] = h.connect();
  TlsStream server = TlsStream::server(std::move(server_socket), h.server_context(h.server_files));
  net::write(client_socket, net::buffer("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27));
  error_code result;
  bool done = false;
  server.async_handshake([&](error_code ec) {
    result = ec;
    done = true;
  });
  ASSERT_TRUE(h.run_until([&] { return done; }));
  EXPECT_EQ(classify_handshake_failure(result), HandshakeFailure::not_tls) << server.error_detail();
}

TEST_F(TlsStreamTest, APeerGoneMidHandshakeIsClosed) {
  auto [client_socket, server_socket] = h.connect();
  TlsStream server = TlsStream::server(std::move(server_socket), h.server_context(h.server_files));
  client_socket.close();
  error_code result;
  bool done = false;
  server.async_handshake([&](error_code ec) {
    result = ec;
    done = true;
  });
  ASSERT_TRUE(h.run_until([&] { return done; }));
  EXPECT_EQ(classify_handshake_failure(result), HandshakeFailure::closed) << result.message();
}

TEST_F(TlsStreamTest, ReleasedBuffersComeBackForTheNextRequest) {
  auto pair = open(h.server_context(h.server_files), h.client_context(h.server_files));
  ASSERT_FALSE(h.handshake(pair.server, pair.client).client);
  EXPECT_TRUE(pair.server.release_buffers());
  EXPECT_TRUE(pair.client.release_buffers());
  EXPECT_EQ(echo_round(pair, "after parking"), "after parking");
}

}  // namespace
}  // namespace bgp::testing
