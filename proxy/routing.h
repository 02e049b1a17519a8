// Which color and which endpoint serve a request: docs/configuration.md `routing` applied to one
// request.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "config/color.h"
#include "config/config.h"
#include "metrics/stats.h"
#include "proxy/header_view.h"
#include "proxy/snapshot.h"
#include "proxy/split.h"

namespace bgp {

// How a request was routed: its color, and Route::override when the override header chose it
// (Route::split for a sticky key or the weighted pick).
struct RouteChoice {
  Color color = Color::blue;
  Route route = Route::split;
  bool operator==(const RouteChoice&) const = default;
};

// The color for a request: the override header ("blue"/"green", any case) wins; else a sticky key
// (header, then cookie) picks through its hash; else a weighted random pick with `random`.
RouteChoice choose_color(const HeaderView& head, const RoutingSnapshot& snapshot,
                         const RoutingConfig& routing, SplitMix64& random);

// The value of cookie `name` in a Cookie header value ("a=1; b=2"), if present.
std::optional<std::string_view> cookie_value(std::string_view cookie_header,
                                             std::string_view name) noexcept;

// Round-robin over the healthy endpoints of each color; one per worker (no sharing, no atomics).
class EndpointCursor {
 public:
  // The next healthy endpoint of `color`, or nullptr when none is healthy. The pointer stays valid
  // while the caller holds `snapshot`.
  const Endpoint* next_healthy(const RoutingSnapshot& snapshot, Color color) noexcept;

 private:
  std::array<std::size_t, 2> next_{};
};

}  // namespace bgp
