// Where OpenSSL's memory comes from when bgproxy is linked with tcmalloc (docs/deploy.md): glibc's
// malloc, as without it. OpenSSL keeps a TLS connection's state in one 7.6 KB block, which
// tcmalloc rounds up to its 8 KB size class: about 650 bytes more per idle TLS connection
// (bench/README.md, "The allocator"), for no gain, as handshakes, not requests, make most of
// OpenSSL's allocations.
#pragma once

#include <dlfcn.h>

#include <cstddef>

#include <openssl/crypto.h>

namespace bgp {

// glibc's malloc, realloc and free, looked up in libc itself: the names in the global scope (and
// __libc_malloc, which tcmalloc defines too) are tcmalloc's.
struct LibcHeap {
  using Malloc = void* (*)(std::size_t);
  using Realloc = void* (*)(void*, std::size_t);
  using Free = void (*)(void*);
  Malloc malloc = nullptr;
  Realloc realloc = nullptr;
  Free free = nullptr;
};

inline const LibcHeap& libc_heap() noexcept {
  static const LibcHeap heap = [] {
    LibcHeap found;
    void* const libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (libc == nullptr) return found;
    found.malloc = reinterpret_cast<LibcHeap::Malloc>(dlsym(libc, "malloc"));
    found.realloc = reinterpret_cast<LibcHeap::Realloc>(dlsym(libc, "realloc"));
    found.free = reinterpret_cast<LibcHeap::Free>(dlsym(libc, "free"));
    return found;
  }();
  return heap;
}

// Called first in main(), before OpenSSL allocates anything: OpenSSL then frees every block with
// the allocator that made it. false when it did not take (libc's functions not found, or OpenSSL
// had allocated already): OpenSSL then stays on tcmalloc throughout, and `bgproxy version` says
// nothing of it.
inline bool keep_openssl_on_libc_malloc() noexcept {
  const LibcHeap& heap = libc_heap();
  if (heap.malloc == nullptr || heap.realloc == nullptr || heap.free == nullptr) return false;
  constexpr auto allocate = [](std::size_t size, const char*, int) {
    return libc_heap().malloc(size);
  };
  constexpr auto reallocate = [](void* pointer, std::size_t size, const char*, int) {
    return libc_heap().realloc(pointer, size);
  };
  constexpr auto release = [](void* pointer, const char*, int) { libc_heap().free(pointer); };
  return CRYPTO_set_mem_functions(allocate, reallocate, release) == 1;
}

}  // namespace bgp
