// One request as routing, the retry policy, the stats and the access log see it, whatever
// protocol carried it (an HTTP/1 request or an HTTP/2 stream): each one is routed, forwarded and
// recorded exactly once (WorkerContext::record).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/color.h"
#include "metrics/stats.h"
#include "proxy/deadline.h"
#include "proxy/header_view.h"
#include "proxy/outcome.h"
#include "proxy/snapshot.h"

namespace bgp {

constexpr unsigned kClientClosedRequest = 499;  // recorded when the client left before an answer

struct Exchange {
  Clock::time_point received_at = Clock::now();  // its head was read
  Clock::time_point finished_at{};               // the response's last byte written
  Clock::time_point upstream_at{};               // the first upstream attempt began
  Clock::time_point response_head_at{};          // the upstream's response head was read

  // As received, for the access log: views into the codec's head, valid until the exchange is
  // recorded; "-" when the head was refused before it was read.
  std::string_view method = "-";
  std::string_view target = "-";
  std::string_view authority;  // HTTP/2's :authority; for HTTP/1, Host is among `headers`
  unsigned version = 11;       // the client's HTTP version: 10, 11 or 20
  HeaderView headers;          // the request's fields, as routing reads them (none until read)

  Color color = Color::blue;
  Route route = Route::refused;  // until it is routed
  const Endpoint* endpoint = nullptr;
  int attempt = 0;  // upstream attempts before the current one

  // The last failure on the exchange's way (WorkerContext::upstream_failed, the fronts' own
  // answers); read through outcome_of().
  Outcome outcome = Outcome::answered;
  unsigned status = 0;                      // the status the client got
  std::optional<std::uint8_t> grpc_status;  // a gRPC exchange's status, as the client got it
  std::uint64_t bytes_sent = 0;  // bytes of the response written to the client, head included
};

// The route a finished exchange is counted under. Split traffic whose client left before the
// proxy began its first upstream attempt never reached the color: it is counted apart
// (Route::abandoned) and never judged, so that a flood of resets cannot dilute a candidate's
// numbers (docs/judge.md, "What counts"). Once an attempt began, a client that leaves is judged:
// a slow color is what makes clients give up.
constexpr Route recorded_route(const Exchange& exchange) noexcept {
  const bool abandoned = exchange.route == Route::split &&
                         exchange.status == kClientClosedRequest &&
                         exchange.upstream_at == Clock::time_point{};
  return abandoned ? Route::abandoned : exchange.route;
}

// The endpoint an exchange went to, if an upstream attempt began: one chosen for a request that
// never left the proxy (its client reset it first, its body was refused) saw nothing of it, and
// neither its numbers nor the access log name it.
constexpr const Endpoint* reached_endpoint(const Exchange& exchange) noexcept {
  return exchange.upstream_at == Clock::time_point{} ? nullptr : exchange.endpoint;
}

// How a finished exchange ended (Outcome). A connect that failed before another endpoint answered
// is no failure of the exchange (the metrics count it against its endpoint).
constexpr Outcome outcome_of(const Exchange& exchange) noexcept {
  if (exchange.route == Route::refused) return Outcome::refused;
  if (exchange.status == kClientClosedRequest) return Outcome::client_gone;
  const bool answered_after_all = exchange.outcome == Outcome::connect_failed &&
                                  exchange.response_head_at != Clock::time_point{};
  return answered_after_all ? Outcome::answered : exchange.outcome;
}

// The client stopped taking the upstream's response once it came (it left, reset the stream, or
// read nothing for client_idle): the exchange keeps the status it got (its color answered, and is
// judged so), and the access log says the response was cut on the client's side, unless the
// upstream had failed it first.
constexpr void note_client_gone(Exchange& exchange) noexcept {
  if (outcome_of(exchange) == Outcome::answered) exchange.outcome = Outcome::client_gone;
}

}  // namespace bgp
