#include "config/color.h"

namespace bgp {

std::string_view name(Color c) noexcept {
  return c == Color::blue ? "blue" : "green";
}

std::optional<Color> parse_color(std::string_view text) noexcept {
  if (text == "blue") return Color::blue;
  if (text == "green") return Color::green;
  return std::nullopt;
}

}  // namespace bgp
