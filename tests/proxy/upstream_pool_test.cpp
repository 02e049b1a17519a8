#include "proxy/upstream_pool.h"

#include <gtest/gtest.h>

namespace bgp {
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

Endpoint endpoint(std::string label, std::shared_ptr<const TlsClientContext> tls = nullptr) {
  Endpoint e;
  e.label = std::move(label);
  e.resolved = tcp::endpoint(make_address("10.0.0.7"), 443);
  e.tls = std::move(tls);
  return e;
}

TEST(UpstreamKey, AConnectionServesOnlyTheSameAddressNameAndTlsSettings) {
  BackendTlsConfig verified;
  verified.enabled = true;
  const auto tls = TlsClientContext::create(verified).context;
  ASSERT_TRUE(tls);
  const auto reloaded = TlsClientContext::create(verified).context;  // a reload builds anew
  const auto key = UpstreamKey::of(endpoint("blue.example:443", tls));

  EXPECT_TRUE(key.serves(endpoint("blue.example:443", tls)));
  // One ingress address, two names: SNI and the verified name differ.
  EXPECT_FALSE(key.serves(endpoint("green.example:443", tls)));
  EXPECT_FALSE(key.serves(endpoint("blue.example:443")));            // plain TCP
  EXPECT_FALSE(key.serves(endpoint("blue.example:443", reloaded)));  // other TLS settings
  Endpoint elsewhere = endpoint("blue.example:443", tls);
  elsewhere.resolved.port(8443);
  EXPECT_FALSE(key.serves(elsewhere));
}

}  // namespace
}  // namespace bgp
