// std::optional's interface over a heap allocation: a session keeps its parsers and relay buffer
// only while a request uses them, so that an idle keep-alive connection holds a pointer, not the
// object (a parser is a few hundred bytes, a relay buffer 16 KB).
#pragma once

#include <memory>
#include <utility>

namespace bgp {

template <typename T>
class HeapOptional {
 public:
  HeapOptional() = default;

  // Like std::optional::emplace: a new object at a stable address (parsers keep references
  // into themselves).
  template <typename... Args>
  T& emplace(Args&&... args) {
    value_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *value_;
  }
  void reset() noexcept { value_.reset(); }

  T& operator*() const noexcept { return *value_; }
  T* operator->() const noexcept { return value_.get(); }
  explicit operator bool() const noexcept { return value_ != nullptr; }
  bool has_value() const noexcept { return value_ != nullptr; }

 private:
  std::unique_ptr<T> value_;
};

}  // namespace bgp
