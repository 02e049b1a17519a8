#include "proxy/policy.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace bgp {
namespace {

// --- may_retry_upstream ------------------------------------------------------------------------

// A pooled connection the upstream closed before answering an idempotent GET: the one retry.
RetryFacts closed_pooled_get() {
  RetryFacts facts;
  facts.reused = true;
  facts.idempotent = true;
  facts.request_read = true;
  facts.request_written = true;
  facts.failure = UpstreamFailure::closed;
  return facts;
}

struct RetryCase {
  std::string name;
  RetryFacts facts;
  bool retry;
};

template <typename Change>
RetryCase retry_case(std::string name, RetryFacts facts, Change change, bool retry) {
  change(facts);
  return {std::move(name), facts, retry};
}

std::vector<RetryCase> retry_cases() {
  const RetryFacts get = closed_pooled_get();
  RetryFacts post_head = get;  // the head and held body of a POST failed to go out
  post_head.idempotent = false;
  post_head.request_read = false;
  post_head.request_written = false;
  const auto same = [](RetryFacts&) {};
  return {
      // read_response_head(): the connection ended while the response was awaited.
      retry_case("closed awaiting the response", get, same, true),
      retry_case(
          "fresh connection", get, [](RetryFacts& f) { f.reused = false; }, false),
      retry_case(
          "second attempt", get, [](RetryFacts& f) { f.attempt = 1; }, false),
      retry_case(
          "timeout", get, [](RetryFacts& f) { f.failure = UpstreamFailure::timeout; }, false),
      retry_case(
          "other failure", get, [](RetryFacts& f) { f.failure = UpstreamFailure::other; }, false),
      retry_case(
          "not idempotent", get, [](RetryFacts& f) { f.idempotent = false; }, false),
      retry_case(
          "body not read whole", get, [](RetryFacts& f) { f.request_read = false; }, false),
      retry_case(
          "body streamed", get, [](RetryFacts& f) { f.body_streamed = true; }, false),
      retry_case(
          "part of a response arrived", get, [](RetryFacts& f) { f.response_started = true; },
          false),
      // head_sent(): writing the head and held body failed; the method does not matter.
      retry_case("closed while the head went out", post_head, same, true),
      retry_case(
          "head out, idempotent", post_head, [](RetryFacts& f) { f.idempotent = true; }, true),
      retry_case(
          "head out, fresh connection", post_head, [](RetryFacts& f) { f.reused = false; }, false),
      retry_case(
          "head out, second attempt", post_head, [](RetryFacts& f) { f.attempt = 1; }, false),
      retry_case(
          "head out, timeout", post_head,
          [](RetryFacts& f) { f.failure = UpstreamFailure::timeout; }, false),
      retry_case(
          "head out, other failure", post_head,
          [](RetryFacts& f) { f.failure = UpstreamFailure::other; }, false),
      // early_response(): the upstream stopped taking a streamed body.
      retry_case(
          "body write failed", post_head,
          [](RetryFacts& f) {
            f.request_written = true;
            f.body_streamed = true;
            f.failure = UpstreamFailure::other;
          },
          false),
      retry_case(
          "body write closed, idempotent", get,
          [](RetryFacts& f) {
            f.request_read = false;
            f.body_streamed = true;
          },
          false),
      // retry_safe(): a recently pooled connection is trusted when a dead one would be retried.
      retry_case("trust: HEAD, no body", get, same, true),
      retry_case(
          "trust: GET with its body still arriving", get,
          [](RetryFacts& f) { f.request_read = false; }, false),
      retry_case(
          "trust: POST", get, [](RetryFacts& f) { f.idempotent = false; }, false),
      // An HTTP/2 stream the upstream refused was never processed (RFC 9113 section 8.7).
      retry_case(
          "refused POST", post_head, [](RetryFacts& f) { f.refused = true; }, true),
      retry_case(
          "refused on a fresh connection, second attempt", post_head,
          [](RetryFacts& f) {
            f.refused = true;
            f.reused = false;
            f.attempt = 1;
          },
          true),
      retry_case(
          "refused a third time", post_head,
          [](RetryFacts& f) {
            f.refused = true;
            f.attempt = 2;
          },
          false),
      retry_case(
          "refused after body bytes streamed", post_head,
          [](RetryFacts& f) {
            f.refused = true;
            f.body_streamed = true;
          },
          false),
  };
}

TEST(MayRetryUpstream, Table) {
  for (const RetryCase& c : retry_cases()) {
    EXPECT_EQ(may_retry_upstream(c.facts), c.retry) << c.name;
  }
}

// The conditions as Session wrote them inline before they became one function. Each is checked
// over every combination its call site can see (the site's invariants fix the other facts).
TEST(MayRetryUpstream, AgreesWithTheFormerConditions) {
  const UpstreamFailure failures[] = {UpstreamFailure::closed, UpstreamFailure::timeout,
                                      UpstreamFailure::other};
  for (int bits = 0; bits < 16; ++bits) {
    for (const UpstreamFailure failure : failures) {
      for (const int attempt : {0, 1}) {
        const bool reused = bits & 1;
        const bool idempotent = bits & 2;
        const bool body_started = bits & 4;
        const bool flag = bits & 8;  // request read whole, or nothing received
        const bool closed = failure == UpstreamFailure::closed;
        const std::string where = "bits " + std::to_string(bits) + " failure " +
                                  std::to_string(static_cast<int>(failure)) + " attempt " +
                                  std::to_string(attempt);
        // head_sent(): nothing of a response was read yet.
        RetryFacts sent;
        sent.attempt = attempt;
        sent.reused = reused;
        sent.idempotent = idempotent;
        sent.request_read = flag;
        sent.body_streamed = body_started;
        sent.failure = failure;
        EXPECT_EQ(may_retry_upstream(sent), reused && !body_started && closed && attempt == 0)
            << "head_sent " << where;
        // read_response_head(): without streamed body bytes the request was read whole.
        RetryFacts awaited = sent;
        awaited.request_written = true;
        awaited.request_read = !body_started;
        awaited.response_started = !flag;
        EXPECT_EQ(may_retry_upstream(awaited),
                  reused && !body_started && flag && idempotent && closed && attempt == 0)
            << "read_response_head " << where;
        // retry_safe() on the first attempt, before any body byte was streamed.
        if (attempt == 0 && !body_started) {
          RetryFacts trust = awaited;
          trust.reused = true;
          trust.request_read = flag;
          trust.response_started = false;
          trust.failure = UpstreamFailure::closed;
          EXPECT_EQ(may_retry_upstream(trust), idempotent && flag) << "retry_safe " << where;
        }
      }
    }
  }
}

// --- keep_client_alive -------------------------------------------------------------------------

KeepAliveFacts keep_alive_request(unsigned version) {
  KeepAliveFacts facts;
  facts.client_keep_alive = true;
  facts.client_version = version;
  facts.request_read = true;
  facts.response_has_body = true;
  return facts;
}

struct KeepAliveCase {
  std::string name;
  KeepAliveFacts facts;
  bool keep_alive;
};

template <typename Change>
KeepAliveCase keep_alive_case(std::string name, KeepAliveFacts facts, Change change,
                              bool keep_alive) {
  change(facts);
  return {std::move(name), facts, keep_alive};
}

std::vector<KeepAliveCase> keep_alive_cases() {
  const KeepAliveFacts v11 = keep_alive_request(11);
  const KeepAliveFacts v10 = keep_alive_request(10);
  KeepAliveFacts own = v11;
  own.own_answer = true;
  own.response_has_body = false;
  const auto same = [](KeepAliveFacts&) {};
  return {
      // relay_simple_response() and shape_response(): the upstream's answer.
      keep_alive_case("HTTP/1.1 with a length", v11, same, true),
      keep_alive_case("HTTP/1.0 keep-alive with a length", v10, same, true),
      keep_alive_case(
          "client asked to close", v11, [](KeepAliveFacts& f) { f.client_keep_alive = false; },
          false),
      keep_alive_case(
          "body not read whole", v11, [](KeepAliveFacts& f) { f.request_read = false; }, false),
      keep_alive_case(
          "draining", v11, [](KeepAliveFacts& f) { f.draining = true; }, false),
      keep_alive_case(
          "upgrade not taken", v11, [](KeepAliveFacts& f) { f.upgrade = true; }, false),
      keep_alive_case(
          "upgrade not taken, no body", v11,
          [](KeepAliveFacts& f) {
            f.upgrade = true;
            f.response_has_body = false;
          },
          false),
      keep_alive_case(
          "HTTP/1.1 chunked", v11, [](KeepAliveFacts& f) { f.response_chunked = true; }, true),
      keep_alive_case(
          "HTTP/1.1 until close: chunked for it", v11,
          [](KeepAliveFacts& f) { f.response_until_close = true; }, true),
      keep_alive_case(
          "HTTP/1.0 chunked: unchunked until close", v10,
          [](KeepAliveFacts& f) { f.response_chunked = true; }, false),
      keep_alive_case(
          "HTTP/1.0 until close", v10, [](KeepAliveFacts& f) { f.response_until_close = true; },
          false),
      keep_alive_case(
          "HTTP/1.0 chunked without a body", v10,
          [](KeepAliveFacts& f) {
            f.response_chunked = true;
            f.response_has_body = false;
          },
          true),
      keep_alive_case(
          "HTTP/1.0 until close without a body", v10,
          [](KeepAliveFacts& f) {
            f.response_until_close = true;
            f.response_has_body = false;
          },
          true),
      keep_alive_case(
          "HTTP/1.1 until close, draining", v11,
          [](KeepAliveFacts& f) {
            f.response_until_close = true;
            f.draining = true;
          },
          false),
      // respond_error(): the proxy's own answer.
      keep_alive_case("own answer", own, same, true),
      keep_alive_case(
          "own answer, HTTP/1.0", own, [](KeepAliveFacts& f) { f.client_version = 10; }, true),
      keep_alive_case(
          "own refusal", own, [](KeepAliveFacts& f) { f.refusal = true; }, false),
      keep_alive_case(
          "own answer, client asked to close", own,
          [](KeepAliveFacts& f) { f.client_keep_alive = false; }, false),
      keep_alive_case(
          "own answer, body not read whole", own, [](KeepAliveFacts& f) { f.request_read = false; },
          false),
      keep_alive_case(
          "own answer, draining", own, [](KeepAliveFacts& f) { f.draining = true; }, false),
      keep_alive_case(
          "own answer to an upgrade request", own, [](KeepAliveFacts& f) { f.upgrade = true; },
          true),
  };
}

TEST(KeepClientAlive, Table) {
  for (const KeepAliveCase& c : keep_alive_cases()) {
    EXPECT_EQ(keep_client_alive(c.facts), c.keep_alive) << c.name;
  }
}

// The three former conditions (shape_response(), relay_simple_response(), respond_error()) over
// every combination of their inputs.
TEST(KeepClientAlive, AgreesWithTheFormerConditions) {
  for (int bits = 0; bits < 256; ++bits) {
    KeepAliveFacts facts;
    facts.client_keep_alive = bits & 1;
    facts.client_version = bits & 2 ? 11 : 10;
    facts.request_read = bits & 4;
    facts.draining = bits & 8;
    facts.upgrade = bits & 16;
    facts.response_has_body = bits & 32;
    facts.response_chunked = bits & 64;
    facts.response_until_close = bits & 128;
    const bool base =
        facts.client_keep_alive && !facts.draining && facts.request_read && !facts.upgrade;
    // shape_response()
    bool shaped = base;
    if (facts.client_version < 11 && facts.response_chunked) {
      shaped = shaped && !facts.response_has_body;
    } else if (facts.response_has_body && facts.response_until_close) {
      shaped = facts.client_version >= 11 && shaped;
    }
    EXPECT_EQ(keep_client_alive(facts), shaped) << "shape_response, bits " << bits;
    // relay_simple_response(): a length or no body, never chunked nor until close.
    if (!facts.response_chunked && !facts.response_until_close) {
      EXPECT_EQ(keep_client_alive(facts), base) << "relay_simple_response, bits " << bits;
    }
    // respond_error(): the answer's framing is the proxy's; `refusal` reuses the chunked bit.
    KeepAliveFacts own = facts;
    own.own_answer = true;
    own.refusal = facts.response_chunked;
    EXPECT_EQ(keep_client_alive(own),
              facts.client_keep_alive && facts.request_read && !facts.draining && !own.refusal)
        << "respond_error, bits " << bits;
  }
}

// --- may_pool_upstream -------------------------------------------------------------------------

// Only a connection whose response ended cleanly, with nothing beyond it and the whole request
// taken, is pooled, and none while the worker drains: each fact alone keeps it out.
TEST(MayPoolUpstream, EveryFactAloneKeepsTheConnectionOut) {
  for (int bits = 0; bits < 16; ++bits) {
    PoolFacts facts;
    facts.response_reusable = (bits & 1) != 0;
    facts.bytes_left = (bits & 2) != 0;
    facts.body_unsent = (bits & 4) != 0;
    facts.draining = (bits & 8) != 0;
    EXPECT_EQ(may_pool_upstream(facts), bits == 1) << "bits " << bits;
  }
}

}  // namespace
}  // namespace bgp
