// Loopback TLS connections for the tests of proxy/tls: a listener, certificates made at test
// time, and both ends of a connection as TlsStreams on one io_context.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "support/test_certs.h"
#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_stream.h"

namespace bgp::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

class TlsHarness {
 public:
  net::io_context io;
  CertDir dir;
  std::string server_files = dir.write("server", make_certificate("proxy.test"));
  std::shared_ptr<TicketKeys> ticket_keys = std::make_shared<TicketKeys>();
  tcp::acceptor acceptor{io, {net::ip::make_address("127.0.0.1"), 0}};

  // Listener settings over NAME.crt and NAME.key (a path from CertDir::write).
  TlsConfig listener(const std::string& files) const {
    TlsConfig config;
    config.listen = Address{"127.0.0.1", 0};
    config.cert = files + ".crt";
    config.key = files + ".key";
    return config;
  }

  std::shared_ptr<const TlsServerContext> server_context(const std::string& files) {
    auto built = TlsServerContext::create(listener(files), ticket_keys);
    EXPECT_TRUE(built.ok()) << built.error;
    return built.context;
  }

  // Verifying against `ca_files`.crt, with an optional server name.
  std::shared_ptr<const TlsClientContext> client_context(const std::string& ca_files,
                                                         const std::string& server_name = "") {
    BackendTlsConfig config;
    config.enabled = true;
    config.ca = ca_files + ".crt";
    config.server_name = server_name;
    auto built = TlsClientContext::create(config);
    EXPECT_TRUE(built.ok()) << built.error;
    return built.context;
  }

  Address endpoint() const { return {"127.0.0.1", acceptor.local_endpoint().port()}; }

  // A connected pair of sockets: {client end, server end}.
  std::pair<tcp::socket, tcp::socket> connect() {
    tcp::socket client(io);
    client.connect(acceptor.local_endpoint());
    return {std::move(client), acceptor.accept()};
  }

  // Runs the io_context until `done` or 10 s; false on timeout.
  bool run_until(const std::function<bool()>& done,
                 std::chrono::seconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    io.restart();
    while (!done()) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) return false;
      if (io.run_one_for(left) == 0 && io.stopped()) io.restart();
    }
    return true;
  }

  struct Handshakes {
    error_code server;
    error_code client;
  };
  // Both handshakes, run to completion (bounded).
  Handshakes handshake(TlsStream& server, TlsStream& client) {
    Handshakes result;
    int done = 0;
    server.async_handshake([&](error_code ec) {
      result.server = ec;
      ++done;
    });
    client.async_handshake([&](error_code ec) {
      result.client = ec;
      ++done;
    });
    EXPECT_TRUE(run_until([&] { return done == 2; })) << "handshakes did not finish";
    return result;
  }
};

}  // namespace bgp::testing
