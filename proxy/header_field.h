// A header field as HTTP/2 carries it, and as routing reads an HTTP/2 head (proxy/header_view.h).
#pragma once

#include <string>
#include <string_view>

namespace bgp {

struct HeaderField {
  std::string name;  // in lower case
  std::string value;
  bool operator==(const HeaderField&) const = default;
};

// The same as views, of bytes that outlive its use (a head in a buffer, a scratch string): what a
// hot path hands the codec, which copies them.
struct HeaderFieldRef {
  std::string_view name;  // in lower case
  std::string_view value;
};

}  // namespace bgp
