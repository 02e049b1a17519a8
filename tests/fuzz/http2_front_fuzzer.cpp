// libFuzzer target over the HTTP/2 front's codec (proxy/http2/server_session.h): the client magic,
// then the fuzz bytes as a client's, handed over in pieces whose size the first byte picks. The
// events answer every request (a response with a body and, on some streams, trailers; a refusal
// with its status; some streams reset), and the output is drained after every piece. Whatever
// the bytes:
//   1. every stream announced by on_request closes once, or is still open at the end, and no event
//      comes for a stream before its on_request or after its close;
//   2. a refused request's body is never delivered; on_request_end comes at most once;
//   3. once receive() said the connection must end, it stays ended and nothing more is read;
//   4. the output stays bounded by what the input can ask for;
//   5. what an accepted request becomes for an HTTP/1.1 upstream (write_upstream_request_head) is
//      a head the proxy's own strict HTTP/1 reader accepts, with the same method, target, Host and
//      framing: nothing the HTTP/2 checks let through can smuggle a second meaning upstream.
// A violated property aborts, which libFuzzer reports with the input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http1/relay_head.h"
#include "proxy/http1/request_head.h"
#include "proxy/http2/server_session.h"

#include "tests/fuzz/require.h"

namespace {

using bgp::fuzz::require;
using namespace bgp::http2;

constexpr std::string_view kMagic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

ServerLimits fuzz_limits() {
  ServerLimits limits;  // small, so that inputs reach every limit
  limits.max_concurrent_streams = 8;
  limits.stream_window = 4096;
  limits.connection_window = 65535;
  limits.max_header_bytes = 1024;
  limits.max_header_fields = 16;
  return limits;
}

class Answering : public ServerEvents {
 public:
  struct State {
    bool refused = false;
    bool ended = false;
  };

  void attach(ServerSession& session) { session_ = &session; }
  const std::map<std::int32_t, State>& open() const { return open_; }

  void on_request(std::int32_t stream, RequestHead head) override {
    require(stream > last_request_ && stream % 2 == 1, "requests come on new odd stream ids");
    last_request_ = stream;
    require(!head.refusal || *head.refusal == 400 || *head.refusal == 417 || *head.refusal == 431,
            "a known refusal");
    open_[stream] = {head.refusal.has_value(), false};
    if (head.refusal) {
      session_->submit_response(stream, *head.refusal, {}, true);
      return;
    }
    check_upstream_head(head);
    if (stream % 10 == 9) {
      session_->reset(stream, 8);  // the owner gives up on some streams
      return;
    }
    const Field type{"content-type", "text/plain"};
    session_->submit_response(stream, 200, {&type, 1}, false);
    session_->submit_data(stream, std::string(static_cast<std::size_t>(stream % 7) * 700, 'r'));
    const Field status{"grpc-status", "0"};
    if (stream % 4 == 1) {
      session_->submit_end(stream, {&status, 1});
    } else {
      session_->submit_end(stream, {});
    }
  }

  // Property 5.
  static void check_upstream_head(const RequestHead& head) {
    if (head.method == "CONNECT") return;  // answered 501 by the front, never forwarded
    bgp::UpstreamRequestOptions options;
    options.client_ip = "192.0.2.1";
    if (head.content_length) {
      options.framing = {bgp::BodyFraming::Kind::length, *head.content_length};
    } else if (!head.end_stream) {
      options.framing = {bgp::BodyFraming::Kind::chunked, 0};
    }
    std::string bytes;
    bgp::write_upstream_request_head(
        bgp::Http2RequestHead{head.method, head.path, head.authority, head.fields}, options, bytes);
    bgp::HeadLimits limits;
    limits.max_header_bytes = 1 << 20;
    limits.max_fields = 1000;
    limits.max_request_line = 1 << 20;
    const bgp::HeadScan scan = bgp::scan_request_head(bytes, {}, limits);
    require(!scan.refusal && scan.end == bytes.size(), "the upstream head is one whole head");
    bgp::RequestParser parser;
    const bgp::HeadVerdict verdict = bgp::read_request_head(bytes, limits, parser);
    if (verdict.refusal) std::fprintf(stderr, "the upstream head refused:\n%s\n", bytes.c_str());
    require(!verdict.refusal, "the upstream head is accepted by the strict HTTP/1 reader");
    require(verdict.framing == options.framing, "the upstream head frames the body as chosen");
    const auto& request = parser.get();
    require(request.method_string() == head.method, "the same method");
    require(request.target() == head.path, "the same target");
    require(request[boost::beast::http::field::host] == head.authority, "Host is the authority");
  }

  void on_data(std::int32_t stream, std::string_view bytes) override {
    const auto it = open_.find(stream);
    require(it != open_.end(), "data only on an announced open stream");
    require(!it->second.refused, "a refused request's body is not delivered");
    require(!it->second.ended, "no data after the request's end");
    // Forwarded at once, mostly; some bytes stay held until the stream closes.
    session_->consume(
        stream, bytes.size() - (stream % 3 == 0 ? std::min<std::size_t>(bytes.size(), 1) : 0));
  }

  void on_request_end(std::int32_t stream, std::vector<Field>) override {
    const auto it = open_.find(stream);
    require(it != open_.end(), "an end only on an announced open stream");
    require(!it->second.ended, "on_request_end comes once");
    it->second.ended = true;
  }

  void on_stream_close(std::int32_t stream, std::uint32_t) override {
    require(open_.erase(stream) == 1, "a close only for an announced stream, once");
    // Calls after the close are no-ops.
    session_->submit_data(stream, "late");
    session_->consume(stream, 10);
    session_->reset(stream, 8);
    require(session_->queued(stream) == 0, "nothing queued on a closed stream");
  }

 private:
  ServerSession* session_ = nullptr;
  std::map<std::int32_t, State> open_;
  std::int32_t last_request_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = data[0] % 64 + 1;
  const bool shut_down_midway = (data[0] & 0x80) != 0;
  const std::string input =
      std::string(kMagic) + std::string(reinterpret_cast<const char*>(data + 1), size - 1);

  Answering events;
  ServerSession session(events, fuzz_limits());
  events.attach(session);
  std::string out;
  session.take_output(out);

  bool ended = false;
  std::size_t output_bytes = out.size();
  for (std::size_t at = 0; at < input.size(); at += piece) {
    if (shut_down_midway && at >= input.size() / 2 && at < input.size() / 2 + piece) {
      session.shutdown();
    }
    const bool more = session.receive(std::string_view(input).substr(at, piece));
    require(!(ended && more), "an ended connection stays ended");
    if (!more) {
      ended = true;
      require(!session.wants_read(), "an ended connection reads nothing more");
    }
    out.clear();
    session.take_output(out);
    output_bytes += out.size();
  }
  // Each request is answered with at most ~5 KB; every other frame the client sends asks for at
  // most one small frame back; our SETTINGS and window updates come on top.
  require(output_bytes <= 1024 + 64 * input.size() + 6000 * (input.size() / 9 + 1),
          "output bounded by the input");
  for (const auto& [stream, state] : events.open()) {
    require(session.stream_open(stream), "an announced stream not closed is still open");
  }
  return 0;
}
