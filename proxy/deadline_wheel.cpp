#include "proxy/deadline_wheel.h"

#include <algorithm>

#include <boost/asio/error.hpp>

namespace bgp {

void DeadlineWheel::Entry::arm(DeadlineWheel& wheel, Clock::time_point deadline) noexcept {
  deadline_ = deadline;
  expired_ = false;
  const std::int64_t tick = wheel.tick_of(deadline);
  if (!is_linked()) {
    wheel.link(*this, tick);
  } else if (tick < tick_) {  // earlier than the slot it waits in: move it
    unlink();
    wheel_->unlinked();
    wheel.link(*this, tick);
  }
}

DeadlineWheel::Entry::~Entry() {
  // A destroyed wheel has cleared its slots first, so a linked entry's wheel is alive.
  if (is_linked()) wheel_->unlinked();
}

DeadlineWheel::DeadlineWheel(boost::asio::io_context::executor_type executor)
    : timer_(executor), next_tick_(0) {}

DeadlineWheel::~DeadlineWheel() {
  for (auto& slot : slots_) slot.clear();  // unlinks every entry (they may outlive the wheel)
}

std::int64_t DeadlineWheel::tick_of(Clock::time_point t) const noexcept {
  const auto since = t - epoch_;
  return (since.count() + kTick.count() - 1) / kTick.count();
}

void DeadlineWheel::link(Entry& entry, std::int64_t tick) noexcept {
  tick = std::max(tick, next_tick_);
  entry.wheel_ = this;
  entry.tick_ = tick;
  slots_[static_cast<std::size_t>(tick) % kSlots].push_back(entry);
  ++linked_;
  if (!timer_running_) start_timer();
}

void DeadlineWheel::start_timer() {
  timer_running_ = true;
  timer_.expires_at(epoch_ + next_tick_ * kTick);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    // Aborted only when the wheel is being destroyed: touch nothing then.
    if (ec == boost::asio::error::operation_aborted) return;
    on_timer();
  });
}

void DeadlineWheel::on_timer() {
  const auto now = Clock::now();
  const std::int64_t now_tick = (now - epoch_) / kTick;  // the last tick whose time has come
  // After a long stall one turn visits every slot once: nothing is skipped.
  const std::int64_t first = std::max(next_tick_, now_tick - static_cast<std::int64_t>(kSlots) + 1);
  for (std::int64_t tick = first; tick <= now_tick; ++tick) {
    next_tick_ = tick + 1;
    process(tick, now);
  }
  next_tick_ = std::max(next_tick_, now_tick + 1);
  if (linked_ > 0) {
    start_timer();
  } else {
    timer_running_ = false;
  }
}

void DeadlineWheel::process(std::int64_t tick, Clock::time_point now) noexcept {
  Slot due;
  due.splice(due.end(), slots_[static_cast<std::size_t>(tick) % kSlots]);
  while (!due.empty()) {
    Entry& entry = due.front();
    due.pop_front();
    --linked_;
    if (entry.deadline_ == Clock::time_point::max()) continue;  // disarmed: leaves the wheel
    if (entry.deadline_ <= now) {
      entry.expired_ = true;
      entry.on_expired();
      // Checked again next tick: an operation the cancel missed (it completed at the same
      // moment, and a composed operation went on) is cancelled then, until the entry is re-armed.
      link(entry, tick + 1);
      continue;
    }
    link(entry, tick_of(entry.deadline_));
  }
}

}  // namespace bgp
