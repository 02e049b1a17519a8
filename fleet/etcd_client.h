// An etcd v3 client over the JSON gateway (POST /v3/...), on the caller's io_context.
//
// No etcd C++ client is packaged in Debian, and gRPC would pull in protobuf and abseil; the
// gateway needs nothing but Beast and Boost.JSON (the bodies: fleet/etcd_json.h). Every call is a
// coroutine that never throws: it returns a value or an Error. Unary calls have a timeout
// (connect + write + read) and rotate through the endpoints: an endpoint that cannot be reached,
// times out or answers "unavailable" is skipped for the next one, each at most once per call, and
// the last endpoint that answered is tried first next time. A retried write may already have
// committed on the member that timed out, so writes should be idempotent (CAS on mod_revision).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "fleet/etcd_json.h"

namespace bgp::etcd {

class Client {
 public:
  struct Options {
    std::vector<std::string> endpoints;  // "host:port" of the members' client URLs
    std::chrono::milliseconds timeout{1000};
  };

  Client(boost::asio::io_context& io, Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  boost::asio::awaitable<Outcome<Range>> range(std::string key, std::string range_end = {});
  boost::asio::awaitable<Outcome<Revision>> put(std::string key, std::string value,
                                                LeaseId lease = 0);
  boost::asio::awaitable<Outcome<Revision>> delete_range(std::string key,
                                                         std::string range_end = {});
  boost::asio::awaitable<Outcome<TxnResult>> txn(Txn txn);
  // etcd grants at least 2 s whatever is asked.
  boost::asio::awaitable<Outcome<Lease>> grant(std::chrono::seconds ttl);
  // One renewal; an expired or unknown lease: Error lease_not_found.
  boost::asio::awaitable<Outcome<Lease>> keepalive(LeaseId id);
  boost::asio::awaitable<Outcome<Done>> revoke(LeaseId id);
  // Compacts the history up to `revision` (watches from before it then end with `compacted`).
  boost::asio::awaitable<Outcome<Revision>> compact(Revision revision);

  // One watch stream from `start` (0 = now) with prev_kv and progress_notify: calls `on_batch` for
  // every message with events and every progress notification until the stream ends, then
  // returns why (compacted with its compact_revision; unavailable when the member lost its leader,
  // the connection dropped, or the watch was cancelled through the coroutine's cancellation slot
  // or stop()). A watch has no overall timeout: an idle stream is normal.
  boost::asio::awaitable<Error> watch(std::string key, std::string range_end, Revision start,
                                      std::function<void(const WatchBatch&)> on_batch);

  // Cancels everything in flight (watches end with kind unavailable); later calls fail at once
  // with unavailable. For shutdown.
  void stop();
  bool stopped() const noexcept { return stopped_; }

  // The endpoint the next call tries first.
  const std::string& preferred_endpoint() const { return options_.endpoints.at(preferred_); }

 private:
  struct Connection;
  template <typename T>
  boost::asio::awaitable<Outcome<T>> call(std::string_view target, std::string body,
                                          Outcome<T> (*decode)(std::string_view));
  boost::asio::awaitable<Error> watch_on(Connection& connection, const std::string& endpoint,
                                         const std::function<void(const WatchBatch&)>& on_batch);

  boost::asio::io_context& io_;
  Options options_;
  std::size_t preferred_ = 0;
  bool stopped_ = false;
  std::vector<Connection*> in_flight_;  // what stop() cancels; each removes itself when done
};

}  // namespace bgp::etcd
