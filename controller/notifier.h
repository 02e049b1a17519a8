// Webhook events (notify.webhook): a JSON POST per step, rollback and promotion, sent from the
// control thread one at a time, in order, with a timeout and a bounded queue, so a dead webhook
// costs nothing but a log line and never touches the data plane. A failed delivery (no answer, a
// certificate that does not verify, or not 2xx) is retried with backoff (0.5, 1, 2, 4 s); an event
// given up, or dropped because the queue was full, counts in failures().
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include "config/config.h"
#include "config/log.h"

namespace bgp {

class TlsClientContext;

// A webhook URL (validated at config load) in parts.
struct WebhookTarget {
  bool tls = false;        // https://
  std::string host;        // without brackets
  std::uint16_t port = 0;  // 80 or 443 when the URL has none
  std::string target;      // the path, "/" when the URL has none
  std::string authority;   // host[:port] as written: the Host header
};
WebhookTarget parse_webhook_url(std::string_view url);

class Notifier {
 public:
  static constexpr std::size_t kQueueLimit = 256;
  static constexpr auto kTimeout = std::chrono::seconds(5);
  static constexpr int kAttempts = 5;
  static constexpr auto kFirstRetry = std::chrono::milliseconds(500);

  Notifier(boost::asio::io_context& io, Logger& log);
  ~Notifier();

  // From the next attempt on. An https webhook gets a new TLS context each time, so that a reload
  // reads notify.webhook_ca (or the system store) again.
  void set_webhook(const NotifyConfig& notify);
  void post(boost::json::object event);  // drops the oldest event when the queue is full
  std::size_t pending() const noexcept { return queue_.size(); }
  std::uint64_t failures() const noexcept { return failures_; }  // events given up or dropped

 private:
  boost::asio::awaitable<void> drain_queue();
  boost::asio::awaitable<bool> deliver(const std::string& body);  // with the retries
  // "" when the webhook accepted `body`, else why not (for the log).
  boost::asio::awaitable<std::string> send(const std::string& body);

  boost::asio::io_context& io_;
  Logger& log_;
  std::string url_;
  WebhookTarget target_;
  std::shared_ptr<const TlsClientContext> tls_;  // with an https webhook
  std::string tls_error_;                        // why tls_ could not be built
  std::deque<std::string> queue_;
  bool sending_ = false;
  std::uint64_t failures_ = 0;
};

}  // namespace bgp
