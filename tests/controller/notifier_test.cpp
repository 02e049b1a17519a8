// The webhook URL in parts: what the Notifier connects to, verifies and sends as Host.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace bgp
