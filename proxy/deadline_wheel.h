// Per-worker deadlines for the I/O of many connections, enforced by one timer (a timing wheel).
//
// A session arms its entry before each operation (one store and, rarely, a relink: no timer
// operation, no allocation), and the wheel cancels the entry's sockets when the deadline passes.
// Entries are checked lazily: an entry sits in the slot of the deadline it had when it was linked;
// when that slot comes round, the entry either expires or moves to the slot of its current
// deadline. So a connection whose deadline moves forward on every request costs the wheel one
// visit per timeout period, not one timer operation per read and write (what a steady_timer per
// operation costs: a heap insert, a cancellation and a completion).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

namespace bgp {

class DeadlineWheel {
 public:
  using Clock = std::chrono::steady_clock;
  // Deadlines are met within one tick (plus the worker's scheduling delay), never early.
  static constexpr Clock::duration kTick = std::chrono::milliseconds(10);
  static constexpr std::size_t kSlots = 512;  // one turn of the wheel: 5.12 s

  struct EntryTag;
  using EntryHook =
      boost::intrusive::list_base_hook<boost::intrusive::tag<EntryTag>,
                                       boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

  // What a deadline guards. Derived classes say what expiry does (cancel their sockets).
  class Entry : public EntryHook {
   public:
    Entry() = default;
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

    // The operation about to start must end by `deadline`.
    void arm(DeadlineWheel& wheel, Clock::time_point deadline) noexcept;
    // No deadline until the next arm() (the entry leaves the wheel when its slot comes round).
    void disarm() noexcept {
      deadline_ = Clock::time_point::max();
      expired_ = false;
    }
    // The armed deadline passed and on_expired() ran.
    bool expired() const noexcept { return expired_; }

   protected:
    ~Entry();
    // Called by the wheel (on the worker's thread) each tick while the deadline is past and not
    // re-armed: must end the guarded operation (cancel its socket).
    virtual void on_expired() noexcept = 0;

   private:
    friend class DeadlineWheel;
    DeadlineWheel* wheel_ = nullptr;
    Clock::time_point deadline_ = Clock::time_point::max();
    std::int64_t tick_ = 0;  // the tick whose slot holds the entry (when linked)
    bool expired_ = false;
  };

  explicit DeadlineWheel(boost::asio::io_context::executor_type executor);
  ~DeadlineWheel();
  DeadlineWheel(const DeadlineWheel&) = delete;
  DeadlineWheel& operator=(const DeadlineWheel&) = delete;

  std::size_t linked() const noexcept { return linked_; }

 private:
  using Slot = boost::intrusive::list<Entry, boost::intrusive::base_hook<EntryHook>,
                                      boost::intrusive::constant_time_size<false>>;

  std::int64_t tick_of(Clock::time_point t) const noexcept;  // rounded up
  void link(Entry& entry, std::int64_t tick) noexcept;
  void unlinked() noexcept { --linked_; }
  void start_timer();
  void on_timer();
  void process(std::int64_t tick, Clock::time_point now) noexcept;

  boost::asio::steady_timer timer_;
  Clock::time_point epoch_ = Clock::now();
  std::int64_t next_tick_;  // the first tick not processed yet
  std::size_t linked_ = 0;  // entries in slots
  bool timer_running_ = false;
  std::array<Slot, kSlots> slots_;
};

}  // namespace bgp
