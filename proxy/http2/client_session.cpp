#include "proxy/http2/client_session.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>
#include <new>
#include <utility>

#include <nghttp2/nghttp2.h>

#include "proxy/http1/syntax.h"

namespace bgp::http2 {

namespace {

// Limits handed to nghttp2 (docs/http2.md, "The upstream codec").
constexpr std::uint32_t kPeerStreamsBeforeSettings = 100;
constexpr std::size_t kMaxContinuations = 8;
constexpr std::size_t kMaxOutboundAcks = 1000;  // SETTINGS and PING ACKs waiting to be written
constexpr std::size_t kMaxSettingsEntries = 32;
// The opaque data of our liveness PING.
constexpr std::uint8_t kLivenessPing[8] = {'b', 'g', 'p', 'a', 'l', 'i', 'v', 'e'};

std::string_view view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

nghttp2_nv header_nv(std::string_view name, std::string_view value) {
  // NGHTTP2_NV_FLAG_NONE: nghttp2 copies both, so the pointers need not outlive the call.
  return {const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
          const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
          name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

std::vector<nghttp2_nv> header_nvs(std::span<const Field> fields) {
  std::vector<nghttp2_nv> nvs;
  nvs.reserve(fields.size());
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
  // The window opens when the owner consume()s what it relayed, not when bytes arrive.
  nghttp2_option_set_no_auto_window_update(raw, 1);
  // Until the upstream's SETTINGS say otherwise (nghttp2 would assume no limit at all).
  nghttp2_option_set_peer_max_concurrent_streams(raw, kPeerStreamsBeforeSettings);
  nghttp2_option_set_max_continuations(raw, kMaxContinuations);
  nghttp2_option_set_max_outbound_ack(raw, kMaxOutboundAcks);
  nghttp2_option_set_max_settings(raw, kMaxSettingsEntries);
  return options;
}

std::optional<unsigned> parse_status(std::string_view digits) {
  unsigned status = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), status);
  if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return status;
}

}  // namespace

// nghttp2's C callbacks: each finds the session in user_data and hands over plain values.
struct ClientSession::Callbacks {
  static ClientSession& self(void* user_data) { return *static_cast<ClientSession*>(user_data); }

  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    return self(user_data).on_begin_headers(frame->hd.stream_id);
  }

  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t name_size, const std::uint8_t* value, std::size_t value_size,
                    std::uint8_t, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    return self(user_data).on_header(frame->hd.stream_id, view(name, name_size),
                                     view(value, value_size));
  }

  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    ClientSession& session = self(user_data);
    const std::size_t padding = frame->hd.type == NGHTTP2_DATA ? frame->data.padlen : 0;
    if (!session.count_progress(frame->hd.type, frame->hd.flags, frame->hd.length, padding)) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;  // ends the connection
    }
    const bool ping = frame->hd.type == NGHTTP2_PING;
    return session.on_frame_recv(frame->hd.type, frame->hd.flags, frame->hd.stream_id,
                                 ping ? frame->ping.opaque_data : nullptr);
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

void ClientSession::SessionDeleter::operator()(nghttp2_session* session) const noexcept {
  nghttp2_session_del(session);
}

ClientSession::ClientSession(ClientEvents& events, const ClientLimits& limits)
    : events_(events), limits_(limits) {
  const auto callbacks = Callbacks::make();
  const auto options = make_options();
  nghttp2_session* raw = nullptr;
  if (nghttp2_session_client_new2(&raw, callbacks.get(), this, options.get()) != 0) {
    throw std::bad_alloc();
  }
  session_.reset(raw);
  // No server push: a PUSH_PROMISE is then a connection error, not streams we would have to hold.
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.stream_window},
  };
  nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(raw, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(limits_.connection_window));
}

ClientSession::~ClientSession() = default;

// --- bytes in --------------------------------------------------------------------------------

bool ClientSession::receive(std::string_view bytes) {
  if (ended_) return false;
  if (!bytes.empty()) {
    const auto rv = nghttp2_session_mem_recv(
        session_.get(), reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (rv < 0) {
      const Ending why = ending_of_fatal(rv);
      return end_connection(
          why, why == Ending::flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
    }
  }
  // Nothing more to read: the peer's GOAWAY and its last stream done, or ours.
  if (!nghttp2_session_want_read(session_.get())) {
    return end_connection(goaway_received_ ? Ending::goaway : Ending::none, 0);
  }
  return true;
}

bool ClientSession::end_connection(Ending why, std::uint32_t goaway_code) {
  if (ending_ == Ending::none) ending_ = why;
  if (goaway_code != 0) nghttp2_session_terminate_session(session_.get(), goaway_code);
  ended_ = true;
  drain_into_pending();
  return false;
}

ClientSession::Ending ClientSession::ending_of_fatal(std::ptrdiff_t lib_error) const noexcept {
  if (ending_ != Ending::none) return ending_;  // named by a callback that failed on purpose
  switch (lib_error) {
    case NGHTTP2_ERR_FLOODED:
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      return Ending::flood;
    default:
      return Ending::protocol_error;
  }
}

// The connection ended: what nghttp2 still sends is bounded (the ACKs it holds, at most
// kMaxOutboundAcks, request frames already framed, and the GOAWAY after which it sends nothing).
void ClientSession::drain_into_pending() {
  for (;;) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session_.get(), &data);
    if (n <= 0) return;
    pending_output_.append(view(data, static_cast<std::size_t>(n)));
  }
}

// Frames that make no progress count up, frames that do count down: an upstream may send some,
// not a stream of them (CVE-2019-9518). false: past the bound, the connection ends.
bool ClientSession::count_progress(std::uint8_t type, std::uint8_t flags, std::size_t length,
                                   std::size_t padding) {
  bool progress = type == NGHTTP2_HEADERS;
  bool idle = type == NGHTTP2_PRIORITY;
  if (type == NGHTTP2_DATA) {
    const bool carries_bytes = length > padding;
    progress = carries_bytes;
    idle = !carries_bytes && !(flags & NGHTTP2_FLAG_END_STREAM);
  }
  if (idle) ++no_progress_;
  if (progress && no_progress_ > 0) --no_progress_;
  if (no_progress_ <= kMaxNoProgressFrames) return true;
  ending_ = Ending::flood;
  return false;
}

// --- callbacks: the response side -----------------------------------------------------------

int ClientSession::on_begin_headers(std::int32_t id) {
  if (Stream* stream = find(id)) stream->block_bytes = 0;  // a new block to count
  return 0;
}

int ClientSession::on_header(std::int32_t id, std::string_view name, std::string_view value) {
  Stream* stream = find(id);
  if (stream == nullptr || stream->dropped) return 0;
  stream->block_bytes += name.size() + value.size();
  if (stream->block_bytes > limits_.max_header_bytes) {
    // nghttp2 resets the stream (INTERNAL_ERROR) and decodes the rest of the block without
    // handing it over: nothing of it is kept.
    stream->dropped = true;
    stream->head = {};
    stream->trailers.clear();
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (stream->announced) {
    stream->trailers.push_back({std::string(name), std::string(value)});
  } else if (name == ":status") {
    stream->head.status = parse_status(value).value_or(0);  // nghttp2 checked: 3 digits
  } else {
    stream->head.fields.push_back({std::string(name), std::string(value)});
  }
  return 0;
}

int ClientSession::on_frame_recv(std::uint8_t type, std::uint8_t flags, std::int32_t id,
                                 const std::uint8_t* ping_opaque) {
  const bool end_stream = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (type) {
    case NGHTTP2_HEADERS:
      if (Stream* stream = find(id); stream && !stream->dropped) {
        if (!stream->announced) {
          on_head_block(id, *stream, end_stream);
        } else if (end_stream) {
          finish_response(id, *stream, true);
        }
      }
      break;
    case NGHTTP2_DATA:
      if (Stream* stream = find(id); stream && end_stream) finish_response(id, *stream, false);
      break;
    case NGHTTP2_PING:
      if ((flags & NGHTTP2_FLAG_ACK) &&
          std::memcmp(ping_opaque, kLivenessPing, sizeof kLivenessPing) == 0) {
        ping_outstanding_ = false;
      }
      break;
    case NGHTTP2_GOAWAY:
      // Before nghttp2 closes the streams above its last-stream-id, so that an owner retrying
      // from on_stream_close finds can_open() false here.
      goaway_received_ = true;
      break;
    default:
      break;
  }
  return 0;
}

// A whole response head that passed nghttp2's checks: an interim one (1xx) is passed over, the
// final one announced.
void ClientSession::on_head_block(std::int32_t id, Stream& stream, bool end_stream) {
  ResponseHead& head = stream.head;
  if (head.status < 200) {
    head = {};
    return;
  }
  for (const auto& field : head.fields) {
    if (field.name == "content-length") head.content_length = http1::parse_length(field.value);
  }
  head.end_stream = end_stream;
  stream.announced = true;
  events_.on_response(id, std::move(head));
  if (end_stream) finish_response(id, stream, false);
}

void ClientSession::finish_response(std::int32_t id, Stream& stream, bool trailers) {
  if (!stream.announced || stream.ended || stream.dropped) return;
  stream.ended = true;
  events_.on_response_end(id, trailers ? std::move(stream.trailers) : std::vector<Field>{});
}

int ClientSession::on_data_chunk(std::int32_t id, std::string_view bytes) {
  Stream* stream = find(id);
  // nghttp2 itself discards DATA on a stream whose RST_STREAM is queued (and counts its window
  // consumed); the check holds for bytes of a stream whose head was refused as well.
  if (stream == nullptr || !stream->announced || stream->dropped) {
    // Nobody will relay these: the window is given back at once.
    nghttp2_session_consume(session_.get(), id, bytes.size());
    return 0;
  }
  stream->unconsumed += bytes.size();
  events_.on_data(id, bytes);
  return 0;
}

int ClientSession::on_stream_close(std::int32_t id, std::uint32_t error_code) {
  auto node = streams_.extract(id);
  if (node.empty()) return 0;
  // The owner will not consume() bytes of a stream that is gone: the connection window they hold
  // comes back here, or the connection would stall after enough resets.
  if (node.mapped().unconsumed > 0) {
    nghttp2_session_consume_connection(session_.get(), node.mapped().unconsumed);
  }
  events_.on_stream_close(id, error_code);
  return 0;
}

void ClientSession::on_goaway_sent(std::uint32_t error_code) {
  if (ending_ != Ending::none) return;
  switch (error_code) {
    case NGHTTP2_NO_ERROR:
      return;  // our shutdown()
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

bool ClientSession::take_output(std::string& out) {
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

bool ClientSession::wants_read() const noexcept {
  return !ended_ && nghttp2_session_want_read(session_.get()) != 0;
}

bool ClientSession::wants_write() const noexcept {
  return !pending_output_.empty() || nghttp2_session_want_write(session_.get()) != 0;
}

// --- calls from the owner -------------------------------------------------------------------

bool ClientSession::can_open() const noexcept {
  // Stream ids run out at 2^31-1: the connection is then used up, not broken.
  const bool ids_left =
      nghttp2_session_get_next_stream_id(session_.get()) <= static_cast<std::uint32_t>(INT32_MAX);
  return !ended_ && ending_ == Ending::none && !goaway_received_ && !shutdown_ && ids_left &&
         nghttp2_session_want_read(session_.get()) != 0 &&
         streams_.size() < peer_max_concurrent_streams();
}

std::uint32_t ClientSession::peer_max_concurrent_streams() const noexcept {
  return nghttp2_session_get_remote_settings(session_.get(),
                                             NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

std::int32_t ClientSession::submit_request(std::string_view method, std::string_view scheme,
                                           std::string_view authority, std::string_view path,
                                           std::span<const Field> fields, bool end_stream) {
  if (!can_open()) return 0;
  std::vector<nghttp2_nv> nvs = {header_nv(":method", method), header_nv(":scheme", scheme),
                                 header_nv(":authority", authority), header_nv(":path", path)};
  nvs.reserve(nvs.size() + fields.size());
  for (const auto& field : fields) nvs.push_back(header_nv(field.name, field.value));
  nghttp2_data_provider body{};
  body.read_callback = Callbacks::read;
  const std::int32_t id = nghttp2_submit_request(session_.get(), nullptr, nvs.data(), nvs.size(),
                                                 end_stream ? nullptr : &body, nullptr);
  if (id <= 0) return 0;
  streams_.try_emplace(id).first->second.end_submitted = end_stream;
  return id;
}

void ClientSession::submit_data(std::int32_t id, std::string_view bytes) {
  Stream* stream = find(id);
  if (stream == nullptr || stream->end_submitted || bytes.empty()) return;
  stream->body += bytes;
  nghttp2_session_resume_data(session_.get(), id);  // fails harmlessly before the HEADERS left
}

void ClientSession::submit_end(std::int32_t id, std::span<const Field> trailers) {
  Stream* stream = find(id);
  if (stream == nullptr || stream->end_submitted) return;
  stream->end_submitted = true;
  stream->request_trailers.assign(trailers.begin(), trailers.end());
  nghttp2_session_resume_data(session_.get(), id);
}

std::size_t ClientSession::queued(std::int32_t id) const noexcept {
  const Stream* stream = find(id);
  return stream == nullptr ? 0 : stream->body.size() - stream->body_sent;
}

void ClientSession::consume(std::int32_t id, std::size_t bytes) {
  Stream* stream = find(id);
  if (stream == nullptr) return;  // closed: its window came back then
  bytes = std::min(bytes, stream->unconsumed);
  stream->unconsumed -= bytes;
  nghttp2_session_consume(session_.get(), id, bytes);
}

void ClientSession::reset(std::int32_t id, std::uint32_t error_code) {
  Stream* stream = find(id);
  if (stream == nullptr || stream->dropped) return;
  stream->dropped = true;  // nothing more is delivered; on_stream_close comes when the RST leaves
  // A request still queued is not sent at all: nghttp2 cancels its HEADERS.
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id, error_code);
}

void ClientSession::ping() {
  if (ping_outstanding_ || ended_) return;
  if (nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, kLivenessPing) == 0) {
    ping_outstanding_ = true;
  }
}

void ClientSession::shutdown() {
  if (shutdown_ || ended_) return;
  shutdown_ = true;
  // The last stream the upstream opened: none, as push is off.
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

// The data provider: copies from the stream's queue; waits (DEFERRED) while it is empty and the
// end is not submitted; with trailers, the last DATA leaves END_STREAM to the trailers' HEADERS.
std::ptrdiff_t ClientSession::read_body(std::int32_t id, std::uint8_t* buf, std::size_t length,
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
  if (!stream->request_trailers.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    const auto nvs = header_nvs(stream->request_trailers);
    nghttp2_submit_trailer(session_.get(), id, nvs.data(), nvs.size());
  }
  return static_cast<std::ptrdiff_t>(n);
}

ClientSession::Stream* ClientSession::find(std::int32_t id) noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

const ClientSession::Stream* ClientSession::find(std::int32_t id) const noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

}  // namespace bgp::http2
