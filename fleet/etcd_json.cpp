#include "fleet/etcd_json.h"

#include <array>
#include <charconv>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace bgp::etcd {

namespace bj = boost::json;

std::string_view to_string(Error::Kind kind) {
  switch (kind) {
    case Error::Kind::unavailable:
      return "unavailable";
    case Error::Kind::timeout:
      return "timeout";
    case Error::Kind::compacted:
      return "compacted";
    case Error::Kind::lease_not_found:
      return "lease_not_found";
    case Error::Kind::bad_response:
      return "bad_response";
    case Error::Kind::server:
      return "server";
  }
  return "unknown";
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();  // 0xff cannot be incremented: the range ends after a shorter prefix
  }
  return std::string(1, '\0');  // etcd's "to the end of the keyspace"
}

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 3; ++j)
      group = (group << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0u);
    for (std::size_t j = 0; j < 4; ++j)
      out += j <= n ? kAlphabet[(group >> (18 - 6 * j)) & 0x3f] : '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int digit = base64_digit(c);
    if (digit < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(digit);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  if (count >= 6) return std::nullopt;  // one lone character cannot encode a byte
  return out;
}

namespace json {

namespace {

// ----- encoding

std::string int64_string(std::int64_t n) {
  return std::to_string(n);
}

void set_key_range(bj::object& o, std::string_view key, std::string_view range_end) {
  o["key"] = base64_encode(key);
  if (!range_end.empty()) o["range_end"] = base64_encode(range_end);
}

bj::object put_object(std::string_view key, std::string_view value, LeaseId lease) {
  bj::object o;
  o["key"] = base64_encode(key);
  o["value"] = base64_encode(value);
  if (lease != 0) o["lease"] = int64_string(lease);
  return o;
}

bj::object range_object(std::string_view key, std::string_view range_end) {
  bj::object o;
  set_key_range(o, key, range_end);
  return o;
}

std::string_view target_name(Compare::Target target) {
  switch (target) {
    case Compare::Target::create:
      return "CREATE";
    case Compare::Target::mod:
      return "MOD";
    case Compare::Target::version:
      return "VERSION";
    case Compare::Target::value:
      return "VALUE";
    case Compare::Target::lease:
      return "LEASE";
  }
  return "MOD";
}

std::string_view target_field(Compare::Target target) {
  switch (target) {
    case Compare::Target::create:
      return "create_revision";
    case Compare::Target::mod:
      return "mod_revision";
    case Compare::Target::version:
      return "version";
    case Compare::Target::value:
      return "value";
    case Compare::Target::lease:
      return "lease";
  }
  return "mod_revision";
}

std::string_view result_name(Compare::Result result) {
  switch (result) {
    case Compare::Result::equal:
      return "EQUAL";
    case Compare::Result::greater:
      return "GREATER";
    case Compare::Result::less:
      return "LESS";
    case Compare::Result::not_equal:
      return "NOT_EQUAL";
  }
  return "EQUAL";
}

bj::object compare_object(const Compare& compare) {
  bj::object o;
  o["key"] = base64_encode(compare.key);
  o["target"] = target_name(compare.target);
  o["result"] = result_name(compare.result);
  o[target_field(compare.target)] = compare.target == Compare::Target::value
                                        ? base64_encode(compare.value)
                                        : int64_string(compare.number);
  return o;
}

bj::object operation_object(const Operation& op) {
  bj::object o;
  switch (op.kind) {
    case Operation::Kind::put:
      o["request_put"] = put_object(op.key, op.value, op.lease);
      break;
    case Operation::Kind::range:
      o["request_range"] = range_object(op.key, op.range_end);
      break;
    case Operation::Kind::delete_range:
      o["request_delete_range"] = range_object(op.key, op.range_end);
      break;
  }
  return o;
}

bj::array operations_array(const std::vector<Operation>& ops) {
  bj::array a;
  for (const auto& op : ops) a.push_back(operation_object(op));
  return a;
}

// ----- decoding

Error bad_response(std::string what) {
  return Error{Error::Kind::bad_response, "bad response: " + std::move(what), 0, 0};
}

std::optional<bj::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  bj::value v = bj::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

// int64 fields come as JSON strings; numbers are accepted too. Absent = the default 0.
std::optional<std::int64_t> int64_at(const bj::object& o, std::string_view name) {
  const bj::value* v = o.if_contains(name);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= INT64_MAX)
    return static_cast<std::int64_t>(v->get_uint64());
  if (!v->is_string()) return std::nullopt;
  const auto& s = v->get_string();
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

bool bool_at(const bj::object& o, std::string_view name) {
  const bj::value* v = o.if_contains(name);
  return v != nullptr && v->is_bool() && v->get_bool();
}

const bj::object* object_at(const bj::object& o, std::string_view name) {
  const bj::value* v = o.if_contains(name);
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

const bj::array* array_at(const bj::object& o, std::string_view name) {
  const bj::value* v = o.if_contains(name);
  return v != nullptr && v->is_array() ? &v->get_array() : nullptr;
}

std::string string_at(const bj::object& o, std::string_view name) {
  const bj::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::optional<std::string> bytes_at(const bj::object& o, std::string_view name) {
  return base64_decode(string_at(o, name));
}

// The gRPC status code and message as the kind of error a caller acts on.
Error grpc_error(int code, std::string message) {
  Error e{Error::Kind::server, std::move(message), code, 0};
  if (code == 14) e.kind = Error::Kind::unavailable;  // UNAVAILABLE: no leader, stopping, ...
  // DEADLINE_EXCEEDED, or UNKNOWN "context deadline exceeded" when a member without a leader
  // gives up on a proposal after its request timeout.
  if (code == 4 || e.message.find("deadline exceeded") != std::string::npos ||
      e.message.find("request timed out") != std::string::npos)
    e.kind = Error::Kind::timeout;
  if (code == 5 && e.message.find("lease not found") != std::string::npos)
    e.kind = Error::Kind::lease_not_found;
  if (code == 11 && e.message.find("compacted") != std::string::npos)
    e.kind = Error::Kind::compacted;
  return e;
}

// The two error shapes: unary {"error":"..","message":"..","code":14} and streamed
// {"error":{"grpc_code":14,"http_code":503,"message":".."}}.
std::optional<Error> error_in(const bj::object& o) {
  const bj::value* error = o.if_contains("error");
  if (error == nullptr) return std::nullopt;
  if (error->is_object()) {
    const auto& e = error->get_object();
    return grpc_error(static_cast<int>(int64_at(e, "grpc_code").value_or(0)),
                      string_at(e, "message"));
  }
  // LeaseGrantResponse has an "error" string of its own; the unary error shape has a "code".
  if (!o.contains("code")) return std::nullopt;
  std::string message = string_at(o, "message");
  if (message.empty()) message = string_at(o, "error");
  return grpc_error(static_cast<int>(int64_at(o, "code").value_or(0)), std::move(message));
}

Revision header_revision(const bj::object& o) {
  const bj::object* header = object_at(o, "header");
  return header != nullptr ? int64_at(*header, "revision").value_or(0) : 0;
}

std::optional<KeyValue> decode_kv(const bj::object& o) {
  KeyValue kv;
  auto key = bytes_at(o, "key");
  auto value = bytes_at(o, "value");
  auto create = int64_at(o, "create_revision");
  auto mod = int64_at(o, "mod_revision");
  auto version = int64_at(o, "version");
  auto lease = int64_at(o, "lease");
  if (!key || !value || !create || !mod || !version || !lease) return std::nullopt;
  return KeyValue{std::move(*key), std::move(*value), *create, *mod, *version, *lease};
}

Outcome<Range> range_from(const bj::object& o) {
  Range range{header_revision(o), {}};
  if (const bj::array* kvs = array_at(o, "kvs")) {
    for (const auto& item : *kvs) {
      std::optional<KeyValue> kv = item.is_object() ? decode_kv(item.get_object()) : std::nullopt;
      if (!kv) return Outcome<Range>::fail(bad_response("a malformed kv"));
      range.kvs.push_back(std::move(*kv));
    }
  }
  return Outcome<Range>::ok(std::move(range));
}

// Parses `body`, then either the error it holds or `decode(object)`.
template <typename T, typename Decode>
Outcome<T> decode_body(std::string_view body, Decode decode) {
  const std::optional<bj::object> o = parse_object(body);
  if (!o)
    return Outcome<T>::fail(bad_response("not a JSON object: " + std::string(body.substr(0, 200))));
  if (std::optional<Error> error = error_in(*o)) return Outcome<T>::fail(std::move(*error));
  return decode(*o);
}

Error watch_canceled(const bj::object& result) {
  const Revision compact = int64_at(result, "compact_revision").value_or(0);
  if (compact > 0) {
    return Error{Error::Kind::compacted,
                 "watch canceled: revision compacted up to " + std::to_string(compact), 0, compact};
  }
  std::string reason = string_at(result, "cancel_reason");
  return Error{Error::Kind::server, "watch canceled" + (reason.empty() ? "" : ": " + reason), 0, 0};
}

std::optional<WatchEvent> decode_event(const bj::object& o) {
  const bj::object* kv_object = object_at(o, "kv");
  if (kv_object == nullptr) return std::nullopt;
  std::optional<KeyValue> kv = decode_kv(*kv_object);
  if (!kv) return std::nullopt;
  // PUT is the enum's default value, so the gateway leaves "type" out for it.
  const auto type =
      string_at(o, "type") == "DELETE" ? WatchEvent::Type::del : WatchEvent::Type::put;
  return WatchEvent{type, std::move(*kv)};
}

}  // namespace

std::string range_request(std::string_view key, std::string_view range_end) {
  return bj::serialize(range_object(key, range_end));
}

std::string put_request(std::string_view key, std::string_view value, LeaseId lease) {
  return bj::serialize(put_object(key, value, lease));
}

std::string delete_range_request(std::string_view key, std::string_view range_end) {
  return bj::serialize(range_object(key, range_end));
}

std::string txn_request(const Txn& txn) {
  bj::object o;
  bj::array compare;
  for (const auto& c : txn.compare) compare.push_back(compare_object(c));
  o["compare"] = std::move(compare);
  o["success"] = operations_array(txn.success);
  o["failure"] = operations_array(txn.failure);
  return bj::serialize(o);
}

std::string grant_request(std::chrono::seconds ttl) {
  // "TTL" in capitals: the gateway silently ignores "ttl" and grants a lease of etcd's minimum.
  return bj::serialize(bj::object{{"TTL", int64_string(ttl.count())}});
}

std::string lease_request(LeaseId id) {
  return bj::serialize(bj::object{{"ID", int64_string(id)}});
}

std::string watch_request(std::string_view key, std::string_view range_end, Revision start) {
  bj::object create = range_object(key, range_end);
  if (start > 0) create["start_revision"] = int64_string(start);
  create["prev_kv"] = true;
  create["progress_notify"] = true;
  return bj::serialize(bj::object{{"create_request", std::move(create)}});
}

std::string compaction_request(Revision revision) {
  return bj::serialize(bj::object{{"revision", int64_string(revision)}});
}

Outcome<Range> decode_range(std::string_view body) {
  return decode_body<Range>(body, [](const bj::object& o) { return range_from(o); });
}

Outcome<Revision> decode_revision(std::string_view body) {
  return decode_body<Revision>(body, [](const bj::object& o) {
    if (object_at(o, "header") == nullptr)
      return Outcome<Revision>::fail(bad_response("no header"));
    return Outcome<Revision>::ok(header_revision(o));
  });
}

Outcome<TxnResult> decode_txn(std::string_view body) {
  return decode_body<TxnResult>(body, [](const bj::object& o) {
    // A failed compare has no "succeeded" at all: false is the default value.
    TxnResult result{header_revision(o), bool_at(o, "succeeded"), {}};
    if (const bj::array* responses = array_at(o, "responses")) {
      for (const auto& item : *responses) {
        const bj::object* r =
            item.is_object() ? object_at(item.get_object(), "response_range") : nullptr;
        if (r == nullptr) continue;  // put and delete_range carry nothing the caller needs
        Outcome<Range> range = range_from(*r);
        if (!range) return Outcome<TxnResult>::fail(std::move(*range.error));
        result.ranges.push_back(std::move(*range.value));
      }
    }
    return Outcome<TxnResult>::ok(std::move(result));
  });
}

Outcome<Lease> decode_grant(std::string_view body) {
  return decode_body<Lease>(body, [](const bj::object& o) {
    const auto id = int64_at(o, "ID");
    const auto ttl = int64_at(o, "TTL");
    if (!id || !ttl || *id == 0) {
      const std::string error = string_at(o, "error");
      return Outcome<Lease>::fail(error.empty() ? bad_response("no lease ID")
                                                : Error{Error::Kind::server, error, 0, 0});
    }
    return Outcome<Lease>::ok(Lease{*id, *ttl});
  });
}

Outcome<Lease> decode_keepalive(std::string_view body) {
  // A stream endpoint: the answer (or a stream error) is the first line.
  body = body.substr(0, body.find('\n'));
  return decode_body<Lease>(body, [](const bj::object& o) {
    const bj::object* result = object_at(o, "result");
    if (result == nullptr) return Outcome<Lease>::fail(bad_response("no result"));
    const auto id = int64_at(*result, "ID");
    const auto ttl = int64_at(*result, "TTL");
    if (!id || !ttl) return Outcome<Lease>::fail(bad_response("a malformed keepalive"));
    // An expired or unknown lease is answered with no TTL (0 left out) or -1, not an error.
    if (*ttl <= 0) {
      return Outcome<Lease>::fail(
          Error{Error::Kind::lease_not_found, "lease " + std::to_string(*id) + " not found", 0, 0});
    }
    return Outcome<Lease>::ok(Lease{*id, *ttl});
  });
}

Outcome<Done> decode_revoke(std::string_view body) {
  return decode_body<Done>(body, [](const bj::object&) { return Outcome<Done>::ok(Done{}); });
}

WatchMessage decode_watch_line(std::string_view line) {
  WatchMessage message;
  const std::optional<bj::object> o = parse_object(line);
  if (!o) {
    message.end = bad_response("a watch line that is not a JSON object");
    return message;
  }
  if (std::optional<Error> error = error_in(*o)) {
    message.end = std::move(*error);
    return message;
  }
  const bj::object* result = object_at(*o, "result");
  if (result == nullptr) {
    message.end = bad_response("a watch line with no result");
    return message;
  }
  if (bool_at(*result, "canceled")) {
    message.end = watch_canceled(*result);
    return message;
  }
  message.created = bool_at(*result, "created");
  WatchBatch batch{header_revision(*result), {}, false};
  if (const bj::array* events = array_at(*result, "events")) {
    for (const auto& item : *events) {
      std::optional<WatchEvent> event =
          item.is_object() ? decode_event(item.get_object()) : std::nullopt;
      if (!event) {
        message.end = bad_response("a malformed watch event");
        return message;
      }
      batch.events.push_back(std::move(*event));
    }
  }
  // No events on a message that is neither the first nor a cancel: a progress notification.
  batch.progress = batch.events.empty();
  if (!message.created || !batch.events.empty()) message.batch = std::move(batch);
  return message;
}

}  // namespace json
}  // namespace bgp::etcd
