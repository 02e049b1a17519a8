// The proxy's side of a connection to an HTTP/2 upstream (h2c or h2 over TLS), one per upstream
// connection, many streams on it (docs/http2.md, "The upstream codec"): a sans-I/O codec over
// libnghttp2. Requests go in as calls and come out as bytes through take_output(); bytes read from
// the upstream go in through receive() and come out as events (response heads, body bytes,
// trailers, stream ends). No socket, no clock, no Asio: the coroutine that owns the connection
// does the reading, the writing and the waiting (the PING timeout too).
//
// nghttp2's HTTP checks stay on: a malformed response head (no :status, a connection-specific
// field, a body longer than its content-length) resets its stream, which the owner sees as
// on_stream_close with PROTOCOL_ERROR. A hostile upstream is bounded as the front's clients are,
// where it costs little: header blocks, SETTINGS and PING floods, frames that move nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/header_field.h"
#include "proxy/http2/ending.h"

struct nghttp2_session;

namespace bgp::http2 {

using Field = HeaderField;  // names in lower case, as HTTP/2 carries them

struct ClientLimits {
  std::uint32_t stream_window = 64 * 1024;        // initial window we advertise per stream
  std::uint32_t connection_window = 1024 * 1024;  // our connection-level receive window
  std::size_t max_header_bytes = 64 * 1024;       // decoded bytes of one response header block
};

// The final response head (interim 1xx heads are passed over).
struct ResponseHead {
  unsigned status = 0;
  std::vector<Field> fields;  // regular fields, in order
  std::optional<std::uint64_t> content_length;
  bool end_stream =
      false;  // no DATA follows (a trailers-only response: gRPC errors come like this)
};

// What the upstream's bytes mean. For a stream submit_request() opened, the order is: on_response
// once, on_data any number of times, on_response_end once (right after on_response when
// head.end_stream), and on_stream_close exactly once, which may come at any point (a reset, a
// GOAWAY, a refused head). Events come from receive() and from take_output() (a stream closes
// when the RST_STREAM that ends it is written). The owner may call the session back from inside
// them, except receive() and take_output().
class ClientEvents {
 public:
  virtual void on_response(std::int32_t stream, ResponseHead head) = 0;
  // Response body bytes; the codec does NOT give the window back: the owner consume()s them once
  // written to its client.
  virtual void on_data(std::int32_t stream, std::string_view bytes) = 0;
  virtual void on_response_end(std::int32_t stream, std::vector<Field> trailers) = 0;
  // The stream is gone; error_code = the RST_STREAM code (0 when it ended normally), or
  // REFUSED_STREAM (7) for a stream the peer's GOAWAY says it never processed (last-stream-id
  // below it) or that could not be sent after a GOAWAY: the owner may send such a request again,
  // even if not idempotent (RFC 9113 section 8.7).
  virtual void on_stream_close(std::int32_t stream, std::uint32_t error_code) = 0;

 protected:
  ~ClientEvents() = default;
};

class ClientSession {
 public:
  ClientSession(ClientEvents& events, const ClientLimits& limits);  // queues the preface, SETTINGS
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;  // nghttp2 calls back into this object
  ClientSession& operator=(const ClientSession&) = delete;

  // Bytes read from the upstream (any split). false: the connection must end (write
  // take_output(), close); ending() says why. As on the front, a violation nghttp2 finds itself
  // shows only after the next take_output(): its GOAWAY is in that output, ending() names it and
  // wants_read() is false.
  bool receive(std::string_view bytes);
  // Appends everything nghttp2 wants to send now to `out`; false when nothing was appended.
  bool take_output(std::string& out);
  // Both false: the connection is over.
  bool wants_read() const noexcept;
  bool wants_write() const noexcept;

  // Opens a stream: the request head (regular fields with lower-case names, no connection-specific
  // ones); end_stream when there is no body. Returns the stream id, or 0 when no stream may be
  // opened now (can_open() false).
  std::int32_t submit_request(std::string_view method, std::string_view scheme,
                              std::string_view authority, std::string_view path,
                              std::span<const Field> fields, bool end_stream);
  void submit_data(std::int32_t stream, std::string_view bytes);  // the request body, queued
  // The body ends: END_STREAM on the last DATA, or with trailers a HEADERS frame with END_STREAM.
  void submit_end(std::int32_t stream, std::span<const Field> trailers);
  // Submitted body bytes not yet framed (the owner's back-pressure).
  std::size_t queued(std::int32_t stream) const noexcept;
  void consume(std::int32_t stream, std::size_t bytes);  // window back for bytes relayed
  // RST_STREAM (the client went away). No event but on_stream_close follows for the stream.
  void reset(std::int32_t stream, std::uint32_t error_code);

  // Whether a new stream may be opened: the connection is alive, no GOAWAY received or sent, and
  // fewer open streams than the peer's SETTINGS_MAX_CONCURRENT_STREAMS (100 until its SETTINGS).
  bool can_open() const noexcept;
  std::size_t open_streams() const noexcept { return streams_.size(); }
  std::uint32_t peer_max_concurrent_streams() const noexcept;
  bool goaway_received() const noexcept { return goaway_received_; }
  bool stream_open(std::int32_t stream) const noexcept { return find(stream) != nullptr; }

  // Liveness: a PING; ping_outstanding() stays true until its ACK came back. A second ping()
  // while one is outstanding sends nothing (the owner times the first).
  void ping();
  bool ping_outstanding() const noexcept { return ping_outstanding_; }
  // Our GOAWAY (NO_ERROR): no new stream; open ones finish, then both wants_*() are false.
  void shutdown();

  using Ending = http2::Ending;
  Ending ending() const noexcept { return ending_; }

  // Frames that move nothing (empty DATA without END_STREAM, PRIORITY), less one per frame that
  // does, past which the connection ends with ENHANCE_YOUR_CALM.
  static constexpr unsigned kMaxNoProgressFrames = 1000;

 private:
  // What the session keeps of one stream, from submit_request() to its close.
  struct Stream {
    ResponseHead head;  // of the header block arriving, until announced
    std::vector<Field> trailers;
    std::size_t block_bytes = 0;  // decoded bytes of the header block arriving
    bool announced = false;       // on_response was called
    bool ended = false;           // on_response_end was called
    bool dropped = false;         // reset by us or refused: no event but the close
    std::size_t unconsumed = 0;   // body bytes delivered and not yet consume()d
    std::string body;             // submitted request body; body_sent bytes of it already framed
    std::size_t body_sent = 0;
    bool end_submitted = false;
    std::vector<Field> request_trailers;
  };
  struct Callbacks;  // nghttp2's C callbacks, which land in the members below
  struct SessionDeleter {
    void operator()(nghttp2_session* session) const noexcept;
  };

  bool end_connection(Ending why, std::uint32_t goaway_code);
  Ending ending_of_fatal(std::ptrdiff_t lib_error) const noexcept;
  void drain_into_pending();
  bool count_progress(std::uint8_t type, std::uint8_t flags, std::size_t length,
                      std::size_t padding);

  Stream* find(std::int32_t stream) noexcept;
  const Stream* find(std::int32_t stream) const noexcept;
  void on_head_block(std::int32_t id, Stream& stream, bool end_stream);
  void finish_response(std::int32_t id, Stream& stream, bool trailers);

  // nghttp2 callbacks (Callbacks forwards to these).
  int on_begin_headers(std::int32_t stream);
  int on_header(std::int32_t stream, std::string_view name, std::string_view value);
  int on_frame_recv(std::uint8_t type, std::uint8_t flags, std::int32_t stream,
                    const std::uint8_t* ping_opaque);
  int on_data_chunk(std::int32_t stream, std::string_view bytes);
  int on_stream_close(std::int32_t stream, std::uint32_t error_code);
  void on_goaway_sent(std::uint32_t error_code);
  std::ptrdiff_t read_body(std::int32_t stream, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags);

  ClientEvents& events_;
  const ClientLimits limits_;
  std::unique_ptr<nghttp2_session, SessionDeleter> session_;
  std::unordered_map<std::int32_t, Stream> streams_;
  std::string pending_output_;  // drained from nghttp2 when the connection ended in receive()
  Ending ending_ = Ending::none;
  bool ended_ = false;  // receive() returned false: nothing more is read
  bool goaway_received_ = false;
  bool shutdown_ = false;
  bool ping_outstanding_ = false;
  unsigned no_progress_ = 0;
};

}  // namespace bgp::http2
