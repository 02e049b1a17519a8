// The HTTP/2 front end of the proxy, one per client connection (docs/http2.md): a sans-I/O codec
// over libnghttp2. Bytes read from the client go in through receive() and come out as events
// (request heads, body bytes, trailers, stream ends); responses go in as calls and come out as
// bytes through take_output(). No socket, no clock, no Asio: the coroutine that owns the
// connection does the reading, the writing and the waiting.
//
// Besides nghttp2's own HTTP checks, the session refuses what docs/http2.md "What the HTTP/2 front
// refuses" lists: rapid resets, CONTINUATION and SETTINGS/PING floods, header blocks over the
// limits, frames that make no progress, Host disagreeing with :authority.
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

struct ServerLimits {
  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t stream_window = 64 * 1024;        // initial window we advertise per stream
  std::uint32_t connection_window = 1024 * 1024;  // our connection-level receive window
  std::size_t max_header_bytes = 16384;           // decoded name+value bytes of one header block
  std::size_t max_header_fields = 100;
};

// A request head, checked: pseudo-headers split out; `cookie` fields joined with "; " (RFC 9113
// 8.2.3) where the first one was; `host` kept in fields. refusal: a status the owner must answer
// with (400 when Host disagrees with :authority, neither is present or the authority is no valid
// Host, 417 for an expectation other than 100-continue, 431 when the block is over
// max_header_bytes/max_header_fields); nothing goes upstream then: the stream's body is not
// delivered (on_data is not called for it) and its window is given back by the session.
struct RequestHead {
  std::string method, scheme, authority, path;
  std::vector<Field> fields;  // regular fields in arrival order
  std::optional<std::uint64_t> content_length;
  bool end_stream = false;  // no DATA follows
  std::optional<unsigned> refusal;
};

// What a client's bytes mean. For a stream, the order is: on_request once, on_data any number of
// times, on_request_end once when the request is complete (right after on_request when
// head.end_stream), and on_stream_close once, which may come at any point after on_request (a
// reset). A stream whose head nghttp2 refused (a malformed request) is reset without any event.
// The owner may call the session back from inside these events.
class ServerEvents {
 public:
  virtual void on_request(std::int32_t stream, RequestHead head) = 0;
  // Request body bytes. The codec does NOT give the window back: the owner calls consume() when
  // it has written them to the upstream (flow control consumed only when bytes left us).
  virtual void on_data(std::int32_t stream, std::string_view bytes) = 0;
  virtual void on_request_end(std::int32_t stream, std::vector<Field> trailers) = 0;
  // The stream is gone (closed normally, reset by either side); error_code is the RST/GOAWAY code
  // or 0. Window of bytes delivered but not consumed is given back to the connection here.
  virtual void on_stream_close(std::int32_t stream, std::uint32_t error_code) = 0;

 protected:
  ~ServerEvents() = default;
};

class ServerSession {
 public:
  ServerSession(ServerEvents& events, const ServerLimits& limits);  // queues our SETTINGS
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;  // nghttp2 calls back into this object
  ServerSession& operator=(const ServerSession&) = delete;

  // Bytes read from the client (may be any split, even 1 byte). false: the connection must end
  // (a GOAWAY is queued: write take_output() and close); ending() says why from then on.
  // A violation nghttp2 finds itself (a protocol or flow-control error) stops the reading at once
  // too, but shows only after the next take_output(): the GOAWAY is in that output, ending()
  // names it and wants_read() is false (nghttp2 has no way to ask whether it queued one).
  bool receive(std::string_view bytes);
  // Appends everything nghttp2 wants to send now to `out`; false when nothing was appended.
  bool take_output(std::string& out);
  // Both false: the connection is over (after GOAWAY, all streams done).
  bool wants_read() const noexcept;
  bool wants_write() const noexcept;
  void consume(std::int32_t stream, std::size_t bytes);  // window back for bytes forwarded
  // The response: status + fields (the owner passes lower-case names, no hop-by-hop fields);
  // end_stream when there is no body and no trailers. A 1xx status is sent as an interim head
  // (the final one follows with another call).
  void submit_response(std::int32_t stream, unsigned status, std::span<const Field> fields,
                       bool end_stream);
  // The same from views (a hot path's, without copies of its own).
  void submit_response_views(std::int32_t stream, unsigned status,
                             std::span<const HeaderFieldRef> fields, bool end_stream);
  void submit_data(std::int32_t stream, std::string_view bytes);  // appended to the stream's queue
  // The body ends: with trailers (a HEADERS frame with END_STREAM) or, when empty, END_STREAM on
  // the last DATA.
  void submit_end(std::int32_t stream, std::span<const Field> trailers);
  // Submitted body bytes not yet framed (the owner's back-pressure).
  std::size_t queued(std::int32_t stream) const noexcept;
  void reset(std::int32_t stream, std::uint32_t error_code);  // RST_STREAM
  // Graceful drain: GOAWAY with last-stream-id 2^31-1 and a PING; when the PING comes back, the
  // GOAWAY with the real last stream id. Open streams finish. Called again before the PING came
  // back, the real GOAWAY goes at once.
  void shutdown();

  // Why the connection ended, for the owner's counters.
  using Ending = http2::Ending;
  Ending ending() const noexcept { return ending_; }

  // Streams the session holds (opened and not yet closed): for tests and gauges.
  std::size_t open_streams() const noexcept { return streams_.size(); }
  bool stream_open(std::int32_t stream) const noexcept { return find(stream) != nullptr; }

  // Frames that move nothing (empty DATA without END_STREAM, PRIORITY, unknown types), less one
  // per frame that does, past which the connection ends with ENHANCE_YOUR_CALM.
  static constexpr unsigned kMaxNoProgressFrames = 1000;

 private:
  // What the session keeps of one stream, from its first HEADERS frame to its close.
  struct Stream {
    RequestHead head;
    std::optional<std::size_t> cookie_at;  // index in head.fields of the joined cookie
    std::vector<Field> trailers;
    std::size_t block_bytes = 0;  // decoded bytes and fields of the header block arriving
    std::size_t block_fields = 0;
    bool announced = false;      // on_request was called
    bool request_ended = false;  // on_request_end was called
    bool refused = false;        // head.refusal: its body is not delivered
    std::size_t unconsumed = 0;  // body bytes delivered and not yet consume()d
    bool final_response = false;
    std::string body;  // submitted response body; body_sent bytes of it already framed
    std::size_t body_sent = 0;
    bool end_submitted = false;
    std::vector<Field> response_trailers;
  };
  struct Callbacks;           // nghttp2's C callbacks, which land in the members below
  template <typename Fields>  // HeaderField or HeaderFieldRef
  void submit_head(std::int32_t stream, unsigned status, const Fields& fields, bool end_stream);

  struct SessionDeleter {
    void operator()(nghttp2_session* session) const noexcept;
  };

  // The frame currently arriving, as far as its 9-byte header tells.
  struct FrameCursor {
    std::size_t preface_left = 24;  // the client magic, before the first frame
    std::uint8_t header[9] = {};
    std::size_t header_fill = 0;
    std::size_t payload_left = 0;
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::uint32_t length = 0;
    bool pad_length_pending = false;  // a PADDED DATA frame whose pad length byte is still to come
    std::uint32_t pad_length = 0;
  };

  bool feed(std::string_view slice, bool completes_frame);
  std::size_t slice_to_boundary(std::string_view bytes, bool& completes_frame);
  void count_progress_of_frame();
  bool end_connection(Ending why, std::uint32_t goaway_code);
  Ending ending_of_fatal(std::ptrdiff_t lib_error) const noexcept;
  void drain_into_pending();

  Stream* find(std::int32_t stream) noexcept;
  const Stream* find(std::int32_t stream) const noexcept;
  void deliver_head(std::int32_t id, Stream& stream, bool end_stream);
  void finish_request(std::int32_t id, Stream& stream, bool trailers);

  // nghttp2 callbacks (Callbacks forwards to these).
  int on_begin_headers(std::int32_t stream);
  int on_header(std::int32_t stream, bool trailers, std::string_view name, std::string_view value);
  int on_frame_recv(std::uint8_t type, std::uint8_t flags, std::int32_t stream,
                    bool request_headers, const std::uint8_t* ping_opaque);
  int on_data_chunk(std::int32_t stream, std::string_view bytes);
  int on_stream_close(std::int32_t stream, std::uint32_t error_code);
  void on_goaway_sent(std::uint32_t error_code);
  std::ptrdiff_t read_body(std::int32_t stream, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags);

  ServerEvents& events_;
  const ServerLimits limits_;
  std::unique_ptr<nghttp2_session, SessionDeleter> session_;
  std::unordered_map<std::int32_t, Stream> streams_;
  FrameCursor cursor_;
  std::string pending_output_;  // drained from nghttp2 when the connection ended in receive()
  Ending ending_ = Ending::none;
  bool ended_ = false;  // receive() returned false: nothing more is read
  unsigned no_progress_ = 0;
  std::optional<std::size_t> queue_after_reset_;  // outbound frames right after a client RST
  enum class Drain { none, notice_sent, final_sent } drain_ = Drain::none;
};

}  // namespace bgp::http2
