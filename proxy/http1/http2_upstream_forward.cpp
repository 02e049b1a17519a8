#include "proxy/http1/http2_upstream_forward.h"

#include "proxy/http1/syntax.h"

namespace bgp {

std::string_view origin_form(std::string_view target) noexcept {
  for (const std::string_view scheme : {"http://", "https://"}) {
    if (target.size() < scheme.size() || !http1::iequals(target.substr(0, scheme.size()), scheme)) {
      continue;
    }
    const auto slash = target.find('/', scheme.size());
    return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target;
}

net::awaitable<bool> Http2Leg::wait(Clock::time_point deadline) {
  call->awaiting_room = true;
  arm(wheel, deadline);
  wake.expires_at(net::steady_timer::time_point::max());
  co_await wake.async_wait(as_values);
  const bool in_time = !expired();
  disarm();
  call->awaiting_room = false;
  co_return in_time;
}

Step http2_call_failed(WorkerContext& worker, Http1Exchange& ex, const Http2Leg& leg,
                       bool request_read) {
  const UpstreamCall& call = *leg.call;
  const error_code ec = call.failure ? call.failure : error_code(net::error::connection_reset);
  if (call.connect_failed) {
    worker.upstream_connect_failed(ex, ec);
    return client_failed(
        ex, static_cast<unsigned>(ec == net::error::timed_out ? http::status::gateway_timeout
                                                              : http::status::bad_gateway));
  }
  RetryFacts facts;
  facts.attempt = ex.attempt;
  facts.reused = leg.reused;
  facts.idempotent = is_idempotent(ex.verb);
  facts.request_read = request_read;
  facts.body_streamed = ex.body_started;
  facts.request_written = true;
  facts.response_started = false;  // a response head would have ended the wait for one
  facts.refused = call.refused();
  facts.failure = UpstreamFailure::closed;
  if (call.closed) {
    worker.log.debug("upstream {} reset a stream with code {}", ex.endpoint->label, *call.closed);
  }
  return upstream_failed(worker, ex, ec, may_retry_upstream(facts));
}

}  // namespace bgp
