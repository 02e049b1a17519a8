#include "proxy/routing.h"

#include "proxy/http1/syntax.h"

namespace bgp {

namespace {

using http1::trim;

std::optional<Color> override_color(const HeaderView& head, const RoutingConfig& routing) {
  if (routing.override_header.empty()) return std::nullopt;
  const auto value = head.first(routing.override_header);
  if (!value) return std::nullopt;
  for (Color c : kColors) {
    if (http1::iequals(trim(*value), name(c))) return c;
  }
  return std::nullopt;
}

std::optional<std::string_view> sticky_key(const HeaderView& head, const RoutingConfig& routing) {
  if (!routing.sticky_header.empty()) {
    const auto value = head.first(routing.sticky_header);
    if (value && !trim(*value).empty()) return trim(*value);
  }
  std::optional<std::string_view> key;
  if (!routing.sticky_cookie.empty()) {
    head.any_of("cookie", [&](std::string_view cookies) {
      key = cookie_value(cookies, routing.sticky_cookie);
      if (key && key->empty()) key.reset();
      return key.has_value();
    });
  }
  return key;
}

}  // namespace

RouteChoice choose_color(const HeaderView& head, const RoutingSnapshot& snapshot,
                         const RoutingConfig& routing, SplitMix64& random) {
  if (const auto forced = override_color(head, routing)) return {*forced, Route::override};
  if (const auto key = sticky_key(head, routing)) {
    return {pick_color(snapshot.weights, snapshot.live, sticky_hash(*key)), Route::split};
  }
  return {pick_color(snapshot.weights, snapshot.live, random.next()), Route::split};
}

std::optional<std::string_view> cookie_value(std::string_view cookie_header,
                                             std::string_view name) noexcept {
  while (!cookie_header.empty()) {
    const auto semicolon = cookie_header.find(';');
    const std::string_view pair = trim(cookie_header.substr(0, semicolon));
    const auto equals = pair.find('=');
    if (equals != std::string_view::npos && trim(pair.substr(0, equals)) == name) {
      std::string_view value = trim(pair.substr(equals + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
    if (semicolon == std::string_view::npos) break;
    cookie_header.remove_prefix(semicolon + 1);
  }
  return std::nullopt;
}

const Endpoint* EndpointCursor::next_healthy(const RoutingSnapshot& snapshot,
                                             Color color) noexcept {
  const auto& endpoints = snapshot.endpoints_of(color);
  std::size_t& next = next_[index(color)];
  for (std::size_t tried = 0; tried < endpoints.size(); ++tried) {
    const Endpoint& candidate = endpoints[next++ % endpoints.size()];
    if (candidate.healthy) return &candidate;
  }
  return nullptr;
}

}  // namespace bgp
