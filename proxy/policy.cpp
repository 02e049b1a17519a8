#include "proxy/policy.h"

namespace bgp {

bool may_retry_upstream(const RetryFacts& facts) noexcept {
  if (facts.refused) return facts.attempt < 2 && !facts.body_streamed;
  if (facts.attempt > 0 || !facts.reused) return false;  // a fresh connection's failure is real
  if (facts.failure != UpstreamFailure::closed) return false;  // a slow upstream stays slow
  // Body bytes streamed are gone from the client; response bytes may have been the answer.
  if (facts.body_streamed || facts.response_started) return false;
  // A write that failed on a closed connection delivered no request to process.
  if (!facts.request_written) return true;
  return facts.idempotent && facts.request_read;
}

bool keep_client_alive(const KeepAliveFacts& facts) noexcept {
  if (!facts.client_keep_alive || !facts.request_read || facts.draining) return false;
  // An upgrade request the proxy answers itself keeps its connection like any other own answer;
  // only a relayed answer to one closes it.
  if (facts.own_answer) return !facts.refusal;
  // After an upgrade request the client may already have sent bytes of the new protocol: unless
  // the upstream switched (101, a tunnel), they are never read as HTTP.
  if (facts.upgrade) return false;
  if (!facts.response_has_body) return true;
  // An HTTP/1.0 client reads a chunked or close-delimited body until the close; an HTTP/1.1
  // client gets a close-delimited one chunked.
  return facts.client_version >= 11 || (!facts.response_chunked && !facts.response_until_close);
}

bool may_pool_upstream(const PoolFacts& facts) noexcept {
  return facts.response_reusable && !facts.bytes_left && !facts.body_unsent && !facts.draining;
}

}  // namespace bgp
