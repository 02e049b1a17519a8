// HTTP messages as tests look at them: header lists searched in any case, and a response as a
// hand-driven connection read it. Case-insensitive comparisons use http1::iequals, not Beast's
// (which reads past its inputs in Boost 1.81).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http1/syntax.h"

namespace bgp::testing {

// Header fields in the order they came, repeats kept.
using Headers = std::vector<std::pair<std::string, std::string>>;

// The value of the first field called `name` (any case); "" when there is none.
inline std::string find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (http1::iequals(key, name)) return value;
  }
  return {};
}

inline bool has_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (http1::iequals(key, name)) return true;
  }
  return false;
}

// The fields of a Beast message (or fields container) as a Headers list.
template <typename Fields>
Headers headers_of(const Fields& fields) {
  Headers out;
  for (const auto& field : fields) out.emplace_back(field.name_string(), field.value());
  return out;
}

// How often `part` occurs in `text`, in any case (overlapping occurrences count).
inline std::size_t count_nocase(std::string_view text, std::string_view part) {
  std::size_t n = 0;
  for (std::size_t at = 0; at + part.size() <= text.size(); ++at) {
    if (http1::iequals(text.substr(at, part.size()), part)) ++n;
  }
  return n;
}

inline bool contains_nocase(std::string_view text, std::string_view part) {
  return count_nocase(text, part) > 0;
}

// A response as a hand-driven connection read it.
struct Reply {
  unsigned status = 0;
  unsigned version = 0;  // 10 or 11
  Headers headers;
  std::string body;
  bool keep_alive = false;

  std::string header(std::string_view name) const { return find_header(headers, name); }
  bool has(std::string_view name) const { return has_header(headers, name); }
};

// A Reply from a response Beast's parser read whole.
template <typename Response>
Reply reply_of(const Response& message) {
  return {message.result_int(), message.version(), headers_of(message), message.body(),
          message.keep_alive()};
}

}  // namespace bgp::testing
