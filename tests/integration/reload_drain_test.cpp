// Signals on the real bgproxy (docs/cli.md): SIGHUP reloads the config file without dropping
// open connections and refuses an invalid file; SIGTERM drains (requests in flight finish, new
// connections are refused, idle keep-alive connections close) and exits 0.
#include <unistd.h>

#include <csignal>
#include <future>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <boost/beast/http.hpp>

#include "integration/harness.h"
#include "integration/raw_conn.h"

namespace bgt {
namespace {

namespace http = boost::beast::http;

std::string backend_of(const std::optional<Reply>& r) {
  return r ? r->header("X-Backend") : "(no response)";
}

class ReloadDrainTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend blue2{"blue-2"};
  TestBackend green{"green-1"};
};

TEST_F(ReloadDrainTest, SighupAppliesAnEditedFileWithoutDroppingConnections) {
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  Conn conn(proxy.proxy_port());
  ASSERT_TRUE(conn.connected());
  EXPECT_EQ(backend_of(conn.get("/")), "blue-1");
  EXPECT_EQ(backend_of(conn.get("/", "X-Bluegreen: green\r\n")), "green-1");

  // Blue moves to another backend; the override header is renamed.
  proxy.rewrite_config(make_config({.blue = {blue2.address()},
                                    .green = {green.address()},
                                    .routing = "override_header: X-Color"}));
  proxy.signal(SIGHUP);
  // The log line says what changed, and only that.
  ASSERT_TRUE(proxy.wait_log("reloaded " + proxy.config_path() +
                             ": changed backends.blue.endpoints, routing\n"))
      << proxy.log();

  // The same connection, open across the reload, is served by the new config.
  EXPECT_EQ(backend_of(conn.get("/")), "blue-2");
  EXPECT_EQ(backend_of(conn.get("/", "X-Color: green\r\n")), "green-1");
  EXPECT_EQ(backend_of(conn.get("/", "X-Bluegreen: green\r\n")), "blue-2");
  EXPECT_EQ(send_requests(proxy.proxy_port(), 10).of("blue"), 10);
  EXPECT_EQ(blue.requests(), 1u) << "the old blue endpoint still gets traffic";
  EXPECT_TRUE(proxy.running());
}

// The live color belongs to the rollout state: an edited backends.live is not applied by a
// reload, and the log says so.
TEST_F(ReloadDrainTest, SighupWarnsThatAChangedLiveColorIsNotApplied) {
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  proxy.rewrite_config(make_config(
      {.blue = {blue.address()}, .green = {green.address()}, .backends = "live: green\n"}));
  proxy.signal(SIGHUP);
  ASSERT_TRUE(proxy.wait_log("reloaded")) << proxy.log();
  EXPECT_TRUE(
      proxy.wait_log("reload: backends.live changed in the file, but the live color is the "
                     "rollout state's"))
      << proxy.log();
  EXPECT_EQ(string_at(proxy.status(), "live"), "blue");
  const Tally t = send_requests(proxy.proxy_port(), 10);
  EXPECT_EQ(t.of("blue"), 10) << t.to_string();
}

TEST_F(ReloadDrainTest, SighupWithAnInvalidFileKeepsTheRunningConfig) {
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  Conn conn(proxy.proxy_port());
  EXPECT_EQ(backend_of(conn.get("/")), "blue-1");

  proxy.rewrite_config(make_config({.blue = {blue2.address()}, .green = {green.address()}}) +
                       "no_such_key: 1\n");
  proxy.signal(SIGHUP);
  ASSERT_TRUE(proxy.wait_log("reload refused")) << proxy.log();
  EXPECT_NE(proxy.log().find("no_such_key"), std::string::npos) << "the log names the error";

  EXPECT_EQ(backend_of(conn.get("/")), "blue-1");
  EXPECT_EQ(backend_of(conn.get("/", "X-Bluegreen: green\r\n")), "green-1");
  const Tally t = send_requests(proxy.proxy_port(), 10);
  EXPECT_EQ(t.of("blue"), 10) << t.to_string();
  EXPECT_EQ(blue2.requests(), 0u);
  EXPECT_TRUE(proxy.running());
}

TEST_F(ReloadDrainTest, SigtermFinishesRequestsInFlightThenExits) {
  ConfigSpec spec{.blue = {blue.address()}, .green = {green.address()}, .timeouts = "drain: 5s"};
  Bgproxy proxy(make_config(spec));
  ASSERT_TRUE(proxy.start());
  Conn idle(proxy.proxy_port());
  ASSERT_EQ(backend_of(idle.get("/")), "blue-1");  // now an idle keep-alive connection

  blue.set_latency(1s);
  auto in_flight = std::async(std::launch::async, [&] {
    return http_request(proxy.proxy_port(), "GET", "/slow", {}, {}, 5s);
  });
  ASSERT_TRUE(wait_until([&] { return blue.requests() == 2; }, 3s)) << "the request never arrived";
  proxy.signal(SIGTERM);

  EXPECT_TRUE(idle.closed_within(2s)) << "the idle keep-alive connection stayed open";
  bool refused_while_draining = false;
  wait_until(
      [&] {
        Conn fresh(proxy.proxy_port());
        refused_while_draining = !fresh.connected() && proxy.running();
        return !fresh.connected();
      },
      2s);
  EXPECT_TRUE(refused_while_draining) << "new connections were still accepted while draining";

  const HttpResponse answer = in_flight.get();
  EXPECT_EQ(answer.status, 200u) << answer.error;
  EXPECT_EQ(color_of(answer), "blue");
  EXPECT_FALSE(answer.keep_alive) << "a draining proxy keeps no connection open";
  EXPECT_EQ(proxy.wait_exit(3s), 0) << proxy.log();
}

}  // namespace
}  // namespace bgt
