// The admin API of a running bgproxy: authentication, cross-site refusal, status codes, readiness.
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace json = boost::json;

class AdminTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  ConfigSpec spec() const { return {.blue = {blue.address()}, .green = {green.address()}}; }

  // The response is a JSON error object, as docs/admin-api.md says.
  static void expect_error(const HttpResponse& r, unsigned status) {
    EXPECT_EQ(r.status, status) << r.body << r.error;
    const auto body = r.json();
    EXPECT_TRUE(body.is_object() && !string_at(body, "error").empty()) << r.body;
    EXPECT_TRUE(r.header("Content-Type").starts_with("application/json"))
        << r.header("Content-Type");
  }
};

TEST_F(AdminTest, MutationsNeedTheTokenWhenOneIsConfigured) {
  ConfigSpec with_token = spec();
  with_token.admin = "token: s3cret\n";
  Bgproxy proxy(make_config(with_token));
  ASSERT_TRUE(proxy.start());

  expect_error(proxy.admin("POST", "/rollout/start"), 401);
  expect_error(proxy.admin("POST", "/rollout/start", {}, {{"Authorization", "Bearer wrong"}}), 401);
  expect_error(proxy.admin("POST", "/rollout/start", {}, {{"Authorization", "s3cret"}}), 401);
  expect_error(proxy.admin("PUT", "/weights", R"({"green": 30})"), 401);
  EXPECT_EQ(string_at(proxy.status(), "state"), "stable");  // nothing happened

  EXPECT_EQ(proxy.admin("GET", "/status").status, 200u);  // reads need no token
  EXPECT_EQ(proxy.admin("GET", "/metrics").status, 200u);
  const auto started =
      proxy.admin("POST", "/rollout/start", {}, {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(started.status, 200u) << started.body;
  EXPECT_EQ(string_at(proxy.status(), "state"), "progressing");
}

TEST_F(AdminTest, NonLoopbackAdminWithoutTokenRefusesToStart) {
  TempDir dir;
  std::string yaml = with_ports(make_config(spec()));
  const auto admin = yaml.find("127.0.0.1", yaml.find("admin:"));
  yaml.replace(admin, 9, "0.0.0.0");  // any address but loopback
  const auto path = dir.write("public-admin.yaml", yaml);

  const auto result = run_cli({"run", "-c", path});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("admin.token"), std::string::npos) << result.err;
}

TEST_F(AdminTest, StatusCodesOfRefusedCalls) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());

  expect_error(proxy.admin("GET", "/no/such/path"), 404);
  expect_error(proxy.admin("GET", "/rollout/start"), 405);
  expect_error(proxy.admin("POST", "/weights", R"({"green": 30})"), 405);
  expect_error(proxy.admin("POST", "/rollout/pause"), 409);  // nothing runs
  expect_error(proxy.admin("POST", "/rollout/resume"), 409);
  expect_error(proxy.admin("PUT", "/weights", R"({"green": 130})"), 400);
  expect_error(proxy.admin("PUT", "/weights", R"({"purple": 5})"), 400);
  expect_error(proxy.admin("PUT", "/weights", "not json"), 400);
  expect_error(proxy.admin("PUT", "/weights", R"({"green": 30})", {{"Content-Type", "text/plain"}}),
               415);
  expect_error(proxy.admin("POST", "/rollout/start", R"({"steps": [50, 20]})"), 400);
  // Nothing of the above changed anything.
  auto s = proxy.status();
  EXPECT_EQ(string_at(s, "state"), "stable");
  EXPECT_EQ(weight_of(s, "blue"), 100);

  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  expect_error(proxy.admin("POST", "/rollout/start"), 409);  // already running
}

TEST_F(AdminTest, CrossSiteMutationsAreRefused) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());

  expect_error(proxy.admin("POST", "/rollout/start", {}, {{"Origin", "http://evil.example"}}), 403);
  expect_error(proxy.admin("POST", "/rollout/start", {}, {{"Sec-Fetch-Site", "cross-site"}}), 403);
  expect_error(
      proxy.admin("PUT", "/weights", R"({"green": 50})", {{"Origin", "http://evil.example"}}), 403);
  EXPECT_EQ(string_at(proxy.status(), "state"), "stable");
  const Tally t = send_requests(proxy.proxy_port(), 20);
  EXPECT_EQ(t.of("blue"), 20) << t.to_string();

  // The admin page's own origin is not cross-site.
  const auto own = proxy.admin("POST", "/rollout/start", {},
                               {{"Origin", proxy.admin_url()}, {"Sec-Fetch-Site", "same-origin"}});
  EXPECT_EQ(own.status, 200u) << own.body;
}

TEST_F(AdminTest, ReadyzFollowsTheHealthOfTheLiveColor) {
  ConfigSpec checked = spec();
  checked.backends = fast_health_check(2);
  Bgproxy proxy(make_config(checked));
  ASSERT_TRUE(proxy.start());
  EXPECT_EQ(proxy.admin("GET", "/healthz").status, 200u);
  EXPECT_EQ(proxy.admin("GET", "/readyz").status, 200u);

  blue.set_path_status("/health", 500);
  EXPECT_TRUE(wait_until([&] { return proxy.admin("GET", "/readyz").status == 503; }, 5s));
  EXPECT_EQ(proxy.admin("GET", "/healthz").status, 200u);  // alive, just not ready

  blue.set_path_status("/health", 0);
  EXPECT_TRUE(wait_until([&] { return proxy.admin("GET", "/readyz").status == 200; }, 5s));
}

TEST_F(AdminTest, ReadyzIsUnavailableWhenTheLiveEndpointIsDown) {
  ConfigSpec checked = spec();
  checked.backends = fast_health_check(2);
  Bgproxy proxy(make_config(checked));
  ASSERT_TRUE(proxy.start());
  blue.stop();
  HttpResponse unready;
  EXPECT_TRUE(wait_until(
      [&] {
        unready = proxy.admin("GET", "/readyz");
        return unready.status == 503;
      },
      5s));
  // The answer says why, as a JSON error (docs/admin-api.md).
  expect_error(unready, 503);
  EXPECT_EQ(string_at(unready.json(), "error"),
            "not ready: no endpoint of the live color blue is healthy")
      << unready.body;
  blue.restart();
  EXPECT_TRUE(wait_until([&] { return proxy.admin("GET", "/readyz").status == 200; }, 5s));
}

// HEAD answers what GET would, headers only: the length a GET gets, and not one byte of body.
TEST_F(AdminTest, HeadMetricsAnswersTheHeadersWithoutTheBody) {
  Bgproxy proxy(make_config(spec()));
  ASSERT_TRUE(proxy.start());
  const auto get = proxy.admin("GET", "/metrics");
  ASSERT_EQ(get.status, 200u);
  ASSERT_FALSE(get.body.empty());

  const std::string raw = raw_exchange(
      proxy.admin_port(), "HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(raw.starts_with("HTTP/1.1 200 ")) << raw;
  const auto end_of_head = raw.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos) << raw;
  EXPECT_EQ(raw.size(), end_of_head + 4) << "a body after the head: " << raw.substr(end_of_head);
  const std::string head = raw.substr(0, end_of_head);
  EXPECT_NE(head.find("Content-Type: text/plain"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: "), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length: 0\r"), std::string::npos) << head;
}

}  // namespace
}  // namespace bgt
