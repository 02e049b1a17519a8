// A worker's shared state: what the connections of one worker thread share (the deadline wheel,
// the upstream pool, the stats shard, the access log), and how a connection is counted and found.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string_view>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include "config/config.h"
#include "config/descriptors.h"
#include "config/log.h"
#include "metrics/stats.h"
#include "proxy/access_log.h"
#include "proxy/buffer_pool.h"
#include "proxy/deadline_wheel.h"
#include "proxy/exchange.h"
#include "proxy/http2/upstream.h"
#include "proxy/routing.h"
#include "proxy/snapshot.h"
#include "proxy/split.h"
#include "proxy/upstream_pool.h"

namespace bgp {

// A downstream connection as its worker sees it, so that draining and deadlines can reach it.
// Linked into the worker's list from its accept (also while parked); unlinks itself when destroyed.
class ConnectionHandle : public boost::intrusive::list_base_hook<
                             boost::intrusive::link_mode<boost::intrusive::auto_unlink>>,
                         public DeadlineWheel::Entry {
 public:
  using tcp = boost::asio::ip::tcp;

  explicit ConnectionHandle(tcp::socket& client) : client_(client) {}
  ~ConnectionHandle() = default;

  // Waiting for the first byte of a next request (a keep-alive connection between requests, with
  // its session or parked).
  void set_idle(bool idle) noexcept { idle_ = idle; }
  bool idle() const noexcept { return idle_; }
  // The upstream connection the session is using now, if any (closed by abort()).
  void set_upstream(UpstreamStream* upstream) noexcept { upstream_ = upstream; }

  void close_if_idle() noexcept;  // ends the wait for a next request
  void abort() noexcept;          // closes both sides now (the drain timeout passed)

 private:
  void on_expired() noexcept override;  // cancels the operations on both sockets

  tcp::socket& client_;
  UpstreamStream* upstream_ = nullptr;
  bool idle_ = false;
};

using ConnectionList =
    boost::intrusive::list<ConnectionHandle, boost::intrusive::constant_time_size<false>>;

// Everything the sessions of one worker share. Owned by the worker and touched only on its thread.
struct WorkerContext {
  // `pool` must outlive the worker's io_context (sessions it frees give their buffers back).
  WorkerContext(boost::asio::io_context::executor_type executor, BufferPool& pool,
                const SnapshotSlot& routing, StatsShard& shard, Logger& logger,
                std::uint64_t random_seed)
      : buffers(pool),
        deadlines(executor),
        pool_timer(executor),
        drain_timer(executor),
        snapshots(routing),
        stats(shard),
        log(logger),
        random(random_seed) {}

  // The config in force for a snapshot: every published snapshot carries one (the controller's,
  // checked by Server::start for the first).
  static const Config& config_of(const RoutingSnapshot& snapshot) noexcept {
    return *snapshot.config;
  }

  // How long a draining worker still serves requests arriving on idle keep-alive connections
  // (half the drain timeout if that is shorter).
  static constexpr Duration kDrainIdleGrace = std::chrono::milliseconds(500);

  void begin_drain() noexcept;  // no keep-alive from now on; idle connections close after a grace
  Duration drain_idle_grace() noexcept;    // kDrainIdleGrace, or half timeouts.drain
  void close_idle_connections() noexcept;  // ends the grace: idle connections close with FIN
  void abort_connections() noexcept;       // closes every connection now

  // Sweeps the upstream pool every second (UpstreamPool::sweep) until the drain begins.
  void start_pool_sweeps();
  // Closes pooled connections that expired, were closed by their upstream, or lead to endpoints
  // the current snapshot no longer has.
  void sweep_upstreams() noexcept;
  // Records a finished exchange, once, on every exit path: its request in the stats (its route,
  // color and endpoint) and its access line when log.access is on. `client` is the client's
  // address; `snapshot` the one the exchange was routed with.
  void record(const Exchange& exchange, std::string_view client,
              const RoutingSnapshot& snapshot) noexcept;
  // An HTTP/2 connection ended, counted by side and why (the codec's ending()).
  void http2_connection_ended(Http2Side side, http2::Ending why) noexcept;
  // An upstream failure of an exchange, counted for its color and its endpoint, and its outcome.
  void upstream_failed(Exchange& exchange, UpstreamError kind) noexcept;
  // An exchange's upstream failed with `ec` and is not tried again: counted (a timeout or a
  // reset), logged at debug, and the client is to get a 502 (504 after a timeout).
  void upstream_gave_up(Exchange& exchange, const boost::system::error_code& ec) noexcept;
  // A connect (or its TLS handshake) that failed with `ec`: counted, logged at debug, and a
  // warning (at most every 10 s) when descriptors ran out.
  void upstream_connect_failed(Exchange& exchange, const boost::system::error_code& ec);
  // Writes the buffered access lines (every second, when the buffer fills, and at the end).
  void flush_access_log() noexcept;
  void flush_access_log_to(const AccessLogFile& file) noexcept;  // counts and reports lost lines
  void log_access(const Exchange& exchange, std::string_view client,
                  std::chrono::microseconds latency, const RoutingSnapshot& snapshot);

  BufferPool& buffers;
  DeadlineWheel deadlines;  // of every connection's current operation
  boost::asio::steady_timer pool_timer;
  boost::asio::steady_timer drain_timer;  // the drain's grace for idle connections
  SnapshotCache snapshots;
  StatsShard& stats;
  Logger& log;
  SplitMix64 random;
  EndpointCursor endpoints;
  UpstreamPool upstreams;
  Http2UpstreamPool http2_upstreams;
  AccessLogBuffer access_log;
  ConnectionList connections;
  std::atomic<std::uint32_t> parked{0};  // connections waiting without a session (read anywhere)
  bool draining = false;
  bool closing_idle = false;        // the drain's grace is over
  LimitNotice out_of_descriptors;   // upstream connects that failed for lack of descriptors
  LimitNotice access_log_failures;  // access log writes that failed
  LimitNotice alpn_refusals;        // h2 upstreams that did not agree to HTTP/2 in ALPN
};

// One counted downstream connection: in the process (limits.max_connections) and in its worker
// (where the next connections go). The counters outlive every connection.
class ConnectionTicket {
 public:
  // Adopts one unit already added to each counter by the acceptor.
  ConnectionTicket(std::atomic<std::uint64_t>& process_open,
                   std::atomic<std::uint32_t>& worker_open) noexcept
      : process_open_(&process_open), worker_open_(&worker_open) {}
  ConnectionTicket(ConnectionTicket&& other) noexcept
      : process_open_(std::exchange(other.process_open_, nullptr)),
        worker_open_(std::exchange(other.worker_open_, nullptr)) {}
  ConnectionTicket& operator=(ConnectionTicket&&) = delete;
  ~ConnectionTicket() {
    if (process_open_) process_open_->fetch_sub(1, std::memory_order_relaxed);
    if (worker_open_) worker_open_->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t>* process_open_;
  std::atomic<std::uint32_t>* worker_open_;
};

// Completion of a worker coroutine (a session, the accept loop): logs what ended it, if anything.
void log_coroutine_failure(Logger& log, std::exception_ptr failure);

}  // namespace bgp
