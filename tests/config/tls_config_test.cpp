// The TLS keys: the listener (tls.*), TLS to upstreams (backends.<color>.tls.*) and to an https
// webhook (notify.webhook_ca), their defaults, and the checks of the files they name, each error
// with its position.
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/tls_files.h"
#include "support/test_certs.h"

namespace bgp {
namespace {

using ::testing::AllOf;
using testing::CertDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::make_certificate;
using ::testing::StartsWith;

std::vector<std::string> errors(const std::string& yaml) {
  const auto result = load_config_string(yaml, "t.yaml");
  std::vector<std::string> printed;
  for (const auto& error : result.errors) printed.push_back(error.to_string());
  return printed;
}

::testing::Matcher<std::vector<std::string>> one_error(const std::string& where,
                                                       const std::string& what) {
  return ElementsAre(AllOf(StartsWith("t.yaml:" + where + ": "), HasSubstr(what)));
}

// A TLS listener section over `cert` and `key`; the cert's value is at 3:9, the key's at 4:8.
std::string listener(const std::string& cert, const std::string& key) {
  return fmt::format("tls:\n  listen: 127.0.0.1:8443\n  cert: {}\n  key: {}\n", cert, key);
}

class TlsConfigTest : public ::testing::Test {
 protected:
  CertDir dir;
  std::string good = dir.write("good", make_certificate("proxy.test"));
};

TEST_F(TlsConfigTest, DefaultsAreOff) {
  const auto result = load_config_string("", "t.yaml");
  ASSERT_TRUE(result.ok());
  const Config& c = *result.config;
  EXPECT_FALSE(c.tls.enabled());
  EXPECT_EQ(c.tls.min_version, TlsVersion::v1_2);
  EXPECT_EQ(c.tls.alpn, std::vector<std::string>{"http/1.1"});
  for (const auto* color : {&c.backends.blue, &c.backends.green}) {
    EXPECT_FALSE(color->tls.enabled);
    EXPECT_TRUE(color->tls.verify);
    EXPECT_EQ(color->tls.ca, "");
    EXPECT_EQ(color->tls.server_name, "");
  }
}

TEST_F(TlsConfigTest, EveryKeyIsRead) {
  const auto yaml = fmt::format(
      "tls:\n  listen: 0.0.0.0:8443\n  cert: {0}.crt\n  key: {0}.key\n  min_version: 1.3\n"
      "  alpn: [http/1.1]\n"
      "backends:\n  blue:\n    endpoints: [10.0.0.1:443]\n    tls:\n      enabled: true\n"
      "      ca: {0}.crt\n      server_name: api.internal\n      verify: false\n",
      good);
  const auto result = load_config_string(yaml, "t.yaml");
  ASSERT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0].to_string());
  const Config& c = *result.config;
  ASSERT_TRUE(c.tls.enabled());
  EXPECT_EQ(c.tls.listen->to_string(), "0.0.0.0:8443");
  EXPECT_EQ(c.tls.cert, good + ".crt");
  EXPECT_EQ(c.tls.key, good + ".key");
  EXPECT_EQ(c.tls.min_version, TlsVersion::v1_3);
  const BackendTlsConfig expected{true, good + ".crt", "api.internal", false};
  EXPECT_EQ(c.backends.blue.tls, expected);
  EXPECT_FALSE(c.backends.green.tls.enabled);
}

TEST_F(TlsConfigTest, AnEmptyListenMeansNoListener) {
  const auto result = load_config_string("tls:\n  listen: \"\"\n", "t.yaml");
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result.config->tls.enabled());
}

TEST_F(TlsConfigTest, OldVersionsAreRefused) {
  EXPECT_THAT(errors("tls:\n  min_version: 1.1\n"),
              one_error("2:16", "tls.min_version: TLS 1.1 is refused"));
  EXPECT_THAT(errors("tls:\n  min_version: \"1.0\"\n"), one_error("2:16", "TLS 1.0 is refused"));
  EXPECT_THAT(errors("tls:\n  min_version: 2\n"),
              one_error("2:16", "invalid value '2': expected 1.2 or 1.3"));
}

TEST_F(TlsConfigTest, AlpnListsOnlyKnownProtocolsOnce) {
  EXPECT_THAT(errors("tls:\n  alpn: [spdy/3]\n"),
              one_error("2:10", "unknown protocol 'spdy/3': expected one of h2, http/1.1"));
  EXPECT_THAT(errors("tls:\n  alpn: [http/1.1, http/1.1]\n"),
              one_error("2:20", "duplicate protocol http/1.1"));
  EXPECT_THAT(errors("tls:\n  alpn: []\n"),
              one_error("2:9", "a non-empty list like [h2, http/1.1]"));
  const auto result = load_config_string("tls:\n  alpn: [h2, http/1.1]\n", "t.yaml");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->tls.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST_F(TlsConfigTest, ListenServesHttp1AndMayAddH2c) {
  const auto h2c = [](const std::string& yaml) {
    const auto result = load_config_string(yaml, "t.yaml");
    EXPECT_TRUE(result.ok()) << yaml;
    return result.ok() && result.config->h2c;
  };
  EXPECT_FALSE(h2c("workers: 1\n"));
  EXPECT_TRUE(h2c("protocols: [http1, h2c]\n"));
  EXPECT_FALSE(h2c("protocols: [http1]\n"));
  EXPECT_THAT(errors("protocols: [h2c]\n"), one_error("1:12", "http1 is always served on listen"));
  EXPECT_THAT(errors("protocols: [http1, h3]\n"),
              one_error("1:20", "unknown protocol 'h3': expected one of http1, h2c"));
}

TEST_F(TlsConfigTest, AColorSpeaksHttp1H2cOrH2OverTls) {
  const auto protocol = [](const std::string& yaml) {
    const auto result = load_config_string(yaml, "t.yaml");
    EXPECT_TRUE(result.ok()) << yaml;
    return result.ok() ? result.config->backends.green.protocol : UpstreamProtocol::http1;
  };
  EXPECT_EQ(protocol(""), UpstreamProtocol::http1);
  EXPECT_EQ(protocol("backends:\n  green:\n    protocol: h2c\n"), UpstreamProtocol::h2c);
  EXPECT_EQ(protocol("backends:\n  green:\n    protocol: h2\n    tls:\n      enabled: true\n"),
            UpstreamProtocol::h2);
  EXPECT_THAT(errors("backends:\n  green:\n    protocol: h2\n"),
              one_error("3:15", "h2 is HTTP/2 over TLS: set backends.green.tls.enabled: true"));
  EXPECT_THAT(errors("backends:\n  blue:\n    protocol: h2c\n    tls:\n      enabled: true\n"),
              one_error("3:15", "h2c is HTTP/2 in cleartext"));
  EXPECT_THAT(errors("backends:\n  blue:\n    protocol: http2\n"),
              one_error("3:15", "expected one of http1, h2c, h2"));
}

TEST_F(TlsConfigTest, AListenerNeedsCertAndKey) {
  EXPECT_THAT(errors("tls:\n  listen: 127.0.0.1:8443\n"),
              ElementsAre("t.yaml:2:3: tls.cert: required when tls.listen is set",
                          "t.yaml:2:3: tls.key: required when tls.listen is set"));
  EXPECT_THAT(errors(fmt::format("tls:\n  cert: {0}.crt\n  key: {0}.key\n", good)),
              one_error("2:3", "tls.listen: tls.cert and tls.key are set but tls.listen is not"));
}

TEST_F(TlsConfigTest, TheListenerHasItsOwnAddress) {
  EXPECT_THAT(
      errors(fmt::format("listen: 127.0.0.1:8443\n{}", listener(good + ".crt", good + ".key"))),
      one_error("3:11", "tls.listen: the TLS listener cannot share the address 127.0.0.1:8443"));
}

TEST_F(TlsConfigTest, UnreadableFilesAreErrorsAtTheirKey) {
  const auto missing = (dir.path() / "missing.crt").string();
  EXPECT_THAT(errors(listener(missing, good + ".key")),
              one_error("3:9", fmt::format("tls.cert: cannot read '{}': No such file", missing)));
  EXPECT_THAT(errors(listener(good + ".crt", dir.path().string())),
              one_error("4:8", "tls.key: cannot read"));
  const auto junk = dir.write("junk.pem", "not a certificate\n");
  EXPECT_THAT(errors(listener(junk, good + ".key")), one_error("3:9", "holds no PEM certificate"));
  EXPECT_THAT(errors(listener(good + ".crt", junk)), one_error("4:8", "holds no PEM private key"));
}

TEST_F(TlsConfigTest, FilesAreCheckedBesideOtherErrors) {
  EXPECT_THAT(errors(listener(good + ".crt", "/nonexistent.key") + "  min_version: 1.1\n"),
              ElementsAre(StartsWith("t.yaml:4:8: tls.key: cannot read '/nonexistent.key'"),
                          StartsWith("t.yaml:5:16: tls.min_version: TLS 1.1 is refused")));
}

TEST_F(TlsConfigTest, TheKeyMustMatchTheCertificate) {
  const auto other = dir.write("other", make_certificate("other.test"));
  EXPECT_THAT(errors(listener(good + ".crt", other + ".key")),
              one_error("4:8", "tls.key: the key in '" + other + ".key' does not match"));
}

TEST_F(TlsConfigTest, AnExpiredCertificateIsRefused) {
  const auto expired = dir.write(
      "expired", make_certificate("old.test", -std::chrono::hours(48), -std::chrono::hours(24)));
  EXPECT_THAT(errors(listener(expired + ".crt", expired + ".key")),
              one_error("3:9", "tls.cert: the certificate in '" + expired + ".crt' expired on "));
}

TEST_F(TlsConfigTest, UpstreamTlsChecksItsCaFileAndName) {
  const auto yaml = [](const std::string& tls) { return "backends:\n  green:\n    tls:\n" + tls; };
  EXPECT_THAT(errors(yaml("      enabled: true\n      ca: /nonexistent/ca.pem\n")),
              one_error("5:11", "backends.green.tls.ca: cannot read '/nonexistent/ca.pem'"));
  const auto junk = dir.write("junk.pem", "x\n");
  EXPECT_THAT(errors(yaml("      enabled: true\n      ca: " + junk + "\n")),
              one_error("5:11", "holds no PEM certificate"));
  EXPECT_THAT(errors(yaml("      enabled: false\n      ca: /nonexistent/ca.pem\n")),
              ElementsAre());  // not read while off
  EXPECT_THAT(errors(yaml("      server_name: bad_name!\n")),
              one_error("4:20", "backends.green.tls.server_name: 'bad_name!' is not a valid"));
  EXPECT_THAT(errors(yaml("      verify: maybe\n")), one_error("4:15", "expected true or false"));
}

TEST_F(TlsConfigTest, WebhookCaIsReadWithAnHttpsWebhook) {
  const auto yaml = [](const std::string& url, const std::string& ca) {
    return fmt::format("notify:\n  webhook: {}\n  webhook_ca: {}\n", url, ca);
  };
  const auto result = load_config_string(yaml("https://hooks.internal/x", good + ".crt"), "t.yaml");
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  EXPECT_EQ(result.config->notify.webhook_ca, good + ".crt");
  EXPECT_EQ(load_config_string("", "t.yaml").config->notify.webhook_ca, "");  // the system store

  EXPECT_THAT(errors(yaml("https://hooks/x", "/nonexistent/ca.pem")),
              one_error("3:15", "notify.webhook_ca: cannot read '/nonexistent/ca.pem'"));
  const auto junk = dir.write("junk.pem", "x\n");
  EXPECT_THAT(errors(yaml("https://hooks/x", junk)),
              one_error("3:15", "notify.webhook_ca: '" + junk + "' holds no PEM certificate"));
  EXPECT_THAT(errors(yaml("http://hooks/x", good + ".crt")),
              one_error("3:15", "notify.webhook_ca: only used with an https:// notify.webhook"));
  EXPECT_THAT(errors("notify:\n  webhook_ca: /nonexistent/ca.pem\n"),
              ElementsAre());  // not read while the webhook is off
  // A bad URL is the one error: the CA file is not judged against it.
  EXPECT_THAT(errors(yaml("https://h:0/", "/nonexistent/ca.pem")),
              one_error("2:12", "notify.webhook: invalid webhook URL"));
}

TEST_F(TlsConfigTest, LoadedChainCarriesNotAfter) {
  const auto loaded =
      load_certificate_chain(good + ".crt", good + ".key", std::chrono::system_clock::now());
  ASSERT_TRUE(loaded.ok()) << loaded.problem.message;
  const auto in_a_day = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() +
                                                             std::chrono::hours(24));
  EXPECT_NEAR(static_cast<double>(loaded.value->not_after), static_cast<double>(in_a_day), 60);
  EXPECT_TRUE(loaded.value->intermediates.empty());
}

}  // namespace
}  // namespace bgp
