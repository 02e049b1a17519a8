#include "proxy/http2/server_session.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include <nghttp2/nghttp2.h>
#include <boost/container/small_vector.hpp>

#include "proxy/http1/request_head.h"
#include "proxy/http1/syntax.h"

namespace bgp::http2 {

namespace {

// Limits handed to nghttp2 (docs/http2.md, "What the HTTP/2 front refuses").
constexpr std::uint64_t kResetBurst = 1000;  // RST_STREAMs a client may send at once...
constexpr std::uint64_t kResetRate = 33;     // ...and per second after that
constexpr std::size_t kMaxContinuations = 8;
constexpr std::size_t kMaxOutboundAcks = 1000;  // SETTINGS and PING ACKs waiting to be written
constexpr std::size_t kMaxSettingsEntries = 32;
// A header block decoding to this many times the limit is not a client that overshot: it is an
// HPACK bomb (a few bytes on the wire naming large table entries), and the connection ends.
constexpr std::size_t kGiganticBlockFactor = 4;
// The opaque data of the PING that times the graceful drain's round trip.
constexpr std::uint8_t kDrainPing[8] = {'b', 'g', 'p', 'd', 'r', 'a', 'i', 'n'};

constexpr std::size_t kFrameHeaderBytes = 9;
constexpr std::uint8_t kFrameData = 0x0;
constexpr std::uint8_t kFrameHeaders = 0x1;
constexpr std::uint8_t kFramePriority = 0x2;
constexpr std::uint8_t kLastKnownFrame = 0x9;  // CONTINUATION
constexpr std::uint8_t kFlagEndStream = 0x1;
constexpr std::uint8_t kFlagPadded = 0x8;

std::string_view view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

nghttp2_nv header_nv(std::string_view name, std::string_view value) {
  // NGHTTP2_NV_FLAG_NONE: nghttp2 copies both, so the pointers need not outlive the call.
  return {const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
          const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
          name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

// A head's name-value pairs for nghttp2 (which copies them): on the stack for a usual head.
using HeaderNvs = boost::container::small_vector<nghttp2_nv, 16>;

// `fields` (HeaderField or HeaderFieldRef), after `status` when there is one.
template <typename Fields>
HeaderNvs header_nvs(const Fields& fields, std::string_view status = {}) {
  HeaderNvs nvs;
  if (!status.empty()) nvs.push_back(header_nv(":status", status));
  for (const auto& field : fields) nvs.push_back(header_nv(field.name, field.value));
  return nvs;
}

struct OptionDeleter {
  void operator()(nghttp2_option* option) const noexcept { nghttp2_option_del(option); }
};
struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* callbacks) const noexcept {
    nghttp2_session_callbacks_del(callbacks);
  }
};

std::unique_ptr<nghttp2_option, OptionDeleter> make_options() {
  nghttp2_option* raw = nullptr;
  if (nghttp2_option_new(&raw) != 0) throw std::bad_alloc();
  std::unique_ptr<nghttp2_option, OptionDeleter> options(raw);
  // The window opens when the owner consume()s what it forwarded, not when bytes arrive.
  nghttp2_option_set_no_auto_window_update(raw, 1);
  nghttp2_option_set_stream_reset_rate_limit(raw, kResetBurst, kResetRate);
  nghttp2_option_set_max_continuations(raw, kMaxContinuations);
  nghttp2_option_set_max_outbound_ack(raw, kMaxOutboundAcks);
  nghttp2_option_set_max_settings(raw, kMaxSettingsEntries);
  return options;
}

}  // namespace

// nghttp2's C callbacks: each finds the session in user_data and hands over plain values.
struct ServerSession::Callbacks {
  static ServerSession& self(void* user_data) { return *static_cast<ServerSession*>(user_data); }

  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    return self(user_data).on_begin_headers(frame->hd.stream_id);
  }

  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t name_size, const std::uint8_t* value, std::size_t value_size,
                    std::uint8_t, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    return self(user_data).on_header(frame->hd.stream_id,
                                     frame->headers.cat == NGHTTP2_HCAT_HEADERS,
                                     view(name, name_size), view(value, value_size));
  }

  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    const bool request =
        frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST;
    const bool ping = frame->hd.type == NGHTTP2_PING;
    return self(user_data).on_frame_recv(frame->hd.type, frame->hd.flags, frame->hd.stream_id,
                                         request, ping ? frame->ping.opaque_data : nullptr);
  }

  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream,
                        const std::uint8_t* data, std::size_t size, void* user_data) {
    return self(user_data).on_data_chunk(stream, view(data, size));
  }

  static int stream_close(nghttp2_session*, std::int32_t stream, std::uint32_t error_code,
                          void* user_data) {
    return self(user_data).on_stream_close(stream, error_code);
  }

  static int frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type == NGHTTP2_GOAWAY) self(user_data).on_goaway_sent(frame->goaway.error_code);
    return 0;
  }

  static ssize_t read(nghttp2_session*, std::int32_t stream, std::uint8_t* buf, std::size_t length,
                      std::uint32_t* flags, nghttp2_data_source*, void* user_data) {
    return self(user_data).read_body(stream, buf, length, flags);
  }

  static std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> make() {
    nghttp2_session_callbacks* raw = nullptr;
    if (nghttp2_session_callbacks_new(&raw) != 0) throw std::bad_alloc();
    std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> callbacks(raw);
    nghttp2_session_callbacks_set_on_begin_headers_callback(raw, begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(raw, header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(raw, frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw, data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(raw, stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(raw, frame_send);
    return callbacks;
  }
};

void ServerSession::SessionDeleter::operator()(nghttp2_session* session) const noexcept {
  nghttp2_session_del(session);
}

ServerSession::ServerSession(ServerEvents& events, const ServerLimits& limits)
    : events_(events), limits_(limits) {
  const auto callbacks = Callbacks::make();
  const auto options = make_options();
  nghttp2_session* raw = nullptr;
  if (nghttp2_session_server_new2(&raw, callbacks.get(), this, options.get()) != 0) {
    throw std::bad_alloc();
  }
  session_.reset(raw);
  // SETTINGS_MAX_HEADER_LIST_SIZE counts 32 bytes more per field than max_header_bytes does.
  const auto header_list = limits_.max_header_bytes + 32 * limits_.max_header_fields;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(std::min<std::size_t>(header_list, UINT32_MAX))},
  };
  nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(raw, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(limits_.connection_window));
}

ServerSession::~ServerSession() = default;

// --- bytes in --------------------------------------------------------------------------------

bool ServerSession::receive(std::string_view bytes) {
  if (ended_) return false;
  if (!nghttp2_session_want_read(session_.get())) return end_connection(Ending::none, 0);
  // nghttp2 is fed one frame at a time, so that what it decided about a frame (a GOAWAY queued
  // for too many resets) is seen before the next frame is processed.
  while (!bytes.empty()) {
    bool completes_frame = false;
    const std::size_t used = slice_to_boundary(bytes, completes_frame);
    if (!feed(bytes.substr(0, used), completes_frame)) return false;
    bytes.remove_prefix(used);
  }
  return true;
}

// The bytes of `bytes` up to the end of the frame arriving (or all of them).
std::size_t ServerSession::slice_to_boundary(std::string_view bytes, bool& completes_frame) {
  FrameCursor& c = cursor_;
  std::size_t used = 0;
  while (used < bytes.size() && !completes_frame) {
    const std::size_t left = bytes.size() - used;
    if (c.preface_left > 0) {
      const std::size_t n = std::min(c.preface_left, left);
      c.preface_left -= n;
      used += n;
    } else if (c.header_fill < kFrameHeaderBytes) {
      const std::size_t n = std::min(kFrameHeaderBytes - c.header_fill, left);
      std::memcpy(c.header + c.header_fill, bytes.data() + used, n);
      c.header_fill += n;
      used += n;
      if (c.header_fill < kFrameHeaderBytes) continue;
      c.length =
          (std::uint32_t{c.header[0]} << 16) | (std::uint32_t{c.header[1]} << 8) | c.header[2];
      c.type = c.header[3];
      c.flags = c.header[4];
      c.payload_left = c.length;
      c.pad_length = 0;
      c.pad_length_pending = c.type == kFrameData && (c.flags & kFlagPadded) && c.length > 0;
      completes_frame = c.length == 0;
    } else {
      const std::size_t n = std::min(c.payload_left, left);
      if (c.pad_length_pending) {
        c.pad_length = static_cast<std::uint8_t>(bytes[used]);
        c.pad_length_pending = false;
      }
      c.payload_left -= n;
      used += n;
      completes_frame = c.payload_left == 0;
    }
  }
  return used;
}

// Hands `slice` to nghttp2, then, when it ended a frame, checks what the frame did.
bool ServerSession::feed(std::string_view slice, bool completes_frame) {
  const auto rv = nghttp2_session_mem_recv(
      session_.get(), reinterpret_cast<const std::uint8_t*>(slice.data()), slice.size());
  if (rv < 0) {
    const Ending why = ending_of_fatal(rv);
    return end_connection(
        why, why == Ending::protocol_error ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_ENHANCE_YOUR_CALM);
  }
  if (completes_frame) {
    count_progress_of_frame();
    cursor_.header_fill = 0;
    if (no_progress_ > kMaxNoProgressFrames) {
      return end_connection(Ending::flood, NGHTTP2_ENHANCE_YOUR_CALM);
    }
    // After a client's RST_STREAM, nghttp2 queues nothing unless its reset rate limit ran out:
    // then it queued a GOAWAY (and would go on reading new streams until that is written).
    const auto after_reset = std::exchange(queue_after_reset_, std::nullopt);
    if (after_reset && nghttp2_session_get_outbound_queue_size(session_.get()) > *after_reset) {
      return end_connection(Ending::rapid_reset, NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }
  if (!nghttp2_session_want_read(session_.get())) return end_connection(Ending::none, 0);
  return true;
}

// Frames that make no progress count up, frames that do count down: a client may send some
// (a PRIORITY here and there), not a stream of them (CVE-2019-9518, empty frames flood).
void ServerSession::count_progress_of_frame() {
  const FrameCursor& c = cursor_;
  bool progress = false;
  bool idle = false;
  if (c.type == kFrameData) {
    const std::uint32_t padding = (c.flags & kFlagPadded) ? c.pad_length + 1 : 0;
    const bool carries_bytes = c.length > padding;
    progress = carries_bytes;
    idle = !carries_bytes && !(c.flags & kFlagEndStream);
  } else if (c.type == kFrameHeaders) {
    progress = true;
  } else if (c.type == kFramePriority || c.type > kLastKnownFrame) {
    idle = true;
  }
  if (idle) ++no_progress_;
  if (progress && no_progress_ > 0) --no_progress_;
}

bool ServerSession::end_connection(Ending why, std::uint32_t goaway_code) {
  if (ending_ == Ending::none) ending_ = why;
  if (goaway_code != 0) nghttp2_session_terminate_session(session_.get(), goaway_code);
  ended_ = true;
  drain_into_pending();  // the GOAWAY's code names an ending nghttp2 decided on
  return false;
}

ServerSession::Ending ServerSession::ending_of_fatal(std::ptrdiff_t lib_error) const noexcept {
  if (ending_ != Ending::none) return ending_;  // named by a callback that failed on purpose
  switch (lib_error) {
    case NGHTTP2_ERR_FLOODED:
      return Ending::flood;
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      return Ending::header_flood;
    default:
      return Ending::protocol_error;
  }
}

// The connection ended: what nghttp2 still sends is bounded (the ACKs it holds, at most
// kMaxOutboundAcks, and the GOAWAY after which it sends nothing).
void ServerSession::drain_into_pending() {
  for (;;) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session_.get(), &data);
    if (n <= 0) return;
    pending_output_.append(view(data, static_cast<std::size_t>(n)));
  }
}

// --- callbacks: the request side ------------------------------------------------------------

int ServerSession::on_begin_headers(std::int32_t id) {
  if (Stream* stream = find(id)) {  // trailers: a new block to count
    stream->block_bytes = 0;
    stream->block_fields = 0;
    return 0;
  }
  streams_.try_emplace(id);
  return 0;
}

int ServerSession::on_header(std::int32_t id, bool trailers, std::string_view name,
                             std::string_view value) {
  Stream* stream = find(id);
  if (stream == nullptr) return 0;
  stream->block_bytes += name.size() + value.size();
  ++stream->block_fields;
  if (stream->block_bytes > kGiganticBlockFactor * limits_.max_header_bytes) {
    ending_ = Ending::header_flood;
    return NGHTTP2_ERR_CALLBACK_FAILURE;  // ends the connection
  }
  const bool over = stream->block_bytes > limits_.max_header_bytes ||
                    stream->block_fields > limits_.max_header_fields;
  if (over && trailers) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // too late for a 431
  if (over && !stream->head.refusal) {
    stream->head.refusal = 431;
    stream->head.fields.clear();  // nothing of it is used, nor kept
    stream->cookie_at.reset();
  }
  if (stream->head.refusal) return 0;
  if (trailers) {
    stream->trailers.push_back({std::string(name), std::string(value)});
    return 0;
  }
  RequestHead& head = stream->head;
  if (name == ":method") {
    head.method = value;
  } else if (name == ":scheme") {
    head.scheme = value;
  } else if (name == ":authority") {
    head.authority = value;
  } else if (name == ":path") {
    head.path = value;
  } else if (name == "cookie" && stream->cookie_at) {
    (head.fields[*stream->cookie_at].value += "; ") += value;
  } else {
    if (name == "cookie") stream->cookie_at = head.fields.size();
    head.fields.push_back({std::string(name), std::string(value)});
  }
  return 0;
}

int ServerSession::on_frame_recv(std::uint8_t type, std::uint8_t flags, std::int32_t id,
                                 bool request_headers, const std::uint8_t* ping_opaque) {
  const bool end_stream = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (type) {
    case NGHTTP2_HEADERS:
      if (Stream* stream = find(id)) {
        if (request_headers) {
          deliver_head(id, *stream, end_stream);
        } else if (end_stream) {
          finish_request(id, *stream, true);
        }
      }
      break;
    case NGHTTP2_DATA:
      if (Stream* stream = find(id); stream && end_stream) finish_request(id, *stream, false);
      break;
    case NGHTTP2_RST_STREAM:
      queue_after_reset_ = nghttp2_session_get_outbound_queue_size(session_.get());
      break;
    case NGHTTP2_PING:
      if ((flags & NGHTTP2_FLAG_ACK) && drain_ == Drain::notice_sent &&
          std::memcmp(ping_opaque, kDrainPing, sizeof kDrainPing) == 0) {
        shutdown();  // the round trip is over: the real GOAWAY
      }
      break;
    default:
      break;
  }
  return 0;
}

// The head is whole and passed nghttp2's checks; what is left is Host against :authority.
void ServerSession::deliver_head(std::int32_t id, Stream& stream, bool end_stream) {
  RequestHead& head = stream.head;
  head.end_stream = end_stream;
  const Field* host = nullptr;
  std::size_t expectations = 0;
  bool continue_expected = false;
  for (const auto& field : head.fields) {
    if (field.name == "host") host = &field;
    if (field.name == "content-length") head.content_length = http1::parse_length(field.value);
    if (field.name == "expect") {
      ++expectations;
      continue_expected = http1::iequals(field.value, "100-continue");
    }
  }
  // Only "100-continue" can be met (RFC 9110 section 10.1.1), as on the HTTP/1 front.
  if (!head.refusal && expectations > 0 && !(expectations == 1 && continue_expected)) {
    head.refusal = 417;
  }
  if (!head.refusal) {
    if (host != nullptr && head.authority.empty()) {
      head.authority = host->value;
    } else if (host != nullptr && !http1::iequals(host->value, head.authority)) {
      head.refusal = 400;  // two names for one request: which one would routing believe?
    } else if (head.authority.empty()) {
      head.refusal = 400;  // no name at all, as an HTTP/1.1 request without Host
    }
    // nghttp2 checks only the characters: an authority the HTTP/1 front would refuse as a Host
    // (a port that is not a number, userinfo) is refused here too, before it becomes one upstream.
    if (!head.refusal && !is_valid_host(head.authority)) head.refusal = 400;
    // Likewise a :path with a fragment, which no request line may carry.
    if (!head.refusal && !is_valid_http2_path(head.path)) head.refusal = 400;
  }
  stream.announced = true;
  stream.refused = head.refusal.has_value();
  events_.on_request(id, std::move(head));
  if (end_stream) finish_request(id, stream, false);
}

void ServerSession::finish_request(std::int32_t id, Stream& stream, bool trailers) {
  if (!stream.announced || stream.request_ended) return;
  stream.request_ended = true;
  events_.on_request_end(id, trailers ? std::move(stream.trailers) : std::vector<Field>{});
}

int ServerSession::on_data_chunk(std::int32_t id, std::string_view bytes) {
  Stream* stream = find(id);
  if (stream == nullptr || !stream->announced || stream->refused) {
    // Nothing goes upstream: the window is given back at once.
    nghttp2_session_consume(session_.get(), id, bytes.size());
    return 0;
  }
  stream->unconsumed += bytes.size();
  events_.on_data(id, bytes);
  return 0;
}

int ServerSession::on_stream_close(std::int32_t id, std::uint32_t error_code) {
  auto node = streams_.extract(id);
  if (node.empty()) return 0;
  // The owner will not consume() bytes of a stream that is gone: the connection window they
  // hold comes back here, or the connection would stall after enough resets.
  if (node.mapped().unconsumed > 0) {
    nghttp2_session_consume_connection(session_.get(), node.mapped().unconsumed);
  }
  if (node.mapped().announced) events_.on_stream_close(id, error_code);
  // What was queued so far is not nghttp2's answer to the reset being processed.
  if (queue_after_reset_) {
    queue_after_reset_ = nghttp2_session_get_outbound_queue_size(session_.get());
  }
  return 0;
}

void ServerSession::on_goaway_sent(std::uint32_t error_code) {
  if (ending_ != Ending::none) return;
  switch (error_code) {
    case NGHTTP2_NO_ERROR:
      return;  // our graceful drain
    case NGHTTP2_FLOW_CONTROL_ERROR:
      ending_ = Ending::flow_control;
      return;
    case NGHTTP2_ENHANCE_YOUR_CALM:
      ending_ = Ending::flood;
      return;
    default:
      ending_ = Ending::protocol_error;
  }
}

// --- bytes out -------------------------------------------------------------------------------

bool ServerSession::take_output(std::string& out) {
  const std::size_t before = out.size();
  out += pending_output_;
  pending_output_.clear();
  for (;;) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session_.get(), &data);
    if (n < 0) {  // out of memory or a callback failing: nothing more can be sent
      if (ending_ == Ending::none) ending_ = Ending::protocol_error;
      ended_ = true;
      break;
    }
    if (n == 0) break;
    out.append(view(data, static_cast<std::size_t>(n)));
  }
  return out.size() > before;
}

bool ServerSession::wants_read() const noexcept {
  return !ended_ && nghttp2_session_want_read(session_.get()) != 0;
}

bool ServerSession::wants_write() const noexcept {
  return !pending_output_.empty() || nghttp2_session_want_write(session_.get()) != 0;
}

// --- calls from the owner -------------------------------------------------------------------

void ServerSession::consume(std::int32_t id, std::size_t bytes) {
  Stream* stream = find(id);
  if (stream == nullptr) return;  // closed: its window came back then
  bytes = std::min(bytes, stream->unconsumed);
  stream->unconsumed -= bytes;
  nghttp2_session_consume(session_.get(), id, bytes);
}

void ServerSession::submit_response(std::int32_t id, unsigned status, std::span<const Field> fields,
                                    bool end_stream) {
  submit_head(id, status, fields, end_stream);
}

void ServerSession::submit_response_views(std::int32_t id, unsigned status,
                                          std::span<const HeaderFieldRef> fields, bool end_stream) {
  submit_head(id, status, fields, end_stream);
}

template <typename Fields>
void ServerSession::submit_head(std::int32_t id, unsigned status, const Fields& fields,
                                bool end_stream) {
  Stream* stream = find(id);
  if (stream == nullptr || stream->final_response) return;
  const std::string status_text = std::to_string(status);
  const HeaderNvs nvs = header_nvs(fields, status_text);
  if (status < 200) {  // an interim response: the final one comes later
    nghttp2_submit_headers(session_.get(), NGHTTP2_FLAG_NONE, id, nullptr, nvs.data(), nvs.size(),
                           nullptr);
    return;
  }
  stream->final_response = true;
  if (end_stream) {
    stream->end_submitted = true;
    nghttp2_submit_response(session_.get(), id, nvs.data(), nvs.size(), nullptr);
    return;
  }
  nghttp2_data_provider body{};
  body.read_callback = Callbacks::read;
  nghttp2_submit_response(session_.get(), id, nvs.data(), nvs.size(), &body);
}

void ServerSession::submit_data(std::int32_t id, std::string_view bytes) {
  Stream* stream = find(id);
  if (stream == nullptr || stream->end_submitted || bytes.empty()) return;
  stream->body += bytes;
  nghttp2_session_resume_data(session_.get(), id);  // fails harmlessly before the response
}

void ServerSession::submit_end(std::int32_t id, std::span<const Field> trailers) {
  Stream* stream = find(id);
  if (stream == nullptr || stream->end_submitted) return;
  stream->end_submitted = true;
  stream->response_trailers.assign(trailers.begin(), trailers.end());
  nghttp2_session_resume_data(session_.get(), id);
}

std::size_t ServerSession::queued(std::int32_t id) const noexcept {
  const Stream* stream = find(id);
  return stream == nullptr ? 0 : stream->body.size() - stream->body_sent;
}

void ServerSession::reset(std::int32_t id, std::uint32_t error_code) {
  if (find(id) == nullptr) return;
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id, error_code);
}

void ServerSession::shutdown() {
  if (ended_) return;
  switch (drain_) {
    case Drain::none:
      nghttp2_submit_shutdown_notice(session_.get());
      nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, kDrainPing);
      drain_ = Drain::notice_sent;
      return;
    case Drain::notice_sent:
      nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                            nghttp2_session_get_last_proc_stream_id(session_.get()),
                            NGHTTP2_NO_ERROR, nullptr, 0);
      drain_ = Drain::final_sent;
      return;
    case Drain::final_sent:
      return;
  }
}

// The data provider: copies from the stream's queue; waits (DEFERRED) while it is empty and the
// end is not submitted; with trailers, the last DATA leaves END_STREAM to the trailers' HEADERS.
std::ptrdiff_t ServerSession::read_body(std::int32_t id, std::uint8_t* buf, std::size_t length,
                                        std::uint32_t* flags) {
  Stream* stream = find(id);
  if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::size_t n = std::min(length, stream->body.size() - stream->body_sent);
  std::memcpy(buf, stream->body.data() + stream->body_sent, n);
  stream->body_sent += n;
  if (stream->body_sent == stream->body.size()) {
    stream->body.clear();
    stream->body_sent = 0;
  } else if (stream->body_sent > stream->body.size() / 2) {  // keep the queue from only growing
    stream->body.erase(0, stream->body_sent);
    stream->body_sent = 0;
  }
  if (!stream->body.empty()) return static_cast<std::ptrdiff_t>(n);
  if (!stream->end_submitted) {
    return n > 0 ? static_cast<std::ptrdiff_t>(n) : std::ptrdiff_t{NGHTTP2_ERR_DEFERRED};
  }
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (!stream->response_trailers.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    const auto nvs = header_nvs(stream->response_trailers);
    nghttp2_submit_trailer(session_.get(), id, nvs.data(), nvs.size());
  }
  return static_cast<std::ptrdiff_t>(n);
}

ServerSession::Stream* ServerSession::find(std::int32_t id) noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

const ServerSession::Stream* ServerSession::find(std::int32_t id) const noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

}  // namespace bgp::http2
