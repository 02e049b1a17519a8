// What the admin API asks of the control plane, and how it answers: a status and a JSON body.
#pragma once

#include <boost/json/value.hpp>

namespace bgp {

struct ApiResult {
  unsigned status = 200;
  boost::json::value body;

  static ApiResult ok(boost::json::value body) { return {200, std::move(body)}; }
  static ApiResult error(unsigned status, std::string_view message) {
    return {status, boost::json::object{{"error", message}}};
  }
};

}  // namespace bgp
