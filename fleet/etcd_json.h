// The etcd v3 JSON gateway's request and response bodies, encoded and decoded without I/O.
//
// The gateway (grpc-gateway in front of etcd's gRPC API) speaks JSON with keys and values in
// base64 and int64 as JSON strings, and omits every field that holds its default value: a failed
// txn compare has no "succeeded", a PUT event has no "type", an empty range has no "kvs". Unary
// errors and stream errors come in two different shapes. Everything here is pure, so each quirk is
// unit tested against responses recorded from a real etcd 3.4.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bgp::etcd {

using Revision = std::int64_t;
using LeaseId = std::int64_t;

struct Error {
  enum class Kind { unavailable, timeout, compacted, lease_not_found, bad_response, server };
  Kind kind = Kind::unavailable;
  std::string message;            // human, names the endpoint (the client adds it)
  int grpc_code = 0;              // from the gateway's error body when present
  Revision compact_revision = 0;  // for compacted
};

std::string_view to_string(Error::Kind kind);

// A value or an error, never both.
template <typename T>
struct Outcome {
  std::optional<T> value;
  std::optional<Error> error;

  explicit operator bool() const noexcept { return value.has_value(); }
  static Outcome ok(T v) { return Outcome{std::move(v), std::nullopt}; }
  static Outcome fail(Error e) { return Outcome{std::nullopt, std::move(e)}; }
};

struct Done {};  // the value of a call that returns nothing (revoke)

struct KeyValue {
  std::string key, value;
  Revision create_revision = 0, mod_revision = 0;
  std::int64_t version = 0;
  LeaseId lease = 0;
};

struct Range {
  Revision revision = 0;  // header.revision: the store's revision when the range was read
  std::vector<KeyValue> kvs;
};

struct Compare {
  enum class Target { create, mod, version, value, lease };
  enum class Result { equal, greater, less, not_equal };
  std::string key;
  Target target = Target::mod;
  Result result = Result::equal;
  std::int64_t number = 0;  // for create/mod/version/lease
  std::string value;        // for value
};

// One request of a txn branch.
struct Operation {
  enum class Kind { put, range, delete_range };
  Kind kind = Kind::put;
  std::string key, value, range_end;
  LeaseId lease = 0;
};

struct Txn {
  std::vector<Compare> compare;
  std::vector<Operation> success, failure;
};

struct TxnResult {
  Revision revision = 0;
  bool succeeded = false;
  // The responses of the range operations of the branch that ran, in order.
  std::vector<Range> ranges;
};

struct Lease {
  LeaseId id = 0;
  std::int64_t ttl = 0;
};

struct WatchEvent {
  enum class Type { put, del } type = Type::put;
  KeyValue kv;
};

struct WatchBatch {
  Revision revision = 0;
  std::vector<WatchEvent> events;
  bool progress = false;  // a progress notification: no events, `revision` is current
};

// etcd's range_end for "every key with this prefix": the prefix with its last byte below 0xff
// incremented (and what follows dropped); "\0" (every key) when there is none.
std::string prefix_end(std::string_view prefix);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt when not base64

namespace json {

// Request bodies, for POST /v3/kv/range, /v3/kv/put, ...
std::string range_request(std::string_view key, std::string_view range_end);
std::string put_request(std::string_view key, std::string_view value, LeaseId lease);
std::string delete_range_request(std::string_view key, std::string_view range_end);
std::string txn_request(const Txn& txn);
std::string grant_request(std::chrono::seconds ttl);
std::string lease_request(LeaseId id);  // keepalive and revoke
std::string watch_request(std::string_view key, std::string_view range_end, Revision start);
std::string compaction_request(Revision revision);

// Response bodies (any HTTP status: the gateway's error body says what went wrong). An error's
// message does not name the endpoint; the client prefixes it.
Outcome<Range> decode_range(std::string_view body);
Outcome<Revision> decode_revision(std::string_view body);  // put, delete_range: header.revision
Outcome<TxnResult> decode_txn(std::string_view body);
Outcome<Lease> decode_grant(std::string_view body);
Outcome<Lease> decode_keepalive(std::string_view body);  // expired/unknown: lease_not_found
Outcome<Done> decode_revoke(std::string_view body);

// One line of a watch stream.
struct WatchMessage {
  bool created = false;             // the first message: the watch is in place
  std::optional<WatchBatch> batch;  // events, or a progress notification
  std::optional<Error> end;         // the stream ends: canceled (compacted, ...) or an error
};
WatchMessage decode_watch_line(std::string_view line);

}  // namespace json
}  // namespace bgp::etcd
