#include "config/descriptors.h"

#include <chrono>
#include <limits>

#include <gtest/gtest.h>

namespace bgp {
namespace {

constexpr auto kInfinity = std::numeric_limits<std::uint64_t>::max();

TEST(Descriptors, EnoughAlreadyChangesNothing) {
  const auto plan = plan_descriptors(1000, 64, 2, 65536, 65536);
  EXPECT_EQ(plan.wanted, 2000 + 64 + reserved_descriptors(2));
  EXPECT_EQ(plan.soft_limit, 65536u);
  EXPECT_EQ(plan.data_plane_connections, 1000u);
}

TEST(Descriptors, TheSoftLimitIsRaisedTowardTheHardOne) {
  const auto wanted = plan_descriptors(10000, 64, 2, 1024, kInfinity).wanted;
  EXPECT_EQ(plan_descriptors(10000, 64, 2, 1024, kInfinity).soft_limit, wanted);
  EXPECT_EQ(plan_descriptors(10000, 64, 2, 1024, 4096).soft_limit, 4096u);
}

TEST(Descriptors, BelowTheHardLimitTheDataPlaneTakesFewerConnections) {
  // 256 descriptors: the admin port's 64 and the reserve first, two per connection for the rest.
  const auto plan = plan_descriptors(10000, 64, 1, 256, 256);
  EXPECT_EQ(plan.soft_limit, 256u);
  EXPECT_EQ(plan.data_plane_connections, (256 - 64 - reserved_descriptors(1)) / 2);
  EXPECT_EQ(plan_descriptors(10000, 64, 1, 16, 16).data_plane_connections, 1u);
}

TEST(LimitNoticeTest, OneLineAnIntervalWithTheHitsSinceTheLast) {
  using namespace std::chrono_literals;
  LimitNotice notice(10s);
  const LimitNotice::Clock::time_point t0{};
  EXPECT_EQ(notice.hit(t0 + 1s), 1u);
  EXPECT_EQ(notice.hit(t0 + 2s), 0u);
  EXPECT_EQ(notice.hit(t0 + 5s), 0u);
  EXPECT_EQ(notice.hit(t0 + 11s), 3u);
  EXPECT_EQ(notice.hit(t0 + 12s), 0u);
}

}  // namespace
}  // namespace bgp
