// A worker's free list of I/O buffer blocks. A session takes its read buffers when it starts and
// gives them back when its connection is parked or closed, so that a parked keep-alive
// connection holds no buffer and a session allocates none per request.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string_view>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

namespace bgp {

class BufferPool {
 public:
  // Room for almost any head in one read. Small, because a connection waiting for its next
  // request (before it is parked) holds one.
  static constexpr std::size_t kBlockSize = 4 * 1024;

  // Enough for the sessions that start and end at the same time; a busy session keeps its blocks.
  // Reserves room for the free list up front: giving a block back never allocates.
  explicit BufferPool(std::size_t max_free = 64) : max_free_(max_free) { free_.reserve(max_free); }

  // A block of kBlockSize bytes.
  std::unique_ptr<char[]> take() {
    if (free_.empty()) return std::make_unique_for_overwrite<char[]>(kBlockSize);
    auto block = std::move(free_.back());
    free_.pop_back();
    return block;
  }
  void give_back(std::unique_ptr<char[]> block) noexcept {
    if (free_.size() < max_free_) free_.push_back(std::move(block));
  }
  std::size_t free_blocks() const noexcept { return free_.size(); }

 private:
  std::size_t max_free_;
  std::vector<std::unique_ptr<char[]>> free_;
};

// An allocator for beast::basic_flat_buffer that takes blocks of exactly the pool's size from the
// pool (the size a buffer asks for when it first reads) and any other size from the heap.
template <typename T>
class PoolAllocator {
 public:
  using value_type = T;

  explicit PoolAllocator(BufferPool& pool) noexcept : pool_(&pool) {}
  template <typename U>
  PoolAllocator(const PoolAllocator<U>& other) noexcept : pool_(other.pool()) {}

  T* allocate(std::size_t n) {
    if (n * sizeof(T) == BufferPool::kBlockSize) {
      return reinterpret_cast<T*>(pool_->take().release());
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) == BufferPool::kBlockSize) {
      pool_->give_back(std::unique_ptr<char[]>(reinterpret_cast<char*>(p)));
      return;
    }
    std::allocator<T>().deallocate(p, n);
  }

  BufferPool* pool() const noexcept { return pool_; }
  bool operator==(const PoolAllocator& other) const noexcept { return pool_ == other.pool_; }

 private:
  BufferPool* pool_;
};

// A read buffer (the HTTP/1 session's, the HTTP/2 front's for an upstream response): its memory
// comes from the worker's BufferPool.
using IoBuffer = boost::beast::basic_flat_buffer<PoolAllocator<char>>;

// The bytes a flat buffer holds (an IoBuffer, or Beast's flat_buffer in the stream tests).
template <typename Allocator>
std::string_view readable(const boost::beast::basic_flat_buffer<Allocator>& buffer) noexcept {
  const auto data = buffer.data();
  return {static_cast<const char*>(data.data()), data.size()};
}

}  // namespace bgp
