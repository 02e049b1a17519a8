// Why an HTTP/2 connection ended, as both codecs (server_session.h, client_session.h) report it
// through ending(); WorkerContext::http2_connection_ended counts it.
#pragma once

namespace bgp::http2 {

enum class Ending {
  none,            // not ended, or ended cleanly (our GOAWAY, the socket's end)
  protocol_error,  // a violation nghttp2 found (GOAWAY PROTOCOL_ERROR)
  flow_control,    // a window overflow
  flood,           // SETTINGS, PING, empty frames, CONTINUATION: ENHANCE_YOUR_CALM
  rapid_reset,     // a client's resets ran out of their bucket (the front only)
  header_flood,    // header blocks over the limits (the front only)
  goaway,          // the peer's GOAWAY, its last stream done (the upstream codec only)
};

}  // namespace bgp::http2
