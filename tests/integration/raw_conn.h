// Hand-driven sockets for the integration tests: a client connection that never reconnects
// behind the test's back (HttpClient does) and reads raw bytes or parsed responses, and a backend
// scripted byte by byte for what TestBackend does not do.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include "integration/harness.h"
#include "support/fd.h"
#include "support/http_reply.h"

namespace bgt {

using bgp::testing::Fd;
using bgp::testing::Reply;

// One TCP connection driven by hand (a client, or a backend's accepted socket): raw bytes out;
// parsed responses, delimited or counted bytes in. Every read is bounded by a deadline.
class Conn {
 public:
  explicit Conn(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      fd_.reset();
    }
  }
  explicit Conn(int accepted) : fd_(accepted) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool connected() const { return fd_.get() >= 0; }

  bool send(std::string_view bytes) { return bgp::testing::send_all(fd_.get(), bytes); }

  // Sends GET `target` with `headers` (raw lines, each ending in \r\n) and reads the response.
  std::optional<Reply> get(std::string_view target, std::string_view headers = {},
                           Ms timeout = 5s) {
    const std::string request =
        "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(headers) + "\r\n";
    if (!send(request)) return std::nullopt;
    return response(timeout);
  }

  // The next response (an interim 1xx counts as one); nullopt on close, garbage or timeout.
  std::optional<Reply> response(Ms timeout = 5s) {
    boost::beast::http::response_parser<boost::beast::http::string_body> parser;
    parser.eager(true);
    parser.body_limit(64 * 1024 * 1024);
    const auto deadline = Clock::now() + timeout;
    while (!parser.is_done()) {
      if (!pending_.empty()) {
        boost::system::error_code ec;
        const auto used = parser.put(boost::asio::buffer(pending_), ec);
        pending_.erase(0, used);
        if (ec && ec != boost::beast::http::error::need_more) return std::nullopt;
        if (used > 0 && !ec) continue;
      }
      if (!fill(deadline)) {
        boost::system::error_code ec;
        if (eof_ && parser.is_header_done()) parser.put_eof(ec);
        if (!parser.is_done() || ec) return std::nullopt;
      }
    }
    return bgp::testing::reply_of(parser.get());
  }

  // Everything up to and including `delimiter`; "" when it did not come in time.
  std::string read_until(std::string_view delimiter, Ms timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (const auto at = pending_.find(delimiter); at != std::string::npos) {
        return take(at + delimiter.size());
      }
      if (!fill(deadline)) return {};
    }
  }

  // Exactly `n` bytes; fewer when the connection ended or the time ran out.
  std::string read_exactly(std::size_t n, Ms timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (pending_.size() < n && fill(deadline)) {
    }
    return take(std::min(n, pending_.size()));
  }

  // What arrives next (at least a byte), "" on close or timeout.
  std::string read_some(Ms timeout = 5s) {
    if (pending_.empty()) fill(Clock::now() + timeout);
    return take(pending_.size());
  }

  // True when the peer closes (or resets) the connection within `timeout`; drops what it reads.
  bool closed_within(Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) pending_.clear();
    return eof_;
  }

  void shutdown() {
    if (fd_.get() >= 0) ::shutdown(fd_.get(), SHUT_RDWR);
  }

 private:
  // Reads what arrives before the deadline; false on EOF, error or timeout.
  bool fill(Clock::time_point deadline) {
    if (fd_.get() < 0 || eof_) return false;
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    pollfd p{fd_.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char chunk[64 * 1024];
    const auto n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    pending_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  std::string take(std::size_t n) {
    std::string out = pending_.substr(0, n);
    pending_.erase(0, n);
    return out;
  }

  Fd fd_;
  bool eof_ = false;
  std::string pending_;
};

// A backend scripted at the byte level, for what TestBackend does not do (chunked responses,
// hop-by-hop response headers, 101 and a raw tunnel): each accepted connection runs `script` on
// its own thread.
class ScriptedBackend {
 public:
  using Script = std::function<void(Conn&)>;

  explicit ScriptedBackend(Script script)
      : script_(std::move(script)), listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("ScriptedBackend: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~ScriptedBackend() {
    ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    {
      const std::lock_guard lock(mutex_);
      for (Conn* peer : open_) peer->shutdown();  // wakes the scripts' reads
    }
    for (auto& thread : threads_) thread.join();
    ::close(listener_);
  }
  ScriptedBackend(const ScriptedBackend&) = delete;
  ScriptedBackend& operator=(const ScriptedBackend&) = delete;

  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      const std::lock_guard lock(mutex_);
      threads_.emplace_back([this, fd] {
        Conn peer(fd);
        {
          const std::lock_guard lock(mutex_);
          open_.insert(&peer);
        }
        script_(peer);
        const std::lock_guard lock(mutex_);
        open_.erase(&peer);
      });
    }
  }

  Script script_;
  int listener_;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::set<Conn*> open_;
};

}  // namespace bgt
