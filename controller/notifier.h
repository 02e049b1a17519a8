// Webhook events (notify.webhook): a JSON POST per step, rollback and promotion, sent from the
// control thread one at a time, in order, with a timeout and a bounded queue, so a dead webhook
// costs nothing but a log line and never touches the data plane. A failed delivery (no answer, or
// not 2xx) is retried with backoff (0.5, 1, 2, 4 s); an event given up counts in failures().
#pragma once

#include <deque>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include "config/config.h"
#include "config/log.h"

namespace bgp {

class Notifier {
 public:
  static constexpr std::size_t kQueueLimit = 256;
  static constexpr auto kTimeout = std::chrono::seconds(5);
  static constexpr int kAttempts = 5;
  static constexpr auto kFirstRetry = std::chrono::milliseconds(500);

  Notifier(boost::asio::io_context& io, Logger& log) : io_(io), log_(log) {}

  void set_webhook(std::string url) { url_ = std::move(url); }
  void post(boost::json::object event);  // drops the oldest event when the queue is full
  std::size_t pending() const noexcept { return queue_.size(); }
  std::uint64_t failures() const noexcept { return failures_; }  // events given up

 private:
  boost::asio::awaitable<void> drain_queue();
  boost::asio::awaitable<bool> deliver(const std::string& body);  // with the retries
  boost::asio::awaitable<bool> send(const std::string& url, const std::string& body);

  boost::asio::io_context& io_;
  Logger& log_;
  std::string url_;
  std::deque<std::string> queue_;
  bool sending_ = false;
  std::uint64_t failures_ = 0;
};

}  // namespace bgp
