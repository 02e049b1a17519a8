#include "proxy/server.h"

#include <linux/filter.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <future>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/descriptors.h"
#include "proxy/deadline.h"
#include "proxy/session.h"

namespace bgp {

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;
using ReusePort = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr Duration kAcceptBackoff = std::chrono::milliseconds(50);  // out of descriptors
constexpr Duration kAbortGrace = std::chrono::seconds(1);  // sessions wind down after an abort

std::string describe(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address().to_string();
  const auto port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

[[noreturn]] void throw_listen_error(const error_code& ec, const tcp::endpoint& endpoint) {
  throw std::system_error(static_cast<std::error_code>(ec),
                          "cannot listen on " + describe(endpoint));
}

tcp::endpoint resolve_listen_address(const Address& address) {
  net::io_context io;
  tcp::resolver resolver(io);
  error_code ec;
  const auto results =
      resolver.resolve(address.host, std::to_string(address.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw std::system_error(static_cast<std::error_code>(ec),
                            "cannot resolve listen address " + address.to_string());
  }
  return results.begin()->endpoint();
}

// With SO_REUSEPORT a second process of the same user would share the port silently; a plain
// bind first finds out whether anybody listens there already.
void ensure_port_free(const tcp::endpoint& endpoint) {
  if (endpoint.port() == 0) return;
  net::io_context io;
  tcp::acceptor probe(io);
  error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec) throw_listen_error(ec, endpoint);
}

void listen_on(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.set_option(ReusePort(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw_listen_error(ec, endpoint);
}

// Closing a listener resets the connections whose handshake ends as it closes (and those in its
// accept queue, which are taken first): their clients may have sent a request already. So a
// draining listener first drops new SYNs (a socket filter: the client sends its SYN again a second
// later and finds the port closed, or another process on it), lets the handshakes under way end
// while it still accepts, and only then closes. The filter sees the TCP header at offset 0.
bool refuse_new_handshakes(tcp::acceptor& acceptor) noexcept {
  constexpr std::uint32_t kSyn = 0x02, kFlagsOffset = 13, kDrop = 0, kKeep = 0xffffffff;
  std::array<sock_filter, 4> code{{
      {BPF_LD | BPF_B | BPF_ABS, 0, 0, kFlagsOffset},
      {BPF_JMP | BPF_JSET | BPF_K, 0, 1, kSyn},
      {BPF_RET | BPF_K, 0, 0, kDrop},
      {BPF_RET | BPF_K, 0, 0, kKeep},
  }};
  const sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
  return ::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_ATTACH_FILTER, &program,
                      sizeof program) == 0;
}

// A descriptor between two owners (closed if nobody takes it, say when its worker stops first).
class OwnedDescriptor {
 public:
  explicit OwnedDescriptor(int fd) noexcept : fd_(fd) {}
  OwnedDescriptor(OwnedDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedDescriptor& operator=(OwnedDescriptor&&) = delete;
  ~OwnedDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  void release() noexcept { fd_ = -1; }

 private:
  int fd_;
};

enum class Listener { plain, tls };

bool out_of_resources(const error_code& ec) noexcept {
  const int value = ec.value();
  return ec.category() == boost::system::system_category() &&
         (value == EMFILE || value == ENFILE || value == ENOBUFS || value == ENOMEM);
}

}  // namespace

// One event loop: its own listener, sessions, pool, snapshot cache and random generator.
// Members are destroyed in reverse order: the context (and its pooled sockets) before the
// io_context, which then frees any session frame still suspended.
class Server::Worker {
 public:
  Worker(Server& server, std::size_t index, std::uint64_t seed)
      : index_(index),
        log_(server.log_),
        context(io.get_executor(), buffers, server.routing_, server.stats_.shard(index),
                server.log_, seed) {}
  ~Worker() {
    if (thread_.joinable()) thread_.join();
  }

  void start(Server& server) {
    for (const Listener listener : {Listener::plain, Listener::tls}) {
      if (!acceptor_of(listener).is_open()) continue;
      net::co_spawn(
          io, accept_connections(server, listener),
          [&log = log_](std::exception_ptr failure) { log_coroutine_failure(log, failure); });
    }
    context.start_pool_sweeps();
    thread_ = std::thread([this] { run(); });
  }

  // The listeners close halfway through the grace idle connections get (refuse_new_handshakes
  // says why), so a connection they still hand over has time to send its request. A drain shorter
  // than that grace shortens it: nothing may start after Server::drain gives up and aborts.
  void begin_drain(Server& server, Duration timeout) {
    accepting_.store(false, std::memory_order_relaxed);
    for (const Listener listener : {Listener::plain, Listener::tls}) {
      tcp::acceptor& acceptor = acceptor_of(listener);
      if (acceptor.is_open() && !refuse_new_handshakes(acceptor)) {
        log_.warn("worker {}: cannot filter SYNs on a draining listener: {}", index_,
                  std::strerror(errno));
      }
    }
    context.begin_drain();
    const Duration accepting_for = std::min(context.drain_idle_grace(), timeout / 2) / 2;
    if (accepting_for <= Duration::zero()) return close_listeners(server);
    listeners_close.expires_after(accepting_for);
    listeners_close.async_wait([this, &server](const error_code& ec) {
      if (!ec) close_listeners(server);
    });
  }

  // The drain ran out of time: what is still queued is reset with the listeners, not served.
  void abort() {
    listeners_close.cancel();
    for (const Listener listener : {Listener::plain, Listener::tls}) {
      error_code ignored;
      acceptor_of(listener).close(ignored);
    }
    context.abort_connections();
  }

  bool stopped_by(Clock::time_point deadline) {
    return stopped_.wait_until(deadline) == std::future_status::ready;
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    for (;;) {
      try {
        io.run();
        break;
      } catch (const std::exception& e) {
        log_.error("worker {}: {}", index_, e.what());
      }
    }
    context.flush_access_log();
    stopped_promise_.set_value();
  }

  tcp::acceptor& acceptor_of(Listener listener) noexcept {
    return listener == Listener::tls ? tls_acceptor : acceptor;
  }

  // Over limits.max_connections (a process-wide count) a new connection is closed at once.
  net::awaitable<void> accept_connections(Server& server, Listener listener) {
    tcp::acceptor& acceptor = acceptor_of(listener);
    net::steady_timer backoff(io);
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      // A connection accepted as the drain began is served like the others (closing it could
      // reset a request it carries); the closed listener ends the loop.
      if (ec) {
        if (!acceptor.is_open() || context.draining) co_return;
        log_.debug("accept failed: {}", ec.message());
        if (out_of_resources(ec)) {
          if (const auto failed = out_of_descriptors_.hit()) {
            log_.warn("worker {}: {} accept(s) failed: {}", index_, failed, ec.message());
          }
          backoff.expires_after(kAcceptBackoff);
          co_await backoff.async_wait(use_tuple);
        }
        continue;
      }
      auto& open = server.open_connections_;
      const auto limit = std::min(context.config_of(context.snapshots.get()).limits.max_connections,
                                  server.connection_cap_);
      if (open.fetch_add(1, std::memory_order_relaxed) >= limit && limit > 0) {
        open.fetch_sub(1, std::memory_order_relaxed);
        error_code ignored;
        socket.close(ignored);
        if (const auto refused = refused_.hit()) {
          log_.warn(
              "worker {}: {} connection(s) refused: {} are open (limits.max_connections, "
              "or what the descriptor limit allows)",
              index_, refused, limit);
        }
        continue;
      }
      Worker& target = least_loaded(server.workers_);
      target.open_here_.fetch_add(1, std::memory_order_relaxed);
      ConnectionTicket ticket(open, target.open_here_);
      if (&target == this) {
        start(listener, std::move(socket), std::move(ticket));
      } else {
        target.adopt(listener, std::move(socket), std::move(ticket));
      }
    }
  }

  void close_listeners(Server& server) {
    for (const Listener listener : {Listener::plain, Listener::tls}) {
      take_queued_connections(server, listener);
      error_code ignored;
      acceptor_of(listener).close(ignored);
    }
  }

  // Closing a listener resets the connections in its accept queue, whose clients may have sent a
  // request already: they are taken first, and served like the others while draining.
  void take_queued_connections(Server& server, Listener listener) {
    tcp::acceptor& acceptor = acceptor_of(listener);
    if (!acceptor.is_open()) return;
    error_code ec;
    acceptor.non_blocking(true, ec);
    while (!ec) {
      tcp::socket socket(io);
      acceptor.accept(socket, ec);
      if (ec) break;
      open_here_.fetch_add(1, std::memory_order_relaxed);
      server.open_connections_.fetch_add(1, std::memory_order_relaxed);
      start(listener, std::move(socket), ConnectionTicket(server.open_connections_, open_here_));
    }
  }

  void start(Listener listener, tcp::socket socket, ConnectionTicket ticket) {
    if (listener == Listener::tls) {
      start_tls_connection(std::move(socket), std::move(ticket), context);
    } else {
      start_connection(std::move(socket), std::move(ticket), context);
    }
  }

  // The kernel spreads connections over the SO_REUSEPORT listeners by a hash of their addresses,
  // which spreads a few long-lived connections unevenly (64 keep-alive connections split 37/27 as
  // often as not), and the busier worker sets the tail latency. So a connection goes to the worker
  // with the fewest open (this one on a tie), as HAProxy's listener does across its threads.
  Worker& least_loaded(const std::vector<std::unique_ptr<Worker>>& workers) {
    Worker* best = this;
    std::uint32_t fewest = open_here_.load(std::memory_order_relaxed);
    for (const auto& worker : workers) {
      if (!worker->accepting_.load(std::memory_order_relaxed)) continue;  // draining
      const std::uint32_t load = worker->open_here_.load(std::memory_order_relaxed);
      if (load < fewest) {
        best = worker.get();
        fewest = load;
      }
    }
    return *best;
  }

  // Takes over a connection another worker accepted: the descriptor moves to this worker's
  // io_context (a socket belongs to the reactor it was opened on).
  void adopt(Listener listener, tcp::socket socket, ConnectionTicket ticket) {
    error_code ec;
    const tcp protocol = listener == Listener::tls ? tls_protocol : plain_protocol;
    OwnedDescriptor descriptor(socket.release(ec));
    if (ec) return;
    // Also while draining: a request it carries is served (closing it could reset it).
    net::post(io, [this, listener, protocol, descriptor = std::move(descriptor),
                   ticket = std::move(ticket)]() mutable {
      tcp::socket adopted(io);
      error_code ec;
      adopted.assign(protocol, descriptor.get(), ec);
      if (ec) return;
      descriptor.release();
      start(listener, std::move(adopted), std::move(ticket));
    });
  }

  std::size_t index_;
  Logger& log_;
  LimitNotice refused_;             // over the connection limit
  LimitNotice out_of_descriptors_;  // accept failed for lack of descriptors or memory
  std::promise<void> stopped_promise_;
  std::future<void> stopped_ = stopped_promise_.get_future();
  std::thread thread_;

 public:
  BufferPool buffers;  // outlives `io`: sessions freed with it give their buffers back
  // Read by every acceptor, on a line of their own (the pool's free list changes per request).
  alignas(64) std::atomic<std::uint32_t> open_here_{0};  // connections of this worker
  std::atomic<bool> accepting_{true};                    // false once draining
  // Only this worker's thread touches its sockets: no locking in the reactor's I/O (posting from
  // other threads, as drain() does, stays safe).
  net::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  tcp::acceptor acceptor{io};
  tcp::acceptor tls_acceptor{io};         // open when tls.listen is configured
  net::steady_timer listeners_close{io};  // when a draining worker closes its listeners
  tcp plain_protocol{tcp::v4()};          // of each listener (set before start)
  tcp tls_protocol{tcp::v4()};
  WorkerContext context;
};

Server::Server(const Config& config, const SnapshotSlot& routing, StatsRegistry& stats, Logger& log)
    : config_(std::make_shared<const Config>(config)),
      routing_(routing),
      stats_(stats),
      log_(log) {}

Server::~Server() {
  if (running_) drain(Duration::zero());
}

void Server::start() {
  if (running_) return;
  const unsigned count = std::max(1u, config_->worker_count());
  // Workers read their timeouts and limits from the snapshot's config (WorkerContext::config_of).
  if (const auto first = routing_.load(); !first || !first->config) {
    throw std::logic_error("no routing snapshot with a config published before start");
  }
  if (stats_.size() < count) {
    throw std::invalid_argument("stats registry has fewer shards than workers");
  }
  tcp::endpoint endpoint = resolve_listen_address(config_->listen);
  ensure_port_free(endpoint);
  std::optional<tcp::endpoint> tls_endpoint;
  if (config_->tls.enabled()) {
    tls_endpoint = resolve_listen_address(*config_->tls.listen);
    ensure_port_free(*tls_endpoint);
  }
  std::random_device entropy;
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < count; ++i) {
    const std::uint64_t seed = (std::uint64_t{entropy()} << 32) ^ entropy() ^ i;
    auto worker = std::make_unique<Worker>(*this, i, seed);
    listen_on(worker->acceptor, endpoint);
    worker->plain_protocol = endpoint.protocol();
    if (i == 0) endpoint = worker->acceptor.local_endpoint();  // port 0: the others join it
    if (tls_endpoint) {
      listen_on(worker->tls_acceptor, *tls_endpoint);
      worker->tls_protocol = tls_endpoint->protocol();
      if (i == 0) tls_endpoint = worker->tls_acceptor.local_endpoint();
    }
    workers.push_back(std::move(worker));
  }
  local_endpoint_ = endpoint;
  tls_endpoint_ = tls_endpoint;
  workers_ = std::move(workers);
  for (auto& worker : workers_) worker->start(*this);
  running_ = true;
  log_.info("data plane listening on {} with {} worker(s)", describe(endpoint), count);
  if (tls_endpoint) log_.info("TLS listening on {}", describe(*tls_endpoint));
}

void Server::routing_changed() {
  for (auto& worker : workers_) {
    net::post(worker->io, [&context = worker->context] {
      if (!context.draining) context.sweep_upstreams();
    });
  }
}

std::uint64_t Server::parked_connections() const noexcept {
  std::uint64_t parked = 0;
  for (const auto& worker : workers_) {
    parked += worker->context.parked.load(std::memory_order_relaxed);
  }
  return parked;
}

boost::asio::ip::tcp::endpoint Server::local_endpoint() const {
  return local_endpoint_;
}

std::optional<boost::asio::ip::tcp::endpoint> Server::tls_endpoint() const {
  return tls_endpoint_;
}

void Server::drain(Duration timeout) {
  if (!running_) return;
  const auto deadline = Clock::now() + timeout;
  for (auto& worker : workers_) {
    net::post(worker->io, [this, &w = *worker, timeout] { w.begin_drain(*this, timeout); });
  }
  if (!wait_for_workers(deadline)) {
    log_.warn("drain: closing the connections still open after {} ms", timeout.count());
    for (auto& worker : workers_) {
      net::post(worker->io, [&w = *worker] { w.abort(); });
    }
    if (!wait_for_workers(Clock::now() + kAbortGrace)) {
      for (auto& worker : workers_) worker->io.stop();
    }
  }
  join_workers();
  running_ = false;
  log_.info("data plane stopped");
}

bool Server::wait_for_workers(std::chrono::steady_clock::time_point deadline) {
  return std::all_of(workers_.begin(), workers_.end(),
                     [&](const auto& worker) { return worker->stopped_by(deadline); });
}

void Server::join_workers() {
  for (auto& worker : workers_) worker->join();
}

}  // namespace bgp
