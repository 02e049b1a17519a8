// std::optional's interface over a heap allocation, for what a session seldom needs (the relay
// chunk of a body, Beast's parser for a response the fast path leaves to it): a pointer on the
// session's coroutine frame, not the object (16 KB for the chunk).
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
