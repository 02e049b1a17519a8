// A header field as HTTP/2 carries it, and as routing reads an HTTP/2 head (proxy/header_view.h).
#pragma once

#include <string>

namespace bgp {

struct HeaderField {
  std::string name;  // in lower case
  std::string value;
  bool operator==(const HeaderField&) const = default;
};

}  // namespace bgp
