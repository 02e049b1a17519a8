// Endpoint health streaks and the table the controller builds snapshots from.
#include "controller/health.h"

#include <gtest/gtest.h>

namespace bgp {
namespace {

TEST(HealthStreak, FlipsOnlyAfterConsecutiveResults) {
  HealthStreak streak(3, 2);
  EXPECT_TRUE(streak.healthy());
  EXPECT_FALSE(streak.observe(false));
  EXPECT_FALSE(streak.observe(false));
  EXPECT_FALSE(streak.observe(true));  // a success resets the failure streak
  EXPECT_FALSE(streak.observe(false));
  EXPECT_FALSE(streak.observe(false));
  EXPECT_TRUE(streak.healthy());
  EXPECT_TRUE(streak.observe(false));  // third failure in a row
  EXPECT_FALSE(streak.healthy());

  EXPECT_FALSE(streak.observe(false));  // already unhealthy: no flip
  EXPECT_FALSE(streak.observe(true));
  EXPECT_FALSE(streak.observe(false));  // a failure resets the success streak
  EXPECT_FALSE(streak.observe(true));
  EXPECT_TRUE(streak.observe(true));
  EXPECT_TRUE(streak.healthy());
}

TEST(HealthStreak, ThresholdOfOneFlipsAtOnce) {
  HealthStreak streak(1, 1);
  EXPECT_TRUE(streak.observe(false));
  EXPECT_FALSE(streak.healthy());
  EXPECT_TRUE(streak.observe(true));
  EXPECT_TRUE(streak.healthy());
}

BackendsConfig two_green_endpoints() {
  BackendsConfig backends;
  backends.green.endpoints = {{"127.0.0.1", 9002}, {"127.0.0.1", 9003}};
  backends.health_check.unhealthy_after = 2;
  backends.health_check.healthy_after = 1;
  return backends;
}

void fail_twice(HealthTable& table, Color color, std::string_view label) {
  table.observe(color, label, false);
  table.observe(color, label, false);
}

TEST(HealthTable, ColorIsHealthyWhileOneEndpointIs) {
  HealthTable table(two_green_endpoints());
  EXPECT_TRUE(table.any_healthy(Color::green));
  EXPECT_FALSE(table.observe(Color::green, "127.0.0.1:9002", false));
  EXPECT_TRUE(table.observe(Color::green, "127.0.0.1:9002", false));
  EXPECT_FALSE(table.healthy(Color::green, "127.0.0.1:9002"));
  EXPECT_TRUE(table.healthy(Color::green, "127.0.0.1:9003"));
  EXPECT_TRUE(table.any_healthy(Color::green));

  fail_twice(table, Color::green, "127.0.0.1:9003");
  EXPECT_FALSE(table.any_healthy(Color::green));
  EXPECT_TRUE(table.any_healthy(Color::blue));  // the other color is separate

  EXPECT_TRUE(table.observe(Color::green, "127.0.0.1:9003", true));
  EXPECT_TRUE(table.any_healthy(Color::green));
}

TEST(HealthTable, AnEndpointIsProvenOnlyByAPassedProbe) {
  BackendsConfig backends;
  HealthTable table(backends);
  EXPECT_TRUE(table.any_healthy(Color::green));  // assumed at start, so that live serves at once
  EXPECT_FALSE(table.any_proven(Color::green));  // but not shown to answer
  table.observe(Color::green, "127.0.0.1:9002", false);
  EXPECT_FALSE(table.any_proven(Color::green));
  table.observe(Color::green, "127.0.0.1:9002", true);
  EXPECT_TRUE(table.any_proven(Color::green));
}

TEST(HealthTable, UnknownEndpointsAreIgnored) {
  HealthTable table(two_green_endpoints());
  EXPECT_FALSE(table.observe(Color::blue, "127.0.0.1:9002", false));  // a green label, as blue
  fail_twice(table, Color::blue, "10.0.0.1:80");
  EXPECT_TRUE(table.any_healthy(Color::blue));
  EXPECT_TRUE(table.healthy(Color::blue, "10.0.0.1:80"));
}

TEST(HealthTable, ColorWithoutEndpointsIsNotHealthy) {
  BackendsConfig backends;
  backends.green.endpoints.clear();
  EXPECT_FALSE(HealthTable(backends).any_healthy(Color::green));
}

TEST(HealthTable, ReconfigureKeepsKnownEndpointsAndAddsNewOnesHealthy) {
  BackendsConfig backends = two_green_endpoints();
  HealthTable table(backends);
  fail_twice(table, Color::green, "127.0.0.1:9002");

  backends.green.endpoints = {{"127.0.0.1", 9002}, {"127.0.0.1", 9004}};
  table.reconfigure(backends);
  EXPECT_FALSE(table.healthy(Color::green, "127.0.0.1:9002"));  // still known down
  EXPECT_TRUE(table.healthy(Color::green, "127.0.0.1:9004"));
  ASSERT_EQ(table.endpoints(Color::green).size(), 2u);
  EXPECT_EQ(table.endpoints(Color::green)[1].label, "127.0.0.1:9004");

  fail_twice(table, Color::green, "127.0.0.1:9004");
  EXPECT_FALSE(table.any_healthy(Color::green));
  table.reconfigure(two_green_endpoints());  // 9003 comes back new, healthy
  EXPECT_TRUE(table.any_healthy(Color::green));
}

}  // namespace
}  // namespace bgp
