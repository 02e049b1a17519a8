// libFuzzer target over the upstream codec (proxy/http2/client_session.h): a ClientSession with
// four requests open (stream 1 a GET, 3 a POST with a body, 5 a POST with trailers, 7 a GET),
// then the fuzz bytes as the upstream's, handed over in pieces whose size the first byte picks.
// The events relay what comes (consuming most of it), reset some streams, and send a request again
// when it was refused, as the pool will; the output is drained after every piece. Whatever the
// bytes:
//   1. every stream submit_request() opened closes once, or is still open at the end, and no event
//      comes for a stream never opened or after its close;
//   2. on a stream: on_response at most once and first, on_data only between it and
//      on_response_end, which comes at most once; nothing after the owner's reset() but the close;
//   3. a GOAWAY received means can_open() is false; once receive() said the connection must end,
//      it stays ended and nothing more is read;
//   4. the output stays bounded by what the input can ask for.
// A violated property aborts, which libFuzzer reports with the input.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http2/client_session.h"

#include "tests/fuzz/require.h"

namespace {

using bgp::fuzz::require;
using namespace bgp::http2;

constexpr std::uint32_t kRefusedStream = 7;
constexpr std::uint32_t kCancel = 8;

ClientLimits fuzz_limits() {
  ClientLimits limits;  // small, so that inputs reach every limit
  limits.stream_window = 4096;
  limits.connection_window = 65535;
  limits.max_header_bytes = 1024;
  return limits;
}

class Relaying : public ClientEvents {
 public:
  struct State {
    bool head = false;
    bool ended = false;
    bool reset = false;
  };

  void attach(ClientSession& session) { session_ = &session; }
  const std::map<std::int32_t, State>& open() const { return open_; }

  std::int32_t open_request(int kind) {
    const Field type{"content-type", "application/grpc"};
    const Field te{"te", "trailers"};
    const Field fields[] = {type, te};
    std::int32_t id = 0;
    if (kind % 2 == 0) {
      id = session_->submit_request("GET", "http", "b.test", "/", {}, true);
    } else {
      id = session_->submit_request("POST", "http", "b.test", "/s/M", fields, false);
    }
    if (id == 0) return 0;
    require(!open_.contains(id) && !closed_.contains(id), "a new stream id");
    open_[id] = {};
    if (kind % 2 == 1) {
      session_->submit_data(id, std::string(static_cast<std::size_t>(kind) * 3000, 'q'));
      const Field status{"x-end", "1"};
      session_->submit_end(
          id, kind == 3 ? std::span<const Field>(&status, 1) : std::span<const Field>{});
    }
    return id;
  }

  void on_response(std::int32_t stream, ResponseHead head) override {
    State& state = known(stream);
    require(!state.head, "on_response once");
    require(head.status >= 200 && head.status <= 999, "a final status");
    state.head = true;
    if (stream % 8 == 7) {
      session_->reset(stream, kCancel);  // the client went away
      state.reset = true;
    }
  }

  void on_data(std::int32_t stream, std::string_view bytes) override {
    State& state = known(stream);
    require(state.head && !state.ended, "data between the head and the end");
    // Relayed at once, mostly; some bytes stay held until the stream closes.
    session_->consume(stream, bytes.size() - (stream % 3 == 0 && !bytes.empty() ? 1 : 0));
  }

  void on_response_end(std::int32_t stream, std::vector<Field>) override {
    State& state = known(stream);
    require(state.head && !state.ended, "one end, after the head");
    state.ended = true;
  }

  void on_stream_close(std::int32_t stream, std::uint32_t code) override {
    require(open_.erase(stream) == 1, "a close only for an open stream, once");
    closed_[stream] = true;
    // Calls after the close are no-ops.
    session_->submit_data(stream, "late");
    session_->consume(stream, 10);
    session_->reset(stream, kCancel);
    require(session_->queued(stream) == 0, "nothing queued on a closed stream");
    if (session_->goaway_received()) require(!session_->can_open(), "no stream after a GOAWAY");
    if (code == kRefusedStream && retries_ < 4) {
      ++retries_;
      open_request(retries_);  // the pool would choose another connection; this one may do
    }
  }

 private:
  State& known(std::int32_t stream) {
    const auto it = open_.find(stream);
    require(it != open_.end(), "events only for an open stream");
    require(!it->second.reset, "nothing after the owner's reset but the close");
    return it->second;
  }

  ClientSession* session_ = nullptr;
  std::map<std::int32_t, State> open_;
  std::map<std::int32_t, bool> closed_;
  int retries_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = data[0] % 64 + 1;
  const bool ping_and_shut_down = (data[0] & 0x80) != 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  Relaying events;
  ClientSession session(events, fuzz_limits());
  events.attach(session);
  for (int kind = 0; kind < 4; ++kind) require(events.open_request(kind) != 0, "a fresh session");
  std::string out;
  session.take_output(out);

  bool ended = false;
  std::size_t output_bytes = out.size();
  for (std::size_t at = 0; at < input.size(); at += piece) {
    if (ping_and_shut_down && at >= input.size() / 2 && at < input.size() / 2 + piece) {
      session.ping();
      session.shutdown();
    }
    const bool more = session.receive(input.substr(at, piece));
    require(!(ended && more), "an ended connection stays ended");
    if (!more) {
      ended = true;
      require(!session.wants_read(), "an ended connection reads nothing more");
    }
    if (session.goaway_received()) require(!session.can_open(), "no stream after a GOAWAY");
    out.clear();
    session.take_output(out);
    output_bytes += out.size();
  }
  // The request bodies (at most 8 requests of at most 9000 bytes), and every frame the upstream
  // sends asks for at most one small frame back (an ACK, a WINDOW_UPDATE, a RST_STREAM).
  require(output_bytes <= 1024 + 8 * 10'000 + 64 * input.size(), "output bounded by the input");
  for (const auto& [stream, state] : events.open()) {
    require(session.stream_open(stream), "a stream not closed is still open");
  }
  require(session.open_streams() == events.open().size(), "the session holds the open streams");
  return 0;
}
