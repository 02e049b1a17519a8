#include "fleet/etcd_client.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace bgp::etcd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// One HTTP exchange with one member; registered with the client so that stop() can close it.
struct Client::Connection {
  explicit Connection(Client& c) : client(c), stream(c.io_) { client.in_flight_.push_back(this); }
  ~Connection() { std::erase(client.in_flight_, this); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Client& client;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
};

namespace {

std::string prefix(const std::string& endpoint) {
  return "etcd " + endpoint + ": ";
}

Error transport_error(const std::string& endpoint, std::string_view step, error_code ec) {
  if (ec == beast::error::timeout)
    return Error{Error::Kind::timeout, prefix(endpoint) + std::string(step) + " timed out", 0, 0};
  if (ec == asio::error::operation_aborted)
    return Error{Error::Kind::unavailable, prefix(endpoint) + "cancelled", 0, 0};
  return Error{Error::Kind::unavailable, prefix(endpoint) + std::string(step) + ": " + ec.message(),
               0, 0};
}

Error with_endpoint(Error error, const std::string& endpoint) {
  error.message = prefix(endpoint) + error.message;
  return error;
}

// "host:port"; a numeric host needs no resolver (no thread, no DNS wait outside the timeout).
asio::awaitable<error_code> connect(beast::tcp_stream& stream, const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) co_return asio::error::invalid_argument;
  std::string host = endpoint.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port = endpoint.substr(colon + 1);
  error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    std::uint16_t port_number = 0;
    const auto parsed = std::from_chars(port.data(), port.data() + port.size(), port_number);
    if (parsed.ec != std::errc() || parsed.ptr != port.data() + port.size())
      co_return asio::error::invalid_argument;
    std::tie(ec) = co_await stream.async_connect({address, port_number}, use_nothrow);
    co_return ec;
  }
  asio::ip::tcp::resolver resolver(stream.get_executor());
  auto [resolve_ec, results] = co_await resolver.async_resolve(host, port, use_nothrow);
  if (resolve_ec) co_return resolve_ec;
  std::tie(ec, std::ignore) = co_await stream.async_connect(results, use_nothrow);
  co_return ec;
}

http::request<http::string_body> make_request(std::string_view target, const std::string& host,
                                              std::string body) {
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, host);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, "bgproxy");
  request.keep_alive(false);
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

// Errors are values here: a cancelled coroutine must not throw at its next co_await. The
// caller's setting is put back on the way out.
struct NoThrowOnCancel {
  bool previous = true;
};

asio::awaitable<NoThrowOnCancel> no_throw_on_cancel() {
  NoThrowOnCancel saved{co_await asio::this_coro::throw_if_cancelled()};
  co_await asio::this_coro::throw_if_cancelled(false);
  co_return saved;
}

Error stopped_error() {
  return Error{Error::Kind::unavailable, "etcd: client stopped", 0, 0};
}

}  // namespace

Client::Client(asio::io_context& io, Options options) : io_(io), options_(std::move(options)) {
  if (options_.endpoints.empty()) options_.endpoints.push_back("127.0.0.1:2379");
}

Client::~Client() {
  stop();
}

void Client::stop() {
  stopped_ = true;
  // Closing fails the pending operation of each exchange with operation_aborted; the handlers
  // run later on the io_context, so nothing leaves in_flight_ while this loop runs.
  for (Connection* connection : in_flight_) connection->stream.close();
}

template <typename T>
asio::awaitable<Outcome<T>> Client::call(std::string_view target, std::string body,
                                         Outcome<T> (*decode)(std::string_view)) {
  const NoThrowOnCancel saved = co_await no_throw_on_cancel();
  Outcome<T> out = Outcome<T>::fail(stopped_error());
  const std::size_t count = options_.endpoints.size();
  for (std::size_t i = 0; i < count && !stopped_; ++i) {
    const std::size_t index = (preferred_ + i) % count;
    const std::string& endpoint = options_.endpoints[index];
    Connection c(*this);
    c.stream.expires_after(options_.timeout);  // one deadline for connect, write and read
    error_code ec = co_await connect(c.stream, endpoint);
    std::string_view step = "connect";
    auto request = make_request(target, endpoint, body);
    if (!ec) {
      step = "write";
      std::tie(ec, std::ignore) = co_await http::async_write(c.stream, request, use_nothrow);
    }
    if (!ec) {
      step = "read";
      std::tie(ec, std::ignore) =
          co_await http::async_read(c.stream, c.buffer, c.parser, use_nothrow);
    }
    if (ec) {
      out = Outcome<T>::fail(transport_error(endpoint, step, ec));
      if (ec == asio::error::operation_aborted) break;  // cancelled: no other endpoint either
      continue;
    }
    out = decode(c.parser.get().body());
    if (out.error) out.error = with_endpoint(std::move(*out.error), endpoint);
    // A member without a leader answers "unavailable": another member may have one.
    if (out.error && out.error->kind == Error::Kind::unavailable) continue;
    preferred_ = index;
    break;
  }
  co_await asio::this_coro::throw_if_cancelled(saved.previous);
  co_return out;
}

asio::awaitable<Outcome<Range>> Client::range(std::string key, std::string range_end) {
  return call<Range>("/v3/kv/range", json::range_request(key, range_end), json::decode_range);
}

asio::awaitable<Outcome<Revision>> Client::put(std::string key, std::string value, LeaseId lease) {
  return call<Revision>("/v3/kv/put", json::put_request(key, value, lease), json::decode_revision);
}

asio::awaitable<Outcome<Revision>> Client::delete_range(std::string key, std::string range_end) {
  return call<Revision>("/v3/kv/deleterange", json::delete_range_request(key, range_end),
                        json::decode_revision);
}

asio::awaitable<Outcome<TxnResult>> Client::txn(Txn txn) {
  return call<TxnResult>("/v3/kv/txn", json::txn_request(txn), json::decode_txn);
}

asio::awaitable<Outcome<Lease>> Client::grant(std::chrono::seconds ttl) {
  return call<Lease>("/v3/lease/grant", json::grant_request(ttl), json::decode_grant);
}

asio::awaitable<Outcome<Lease>> Client::keepalive(LeaseId id) {
  return call<Lease>("/v3/lease/keepalive", json::lease_request(id), json::decode_keepalive);
}

asio::awaitable<Outcome<Done>> Client::revoke(LeaseId id) {
  return call<Done>("/v3/lease/revoke", json::lease_request(id), json::decode_revoke);
}

asio::awaitable<Outcome<Revision>> Client::compact(Revision revision) {
  return call<Revision>("/v3/kv/compaction", json::compaction_request(revision),
                        json::decode_revision);
}

asio::awaitable<Error> Client::watch(std::string key, std::string range_end, Revision start,
                                     std::function<void(const WatchBatch&)> on_batch) {
  const NoThrowOnCancel saved = co_await no_throw_on_cancel();
  Error why = stopped_error();
  const std::string body = json::watch_request(key, range_end, start);
  const std::size_t count = options_.endpoints.size();
  for (std::size_t i = 0; i < count && !stopped_; ++i) {
    const std::size_t index = (preferred_ + i) % count;
    const std::string& endpoint = options_.endpoints[index];
    Connection c(*this);
    // Connecting and the response head have the timeout; the stream itself has none.
    c.stream.expires_after(options_.timeout);
    error_code ec = co_await connect(c.stream, endpoint);
    std::string_view step = "connect";
    auto request = make_request("/v3/watch", endpoint, body);
    // A member that lost its leader then ends the stream instead of going silent.
    request.set("Grpc-Metadata-hasleader", "true");
    if (!ec) {
      step = "write";
      std::tie(ec, std::ignore) = co_await http::async_write(c.stream, request, use_nothrow);
    }
    c.parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // a stream has no end
    if (!ec) {
      step = "read";
      std::tie(ec, std::ignore) =
          co_await http::async_read_header(c.stream, c.buffer, c.parser, use_nothrow);
    }
    if (ec) {
      why = transport_error(endpoint, step, ec);
      if (ec == asio::error::operation_aborted) break;
      continue;
    }
    preferred_ = index;
    c.stream.expires_never();
    why = co_await watch_on(c, endpoint, on_batch);
    break;
  }
  co_await asio::this_coro::throw_if_cancelled(saved.previous);
  co_return why;
}

asio::awaitable<Error> Client::watch_on(Connection& c, const std::string& endpoint,
                                        const std::function<void(const WatchBatch&)>& on_batch) {
  // The chunked body is one JSON object per line; Beast removes the chunking and appends the
  // bytes to `pending`, complete lines are taken from its front.
  std::string& pending = c.parser.get().body();
  // Handles one line; the Error when the line ends the stream.
  const auto handle = [&](std::string_view line) -> std::optional<Error> {
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) return std::nullopt;
    json::WatchMessage message = json::decode_watch_line(line);
    if (message.end) return with_endpoint(std::move(*message.end), endpoint);
    if (message.batch && on_batch) on_batch(*message.batch);
    return std::nullopt;
  };
  error_code ec;
  bool ended = c.parser.is_done();
  for (;;) {
    for (auto newline = pending.find('\n'); newline != std::string::npos;
         newline = pending.find('\n')) {
      std::optional<Error> end = handle(std::string_view(pending).substr(0, newline));
      if (end) co_return std::move(*end);
      pending.erase(0, newline + 1);
    }
    if (ended) {
      // A stream error is the last line and has no newline after it.
      if (std::optional<Error> end = handle(pending)) co_return std::move(*end);
      if (ec) co_return transport_error(endpoint, "watch", ec);
      co_return Error{Error::Kind::unavailable, prefix(endpoint) + "the watch stream ended", 0, 0};
    }
    std::tie(ec, std::ignore) =
        co_await http::async_read_some(c.stream, c.buffer, c.parser, use_nothrow);
    ended = ec || c.parser.is_done();
  }
}

}  // namespace bgp::etcd
