// The HTTP/2 fields of a simple response (proxy/http1/relay_head.h) as owned values, for tests that
// compare them with the parsed head's: the views the fast path hands the codec outlive nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proxy/header_field.h"
#include "proxy/http1/relay_head.h"

namespace bgp::testing {

inline std::vector<HeaderField> simple_fields_for_http2(std::string_view head,
                                                        const SimpleResponse& response) {
  std::vector<HeaderFieldRef> refs;
  std::string scratch;
  response_fields_for_http2(head, response, refs, scratch);
  std::vector<HeaderField> fields;
  for (const HeaderFieldRef& ref : refs)
    fields.push_back({std::string(ref.name), std::string(ref.value)});
  return fields;
}

}  // namespace bgp::testing
