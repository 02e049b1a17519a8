// How a finished exchange is said to have ended (outcome_of, proxy/exchange.h): from what the
// fronts and the worker's failure counters wrote on it.
#include <gtest/gtest.h>

#include "proxy/exchange.h"

namespace bgp {
namespace {

Exchange routed() {
  Exchange ex;
  ex.route = Route::split;
  ex.status = 200;
  return ex;
}

TEST(OutcomeOf, ARelayedResponseIsAnswered) {
  EXPECT_EQ(outcome_of(routed()), Outcome::answered);
}

TEST(OutcomeOf, ARequestRefusedBeforeRoutingIsRefusedWhateverItsStatus) {
  Exchange ex;  // Route::refused until routed
  ex.status = 400;
  EXPECT_EQ(outcome_of(ex), Outcome::refused);
  ex.status = kClientClosedRequest;  // the client left in the middle of its head
  EXPECT_EQ(outcome_of(ex), Outcome::refused);
}

TEST(OutcomeOf, AClientThatLeftBeforeItsAnswerIsGoneWhateverFailedBefore) {
  Exchange ex = routed();
  ex.status = kClientClosedRequest;
  EXPECT_EQ(outcome_of(ex), Outcome::client_gone);
  ex.outcome = Outcome::upstream_timeout;
  EXPECT_EQ(outcome_of(ex), Outcome::client_gone);
}

TEST(OutcomeOf, AFailureOnTheWayIsTheOutcome) {
  for (const Outcome failure :
       {Outcome::no_endpoint, Outcome::connect_failed, Outcome::upstream_reset,
        Outcome::upstream_timeout, Outcome::refused}) {
    Exchange ex = routed();
    ex.status = 502;
    ex.outcome = failure;
    EXPECT_EQ(outcome_of(ex), failure) << name(failure);
  }
}

// A client that stopped taking a response that had begun keeps the status it got; a response the
// upstream had cut first keeps that outcome.
TEST(OutcomeOf, AClientThatStoppedTakingItsResponseIsGoneWithItsStatus) {
  Exchange ex = routed();
  note_client_gone(ex);
  EXPECT_EQ(outcome_of(ex), Outcome::client_gone);
  EXPECT_EQ(ex.status, 200u);
  Exchange cut = routed();
  cut.outcome = Outcome::upstream_reset;
  note_client_gone(cut);
  EXPECT_EQ(outcome_of(cut), Outcome::upstream_reset);
  // Answered by the color's next endpoint after a connect failed: answered, until the client left.
  Exchange retried = routed();
  retried.outcome = Outcome::connect_failed;
  retried.response_head_at = Clock::now();
  note_client_gone(retried);
  EXPECT_EQ(outcome_of(retried), Outcome::client_gone);
}

// A connect that failed before the color's next endpoint answered was no failure of the exchange;
// an upstream that failed after its head (a cut body) was.
TEST(OutcomeOf, AConnectFailedBeforeAnotherEndpointAnsweredIsAnswered) {
  Exchange ex = routed();
  ex.outcome = Outcome::connect_failed;
  ex.response_head_at = Clock::now();
  EXPECT_EQ(outcome_of(ex), Outcome::answered);
  ex.outcome = Outcome::upstream_reset;
  EXPECT_EQ(outcome_of(ex), Outcome::upstream_reset);
}

}  // namespace
}  // namespace bgp
