// HTTP/2 to upstreams (backends.<color>.protocol h2c or h2; docs/http2.md, "HTTP/2 upstreams"): a
// worker's multiplexed connections, more than one per endpoint when one is full, and the calls
// forwarders make on them. One coroutine per connection owns its codec (http2::ClientSession): it
// connects, reads, writes (one write in flight), pings a silent connection and closes an idle
// one, those checks timed by the worker's deadline wheel. A forwarder holds an UpstreamCall for one
// request; the connection fills it with the codec's events and wakes the forwarder.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/deadline_wheel.h"
#include "proxy/http2/client_session.h"
#include "proxy/snapshot.h"
#include "proxy/upstream_pool.h"
#include "proxy/upstream_stream.h"

namespace bgp {

struct WorkerContext;

// One request's stream on an HTTP/2 upstream connection, as its forwarder sees it.
struct UpstreamCall {
  explicit UpstreamCall(boost::asio::steady_timer& forwarder_wake) : wake(forwarder_wake) {}

  void notify() noexcept { wake.cancel(); }
  // Closed unprocessed (REFUSED_STREAM, or above a GOAWAY's last stream): it may be sent again,
  // even a POST (RFC 9113 section 8.7).
  bool refused() const noexcept { return closed == 0x7; }
  bool over() const noexcept { return closed.has_value() || failure.failed(); }

  std::int32_t stream = 0;                  // 0 until opened
  std::optional<http2::ResponseHead> head;  // the final response head, once it came
  std::string body;                         // response body bytes not yet relayed
  bool ended = false;                       // the response is complete; its trailers below
  bool finished = false;                    // the request is complete (finish() or no body)
  std::vector<http2::Field> trailers;
  std::optional<std::uint32_t> closed;  // the stream is gone: its RST_STREAM code (0: ended)
  boost::system::error_code failure;    // the connection failed (connect, TLS, I/O, PING)
  bool connect_failed = false;          // ...before it was open: nothing was sent
  bool awaiting_room = false;           // waits for its request bytes to be written
  boost::asio::steady_timer& wake;      // the forwarder's; cancelled on every event
};

class Http2Upstream final : public http2::ClientEvents,
                            public std::enable_shared_from_this<Http2Upstream> {
 public:
  using Clock = std::chrono::steady_clock;

  // `timeouts`: upstream_connect, upstream_idle, and http2_ping_interval (a connection silent
  // this long is sent a PING) and http2_ping_timeout (one whose PING is not answered this soon is
  // dead, and its streams fail).
  Http2Upstream(WorkerContext& worker, const Endpoint& endpoint, const TimeoutsConfig& timeouts);
  ~Http2Upstream();
  Http2Upstream(const Http2Upstream&) = delete;
  Http2Upstream& operator=(const Http2Upstream&) = delete;

  // Connects, then reads and writes until the codec is done, the socket fails, the connection has
  // been idle for idle_timeout or a PING went unanswered; then every call still on it fails. Calls
  // opened before the connect completes wait in the codec.
  boost::asio::awaitable<void> run();

  bool serves(const Endpoint& endpoint) const noexcept { return key_.serves(endpoint); }
  const UpstreamKey& key() const noexcept { return key_; }
  // Alive, and below the peer's limit of concurrent streams.
  bool can_open() const noexcept { return !over_ && codec_.can_open(); }
  std::size_t open_streams() const noexcept { return calls_.size(); }
  bool carried_streams() const noexcept { return streams_carried_ > 0; }

  // Opens the call's stream with a request head (regular fields in lower case, none
  // connection-specific); end_stream when no body follows. false when no stream may be opened.
  bool open(UpstreamCall& call, std::string_view method, std::string_view scheme,
            std::string_view authority, std::string_view path, std::span<const http2::Field> fields,
            bool end_stream);
  void send(UpstreamCall& call, std::string_view bytes);  // request body bytes
  void finish(UpstreamCall& call, std::span<const http2::Field> trailers);
  std::size_t queued(const UpstreamCall& call) const noexcept;  // request bytes not yet framed
  void consume(UpstreamCall& call, std::size_t bytes);  // response bytes relayed: window back
  // The forwarder is done with the call: a stream still open is reset (CANCEL); no event reaches
  // the call any more.
  void forget(UpstreamCall& call) noexcept;
  void shutdown() noexcept;  // GOAWAY: no new stream; the connection ends after the open ones
  void abort() noexcept;     // closes the socket now: its calls fail

 private:
  // http2::ClientEvents
  void on_response(std::int32_t stream, http2::ResponseHead head) override;
  void on_data(std::int32_t stream, std::string_view bytes) override;
  void on_response_end(std::int32_t stream, std::vector<http2::Field> trailers) override;
  void on_stream_close(std::int32_t stream, std::uint32_t error_code) override;

  boost::asio::awaitable<boost::system::error_code> connect();
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> watch();
  void wake_writer() noexcept { writer_wake_.cancel(); }
  void fail_calls(const boost::system::error_code& ec, bool connect_failed) noexcept;
  UpstreamCall* find(std::int32_t stream) noexcept;
  void note_if_idle() noexcept;

  // The watch's wait for its next check: ended by the worker's wheel at the armed time, or by run()
  // when the connection is over.
  struct WatchWait final : DeadlineWheel::Entry {
    explicit WatchWait(const boost::asio::any_io_executor& executor) : wake(executor) {}
    void on_expired() noexcept override { wake.cancel(); }
    boost::asio::steady_timer wake;
  };

  WorkerContext& worker_;
  const Endpoint endpoint_;  // a copy: the snapshot it came from may go
  const UpstreamKey key_;
  const TimeoutsConfig timeouts_;
  UpstreamStream socket_;
  http2::ClientSession codec_;
  std::unordered_map<std::int32_t, UpstreamCall*> calls_;  // open streams and who waits on them
  boost::asio::steady_timer writer_wake_;
  WatchWait watch_;
  Clock::time_point last_read_{};
  Clock::time_point idle_since_{};  // when the last stream closed
  Clock::time_point ping_sent_at_{};
  std::size_t streams_carried_ = 0;
  bool connected_ = false;
  bool over_ = false;  // the connection failed or ended: no new stream
};

// A worker's HTTP/2 upstream connections. One per worker thread: no locks.
class Http2UpstreamPool {
 public:
  // The connection to `endpoint` with the fewest streams that may open one more; a new one
  // (connecting, started on the worker) when none may.
  std::shared_ptr<Http2Upstream> connection_for(WorkerContext& worker, const Endpoint& endpoint,
                                                const Config& config);
  void remove(const Http2Upstream& connection) noexcept;  // it ended
  void shutdown_all() noexcept;                           // draining: GOAWAY on every one
  void abort_all() noexcept;                              // the drain's time is up
  // GOAWAY on the connections to endpoints `kept(key)` refuses (gone from the config).
  template <typename Kept>
  void sweep(Kept&& kept) noexcept {
    for (const auto& connection : connections_) {
      if (!kept(connection->key())) connection->shutdown();
    }
  }
  std::size_t size() const noexcept { return connections_.size(); }

 private:
  std::vector<std::shared_ptr<Http2Upstream>> connections_;
};

}  // namespace bgp
