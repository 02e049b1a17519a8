// The files a TLS config names, loaded and checked once, so that `check-config`, a start and a
// reload refuse the same mistakes (unreadable, not PEM, key and certificate apart, expired).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace bgp {

// An OpenSSL handle freed by its own free function.
template <auto Free>
struct OpenSslFree {
  template <typename T>
  void operator()(T* handle) const noexcept {
    Free(handle);
  }
};
using X509Ptr = std::unique_ptr<X509, OpenSslFree<&X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree<&EVP_PKEY_free>>;

enum class TlsFile { cert, key, ca };

// What is wrong with which file; `message` names the file.
struct TlsFileProblem {
  TlsFile file = TlsFile::cert;
  std::string message;
};

// A server certificate with its chain and private key, checked to belong together.
struct CertificateChain {
  X509Ptr leaf;
  std::vector<X509Ptr> intermediates;  // in file order, after the leaf
  EvpPkeyPtr key;
  std::int64_t not_after = 0;  // unix seconds: for the expiry gauge
};

// Either the loaded value or the one problem that prevents it.
template <typename T>
struct TlsLoaded {
  std::optional<T> value;
  TlsFileProblem problem;

  bool ok() const { return value.has_value(); }
  static TlsLoaded fail(TlsFile file, std::string message) {
    return {std::nullopt, {file, std::move(message)}};
  }
};

// `cert_path`: the leaf then its intermediates, PEM. `key_path`: its unencrypted PEM key.
// Refused: unreadable files, no certificate, no key or an encrypted one, a key of another
// certificate, a leaf whose notAfter is before `now`.
TlsLoaded<CertificateChain> load_certificate_chain(const std::string& cert_path,
                                                   const std::string& key_path,
                                                   std::chrono::system_clock::time_point now);

// The trusted certificates of a CA file (PEM, at least one).
TlsLoaded<std::vector<X509Ptr>> load_ca_file(const std::string& path);

// notAfter as unix seconds; nullopt when OpenSSL cannot convert it.
std::optional<std::int64_t> not_after_seconds(const X509& certificate);

}  // namespace bgp
