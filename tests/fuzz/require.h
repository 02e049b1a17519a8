// What a fuzz target asserts: a property that must hold for every input; abort() shows libFuzzer
// the input that broke it.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace bgp::fuzz {

inline void require(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "property violated: %s\n", property);
  std::abort();
}

}  // namespace bgp::fuzz
