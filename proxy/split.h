// Which color serves a request: pure functions, no I/O, no clock, no randomness of their own.
#pragma once

#include <cstdint>
#include <string_view>

#include "config/color.h"

namespace bgp {

// `value` is a uniform 64-bit number: a random draw, or the hash of a sticky key. A key whose
// value falls below the candidate's weight goes to the candidate, so as the candidate's weight
// rises a key only ever moves live -> candidate, never back.
constexpr Color pick_color(const Weights& weights, Color live, std::uint64_t value) noexcept {
  const Color candidate = other(live);
  return value % kFullWeight < weights.of(candidate) ? candidate : live;
}

// A stable hash of a sticky key (the same in every process and across restarts):
// FNV-1a followed by the splitmix64 finalizer so that similar keys spread evenly.
constexpr std::uint64_t sticky_hash(std::string_view key) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : key) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// A small fast generator for the weighted pick, one per worker (xoshiro-like quality not needed).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

}  // namespace bgp
