// Read-only access to a request's header fields, whatever protocol carried them: routing reads the
// override header, the sticky header and the cookies through it.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>

#include "proxy/header_field.h"
#include "proxy/http1/syntax.h"

namespace bgp {

class HeaderView {
 public:
  HeaderView() noexcept = default;  // no fields
  // An HTTP/1 head as Beast parsed it.
  explicit HeaderView(const boost::beast::http::fields& fields) noexcept : http1_(&fields) {}
  // An HTTP/2 head's regular fields (its cookie crumbs joined into one `cookie` field).
  explicit HeaderView(std::span<const HeaderField> fields) noexcept : fields_(fields) {}

  // Calls visit(value) with the value of each field named `name` (any case), in order, until one
  // call returns true; whether one did.
  template <typename Visit>
  bool any_of(std::string_view name, Visit&& visit) const {
    if (http1_) {
      const auto [begin, end] = http1_->equal_range(name);
      for (auto it = begin; it != end; ++it) {
        if (visit(std::string_view(it->value()))) return true;
      }
      return false;
    }
    for (const HeaderField& field : fields_) {
      if (http1::iequals(field.name, name) && visit(std::string_view(field.value))) return true;
    }
    return false;
  }

  // The value of the first field named `name`, if any.
  std::optional<std::string_view> first(std::string_view name) const {
    if (http1_) {  // one lookup in Beast's index (equal_range takes two)
      const auto it = http1_->find(name);
      if (it == http1_->end()) return std::nullopt;
      return std::string_view(it->value());
    }
    std::optional<std::string_view> found;
    any_of(name, [&](std::string_view value) {
      found = value;
      return true;
    });
    return found;
  }

 private:
  const boost::beast::http::fields* http1_ = nullptr;
  std::span<const HeaderField> fields_;
};

}  // namespace bgp
