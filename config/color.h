// Blue and green, and the traffic split between them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bgp {

enum class Color : std::uint8_t { blue = 0, green = 1 };
inline constexpr std::array<Color, 2> kColors{Color::blue, Color::green};

constexpr Color other(Color c) noexcept {
  return c == Color::blue ? Color::green : Color::blue;
}
constexpr std::size_t index(Color c) noexcept {
  return static_cast<std::size_t>(c);
}
std::string_view name(Color c) noexcept;
std::optional<Color> parse_color(std::string_view text) noexcept;  // "blue" | "green"

// Weights in basis points (1/100 of a percent) so that "0.5%" is exact; they always sum to 10000.
inline constexpr std::uint32_t kFullWeight = 10000;

struct Weights {
  std::array<std::uint32_t, 2> bp{kFullWeight, 0};

  static constexpr Weights all_to(Color c) noexcept {
    Weights w;
    w.set(c, kFullWeight);
    return w;
  }
  constexpr std::uint32_t of(Color c) const noexcept { return bp[index(c)]; }
  constexpr void set(Color c,
                     std::uint32_t basis_points) noexcept {  // the other color gets the rest
    bp[index(c)] = basis_points;
    bp[index(other(c))] = kFullWeight - basis_points;
  }
  constexpr double percent(Color c) const noexcept { return of(c) / 100.0; }
  bool operator==(const Weights&) const = default;
};

}  // namespace bgp
