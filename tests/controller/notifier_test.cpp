// The webhook URL in parts: what the Notifier connects to, verifies and sends as Host; and the
// bounded queue, whose dropped events count as failures.
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include "controller/notifier.h"

namespace bgp {
namespace {

TEST(WebhookUrl, HttpDefaultsToPort80AndTheRootPath) {
  const auto t = parse_webhook_url("http://hooks.internal");
  EXPECT_FALSE(t.tls);
  EXPECT_EQ(t.host, "hooks.internal");
  EXPECT_EQ(t.port, 80);
  EXPECT_EQ(t.target, "/");
  EXPECT_EQ(t.authority, "hooks.internal");
}

TEST(WebhookUrl, HttpsDefaultsToPort443) {
  const auto t = parse_webhook_url("https://hooks.slack.com/services/T0/B0/x?y=1");
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(t.host, "hooks.slack.com");
  EXPECT_EQ(t.port, 443);
  EXPECT_EQ(t.target, "/services/T0/B0/x?y=1");
  EXPECT_EQ(t.authority, "hooks.slack.com");  // no port added to Host
}

TEST(WebhookUrl, AnExplicitPortIsUsedAndKeptInTheHostHeader) {
  const auto t = parse_webhook_url("https://hooks:8443/x");
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(t.host, "hooks");
  EXPECT_EQ(t.port, 8443);
  EXPECT_EQ(t.authority, "hooks:8443");
  EXPECT_EQ(parse_webhook_url("http://10.0.0.1:9000/a").port, 9000);
}

TEST(WebhookUrl, Ipv6HostsLoseTheirBrackets) {
  const auto with_port = parse_webhook_url("https://[::1]:8443/x");
  EXPECT_EQ(with_port.host, "::1");
  EXPECT_EQ(with_port.port, 8443);
  EXPECT_EQ(with_port.authority, "[::1]:8443");
  const auto without = parse_webhook_url("https://[fe80::1]/x");
  EXPECT_EQ(without.host, "fe80::1");
  EXPECT_EQ(without.port, 443);
  EXPECT_EQ(without.target, "/x");
}

// The io_context never runs: events only queue up, nothing is sent.
TEST(WebhookQueue, AnEventDroppedFromAFullQueueCountsAsAFailure) {
  boost::asio::io_context io;
  LogConfig quiet;
  quiet.level = LogLevel::error;
  Logger log(quiet);
  Notifier notifier(io, log);
  notifier.set_webhook(NotifyConfig{.webhook = "http://127.0.0.1:9/hook", .webhook_ca = ""});
  for (std::size_t i = 0; i < Notifier::kQueueLimit; ++i) notifier.post({{"event", "step"}});
  EXPECT_EQ(notifier.pending(), Notifier::kQueueLimit);
  EXPECT_EQ(notifier.failures(), 0u);

  notifier.post({{"event", "rollback"}});
  notifier.post({{"event", "promote"}});
  EXPECT_EQ(notifier.pending(), Notifier::kQueueLimit);
  EXPECT_EQ(notifier.failures(), 2u);  // bgproxy_webhook_failures_total
}

}  // namespace
}  // namespace bgp
