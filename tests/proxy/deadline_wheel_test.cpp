#include "proxy/deadline_wheel.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>

namespace bgp {
namespace {

using namespace std::chrono_literals;
using Clock = DeadlineWheel::Clock;

class CountingEntry : public DeadlineWheel::Entry {
 public:
  int expiries = 0;
  Clock::time_point first_expiry{};

 private:
  void on_expired() noexcept override {
    if (expiries++ == 0) first_expiry = Clock::now();
  }
};

class DeadlineWheelTest : public ::testing::Test {
 protected:
  void run_for(Clock::duration d) {
    io.restart();
    io.run_for(d);
  }

  boost::asio::io_context io;
  DeadlineWheel wheel{io.get_executor()};
};

TEST_F(DeadlineWheelTest, ExpiresAnEntryAtItsDeadlineNotBefore) {
  CountingEntry entry;
  const auto deadline = Clock::now() + 50ms;
  entry.arm(wheel, deadline);
  run_for(30ms);
  EXPECT_EQ(entry.expiries, 0);
  EXPECT_FALSE(entry.expired());
  run_for(100ms);
  ASSERT_GE(entry.expiries, 1);
  EXPECT_TRUE(entry.expired());
  EXPECT_GE(entry.first_expiry, deadline);
  EXPECT_LT(entry.first_expiry, deadline + 40ms);
}

TEST_F(DeadlineWheelTest, ReArmingMovesTheDeadlineBothWays) {
  CountingEntry later;
  later.arm(wheel, Clock::now() + 20ms);
  later.arm(wheel, Clock::now() + 200ms);  // later: stays in its slot, then moves
  CountingEntry earlier;
  earlier.arm(wheel, Clock::now() + 5s);
  const auto deadline = Clock::now() + 40ms;
  earlier.arm(wheel, deadline);  // earlier: relinked
  run_for(120ms);
  EXPECT_EQ(later.expiries, 0);
  EXPECT_GE(earlier.expiries, 1);
  EXPECT_GE(earlier.first_expiry, deadline);
}

TEST_F(DeadlineWheelTest, ADisarmedEntryNeverExpiresAndTheTimerStops) {
  CountingEntry entry;
  entry.arm(wheel, Clock::now() + 20ms);
  entry.disarm();
  const auto started = Clock::now();
  io.run();  // returns once the wheel has nothing left to watch
  EXPECT_LT(Clock::now() - started, 1s);
  EXPECT_EQ(entry.expiries, 0);
  EXPECT_EQ(wheel.linked(), 0u);
}

TEST_F(DeadlineWheelTest, KeepsCancellingUntilReArmed) {
  CountingEntry entry;
  entry.arm(wheel, Clock::now() + 10ms);
  run_for(80ms);
  EXPECT_GE(entry.expiries, 2);  // once per tick after the deadline
  const int seen = entry.expiries;
  entry.arm(wheel, Clock::now() + 1s);
  EXPECT_FALSE(entry.expired());
  run_for(50ms);
  EXPECT_EQ(entry.expiries, seen);
}

TEST_F(DeadlineWheelTest, DeadlinesBeyondOneTurnWaitForTheirTurn) {
  CountingEntry entry;
  const auto turn = DeadlineWheel::kTick * DeadlineWheel::kSlots;
  entry.arm(wheel, Clock::now() + turn + 30ms);
  CountingEntry soon;
  soon.arm(wheel, Clock::now() + 10ms);
  run_for(100ms);
  EXPECT_EQ(entry.expiries, 0);
  EXPECT_GE(soon.expiries, 1);
}

TEST_F(DeadlineWheelTest, EntriesMayEndBeforeOrAfterTheWheel) {
  {
    CountingEntry gone;
    gone.arm(wheel, Clock::now() + 10ms);
  }
  EXPECT_EQ(wheel.linked(), 0u);
  auto survivor = std::make_unique<CountingEntry>();
  {
    boost::asio::io_context other;
    DeadlineWheel short_lived(other.get_executor());
    survivor->arm(short_lived, Clock::now() + 10ms);
    EXPECT_EQ(short_lived.linked(), 1u);
  }
  EXPECT_FALSE(survivor->is_linked());
  survivor.reset();  // must not touch the destroyed wheel
}

}  // namespace
}  // namespace bgp
