// What an idle TLS connection costs once parked: its SSL object and socket after
// release_buffers(), measured as heap in use (mallinfo2) over many server-side connections.
#include <malloc.h>

#include <cstdio>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "proxy/tls_harness.h"

namespace bgp::testing {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // the sanitizer's allocator does not show in mallinfo2
#else
constexpr bool kSanitized = false;
#endif

constexpr std::size_t kConnections = 1000;
constexpr std::size_t kBudget = 32 * 1024;  // per idle TLS connection

std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

class TlsMemoryTest : public ::testing::Test {
 protected:
  TlsHarness h;
  std::shared_ptr<const TlsServerContext> server = h.server_context(h.server_files);
  std::shared_ptr<const TlsClientContext> client = h.client_context(h.server_files);

  // A server-side connection after a handshake and one small request; the client end is gone
  // (its memory is not the server's), the server end idles with its peer's FIN unread.
  TlsStream idle_connection() {
    auto [client_socket, server_socket] = h.connect();
    TlsStream server_end = TlsStream::server(std::move(server_socket), server);
    {
      TlsStream client_end = TlsStream::client(std::move(client_socket), client, h.endpoint());
      EXPECT_FALSE(h.handshake(server_end, client_end).server);
      bool written = false;
      bool read = false;
      net::async_write(client_end, net::buffer("GET / HTTP/1.1\r\n\r\n", 18),
                       [&](error_code, std::size_t) { written = true; });
      char request[18];
      net::async_read(server_end, net::buffer(request),
                      [&](error_code, std::size_t) { read = true; });
      EXPECT_TRUE(h.run_until([&] { return written && read; }));
    }
    return server_end;
  }
};

TEST_F(TlsMemoryTest, AParkedConnectionStaysWithin32KB) {
  if (kSanitized) GTEST_SKIP() << "heap figures need the plain allocator";
  for (int i = 0; i < 20; ++i) idle_connection();  // OpenSSL's and Asio's one-time allocations
  std::vector<TlsStream> idle;
  idle.reserve(kConnections);

  const std::size_t before = heap_in_use();
  for (std::size_t i = 0; i < kConnections; ++i) idle.push_back(idle_connection());
  const std::size_t busy = heap_in_use();
  std::size_t released = 0;
  for (auto& connection : idle) released += connection.release_buffers() ? 1 : 0;
  const std::size_t parked = heap_in_use();

  EXPECT_EQ(released, kConnections);
  const double per_busy = static_cast<double>(busy - before) / kConnections;
  const double per_parked = static_cast<double>(parked - before) / kConnections;
  std::printf("TLS 1.3 server connection: %.0f bytes with OpenSSL's buffers, %.0f parked\n",
              per_busy, per_parked);
  RecordProperty("bytes_per_connection_busy", static_cast<int>(per_busy));
  RecordProperty("bytes_per_connection_parked", static_cast<int>(per_parked));
  EXPECT_LE(per_parked, kBudget);
}

}  // namespace
}  // namespace bgp::testing
