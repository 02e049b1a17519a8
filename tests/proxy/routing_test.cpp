#include "proxy/routing.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/exchange.h"

namespace bgp {
namespace {

namespace http = boost::beast::http;

RoutingSnapshot snapshot_with(std::uint32_t green_bp, int blue_endpoints = 1) {
  RoutingSnapshot snapshot;
  snapshot.live = Color::blue;
  snapshot.weights.set(Color::green, green_bp);
  for (int i = 0; i < blue_endpoints; ++i) {
    const std::uint16_t port = static_cast<std::uint16_t>(9000 + i);
    snapshot.endpoints[index(Color::blue)].push_back(
        {{"127.0.0.1", port}, "127.0.0.1:" + std::to_string(port), {}, true});
  }
  return snapshot;
}

RoutingConfig sticky_config() {
  RoutingConfig routing;
  routing.sticky_header = "X-User-Id";
  routing.sticky_cookie = "session";
  return routing;
}

TEST(ChooseColor, OverrideHeaderWinsInAnyCase) {
  const auto snapshot = snapshot_with(0);
  SplitMix64 random(1);
  http::fields head;
  head.set("X-Bluegreen", " GREEN ");
  head.set("X-User-Id", "someone");
  EXPECT_EQ(choose_color(HeaderView(head), snapshot, sticky_config(), random),
            (RouteChoice{Color::green, Route::override}));
  head.set("x-bluegreen", "Blue");
  EXPECT_EQ(choose_color(HeaderView(head), snapshot_with(kFullWeight), sticky_config(), random),
            (RouteChoice{Color::blue, Route::override}));
}

TEST(ChooseColor, OnlyTheOverrideHeaderIsRouteOverride) {
  const auto snapshot = snapshot_with(5000);
  SplitMix64 random(5);
  http::fields plain;
  http::fields sticky;
  sticky.set("X-User-Id", "someone");
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(choose_color(HeaderView(plain), snapshot, sticky_config(), random).route,
              Route::split);
    EXPECT_EQ(choose_color(HeaderView(sticky), snapshot, sticky_config(), random).route,
              Route::split);
  }
  // Without an override header configured, the header is just a header.
  http::fields forced;
  forced.set("X-Bluegreen", "green");
  RoutingConfig no_override;
  no_override.override_header.clear();
  EXPECT_EQ(choose_color(HeaderView(forced), snapshot_with(0), no_override, random),
            (RouteChoice{Color::blue, Route::split}));
}

TEST(ChooseColor, UnknownOverrideValueFallsBackToTheSplit) {
  const auto snapshot = snapshot_with(0);
  SplitMix64 random(1);
  http::fields head;
  head.set("X-Bluegreen", "purple");
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(choose_color(HeaderView(head), snapshot, {}, random),
              (RouteChoice{Color::blue, Route::split}));
  }
}

TEST(ChooseColor, StickyHeaderKeepsAKeyOnOneColor) {
  const auto snapshot = snapshot_with(5000);
  SplitMix64 random(7);
  std::set<Color> seen_for_key;
  int green_keys = 0;
  for (int user = 0; user < 200; ++user) {
    http::fields head;
    head.set("X-User-Id", "user-" + std::to_string(user));
    const Color first = choose_color(HeaderView(head), snapshot, sticky_config(), random).color;
    for (int again = 0; again < 5; ++again) {
      ASSERT_EQ(choose_color(HeaderView(head), snapshot, sticky_config(), random).color, first)
          << user;
    }
    green_keys += first == Color::green;
  }
  EXPECT_GT(green_keys, 60);  // half of 200 keys, roughly
  EXPECT_LT(green_keys, 140);
}

TEST(ChooseColor, StickyCookieIsFoundAmongOtherCookies) {
  const auto snapshot = snapshot_with(5000);
  SplitMix64 random(3);
  http::fields by_cookie;
  by_cookie.set(http::field::cookie, "theme=dark; session=abc123; lang=en");
  http::fields by_header;
  by_header.set("X-User-Id", "abc123");
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(choose_color(HeaderView(by_cookie), snapshot, sticky_config(), random).color,
              pick_color(snapshot.weights, Color::blue, sticky_hash("abc123")));
    EXPECT_EQ(choose_color(HeaderView(by_cookie), snapshot, sticky_config(), random),
              choose_color(HeaderView(by_header), snapshot, sticky_config(), random));
  }
}

// An HTTP/2 head (lower-case names, its cookie crumbs joined) routes as its HTTP/1 twin.
TEST(ChooseColor, AnHttp2HeadRoutesAsItsHttp1Twin) {
  const auto snapshot = snapshot_with(5000);
  SplitMix64 random(11);
  const std::vector<HeaderField> overridden{{"x-bluegreen", "green"}, {"x-user-id", "u1"}};
  EXPECT_EQ(choose_color(HeaderView(overridden), snapshot_with(0), sticky_config(), random),
            (RouteChoice{Color::green, Route::override}));
  for (int user = 0; user < 50; ++user) {
    const std::string key = "user-" + std::to_string(user);
    http::fields http1_head;
    http1_head.set(http::field::cookie, "theme=dark; session=" + key);
    const std::vector<HeaderField> http2_head{{"accept", "*/*"},
                                              {"cookie", "theme=dark; session=" + key}};
    EXPECT_EQ(choose_color(HeaderView(http2_head), snapshot, sticky_config(), random),
              choose_color(HeaderView(http1_head), snapshot, sticky_config(), random))
        << key;
  }
  // An empty sticky cookie is no key: the weighted pick decides.
  const std::vector<HeaderField> empty_cookie{{"cookie", "session="}, {"cookie", "session=k"}};
  EXPECT_EQ(choose_color(HeaderView(empty_cookie), snapshot, sticky_config(), random).color,
            pick_color(snapshot.weights, Color::blue, sticky_hash("k")));
}

TEST(CookieValue, ParsesPairs) {
  EXPECT_EQ(cookie_value("a=1; b=2", "b"), "2");
  EXPECT_EQ(cookie_value("a=1;b=\"quoted\"", "b"), "quoted");
  EXPECT_EQ(cookie_value("ab=1; a=2", "a"), "2");
  EXPECT_FALSE(cookie_value("a=1; b=2", "c"));
  EXPECT_FALSE(cookie_value("", "a"));
}

TEST(EndpointCursor, RoundRobinsOverHealthyEndpoints) {
  auto snapshot = snapshot_with(0, 3);
  snapshot.endpoints[index(Color::blue)][1].healthy = false;
  EndpointCursor cursor;
  std::multiset<std::uint16_t> picked;
  for (int i = 0; i < 10; ++i)
    picked.insert(cursor.next_healthy(snapshot, Color::blue)->address.port);
  EXPECT_EQ(picked.count(9001), 0u);
  EXPECT_EQ(picked.count(9000), 5u);
  EXPECT_EQ(picked.count(9002), 5u);
}

TEST(EndpointCursor, NoneWhenNoEndpointIsHealthy) {
  auto snapshot = snapshot_with(0, 2);
  for (auto& endpoint : snapshot.endpoints[index(Color::blue)]) endpoint.healthy = false;
  EndpointCursor cursor;
  EXPECT_EQ(cursor.next_healthy(snapshot, Color::blue), nullptr);
  EXPECT_EQ(cursor.next_healthy(snapshot, Color::green), nullptr);  // no endpoints at all
}

// An endpoint chosen for a request that never left the proxy saw nothing of it.
TEST(ReachedEndpoint, IsTheChosenEndpointOnceAnUpstreamAttemptBegan) {
  const Endpoint endpoint{};
  Exchange chosen;
  chosen.endpoint = &endpoint;
  EXPECT_EQ(reached_endpoint(chosen), nullptr);
  chosen.upstream_at = Clock::now();
  EXPECT_EQ(reached_endpoint(chosen), &endpoint);
  EXPECT_EQ(reached_endpoint(Exchange{}), nullptr);
}

// A split request whose client left before the first upstream attempt never reached its color:
// counted apart, never judged. Every other exchange keeps the route it was routed by.
TEST(RecordedRoute, OnlyASplitRequestLeftBeforeItsUpstreamAttemptIsAbandoned) {
  Exchange left_early;
  left_early.route = Route::split;
  left_early.status = kClientClosedRequest;
  EXPECT_EQ(recorded_route(left_early), Route::abandoned);

  Exchange left_waiting = left_early;  // the color had it: a slow color makes clients give up
  left_waiting.upstream_at = Clock::now();
  EXPECT_EQ(recorded_route(left_waiting), Route::split);

  Exchange answered = left_early;
  answered.status = 200;
  EXPECT_EQ(recorded_route(answered), Route::split);

  for (const Route route : {Route::override, Route::refused}) {
    Exchange other = left_early;
    other.route = route;
    EXPECT_EQ(recorded_route(other), route);
  }
}

}  // namespace
}  // namespace bgp
