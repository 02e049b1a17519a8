// How an exchange ended, beyond its status (proxy/exchange.h, outcome_of), as the access log
// names it.
#pragma once

#include <cstdint>
#include <string_view>

namespace bgp {

// How an exchange ended, beyond its status: what tells a backend's own 502 from the proxy's after
// a failed connect, and a timeout from a reset (Envoy's response flags, in words). In the access
// log (docs/configuration.md, `log.access`).
enum class Outcome : std::uint8_t {
  answered,          // the upstream's response was relayed
  refused,           // the proxy answered itself: a refused head or body, a body too slow or large
  no_endpoint,       // the chosen color had no healthy endpoint (503)
  connect_failed,    // no connection or TLS handshake to the endpoint (502, 504)
  upstream_reset,    // the upstream closed, reset, or sent a head or body refused (502, a cut body)
  upstream_timeout,  // the upstream was too slow (504, a cut body)
  client_gone,       // the client left before its answer (499), or stopped taking it (cut)
};

constexpr std::string_view name(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::answered:
      return "answered";
    case Outcome::refused:
      return "refused";
    case Outcome::no_endpoint:
      return "no_endpoint";
    case Outcome::connect_failed:
      return "connect_failed";
    case Outcome::upstream_reset:
      return "upstream_reset";
    case Outcome::upstream_timeout:
      return "upstream_timeout";
    case Outcome::client_gone:
      return "client_gone";
  }
  return "answered";
}

}  // namespace bgp
