// Hardening (docs/proxying.md): hostile input is refused before any backend sees it, and faults
// still get answers. The real bgproxy binary between hand-driven client sockets and a backend that
// records every byte it receives.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "integration/harness.h"
#include "support/fd.h"
#include "support/http_reply.h"

namespace bgt {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using bgp::http1::iequals;
using bgp::testing::count_nocase;
using bgp::testing::Fd;
using bgp::testing::Reply;
using bgp::testing::send_all;
using Request = http::request<http::string_body>;

// --- sockets ---------------------------------------------------------------------------------

// Waits for `events` on `fd` up to `timeout`; true when they came.
bool ready(int fd, short events, Ms timeout) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

// The first response in `bytes` and how many bytes it took; nullopt when incomplete or garbage.
// `eof`: nothing follows, so a body without framing ends here.
std::optional<std::pair<Reply, std::size_t>> parse_reply(std::string_view bytes, bool eof) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (used < bytes.size() && !parser.is_done()) {
    const auto n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) break;
    if (ec) return std::nullopt;
    if (n == 0) break;
  }
  if (!parser.is_done() && eof && parser.is_header_done()) {
    parser.put_eof(ec);
    if (ec) return std::nullopt;
  }
  if (!parser.is_done()) return std::nullopt;
  return std::pair{bgp::testing::reply_of(parser.get()), used};
}

// Every response in `bytes`, in order.
std::vector<Reply> parse_replies(std::string_view bytes) {
  std::vector<Reply> replies;
  while (!bytes.empty()) {
    auto parsed = parse_reply(bytes, true);
    if (!parsed) break;
    replies.push_back(std::move(parsed->first));
    bytes.remove_prefix(parsed->second);
  }
  return replies;
}

// A client connection driven by hand: raw bytes out, responses in, every wait bounded.
class Client {
 public:
  // `receive_buffer` > 0 shrinks the socket's receive buffer (a slow reader).
  explicit Client(std::uint16_t port, int receive_buffer = 0)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (receive_buffer > 0) {
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }

  bool connected() const { return connected_; }
  int fd() const { return fd_.get(); }
  bool send(std::string_view bytes) { return send_all(fd_.get(), bytes); }

  // The next response (an interim 1xx counts as one); nullopt on close, garbage or timeout.
  std::optional<Reply> reply(Ms timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (auto parsed = parse_reply(pending_, eof_)) {
        pending_.erase(0, parsed->second);
        return std::move(parsed->first);
      }
      if (!fill(deadline)) {
        if (auto parsed = parse_reply(pending_, true); parsed && eof_) {
          pending_.erase(0, parsed->second);
          return std::move(parsed->first);
        }
        return std::nullopt;
      }
    }
  }

  // Everything until the peer closes or `timeout` passes (closed() tells which).
  std::string read_all(Ms timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) {
    }
    return std::exchange(pending_, {});
  }

  bool closed() const { return eof_; }

  // True when the peer closes (or resets) within `timeout`; drops what it reads meanwhile.
  bool closed_within(Ms timeout) {
    read_all(timeout);
    return eof_;
  }

  // Reads until `text` has arrived; false on close or timeout.
  bool read_until(std::string_view text, Ms timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (pending_.find(text) == std::string::npos) {
      if (!fill(deadline)) return false;
    }
    return true;
  }

  // At least `n` bytes (fewer on close or timeout).
  std::size_t read_at_least(std::size_t n, Ms timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (pending_.size() < n && fill(deadline)) {
    }
    return pending_.size();
  }

 private:
  bool fill(Clock::time_point deadline) {
    if (!connected_ || eof_) return false;
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
    if (left.count() <= 0 || !ready(fd_.get(), POLLIN, left)) return false;
    char chunk[16 * 1024];
    const auto n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    pending_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  Fd fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string pending_;
};

// --- a backend that records every byte -----------------------------------------------------------

// An HTTP/1.1 backend on 127.0.0.1, a thread per connection. It records every byte it receives
// (before any parsing) and answers each whole request with what its handler says.
class RecordingBackend {
 public:
  struct Answer {
    std::string bytes;  // written at once
    // Then, if set, runs on the connection (a stream, a tunnel), which closes after it. Gets the
    // bytes received behind the request; reads record() what they receive and end on stopping().
    std::function<void(int fd, std::string rest, RecordingBackend& backend)> then;
  };
  using Handler = std::function<Answer(const Request&)>;

  RecordingBackend() { listen(0); }
  ~RecordingBackend() { stop(false); }
  RecordingBackend(const RecordingBackend&) = delete;
  RecordingBackend& operator=(const RecordingBackend&) = delete;

  static Answer ok(const Request& request) {
    const std::string body = "ok " + std::string(request.target());
    return {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
            {}};
  }

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void set_handler(Handler handler) {
    const std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }
  std::string received() const {
    const std::lock_guard lock(mutex_);
    return received_;
  }
  std::vector<Request> requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t connections() const { return accepted_.load(); }
  std::size_t closed_by_peer() const { return closed_by_peer_.load(); }
  bool wait_for_requests(std::size_t n, Ms timeout = 5s) const {
    return wait_until([&] { return requests().size() >= n; }, timeout);
  }
  void clear() {
    const std::lock_guard lock(mutex_);
    received_.clear();
    requests_.clear();
  }

  void record(std::string_view bytes) {
    const std::lock_guard lock(mutex_);
    received_.append(bytes);
  }
  bool stopping() const { return stopping_; }

  // Like a killed process: stops listening and resets every open connection.
  void kill() { stop(true); }
  void restart() { listen(port_); }

 private:
  void listen(std::uint16_t port) {
    stopping_ = false;
    listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int yes = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    socklen_t size = sizeof address;
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::listen(listener_.get(), 128) != 0) {
      ADD_FAILURE() << "backend cannot listen on port " << port;
      return;
    }
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  void stop(bool reset) {
    reset_ = reset;
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> threads;
    {
      const std::lock_guard lock(mutex_);
      threads.swap(threads_);
    }
    for (auto& thread : threads) thread.join();
    listener_ = Fd();
  }

  void accept_loop() {
    while (!stopping_) {
      if (!ready(listener_.get(), POLLIN, 20ms)) continue;
      const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      const std::lock_guard lock(mutex_);
      threads_.emplace_back([this, fd] { serve(Fd(fd)); });
    }
  }

  void serve(Fd fd) {
    beast::flat_buffer buffer;
    auto parser = fresh_parser();
    while (!stopping_) {
      if (!ready(fd.get(), POLLIN, 20ms)) continue;
      char chunk[16 * 1024];
      const auto n = ::recv(fd.get(), chunk, sizeof chunk, 0);
      if (n <= 0) {
        if (n == 0) ++closed_by_peer_;
        return;
      }
      record(std::string_view(chunk, static_cast<std::size_t>(n)));
      const auto space = buffer.prepare(static_cast<std::size_t>(n));
      std::memcpy(space.data(), chunk, static_cast<std::size_t>(n));
      buffer.commit(static_cast<std::size_t>(n));
      if (!answer_requests(fd.get(), buffer, parser)) return;
    }
    if (reset_) {  // a reset, as the kernel sends for a process killed with unread data
      const linger abort{1, 0};
      ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
  }

  static std::unique_ptr<http::request_parser<http::string_body>> fresh_parser() {
    auto parser = std::make_unique<http::request_parser<http::string_body>>();
    parser->eager(true);
    parser->body_limit(boost::none);
    return parser;
  }

  // Answers every whole request in `buffer`; false when the connection should close.
  bool answer_requests(int fd, beast::flat_buffer& buffer,
                       std::unique_ptr<http::request_parser<http::string_body>>& parser) {
    while (buffer.size() > 0) {
      boost::system::error_code ec;
      const auto used = parser->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) return true;
      if (ec) return false;
      if (!parser->is_done()) {
        if (used == 0) return true;
        continue;
      }
      Request request = parser->release();
      parser = fresh_parser();
      Answer answer = take_answer(request);
      if (!send_all(fd, answer.bytes)) return false;
      if (answer.then) {
        const auto rest = buffer.data();
        answer.then(fd, std::string(static_cast<const char*>(rest.data()), rest.size()), *this);
        return false;
      }
      if (!request.keep_alive()) return false;
    }
    return true;
  }

  Answer take_answer(const Request& request) {
    Handler handler;
    {
      const std::lock_guard lock(mutex_);
      requests_.push_back(request);
      handler = handler_;
    }
    return handler(request);
  }

  mutable std::mutex mutex_;
  Handler handler_ = ok;
  std::string received_;
  std::vector<Request> requests_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> closed_by_peer_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reset_{false};
  Fd listener_;
  std::thread acceptor_;
  std::uint16_t port_ = 0;
};

// Echoes everything back until the peer closes (a tunnel's far end).
void echo(int fd, std::string rest, RecordingBackend& backend) {
  if (!send_all(fd, rest)) return;
  while (!backend.stopping()) {
    if (!ready(fd, POLLIN, 20ms)) continue;
    char chunk[4096];
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return;
    const std::string_view bytes(chunk, static_cast<std::size_t>(n));
    backend.record(bytes);
    if (!send_all(fd, bytes)) return;
  }
}

// --- bgproxy ------------------------------------------------------------------------------------

std::string config_for(const RecordingBackend& backend, std::string top = {},
                       std::string timeouts = "drain: 2s") {
  return make_config({.blue = {backend.address()},
                      .green = {backend.address()},
                      .timeouts = std::move(timeouts),
                      .top = std::move(top)});
}

// The bgproxy process using `config_path` (found in /proc by its command line), 0 if none.
pid_t pid_of(const std::string& config_path) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (!std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); })) {
      continue;
    }
    std::string cmdline = read_file((entry.path() / "cmdline").string());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(config_path) != std::string::npos &&
        cmdline.find(" run") != std::string::npos) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return 0;
}

// VmRSS of a process in KiB (0 when unreadable).
std::size_t resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoul(line.substr(6));
  }
  return 0;
}

// =================================================================================================
// The refusal table: each shape gets its status, Connection: close and the close, and not a byte
// of it (nor of a request hidden behind it) reaches the backend.

struct Shape {
  const char* name;
  std::string bytes;
  unsigned status;
};

constexpr std::string_view kHidden = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

std::string post(const std::string& fields, const std::string& body = "",
                 const std::string& version = "1.1") {
  return "POST / HTTP/" + version + "\r\nHost: x\r\n" + fields + "\r\n" + body +
         std::string(kHidden);
}
std::string line(const std::string& request_line) {
  return request_line + "\r\nHost: x\r\n\r\n" + std::string(kHidden);
}

class RefusalTable : public ::testing::TestWithParam<Shape> {
 protected:
  static void SetUpTestSuite() {
    backend_ = std::make_unique<RecordingBackend>();
    proxy_ = std::make_unique<Bgproxy>(
        config_for(*backend_, "limits:\n  max_header_bytes: 1024\n  max_body_bytes: 1000\n"));
    ASSERT_TRUE(proxy_->start());
  }
  static void TearDownTestSuite() {
    proxy_.reset();
    backend_.reset();
  }

  static inline std::unique_ptr<RecordingBackend> backend_;
  static inline std::unique_ptr<Bgproxy> proxy_;
};

TEST_P(RefusalTable, OneAnswerThenTheCloseAndNothingReachesTheBackend) {
  ASSERT_TRUE(proxy_);
  backend_->clear();
  Client client(proxy_->proxy_port());
  ASSERT_TRUE(client.send(GetParam().bytes));
  const std::string answer = client.read_all(5s);

  EXPECT_TRUE(client.closed()) << "the connection stays open";
  const auto replies = parse_replies(answer);
  ASSERT_EQ(replies.size(), 1u) << answer;
  EXPECT_EQ(replies[0].status, GetParam().status) << answer;
  EXPECT_TRUE(iequals(replies[0].header("Connection"), "close")) << answer;
  // Nothing reached the backend; had anything, it would show by now (the answer came after the
  // proxy decided), but give a stray connection a moment to prove otherwise.
  EXPECT_FALSE(wait_until([&] { return !backend_->received().empty(); }, 100ms))
      << backend_->received();
}

const std::string kLongValue(1100, 'v');

INSTANTIATE_TEST_SUITE_P(
    Hardening, RefusalTable,
    ::testing::Values(
        // Content-Length together with Transfer-Encoding, in any order
        Shape{"LengthThenChunked",
              post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
        Shape{"ChunkedThenLength",
              post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), 400},
        Shape{"GzipWithLength", post("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n", "hello"),
              400},
        // Transfer-Encoding other than exactly one final chunked; repeated; on HTTP/1.0
        Shape{"ChunkedThenGzip", post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), 400},
        Shape{"GzipThenChunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 400},
        Shape{"ChunkedTwice", post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"), 400},
        Shape{"TwoEncodingLines",
              post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
              400},
        Shape{"Identity", post("Transfer-Encoding: identity\r\n", "0\r\n\r\n"), 400},
        Shape{"LeadingComma", post("Transfer-Encoding: ,chunked\r\n", "0\r\n\r\n"), 400},
        Shape{"UppercaseWithTrailingSpace", post("Transfer-Encoding: CHUNKED \r\n", "0\r\n\r\n"),
              400},
        Shape{"ChunkedOnHttp10", post("Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "1.0"), 400},
        Shape{"UnknownCodingAlone", post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"), 501},
        // differing or malformed Content-Length
        Shape{"EmptyLength", post("Content-Length:\r\n"), 400},
        Shape{"PlusLength", post("Content-Length: +5\r\n", "hello"), 400},
        Shape{"HexLength", post("Content-Length: 0x5\r\n", "hello"), 400},
        Shape{"NegativeLength", post("Content-Length: -1\r\n"), 400},
        Shape{"OverflowingLength", post("Content-Length: 184467440737095516160\r\n"), 400},
        Shape{"DifferingLengths", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
              400},
        Shape{"LengthOverTheBodyLimit", post("Content-Length: 1001\r\n", std::string(1001, 'b')),
              413},
        // field-line bytes
        Shape{"WhitespaceBeforeColon", post("Content-Length : 5\r\n", "hello"), 400},
        Shape{"LineWithoutColon", post("X-No-Colon\r\n"), 400},
        Shape{"ObsFold", post("X-A: b\r\n c\r\n"), 400},
        Shape{"ObsFoldedLength", post("X-A: b\r\n Content-Length: 5\r\n", "hello"), 400},
        Shape{"BareLineFeed", "GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n" + std::string(kHidden),
              400},
        Shape{"BareLineFeedsOnly", "GET / HTTP/1.1\nHost: x\n\n" + std::string(kHidden), 400},
        Shape{"BareCarriageReturn", post("X-A: b\rContent-Length: 5\r\n", "hello"), 400},
        Shape{"NulInValue", post(std::string("X-A: b\0c\r\n", 10)), 400},
        Shape{"ControlInValue", post("X-A: b\x0b\r\n"), 400},
        Shape{"NonTokenInName", post("X[A]: b\r\n"), 400},
        Shape{"NonAsciiInName", post("X-\xc3\xa9: b\r\n"), 400},
        // Host
        Shape{"NoHostOnHttp11", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n" + std::string(kHidden), 400},
        Shape{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + std::string(kHidden),
              400},
        Shape{"InvalidHost", "GET / HTTP/1.1\r\nHost: a b@c\r\n\r\n" + std::string(kHidden), 400},
        // the request line
        Shape{"TabInRequestLine", line("GET\t/ HTTP/1.1"), 400},
        Shape{"DoubleSpace", line("GET  / HTTP/1.1"), 400},
        Shape{"BadVersion", line("GET / HTTP/1.01"), 400},
        Shape{"Http2Version", line("GET / HTTP/2.0"), 505},
        Shape{"AsteriskForGet", line("GET * HTTP/1.1"), 400},
        Shape{"AuthorityFormForGet", line("GET example.com:80 HTTP/1.1"), 400},
        Shape{"Connect", line("CONNECT example.com:443 HTTP/1.1"), 501},  // no tunnels here
        // limits: the request line and the header block each have their own
        Shape{"RequestLineOverTheLimit", line("GET /" + std::string(9000, 'a') + " HTTP/1.1"), 414},
        Shape{"HeaderBlockOverTheLimit", post("X-Big: " + kLongValue + "\r\n"), 431},
        Shape{"OverAHundredFields",
              [] {
                std::string fields;
                for (int i = 0; i < 101; ++i)
                  fields.append("X").append(std::to_string(i)).append(": 1\r\n");
                return post(fields);
              }(),
              431},
        // Expect
        Shape{"ExpectOtherThanContinue", post("Expect: 200-ok\r\nContent-Length: 5\r\n", "hello"),
              417}),
    [](const auto& info) { return std::string(info.param.name); });

// =================================================================================================
// Shapes that pass, and what the backend gets of them

class Hardening : public ::testing::Test {
 protected:
  void start(std::string top = {}, std::string timeouts = "drain: 2s") {
    proxy_ = std::make_unique<Bgproxy>(config_for(backend_, std::move(top), std::move(timeouts)));
    ASSERT_TRUE(proxy_->start());
  }
  std::uint16_t port() const { return proxy_->proxy_port(); }

  RecordingBackend backend_;
  std::unique_ptr<Bgproxy> proxy_;
};

TEST_F(Hardening, DuplicateIdenticalLengthsAreForwardedAsOne) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send(
      "POST /dup HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"));
  const auto reply = client.reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  ASSERT_TRUE(backend_.wait_for_requests(1));
  EXPECT_EQ(count_nocase(backend_.received(), "content-length:"), 1u) << backend_.received();
  EXPECT_EQ(backend_.requests()[0].body(), "hello");
}

TEST_F(Hardening, AbsoluteFormIsRoutedByItsAuthorityWithHostRewritten) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send("GET http://example.com:81/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"));
  const auto reply = client.reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  ASSERT_TRUE(backend_.wait_for_requests(1));
  const Request seen = backend_.requests()[0];
  EXPECT_EQ(seen.target(), "/p?q=1");
  EXPECT_EQ(seen[http::field::host], "example.com:81");
  EXPECT_EQ(count_nocase(backend_.received(), "host:"), 1u);
}

TEST_F(Hardening, Http10WithoutHostIsServed) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send("GET /old HTTP/1.0\r\n\r\n"));
  const auto reply = client.reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->body, "ok /old");
}

// --- bodies: the limits that show while a body arrives -----------------------------------------
// The proxy reads up to 16 KiB of a body before it sends the head upstream: a refused body that
// fits reaches no backend at all.

struct BodyShape {
  const char* name;
  std::string body;
  unsigned status;
};

class BodyRefusal : public ::testing::TestWithParam<BodyShape> {};

TEST_P(BodyRefusal, OneAnswerThenTheCloseAndNothingReachesTheBackend) {
  RecordingBackend backend;
  Bgproxy proxy(config_for(backend, "limits:\n  max_body_bytes: 1000\n"));
  ASSERT_TRUE(proxy.start());
  Client client(proxy.proxy_port());
  ASSERT_TRUE(client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          GetParam().body + std::string(kHidden)));
  const std::string answer = client.read_all(5s);

  EXPECT_TRUE(client.closed());
  const auto replies = parse_replies(answer);
  ASSERT_EQ(replies.size(), 1u) << answer;
  EXPECT_EQ(replies[0].status, GetParam().status);
  EXPECT_TRUE(iequals(replies[0].header("Connection"), "close"));
  EXPECT_FALSE(wait_until([&] { return !backend.received().empty(); }, 100ms))
      << backend.received();
  EXPECT_EQ(backend.connections(), 0u);
}

// The hold waits a moment only: a client streaming its body slowly is not held up.
TEST_F(Hardening, ASlowlyStreamedBodyGoesUpstreamBeforeItEnds) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send(
      "POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  EXPECT_TRUE(
      wait_until([&] { return backend_.received().find("hello") != std::string::npos; }, 5s))
      << backend_.received();
  ASSERT_TRUE(client.send("6\r\n world\r\n"));  // past the hold: relayed as it comes too
  EXPECT_TRUE(
      wait_until([&] { return backend_.received().find("world") != std::string::npos; }, 5s))
      << backend_.received();
  ASSERT_TRUE(client.send("0\r\n\r\n"));
  const auto reply = client.reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  ASSERT_TRUE(backend_.wait_for_requests(1));
  EXPECT_EQ(backend_.requests()[0].body(), "hello world");
}

// Past the held part the body streams: an error there closes the upstream connection before the
// last chunk, so the backend never gets a whole request.
TEST_F(Hardening, ABodyErrorPastTheHeldPartLeavesTheBackendWithoutAWholeRequest) {
  start("limits:\n  max_body_bytes: 40000\n");
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'b') + "\r\n";  // 16 KiB
  Client client(port());
  ASSERT_TRUE(client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          chunk + chunk + chunk + "0\r\n\r\n" + std::string(kHidden)));
  const std::string answer = client.read_all(5s);

  const auto replies = parse_replies(answer);
  ASSERT_EQ(replies.size(), 1u) << answer.substr(0, 200);
  EXPECT_EQ(replies[0].status, 413u);
  EXPECT_TRUE(client.closed());
  EXPECT_TRUE(wait_until([&] { return backend_.received().size() >= 0x4000u; }, 5s))
      << "the held part went upstream";
  EXPECT_TRUE(wait_until([&] { return backend_.closed_by_peer() >= backend_.connections(); }, 5s));
  EXPECT_TRUE(backend_.requests().empty());
  EXPECT_EQ(backend_.received().find("/smuggled"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Hardening, BodyRefusal,
    ::testing::Values(
        BodyShape{"OverTheBodyLimit",
                  "3e8\r\n" + std::string(1000, 'b') + "\r\n1\r\nb\r\n0\r\n\r\n", 413},
        BodyShape{"ChunkDeclaredOverTheLimit", "ffff\r\nbbbb", 413},
        BodyShape{"ChunkSizeWithHexPrefix", "0x5\r\nhello\r\n0\r\n\r\n", 400},
        BodyShape{"ChunkSizeWithSign", "+5\r\nhello\r\n0\r\n\r\n", 400},
        BodyShape{"ChunkSizeOverflowing", "10000000000000000\r\nb\r\n0\r\n\r\n", 400},
        BodyShape{"ChunkExtensionsOver4KiB", "1;" + std::string(5000, 'e') + "\r\nb\r\n0\r\n\r\n",
                  400},
        BodyShape{"ContentLengthInTrailers", "1\r\nb\r\n0\r\nContent-Length: 5\r\n\r\n", 400},
        BodyShape{"TransferEncodingInTrailers", "1\r\nb\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
                  400}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(Hardening, OtherTrailersAreDropped) {
  start();
  Client client(port());
  ASSERT_TRUE(
      client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n0\r\nHost: evil\r\nX-Checksum: 1\r\n\r\n"));
  const auto reply = client.reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  ASSERT_TRUE(backend_.wait_for_requests(1));
  const std::string seen = backend_.received();
  EXPECT_EQ(seen.find("evil"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("X-Checksum"), std::string::npos) << seen;
  EXPECT_TRUE(seen.ends_with("0\r\n\r\n")) << seen;
  EXPECT_EQ(backend_.requests()[0].body(), "hello");
}

// --- pipelining and upgrades ---------------------------------------------------------------------

TEST_F(Hardening, PipelinedRequestsAreAnsweredInOrderAndBodiesAreNotReadAsRequests) {
  start();
  Client client(port());
  // The POST's body looks like a request: it must reach the backend as a body, nothing more.
  const std::string body = "GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(
      client.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body +
                  "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3\r\nabc\r\n0\r\n\r\n"
                  "GET /4 HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (const char* target : {"/1", "/2", "/3", "/4"}) {
    const auto reply = client.reply();
    ASSERT_TRUE(reply) << target;
    EXPECT_EQ(reply->body, std::string("ok ") + target);
  }
  ASSERT_TRUE(backend_.wait_for_requests(4));
  const auto seen = backend_.requests();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[1].body(), body);
  EXPECT_EQ(seen[2].body(), "abc");
  EXPECT_EQ(seen[3].target(), "/4");
}

TEST_F(Hardening, ARefusedRequestEndsThePipeline) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send(
      "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto replies = parse_replies(client.read_all(5s));
  EXPECT_TRUE(client.closed());
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].status, 200u);
  EXPECT_EQ(replies[1].status, 400u);
  EXPECT_EQ(backend_.requests().size(), 1u);
  EXPECT_EQ(backend_.received().find("/smuggled"), std::string::npos);
}

constexpr std::string_view kUpgrade =
    "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

TEST_F(Hardening, BytesAfterAnUpgradeAreNotTunnelledWithoutA101) {
  start();  // the backend answers 200: no switch
  Client client(port());
  ASSERT_TRUE(client.send(std::string(kUpgrade) + std::string(kHidden)));
  const auto replies = parse_replies(client.read_all(5s));
  EXPECT_TRUE(client.closed());
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].status, 200u);
  EXPECT_TRUE(iequals(replies[0].header("Connection"), "close"));
  EXPECT_EQ(backend_.requests().size(), 1u);
  EXPECT_EQ(backend_.received().find("/smuggled"), std::string::npos);
}

TEST_F(Hardening, BytesAfterAnUpgradeAreTunnelledAfterA101) {
  backend_.set_handler([](const Request&) {
    return RecordingBackend::Answer{
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        echo};
  });
  start();
  Client client(port());
  ASSERT_TRUE(client.send(std::string(kUpgrade) + "frame-1"));
  const auto switched = client.reply();
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->status, 101u);
  ASSERT_GE(client.read_at_least(7), 7u);
  ASSERT_TRUE(client.send("frame-2"));
  EXPECT_TRUE(client.read_until("frame-2"));
  EXPECT_NE(backend_.received().find("frame-1frame-2"), std::string::npos) << backend_.received();
}

// --- upstream responses are held to the same rules
// ------------------------------------------------

class BadResponse : public ::testing::TestWithParam<std::pair<const char*, std::string>> {};

TEST_P(BadResponse, Gets502AndTheUpstreamConnectionIsDiscarded) {
  RecordingBackend backend;
  backend.set_handler([&](const Request& request) {
    if (request.target() == "/bad") return RecordingBackend::Answer{GetParam().second, {}};
    return RecordingBackend::ok(request);
  });
  Bgproxy proxy(config_for(backend));
  ASSERT_TRUE(proxy.start());
  Client client(proxy.proxy_port());
  ASSERT_TRUE(client.send("GET /bad HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto bad = client.reply();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 502u);
  // The upstream connection is closed, and the next request takes a new one.
  EXPECT_TRUE(wait_until([&] { return backend.closed_by_peer() == 1; }, 5s));
  Client next(proxy.proxy_port());
  ASSERT_TRUE(next.send("GET /good HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto good = next.reply();
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200u);
  EXPECT_EQ(backend.connections(), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    Hardening, BadResponse,
    ::testing::Values(
        std::pair{"LengthAndChunked", std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")},
        std::pair{"ChunkedAndLength",
                  std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                              "Content-Length: 5\r\n\r\n0\r\n\r\n")},
        std::pair{"GzipThenChunked",
                  std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                              "0\r\n\r\n")},
        std::pair{"GzipWithLength", std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                                                "Content-Length: 5\r\n\r\nhello")},
        std::pair{"DifferingLengths", std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                                  "Content-Length: 6\r\n\r\nhello!")},
        std::pair{"FourDigitStatus", std::string("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n")},
        std::pair{"StatusOver599", std::string("HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n")},
        std::pair{"Http2StatusLine", std::string("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")},
        std::pair{"NotHttp", std::string("SSH-2.0-OpenSSH_9.2\r\n\r\n")},
        // raw bytes Beast's parser would take (chunked heads: not the fast path)
        std::pair{"ObsFold", std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                         "X-A: b\r\n c\r\n\r\n0\r\n\r\n")},
        std::pair{"ControlInValue", std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                                "X-A: b\x01c\r\n\r\n0\r\n\r\n")},
        std::pair{"WhitespaceBeforeColon",
                  std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n")},
        std::pair{"BareCarriageReturn",
                  std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\rc\r\n\r\n"
                              "0\r\n\r\n")}),
    [](const auto& info) { return std::string(info.param.first); });

// =================================================================================================
// Faults

// `connections` clients send GETs on keep-alive connections until told to stop; every request
// must get a status line.
class Load {
 public:
  Load(std::uint16_t port, int connections) {
    for (int i = 0; i < connections; ++i) {
      threads_.emplace_back([this, port] { run(port); });
    }
  }
  ~Load() { stop(); }

  void stop() {
    stopping_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int count(unsigned status) const { return by_status_[status].load(); }
  int unanswered() const { return unanswered_.load(); }
  int total() const { return total_.load(); }
  // From now on, count the requests sent that did not get a 200.
  void mark() { mark_ = Clock::now().time_since_epoch().count(); }
  int failed_since_mark() const { return failed_since_mark_.load(); }

 private:
  void run(std::uint16_t port) {
    std::unique_ptr<Client> client;
    for (int i = 0; i < 100'000 && !stopping_; ++i) {
      if (!client) client = std::make_unique<Client>(port);
      const bool after_mark = Clock::now().time_since_epoch().count() > mark_;
      const bool sent = client->send("GET /load HTTP/1.1\r\nHost: x\r\n\r\n");
      const auto reply = sent ? client->reply(5s) : std::nullopt;
      ++total_;
      if (after_mark && (!reply || reply->status != 200)) ++failed_since_mark_;
      if (!reply) {
        ++unanswered_;
        client.reset();
        continue;
      }
      ++by_status_[std::min(reply->status, 599u)];
      if (iequals(reply->header("Connection"), "close")) client.reset();
    }
  }

  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::array<std::atomic<int>, 600> by_status_{};
  std::atomic<int> unanswered_{0};
  std::atomic<int> total_{0};
  std::atomic<Clock::rep> mark_{std::numeric_limits<Clock::rep>::max()};
  std::atomic<int> failed_since_mark_{0};
};

TEST_F(Hardening, ABackendKilledUnderLoadLeavesNoRequestUnanswered) {
  start();
  Load load(port(), 4);
  ASSERT_TRUE(wait_until([&] { return load.count(200) >= 200; }, 10s));
  backend_.kill();
  ASSERT_TRUE(wait_until([&] { return load.count(502) + load.count(503) >= 100; }, 10s));
  backend_.restart();
  // Nothing of the dead backend is used any more (its pooled connections were dropped): every
  // request sent once it listens again gets a 200.
  load.mark();
  const int ok_before = load.count(200);
  ASSERT_TRUE(wait_until([&] { return load.count(200) >= ok_before + 200; }, 10s));
  load.stop();

  EXPECT_EQ(load.unanswered(), 0) << "of " << load.total();
  EXPECT_EQ(load.failed_since_mark(), 0) << "requests sent after the restart that failed";
  EXPECT_EQ(load.total(), load.count(200) + load.count(502) + load.count(503));
}

TEST_F(Hardening, SlowlorisHeadGets408WithinTheHeaderTimeout) {
  start({}, "drain: 2s\nclient_header: 500ms\nclient_idle: 5s");
  Client client(port());
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\n"));
  const auto started = Clock::now();
  // One byte every 50 ms: the head never ends, every byte well within any idle timeout.
  const std::string drip = "X-Drip: " + std::string(1000, 'a');
  std::size_t sent = 0;
  while (sent < drip.size() && !ready(client.fd(), POLLIN, 50ms)) {
    if (!client.send(drip.substr(sent++, 1))) break;
  }
  const auto reply = client.reply(2s);
  const auto took = Clock::now() - started;

  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 408u);
  EXPECT_TRUE(client.closed_within(2s));
  EXPECT_LT(took, 1500ms);
  EXPECT_TRUE(backend_.received().empty());
}

TEST_F(Hardening, IdleKeepAliveConnectionIsClosedAfterClientIdle) {
  start({}, "drain: 2s\nclient_idle: 300ms");
  Client client(port());
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(client.reply());
  const auto started = Clock::now();
  EXPECT_TRUE(client.closed_within(3s));
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_GE(Clock::now() - started, 200ms);
}

TEST_F(Hardening, AClientThatStopsReadingDoesNotMakeTheProxyBuffer) {
  constexpr std::uint64_t kSize = 200ull * 1024 * 1024;
  // Shared with the backend's thread, which may outlive this function by a moment.
  const auto streamed = std::make_shared<std::atomic<std::uint64_t>>(0);
  backend_.set_handler([streamed](const Request&) {
    return RecordingBackend::Answer{
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n",
        [streamed](int fd, std::string, RecordingBackend& backend) {
          const std::string block(64 * 1024, 'x');
          while (!backend.stopping() && *streamed < kSize) {
            if (!ready(fd, POLLOUT, 20ms)) continue;
            const auto n = ::send(fd, block.data(), block.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN) return;
            if (n > 0) *streamed += static_cast<std::uint64_t>(n);
          }
        }};
  });
  start();
  const pid_t pid = pid_of(proxy_->config_path());
  ASSERT_GT(pid, 0);
  const std::size_t baseline = resident_kib(pid);

  Client client(port(), 16 * 1024);
  ASSERT_TRUE(client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_GT(client.read_at_least(1), 0u);
  // Stop reading. The transfer stalls once the socket buffers on the way are full.
  std::uint64_t last = 0;
  const bool stalled = wait_until(
      [&] {
        const bool still = last > 0 && streamed->load() == last;
        last = streamed->load();
        return still;
      },
      10s, 500ms);
  const std::size_t rss = resident_kib(pid);
  RecordProperty("streamed_bytes", std::to_string(streamed->load()));
  RecordProperty("rss_kib", std::to_string(rss));
  RecordProperty("baseline_rss_kib", std::to_string(baseline));

  EXPECT_TRUE(stalled);
  EXPECT_LT(streamed->load(), 32ull * 1024 * 1024) << "the proxy kept reading";
  EXPECT_LT(rss, baseline + 16 * 1024) << "VmRSS " << rss << " KiB, was " << baseline;
}

TEST_F(Hardening, ConnectionsOverTheLimitAreRefusedFastAndTheOthersKeepWorking) {
  start("limits:\n  max_connections: 3\n");
  std::vector<std::unique_ptr<Client>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<Client>(port()));
    ASSERT_TRUE(open.back()->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(open.back()->reply()) << i;
  }
  const auto started = Clock::now();
  Client extra(port());
  if (extra.connected() && extra.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) {
    const std::string answer = extra.read_all(2s);
    EXPECT_TRUE(extra.closed());
    const auto replies = parse_replies(answer);
    EXPECT_TRUE(replies.empty() || replies[0].status == 503u) << answer;
  }
  EXPECT_LT(Clock::now() - started, 1s);
  for (auto& client : open) {
    ASSERT_TRUE(client->send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto reply = client->reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200u);
  }
  // A slot freed is a slot usable again.
  open.pop_back();
  EXPECT_TRUE(wait_until(
      [&] {
        Client again(port());
        return again.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") && again.reply(1s).has_value();
      },
      5s, 50ms));
}

}  // namespace
}  // namespace bgt
